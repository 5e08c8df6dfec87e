//! People besides committee members (ADR 0014): visitors, who make their own account to cast
//! non-binding votes after consenting to the personal data kept, and may withdraw that consent;
//! foundation members, a flag admins set; and invitations, the one-time link with which an
//! admin lets a new user choose their password.

use serde_json::json;
use shared_models::Uid;
use shared_models::api as wire;

use super::page::Page;
use super::text;
use crate::auth::{Principal, authz, secrets};
use crate::db::models::UserRow;
use crate::db::queries::{auth as users, events, people as q, sessions};
use crate::db::{DbConnection, now_ms, write_transaction};
use crate::error::{AppError, AppResult};

/// The version of the consent text a visitor agrees to at `/signup` (recorded with the account).
pub const CONSENT_VERSION: &str = "2026-12-01";

/// What a visitor agrees to, shown above the sign-up form and on the account page.
pub const CONSENT_TEXT: &[&str] = &[
    "This server keeps your name and your email address with your account, to show who cast a \
     ballot and to reach you about it. Nobody else receives them.",
    "Your user id is public: it is shown with your ballots and written into the audit log, which \
     can never be rewritten. Choose one that does not name you if you prefer.",
    "You may withdraw your consent at any time on your account page. Your name, address, \
     password, tokens and the keys only you use are then removed; your ballots stay counted as \
     non-binding, under an anonymous name and without their comments.",
];

/// The name a withdrawn visitor's ballots are shown under, followed by the account's row id.
pub const ANONYMOUS_PREFIX: &str = "anonymous-";

/// How long an invitation link works.
const INVITATION_DAYS: i64 = 7;

/// A visitor's account request, as the sign-up form gives it.
#[derive(Debug)]
pub struct SignUp {
    pub uid: String,
    pub name: String,
    pub email: String,
    /// The argon2id hash of the chosen password (hashed off the database thread).
    pub password_hash: String,
    /// Whether the person ticked the consent box; without it there is no account.
    pub consent: bool,
}

/// Makes a visitor's account, recording the consent given. The event names the uid and the
/// consent version only: the name and the address are never written into the audit log.
pub fn sign_up(conn: &mut DbConnection, request: &SignUp) -> AppResult<UserRow> {
    if !request.consent {
        return Err(AppError::unprocessable(
            "consent_required",
            "An account needs your consent to the personal data kept (the box above the button).",
        )
        .with_details(json!({"field": "consent"})));
    }
    let uid = Uid::parse(&request.uid).map_err(|e| {
        AppError::unprocessable("invalid_request", format!("The user id {e}")).with_details(json!({"field": "uid"}))
    })?;
    if uid.as_str().starts_with(ANONYMOUS_PREFIX) {
        return Err(AppError::unprocessable(
            "invalid_request",
            format!("User ids starting with {ANONYMOUS_PREFIX} name withdrawn accounts' ballots; choose another."),
        )
        .with_details(json!({"field": "uid"})));
    }
    let name = text::required("name", &request.name, text::MAX_NAME)?;
    let email = text::optional_email("email", Some(request.email.trim()))?.ok_or_else(|| {
        AppError::unprocessable("invalid_request", "email is empty").with_details(json!({"field": "email"}))
    })?;
    write_transaction(conn, |conn| {
        let row = q::insert_visitor(conn, uid.as_str(), &name, &email, &request.password_hash, CONSENT_VERSION)?
            .ok_or_else(|| {
                AppError::conflict("user_exists", format!("The user id {uid} is taken; choose another."))
                    .with_details(json!({"field": "uid"}))
            })?;
        events::record_unscoped(
            conn,
            uid.as_str(),
            "visitor.signed_up",
            uid.as_str(),
            json!({"consent_version": CONSENT_VERSION}),
        )?;
        Ok(row)
    })
}

/// Withdraws a visitor's consent: their personal data are removed and their ballots anonymised
/// (see [`q::withdraw`]); the event says how many of each, and nothing about the person.
pub fn withdraw(conn: &mut DbConnection, principal: &Principal) -> AppResult<q::Withdrawn> {
    write_transaction(conn, |conn| {
        let user = users::find_user(conn, &principal.uid)?
            .ok_or_else(|| AppError::unauthorized("Your user no longer exists."))?;
        if !user.visitor {
            return Err(AppError::forbidden(
                "Only a visitor's account is withdrawn here: committee members' accounts come from the \
                 foundation's records; an admin can help.",
            ));
        }
        if user.withdrawn_at.is_some() {
            return Err(AppError::conflict("already_withdrawn", "This account's consent is already withdrawn."));
        }
        let done = q::withdraw(conn, &user)?;
        events::record_unscoped(conn, &user.uid, "visitor.withdrew", &user.uid, json!(done))?;
        Ok(done)
    })
}

