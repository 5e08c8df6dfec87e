//! The task queue: queueing, atomic claims, leases, logs, results.
//!
//! Every transition of a task is one guarded statement, `UPDATE … WHERE <the state it moves
//! from> RETURNING`, with the time taken from the database's clock in that statement: a renewal
//! matches only an unexpired lease of the calling runner, the reaper only an expired one, so the
//! two can never both win; on PostgreSQL a concurrent writer of the same row waits for the row
//! lock and then re-evaluates the guard on the row as the first one left it.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use shared_models::runner::{TaskKind, TaskStatus};

use crate::db::models::{CheckResultRow, NewCheckResult, NewTask, TaskRow};
use crate::db::schema::{check_result, key_use, runner, task, task_blob, task_log};
use crate::db::{DbConnection, now_ms};

/// Statuses of a task that is still to run or running.
const LIVE: [&str; 2] = ["queued", "leased"];

/// The statuses of results that are verdicts on the bytes (see `CheckStatus::is_verdict`).
const VERDICTS: [&str; 3] = ["success", "warning", "failure"];

/// The database clock, in epoch milliseconds, as SQL of each backend. PostgreSQL's is the time
/// the statement started, the same for every row it touches.
const NOW_SQLITE: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS BIGINT)";
const NOW_POSTGRES: &str = "CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000 AS BIGINT)";

/// Backoff before the attempt after `attempt`: 5 s × 2^attempt, at most 10 minutes (as SQL, on
/// the row's own `attempt`).
const BACKOFF_SQL: &str = "(CASE WHEN attempt >= 7 THEN 600000 ELSE 5000 * (1 << attempt) END)";

/// A statement of the queue in the dialect of `conn`'s backend: `{now}` becomes the database's
/// clock, `{backoff}` the retry delay of the row, `{lock}` the row lock of a claim (PostgreSQL's
/// `FOR UPDATE SKIP LOCKED`; SQLite's single writer needs none), and the `$N` parameters become
/// SQLite's `?N` (SQLite numbers `$N` by first appearance, not by N).
fn dialect(conn: &DbConnection, template: &str) -> String {
    let (now, lock) = match conn {
        DbConnection::Postgres(_) => (NOW_POSTGRES, " FOR UPDATE SKIP LOCKED"),
        DbConnection::Sqlite(_) => (NOW_SQLITE, ""),
    };
    let sql = template.replace("{now}", now).replace("{backoff}", BACKOFF_SQL).replace("{lock}", lock);
    match conn {
        DbConnection::Postgres(_) => sql,
        DbConnection::Sqlite(_) => sql.replace('$', "?"),
    }
}

/// Runs a raw query on whichever backend `$conn` is: `execute!(conn, query, get_result::<T>)`.
macro_rules! execute {
    ($conn:expr, $query:expr, $method:ident $(::<$t:ty>)?) => {
        match $conn {
            DbConnection::Postgres(c) => $query.$method$(::<$t>)?(c),
            DbConnection::Sqlite(c) => $query.$method$(::<$t>)?(c),
        }
    };
}

/// The database's clock now, in epoch milliseconds.
pub fn db_now(conn: &mut DbConnection) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Now {
        #[diesel(sql_type = BigInt)]
        now: i64,
    }
    let query = diesel::sql_query(dialect(conn, "SELECT {now} AS now"));
    let row: Now = execute!(conn, query, get_result)?;
    Ok(row.now)
}

