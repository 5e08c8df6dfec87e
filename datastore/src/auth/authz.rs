//! Authorization: every rule about who may do what lives here, and nowhere else.
//!
//! Rights come from a person's role in the committee that owns the thing acted on. Roles are
//! ordered `committer < release_manager < pmc_member`; each includes the rights of those below.
//! Admins may do everything.
//!
//! Trusted publishers (a CI job's token from `POST /api/v1/trusted-publishing/exchange`) have
//! no role anywhere: they act on the releases of one project, and only as far as the trusts
//! they matched grant ([`PublisherAction`]); everything owned by a committee is refused them.
//!
//! Reading: a release is public from `candidate` on (its files, checks, history and tasks);
//! a draft belongs to its committee's members and the admins, and to everyone else it does not
//! exist (404, not 403: the version of an embargoed security fix is itself a secret).

use shared_models::api::{Phase, Role};
use shared_models::publishing::PublisherAction;

use super::Principal;
use crate::db::queries::releases::ReleaseContext;
use crate::domain::lifecycle;
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create a release, and upload, move or delete its files while it is a draft.
    ComposeRelease,
    /// Start a draft's vote.
    StartVote,
    /// Resolve a vote (passed or failed).
    ResolveVote,
    /// Publish a preview's voted bytes.
    Publish,
    /// The rest of a release's phases: tally, cancel, archive, revoke, rename in preview.
    ManageReleasePhase,
    /// Add a key to a committee's KEYS.
    AddCommitteeKey,
    /// Import a whole KEYS file into a committee.
    ImportCommitteeKeys,
    /// Read what is wrong with a committee's keys (the KEYS lint names members' addresses).
    LintKeys,
    /// Change a project's release policy.
    EditPolicy,
    /// Read a draft: its files, revisions, checks, history and tasks.
    ReadDraft,
    /// Record, change and remove a project's CVE records, and read them while embargoed.
    ManageAdvisories,
    /// Record where a release was distributed (and remove such a record).
    RecordDistribution,
    /// Create committees, projects, users, memberships and runners.
    Administer,
}

impl Action {
    /// The least role that allows the action; `None` means admins only.
    pub fn minimum_role(self) -> Option<Role> {
        match self {
            Action::ComposeRelease | Action::AddCommitteeKey | Action::LintKeys | Action::ReadDraft => {
                Some(Role::Committer)
            }
            Action::StartVote
            | Action::ResolveVote
            | Action::Publish
            | Action::ManageReleasePhase
            | Action::ImportCommitteeKeys => Some(Role::ReleaseManager),
            Action::EditPolicy | Action::ManageAdvisories | Action::RecordDistribution => Some(Role::PmcMember),
            Action::Administer => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Action::ComposeRelease => "compose releases",
            Action::StartVote => "start votes",
            Action::ResolveVote => "resolve votes",
            Action::Publish => "publish releases",
            Action::ManageReleasePhase => "change the phase of releases",
            Action::AddCommitteeKey => "add keys to the KEYS",
            Action::ImportCommitteeKeys => "import KEYS files",
            Action::LintKeys => "read the KEYS lint",
            Action::EditPolicy => "change the release policy",
            Action::ReadDraft => "read draft releases",
            Action::ManageAdvisories => "manage CVE records",
            Action::RecordDistribution => "record distributions",
            Action::Administer => "administer this server",
        }
    }

    /// The publisher action that grants it, if any does.
    fn publisher_action(self) -> Option<PublisherAction> {
        match self {
            Action::ComposeRelease => Some(PublisherAction::Compose),
            Action::StartVote => Some(PublisherAction::VoteStart),
            Action::ResolveVote | Action::Publish | Action::RecordDistribution => Some(PublisherAction::Release),
            _ => None,
        }
    }
}

/// Whether `principal` may do `action` on something owned by `committee` (not by one of its
/// projects: see [`allowed_on_project`]). Trusted publishers may do nothing of the kind.
pub fn allowed(principal: &Principal, action: Action, committee: &str) -> bool {
    if principal.publisher.is_some() {
        return false;
    }
    if principal.is_admin {
        return true;
    }
    match action.minimum_role() {
        None => false,
        Some(minimum) => principal.role_in(committee).is_some_and(|role| role >= minimum),
    }
}

