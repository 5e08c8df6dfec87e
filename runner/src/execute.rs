//! One task, from order to result: keep the lease alive, fetch the inputs (verified by
//! SHA-256), run the check within the task's limits, report. Losing the lease stops it at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use checks::run::{Context, reads_bytes};
use checks::{Input, Limits};
use chrono::Utc;
use shared_models::api::ProjectPolicy;
use shared_models::runner::{ResultRequest, TaskOrder, TaskOutcome};
use tracing::Instrument;

use crate::client::{Client, ClientError};
use crate::state::{InFlight, RunnerState};

/// How a task ended, for the totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Completed,
    Failed,
    /// The lease was lost or the task cancelled: nothing was reported.
    Lost,
}

/// Runs `order` to its end and reports it.
pub async fn run(
    client: Client,
    order: TaskOrder,
    state: Arc<RunnerState>,
    work_dir: PathBuf,
    limits: Limits,
) -> Ending {
    let release = format!("{}/{}", order.release.project, order.release.version);
    let span = tracing::info_span!("task", task.id = order.id, kind = %order.kind, release = %release, attempt = order.attempt);
    run_task(client, order, state, work_dir, limits, release).instrument(span).await
}

async fn run_task(
    client: Client,
    order: TaskOrder,
    state: Arc<RunnerState>,
    work_dir: PathBuf,
    limits: Limits,
    release: String,
) -> Ending {
    let id = order.id;
    state.start(InFlight {
        id,
        kind: order.kind.clone(),
        release,
        path: order.inputs.first().map(|i| i.path.clone()).unwrap_or_default(),
        attempt: order.attempt,
        started_at: Utc::now(),
        lease_expires_at: order.lease_expires_at,
        stage: "starting".to_owned(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let renewer = tokio::spawn(keep_lease(client.clone(), order.clone(), state.clone(), stop.clone()));
    let dir = work_dir.join(format!("task-{id}-{}", order.attempt));
    let outcome = work(&client, &order, &state, &dir, limits, stop.clone()).await;
    let lost = stop.swap(true, Ordering::SeqCst); // also ends the renewer
    renewer.abort();
    if let Err(e) = tokio::fs::remove_dir_all(&dir).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot clean the task's work directory");
    }
    let ending = if lost {
        tracing::warn!("the lease was lost or the task cancelled: stopped without reporting");
        Ending::Lost
    } else {
        report(&client, &order, outcome).await
    };
    state.finish(id);
    let counter = match ending {
        Ending::Completed => &state.completed,
        Ending::Failed => &state.failed,
        Ending::Lost => &state.lost,
    };
    RunnerState::bump(counter);
    ending
}

/// Renews the lease every `renew_every_s`; a lost lease (409) or a cancellation sets `stop`.
async fn keep_lease(client: Client, order: TaskOrder, state: Arc<RunnerState>, stop: Arc<AtomicBool>) {
    let every = Duration::from_secs(order.renew_every_s.max(1));
    let mut expires = order.lease_expires_at;
    loop {
        tokio::time::sleep(every).await;
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let progress = state.in_flight().into_iter().find(|t| t.id == order.id).map(|t| t.stage);
        match client.renew(order.id, &order.lease_token, progress).await {
            Ok(lease) => {
                expires = lease.lease_expires_at;
                state.update(order.id, |t| t.lease_expires_at = expires);
                if lease.cancel {
                    tracing::info!("the task was cancelled");
                    stop.store(true, Ordering::SeqCst);
                    return;
                }
            }
            Err(ClientError::LeaseLost) => {
                tracing::warn!("lease lost (409): stopping the task now");
                stop.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) if Utc::now() >= expires => {
                tracing::warn!(error = %e, "the lease ran out while the datastore was unreachable: stopping");
                stop.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => tracing::warn!(error = %e, "lease renewal failed; trying again"),
        }
    }
}

/// Fetches the inputs and runs the check. `Err` means the check could not run.
async fn work(
    client: &Client,
    order: &TaskOrder,
    state: &RunnerState,
    dir: &Path,
    mut limits: Limits,
    stop: Arc<AtomicBool>,
) -> Result<Vec<shared_models::checks::CheckResult>, String> {
    let stage = |text: String| state.update(order.id, |t| t.stage = text);
    let mut inputs = Vec::with_capacity(order.inputs.len());
    if reads_bytes(&order.kind) {
        tokio::fs::create_dir_all(dir).await.map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        for (index, input) in order.inputs.iter().enumerate() {
            if stop.load(Ordering::SeqCst) {
                return Err("stopped".to_owned());
            }
            stage(format!("downloading {} ({} bytes)", input.path, input.size));
            let local = dir.join(format!("input-{index}"));
            client.download(input, &local).await.map_err(|e| format!("downloading {}: {e}", input.path))?;
            inputs.push(Input::new(input.path.clone(), local));
        }
    } else {
        inputs.extend(order.inputs.iter().map(|i| Input::new(i.path.clone(), PathBuf::new())));
    }
    let podling = order.args.get("podling").and_then(serde_json::Value::as_bool).unwrap_or(false);
    let policy: ProjectPolicy = serde_json::from_value(order.policy.clone()).unwrap_or_default();
    let mut keys = Vec::new();
    if order.kind == "signature" {
        let committee = order.args.get("committee").and_then(serde_json::Value::as_str).unwrap_or_default();
        stage(format!("fetching the KEYS of {committee}"));
        let text = client.keys(committee).await.map_err(|e| format!("fetching the KEYS of {committee}: {e}"))?;
        keys = text;
    }
    let remaining = (order.deadline - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    limits.deadline = Some(std::time::Instant::now() + remaining);
    limits.cancel = Some(stop.clone());
    let context = Context { podling, policy, keys, limits };
    stage(format!("running {}", order.kind));
    let kind = order.kind.clone();
    let checking = tokio::task::spawn_blocking(move || checks::run::run(&kind, &inputs, &context));
    // The checkers stop themselves at the deadline; this is the safety net if one does not.
    match tokio::time::timeout(remaining + Duration::from_secs(10), checking).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => Err(format!("the check crashed: {e}")),
        Err(_) => {
            stop.store(true, Ordering::SeqCst);
            Err("the check did not finish by the task's deadline".to_owned())
        }
    }
}

/// Sends the outcome; a stale lease at this point (409) means another runner owns the task.
async fn report(
    client: &Client,
    order: &TaskOrder,
    outcome: Result<Vec<shared_models::checks::CheckResult>, String>,
) -> Ending {
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
