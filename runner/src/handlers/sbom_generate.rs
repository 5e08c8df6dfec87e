//! `sbom_generate` tasks: a CycloneDX SBOM made from the dependency manifests of a source
//! archive (`checks::manifests`), uploaded for a new revision of the draft (`docs/SBOM.md`).

use futures_util::future::BoxFuture;
use shared_models::checks::{CheckResult, CheckStatus};
use shared_models::runner::{ProducedFile, SbomGenerateOrder, TaskKind};

use super::{Handler, Job, TaskError};

#[derive(Debug)]
pub struct SbomGenerate;

/// A random version-4 UUID, for the document's `serialNumber`.
fn uuid() -> Result<String, TaskError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| TaskError::Failed(format!("no randomness: {e}")))?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    Ok(format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]))
}

fn verdict(path: &str, status: CheckStatus, message: String, data: serde_json::Value) -> CheckResult {
    CheckResult {
        checker: TaskKind::SbomGenerate,
        checker_version: "1".to_owned(),
        path: path.to_owned(),
        member: None,
        status,
        message,
        data: Some(data),
    }
}

async fn generate(job: Job<'_>) -> Result<Vec<CheckResult>, TaskError> {
    let order: SbomGenerateOrder = serde_json::from_value(job.order.args.clone())
        .map_err(|e| TaskError::Failed(format!("the task's order is not valid: {e}")))?;
    let inputs = super::check::download_inputs(&job).await?;
    let input = inputs.into_iter().next().ok_or_else(|| TaskError::Failed("the task has no input".into()))?;
    (job.stage)(format!("reading the manifests of {}", input.path));
    let archive = input.path.clone();
    let (limits, name, version) = (job.limits.clone(), order.name.clone(), order.version.clone());
    let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let serial = uuid()?;
    let made = tokio::task::spawn_blocking(move || {
        checks::manifests::generate(&input, (&name, &version), &timestamp, &serial, &limits)
    })
    .await
    .map_err(|e| TaskError::Failed(format!("reading the manifests crashed: {e}")))?;
    let made = match made {
        Ok(made) => made,
        Err(_) if job.limits.expired() => return Err(TaskError::Stopped),
        Err(why) => return Ok(vec![verdict(&archive, CheckStatus::Failure, why, serde_json::json!({}))]),
    };
    if made.manifests.is_empty() {
        let mut why = format!("{archive} holds no dependency manifest this platform reads");
        if let Some(first) = made.skipped.first() {
            why.push_str(&format!(" ({first})"));
        }
        return Ok(vec![verdict(&archive, CheckStatus::Failure, why, serde_json::json!({"skipped": made.skipped}))]);
    }
    let bytes = serde_json::to_vec_pretty(&made.document).map_err(|e| TaskError::Failed(e.to_string()))?;
    if bytes.len() as u64 > order.max_bytes {
        let why = format!("the SBOM would be {} bytes, more than a revision takes ({})", bytes.len(), order.max_bytes);
        return Ok(vec![verdict(&archive, CheckStatus::Failure, why, serde_json::json!({}))]);
    }
    let local = job.dir.join("sbom.cdx.json");
    tokio::fs::write(&local, &bytes).await.map_err(|e| TaskError::Failed(format!("{}: {e}", local.display())))?;
    (job.stage)(format!("uploading {} ({} components)", order.output, made.components));
    let stored = job
        .client
        .upload_blob(job.order.id, &job.order.lease_token, &local)
        .await
        .map_err(|e| TaskError::Failed(format!("uploading {}: {e}", order.output)))?;
    let file =
        ProducedFile { path: order.output.clone(), sha256: stored.sha256, sha512: stored.sha512, size: stored.size };
    let message = format!(
        "{} components from {} manifest(s) of {archive}{}",
        made.components,
        made.manifests.len(),
        if made.skipped.is_empty() { String::new() } else { format!("; {} skipped", made.skipped.len()) }
    );
    let data = serde_json::json!({
        "files": [file], "components": made.components, "manifests": made.manifests, "skipped": made.skipped,
    });
    Ok(vec![verdict(&archive, CheckStatus::Success, message, data)])
}

impl Handler for SbomGenerate {
    fn run<'a>(&'a self, job: Job<'a>) -> BoxFuture<'a, Result<Vec<CheckResult>, TaskError>> {
        Box::pin(generate(job))
    }
}
