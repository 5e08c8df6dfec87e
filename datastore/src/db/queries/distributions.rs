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

/// Records what a check of the channel found; `false` if the record is gone.
pub fn set_outcome(conn: &mut DbConnection, id: i64, status: &str, detail: &str) -> QueryResult<bool> {
    let now = now_ms();
    diesel::update(distribution::table.find(id))
        .set((
            distribution::status.eq(status),
            distribution::detail.eq(Some(detail)),
            distribution::checked_at.eq(Some(now)),
            distribution::updated_at.eq(now),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// Records of web addresses last checked before `before` (or recorded before it and never
/// checked), of releases in `phases`, oldest check first; at most `limit`.
pub fn due(conn: &mut DbConnection, before: i64, phases: &[&str], limit: i64) -> QueryResult<Vec<DistributionRow>> {
    use crate::db::schema::release;
    distribution::table
        .inner_join(release::table)
        .filter(release::phase.eq_any(phases))
        .filter(distribution::url.like("http%"))
        .filter(
            distribution::checked_at
                .lt(before)
                .or(distribution::checked_at.is_null().and(distribution::created_at.lt(before))),
        )
        .order((distribution::checked_at.asc(), distribution::id.asc()))
        .limit(limit)
        .select(DistributionRow::as_select())
        .load(conn)
}