/// Whether `principal` may do `action` on a release of `project` (owned by `committee`): by
/// its role in the committee, or, for a trusted publisher, if it is its project's and one of
/// its trusts grants the action (reading a draft needs none).
pub fn allowed_on_project(principal: &Principal, action: Action, committee: &str, project: &str) -> bool {
    match &principal.publisher {
        Some(scope) => {
            scope.project == project
                && (action == Action::ReadDraft
                    || action.publisher_action().is_some_and(|a| scope.actions.contains(&a)))
        }
        None => allowed(principal, action, committee),
    }
}

/// Like [`allowed_on_project`] for the release `ctx`, as a 403 that says what was needed.
pub fn authorize_release(principal: &Principal, action: Action, ctx: &ReleaseContext) -> AppResult<()> {
    authorize_on_project(principal, action, &ctx.committee.name, &ctx.project.name)
}

/// Like [`allowed_on_project`], as a 403 that says what was needed.
pub fn authorize_on_project(principal: &Principal, action: Action, committee: &str, project: &str) -> AppResult<()> {
    if allowed_on_project(principal, action, committee, project) {
        return Ok(());
    }
    if principal.publisher.is_some() {
        return Err(publisher_refused(principal, action));
    }
    authorize(principal, action, committee)
}

fn publisher_refused(principal: &Principal, action: Action) -> AppError {
    let scope = principal.publisher.as_ref().map_or("", |s| s.project.as_str());
    let granted = match action.publisher_action() {
        Some(needed) => format!("a trust of the project {scope} that grants {needed}"),
        None => "a person's role: no trusted publisher may".to_owned(),
    };
    AppError::forbidden(format!(
        "{} (a trusted publisher of {scope}) may not {} here: that needs {granted}.",
        principal.uid,
        action.describe()
    ))
}

/// Like [`allowed`], as a 403 that says what was needed.
pub fn authorize(principal: &Principal, action: Action, committee: &str) -> AppResult<()> {
    if allowed(principal, action, committee) {
        return Ok(());
    }
    if principal.publisher.is_some() {
        return Err(publisher_refused(principal, action));
    }
    let needed = match action.minimum_role() {
        Some(role) => format!("the role {} or higher in the committee {committee}", role.as_str()),
        None => "an administrator".to_owned(),
    };
    Err(AppError::forbidden(format!("{} may not {}: that needs {needed}.", principal.uid, action.describe())))
}

/// Admin-only operations.
pub fn authorize_admin(principal: &Principal) -> AppResult<()> {
    authorize(principal, Action::Administer, "")
}

/// Whether `principal` may change the packets of a signing key that `owner` owns and the
/// committees `holders` hold in their KEYS: its owner, an admin, or a release manager of every
/// one of those committees. (Packets are merged, never replaced, whoever does it.)
pub fn may_update_key(principal: &Principal, owner: Option<i64>, holders: &[String]) -> bool {
    principal.is_admin
        || owner == Some(principal.user_id)
        || (!holders.is_empty() && holders.iter().all(|c| allowed(principal, Action::ImportCommitteeKeys, c)))
}

/// Where `principal` may remove a signing key from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRemoval {
    /// Its owner or an admin: from every KEYS, and the key itself.
    Everywhere,
    /// A release manager: from the KEYS of these committees only.
    From(Vec<String>),
}

/// Where `principal` may remove a key that `owner` owns and `holders` hold; 403 if nowhere.
pub fn key_removal(principal: &Principal, owner: Option<i64>, holders: &[String], key: &str) -> AppResult<KeyRemoval> {
    if principal.is_admin || owner == Some(principal.user_id) {
        return Ok(KeyRemoval::Everywhere);
    }
    let mine: Vec<String> =
        holders.iter().filter(|c| allowed(principal, Action::ImportCommitteeKeys, c)).cloned().collect();
    if mine.is_empty() {
        return Err(AppError::forbidden(format!(
            "{} may not remove the key {key}: only its owner, an admin, or a release manager of a committee whose \
             KEYS hold it may, and only from that committee's KEYS.",
            principal.uid
        )));
    }
    Ok(KeyRemoval::From(mine))
}

