//! Apache's dist tree over SVN (`docs/SVN.md`). With `DATASTORE_SVN_DIST` on, the outbox turns
//! a release's `release.published` event into an `svn_publish` task (its files and the
//! committee's KEYS committed to `release/<release key>/`) and `release.archived` into an
//! `svn_archive` task (that folder moved to `archive/<release key>/`); runners with
//! `RUNNER_SVN_URL` do them with the real svn clients. `POST …/import/svn` has a runner read a
//! candidate's folder under `dev/` and makes its files a new revision of a draft. Each outcome
//! is an event of the release.

use std::fmt::Write as _;

use serde_json::{Value, json};
use shared_models::ReleasePath;
use shared_models::api::Phase;
use shared_models::checks::{CheckResult, CheckStatus};
use shared_models::runner::{SvnArchiveOrder, SvnImportOrder, SvnPublishOrder, TaskInput, TaskKind};

use super::releases::{self, ReleaseRef};
use super::tasks::order_task;
use crate::auth::Principal;
use crate::db::models::{EventRow, TaskRow};
use crate::db::queries::events::{self, NewEvent};
use crate::db::queries::releases::{self as rq, ReleaseContext};
use crate::db::queries::tasks as tq;
use crate::db::{DbConnection, write_transaction};
use crate::error::{AppError, AppResult};

/// Attempts of one svn task (the repository unreachable for a while; the queue's backoff, 10 s
/// doubling to 10 min, makes this about an hour).
const MAX_ATTEMPTS: i32 = 10;

/// The folder of the dist repository a released release goes to.
pub fn release_folder(ctx: &ReleaseContext) -> String {
    format!("release/{}", ctx.key())
}

/// Where an archived release's folder moves.
pub fn archive_folder(ctx: &ReleaseContext) -> String {
    format!("archive/{}", ctx.key())
}

/// The commit message of a publication: the release, the revision that goes out, and its vote.
fn publish_message(conn: &mut DbConnection, ctx: &ReleaseContext, event: &EventRow) -> AppResult<String> {
    let details: Value = serde_json::from_str(&event.details).unwrap_or(Value::Null);
    let revision = details.get("revision").and_then(Value::as_i64).unwrap_or(ctx.release.revision);
    let mut message = format!("Release {} {} ({})\n\n", ctx.project.display_name, ctx.release.version, ctx.key());
    let _ = writeln!(message, "Revision {revision} of the release, released by {}.", event.actor);
    if let Some(digest) = details.get("manifest_digest").and_then(Value::as_str) {
        let _ = writeln!(message, "Manifest digest: {digest}");
    }
    match events::latest_of_release(conn, ctx.release.id, "vote.resolved")? {
        Some(vote) => {
            let vote: Value = serde_json::from_str(&vote.details).unwrap_or(Value::Null);
            let number = |key: &str| vote.get("tally").and_then(|t| t.get(key)).and_then(Value::as_u64).unwrap_or(0);
            let _ = writeln!(
                message,
                "Vote: round {}, on revision {}, {}: binding +1: {}, 0: {}, -1: {}; non-binding +1: {}, 0: {}, -1: {}.",
                vote.get("round").and_then(Value::as_i64).unwrap_or(ctx.release.vote_round),
                vote.get("revision").and_then(Value::as_i64).or(ctx.release.vote_revision).unwrap_or(revision),
                vote.get("outcome").and_then(Value::as_str).unwrap_or("passed"),
                number("binding_plus"),
                number("binding_zero"),
                number("binding_minus"),
                number("non_binding_plus"),
                number("non_binding_zero"),
                number("non_binding_minus"),
            );
        }
        None => {
            let _ = writeln!(message, "Vote: revision {} was voted on.", ctx.release.vote_revision.unwrap_or(revision));
        }
    }
    message.push_str("\nCommitted by Trusted Releases.\n");
    Ok(message)
}

/// Whether the release is, or is on its way to being, in the dist repository: a publication
/// succeeded, or one is queued or running.
fn in_repository(conn: &mut DbConnection, ctx: &ReleaseContext) -> AppResult<bool> {
    if events::latest_of_release(conn, ctx.release.id, "svn.published")?.is_some() {
        return Ok(true);
    }
    Ok(!tq::live_of_release(conn, ctx.release.id, TaskKind::SvnPublish.as_str())?.is_empty())
}

