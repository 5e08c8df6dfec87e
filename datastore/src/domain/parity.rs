//! Downstream parity (`docs/DISTRIBUTION.md`): a runner fetches what a distribution record's
//! URL serves and compares it with the voted bytes; the record keeps the outcome (`verified`,
//! `mismatch`, `unreachable`), each outcome is an event, and records are checked again on a
//! schedule so that drift is caught.

use serde_json::json;
use shared_models::catalog::{Distribution, DistributionStatus};
use shared_models::checks::CheckResult;
use shared_models::runner::{DistributionOrder, TaskInput, TaskKind, VotedFile};

use super::tasks::order_task;
use crate::auth::Principal;
use crate::db::models::{DistributionRow, TaskRow};
use crate::db::queries::distributions as q;
use crate::db::queries::events::{self, NewEvent};
use crate::db::queries::releases::{self as rq, ReleaseContext};
use crate::db::queries::tasks as tq;
use crate::db::{DbConnection, now_ms, write_transaction};
use crate::error::{AppError, AppResult};

/// Attempts of one verification (a runner lost mid-fetch); an unreadable channel is an outcome.
const MAX_ATTEMPTS: i32 = 3;
/// Phases whose distributions are checked: the vote passed and the release was not revoked.
const CHECKED_PHASES: [&str; 3] = ["preview", "current", "archived"];
/// Records queued for a check again per pass of the schedule.
const PER_PASS: i64 = 200;