/// Queues `new` unless its result is already known or on its way: verdicts stored for the same
/// checker version, inputs and policy, or a live task with them (one live task per identity is
/// also what a unique index holds). Results that are only `error`s do not count: that check
/// runs again. Returns the new task's id.
pub fn enqueue_unless_known(conn: &mut DbConnection, new: &NewTask) -> QueryResult<Option<i64>> {
    let version = new.checker_version.clone().unwrap_or_default();
    let has_verdict: bool = diesel::select(diesel::dsl::exists(
        check_result::table
            .filter(check_result::inputs_hash.eq(&new.inputs_hash))
            .filter(check_result::checker.eq(&new.kind))
            .filter(check_result::checker_version.eq(&version))
            .filter(check_result::policy_hash.eq(&new.policy_hash))
            .filter(check_result::status.eq_any(VERDICTS)),
    ))
    .get_result(conn)?;
    if has_verdict {
        return Ok(None);
    }
    // A concurrent transaction may have queued the same identity: the unique index of live
    // tasks turns the second insert into a no-op.
    match conn {
        DbConnection::Postgres(c) => {
            diesel::insert_into(task::table).values(new).on_conflict_do_nothing().returning(task::id).get_result(c)
        }
        DbConnection::Sqlite(c) => {
            diesel::insert_or_ignore_into(task::table).values(new).returning(task::id).get_result(c)
        }
    }
    .optional()
}

/// Queues `new` (a task that is not a check: a mail, a webhook delivery); its id.
pub fn enqueue(conn: &mut DbConnection, new: &NewTask) -> QueryResult<i64> {
    diesel::insert_into(task::table).values(new).returning(task::id).get_result(conn)
}

/// Whether a check of a release is queued or running.
pub fn live_checks_of_release(conn: &mut DbConnection, release_id: i64) -> QueryResult<bool> {
    let checks: Vec<&str> = TaskKind::ALL.into_iter().filter(|k| k.is_check()).map(TaskKind::as_str).collect();
    diesel::select(diesel::dsl::exists(
        task::table
            .filter(task::release_id.eq(release_id))
            .filter(task::status.eq_any(LIVE))
            .filter(task::kind.eq_any(checks)),
    ))
    .get_result(conn)
}

/// How many tasks there are of each kind and status (for the metrics).
pub fn counts_by_kind_and_status(conn: &mut DbConnection) -> QueryResult<Vec<(String, String, i64)>> {
    task::table
        .group_by((task::kind, task::status))
        .select((task::kind, task::status, diesel::dsl::count_star()))
        .order((task::kind, task::status))
        .load(conn)
}

pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<TaskRow>> {
    task::table.find(id).select(TaskRow::as_select()).first(conn).optional()
}

/// A page of tasks, newest first, optionally of one release and in some statuses. With
/// `drafts_of`, only tasks of public releases and of drafts of those committees (by name);
/// tasks of no release (none exist yet) are then left out too.
pub fn list(
    conn: &mut DbConnection,
    release_id: Option<i64>,
    statuses: &[TaskStatus],
    drafts_of: Option<&[String]>,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<TaskRow>, i64)> {
    use crate::db::schema::{committee, product, project, release};
    let statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    let filtered = || {
        let mut query = task::table.into_boxed();
        if let Some(release) = release_id {
            query = query.filter(task::release_id.eq(release));
        }
        if !statuses.is_empty() {
            query = query.filter(task::status.eq_any(statuses.clone()));
        }
        if let Some(committees) = drafts_of {
            let readable = release::table
                .inner_join(product::table.inner_join(project::table.inner_join(committee::table)))
                .filter(release::phase.ne("draft").or(committee::name.eq_any(committees.to_vec())))
                .select(release::id.nullable());
            query = query.filter(task::release_id.eq_any(readable));
        }
        query
    };
    let total = filtered().count().get_result(conn)?;
    let rows = filtered().order(task::id.desc()).limit(limit).offset(offset).select(TaskRow::as_select()).load(conn)?;
    Ok((rows, total))
}

/// One claim as a single statement, so two runners never hold the same task: PostgreSQL locks
/// the chosen row and skips rows other claims hold; SQLite runs the statement under its one
/// writer lock. `kinds` must be plain identifiers (the caller parses them as task kinds).
pub fn claim_one(
    conn: &mut DbConnection,
    runner_id: i64,
    kinds: &[&str],
    lease_token: &str,
    lease_ms: i64,
) -> QueryResult<Option<TaskRow>> {
    let kinds_sql = kinds.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "UPDATE task SET status = 'leased', runner_id = $1, lease_token = $2, lease_expires_at = {{now}} + $3, \
         attempt = attempt + 1, started_at = COALESCE(started_at, {{now}}), progress = NULL \
         WHERE status = 'queued' AND id = (SELECT id FROM task WHERE status = 'queued' AND not_before <= {{now}} \
         AND kind IN ({kinds_sql}) ORDER BY priority DESC, id LIMIT 1{{lock}}) RETURNING *"
    );
    let query = diesel::sql_query(dialect(conn, &sql))
        .bind::<BigInt, _>(runner_id)
        .bind::<Text, _>(lease_token)
        .bind::<BigInt, _>(lease_ms);
    execute!(conn, query, get_result::<TaskRow>).optional()
}

