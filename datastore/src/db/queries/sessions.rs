//! Web sessions, passwords and failed logins.

use diesel::prelude::*;

use crate::db::models::UserRow;
use crate::db::schema::{login_failure, users, web_session};
use crate::db::{DbConnection, now_ms};

/// A live session and its user.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: i64,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub user: UserRow,
}

pub fn set_password(conn: &mut DbConnection, user_id: i64, hash: Option<&str>) -> QueryResult<bool> {
    Ok(diesel::update(users::table.find(user_id)).set(users::password_hash.eq(hash)).execute(conn)? > 0)
}

pub fn insert_session(
    conn: &mut DbConnection,
    user_id: i64,
    secret_hash: &str,
    csrf_token: &str,
    address: &str,
) -> QueryResult<i64> {
    let now = now_ms();
    diesel::insert_into(web_session::table)
        .values((
            web_session::user_id.eq(user_id),
            web_session::secret_hash.eq(secret_hash),
            web_session::csrf_token.eq(csrf_token),
            web_session::created_at.eq(now),
            web_session::last_seen_at.eq(now),
            web_session::address.eq(address),
        ))
        .returning(web_session::id)
        .get_result(conn)
}

/// The unrevoked session with this secret hash, created after `created_after` and seen after
/// `seen_after` (the absolute and idle expiry).
pub fn live_session(
    conn: &mut DbConnection,
    secret_hash: &str,
    created_after: i64,
    seen_after: i64,
) -> QueryResult<Option<SessionRow>> {
    let row: Option<(i64, String, i64, i64, UserRow)> = web_session::table
        .inner_join(users::table)
        .filter(web_session::secret_hash.eq(secret_hash))
        .filter(web_session::revoked_at.is_null())
        .filter(web_session::created_at.gt(created_after))
        .filter(web_session::last_seen_at.gt(seen_after))
        .select((
            web_session::id,
            web_session::csrf_token,
            web_session::created_at,
            web_session::last_seen_at,
            UserRow::as_select(),
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(id, csrf_token, created_at, last_seen_at, user)| SessionRow {
        id,
        csrf_token,
        created_at,
        last_seen_at,
        user,
    }))
}

/// Records that a session was used now.
pub fn touch_session(conn: &mut DbConnection, id: i64) -> QueryResult<()> {
    diesel::update(web_session::table.find(id)).set(web_session::last_seen_at.eq(now_ms())).execute(conn)?;
    Ok(())
}

pub fn revoke_session(conn: &mut DbConnection, id: i64) -> QueryResult<bool> {
    Ok(diesel::update(web_session::table.find(id).filter(web_session::revoked_at.is_null()))
        .set(web_session::revoked_at.eq(now_ms()))
        .execute(conn)?
        > 0)
}

/// Ends every session of a user (a password change); returns how many there were.
pub fn revoke_sessions_of(conn: &mut DbConnection, user_id: i64) -> QueryResult<usize> {
    diesel::update(
        web_session::table.filter(web_session::user_id.eq(user_id)).filter(web_session::revoked_at.is_null()),
    )
    .set(web_session::revoked_at.eq(now_ms()))
    .execute(conn)
}

pub fn record_failure(conn: &mut DbConnection, uid: &str, address: &str) -> QueryResult<()> {
    diesel::insert_into(login_failure::table)
        .values((login_failure::uid.eq(uid), login_failure::address.eq(address), login_failure::at.eq(now_ms())))
        .execute(conn)?;
    Ok(())
}

/// The times of the failed logins since `since` for the account `uid` and from `address`,
/// oldest first.
pub fn failures_since(
    conn: &mut DbConnection,
    uid: &str,
    address: &str,
    since: i64,
) -> QueryResult<(Vec<i64>, Vec<i64>)> {
    let by_uid = login_failure::table
        .filter(login_failure::uid.eq(uid))
        .filter(login_failure::at.gt(since))
        .select(login_failure::at)
        .order(login_failure::at)
        .load(conn)?;
    let by_address = login_failure::table
        .filter(login_failure::address.eq(address))
        .filter(login_failure::at.gt(since))
        .select(login_failure::at)
        .order(login_failure::at)
        .load(conn)?;
    Ok((by_uid, by_address))
}

/// Forgets the failed logins of `uid` (after a successful one) and every failure older than
/// `before`.
pub fn clear_failures(conn: &mut DbConnection, uid: &str, before: i64) -> QueryResult<()> {
    diesel::delete(login_failure::table.filter(login_failure::uid.eq(uid).or(login_failure::at.lt(before))))
        .execute(conn)?;
    Ok(())
}
