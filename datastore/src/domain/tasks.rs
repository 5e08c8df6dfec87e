//! The datastore's side of the runner protocol: claims, leases and their fencing, logs,
//! results, and the reaper that returns the tasks of lost runners to the queue.
//!
//! Every transition is one guarded statement (`db::queries::tasks`), and every transition that
//! stores something does so in the same transaction, after the guard matched: a result is
//! stored only by the attempt that still holds an unexpired lease, once.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde_json::json;
use shared_models::checks::{CheckResult, CheckStatus};
use shared_models::runner::{
    ResultRequest, ResultResponse, Task, TaskInput, TaskKind, TaskList, TaskOrder, TaskOutcome, TaskRelease, TaskStatus,
};

use crate::auth::authz::{self, DraftsVisible};
use crate::auth::{Principal, secrets};
use crate::db::models::{BlobRow, NewCheckResult, NewTask, RunnerRow, TaskRow};
use crate::db::queries::events::{self, NewEvent};
use crate::db::queries::tasks::{self as q, Identity};
use crate::db::queries::{auth as users, keys, releases};
use crate::db::{DbConnection, now_ms, to_time, write_transaction};
use crate::domain::page::Page;
use crate::domain::releases::ReleaseRef;
use crate::error::{AppError, AppResult};

/// Longest accepted log per task, in entries; past it, log lines are dropped (and said so).
pub const MAX_LOG_ENTRIES: i64 = 2_000;
/// Largest accepted log entry, in bytes.
pub const MAX_LOG_TEXT: usize = 16 << 10;
/// Most results one task may report.
pub const MAX_RESULTS: usize = 100_000;
/// Most tasks one claim hands out.
pub const MAX_CLAIM: u32 = 64;

/// Tasks that people wait for (mail, webhook deliveries, vote-thread fetches) are claimed
/// before checks.
const ORDER_PRIORITY: i32 = 10;

/// A task that is not a check (a mail, a webhook delivery, a vote-thread fetch) about a release:
/// no inputs, its order in `args`. `key` names it (its inputs hash is the key's SHA-256).
pub fn order_task(
    kind: TaskKind,
    release_id: i64,
    revision: Option<i64>,
    key: &str,
    args: String,
    max_attempts: i32,
) -> NewTask {
    let now = now_ms();
    NewTask {
        kind: kind.as_str().to_owned(),
        release_id: Some(release_id),
        revision_seq: revision,
        // Not NULL: the unique index of live tasks (`task_live_identity`), which makes a second
        // task of the same key while one waits a no-op, treats NULLs as all different.
        checker_version: Some(String::new()),
        path: String::new(),
        args,
        inputs: "[]".to_owned(),
        inputs_hash: hex::encode(openssl::sha::sha256(key.as_bytes())),
        policy_hash: String::new(),
        status: TaskStatus::Queued.as_str().to_owned(),
        priority: ORDER_PRIORITY,
        max_attempts,
        not_before: now,
        created_at: now,
    }
}

/// Lease timing, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct LeaseTerms {
    pub lease_ms: i64,
    pub deadline_ms: i64,
}

impl LeaseTerms {
    pub fn renew_every_s(&self) -> u64 {
        u64::try_from(self.lease_ms / 3000).unwrap_or(1).max(1)
    }
}

/// The kinds a runner asks for that this datastore knows. Unknown kinds are skipped (a newer
/// runner may do more); asking for none that is known is refused.
pub fn known_kinds(kinds: &[String]) -> AppResult<Vec<TaskKind>> {
    let mut known: Vec<TaskKind> = kinds.iter().filter_map(|k| TaskKind::parse(k).ok()).collect();
    known.sort_unstable();
    known.dedup();
    if known.is_empty() || kinds.len() > 64 {
        let names: Vec<&str> = TaskKind::ALL.iter().map(|k| k.as_str()).collect();
        return Err(AppError::unprocessable(
            "invalid_kinds",
            format!("kinds must name 1 to 64 task kinds, of which this datastore knows: {}.", names.join(", ")),
        ));
    }
    Ok(known)
}