/// Gives back a task claimed for a client that went away before it got the order: queued
/// again as it was, the attempt not counted.
pub fn unclaim(conn: &mut DbConnection, id: i64, lease_token: &str) -> QueryResult<bool> {
    let changed = diesel::update(
        task::table.find(id).filter(task::lease_token.eq(lease_token)).filter(task::status.eq("leased")),
    )
    .set((
        task::status.eq("queued"),
        task::runner_id.eq(None::<i64>),
        task::lease_token.eq(None::<String>),
        task::lease_expires_at.eq(None::<i64>),
        task::attempt.eq(task::attempt - 1),
    ))
    .execute(conn)?;
    Ok(changed > 0)
}

/// The guard of every transition a runner makes: its own unexpired lease.
const HELD: &str = "id = $1 AND runner_id = $2 AND lease_token = $3 AND status = 'leased'";

/// Extends the lease `lease_token` of `runner_id` holds on task `id`, if it has not expired;
/// returns the new expiry.
pub fn renew(
    conn: &mut DbConnection,
    id: i64,
    runner_id: i64,
    lease_token: &str,
    lease_ms: i64,
    progress: Option<&str>,
) -> QueryResult<Option<i64>> {
    #[derive(QueryableByName)]
    struct Expiry {
        #[diesel(sql_type = BigInt)]
        lease_expires_at: i64,
    }
    let sql = format!(
        "UPDATE task SET lease_expires_at = {{now}} + $4, progress = COALESCE($5, progress) \
         WHERE {HELD} AND lease_expires_at > {{now}} RETURNING lease_expires_at"
    );
    let query = diesel::sql_query(dialect(conn, &sql))
        .bind::<BigInt, _>(id)
        .bind::<BigInt, _>(runner_id)
        .bind::<Text, _>(lease_token)
        .bind::<BigInt, _>(lease_ms)
        .bind::<Nullable<Text>, _>(progress);
    let row: Option<Expiry> = execute!(conn, query, get_result).optional()?;
    Ok(row.map(|r| r.lease_expires_at))
}

/// Ends the attempt `lease_token` of `runner_id` holds, if its lease has not expired: `completed`
/// or `failed` for good. Returns the task as it is now.
pub fn finish(
    conn: &mut DbConnection,
    id: i64,
    runner_id: i64,
    lease_token: &str,
    status: TaskStatus,
    error: Option<&str>,
) -> QueryResult<Option<TaskRow>> {
    let sql = format!(
        "UPDATE task SET status = $4, finished_at = {{now}}, error = $5, lease_expires_at = NULL \
         WHERE {HELD} AND lease_expires_at > {{now}} RETURNING *"
    );
    let query = diesel::sql_query(dialect(conn, &sql))
        .bind::<BigInt, _>(id)
        .bind::<BigInt, _>(runner_id)
        .bind::<Text, _>(lease_token)
        .bind::<Text, _>(status.as_str())
        .bind::<Nullable<Text>, _>(error);
    execute!(conn, query, get_result::<TaskRow>).optional()
}

