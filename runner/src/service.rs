//! The runner's main loop: claim what there is capacity (and CPU) for, run it, and on SIGTERM
//! stop claiming, let running tasks finish within the grace period, and exit 0.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use shared_models::runner::ClaimRequest;
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinSet;

use crate::client::{Client, ClientError, Retry};
use crate::config::Config;
use crate::execute::{self, Worker};
use crate::handlers::Handlers;
use crate::state::{RunnerState, load_average};

pub async fn run(config: Config) -> anyhow::Result<()> {
    let token = config.token.clone().filter(|t| !t.is_empty()).context(
        "RUNNER_TOKEN is not set: register this runner with `datastore runner add NAME` and pass the token it prints",
    )?;
    let client = Client::new(config.datastore_url(), &token)?;
    let (work_dir, temporary) = match &config.work_dir {
        Some(dir) => (dir.clone(), false),
        None => (std::env::temp_dir().join(format!("tr-runner-{}", std::process::id())), true),
    };
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("cannot create the work directory {}", work_dir.display()))?;
    // Absolute: tools a task runs (git, svn) work in the task's own directory, where a relative
    // path to the task's files would name something else.
    let work_dir = std::path::absolute(&work_dir)
        .with_context(|| format!("cannot make the work directory {} absolute", work_dir.display()))?;
    let state = Arc::new(RunnerState::new(config.name(), config.capacity()));
    let status = crate::status::serve(&config.bind, state.clone(), client.clone(), config.datastore_url().to_owned())
        .with_context(|| format!("cannot listen on RUNNER_BIND={}", config.bind))?;
    let status_handle = status.handle();
    tokio::spawn(status);
    tracing::info!(
        name = %state.name, datastore = config.datastore_url(), capacity = state.capacity,
        work_dir = %work_dir.display(), "runner started"
    );

    let outcome = claim_loop(&config, &client, &state, &work_dir).await;

    status_handle.stop(true).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    outcome
}

async fn claim_loop(config: &Config, client: &Client, state: &Arc<RunnerState>, work_dir: &Path) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut workers: JoinSet<execute::Ending> = JoinSet::new();
    let handlers = Handlers::new(config)?;
    let kinds: Vec<String> = handlers.kinds().iter().map(|k| k.as_str().to_owned()).collect();
    tracing::info!(kinds = %kinds.join(", "), "claiming these task kinds (mail only with RUNNER_SMTP_URL)");
    let worker = Worker {
        client: client.clone(),
        state: state.clone(),
        handlers,
        work_dir: work_dir.to_owned(),
        limits: config.limits(),
    };
    let mut failures = 0u32;
    let max_load = config.max_load();
    loop {
        let free = state.capacity.saturating_sub(u32::try_from(workers.len()).unwrap_or(u32::MAX));
        let load = load_average();
        let overloaded = load.is_some_and(|load| load > max_load);
        if free == 0 || overloaded {
            if overloaded {
                tracing::debug!(load, max = max_load, "host busy: not claiming");
            }
            tokio::select! {
                _ = workers.join_next(), if !workers.is_empty() => {}
                () = tokio::time::sleep(Duration::from_secs(1)), if overloaded || workers.is_empty() => {}
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
            }
            continue;
        }
        let request = ClaimRequest {
            runner: state.name.clone(),
            version: state.version.to_owned(),
            kinds: kinds.clone(),
            capacity: free,
            wait_s: Some(25),
        };
        // A claim is never abandoned for a finished task: the datastore may already have leased
        // work to it. Only a signal interrupts it (the datastore then leases nothing, or the
        // reaper returns what it leased).
        tokio::select! {
            claimed = client.claim(&request) => match claimed {
                Ok(orders) => {
                    failures = 0;
                    if !orders.is_empty() {
                        state.totals.claims.inc();
                    }
                    for order in orders {
                        workers.spawn(execute::run(worker.clone(), order));
                    }
                }
                Err(ClientError::Refused { status, body }) if status.as_u16() == 401 || status.as_u16() == 403 => {
                    anyhow::bail!("the datastore refuses this runner's token ({status}): {body}");
                }
                Err(e) => {
                    failures += 1;
                    let wait = Retry { attempts: 0, base: Duration::from_millis(500), cap: Duration::from_secs(30) }.delay(failures);
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis(), "claim failed");
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        _ = terminate.recv() => break,
                        _ = interrupt.recv() => break,
                    }
                }
            },
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
        while let Some(done) = workers.try_join_next() {
            if let Err(e) = done {
                tracing::error!(error = %e, "a task worker crashed");
            }
        }
    }
    drain(state, workers, config.grace()).await;
    Ok(())
}

/// Stops claiming; gives running tasks `grace` to finish, then abandons them (their leases
/// expire and the datastore gives them to another runner).
async fn drain(state: &RunnerState, mut workers: JoinSet<execute::Ending>, grace: Duration) {
    state.draining.store(true, Ordering::SeqCst);
    tracing::info!(
        running = workers.len(),
        grace_s = grace.as_secs(),
        "stopping: no new work; waiting for running tasks"
    );
    let finished = tokio::time::timeout(grace, async { while workers.join_next().await.is_some() {} }).await;
    if finished.is_err() {
        tracing::warn!(
            abandoned = workers.len(),
            "grace period over: abandoning running tasks (their leases will expire)"
        );
        workers.abort_all();
    }
    tracing::info!("runner stopped");
}
