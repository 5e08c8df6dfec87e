//! The task queue: queueing, atomic claims, leases (renewal, expiry), logs, results.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::db::models::{CheckResultRow, NewCheckResult, NewTask, TaskRow};
use crate::db::schema::{check_result, key_use, runner, task, task_log};
use crate::db::{DbConnection, now_ms};

/// Statuses of a task that still promise a result.
const LIVE: [&str; 3] = ["queued", "leased", "completed"];

/// Queues `new` unless its result is already known or on its way: a result stored for the same
/// checker version, inputs and policy, or a live task with them. Returns the new task's id.
pub fn enqueue_unless_known(conn: &mut DbConnection, new: &NewTask) -> QueryResult<Option<i64>> {
    let version = new.checker_version.clone().unwrap_or_default();
    let has_result: bool = diesel::select(diesel::dsl::exists(
        check_result::table
            .filter(check_result::checker.eq(&new.kind))
            .filter(check_result::checker_version.eq(&version))
            .filter(check_result::inputs_hash.eq(&new.inputs_hash))
            .filter(check_result::policy_hash.eq(&new.policy_hash)),
    ))
    .get_result(conn)?;
    if has_result {
        return Ok(None);
    }
    let has_task: bool = diesel::select(diesel::dsl::exists(
        task::table
            .filter(task::kind.eq(&new.kind))
            .filter(task::checker_version.eq(&version))
            .filter(task::inputs_hash.eq(&new.inputs_hash))
            .filter(task::policy_hash.eq(&new.policy_hash))
            .filter(task::status.eq_any(LIVE)),
    ))
    .get_result(conn)?;
    if has_task {
        return Ok(None);
    }
    diesel::insert_into(task::table).values(new).returning(task::id).get_result(conn).map(Some)
}

pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<TaskRow>> {
    task::table.find(id).select(TaskRow::as_select()).first(conn).optional()
}

/// A page of tasks, newest first, optionally of one release and in some statuses.
pub fn list(
    conn: &mut DbConnection,
    release_id: Option<i64>,
    statuses: &[String],
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<TaskRow>, i64)> {
    let filtered = || {
        let mut query = task::table.into_boxed();
        if let Some(release) = release_id {
            query = query.filter(task::release_id.eq(release));
        }
        if !statuses.is_empty() {
            query = query.filter(task::status.eq_any(statuses.to_vec()));
        }
        query
    };
    let total = filtered().count().get_result(conn)?;
    let rows = filtered().order(task::id.desc()).limit(limit).offset(offset).select(TaskRow::as_select()).load(conn)?;
    Ok((rows, total))
}

/// One claim as a single statement, so two runners never hold the same task: PostgreSQL locks
/// the chosen row and skips rows other claims hold; SQLite runs the statement under its one
/// writer lock. `kinds` must be plain identifiers (they are checked by the caller).
pub fn claim_one(
    conn: &mut DbConnection,
    runner_id: i64,
    kinds: &[String],
    lease_token: &str,
    lease_expires_at: i64,
) -> QueryResult<Option<TaskRow>> {
    let now = now_ms();
    let kinds_sql = kinds.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ");
    let sql = |lock: &str| {
        format!(
            "UPDATE task SET status = 'leased', runner_id = $1, lease_token = $2, lease_expires_at = $3, \
             attempt = attempt + 1, started_at = COALESCE(started_at, $4), progress = NULL \
             WHERE id = (SELECT id FROM task WHERE status = 'queued' AND not_before <= $4 AND kind IN ({kinds_sql}) \
             ORDER BY priority DESC, id LIMIT 1{lock}) RETURNING *"
        )
    };
    // The same statement and binds on both; only the row lock differs (and the connection type).
    macro_rules! claim_on {
        ($conn:expr, $lock:expr) => {
            diesel::sql_query(sql($lock))
                .bind::<BigInt, _>(runner_id)
                .bind::<Text, _>(lease_token)
                .bind::<BigInt, _>(lease_expires_at)
                .bind::<BigInt, _>(now)
                .get_result::<TaskRow>($conn)
                .optional()
        };
    }
    match conn {
        DbConnection::Postgres(c) => claim_on!(c, " FOR UPDATE SKIP LOCKED"),
        DbConnection::Sqlite(c) => claim_on!(c, ""),
    }
}

/// Extends a lease held with `lease_token`; returns the task's status, or `None` when the
/// token is not (or no longer) the task's.
pub fn renew(
    conn: &mut DbConnection,
    id: i64,
    lease_token: &str,
    lease_expires_at: i64,
    progress: Option<&str>,
) -> QueryResult<Option<String>> {
    let held = task::table
        .find(id)
        .filter(task::lease_token.eq(lease_token))
        .filter(task::status.eq_any(["leased", "cancelled"]));
    let status = diesel::update(held)
        .set(task::lease_expires_at.eq(lease_expires_at))
        .returning(task::status)
        .get_result::<String>(conn)
        .optional()?;
    if status.is_some()
        && let Some(progress) = progress
    {
        diesel::update(task::table.find(id)).set(task::progress.eq(progress)).execute(conn)?;
    }
    Ok(status)
}

/// The next log sequence number a task expects.
pub fn next_log_seq(conn: &mut DbConnection, id: i64) -> QueryResult<i32> {
    let last: Option<i32> =
        task_log::table.filter(task_log::task_id.eq(id)).select(diesel::dsl::max(task_log::seq)).first(conn)?;
    Ok(last.map_or(0, |s| s + 1))
}