/// Returns a failed attempt to the queue, with backoff, if the task has attempts left and the
/// lease `lease_token` of `runner_id` holds has not expired. The token stays on the row, so a
/// retried report of the same attempt is recognised (see [`attempt_of`]).
pub fn retry_attempt(
    conn: &mut DbConnection,
    id: i64,
    runner_id: i64,
    lease_token: &str,
    error: &str,
) -> QueryResult<Option<TaskRow>> {
    let sql = format!(
        "UPDATE task SET status = 'queued', runner_id = NULL, lease_expires_at = NULL, \
         not_before = {{now}} + {{backoff}}, error = $4 \
         WHERE {HELD} AND lease_expires_at > {{now}} AND attempt < max_attempts RETURNING *"
    );
    let query = diesel::sql_query(dialect(conn, &sql))
        .bind::<BigInt, _>(id)
        .bind::<BigInt, _>(runner_id)
        .bind::<Text, _>(lease_token)
        .bind::<Text, _>(error);
    execute!(conn, query, get_result::<TaskRow>).optional()
}

/// The task whose current or last attempt `lease_token` was, if any.
pub fn attempt_of(conn: &mut DbConnection, id: i64, lease_token: &str) -> QueryResult<Option<TaskRow>> {
    task::table.find(id).filter(task::lease_token.eq(lease_token)).select(TaskRow::as_select()).first(conn).optional()
}

/// What the reaper did with expired leases.
#[derive(Debug, Default)]
pub struct Reaped {
    /// Tasks returned to the queue for another attempt.
    pub requeued: Vec<TaskRow>,
    /// Tasks that ran out of attempts: failed with `runner_lost`.
    pub failed: Vec<TaskRow>,
}

/// Returns every task whose lease expired to the queue with backoff, or fails it with
/// `runner_lost` after `max_attempts`: two guarded statements (a renewal that got in first
/// leaves the lease unexpired, and the guard no longer matches). The lost attempt's token is
/// dropped: nothing it reports later is taken.
pub fn reap(conn: &mut DbConnection) -> QueryResult<Reaped> {
    let requeue = diesel::sql_query(dialect(
        conn,
        "UPDATE task SET status = 'queued', runner_id = NULL, lease_token = NULL, lease_expires_at = NULL, \
         not_before = {now} + {backoff}, error = 'runner_lost: the lease expired' \
         WHERE status = 'leased' AND lease_expires_at <= {now} AND attempt < max_attempts RETURNING *",
    ));
    let requeued = execute!(conn, requeue, load::<TaskRow>)?;
    let fail = diesel::sql_query(dialect(
        conn,
        "UPDATE task SET status = 'failed', finished_at = {now}, lease_token = NULL, lease_expires_at = NULL, \
         error = 'runner_lost' \
         WHERE status = 'leased' AND lease_expires_at <= {now} AND attempt >= max_attempts RETURNING *",
    ));
    let failed = execute!(conn, fail, load::<TaskRow>)?;
    Ok(Reaped { requeued, failed })
}

/// Admin: cancels a queued or leased task. Its lease ends (the reaper has nothing to do with
/// it); the token stays, so that the runner's next renewal learns of the cancellation.
pub fn cancel(conn: &mut DbConnection, id: i64) -> QueryResult<Option<TaskRow>> {
    let query = diesel::sql_query(dialect(
        conn,
        "UPDATE task SET status = 'cancelled', lease_expires_at = NULL, finished_at = {now} \
         WHERE id = $1 AND status IN ('queued', 'leased') RETURNING *",
    ))
    .bind::<BigInt, _>(id);
    execute!(conn, query, get_result::<TaskRow>).optional()
}

/// Whether `lease_token` of `runner_id` held task `id` when an admin cancelled it.
pub fn cancelled_for(conn: &mut DbConnection, id: i64, runner_id: i64, lease_token: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        task::table
            .find(id)
            .filter(task::runner_id.eq(runner_id))
            .filter(task::lease_token.eq(lease_token))
            .filter(task::status.eq("cancelled")),
    ))
    .get_result(conn)
}

/// Admin: queues a finished task again (completed, failed or cancelled), as new.
pub fn requeue_finished(conn: &mut DbConnection, id: i64) -> QueryResult<Option<TaskRow>> {
    let query = diesel::sql_query(dialect(
        conn,
        "UPDATE task SET status = 'queued', attempt = 0, not_before = {now}, error = NULL, runner_id = NULL, \
         lease_token = NULL, lease_expires_at = NULL, started_at = NULL, finished_at = NULL, progress = NULL \
         WHERE id = $1 AND status IN ('completed', 'failed', 'cancelled') RETURNING *",
    ))
    .bind::<BigInt, _>(id);
    execute!(conn, query, get_result::<TaskRow>).optional()
}