/// Why a claim's transaction was rolled back.
enum ClaimError {
    Gone,
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for ClaimError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e)
    }
}

/// Claims up to `capacity` queued tasks for `runner`, in one transaction. `gone` says whether
/// the runner's HTTP client went away meanwhile: then the transaction is rolled back, and
/// nothing is leased to a client that will never see the orders.
pub fn claim(
    conn: &mut DbConnection,
    runner: &RunnerRow,
    kinds: &[String],
    capacity: u32,
    terms: LeaseTerms,
    gone: &dyn Fn() -> bool,
) -> AppResult<Vec<TaskOrder>> {
    let kinds = known_kinds(kinds)?;
    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    let claimed = write_transaction(conn, |c| -> Result<Vec<TaskRow>, ClaimError> {
        let mut rows = Vec::new();
        for _ in 0..capacity.min(MAX_CLAIM) {
            let token = secrets::generate("trl_");
            match q::claim_one(c, runner.id, &kinds, &token, terms.lease_ms)? {
                Some(row) => rows.push(row),
                None => break,
            }
        }
        if !rows.is_empty() && gone() {
            return Err(ClaimError::Gone); // rolls the leases back
        }
        Ok(rows)
    });
    let rows = match claimed {
        Ok(rows) => rows,
        Err(ClaimError::Gone) => {
            tracing::info!(runner = %runner.name, "the runner went away during its claim: nothing leased");
            return Ok(Vec::new());
        }
        Err(ClaimError::Db(e)) => return Err(e.into()),
    };
    let mut orders = Vec::with_capacity(rows.len());
    // The tasks of one claim are mostly of one release: look each release up once.
    let mut releases: HashMap<i64, TaskRelease> = HashMap::new();
    for row in rows {
        tracing::info!(task.id = row.id, kind = %row.kind, runner = %runner.name, attempt = row.attempt, "task leased");
        let release = match row.release_id {
            Some(id) => match releases.entry(id) {
                Entry::Occupied(known) => known.get().clone(),
                Entry::Vacant(slot) => slot.insert(task_release(conn, id)?).clone(),
            },
            None => TaskRelease { project: String::new(), product: String::new(), version: String::new(), revision: 0 },
        };
        orders.push(order(&row, release, terms)?);
    }
    Ok(orders)
}

/// Gives back what a claim leased when its orders could not be handed over.
pub fn unclaim(conn: &mut DbConnection, orders: &[TaskOrder]) -> AppResult<()> {
    write_transaction(conn, |c| {
        for order in orders {
            q::unclaim(c, order.id, &order.lease_token)?;
        }
        Ok::<_, AppError>(())
    })?;
    tracing::info!(tasks = orders.len(), "the runner went away before it got its orders: returned to the queue");
    Ok(())
}

/// The release a task is about, with its latest revision (each task names its own revision).
fn task_release(conn: &mut DbConnection, release_id: i64) -> AppResult<TaskRelease> {
    let ctx = releases::context_by_id(conn, release_id)?;
    Ok(TaskRelease {
        project: ctx.project.name,
        product: ctx.product.name,
        version: ctx.release.version,
        revision: ctx.release.revision,
    })
}

fn order(row: &TaskRow, mut release: TaskRelease, terms: LeaseTerms) -> AppResult<TaskOrder> {
    if let Some(seq) = row.revision_seq {
        release.revision = seq;
    }
    let inputs: Vec<TaskInput> = serde_json::from_str(&row.inputs).map_err(AppError::internal)?;
    let args: serde_json::Value = serde_json::from_str(&row.args).map_err(AppError::internal)?;
    let policy = args.get("policy").cloned().unwrap_or_else(|| json!({}));
    let expires = row.lease_expires_at.ok_or_else(|| AppError::internal("a claimed task has no lease expiry"))?;
    Ok(TaskOrder {
        id: row.id,
        kind: row.kind()?,
        attempt: row.attempt,
        lease_token: row.lease_token.clone().unwrap_or_default(),
        lease_expires_at: to_time(expires),
        renew_every_s: terms.renew_every_s(),
        deadline: to_time(expires - terms.lease_ms + terms.deadline_ms),
        release,
        inputs,
        args,
        policy,
    })
}

