//! Files a runner made or fetched for a draft (an svn import's files, a generated SBOM): they
//! become a new revision, by the person who asked for them, only if each is a blob that task's
//! runner uploaded under its lease (`task_blob`), with the digests the datastore computed.

use serde_json::Value;
use shared_models::ReleasePath;
use shared_models::api::Phase;
use shared_models::checks::{CheckResult, CheckStatus};
use shared_models::runner::{ProducedFile, TaskKind};

use super::releases::{self, Change, ReleaseRef};
use crate::auth::{Action, Principal, authz};
use crate::blob::BlobMeta;
use crate::db::DbConnection;
use crate::db::models::TaskRow;
use crate::db::queries::events::{self, NewEvent};
use crate::db::queries::releases::{self as rq, ReleaseContext};
use crate::db::queries::{auth as users, tasks as tq};
use crate::error::{AppError, AppResult};

/// The draft `principal` asks a runner to make or fetch files for (`what`, for the refusal): it
/// may compose it, is a person (the revision will be theirs, not a CI job's), and it is a draft.
pub fn draft_for(
    conn: &mut DbConnection,
    principal: &Principal,
    release: &ReleaseRef,
    what: &str,
) -> AppResult<ReleaseContext> {
    let ctx = releases::load_readable(conn, Some(principal), release)?;
    authz::authorize_release(principal, Action::ComposeRelease, &ctx)?;
    if principal.publisher.is_some() {
        return Err(AppError::forbidden(format!(
            "A trusted publisher uploads its files itself; {what} is asked for by a person."
        )));
    }
    let phase = ctx.release.phase()?;
    if phase != Phase::Draft {
        return Err(super::lifecycle::wrong_phase(
            phase,
            "draft",
            format!("{} is not a draft: only a draft takes new files.", ctx.key()),
        ));
    }
    Ok(ctx)
}

/// Who asked for the files and within which bounds, and how the revision is described.
#[derive(Debug)]
pub struct Request<'a> {
    pub requested_by: &'a str,
    pub max_files: u64,
    pub max_bytes: u64,
    pub description: String,
}

/// `files` as a new revision of the draft of `ctx`, by `request.requested_by` (whose right to
/// compose the release is checked again now); the revision's number. A file that is not a
/// blob this task uploaded, with other digests, or past the bounds is a 422 `invalid_result`.
pub fn commit(
    conn: &mut DbConnection,
    task: &TaskRow,
    ctx: &ReleaseContext,
    request: &Request<'_>,
    files: &[ProducedFile],
) -> AppResult<i64> {
    let user = users::find_user(conn, request.requested_by)?
        .filter(|u| u.withdrawn_at.is_none())
        .ok_or_else(|| AppError::forbidden(format!("{} no longer has an account.", request.requested_by)))?;
    let total: u64 = files.iter().map(|f| f.size).sum();
    if files.len() as u64 > request.max_files || total > request.max_bytes {
        return Err(AppError::unprocessable(
            "invalid_result",
            format!(
                "The result names {} files of {total} bytes; it takes at most {} files of {} bytes.",
                files.len(),
                request.max_files,
                request.max_bytes
            ),
        ));
    }
    let memberships = users::memberships(conn, user.id)?;
    let principal = Principal::of_user(user, memberships, None, None);
    let mut changes = Vec::with_capacity(files.len());
    for file in files {
        let path = ReleasePath::parse(&file.path).map_err(|e| {
            AppError::unprocessable("invalid_result", format!("{} is not a release path: {e}", file.path))
        })?;
        let stored = match rq::find_blob(conn, &file.sha256)? {
            Some(blob) if tq::produced(conn, task.id, &file.sha256)? => blob,
            _ => {
                return Err(AppError::unprocessable(
                    "invalid_result",
                    format!("{} names a blob this task did not upload: {}", file.path, file.sha256),
                ));
            }
        };
        if stored.sha512 != file.sha512 || u64::try_from(stored.size).ok() != Some(file.size) {
            return Err(AppError::unprocessable(
                "invalid_result",
                format!("{}: the reported digests are not those of the uploaded blob", file.path),
            ));
        }
        let size = u64::try_from(stored.size).map_err(AppError::internal)?;
        changes.push(Change::Put { path, blob: BlobMeta { sha256: stored.sha256, sha512: stored.sha512, size } });
    }
    let release = super::uploads::release_of(ctx)?;
    Ok(releases::commit_revision(conn, &principal, &release, &changes, &request.description)?.seq)
}

/// The one verdict a task that makes or moves files reports: `success` or `failure` (422
/// `invalid_result` otherwise, so the attempt is not taken as done).
pub fn verdict(results: &[CheckResult], kind: TaskKind) -> AppResult<&CheckResult> {
    results.first().filter(|r| matches!(r.status, CheckStatus::Success | CheckStatus::Failure)).ok_or_else(|| {
        AppError::unprocessable("invalid_result", format!("An {kind} task reports one result, success or failure."))
    })
}

/// The files a successful verdict names (`data.files`); `what` names the result in the refusal.
pub fn files_of(data: &Value, what: &str) -> AppResult<Vec<ProducedFile>> {
    data.get("files")
        .and_then(|f| serde_json::from_value(f.clone()).ok())
        .ok_or_else(|| AppError::unprocessable("invalid_result", format!("{what} lists data.files.")))
}

/// [`commit`], with a refusal that is a verdict on the files (the draft moved on, the requester
/// lost the right, the result names a blob its task did not upload) as `Err(why)`: the runner's
/// report stands and the refusal is recorded. Any other error fails the report.
pub fn settle(
    conn: &mut DbConnection,
    task: &TaskRow,
    ctx: &ReleaseContext,
    request: &Request<'_>,
    files: &[ProducedFile],
) -> AppResult<Result<i64, String>> {
    match commit(conn, task, ctx, request, files) {
        Ok(seq) => Ok(Ok(seq)),
        Err(e) if e.status.is_client_error() => Ok(Err(e.message)),
        Err(e) => Err(e),
    }
}

/// The event of what a runner's task did to a release.
pub fn record_outcome(
    conn: &mut DbConnection,
    runner: &str,
    ctx: &ReleaseContext,
    action: &str,
    details: Value,
) -> AppResult<()> {
    let actor = format!("runner:{runner}");
    let event = NewEvent { actor: &actor, action, target: &ctx.key(), release_id: Some(ctx.release.id), details };
    events::record(conn, event).map_err(AppError::from)
}
