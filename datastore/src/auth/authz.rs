//! Authorization: every rule about who may do what lives here, and nowhere else.
//!
//! Rights come from a person's role in the committee that owns the thing acted on. Roles are
//! ordered `committer < release_manager < pmc_member`; each includes the rights of those below.
//! Admins may do everything.
//!
//! Reading: a release is public from `candidate` on (its files, checks, history and tasks);
//! a draft belongs to its committee's members and the admins, and to everyone else it does not
//! exist (404, not 403: the version of an embargoed security fix is itself a secret).

use shared_models::api::{Phase, Role};

use super::Principal;
use crate::domain::lifecycle;
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create a release, and upload, move or delete its files while it is a draft.
    ComposeRelease,
    /// Start and resolve votes, publish and revoke releases.
    ManageReleasePhase,
    /// Add a key to a committee's KEYS.
    AddCommitteeKey,
    /// Import a whole KEYS file into a committee.
    ImportCommitteeKeys,
    /// Change a project's release policy.
    EditPolicy,
    /// Read a draft: its files, revisions, checks, history and tasks.
    ReadDraft,
    /// Create committees, projects, users, memberships and runners.
    Administer,
}

impl Action {
    /// The least role that allows the action; `None` means admins only.
    pub fn minimum_role(self) -> Option<Role> {
        match self {
            Action::ComposeRelease | Action::AddCommitteeKey | Action::ReadDraft => Some(Role::Committer),
            Action::ManageReleasePhase | Action::ImportCommitteeKeys => Some(Role::ReleaseManager),
            Action::EditPolicy => Some(Role::PmcMember),
            Action::Administer => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Action::ComposeRelease => "compose releases",
            Action::ManageReleasePhase => "change the phase of releases",
            Action::AddCommitteeKey => "add keys to the KEYS",
            Action::ImportCommitteeKeys => "import KEYS files",
            Action::EditPolicy => "change the release policy",
            Action::ReadDraft => "read draft releases",
            Action::Administer => "administer this server",
        }
    }
}

/// Whether `principal` may do `action` on something owned by `committee`.
pub fn allowed(principal: &Principal, action: Action, committee: &str) -> bool {
    if principal.is_admin {
        return true;
    }
    match action.minimum_role() {
        None => false,
        Some(minimum) => principal.role_in(committee).is_some_and(|role| role >= minimum),
    }
}

/// Like [`allowed`], as a 403 that says what was needed.
pub fn authorize(principal: &Principal, action: Action, committee: &str) -> AppResult<()> {
    if allowed(principal, action, committee) {
        return Ok(());
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
pub fn authorize_move(principal: &Principal, committee: &str, phase: Phase) -> AppResult<()> {
    let action = if phase == Phase::Draft { Action::ComposeRelease } else { Action::ManageReleasePhase };
    authorize(principal, action, committee)
}

/// Whether `viewer` (a person, or anonymous) may read a release of `committee` in `phase`.
pub fn may_read_release(viewer: Option<&Principal>, committee: &str, phase: Phase) -> bool {
    lifecycle::is_public(phase) || viewer.is_some_and(|p| allowed(p, Action::ReadDraft, committee))
}

/// Like [`may_read_release`], as the 404 that an unknown release gets: `what` names it.
pub fn authorize_read_release(viewer: Option<&Principal>, committee: &str, phase: Phase, what: &str) -> AppResult<()> {
    if may_read_release(viewer, committee, phase) {
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
        }
    }

    /// The full matrix: every action against every role, in and out of the committee.
    #[test]
    fn role_matrix() {
        use Action::*;
        let actions = [
            ComposeRelease,
            ManageReleasePhase,
            AddCommitteeKey,
            ImportCommitteeKeys,
            EditPolicy,
            ReadDraft,
            Administer,
        ];
        let expected: [(Option<Role>, [bool; 7]); 4] = [
            (None, [false, false, false, false, false, false, false]),
            (Some(Role::Committer), [true, false, true, false, false, true, false]),
            (Some(Role::ReleaseManager), [true, true, true, true, false, true, false]),
            (Some(Role::PmcMember), [true, true, true, true, true, true, false]),
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
            assert_eq!(may_read_release(None, "httpd", phase), public, "anonymous, {phase}");
            assert_eq!(may_read_release(Some(&outsider), "httpd", phase), public, "another committee's PMC, {phase}");
            assert!(may_read_release(Some(&committer), "httpd", phase), "a committer, {phase}");
            assert!(may_read_release(Some(&admin), "httpd", phase), "an admin, {phase}");
        }
        let hidden = authorize_read_release(None, "httpd", Phase::Draft, "httpd/2.4.69").unwrap_err();
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