fn lease_lost(id: i64) -> AppError {
    AppError::conflict(
        "lease_lost",
        format!(
            "The lease on task {id} is not yours any more (expired, or the task was given to another runner): stop it."
        ),
    )
}

/// Renews the lease `token` of `runner` holds; `Ok((expiry, cancel))`, where `cancel` says that
/// an admin cancelled the task (its lease is not extended then).
pub fn renew(
    conn: &mut DbConnection,
    runner: &RunnerRow,
    id: i64,
    token: &str,
    progress: Option<&str>,
    terms: LeaseTerms,
) -> AppResult<(i64, bool)> {
    let progress = progress.map(|p| p.chars().take(200).collect::<String>());
    write_transaction(conn, |c| {
        if let Some(expires) = q::renew(c, id, runner.id, token, terms.lease_ms, progress.as_deref())? {
            return Ok((expires, false));
        }
        if q::cancelled_for(c, id, runner.id, token)? {
            return Ok((q::db_now(c)?, true));
        }
        Err(lease_lost(id))
    })
}

/// Appends a log entry; entries are numbered, a repeat is ignored, a gap refused.
pub fn append_log(
    conn: &mut DbConnection,
    runner: &RunnerRow,
    id: i64,
    token: &str,
    seq: i32,
    text: &str,
) -> AppResult<()> {
    if seq < 0 {
        return Err(AppError::unprocessable("invalid_request", format!("Log entries are numbered from 0, not {seq}.")));
    }
    write_transaction(conn, |c| {
        let task = q::find(c, id)?.ok_or_else(|| AppError::not_found(format!("There is no task {id}.")))?;
        if task.lease_token.as_deref() != Some(token) || task.runner_id != Some(runner.id) {
            return Err(lease_lost(id));
        }
        let expected = q::next_log_seq(c, id)?;
        if seq < expected {
            return Ok(()); // already stored: a retried call
        }
        if seq > expected {
            return Err(AppError::conflict("log_gap", format!("Task {id} expects log entry {expected}, not {seq}."))
                .with_details(json!({"expected_seq": expected})));
        }
        if q::log_size(c, id)? >= MAX_LOG_ENTRIES {
            return Ok(());
        }
        let mut text = text.to_owned();
        if text.len() > MAX_LOG_TEXT {
            let mut cut = MAX_LOG_TEXT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str(" […]");
        }
        q::append_log(c, id, seq, &text)?;
        Ok(())
    })
}

fn stored(task: &TaskRow, ordinal: usize, result: &CheckResult) -> AppResult<NewCheckResult> {
    Ok(NewCheckResult {
        task_id: Some(task.id),
        checker: task.kind.clone(),
        checker_version: task.checker_version.clone().unwrap_or_default(),
        inputs_hash: task.inputs_hash.clone(),
        policy_hash: task.policy_hash.clone(),
        ordinal: i32::try_from(ordinal).map_err(AppError::internal)?,
        path: result.path.chars().take(1024).collect(),
        member: result.member.as_ref().map(|m| m.chars().take(1024).collect()),
        status: result.status.as_str().to_owned(),
        message: result.message.chars().take(8192).collect(),
        data: result.data.as_ref().map(ToString::to_string),
        created_at: now_ms(),
    })
}

