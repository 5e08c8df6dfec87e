//! Authorization: every rule about who may do what lives here, and nowhere else.
//!
//! Rights come from a person's role in the committee that owns the thing acted on. Roles are
//! ordered `committer < release_manager < pmc_member`; each includes the rights of those below.
//! Admins may do everything.

use shared_models::api::Role;

use super::Principal;
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
    /// Create committees, projects, users, memberships and runners.
    Administer,
}

impl Action {
    /// The least role that allows the action; `None` means admins only.
    pub fn minimum_role(self) -> Option<Role> {
        match self {
            Action::ComposeRelease | Action::AddCommitteeKey => Some(Role::Committer),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn person(is_admin: bool, roles: &[(&str, Role)]) -> Principal {
        Principal {
            user_id: 1,
            uid: "someone".into(),
            is_admin,
            memberships: roles.iter().map(|(c, r)| ((*c).to_owned(), *r)).collect(),
            token_id: None,
        }
    }

    /// The full matrix: every action against every role, in and out of the committee.
    #[test]
    fn role_matrix() {
        use Action::*;
        let actions =
            [ComposeRelease, ManageReleasePhase, AddCommitteeKey, ImportCommitteeKeys, EditPolicy, Administer];
        let expected: [(Option<Role>, [bool; 6]); 4] = [
            (None, [false, false, false, false, false, false]),
            (Some(Role::Committer), [true, false, true, false, false, false]),
            (Some(Role::ReleaseManager), [true, true, true, true, false, false]),
            (Some(Role::PmcMember), [true, true, true, true, true, false]),
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
    fn refusals_say_what_was_needed() {
        let committer = person(false, &[("httpd", Role::Committer)]);
        let err = authorize(&committer, Action::EditPolicy, "httpd").unwrap_err();
        assert_eq!(err.status.as_u16(), 403);
        assert!(err.message.contains("pmc_member"), "{}", err.message);
    }
}
