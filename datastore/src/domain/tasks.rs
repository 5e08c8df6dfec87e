//! The datastore's side of the runner protocol: claims, leases and their fencing, logs,
//! results, and the reaper that returns the tasks of lost runners to the queue.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde_json::json;
use shared_models::checks::{CheckResult, CheckStatus};
use shared_models::runner::{ResultRequest, ResultResponse, Task, TaskInput, TaskOrder, TaskOutcome, TaskRelease};

use crate::auth::secrets;
use crate::db::models::{NewCheckResult, RunnerRow, TaskRow};
use crate::db::queries::{keys, releases, tasks as q};
use crate::db::{DbConnection, now_ms, to_time, write_transaction};
use crate::error::{AppError, AppResult};

/// Longest accepted log per task, in entries; past it, log lines are dropped (and said so).
pub const MAX_LOG_ENTRIES: i64 = 2_000;
/// Largest accepted log entry, in bytes.
pub const MAX_LOG_TEXT: usize = 16 << 10;
/// Most results one task may report.
pub const MAX_RESULTS: usize = 100_000;

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

/// The kinds a runner may ask for: plain identifiers (they are written into the claim SQL).
fn valid_kinds(kinds: &[String]) -> AppResult<Vec<String>> {
    let kinds: Vec<String> = kinds.iter().filter(|k| !k.is_empty()).cloned().collect();
    if kinds.is_empty()
        || kinds.iter().any(|k| !k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        || kinds.len() > 64
    {
        return Err(AppError::unprocessable("invalid_kinds", "kinds must be 1 to 64 names of [a-z_]+."));
    }
    Ok(kinds)
}

/// Claims up to `capacity` queued tasks for `runner`, each in its own atomic statement.
pub fn claim(
    conn: &mut DbConnection,
    runner: &RunnerRow,
    kinds: &[String],
    capacity: u32,
    terms: LeaseTerms,
) -> AppResult<Vec<TaskOrder>> {
    let kinds = valid_kinds(kinds)?;
    let mut orders = Vec::new();
    // The tasks of one claim are mostly of one release: look each release up once.
    let mut releases: HashMap<i64, TaskRelease> = HashMap::new();
    for _ in 0..capacity.min(64) {
        let token = secrets::generate("trl_");
        let expires = now_ms() + terms.lease_ms;
        let Some(row) = write_transaction(conn, |c| q::claim_one(c, runner.id, &kinds, &token, expires))? else {
            break;
        };
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
    Ok(TaskOrder {
        id: row.id,
        kind: row.kind.clone(),
        attempt: row.attempt,
        lease_token: row.lease_token.clone().unwrap_or_default(),
        lease_expires_at: to_time(row.lease_expires_at.unwrap_or_default()),
        renew_every_s: terms.renew_every_s(),
        deadline: to_time(now_ms() + terms.deadline_ms),
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

/// Renews a lease; `Ok(cancel)` says whether the task was cancelled meanwhile.
pub fn renew(
    conn: &mut DbConnection,
    id: i64,
    token: &str,
    progress: Option<&str>,
    terms: LeaseTerms,
) -> AppResult<(i64, bool)> {
    let expires = now_ms() + terms.lease_ms;
    let progress = progress.map(|p| p.chars().take(200).collect::<String>());
    let status = write_transaction(conn, |c| q::renew(c, id, token, expires, progress.as_deref()))?
        .ok_or_else(|| lease_lost(id))?;
    Ok((expires, status == "cancelled"))
}

/// Appends a log entry; entries are numbered, a repeat is ignored, a gap refused.
pub fn append_log(conn: &mut DbConnection, id: i64, token: &str, seq: i32, text: &str) -> AppResult<()> {
    write_transaction(conn, |c| {
        let task = q::find(c, id)?.ok_or_else(|| AppError::not_found(format!("There is no task {id}.")))?;
        if task.lease_token.as_deref() != Some(token) {
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

/// Backoff before attempt `attempt + 1`: 5 s, 10 s, 20 s ... at most 10 minutes.
fn backoff_ms(attempt: i32) -> i64 {
    5_000i64.saturating_mul(1i64 << attempt.clamp(0, 7)).min(600_000)
}

fn stored(task: &TaskRow, result: &CheckResult) -> NewCheckResult {
    NewCheckResult {
        task_id: Some(task.id),
        checker: task.kind.clone(),
        checker_version: task.checker_version.clone().unwrap_or_default(),
        inputs_hash: task.inputs_hash.clone(),
        policy_hash: task.policy_hash.clone(),
        path: result.path.chars().take(1024).collect(),
        member: result.member.as_ref().map(|m| m.chars().take(1024).collect()),
        status: result.status.as_str().to_owned(),
        message: result.message.chars().take(8192).collect(),
        data: result.data.as_ref().map(ToString::to_string),
        created_at: now_ms(),
    }
}

/// The visible trace of a task that could not be done: an `error` result under its identity.
fn error_result(task: &TaskRow, message: &str) -> NewCheckResult {
    let result = CheckResult {
        checker: task.kind.clone(),
        checker_version: task.checker_version.clone().unwrap_or_default(),
        path: task.path.clone(),
        member: None,
        status: CheckStatus::Error,
        message: message.to_owned(),
        data: Some(json!({"task": task.id, "attempts": task.attempt})),
    };
    stored(task, &result)
}

/// Takes a task's result. Only the current lease token is accepted (a stale runner gets 409),
/// once per attempt: the same result sent again is acknowledged without being stored twice.
pub fn submit(conn: &mut DbConnection, id: i64, request: &ResultRequest) -> AppResult<ResultResponse> {
    if request.results.len() > MAX_RESULTS {
        return Err(AppError::unprocessable("too_many_results", format!("At most {MAX_RESULTS} results per task.")));
    }
    write_transaction(conn, |c| {
        let task = q::find(c, id)?.ok_or_else(|| AppError::not_found(format!("There is no task {id}.")))?;
        if task.lease_token.as_deref() != Some(request.lease_token.as_str()) {
            return Err(lease_lost(id));
        }
        match task.status.as_str() {
            "completed" | "failed" => return Ok(ResultResponse { accepted: false, status: task.status }),
            "cancelled" => {
                q::set_status(c, id, "cancelled", None)?;
                return Ok(ResultResponse { accepted: false, status: task.status });
            }
            _ => {}
        }
        if let Some(bad) = request.results.iter().find(|r| r.checker != task.kind || r.status == CheckStatus::Waived) {
            return Err(AppError::unprocessable(
                "invalid_result",
                format!(
                    "A result of task {id} ({}) must come from that checker and cannot be waived; got {} {:?}.",
                    task.kind, bad.checker, bad.status
                ),
            ));
        }
        let status = match request.status {
            TaskOutcome::Completed => {
                let rows: Vec<NewCheckResult> = request.results.iter().map(|r| stored(&task, r)).collect();
                q::insert_results(c, &rows)?;
                record_signers(c, &task, &request.results)?;
                q::finish(c, id, &request.lease_token, "completed", None)?;
                tracing::info!(task.id = id, kind = %task.kind, results = rows.len(), "task completed");
                "completed"
            }
            TaskOutcome::Failed => {
                let error = request
                    .error
                    .clone()
                    .unwrap_or_else(|| "the runner reported a failure without a reason".to_owned());
                if task.attempt < task.max_attempts {
                    q::requeue(c, id, &request.lease_token, now_ms() + backoff_ms(task.attempt), &error)?;
                    tracing::warn!(task.id = id, kind = %task.kind, attempt = task.attempt, error = %error, "task failed; queued again");
                    "queued"
                } else {
                    q::insert_results(
                        c,
                        &[error_result(
                            &task,
                            &format!("The check could not run after {} attempts: {error}", task.attempt),
                        )],
                    )?;
                    q::finish(c, id, &request.lease_token, "failed", Some(&error))?;
                    tracing::error!(task.id = id, kind = %task.kind, error = %error, "task failed for good");
                    "failed"
                }
            }
        };
        Ok(ResultResponse { accepted: true, status: status.to_owned() })
    })
}

/// Remembers which keys signed the release (so they cannot be deleted).
fn record_signers(conn: &mut DbConnection, task: &TaskRow, results: &[CheckResult]) -> AppResult<()> {
    let Some(release_id) = task.release_id else { return Ok(()) };
    for result in results.iter().filter(|r| r.checker == "signature" && r.status == CheckStatus::Success) {
        let Some(signer) = result.data.as_ref().and_then(|d| d.get("signer")).and_then(|s| s.as_str()) else {
            continue;
        };
        if keys::find(conn, signer)?.is_some() {
            q::record_key_use(conn, signer, release_id, &result.path)?;
        }
    }
    Ok(())
}

/// Returns tasks whose runner stopped renewing to the queue, with backoff; after
/// `max_attempts` the task fails visibly with reason `runner_lost`. Returns how many it touched.
pub fn reap(conn: &mut DbConnection) -> AppResult<usize> {
    let now = now_ms();
    let expired = q::expired_leases(conn, now)?;
    let mut touched = 0;
    for task in expired {
        let Some(token) = task.lease_token.clone() else { continue };
        write_transaction(conn, |c| -> AppResult<()> {
            if task.status == "cancelled" {
                q::set_status(c, task.id, "cancelled", None)?;
            } else if task.attempt < task.max_attempts {
                if q::requeue(c, task.id, &token, now + backoff_ms(task.attempt), "runner_lost: the lease expired")? {
                    tracing::warn!(task.id = task.id, kind = %task.kind, attempt = task.attempt, "lease expired; task queued again");
                }
            } else if q::finish(c, task.id, &token, "failed", Some("runner_lost"))? {
                let message = format!("runner_lost: no runner finished this check in {} attempts", task.attempt);
                q::insert_results(c, &[error_result(&task, &message)])?;
                tracing::error!(task.id = task.id, kind = %task.kind, "task failed: runner_lost");
            }
            Ok(())
        })?;
        touched += 1;
    }
    Ok(touched)
}

/// A task as the API shows it.
pub fn view(conn: &mut DbConnection, rows: Vec<TaskRow>) -> AppResult<Vec<Task>> {
    let runner_ids: Vec<i64> = rows.iter().filter_map(|r| r.runner_id).collect();
    let runners = q::runner_names(conn, &runner_ids)?;
    let mut release_keys = std::collections::HashMap::new();
    let mut tasks = Vec::with_capacity(rows.len());
    for row in rows {
        let release = match row.release_id {
            Some(id) => {
                if let std::collections::hash_map::Entry::Vacant(slot) = release_keys.entry(id) {
                    slot.insert(releases::context_by_id(conn, id)?.key());
                }
                release_keys.get(&id).cloned()
            }
            None => None,
        };
        tasks.push(Task {
            id: row.id,
            kind: row.kind,
            status: row.status,
            attempt: row.attempt,
            max_attempts: row.max_attempts,
            release,
            revision: row.revision_seq,
            path: row.path,
            runner: row.runner_id.and_then(|id| runners.iter().find(|(r, _)| *r == id).map(|(_, n)| n.clone())),
            lease_expires_at: row.lease_expires_at.map(to_time),
            not_before: to_time(row.not_before),
            created_at: to_time(row.created_at),
            started_at: row.started_at.map(to_time),
            finished_at: row.finished_at.map(to_time),
            progress: row.progress,
            error: row.error,
        });
    }
    Ok(tasks)
}

/// Admin: cancel a queued or running task (a running one stops at its next lease renewal).
pub fn cancel(conn: &mut DbConnection, actor: &str, id: i64) -> AppResult<()> {
    write_transaction(conn, |c| {
        let task = q::find(c, id)?.ok_or_else(|| AppError::not_found(format!("There is no task {id}.")))?;
        if !matches!(task.status.as_str(), "queued" | "leased") {
            return Err(AppError::conflict("task_finished", format!("Task {id} is {} already.", task.status)));
        }
        q::set_status(c, id, "cancelled", None)?;
        event(c, actor, "task.cancelled", &task)
    })
}

/// Admin: run a failed or cancelled task again, forgetting its error result.
pub fn retry(conn: &mut DbConnection, actor: &str, id: i64) -> AppResult<()> {
    write_transaction(conn, |c| {
        let task = q::find(c, id)?.ok_or_else(|| AppError::not_found(format!("There is no task {id}.")))?;
        if !matches!(task.status.as_str(), "failed" | "cancelled") {
            return Err(AppError::conflict(
                "task_not_finished",
                format!("Task {id} is {}; only failed or cancelled tasks are retried.", task.status),
            ));
        }
        q::delete_results(
            c,
            &task.kind,
            task.checker_version.as_deref().unwrap_or_default(),
            &task.inputs_hash,
            &task.policy_hash,
        )?;
        q::set_status(c, id, "queued", Some(now_ms()))?;
        event(c, actor, "task.retried", &task)
    })
}

fn event(conn: &mut DbConnection, actor: &str, action: &str, task: &TaskRow) -> AppResult<()> {
    crate::db::queries::events::record(
        conn,
        crate::db::queries::events::NewEvent {
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
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_ms(0), 5_000);
        assert_eq!(backoff_ms(1), 10_000);
        assert_eq!(backoff_ms(3), 40_000);
        assert_eq!(backoff_ms(30), 600_000);
    }

    #[test]
    fn kinds_are_identifiers() {
        assert!(valid_kinds(&["paths".into(), "vote_tally".into()]).is_ok());
        assert!(valid_kinds(&["paths'); DROP TABLE task; --".into()]).is_err());
        assert!(valid_kinds(&[]).is_err());
    }
}