/// A live task (queued or leased) with the identity of `of`, other than `of` itself.
pub fn live_twin(conn: &mut DbConnection, of: &TaskRow) -> QueryResult<Option<i64>> {
    let mut query = task::table
        .filter(task::inputs_hash.eq(&of.inputs_hash))
        .filter(task::kind.eq(&of.kind))
        .filter(task::policy_hash.eq(&of.policy_hash))
        .filter(task::status.eq_any(LIVE))
        .filter(task::id.ne(of.id))
        .into_boxed();
    query = match &of.checker_version {
        Some(version) => query.filter(task::checker_version.eq(version.clone())),
        None => query.filter(task::checker_version.is_null()),
    };
    query.select(task::id).first(conn).optional()
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

/// A check's identity: what its results are stored under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    pub checker: String,
    pub checker_version: String,
    pub inputs_hash: String,
    pub policy_hash: String,
}

impl Identity {
    pub fn of_task(task: &TaskRow) -> Self {
        Self {
            checker: task.kind.clone(),
            checker_version: task.checker_version.clone().unwrap_or_default(),
            inputs_hash: task.inputs_hash.clone(),
            policy_hash: task.policy_hash.clone(),
        }
    }

    pub fn of_result(row: &CheckResultRow) -> Self {
        Self {
            checker: row.checker.clone(),
            checker_version: row.checker_version.clone(),
            inputs_hash: row.inputs_hash.clone(),
            policy_hash: row.policy_hash.clone(),
        }
    }
}

/// The statuses of the results stored under an identity.
pub fn result_statuses(conn: &mut DbConnection, identity: &Identity) -> QueryResult<Vec<String>> {
    check_result::table
        .filter(check_result::inputs_hash.eq(&identity.inputs_hash))
        .filter(check_result::checker.eq(&identity.checker))
        .filter(check_result::checker_version.eq(&identity.checker_version))
        .filter(check_result::policy_hash.eq(&identity.policy_hash))
        .select(check_result::status)
        .load(conn)
}

/// Forgets the results of one identity: all of them, or only its `error`s.
pub fn delete_results(conn: &mut DbConnection, identity: &Identity, only_errors: bool) -> QueryResult<usize> {
    let target = check_result::table
        .filter(check_result::inputs_hash.eq(&identity.inputs_hash))
        .filter(check_result::checker.eq(&identity.checker))
        .filter(check_result::checker_version.eq(&identity.checker_version))
        .filter(check_result::policy_hash.eq(&identity.policy_hash));
    if only_errors {
        diesel::delete(target.filter(check_result::status.eq("error"))).execute(conn)
    } else {
        diesel::delete(target).execute(conn)
    }
}

pub fn insert_results(conn: &mut DbConnection, results: &[NewCheckResult]) -> QueryResult<()> {
    // One row at a time: multi-row inserts do not compile on the multi-backend connection.
    for result in results {
        diesel::insert_into(check_result::table).values(result).execute(conn)?;
    }
    Ok(())
}

/// Plans up to this size are looked up one hash at a time: that statement is prepared once per
/// connection, while one with `IN (…)` is prepared again for every call (diesel does not cache
/// statements whose shape depends on a list's length).
const ONE_BY_ONE: usize = 16;

/// Stored results whose inputs hash is one of `hashes`, in the order they were reported.
pub fn results_for(conn: &mut DbConnection, hashes: &[String]) -> QueryResult<Vec<CheckResultRow>> {
    let ordered = |rows: &mut Vec<CheckResultRow>| {
        rows.sort_by(|a, b| (&a.inputs_hash, &a.checker, a.ordinal).cmp(&(&b.inputs_hash, &b.checker, b.ordinal)));
    };
    if hashes.len() <= ONE_BY_ONE {
        let mut rows = Vec::new();
        for hash in hashes {
            rows.extend(
                check_result::table
                    .filter(check_result::inputs_hash.eq(hash))
                    .select(CheckResultRow::as_select())
                    .load(conn)?,
            );
        }
        ordered(&mut rows);
        rows.dedup_by_key(|r| r.id);
        return Ok(rows);
    }
    check_result::table
        .filter(check_result::inputs_hash.eq_any(hashes))
        .order((check_result::inputs_hash, check_result::checker, check_result::ordinal))
        .select(CheckResultRow::as_select())
        .load(conn)
}

