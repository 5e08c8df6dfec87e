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
    let row: Option<(i64, String, i64, UserRow)> = web_session::table
        .inner_join(users::table)
        .filter(web_session::secret_hash.eq(secret_hash))
        .filter(web_session::revoked_at.is_null())
        .filter(users::withdrawn_at.is_null())
        .filter(web_session::created_at.gt(created_after))
        .filter(web_session::last_seen_at.gt(seen_after))
        .select((web_session::id, web_session::csrf_token, web_session::last_seen_at, UserRow::as_select()))
        .first(conn)
        .optional()?;
    Ok(row.map(|(id, csrf_token, last_seen_at, user)| SessionRow { id, csrf_token, last_seen_at, user }))
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

/// Ends the session with this secret hash, if it is live.
pub fn revoke_by_secret(conn: &mut DbConnection, secret_hash: &str) -> QueryResult<bool> {
    Ok(diesel::update(
        web_session::table.filter(web_session::secret_hash.eq(secret_hash)).filter(web_session::revoked_at.is_null()),
    )
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

/// Records a login attempt before its password is checked (so that parallel guesses count
/// too); returns its id, to forget it if the password holds.
pub fn record_attempt(conn: &mut DbConnection, uid: &str, address: &str) -> QueryResult<i64> {
    diesel::insert_into(login_failure::table)
        .values((login_failure::uid.eq(uid), login_failure::address.eq(address), login_failure::at.eq(now_ms())))
        .returning(login_failure::id)
        .get_result(conn)
}

/// Serialises the login attempts of one account until the end of the transaction (a write to
/// its row, which PostgreSQL locks and SQLite's single writer orders), so that attempts sent
/// in parallel each see the ones before them.
pub fn lock_account(conn: &mut DbConnection, uid: &str) -> QueryResult<()> {
    diesel::update(users::table.filter(users::uid.eq(uid))).set(users::uid.eq(users::uid)).execute(conn)?;
    Ok(())
}

/// Forgets an attempt whose password was never checked.
pub fn forget_attempt(conn: &mut DbConnection, id: i64) -> QueryResult<()> {
    diesel::delete(login_failure::table.find(id)).execute(conn)?;
    Ok(())
}

/// The failed logins since `since`, oldest first, counted three ways.
#[derive(Debug, Default)]
pub struct Failures {
    /// For this account from this address.
    pub pair: Vec<i64>,
    /// For this account from anywhere.
    pub account: Vec<i64>,
    /// From this address, for any account.
    pub address: Vec<i64>,
}

pub fn failures_since(conn: &mut DbConnection, uid: &str, address: &str, since: i64) -> QueryResult<Failures> {
    let rows: Vec<(String, String, i64)> = login_failure::table
        .filter(login_failure::uid.eq(uid).or(login_failure::address.eq(address)))
        .filter(login_failure::at.gt(since))
        .select((login_failure::uid, login_failure::address, login_failure::at))
        .order(login_failure::at)
        .load(conn)?;
    let mut failures = Failures::default();
    for (row_uid, row_address, at) in rows {
        if row_uid == uid {
            failures.account.push(at);
            if row_address == address {
                failures.pair.push(at);
            }
        }
        if row_address == address {
            failures.address.push(at);
        }
    }
    Ok(failures)
}

/// After a good password: forgets the attempt `id`, the account's failures from this address,
/// and every failure older than `before`.
pub fn forget_failures(conn: &mut DbConnection, id: i64, uid: &str, address: &str, before: i64) -> QueryResult<()> {
    diesel::delete(
        login_failure::table.filter(
            login_failure::id
                .eq(id)
                .or(login_failure::uid.eq(uid).and(login_failure::address.eq(address)))
                .or(login_failure::at.lt(before)),
        ),
    )
    .execute(conn)?;
    Ok(())
}
