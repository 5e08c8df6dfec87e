//! Resumable upload sessions: the release and path a file is on its way to, its declared size,
//! and the bytes confirmed so far.

use diesel::prelude::*;

use crate::db::models::UploadSessionRow;
use crate::db::schema::upload_session;
use crate::db::{DbConnection, now_ms};

pub fn insert(
    conn: &mut DbConnection,
    id: &str,
    release_id: i64,
    user_id: i64,
    path: &str,
    size: i64,
    expected_sha512: Option<&str>,
) -> QueryResult<UploadSessionRow> {
    let now = now_ms();
    diesel::insert_into(upload_session::table)
        .values((
            upload_session::id.eq(id),
            upload_session::release_id.eq(release_id),
            upload_session::user_id.eq(user_id),
            upload_session::path.eq(path),
            upload_session::size.eq(size),
            upload_session::expected_sha512.eq(expected_sha512),
            upload_session::received.eq(0i64),
            upload_session::created_at.eq(now),
            upload_session::updated_at.eq(now),
        ))
        .execute(conn)?;
    upload_session::table.find(id).select(UploadSessionRow::as_select()).first(conn)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<UploadSessionRow>> {
    upload_session::table.find(id).select(UploadSessionRow::as_select()).first(conn).optional()
}

/// How many sessions `user_id` has open.
pub fn open_of_user(conn: &mut DbConnection, user_id: i64) -> QueryResult<i64> {
    upload_session::table.filter(upload_session::user_id.eq(user_id)).count().get_result(conn)
}

/// Moves the confirmed offset from `from` to `to`, only if it is still `from`; false if it was
/// not (or the session is gone).
pub fn advance(conn: &mut DbConnection, id: &str, from: i64, to: i64) -> QueryResult<bool> {
    let changed = diesel::update(upload_session::table.find(id).filter(upload_session::received.eq(from)))
        .set((upload_session::received.eq(to), upload_session::updated_at.eq(now_ms())))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Removes a session; false if it was gone.
pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    Ok(diesel::delete(upload_session::table.find(id)).execute(conn)? == 1)
}

/// Removes the sessions untouched since `before`; returns their ids.
pub fn delete_idle(conn: &mut DbConnection, before: i64) -> QueryResult<Vec<String>> {
    diesel::delete(upload_session::table.filter(upload_session::updated_at.lt(before)))
        .returning(upload_session::id)
        .get_results(conn)
}

/// Every session's id (to find files no session owns any more).
pub fn ids(conn: &mut DbConnection) -> QueryResult<Vec<String>> {
    upload_session::table.select(upload_session::id).load(conn)
}