/// Ballots are cast by people: a trusted publisher's token casts none.
pub fn authorize_ballot(principal: &Principal) -> AppResult<()> {
    if principal.publisher.is_some() {
        return Err(AppError::forbidden(format!("{} is a trusted publisher: ballots are people's.", principal.uid)));
    }
    Ok(())
}

/// Whether a ballot `principal` casts now on a release of `committee` is binding: PMC members'
/// are (the Apache voting rule), whatever else they are; an admin's is not, unless on the PMC.
pub fn ballot_is_binding(principal: &Principal, committee: &str) -> bool {
    binding_for(&principal.memberships, committee)
}

/// The same rule for someone known by their memberships only (a sender matched in a vote
/// thread): binding if they are on the PMC of `committee`.
pub fn binding_for(memberships: &[(String, Role)], committee: &str) -> bool {
    memberships.iter().any(|(c, role)| c == committee && *role == Role::PmcMember)
}

/// Who may rename and move files: in a draft its composers, in a preview (where only names
/// may change before the release) those who manage its phases.
pub fn authorize_move(principal: &Principal, ctx: &ReleaseContext) -> AppResult<()> {
    let action = if ctx.release.phase()? == Phase::Draft { Action::ComposeRelease } else { Action::ManageReleasePhase };
    authorize_release(principal, action, ctx)
}

/// Whether `viewer` (a person, a trusted publisher, or anonymous) may read a release of
/// `project` (owned by `committee`) in `phase`.
pub fn may_read_release(viewer: Option<&Principal>, committee: &str, project: &str, phase: Phase) -> bool {
    lifecycle::is_public(phase) || viewer.is_some_and(|p| allowed_on_project(p, Action::ReadDraft, committee, project))
}

/// Like [`may_read_release`], as the 404 that an unknown release gets: `what` names it.
pub fn authorize_read_release(
    viewer: Option<&Principal>,
    committee: &str,
    project: &str,
    phase: Phase,
    what: &str,
) -> AppResult<()> {
    if may_read_release(viewer, committee, project, phase) {
        return Ok(());
    }
    Err(AppError::not_found(format!("There is no release {what}.")))
}

/// Which releases' drafts `viewer` may see in lists: every one (admins), those of its
/// committees, or none (anonymous).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DraftsVisible {
    All,
    OfCommittees(Vec<String>),
}

pub fn drafts_visible(viewer: Option<&Principal>) -> DraftsVisible {
    match viewer {
        Some(p) if p.is_admin => DraftsVisible::All,
        Some(p) => DraftsVisible::OfCommittees(
            p.memberships
                .iter()
                .filter(|(_, role)| Action::ReadDraft.minimum_role().is_some_and(|min| *role >= min))
                .map(|(c, _)| c.clone())
                .collect(),
        ),
        None => DraftsVisible::OfCommittees(Vec::new()),
    }
}