/// Stores the results of a finished check under its identity. An identity that has verdicts
/// already (the same check done by another task) keeps them: a verdict is never stored twice.
/// Earlier `error` results of the identity give way to the new ones.
fn store_results(conn: &mut DbConnection, task: &TaskRow, results: &[CheckResult]) -> AppResult<usize> {
    let identity = Identity::of_task(task);
    let statuses = q::result_statuses(conn, &identity)?;
    let has_verdict = statuses.iter().any(|s| CheckStatus::parse(s).is_ok_and(CheckStatus::is_verdict));
    if has_verdict {
        tracing::info!(task.id = task.id, "the check's verdicts were stored by another task: kept those");
        return Ok(0);
    }
    q::delete_results(conn, &identity, true)?;
    let rows = results.iter().enumerate().map(|(i, r)| stored(task, i, r)).collect::<AppResult<Vec<_>>>()?;
    q::insert_results(conn, &rows)?;
    Ok(rows.len())
}

/// The visible trace of a task that could not be done: an `error` result under its identity.
fn error_result(conn: &mut DbConnection, task: &TaskRow, message: &str) -> AppResult<()> {
    let kind = task.kind()?;
    if !kind.is_check() {
        return Ok(());
    }
    let result = CheckResult {
        checker: kind,
        checker_version: task.checker_version.clone().unwrap_or_default(),
        path: task.path.clone(),
        member: None,
        status: CheckStatus::Error,
        message: message.to_owned(),
        data: Some(json!({"task": task.id, "attempts": task.attempt})),
    };
    store_results(conn, task, std::slice::from_ref(&result)).map(drop)
}

/// Refuses results that the task could not have produced (422), before anything changes.
fn validate(task: &TaskRow, request: &ResultRequest) -> AppResult<()> {
    let id = task.id;
    if request.results.len() > MAX_RESULTS {
        return Err(AppError::unprocessable("too_many_results", format!("At most {MAX_RESULTS} results per task.")));
    }
    let kind = task.kind()?;
    if request.status == TaskOutcome::Completed && request.results.is_empty() && kind.is_check() {
        return Err(AppError::unprocessable(
            "no_results",
            format!(
                "Task {id} ({kind}) is reported completed without a result: a check that ran has at least one. \
                 Report `failed` with an error if it could not run."
            ),
        ));
    }
    if let Some(bad) = request.results.iter().find(|r| r.checker != kind || r.status == CheckStatus::Waived) {
        return Err(AppError::unprocessable(
            "invalid_result",
            format!(
                "A result of task {id} ({kind}) must come from that checker and cannot be waived; got {} {}.",
                bad.checker, bad.status
            ),
        ));
    }
    Ok(())
}