/// The identities among those with inputs hash in `hashes` that have a live task.
pub fn live_identities(conn: &mut DbConnection, hashes: &[String]) -> QueryResult<Vec<Identity>> {
    let rows: Vec<(String, Option<String>, String, String)> = task::table
        .filter(task::inputs_hash.eq_any(hashes))
        .filter(task::status.eq_any(LIVE))
        .select((task::kind, task::checker_version, task::inputs_hash, task::policy_hash))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(checker, version, inputs_hash, policy_hash)| Identity {
            checker,
            checker_version: version.unwrap_or_default(),
            inputs_hash,
            policy_hash,
        })
        .collect())
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
    let now = db_now(conn)?;
    let inputs: Vec<String> = task::table
        .filter(task::runner_id.eq(runner_id))
        .filter(task::status.eq("leased"))
        .filter(task::lease_expires_at.gt(now))
        .filter(task::inputs.like(format!("%{sha256}%")))
        .select(task::inputs)
        .load(conn)?;
    Ok(inputs.iter().any(|json| {
        serde_json::from_str::<Vec<shared_models::runner::TaskInput>>(json)
            .is_ok_and(|list| list.iter().any(|i| i.sha256 == sha256))
    }))
}

/// The task `id`, if `runner_id` holds its unexpired lease `lease_token`.
pub fn held(conn: &mut DbConnection, id: i64, runner_id: i64, lease_token: &str) -> QueryResult<Option<TaskRow>> {
    let now = db_now(conn)?;
    task::table
        .find(id)
        .filter(task::runner_id.eq(runner_id))
        .filter(task::status.eq("leased"))
        .filter(task::lease_token.eq(lease_token))
        .filter(task::lease_expires_at.gt(now))
        .select(TaskRow::as_select())
        .first(conn)
        .optional()
}

/// Records that the runner of task `id` uploaded the blob `sha256` for it under `lease_token`.
pub fn record_produced(conn: &mut DbConnection, id: i64, lease_token: &str, sha256: &str) -> QueryResult<()> {
    let row = (
        task_blob::task_id.eq(id),
        task_blob::lease_token.eq(lease_token),
        task_blob::sha256.eq(sha256),
        task_blob::created_at.eq(now_ms()),
    );
    super::insert_or_ignore!(conn, task_blob::table, row)?;
    Ok(())
}

/// Whether the runner of task `id` uploaded the blob `sha256` for it.
pub fn produced(conn: &mut DbConnection, id: i64, sha256: &str) -> QueryResult<bool> {
    let found: i64 = task_blob::table
        .filter(task_blob::task_id.eq(id))
        .filter(task_blob::sha256.eq(sha256))
        .count()
        .get_result(conn)?;
    Ok(found > 0)
}

/// The queued and leased tasks of `kind` about a release.
pub fn live_of_release(conn: &mut DbConnection, release_id: i64, kind: &str) -> QueryResult<Vec<TaskRow>> {
    task::table
        .filter(task::release_id.eq(release_id))
        .filter(task::kind.eq(kind))
        .filter(task::status.eq_any(["queued", "leased"]))
        .select(TaskRow::as_select())
        .load(conn)
}

/// How many blobs the runner of task `id` uploaded for it under `lease_token` (this attempt).
pub fn produced_count(conn: &mut DbConnection, id: i64, lease_token: &str) -> QueryResult<i64> {
    task_blob::table
        .filter(task_blob::task_id.eq(id))
        .filter(task_blob::lease_token.eq(lease_token))
        .count()
        .get_result(conn)
}
