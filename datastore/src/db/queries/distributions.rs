//! Records of where releases were distributed.

use diesel::prelude::*;

use super::insert_or_ignore;
use crate::db::models::DistributionRow;
use crate::db::schema::distribution;
use crate::db::{DbConnection, now_ms};

/// Records that `release_id` is distributed on `channel` at `url`; `None` if that is recorded
/// already.
pub fn insert(
    conn: &mut DbConnection,
    release_id: i64,
    channel: &str,
    url: &str,
    created_by: &str,
) -> QueryResult<Option<DistributionRow>> {
    let now = now_ms();
    let inserted = insert_or_ignore!(
        conn,
        distribution::table,
        (
            distribution::release_id.eq(release_id),
            distribution::channel.eq(channel),
            distribution::url.eq(url),
            distribution::status.eq("recorded"),
            distribution::created_by.eq(created_by),
            distribution::created_at.eq(now),
            distribution::updated_at.eq(now),
        )
    )?;
    if inserted == 0 {
        return Ok(None);
    }
    distribution::table
        .filter(distribution::release_id.eq(release_id))
        .filter(distribution::channel.eq(channel))
        .filter(distribution::url.eq(url))
        .select(DistributionRow::as_select())
        .first(conn)
        .map(Some)
}

pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<DistributionRow>> {
    distribution::table.find(id).select(DistributionRow::as_select()).first(conn).optional()
}

/// The records of the releases `release_ids`, oldest first.
pub fn of_releases(conn: &mut DbConnection, release_ids: &[i64]) -> QueryResult<Vec<DistributionRow>> {
    distribution::table
        .filter(distribution::release_id.eq_any(release_ids))
        .order(distribution::id)
        .select(DistributionRow::as_select())
        .load(conn)
}

pub fn delete(conn: &mut DbConnection, id: i64) -> QueryResult<bool> {
    diesel::delete(distribution::table.find(id)).execute(conn).map(|n| n == 1)
}