/// Takes a task's result. Only the attempt holding an unexpired lease (the runner's own token)
/// is accepted: the guarded transition comes first, and the results are checked and stored only
/// if it matched, in the same transaction (invalid results roll the transition back). The same
/// report sent again is acknowledged (`accepted: false`), and a stale one refused with 409.
pub fn submit(
    conn: &mut DbConnection,
    runner: &RunnerRow,
    id: i64,
    request: &ResultRequest,
) -> AppResult<ResultResponse> {
    let token = request.lease_token.as_str();
    write_transaction(conn, |c| {
        let task = q::find(c, id)?.ok_or_else(|| AppError::not_found(format!("There is no task {id}.")))?;
        if task.lease_token.as_deref() != Some(token) {
            return Err(lease_lost(id));
        }
        // A check's end may complete its release's checks (`checks::note_if_complete`), which
        // locks the release's row. Take that lock first, before the task's: a new revision
        // locks the release and then queues tasks, so the other order could deadlock with it.
        if let Some(release_id) = task.release_id.filter(|_| task.kind().is_ok_and(TaskKind::is_check)) {
            releases::lock_release(c, release_id)?;
        }
        let held = match request.status {
            TaskOutcome::Completed => match q::finish(c, id, runner.id, token, TaskStatus::Completed, None)? {
                Some(task) => {
                    validate(&task, request)?;
                    match task.kind()? {
                        TaskKind::VoteThread => tally_fetched_thread(c, &task, &request.results)?,
                        TaskKind::Distribution => super::parity::apply(c, &task, &runner.name, &request.results)?,
                        TaskKind::SvnPublish | TaskKind::SvnArchive | TaskKind::SvnImport => {
                            super::svn::apply(c, &task, &runner.name, &request.results)?;
                        }
                        TaskKind::SbomGenerate => {
                            super::sbom_generate::apply(c, &task, &runner.name, &request.results)?
                        }
                        _ => {}
                    }
                    let stored = if task.kind()?.is_check() { store_results(c, &task, &request.results)? } else { 0 };
                    record_signers(c, &task, &request.results)?;
                    tracing::info!(task.id = id, kind = %task.kind, results = stored, "task completed");
                    check_ended(c, &task)?;
                    Some(task)
                }
                None => None,
            },
            TaskOutcome::Failed => {
                let error = request
                    .error
                    .as_deref()
                    .map(|e| e.chars().take(2000).collect::<String>())
                    .unwrap_or_else(|| "the runner reported a failure without a reason".to_owned());
                let actor = format!("runner:{}", runner.name);
                if let Some(task) = q::retry_attempt(c, id, runner.id, token, &error)? {
                    validate(&task, request)?;
                    tracing::warn!(task.id = id, kind = %task.kind, attempt = task.attempt, error = %error, "task failed; queued again");
                    attempt_event(c, &actor, "task.attempt_failed", &task, Some(&error))?;
                    Some(task)
                } else if let Some(task) = q::finish(c, id, runner.id, token, TaskStatus::Failed, Some(&error))? {
                    validate(&task, request)?;
                    let message = format!("The check could not run after {} attempts: {error}", task.attempt);
                    error_result(c, &task, &message)?;
                    tracing::error!(task.id = id, kind = %task.kind, error = %error, "task failed for good");
                    attempt_event(c, &actor, "task.failed", &task, Some(&error))?;
                    check_ended(c, &task)?;
                    Some(task)
                } else {
                    None
                }
            }
        };
        if let Some(task) = held {
            return Ok(ResultResponse { accepted: true, status: task.status()? });
        }
        // Not held: this attempt's report arrived already (a retried call), or it is stale.
        match q::attempt_of(c, id, token)? {
            Some(task) if task.runner_id.is_none_or(|r| r == runner.id) => match task.status()? {
                TaskStatus::Leased => Err(lease_lost(id)), // the lease ran out before the report
                status => Ok(ResultResponse { accepted: false, status }),
            },
            _ => Err(lease_lost(id)),
        }
    })
}

/// The thread a `vote_thread` task fetched (`data.mbox` of its one result), tallied into the
/// vote it was asked for. A thread that cannot be read fails the report (422), so the runner's
/// attempt is not taken as done.
fn tally_fetched_thread(conn: &mut DbConnection, task: &TaskRow, results: &[CheckResult]) -> AppResult<()> {
    let order: shared_models::runner::VoteThreadOrder = serde_json::from_str(&task.args).map_err(AppError::internal)?;
    let mbox =
        results.first().and_then(|r| r.data.as_ref()).and_then(|d| d.get("mbox")).and_then(|m| m.as_str()).ok_or_else(
            || AppError::unprocessable("invalid_result", "A vote_thread result carries the thread as data.mbox."),
        )?;
    let release_id = task.release_id.ok_or_else(|| AppError::internal("a vote_thread task without its release"))?;
    super::votes::tally_fetched(conn, release_id, &order, mbox.as_bytes())
}

/// A check ended for good: the release's checks may be complete now (the caller holds the
/// release's row lock).
fn check_ended(conn: &mut DbConnection, task: &TaskRow) -> AppResult<()> {
    match task.release_id {
        Some(release_id) if task.kind()?.is_check() => super::checks::note_if_complete(conn, release_id),
        _ => Ok(()),
    }
}

/// Remembers which keys signed the release (so they cannot be deleted).
fn record_signers(conn: &mut DbConnection, task: &TaskRow, results: &[CheckResult]) -> AppResult<()> {
    let Some(release_id) = task.release_id else { return Ok(()) };
    for result in results.iter().filter(|r| r.checker == TaskKind::Signature && r.status == CheckStatus::Success) {
        let Some(signer) = result.data.as_ref().and_then(|d| d.get("signer")).and_then(|s| s.as_str()) else {
            continue;
        };
        if keys::find(conn, signer)?.is_some() {
            q::record_key_use(conn, signer, release_id, &result.path)?;
        }
    }
    Ok(())
}