/// The outbox saw `event`: queues the svn task it calls for, if any (once per event: the
/// task's key is the event's place in the chain). A publication is for a release that is
/// still current; archiving and removal only for a release that was published there (one
/// released before `DATASTORE_SVN_DIST` was on is not in the repository). The task id, if one
/// was queued.
pub fn dispatch(conn: &mut DbConnection, event: &EventRow, seq: i64, ctx: &ReleaseContext) -> AppResult<Option<i64>> {
    let details: Value = serde_json::from_str(&event.details).unwrap_or(Value::Null);
    let trailer = "\n\nCommitted by Trusted Releases.\n";
    let (kind, args, inputs) = match event.action.as_str() {
        "release.published" => {
            if ctx.release.phase()? == Phase::Revoked {
                tracing::info!(release = %ctx.key(), "revoked before its publication reached svn: not published");
                return Ok(None);
            }
            let revision = details.get("revision").and_then(Value::as_i64).unwrap_or(ctx.release.revision);
            let files = releases::revision_files(conn, ctx, revision)?;
            let inputs: Vec<TaskInput> = files
                .into_iter()
                .map(|(path, blob)| TaskInput {
                    path,
                    sha256: blob.sha256,
                    sha512: blob.sha512,
                    size: u64::try_from(blob.size).unwrap_or_default(),
                })
                .collect();
            let order = SvnPublishOrder {
                folder: release_folder(ctx),
                committee: ctx.committee.name.clone(),
                keys_path: format!("release/{}/KEYS", ctx.project.name),
                message: publish_message(conn, ctx, event)?,
            };
            (TaskKind::SvnPublish, serde_json::to_string(&order).map_err(AppError::internal)?, inputs)
        }
        "release.archived" if in_repository(conn, ctx)? => {
            let order = SvnArchiveOrder {
                from: release_folder(ctx),
                to: Some(archive_folder(ctx)),
                message: format!(
                    "Archive {} {} ({}): superseded, archived by {}.{trailer}",
                    ctx.project.display_name,
                    ctx.release.version,
                    ctx.key(),
                    event.actor
                ),
            };
            (TaskKind::SvnArchive, serde_json::to_string(&order).map_err(AppError::internal)?, Vec::new())
        }
        "release.revoked" if in_repository(conn, ctx)? => {
            // A publication still waiting must not put it back.
            for task in tq::live_of_release(conn, ctx.release.id, TaskKind::SvnPublish.as_str())? {
                tq::cancel(conn, task.id)?;
                tracing::info!(release = %ctx.key(), task.id = task.id, "revoked: its svn publication is cancelled");
            }
            let from = match details.get("from").and_then(Value::as_str) {
                Some("archived") => archive_folder(ctx),
                _ => release_folder(ctx),
            };
            let reason = details.get("reason").and_then(Value::as_str).unwrap_or("");
            let order = SvnArchiveOrder {
                from,
                to: None,
                message: format!(
                    "Revoke {} {} ({}): {reason} (revoked by {}){trailer}",
                    ctx.project.display_name,
                    ctx.release.version,
                    ctx.key(),
                    event.actor
                ),
            };
            (TaskKind::SvnArchive, serde_json::to_string(&order).map_err(AppError::internal)?, Vec::new())
        }
        _ => return Ok(None),
    };
    let mut task =
        order_task(kind, ctx.release.id, Some(ctx.release.revision), &format!("svn:{seq}"), args, MAX_ATTEMPTS);
    task.inputs = serde_json::to_string(&inputs).map_err(AppError::internal)?;
    let id = tq::enqueue_unless_known(conn, &task)?;
    if let Some(id) = id {
        tracing::info!(release = %ctx.key(), task.id = id, kind = %kind, "svn task queued");
    }
    Ok(id)
}

/// Checks the folder an import reads: `dev/<project>/…`, each segment a plain name.
fn import_folder(ctx: &ReleaseContext, folder: &str) -> AppResult<String> {
    let folder = folder.trim_matches('/');
    let prefix = format!("dev/{}/", ctx.project.name);
    let valid = folder.strip_prefix(&prefix).is_some_and(|rest| ReleasePath::parse(rest).is_ok());
    if !valid {
        return Err(AppError::unprocessable(
            "invalid_request",
            format!(
                "An import reads a folder under {prefix} of the dist repository (e.g. {prefix}{}-rc1); {folder:?} is \
                 not one.",
                ctx.release.version
            ),
        ));
    }
    Ok(folder.to_owned())
}

