//! The schedule of the datastore's own work: one row per job. A run is taken by one guarded
//! update (`next_run_at` moves on only if it is still what the taker read), so of several
//! datastore processes exactly one runs each due job.

use diesel::prelude::*;

use super::insert_or_ignore;
use crate::db::DbConnection;
use crate::db::models::ScheduleRow;
use crate::db::schema::schedule;

/// Makes sure job `name` exists and runs every `interval_secs` (0: never); a new job, or one
/// whose next run is further away than its new interval, runs `first_in_ms` from `now`.
pub fn configure(
    conn: &mut DbConnection,
    name: &str,
    interval_secs: i64,
    first_in_ms: i64,
    now: i64,
) -> QueryResult<()> {
    let first = now + first_in_ms;
    insert_or_ignore!(
        conn,
        schedule::table,
        (
            schedule::name.eq(name),
            schedule::interval_secs.eq(interval_secs),
            schedule::next_run_at.eq(first),
            schedule::runs.eq(0i64),
        )
    )?;
    diesel::update(schedule::table.find(name)).set(schedule::interval_secs.eq(interval_secs)).execute(conn)?;
    let latest = now.saturating_add(interval_secs.saturating_mul(1000)).max(first);
    diesel::update(schedule::table.find(name).filter(schedule::next_run_at.gt(latest)))
        .set(schedule::next_run_at.eq(first))
        .execute(conn)?;
    Ok(())
}

/// Every job, by name.
pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<ScheduleRow>> {
    schedule::table.order(schedule::name).select(ScheduleRow::as_select()).load(conn)
}

pub fn find(conn: &mut DbConnection, name: &str) -> QueryResult<Option<ScheduleRow>> {
    schedule::table.find(name).select(ScheduleRow::as_select()).first(conn).optional()
}

/// The jobs that are on and due at `now`.
pub fn due(conn: &mut DbConnection, now: i64) -> QueryResult<Vec<ScheduleRow>> {
    schedule::table
        .filter(schedule::interval_secs.gt(0i64))
        .filter(schedule::next_run_at.le(now))
        .order(schedule::next_run_at)
        .select(ScheduleRow::as_select())
        .load(conn)
}

/// Takes the run of `job` that was due: true for the one caller whose update matched. The next
/// run moves `lease_ms` ahead at most: a process that dies mid-run leaves the job to be taken
/// again then, not a whole interval later ([`finish`] sets the real next run).
pub fn take(conn: &mut DbConnection, job: &ScheduleRow, now: i64, lease_ms: i64) -> QueryResult<bool> {
    let next = now.saturating_add(job.interval_secs.max(1).saturating_mul(1000).min(lease_ms));
    let taken = diesel::update(schedule::table.find(&job.name).filter(schedule::next_run_at.eq(job.next_run_at)))
        .set((schedule::next_run_at.eq(next), schedule::last_started_at.eq(now)))
        .execute(conn)?;
    Ok(taken == 1)
}

/// Records how a run ended, and when the job runs next.
pub fn finish(
    conn: &mut DbConnection,
    name: &str,
    outcome: &str,
    detail: &str,
    now: i64,
    next_run_at: i64,
) -> QueryResult<()> {
    diesel::update(schedule::table.find(name))
        .set((
            schedule::next_run_at.eq(next_run_at),
            schedule::last_finished_at.eq(now),
            schedule::last_outcome.eq(outcome),
            schedule::last_detail.eq(detail),
            schedule::runs.eq(schedule::runs + 1i64),
        ))
        .execute(conn)?;
    Ok(())
}

/// Makes `name` due now; false if there is no such job.
pub fn run_now(conn: &mut DbConnection, name: &str, now: i64) -> QueryResult<bool> {
    Ok(diesel::update(schedule::table.find(name)).set(schedule::next_run_at.eq(now)).execute(conn)? == 1)
}