/// What one pass of the reaper did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReapCounts {
    pub requeued: usize,
    pub failed: usize,
}

/// Returns tasks whose runner stopped renewing to the queue, with backoff; after
/// `max_attempts` the task fails visibly with reason `runner_lost`. One transaction; each
/// reaped task is an event (`task.requeued`, `task.lost`) by the actor `reaper`.
pub fn reap(conn: &mut DbConnection) -> AppResult<ReapCounts> {
    let (counts, ended) = write_transaction(conn, |c| {
        let reaped = q::reap(c)?;
        for task in &reaped.requeued {
            tracing::warn!(task.id = task.id, kind = %task.kind, attempt = task.attempt, "lease expired; task queued again");
            reaper_event(c, "task.requeued", task)?;
        }
        for task in &reaped.failed {
            let message = format!("runner_lost: no runner finished this check in {} attempts", task.attempt);
            error_result(c, task, &message)?;
            tracing::error!(task.id = task.id, kind = %task.kind, "task failed: runner_lost");
            reaper_event(c, "task.lost", task)?;
        }
        let counts = ReapCounts { requeued: reaped.requeued.len(), failed: reaped.failed.len() };
        Ok::<_, AppError>((counts, reaped.failed))
    })?;
    // After the reaper's transaction, each in its own: the release lock is taken before any
    // task's there (see `submit`).
    for task in &ended {
        write_transaction(conn, |c| {
            if let Some(release_id) = task.release_id {
                releases::lock_release(c, release_id)?;
            }
            check_ended(c, task)
        })?;
    }
    Ok(counts)
}

fn reaper_event(conn: &mut DbConnection, action: &str, task: &TaskRow) -> AppResult<()> {
    attempt_event(conn, "reaper", action, task, None)
}

/// An attempt that did not complete: lost (`task.requeued`, `task.lost`, by the reaper) or
/// failed (`task.attempt_failed`, `task.failed`, by the runner that reported it). With the
/// completed tasks, these events account for every attempt ever made.
fn attempt_event(
    conn: &mut DbConnection,
    actor: &str,
    action: &str,
    task: &TaskRow,
    error: Option<&str>,
) -> AppResult<()> {
    events::record(
        conn,
        NewEvent {
            actor,
            action,
            target: &format!("task/{}", task.id),
            release_id: task.release_id,
            details: json!({
                "kind": task.kind, "attempt": task.attempt, "max_attempts": task.max_attempts, "error": error,
            }),
        },
    )?;
    Ok(())
}

/// The runner holding this token (its SHA-256), unless disabled.
pub fn runner_by_token(conn: &mut DbConnection, token_hash: &str) -> AppResult<Option<RunnerRow>> {
    Ok(users::runner_by_token(conn, token_hash)?)
}

/// Records a runner's contact: when, and which version and task kinds it runs.
pub fn touch_runner(
    conn: &mut DbConnection,
    runner: &RunnerRow,
    version: &str,
    kinds: &[String],
    capacity: u32,
) -> AppResult<()> {
    let version: String = version.chars().take(64).collect();
    let kinds: Vec<&String> = kinds.iter().take(64).collect();
    Ok(users::touch_runner(conn, runner.id, &version, &kinds, capacity)?)
}

/// The task `id` a runner may upload a file for: its live lease is `token`, and its kind makes
/// files (409 `lease_lost` or 403 otherwise).
pub fn held_for_upload(conn: &mut DbConnection, runner_id: i64, id: i64, token: &str) -> AppResult<i64> {
    let task = q::held(conn, id, runner_id, token)?.ok_or_else(|| lease_lost(id))?;
    if !matches!(task.kind()?, TaskKind::SvnImport | TaskKind::SbomGenerate) {
        return Err(AppError::forbidden(format!(
            "Task {id} ({}) makes no files: nothing is uploaded for it.",
            task.kind
        )));
    }
    room_for_upload(conn, &task)?;
    Ok(task.id)
}