/// `POST …/import/svn`: a runner reads `folder` and its files become a new revision of the
/// draft (who may compose the release may ask; the revision is theirs).
pub fn import(
    conn: &mut DbConnection,
    principal: &Principal,
    release: &ReleaseRef,
    folder: &str,
    limits: (u64, u64),
) -> AppResult<i64> {
    write_transaction(conn, |c| {
        let ctx = super::produced::draft_for(c, principal, release, "an svn import")?;
        let folder = import_folder(&ctx, folder)?;
        let (max_files, max_bytes) = limits;
        let order =
            SvnImportOrder { folder: folder.clone(), max_files, max_bytes, requested_by: principal.uid.clone() };
        let args = serde_json::to_string(&order).map_err(AppError::internal)?;
        // One import of a folder at a time per release (the live tasks' unique key); once it
        // ended, the same folder may be imported again.
        let key = format!("svn-import:{}:{folder}", ctx.release.id);
        let task = order_task(TaskKind::SvnImport, ctx.release.id, Some(ctx.release.revision), &key, args, 3);
        let id = tq::enqueue_unless_known(c, &task)?.ok_or_else(|| {
            AppError::conflict(
                "import_running",
                format!("An import of {folder} into {} is queued or running already.", ctx.key()),
            )
        })?;
        events::record(
            c,
            NewEvent {
                actor: principal.actor(),
                action: "svn.import_requested",
                target: &ctx.key(),
                release_id: Some(ctx.release.id),
                details: json!({"folder": folder, "task": id}),
            },
        )?;
        Ok(id)
    })
}

/// What a runner reported of an svn task: an event of the release, and for an import the new
/// revision. A result without its one verdict fails the report (422), so the attempt is not
/// taken as done.
pub fn apply(conn: &mut DbConnection, task: &TaskRow, runner: &str, results: &[CheckResult]) -> AppResult<()> {
    let kind = task.kind()?;
    let result = super::produced::verdict(results, kind)?;
    let release_id = task.release_id.ok_or_else(|| AppError::internal("an svn task without its release"))?;
    let ctx = rq::context_by_id(conn, release_id)?;
    let data = result.data.clone().unwrap_or(Value::Null);
    let revision = data.get("revision").and_then(Value::as_i64);
    let succeeded = result.status == CheckStatus::Success;
    let mut details = json!({"task": task.id, "message": result.message, "svn_revision": revision});
    let action = match (kind, succeeded) {
        (TaskKind::SvnPublish, true) => "svn.published",
        (TaskKind::SvnArchive, true) => "svn.archived",
        (TaskKind::SvnImport, true) => {
            let order: SvnImportOrder = serde_json::from_str(&task.args).map_err(AppError::internal)?;
            let files = super::produced::files_of(&data, "An import's result")?;
            let at = revision.map(|r| format!(" at r{r}")).unwrap_or_default();
            let request = super::produced::Request {
                requested_by: &order.requested_by,
                max_files: order.max_files,
                max_bytes: order.max_bytes,
                description: format!("import {}{at}", order.folder),
            };
            match super::produced::settle(conn, task, &ctx, &request, &files)? {
                Ok(seq) => {
                    details["revision"] = seq.into();
                    details["files"] = files.len().into();
                    "svn.imported"
                }
                Err(why) => {
                    details["message"] = format!("{}: {why}", result.message).into();
                    "svn.import_failed"
                }
            }
        }
        (TaskKind::SvnPublish, false) => "svn.publish_failed",
        (TaskKind::SvnArchive, false) => "svn.archive_failed",
        (TaskKind::SvnImport, false) => "svn.import_failed",
        (other, _) => return Err(AppError::internal(format!("{other} is not an svn task"))),
    };
    // Where, from the order the datastore made (not from what the runner says).
    let order: Value = serde_json::from_str(&task.args).unwrap_or(Value::Null);
    if let Some(obj) = details.as_object_mut() {
        for key in ["folder", "from", "to"] {
            if let Some(value) = order.get(key).filter(|v| !v.is_null()) {
                obj.insert(key.to_owned(), value.clone());
            }
        }
    }
    if !succeeded {
        tracing::warn!(release = %ctx.key(), task.id = task.id, message = %result.message, "{kind} refused");
    }
    super::produced::record_outcome(conn, runner, &ctx, action, details)
}