/// A page of every user (admins only).
pub fn list(conn: &mut DbConnection, principal: &Principal, page: Page, query: &str) -> AppResult<wire::UserList> {
    authz::authorize_admin(principal)?;
    let (limit, offset) = page.sql();
    let (rows, total) = q::list(conn, limit, offset)?;
    let users = rows.into_iter().map(|row| super::directory::user(conn, row)).collect::<AppResult<Vec<_>>>()?;
    Ok(wire::UserList { users, page: page.info(total, query) })
}

/// One user's record.
pub fn show(conn: &mut DbConnection, uid: &str) -> AppResult<wire::User> {
    let row = users::find_user(conn, uid)?.ok_or_else(|| AppError::not_found(format!("There is no user {uid}.")))?;
    super::directory::user(conn, row)
}

/// Sets or clears a user's foundation-member flag (admins only); an event when it changes.
pub fn set_foundation_member(
    conn: &mut DbConnection,
    principal: &Principal,
    uid: &str,
    member: bool,
) -> AppResult<wire::User> {
    authz::authorize_admin(principal)?;
    write_transaction(conn, |conn| {
        let row =
            users::find_user(conn, uid)?.ok_or_else(|| AppError::not_found(format!("There is no user {uid}.")))?;
        if q::set_foundation_member(conn, row.id, member)? {
            events::record_unscoped(
                conn,
                principal.actor(),
                "user.updated",
                uid,
                json!({"foundation_member": member}),
            )?;
        }
        show(conn, uid)
    })
}

/// A new invitation link's secret (shown once), for an existing user (admins only). Earlier
/// links of that user keep working until they expire or one is used.
pub fn invite(conn: &mut DbConnection, principal: &Principal, uid: &str) -> AppResult<String> {
    authz::authorize_admin(principal)?;
    write_transaction(conn, |conn| {
        let row =
            users::find_user(conn, uid)?.ok_or_else(|| AppError::not_found(format!("There is no user {uid}.")))?;
        if row.withdrawn_at.is_some() {
            return Err(AppError::conflict("withdrawn", format!("The account {uid} was withdrawn by its owner.")));
        }
        if row.visitor {
            return Err(AppError::conflict(
                "visitor_account",
                format!("{uid} is a visitor's own account, with its own password; invite people under their own uid."),
            ));
        }
        let secret = secrets::generate("inv_");
        let expires_at = now_ms() + INVITATION_DAYS * 24 * 3600 * 1000;
        q::insert_invitation(conn, row.id, &secrets::hash(&secret), principal.actor(), expires_at)?;
        events::record_unscoped(
            conn,
            principal.actor(),
            "user.invited",
            uid,
            json!({"expires_in_days": INVITATION_DAYS}),
        )?;
        Ok(secret)
    })
}

/// The user an invitation link is for, if it is still good.
pub fn invitation(conn: &mut DbConnection, secret: &str) -> AppResult<UserRow> {
    q::open_invitation(conn, &secrets::hash(secret))?.map(|(_, user)| user).ok_or_else(|| {
        AppError::not_found("This invitation link is used, expired or wrong; ask an admin for a new one.")
    })
}

/// Accepts an invitation: the password is set (ending any session the user had) and the link
/// never works again.
pub fn accept_invitation(conn: &mut DbConnection, secret: &str, password_hash: &str) -> AppResult<UserRow> {
    write_transaction(conn, |conn| {
        let (id, user) = q::open_invitation(conn, &secrets::hash(secret))?.ok_or_else(|| {
            AppError::not_found("This invitation link is used, expired or wrong; ask an admin for a new one.")
        })?;
        if !q::use_invitation(conn, id, user.id)? {
            return Err(AppError::conflict("invitation_used", "This invitation link was used meanwhile."));
        }
        // Whoever held the account before the invitation keeps nothing of it: no session, no token.
        sessions::set_password(conn, user.id, Some(password_hash))?;
        sessions::revoke_sessions_of(conn, user.id)?;
        q::delete_tokens_of(conn, user.id)?;
        events::record_unscoped(conn, &user.uid, "user.invitation_accepted", &user.uid, json!({}))?;
        Ok(user)
    })
}
