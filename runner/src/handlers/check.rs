//! The release checks (`paths`, `hashing`, `signature`, `archive`, `license`, `rat`, `sbom`,
//! `trees`): fetch the
//! inputs verified by SHA-256, fetch the committee's KEYS for a signature check, and run the
//! checker of the `checks` library on a blocking thread within the task's limits.

use std::path::PathBuf;

use checks::Input;
use checks::run::{Context, reads_bytes};
use futures_util::future::BoxFuture;
use shared_models::api::ProjectPolicy;
use shared_models::checks::CheckResult;
use shared_models::runner::TaskKind;

use super::{Handler, Job, TaskError};

#[derive(Debug)]
pub struct Check;

impl Handler for Check {
    fn run<'a>(&'a self, job: Job<'a>) -> BoxFuture<'a, Result<Vec<CheckResult>, TaskError>> {
        Box::pin(check(job))
    }
}

/// Downloads the order's inputs into the task's directory, each verified by its SHA-256.
pub(super) async fn download_inputs(job: &Job<'_>) -> Result<Vec<Input>, TaskError> {
    let Job { client, order, dir, limits, stage } = job;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| TaskError::Failed(format!("cannot create {}: {e}", dir.display())))?;
    let mut inputs = Vec::with_capacity(order.inputs.len());
    for (index, input) in order.inputs.iter().enumerate() {
        if limits.expired() {
            return Err(TaskError::Stopped);
        }
        stage(format!("downloading {} ({} bytes)", input.path, input.size));
        let local = dir.join(format!("input-{index}"));
        client
            .download(input, &local)
            .await
            .map_err(|e| TaskError::Failed(format!("downloading {}: {e}", input.path)))?;
        inputs.push(Input::new(input.path.clone(), local));
    }
    Ok(inputs)
}

async fn check(job: Job<'_>) -> Result<Vec<CheckResult>, TaskError> {
    let inputs = if reads_bytes(job.order.kind) {
        download_inputs(&job).await?
    } else {
        job.order.inputs.iter().map(|i| Input::new(i.path.clone(), PathBuf::new())).collect()
    };
    let Job { client, order, limits, stage, .. } = job;
    let podling = order.args.get("podling").and_then(serde_json::Value::as_bool).unwrap_or(false);
    let policy: ProjectPolicy = serde_json::from_value(order.policy.clone())
        .map_err(|e| TaskError::Failed(format!("the task's policy is not valid: {e}")))?;
    let mut keys = Vec::new();
    if order.kind == TaskKind::Signature {
        let committee = order.args.get("committee").and_then(serde_json::Value::as_str).unwrap_or_default();
        stage(format!("fetching the KEYS of {committee}"));
        keys = client
            .keys(committee)
            .await
            .map_err(|e| TaskError::Failed(format!("fetching the KEYS of {committee}: {e}")))?;
    }
    let context = Context { podling, policy, keys, limits };
    stage(format!("running {}", order.kind));
    let kind = order.kind;
    let checking = tokio::task::spawn_blocking(move || checks::run::run(kind, &inputs, &context));
    match checking.await {
        Ok(outcome) => outcome.map_err(TaskError::Failed),
        Err(e) => Err(TaskError::Failed(format!("the check crashed: {e}"))),
    }
}