/// Whether a record's address can be fetched (coordinates such as `group:artifact:version`
/// cannot).
pub fn fetchable(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// Queues a check of `row` against the voted files of `ctx`, unless one for the same `round`
/// (a schedule's interval, `manual`, `recorded`) is queued already; the task id if one was queued.
pub fn queue(
    conn: &mut DbConnection,
    ctx: &ReleaseContext,
    row: &DistributionRow,
    round: &str,
) -> AppResult<Option<i64>> {
    if !fetchable(&row.url) || !CHECKED_PHASES.contains(&ctx.release.phase.as_str()) {
        return Ok(None);
    }
    let manifest = super::releases::latest_manifest(conn, ctx)?;
    if manifest.is_empty() {
        return Ok(None); // nothing was voted on, so nothing can be compared
    }
    // A channel may repackage an archive (other bytes, the same files): for a URL that names
    // one, the voted archives are the task's inputs, which the runner reads only if the bytes
    // differ.
    let path = row.url.split(['?', '#']).next().unwrap_or(&row.url);
    let repackaged = checks::artifacts::archive_format(path).is_some();
    let inputs: Vec<TaskInput> = manifest
        .iter()
        .filter(|(path, _)| repackaged && checks::artifacts::archive_format(path).is_some())
        .map(|(path, blob)| TaskInput {
            path: path.clone(),
            sha256: blob.sha256.clone(),
            sha512: blob.sha512.clone(),
            size: u64::try_from(blob.size).unwrap_or_default(),
        })
        .collect();
    let files = manifest
        .into_iter()
        .map(|(path, blob)| VotedFile { path, sha512: blob.sha512, size: u64::try_from(blob.size).unwrap_or_default() })
        .collect();
    let order = DistributionOrder { distribution: row.id, url: row.url.clone(), files };
    let args = serde_json::to_string(&order).map_err(AppError::internal)?;
    let key = format!("distribution:{}:{round}", row.id);
    let mut task =
        order_task(TaskKind::Distribution, ctx.release.id, Some(ctx.release.revision), &key, args, MAX_ATTEMPTS);
    task.inputs = serde_json::to_string(&inputs).map_err(AppError::internal)?;
    Ok(tq::enqueue_unless_known(conn, &task)?)
}

/// `POST /api/v1/distributions/{id}/verify`: check the record now (who may record it may ask).
pub fn verify(conn: &mut DbConnection, principal: &Principal, id: i64) -> AppResult<Distribution> {
    write_transaction(conn, |c| {
        let (row, ctx) = super::catalog::changeable(c, principal, id)?;
        if !fetchable(&row.url) {
            return Err(AppError::unprocessable(
                "invalid_request",
                format!(
                    "{} names coordinates, which cannot be fetched: record the URL of the file the channel serves \
                     to have it verified.",
                    row.url
                ),
            ));
        }
        if ctx.release.phase()? == shared_models::api::Phase::Revoked {
            return Err(super::lifecycle::wrong_phase(
                shared_models::api::Phase::Revoked,
                "preview, current or archived",
                format!("{} is revoked: its distributions are not checked any more.", ctx.key()),
            ));
        }
        // Asked again while a check waits: that check answers both.
        queue(c, &ctx, &row, "manual")?;
        super::catalog::view(row, ctx.key())
    })
}

/// A runner reported what a `distribution` task found: record it on the distribution and as an
/// event. A record deleted meanwhile is left alone; a result without a known outcome fails the
/// report (422), so the runner's attempt is not taken as done.
pub fn apply(conn: &mut DbConnection, task: &TaskRow, runner: &str, results: &[CheckResult]) -> AppResult<()> {
    let order: DistributionOrder = serde_json::from_str(&task.args).map_err(AppError::internal)?;
    let data = results.first().and_then(|r| r.data.as_ref());
    let text = |key: &str| data.and_then(|d| d.get(key)).and_then(|v| v.as_str());
    let status = match text("outcome").map(DistributionStatus::parse) {
        Some(Ok(status)) if status != DistributionStatus::Recorded => status,
        _ => {
            return Err(AppError::unprocessable(
                "invalid_result",
                "A distribution result carries data.outcome: verified, mismatch or unreachable.",
            ));
        }
    };
    let detail: String = text("detail").unwrap_or_default().chars().take(500).collect();
    let sha512 = text("sha512").filter(|s| s.len() == 128 && s.bytes().all(|b| b.is_ascii_hexdigit()));
    let Some(before) = q::find(conn, order.distribution)? else {
        tracing::info!(distribution = order.distribution, "the checked distribution record is gone: nothing recorded");
        return Ok(());
    };
    // A check that took long must not undo what a later one found.
    if before.checked_at.is_some_and(|at| at > task.created_at) {
        tracing::info!(
            distribution = before.id,
            task = task.id,
            "a later check of the distribution reported first: kept it"
        );
        return Ok(());
    }
    let ctx = rq::context_by_id(conn, before.release_id)?;
    if !CHECKED_PHASES.contains(&ctx.release.phase.as_str()) {
        tracing::info!(release = %ctx.key(), "the release is not distributed any more: the check is not recorded");
        return Ok(());
    }
    q::set_outcome(conn, before.id, status.as_str(), &detail)?;
    if status == DistributionStatus::Mismatch {
        tracing::warn!(release = %ctx.key(), url = %before.url, %detail, "a distribution does not serve the voted bytes");
    }
    events::record(
        conn,
        NewEvent {
            actor: &format!("runner:{runner}"),
            action: match status {
                DistributionStatus::Verified => "distribution.verified",
                DistributionStatus::Mismatch => "distribution.mismatch",
                _ => "distribution.unreachable",
            },
            target: &ctx.key(),
            release_id: Some(ctx.release.id),
            details: json!({
                "distribution": before.id, "channel": before.channel, "url": before.url, "detail": detail,
                "previous": before.status, "sha512": sha512,
            }),
        },
    )?;
    Ok(())
}

/// One pass of the schedule: queues a check of every record last checked more than `every_ms`
/// ago (at most [`PER_PASS`]); how many were queued.
pub fn recheck_due(conn: &mut DbConnection, every_ms: i64) -> AppResult<usize> {
    let now = now_ms();
    let round = (now / every_ms.max(1)).to_string();
    write_transaction(conn, |c| {
        let mut queued = 0;
        for row in q::due(c, now - every_ms, &CHECKED_PHASES, PER_PASS)? {
            let ctx = rq::context_by_id(c, row.release_id)?;
            if queue(c, &ctx, &row, &round)?.is_some() {
                queued += 1;
            }
        }
        Ok(queued)
    })
}
