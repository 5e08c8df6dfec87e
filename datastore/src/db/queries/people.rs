//! Accounts as admins and visitors manage them: the user list, flags, invitations, and the
//! withdrawal of a visitor's consent.

use diesel::prelude::*;

use super::insert_or_ignore;
use crate::db::models::UserRow;
use crate::db::schema::{
    api_token, committee_key, invitation, key_use, login_failure, signing_key, users, vote, web_session,
};
use crate::db::{DbConnection, now_ms};

/// A page of people by uid, and how many there are (projects' CI users, `ci:<project>`, are
/// not people).
pub fn list(conn: &mut DbConnection, limit: i64, offset: i64) -> QueryResult<(Vec<UserRow>, i64)> {
    let people = || users::table.filter(users::uid.not_like("ci:%"));
    let total = people().count().get_result(conn)?;
    let rows = people().order(users::uid).limit(limit).offset(offset).select(UserRow::as_select()).load(conn)?;
    Ok((rows, total))
}

/// Inserts a visitor's account with the consent they gave; `None` when the uid is taken.
pub fn insert_visitor(
    conn: &mut DbConnection,
    uid: &str,
    name: &str,
    email: &str,
    password_hash: &str,
    consent_version: &str,
) -> QueryResult<Option<UserRow>> {
    let now = now_ms();
    let inserted = insert_or_ignore!(
        conn,
        users::table,
        (
            users::uid.eq(uid),
            users::name.eq(name),
            users::email.eq(email),
            users::is_admin.eq(false),
            users::password_hash.eq(password_hash),
            users::created_at.eq(now),
            users::visitor.eq(true),
            users::consented_at.eq(now),
            users::consent_version.eq(consent_version),
        )
    )?;
    if inserted == 0 {
        return Ok(None);
    }
    super::auth::find_user(conn, uid)
}

pub fn set_foundation_member(conn: &mut DbConnection, user_id: i64, member: bool) -> QueryResult<bool> {
    Ok(diesel::update(users::table.find(user_id).filter(users::foundation_member.ne(member)))
        .set(users::foundation_member.eq(member))
        .execute(conn)?
        > 0)
}

pub fn insert_invitation(
    conn: &mut DbConnection,
    user_id: i64,
    secret_hash: &str,
    created_by: &str,
    expires_at: i64,
) -> QueryResult<()> {
    diesel::insert_into(invitation::table)
        .values((
            invitation::user_id.eq(user_id),
            invitation::secret_hash.eq(secret_hash),
            invitation::created_by.eq(created_by),
            invitation::created_at.eq(now_ms()),
            invitation::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The user an unused, unexpired invitation is for.
pub fn open_invitation(conn: &mut DbConnection, secret_hash: &str) -> QueryResult<Option<(i64, UserRow)>> {
    invitation::table
        .inner_join(users::table)
        .filter(invitation::secret_hash.eq(secret_hash))
        .filter(invitation::used_at.is_null())
        .filter(invitation::expires_at.gt(now_ms()))
        .filter(users::withdrawn_at.is_null())
        .select((invitation::id, UserRow::as_select()))
        .first(conn)
        .optional()
}

/// Marks an invitation used, and every other open one of its user (an older link that leaked
/// can no longer set the password); `false` if this one was used meanwhile (two tabs, one link).
pub fn use_invitation(conn: &mut DbConnection, id: i64, user_id: i64) -> QueryResult<bool> {
    let this = diesel::update(invitation::table.find(id).filter(invitation::used_at.is_null()))
        .set(invitation::used_at.eq(now_ms()))
        .execute(conn)?;
    diesel::update(invitation::table.filter(invitation::user_id.eq(user_id)).filter(invitation::used_at.is_null()))
        .set(invitation::used_at.eq(now_ms()))
        .execute(conn)?;
    Ok(this > 0)
}

/// Removes every personal access token of a user (their JWTs stop working with them).
pub fn delete_tokens_of(conn: &mut DbConnection, user_id: i64) -> QueryResult<usize> {
    diesel::delete(api_token::table.filter(api_token::user_id.eq(user_id))).execute(conn)
}

/// What a withdrawal did, for its event.
#[derive(Debug, Default, serde::Serialize)]
pub struct Withdrawn {
    pub ballots_anonymised: usize,
    pub keys_removed: usize,
    pub tokens_removed: usize,
}

/// Removes a visitor's personal data: name, address, password, sessions, tokens, invitations
/// and the keys only they hold (a key in a committee's KEYS or named by a release stays, without
/// its owner); their ballots keep their value under `anonymous-<row id>`, without comment.
pub fn withdraw(conn: &mut DbConnection, user: &UserRow) -> QueryResult<Withdrawn> {
    let pseudonym = format!("{}{}", crate::domain::people::ANONYMOUS_PREFIX, user.id);
    let ballots_anonymised = diesel::update(vote::table.filter(vote::voter_id.eq(user.id)))
        .set((
            vote::voter_id.eq(None::<i64>),
            vote::voter.eq(&pseudonym),
            vote::comment.eq(None::<String>),
            vote::signature.eq(None::<String>),
            vote::signed_by.eq(None::<String>),
        ))
        .execute(conn)?;
    let owned = signing_key::table.filter(signing_key::owner_id.eq(user.id));
    let keys_removed = diesel::delete(
        owned
            .filter(diesel::dsl::not(diesel::dsl::exists(
                committee_key::table.filter(committee_key::fingerprint.eq(signing_key::fingerprint)),
            )))
            .filter(diesel::dsl::not(diesel::dsl::exists(
                key_use::table.filter(key_use::fingerprint.eq(signing_key::fingerprint)),
            ))),
    )
    .execute(conn)?;
    diesel::update(signing_key::table.filter(signing_key::owner_id.eq(user.id)))
        .set(signing_key::owner_id.eq(None::<i64>))
        .execute(conn)?;
    let tokens_removed = delete_tokens_of(conn, user.id)?;
    diesel::delete(login_failure::table.filter(login_failure::uid.eq(&user.uid))).execute(conn)?;
    diesel::delete(web_session::table.filter(web_session::user_id.eq(user.id))).execute(conn)?;
    diesel::delete(invitation::table.filter(invitation::user_id.eq(user.id))).execute(conn)?;
    diesel::update(users::table.find(user.id))
        .set((
            users::name.eq(None::<String>),
            users::email.eq(None::<String>),
            users::password_hash.eq(None::<String>),
            users::withdrawn_at.eq(now_ms()),
        ))
        .execute(conn)?;
    Ok(Withdrawn { ballots_anonymised, keys_removed, tokens_removed })
}
