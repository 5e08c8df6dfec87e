//! `POST …/sbom/generate` (`docs/SBOM.md#generating-an-sbom`): a runner reads the dependency
//! manifests of one of a draft's source archives and makes a CycloneDX SBOM of them, which
//! becomes a file of a new revision (never an edit of the one it read), by the person who asked.
//! The new revision is checked like any other: its SBOM goes through the `sbom` check (B1).

use serde_json::{Value, json};
use shared_models::checks::{CheckResult, CheckStatus};
use shared_models::runner::{SbomGenerateOrder, TaskInput, TaskKind};

use super::releases::{self, ReleaseRef};
use super::tasks::order_task;
use crate::auth::Principal;
use crate::db::models::TaskRow;
use crate::db::queries::events::{self, NewEvent};
use crate::db::queries::releases::{self as rq};
use crate::db::queries::tasks as tq;
use crate::db::{DbConnection, write_transaction};
use crate::error::{AppError, AppResult};

/// The SBOM's name for an archive: its name without the archive extension, with `.cdx.json`
/// (`dist/app-1.0-src.tar.gz` → `dist/app-1.0-src.cdx.json`).
pub fn output_path(archive: &str) -> String {
    let base = checks::artifacts::archive_base_name(archive);
    match archive.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{base}.cdx.json"),
        None => format!("{base}.cdx.json"),
    }
}

/// Queues the generation for `file` of the draft's latest revision; the task's id.
pub fn request(
    conn: &mut DbConnection,
    principal: &Principal,
    release: &ReleaseRef,
    file: &str,
    max_bytes: u64,
) -> AppResult<i64> {
    write_transaction(conn, |c| {
        let ctx = super::produced::draft_for(c, principal, release, "a generated SBOM")?;
        let manifest = releases::latest_manifest(c, &ctx)?;
        let blob = manifest
            .get(file)
            .ok_or_else(|| AppError::not_found(format!("The latest revision of {} has no file {file}.", ctx.key())))?;
        if !checks::artifacts::is_source_archive(file) {
            return Err(AppError::unprocessable(
                "invalid_request",
                format!(
                    "{file} is not a source archive (.tar.gz, .tgz, .tar.bz2, .tar.xz or .zip): it has no manifests to read."
                ),
            ));
        }
        let output = output_path(file);
        if manifest.contains_key(&output) {
            return Err(AppError::conflict(
                "sbom_exists",
                format!("{} has a file {output} already; delete it first to have a new one made.", ctx.key()),
            ));
        }
        let order = SbomGenerateOrder {
            output: output.clone(),
            name: ctx.project.name.clone(),
            version: ctx.release.version.clone(),
            max_files: 1,
            max_bytes,
            requested_by: principal.uid.clone(),
        };
        let args = serde_json::to_string(&order).map_err(AppError::internal)?;
        let key = format!("sbom-generate:{}:{file}:{}", ctx.release.id, blob.sha256);
        let mut task = order_task(TaskKind::SbomGenerate, ctx.release.id, Some(ctx.release.revision), &key, args, 3);
        let input = TaskInput {
            path: file.to_owned(),
            sha256: blob.sha256.clone(),
            sha512: blob.sha512.clone(),
            size: u64::try_from(blob.size).unwrap_or_default(),
        };
        task.inputs = serde_json::to_string(&[input]).map_err(AppError::internal)?;
        let id = tq::enqueue_unless_known(c, &task)?.ok_or_else(|| {
            AppError::conflict("generation_running", format!("An SBOM of {file} is being made already."))
        })?;
        events::record(
            c,
            NewEvent {
                actor: principal.actor(),
                action: "sbom.generate_requested",
                target: &ctx.key(),
                release_id: Some(ctx.release.id),
                details: json!({"file": file, "output": output, "task": id}),
            },
        )?;
        Ok(id)
    })
}

/// A runner reported what an `sbom_generate` task made: the new revision and `sbom.generated`,
/// or `sbom.generate_failed` with why (the archive held no manifest, the draft moved on, the
/// result named a blob its task did not upload).
pub fn apply(conn: &mut DbConnection, task: &TaskRow, runner: &str, results: &[CheckResult]) -> AppResult<()> {
    let result = super::produced::verdict(results, TaskKind::SbomGenerate)?;
    let order: SbomGenerateOrder = serde_json::from_str(&task.args).map_err(AppError::internal)?;
    let release_id = task.release_id.ok_or_else(|| AppError::internal("an sbom_generate task without its release"))?;
    let ctx = rq::context_by_id(conn, release_id)?;
    let data = result.data.clone().unwrap_or(Value::Null);
    let input = serde_json::from_str::<Vec<TaskInput>>(&task.inputs).ok().and_then(|inputs| inputs.into_iter().next());
    let file = input.as_ref().map(|i| i.path.clone()).unwrap_or_default();
    // The draft may have moved on while the runner worked: the SBOM describes the archive's
    // bytes it read, and never replaces a file.
    let latest = releases::latest_manifest(conn, &ctx)?;
    let stale = match &input {
        Some(input) if latest.get(&input.path).is_none_or(|b| b.sha256 != input.sha256) => {
            Some(format!("{file} changed or went away while its SBOM was made"))
        }
        _ if latest.contains_key(&order.output) => Some(format!("{} appeared meanwhile", order.output)),
        _ => None,
    };
    let mut details = json!({"task": task.id, "file": file, "output": order.output, "message": result.message});
    let action = if result.status == CheckStatus::Success {
        let files = super::produced::files_of(&data, "A generated SBOM's result")?;
        if files.len() != 1 || files[0].path != order.output {
            details["message"] = format!("the result names other files than {}", order.output).into();
            "sbom.generate_failed"
        } else if let Some(why) = stale {
            details["message"] = format!("{}: {why}; nothing was added", result.message).into();
            "sbom.generate_failed"
        } else {
            let request = super::produced::Request {
                requested_by: &order.requested_by,
                max_files: order.max_files,
                max_bytes: order.max_bytes,
                description: format!("SBOM of {file}: {}", result.message),
            };
            match super::produced::settle(conn, task, &ctx, &request, &files)? {
                Ok(seq) => {
                    details["revision"] = seq.into();
                    details["components"] = data.get("components").cloned().unwrap_or(Value::Null);
                    details["manifests"] = data.get("manifests").cloned().unwrap_or(Value::Null);
                    "sbom.generated"
                }
                Err(why) => {
                    details["message"] = format!("{}: {why}", result.message).into();
                    "sbom.generate_failed"
                }
            }
        }
    } else {
        "sbom.generate_failed"
    };
    super::produced::record_outcome(conn, runner, &ctx, action, details)
}