/// A task uploads at most as many files as its order takes (`max_files`; 409 `too_many_files`).
fn room_for_upload(conn: &mut DbConnection, task: &TaskRow) -> AppResult<()> {
    let order: serde_json::Value = serde_json::from_str(&task.args).map_err(AppError::internal)?;
    let max_files = order.get("max_files").and_then(serde_json::Value::as_u64).unwrap_or(0);
    let token = task.lease_token.as_deref().unwrap_or_default();
    if u64::try_from(q::produced_count(conn, task.id, token)?).unwrap_or(u64::MAX) >= max_files {
        return Err(AppError::conflict(
            "too_many_files",
            format!("Task {} uploaded {max_files} files already, the most its order takes.", task.id),
        ));
    }
    Ok(())
}

/// Records an uploaded blob as the task's, if the runner still holds its lease (409 if not:
/// the bytes stay in the store, unreferenced, as an abandoned upload's do).
pub fn record_upload(
    conn: &mut DbConnection,
    runner_id: i64,
    id: i64,
    token: &str,
    blob: &crate::blob::BlobMeta,
) -> AppResult<()> {
    write_transaction(conn, |c| {
        let task = q::held(c, id, runner_id, token)?.ok_or_else(|| lease_lost(id))?;
        room_for_upload(c, &task)?;
        let row = BlobRow {
            sha256: blob.sha256.clone(),
            sha512: blob.sha512.clone(),
            size: i64::try_from(blob.size).map_err(AppError::internal)?,
            created_at: now_ms(),
        };
        releases::insert_blob(c, &row)?;
        q::record_produced(c, id, token, &blob.sha256)?;
        Ok(())
    })
}

/// A blob, for the runner that holds a live lease on a task reading it (403 for any other).
pub fn blob_for_runner(conn: &mut DbConnection, runner: &RunnerRow, sha256: &str) -> AppResult<BlobRow> {
    if !q::runner_may_read(conn, runner.id, sha256)? {
        return Err(AppError::forbidden(format!(
            "No task leased to this runner reads the blob {sha256}: runners fetch only what their tasks need."
        )));
    }
    releases::find_blob(conn, sha256)?.ok_or_else(|| AppError::not_found(format!("There is no blob {sha256}.")))
}

/// Tasks as the API shows them.
pub fn view(conn: &mut DbConnection, rows: Vec<TaskRow>) -> AppResult<Vec<Task>> {
    let runner_ids: Vec<i64> = rows.iter().filter_map(|r| r.runner_id).collect();
    let runners = q::runner_names(conn, &runner_ids)?;
    let mut release_keys: HashMap<i64, String> = HashMap::new();
    let mut tasks = Vec::with_capacity(rows.len());
    for row in rows {
        let release = row.release_id.map(|id| releases::key_by_id(conn, &mut release_keys, id)).transpose()?;
        let kind = row.kind()?;
        tasks.push(Task {
            id: row.id,
            kind,
            status: row.status()?,
            attempt: row.attempt,
            max_attempts: row.max_attempts,
            release,
            revision: row.revision_seq,
            runner: row.runner_id.and_then(|id| runners.iter().find(|(r, _)| *r == id).map(|(_, n)| n.clone())),
            lease_expires_at: row.lease_expires_at.map(to_time),
            not_before: to_time(row.not_before),
            created_at: to_time(row.created_at),
            started_at: row.started_at.map(to_time),
            finished_at: row.finished_at.map(to_time),
            // A delivery's progress and errors name where it goes (a webhook URL, the SMTP
            // relay) and what the receiver answered: the project's PMC reads them in the delivery
            // history, not everyone who may read the release.
            progress: if kind.is_check() { row.progress } else { None },
            error: if kind.is_check() { row.error } else { None },
            path: row.path,
        });
    }
    Ok(tasks)
}