/// Whether `principal` reads the whole audit log: admins and foundation members (the platform
/// design's role table); everyone else reads the events of the releases they may read.
pub fn reads_every_event(principal: &Principal) -> bool {
    principal.is_admin || principal.foundation_member
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(is_admin: bool, roles: &[(&str, Role)]) -> Principal {
        Principal {
            user_id: 1,
            uid: "someone".into(),
            is_admin,
            email: None,
            memberships: roles.iter().map(|(c, r)| ((*c).to_owned(), *r)).collect(),
            token_id: None,
            session: None,
            foundation_member: false,
            visitor: false,
            publisher: None,
        }
    }

    fn publisher(project: &str, actions: &[PublisherAction]) -> Principal {
        let mut ci = person(false, &[]);
        ci.uid = format!("ci:{project}");
        ci.publisher = Some(super::super::PublisherScope {
            project: project.to_owned(),
            actions: actions.to_vec(),
            trusts: vec![1],
        });
        ci
    }

    /// The full matrix: every action against every role, in and out of the committee.
    #[test]
    fn role_matrix() {
        use Action::*;
        let actions = [
            ComposeRelease,
            StartVote,
            ResolveVote,
            Publish,
            ManageReleasePhase,
            AddCommitteeKey,
            ImportCommitteeKeys,
            EditPolicy,
            ReadDraft,
            Administer,
            ManageAdvisories,
            RecordDistribution,
            LintKeys,
        ];
        let expected: [(Option<Role>, [bool; 13]); 4] = [
            (None, [false, false, false, false, false, false, false, false, false, false, false, false, false]),
            (
                Some(Role::Committer),
                [true, false, false, false, false, true, false, false, true, false, false, false, true],
            ),
            (
                Some(Role::ReleaseManager),
                [true, true, true, true, true, true, true, false, true, false, false, false, true],
            ),
            (Some(Role::PmcMember), [true, true, true, true, true, true, true, true, true, false, true, true, true]),
        ];
        for (role, rights) in expected {
            let member = person(false, &role.map(|r| vec![("httpd", r)]).unwrap_or_default());
            for (action, right) in actions.into_iter().zip(rights) {
                assert_eq!(allowed(&member, action, "httpd"), right, "{role:?} {action:?}");
                assert!(!allowed(&member, action, "tomcat"), "no rights outside one's committee");
            }
        }
        let admin = person(true, &[]);
        assert!(actions.into_iter().all(|a| allowed(&admin, a, "any")));
    }

    /// A trusted publisher: on its project only, only what its trusts grant, and never anything
    /// a committee owns.
    #[test]
    fn publisher_matrix() {
        use Action::*;
        let composer = publisher("httpd", &[PublisherAction::Compose]);
        let releaser = publisher("httpd", &[PublisherAction::VoteStart, PublisherAction::Release]);
        for (who, action, right) in [
            (&composer, ComposeRelease, true),
            (&composer, ReadDraft, true),
            (&composer, StartVote, false),
            (&composer, Publish, false),
            (&releaser, ComposeRelease, false),
            (&releaser, StartVote, true),
            (&releaser, ResolveVote, true),
            (&releaser, Publish, true),
            (&releaser, ReadDraft, true),
            (&releaser, ManageReleasePhase, false),
            (&releaser, RecordDistribution, true),
            (&composer, RecordDistribution, false),
            (&releaser, ManageAdvisories, false),
        ] {
            assert_eq!(allowed_on_project(who, action, "httpd", "httpd"), right, "{action:?}");
            assert!(!allowed_on_project(who, action, "httpd", "httpd-tools"), "another project of the committee");
            assert!(!allowed_on_project(who, action, "tomcat", "tomcat"), "another committee's project");
        }
        for action in [
            AddCommitteeKey,
            ImportCommitteeKeys,
            LintKeys,
            EditPolicy,
            ReadDraft,
            ComposeRelease,
            Administer,
            ManageAdvisories,
        ] {
            assert!(!allowed(&releaser, action, "httpd"), "{action:?} of the committee");
        }
        assert!(!ballot_is_binding(&releaser, "httpd"));
        assert_eq!(drafts_visible(Some(&composer)), DraftsVisible::OfCommittees(Vec::new()));
        let refused = authorize_on_project(&composer, Publish, "httpd", "httpd").unwrap_err();
        assert_eq!(refused.status.as_u16(), 403);
        assert!(refused.message.contains("grants release"), "{}", refused.message);
    }

    #[test]
    fn only_the_pmc_votes_bind() {
        for (role, binding) in [
            (None, false),
            (Some(Role::Committer), false),
            (Some(Role::ReleaseManager), false),
            (Some(Role::PmcMember), true),
        ] {
            let member = person(false, &role.map(|r| vec![("httpd", r)]).unwrap_or_default());
            assert_eq!(ballot_is_binding(&member, "httpd"), binding, "{role:?}");
            assert!(!ballot_is_binding(&member, "tomcat"), "{role:?}: another committee's vote is not binding");
        }
        assert!(!ballot_is_binding(&person(true, &[]), "httpd"), "an admin is not the PMC");
    }

    /// Signing keys: packets change for their owner, an admin, or a release manager of every
    /// committee holding them; removal only where the caller has the right.
    #[test]
    fn key_matrix() {
        let mut owner = person(false, &[]);
        owner.user_id = 7;
        let httpd_rm = person(false, &[("httpd", Role::ReleaseManager)]);
        let both_rm = person(false, &[("httpd", Role::ReleaseManager), ("tomcat", Role::ReleaseManager)]);
        let committer = person(false, &[("httpd", Role::Committer), ("tomcat", Role::Committer)]);
        let admin = person(true, &[]);
        let holders = ["httpd".to_owned(), "tomcat".to_owned()];
        assert!(may_update_key(&owner, Some(7), &holders));
        assert!(may_update_key(&admin, Some(7), &holders));
        assert!(may_update_key(&both_rm, Some(7), &holders), "a release manager of every holder");
        assert!(!may_update_key(&httpd_rm, Some(7), &holders), "not of every holder");
        assert!(!may_update_key(&committer, None, &holders));
        assert!(!may_update_key(&httpd_rm, Some(7), &[]), "nobody's KEYS: only its owner");
        assert_eq!(key_removal(&owner, Some(7), &holders, "K").unwrap(), KeyRemoval::Everywhere);
        assert_eq!(key_removal(&admin, None, &holders, "K").unwrap(), KeyRemoval::Everywhere);
        assert_eq!(key_removal(&httpd_rm, Some(7), &holders, "K").unwrap(), KeyRemoval::From(vec!["httpd".into()]));
        let refused = key_removal(&committer, Some(7), &holders, "K").unwrap_err();
        assert_eq!(refused.status.as_u16(), 403);
        assert!(key_removal(&httpd_rm, Some(7), &["tomcat".to_owned()], "K").is_err(), "not another committee's");
    }

    /// Reading: drafts are their committee's, every later phase is public.
    #[test]
    fn read_matrix() {
        let outsider = person(false, &[("tomcat", Role::PmcMember)]);
        let committer = person(false, &[("httpd", Role::Committer)]);
        let admin = person(true, &[]);
        for phase in Phase::ALL {
            let public = phase != Phase::Draft;
            assert_eq!(may_read_release(None, "httpd", "httpd", phase), public, "anonymous, {phase}");
            let other = may_read_release(Some(&outsider), "httpd", "httpd", phase);
            assert_eq!(other, public, "another committee's PMC, {phase}");
            assert!(may_read_release(Some(&committer), "httpd", "httpd", phase), "a committer, {phase}");
            assert!(may_read_release(Some(&admin), "httpd", "httpd", phase), "an admin, {phase}");
            let ci = publisher("httpd", &[PublisherAction::Compose]);
            assert!(may_read_release(Some(&ci), "httpd", "httpd", phase), "its project's publisher, {phase}");
            assert_eq!(may_read_release(Some(&ci), "httpd", "httpd-tools", phase), public, "another project, {phase}");
        }
        let hidden = authorize_read_release(None, "httpd", "httpd", Phase::Draft, "httpd/2.4.69").unwrap_err();
        assert_eq!((hidden.status.as_u16(), hidden.code), (404, "not_found"), "a draft does not exist to outsiders");
        assert_eq!(drafts_visible(None), DraftsVisible::OfCommittees(Vec::new()));
        assert_eq!(drafts_visible(Some(&committer)), DraftsVisible::OfCommittees(vec!["httpd".to_owned()]));
        assert_eq!(drafts_visible(Some(&admin)), DraftsVisible::All);
    }

    #[test]
    fn refusals_say_what_was_needed() {
        let committer = person(false, &[("httpd", Role::Committer)]);
        let err = authorize(&committer, Action::EditPolicy, "httpd").unwrap_err();
        assert_eq!(err.status.as_u16(), 403);
        assert!(err.message.contains("pmc_member"), "{}", err.message);
    }
}
