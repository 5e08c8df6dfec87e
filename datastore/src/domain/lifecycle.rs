//! The release lifecycle: `draft → candidate → preview → current → archived | revoked`.
//! This module owns which moves between phases exist, what each phase allows, and which public
//! download tree (stage) shows a release's files; everything else asks it.

use serde_json::json;
use shared_models::api::Phase;

use crate::error::{AppError, AppResult};

/// A move from one phase to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A draft's revision is frozen and put to the vote.
    StartVote,
    /// The vote passed: the release is finished (renames, the announcement) before it goes out.
    PassVote,
    /// The vote failed: back to composing, where a new revision line continues.
    FailVote,
    /// The voted bytes are published.
    Release,
    /// A newer release supersedes it.
    Archive,
    /// A released version must not be used; its files stay reachable under `/revoked/`.
    Revoke,
}

impl Transition {
    pub const ALL: [Transition; 6] = [
        Transition::StartVote,
        Transition::PassVote,
        Transition::FailVote,
        Transition::Release,
        Transition::Archive,
        Transition::Revoke,
    ];

    /// The phases this move starts from.
    pub fn from(self) -> &'static [Phase] {
        match self {
            Transition::StartVote => &[Phase::Draft],
            Transition::PassVote | Transition::FailVote => &[Phase::Candidate],
            Transition::Release => &[Phase::Preview],
            Transition::Archive => &[Phase::Current],
            Transition::Revoke => &[Phase::Current, Phase::Archived],
        }
    }

    /// The phase this move ends in.
    pub fn to(self) -> Phase {
        match self {
            Transition::StartVote => Phase::Candidate,
            Transition::PassVote => Phase::Preview,
            Transition::FailVote => Phase::Draft,
            Transition::Release => Phase::Current,
            Transition::Archive => Phase::Archived,
            Transition::Revoke => Phase::Revoked,
        }
    }

    fn doing(self) -> &'static str {
        match self {
            Transition::StartVote => "start a vote",
            Transition::PassVote => "resolve the vote as passed",
            Transition::FailVote => "resolve the vote as failed",
            Transition::Release => "release",
            Transition::Archive => "archive",
            Transition::Revoke => "revoke",
        }
    }
}

/// The phase a release in `phase` moves to by `transition`, or 409 `wrong_phase`.
pub fn next(phase: Phase, transition: Transition) -> AppResult<Phase> {
    if transition.from().contains(&phase) {
        return Ok(transition.to());
    }
    let required: Vec<&str> = transition.from().iter().map(|p| p.as_str()).collect();
    Err(wrong_phase(
        phase,
        &required.join("|"),
        format!(
            "Cannot {}: the release is in phase {phase}, and this needs {}.",
            transition.doing(),
            required.join(" or ")
        ),
    ))
}

/// The 409 `wrong_phase` of something a release in `phase` cannot do: `details` name the phase
/// and the `required` one(s) (`draft`, or `draft|preview`); `message` says what and why.
pub fn wrong_phase(phase: Phase, required: &str, message: String) -> AppError {
    AppError::conflict("wrong_phase", message).with_details(json!({"phase": phase.as_str(), "required": required}))
}

/// Whether files may be added, replaced or deleted (only a draft's: every other phase holds
/// bytes that were, or are being, voted on).
pub fn accepts_files(phase: Phase) -> bool {
    phase == Phase::Draft
}

/// Whether files may be renamed or moved into folders: in a draft, and in a preview (the vote
/// passed; names may still change before the release, bytes may not).
pub fn accepts_moves(phase: Phase) -> bool {
    matches!(phase, Phase::Draft | Phase::Preview)
}

/// Whether new revisions get their checks queued: drafts only. A candidate's revision is
/// frozen; what was checked is what is voted on.
pub fn runs_checks(phase: Phase) -> bool {
    phase == Phase::Draft
}

/// Whether anyone may read the release (its files, checks and history): from `candidate` on.
/// A draft is its committee's until its vote starts.
pub fn is_public(phase: Phase) -> bool {
    phase != Phase::Draft
}

/// A public download tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Candidate,
    Current,
    Revoked,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Candidate, Stage::Current, Stage::Revoked];

    pub fn parse(value: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.as_str() == value)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Candidate => "candidate",
            Stage::Current => "current",
            Stage::Revoked => "revoked",
        }
    }

    /// The stage where a release in `phase` lives, if its files are public.
    pub fn of_phase(phase: Phase) -> Option<Stage> {
        match phase {
            Phase::Draft => None,
            Phase::Candidate | Phase::Preview => Some(Stage::Candidate),
            Phase::Current | Phase::Archived => Some(Stage::Current),
            Phase::Revoked => Some(Stage::Revoked),
        }
    }

    /// The phases whose files this stage shows.
    pub fn phases(self) -> Vec<Phase> {
        Phase::ALL.into_iter().filter(|&p| Stage::of_phase(p) == Some(self)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifecycle_moves_forward_and_revokes_what_was_released() {
        let mut phase = Phase::Draft;
        for transition in [Transition::StartVote, Transition::PassVote, Transition::Release, Transition::Archive] {
            phase = next(phase, transition).unwrap();
        }
        assert_eq!(phase, Phase::Archived);
        assert_eq!(next(Phase::Candidate, Transition::FailVote).unwrap(), Phase::Draft);
        for released in [Phase::Current, Phase::Archived] {
            assert_eq!(next(released, Transition::Revoke).unwrap(), Phase::Revoked);
        }
        assert!(next(Phase::Candidate, Transition::Revoke).is_err(), "a candidate's vote fails instead");
        let refused = next(Phase::Draft, Transition::Release).unwrap_err();
        assert_eq!((refused.status.as_u16(), refused.code), (409, "wrong_phase"));
        assert_eq!(refused.details.unwrap()["required"], "preview");
        assert!(next(Phase::Revoked, Transition::Revoke).is_err(), "revoked is the end");
        assert!(next(Phase::Draft, Transition::Revoke).is_err(), "a draft was never published");
    }

    #[test]
    fn every_phase_but_draft_is_reachable() {
        for phase in Phase::ALL.into_iter().filter(|p| *p != Phase::Draft) {
            assert!(Transition::ALL.iter().any(|t| t.to() == phase), "{phase}");
        }
    }

    #[test]
    fn stages_show_the_public_phases() {
        assert_eq!(Stage::Candidate.phases(), [Phase::Candidate, Phase::Preview]);
        assert_eq!(Stage::Current.phases(), [Phase::Current, Phase::Archived]);
        assert_eq!(Stage::Revoked.phases(), [Phase::Revoked]);
        assert_eq!(Stage::of_phase(Phase::Draft), None, "drafts are never public");
        for phase in Phase::ALL {
            assert_eq!(Stage::of_phase(phase).is_some(), is_public(phase), "{phase}");
        }
    }
}