/// `GET /api/v1/tasks`: a page of the tasks `viewer` may see, newest first.
pub fn list(
    conn: &mut DbConnection,
    viewer: Option<&Principal>,
    release: Option<&ReleaseRef>,
    statuses: &[TaskStatus],
    page: Page,
) -> AppResult<TaskList> {
    let release_id = match release {
        Some(release) => {
            let ctx = super::releases::load_readable(conn, viewer, release)?;
            Some(ctx.release.id)
        }
        None => None,
    };
    let drafts_of = match authz::drafts_visible(viewer) {
        DraftsVisible::All => None,
        DraftsVisible::OfCommittees(names) => Some(names),
    };
    let (limit, offset) = page.sql();
    let (rows, total) = q::list(conn, release_id, statuses, drafts_of.as_deref(), limit, offset)?;
    Ok(TaskList { tasks: view(conn, rows)?, page: page.info(total, "") })
}

/// `GET /api/v1/tasks/{id}`: one task, if `viewer` may read its release.
pub fn show(conn: &mut DbConnection, viewer: Option<&Principal>, id: i64) -> AppResult<Task> {
    let missing = || AppError::not_found(format!("There is no task {id}."));
    let row = q::find(conn, id)?.ok_or_else(missing)?;
    if let Some(release_id) = row.release_id {
        let ctx = releases::context_by_id(conn, release_id)?;
        if !authz::may_read_release(viewer, &ctx.committee.name, &ctx.project.name, ctx.release.phase()?) {
            return Err(missing());
        }
    } else if !viewer.is_some_and(|p| p.is_admin) {
        return Err(missing());
    }
    view(conn, vec![row])?.pop().ok_or_else(missing)
}

/// Admin: cancel a queued or running task (a running one stops at its next lease renewal).
pub fn cancel(conn: &mut DbConnection, actor: &str, id: i64) -> AppResult<()> {
    write_transaction(conn, |c| {
        let Some(task) = q::cancel(c, id)? else {
            let task = q::find(c, id)?.ok_or_else(|| AppError::not_found(format!("There is no task {id}.")))?;
            return Err(AppError::conflict("task_finished", format!("Task {id} is {} already.", task.status)));
        };
        admin_event(c, actor, "task.cancelled", &task)
    })
}

/// Admin: run a finished task again (failed, cancelled, or completed), forgetting its results.
pub fn retry(conn: &mut DbConnection, actor: &str, id: i64) -> AppResult<()> {
    write_transaction(conn, |c| {
        let task = q::find(c, id)?.ok_or_else(|| AppError::not_found(format!("There is no task {id}.")))?;
        if matches!(task.status()?, TaskStatus::Queued | TaskStatus::Leased) {
            return Err(AppError::conflict(
                "task_not_finished",
                format!("Task {id} is {}; only finished tasks are run again.", task.status),
            ));
        }
        if let Some(twin) = q::live_twin(c, &task)? {
            return Err(AppError::conflict(
                "task_queued",
                format!("The same check is queued already, as task {twin}."),
            ));
        }
        q::delete_results(c, &Identity::of_task(&task), false)?;
        q::requeue_finished(c, id)?;
        admin_event(c, actor, "task.retried", &task)
    })
}

fn admin_event(conn: &mut DbConnection, actor: &str, action: &str, task: &TaskRow) -> AppResult<()> {
    events::record(
        conn,
        NewEvent {
            actor,
            action,
            target: &format!("task/{}", task.id),
            release_id: task.release_id,
            details: json!({"kind": task.kind, "path": task.path}),
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_task_kinds() {
        assert_eq!(known_kinds(&["paths".into(), "paths".into()]).unwrap(), [TaskKind::Paths]);
        assert_eq!(
            known_kinds(&["rat".into(), "a_kind_from_the_future".into()]).unwrap(),
            [TaskKind::Rat],
            "kinds this datastore does not know are skipped"
        );
        assert!(known_kinds(&["paths'); DROP TABLE task; --".into()]).is_err());
        assert!(known_kinds(&[]).is_err());
    }
}
