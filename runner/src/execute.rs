//! One task, from order to result, whatever its kind: keep the lease alive, give the order to
//! its kind's handler within the task's deadline, report. Losing the lease stops it at once; a
//! task past its deadline is reported as failed (`deadline_exceeded`), so the datastore can try
//! it again at once instead of waiting for the lease to run out.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use checks::Limits;
use chrono::Utc;
use shared_models::checks::CheckResult;
use shared_models::runner::{ResultRequest, TaskOrder, TaskOutcome};
use tracing::Instrument;

use crate::client::{Client, ClientError};
use crate::handlers::{Handlers, Job, TaskError};
use crate::state::{InFlight, RunnerState};

/// How long past its deadline a handler that does not stop by itself is given.
const DEADLINE_GRACE: Duration = Duration::from_secs(10);

/// How a task ended, for the totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Completed,
    Failed,
    /// The lease was lost or the task cancelled: nothing was reported.
    Lost,
}

/// What one task needs besides its order.
#[derive(Debug, Clone)]
pub struct Worker {
    pub client: Client,
    pub state: Arc<RunnerState>,
    pub handlers: Handlers,
    pub work_dir: PathBuf,
    pub limits: Limits,
}

/// Runs `order` to its end and reports it.
pub async fn run(worker: Worker, order: TaskOrder) -> Ending {
    let release = format!("{}/{}", order.release.project, order.release.version);
    let span = tracing::info_span!("task", task.id = order.id, kind = %order.kind, release = %release, attempt = order.attempt);
    run_task(worker, order, release).instrument(span).await
}

async fn run_task(worker: Worker, order: TaskOrder, release: String) -> Ending {
    let Worker { client, state, handlers, work_dir, mut limits } = worker;
    let id = order.id;
    state.start(InFlight {
        id,
        kind: order.kind,
        release,
        path: order.inputs.first().map(|i| i.path.clone()).unwrap_or_default(),
        attempt: order.attempt,
        started_at: Utc::now(),
        lease_expires_at: order.lease_expires_at,
        stage: "starting".to_owned(),
    });
    // Set by the lease keeper when the task is no longer this runner's to finish.
    let lost = Arc::new(AtomicBool::new(false));
    let keeper = tokio::spawn(keep_lease(client.clone(), order.clone(), state.clone(), lost.clone()));
    let dir = work_dir.join(format!("task-{id}-{}", order.attempt));
    let remaining = (order.deadline - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    limits.deadline = Some(std::time::Instant::now() + remaining);
    limits.cancel = Some(lost.clone());
    let outcome = match handlers.get(order.kind) {
        None => Err(TaskError::Failed(format!("this runner has no handler for {} tasks", order.kind))),
        Some(handler) => {
            let stage = |text: String| state.update(id, |t| t.stage = text);
            let job = Job { client: &client, order: &order, dir: &dir, limits, stage: &stage };
            // Handlers stop themselves at the deadline; this is the safety net if one does not.
            tokio::time::timeout(remaining + DEADLINE_GRACE, handler.run(job)).await.unwrap_or(Err(TaskError::Stopped))
        }
    };
    keeper.abort();
    if let Err(e) = tokio::fs::remove_dir_all(&dir).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot clean the task's work directory");
    }
    let ending = if lost.load(Ordering::SeqCst) {
        tracing::warn!("the lease was lost or the task cancelled: stopped without reporting");
        Ending::Lost
    } else if Utc::now() >= order.deadline {
        let error = format!(
            "deadline_exceeded: the task did not finish within its deadline ({})",
            order.deadline.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        tracing::warn!(%error, "task past its deadline");
        report(&client, &order, Err(error)).await
    } else {
        let outcome = outcome.map_err(|e| match e {
            TaskError::Failed(reason) => reason,
            TaskError::Stopped => "the task was stopped before it finished".to_owned(),
        });
        report(&client, &order, outcome).await
    };
    state.finish(id);
    let counter = match ending {
        Ending::Completed => &state.totals.completed,
        Ending::Failed => &state.totals.failed,
        Ending::Lost => &state.totals.lost,
    };
    counter.inc();
    ending
}

/// Renews the lease every `renew_every_s`; a lost lease (409 `lease_lost`), a cancellation, or
/// a lease that ran out while the datastore was unreachable sets `lost`.
async fn keep_lease(client: Client, order: TaskOrder, state: Arc<RunnerState>, lost: Arc<AtomicBool>) {
    let every = Duration::from_secs(order.renew_every_s.max(1));
    let mut expires = order.lease_expires_at;
    loop {
        tokio::time::sleep(every).await;
        let progress = state.in_flight().into_iter().find(|t| t.id == order.id).map(|t| t.stage);
        match client.renew(order.id, &order.lease_token, progress).await {
            Ok(lease) => {
                expires = lease.lease_expires_at;
                state.update(order.id, |t| t.lease_expires_at = expires);
                if lease.cancel {
                    tracing::info!("the task was cancelled");
                    lost.store(true, Ordering::SeqCst);
                    return;
                }
            }
            Err(ClientError::LeaseLost) => {
                tracing::warn!("lease lost (409): stopping the task now");
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) if Utc::now() >= expires => {
                tracing::warn!(error = %e, "the lease ran out while the datastore was unreachable: stopping");
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => tracing::warn!(error = %e, "lease renewal failed; trying again"),
        }
    }
}

/// Sends the outcome; a lost lease at this point (409) means another runner owns the task.
async fn report(client: &Client, order: &TaskOrder, outcome: Result<Vec<CheckResult>, String>) -> Ending {
    let (status, results, error) = match outcome {
        Ok(results) => (TaskOutcome::Completed, results, None),
        Err(error) => (TaskOutcome::Failed, Vec::new(), Some(error)),
    };
    let count = results.len();
    let request = ResultRequest { lease_token: order.lease_token.clone(), status, results, error: error.clone() };
    match client.submit(order.id, &request).await {
        Ok(response) => {
            tracing::info!(results = count, status = %response.status, error = error.as_deref().unwrap_or(""), "reported");
            if status == TaskOutcome::Completed { Ending::Completed } else { Ending::Failed }
        }
        Err(ClientError::LeaseLost) => {
            tracing::warn!("the result was refused (409): the lease had been given to another runner");
            Ending::Lost
        }
        Err(e) => {
            tracing::error!(error = %e, "the result could not be delivered; the lease will expire and the task run again");
            Ending::Lost
        }
    }
}