pub fn log_size(conn: &mut DbConnection, id: i64) -> QueryResult<i64> {
    task_log::table.filter(task_log::task_id.eq(id)).count().get_result(conn)
}

pub fn append_log(conn: &mut DbConnection, id: i64, seq: i32, text: &str) -> QueryResult<()> {
    diesel::insert_into(task_log::table)
        .values((task_log::task_id.eq(id), task_log::seq.eq(seq), task_log::text.eq(text), task_log::at.eq(now_ms())))
        .execute(conn)?;
    Ok(())
}

/// Ends a task held with `lease_token` in `status` (`completed`, `failed`); false when the
/// token no longer holds it.
pub fn finish(
    conn: &mut DbConnection,
    id: i64,
    lease_token: &str,
    status: &str,
    error: Option<&str>,
) -> QueryResult<bool> {
    let now = now_ms();
    let changed = diesel::update(
        task::table.find(id).filter(task::lease_token.eq(lease_token)).filter(task::status.eq("leased")),
    )
    .set((
        task::status.eq(status),
        task::finished_at.eq(now),
        task::error.eq(error),
        task::lease_expires_at.eq(None::<i64>),
    ))
    .execute(conn)?;
    Ok(changed > 0)
}

/// Returns a task held with `lease_token` to the queue, to start again at `not_before`.
pub fn requeue(conn: &mut DbConnection, id: i64, lease_token: &str, not_before: i64, error: &str) -> QueryResult<bool> {
    let changed = diesel::update(
        task::table.find(id).filter(task::lease_token.eq(lease_token)).filter(task::status.eq("leased")),
    )
    .set((
        task::status.eq("queued"),
        task::runner_id.eq(None::<i64>),
        task::lease_token.eq(None::<String>),
        task::lease_expires_at.eq(None::<i64>),
        task::not_before.eq(not_before),
        task::error.eq(error),
    ))
    .execute(conn)?;
    Ok(changed > 0)
}

/// Leased tasks whose lease ran out before `now`.
pub fn expired_leases(conn: &mut DbConnection, now: i64) -> QueryResult<Vec<TaskRow>> {
    task::table
        .filter(task::status.eq_any(["leased", "cancelled"]))
        .filter(task::lease_expires_at.lt(now))
        .select(TaskRow::as_select())
        .load(conn)
}

/// Sets a task's status without a lease (admin cancel and retry).
pub fn set_status(conn: &mut DbConnection, id: i64, status: &str, not_before: Option<i64>) -> QueryResult<()> {
    let target = task::table.find(id);
    diesel::update(target).set(task::status.eq(status)).execute(conn)?;
    if let Some(not_before) = not_before {
        diesel::update(target)
            .set((
                task::not_before.eq(not_before),
                task::attempt.eq(0),
                task::error.eq(None::<String>),
                task::runner_id.eq(None::<i64>),
                task::lease_token.eq(None::<String>),
                task::lease_expires_at.eq(None::<i64>),
                task::finished_at.eq(None::<i64>),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn insert_results(conn: &mut DbConnection, results: &[NewCheckResult]) -> QueryResult<()> {
    // One row at a time: multi-row inserts do not compile on the multi-backend connection.
    for result in results {
        diesel::insert_into(check_result::table).values(result).execute(conn)?;
    }
    Ok(())
}

/// Stored results whose inputs hash is one of `hashes`.
pub fn results_for(conn: &mut DbConnection, hashes: &[String]) -> QueryResult<Vec<CheckResultRow>> {
    check_result::table
        .filter(check_result::inputs_hash.eq_any(hashes))
        .order(check_result::id)
        .select(CheckResultRow::as_select())
        .load(conn)
}

/// Forgets the results of one check identity (before an admin retry).
pub fn delete_results(
    conn: &mut DbConnection,
    checker: &str,
    version: &str,
    inputs_hash: &str,
    policy_hash: &str,
) -> QueryResult<usize> {
    diesel::delete(
        check_result::table
            .filter(check_result::checker.eq(checker))
            .filter(check_result::checker_version.eq(version))
            .filter(check_result::inputs_hash.eq(inputs_hash))
            .filter(check_result::policy_hash.eq(policy_hash)),
    )
    .execute(conn)
}

/// Records that a key signed a file of a release (the key can no longer be deleted).
pub fn record_key_use(conn: &mut DbConnection, fingerprint: &str, release_id: i64, path: &str) -> QueryResult<()> {
    super::insert_or_ignore!(
        conn,
        key_use::table,
        (
            key_use::fingerprint.eq(fingerprint),
            key_use::release_id.eq(release_id),
            key_use::path.eq(path),
            key_use::seen_at.eq(now_ms()),
        )
    )?;
    Ok(())
}

/// Names of runners by id.
pub fn runner_names(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    runner::table.filter(runner::id.eq_any(ids)).select((runner::id, runner::name)).load(conn)
}

/// Whether `runner_id` holds a live lease on a task that reads the blob `sha256`.
pub fn runner_may_read(conn: &mut DbConnection, runner_id: i64, sha256: &str) -> QueryResult<bool> {
    let inputs: Vec<String> = task::table
        .filter(task::runner_id.eq(runner_id))
        .filter(task::status.eq("leased"))
        .filter(task::lease_expires_at.gt(now_ms()))
        .filter(task::inputs.like(format!("%{sha256}%")))
        .select(task::inputs)
        .load(conn)?;
    Ok(inputs.iter().any(|json| {
        serde_json::from_str::<Vec<shared_models::runner::TaskInput>>(json)
            .is_ok_and(|list| list.iter().any(|i| i.sha256 == sha256))
    }))
}
