//! Resumable uploads, the database side: who may open a session (those who compose the
//! release, while it takes files), who may use it (its creator only: to anyone else it does
//! not exist), and its confirmed offset, which only moves forward from where it was. The bytes
//! are `crate::resumable`'s.

use shared_models::api::{CreateUploadRequest, UploadSession};
use shared_models::{Name, ReleasePath, Version};

use super::releases::{self, ReleaseRef};
use crate::auth::{Action, Principal, authz, secrets};
use crate::db::models::UploadSessionRow;
use crate::db::queries::releases::ReleaseContext;
use crate::db::queries::uploads as q;
use crate::db::{DbConnection, to_time, write_transaction};
use crate::error::{AppError, AppResult};

/// Sessions one person may have open at once: each may hold up to the upload limit on disk.
pub const MAX_OPEN_PER_PERSON: i64 = 32;

/// What a session's view needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest upload, in bytes.
    pub limit: u64,
    /// How long a session lives without a byte arriving.
    pub idle_secs: u64,
    /// The server's public URL, for the session's own.
    pub public_url: String,
}

fn not_found(id: &str) -> AppError {
    AppError::not_found(format!(
        "There is no upload {id} of yours (it may have been committed, deleted or left idle too long)."
    ))
}

/// The release a session's file goes to, as its URLs name it.
pub fn release_of(ctx: &ReleaseContext) -> AppResult<ReleaseRef> {
    let name = |n: &str| Name::parse(n).map_err(AppError::internal);
    Ok(ReleaseRef {
        project: name(&ctx.project.name)?,
        product: (ctx.product.name != ctx.project.name).then(|| name(&ctx.product.name)).transpose()?,
        version: Version::parse(&ctx.release.version).map_err(AppError::internal)?,
    })
}

/// A session as the API shows it.
pub fn view(row: &UploadSessionRow, ctx: &ReleaseContext, settings: &Settings) -> AppResult<UploadSession> {
    let idle_ms = i64::try_from(settings.idle_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    Ok(UploadSession {
        id: row.id.clone(),
        release: ctx.key(),
        path: ReleasePath::parse(&row.path).map_err(AppError::internal)?,
        size: u64::try_from(row.size).unwrap_or(0),
        offset: u64::try_from(row.received).unwrap_or(0),
        created_at: to_time(row.created_at),
        expires_at: to_time(row.updated_at.saturating_add(idle_ms)),
        url: format!("{}/api/v1/uploads/{}", settings.public_url, row.id),
    })
}

/// `POST …/uploads`: a new session, for those who compose the release while it takes files.
pub fn create(
    conn: &mut DbConnection,
    principal: &Principal,
    release: &ReleaseRef,
    request: &CreateUploadRequest,
    settings: &Settings,
) -> AppResult<(UploadSessionRow, ReleaseContext)> {
    if request.sha512.as_deref().is_some_and(|h| h.len() != 128 || !h.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(AppError::unprocessable("invalid_request", "sha512 is 128 hex digits.")
            .with_details(serde_json::json!({"field": "sha512"})));
    }
    if request.size > settings.limit {
        return Err(AppError::too_large(format!(
            "The file is larger than this server's limit of {} bytes; no upload was opened.",
            settings.limit
        )));
    }
    write_transaction(conn, |conn| {
        let ctx = releases::load_readable(conn, Some(principal), release)?;
        authz::authorize_release(principal, Action::ComposeRelease, &ctx)?;
        releases::require_files_change(&ctx, "upload files")?;
        if q::open_of_user(conn, principal.user_id)? >= MAX_OPEN_PER_PERSON {
            return Err(AppError::conflict(
                "too_many_uploads",
                format!(
                    "You have {MAX_OPEN_PER_PERSON} uploads open, the most one person may; commit or delete one first."
                ),
            ));
        }
        let id = hex::encode(secrets::random_bytes::<16>());
        let size = i64::try_from(request.size).map_err(AppError::internal)?;
        let expected = request.sha512.as_deref().map(str::to_ascii_lowercase);
        let row =
            q::insert(conn, &id, ctx.release.id, principal.user_id, request.path.as_str(), size, expected.as_deref())?;
        Ok((row, ctx))
    })
}

/// The session `id` if it is `principal`'s, with its release; to anyone else it does not exist.
pub fn own(conn: &mut DbConnection, principal: &Principal, id: &str) -> AppResult<(UploadSessionRow, ReleaseContext)> {
    let well_formed = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if !well_formed {
        return Err(not_found(id));
    }
    let row = q::find(conn, id)?.filter(|row| row.user_id == principal.user_id).ok_or_else(|| not_found(id))?;
    let ctx = crate::db::queries::releases::context_by_id(conn, row.release_id)?;
    Ok((row, ctx))
}

/// The session `id` if it is `principal`'s and its release takes files from them now (their
/// rights and its phase may have changed since the session opened), with the release.
pub fn writable(
    conn: &mut DbConnection,
    principal: &Principal,
    id: &str,
) -> AppResult<(UploadSessionRow, ReleaseContext)> {
    let (row, ctx) = own(conn, principal, id)?;
    authz::authorize_release(principal, Action::ComposeRelease, &ctx)?;
    releases::require_files_change(&ctx, "upload files")?;
    Ok((row, ctx))
}

/// The offset is `offset` still (409 with the right one otherwise), and the session is in use
/// now: its idle time starts again.
pub fn resume_at(conn: &mut DbConnection, row: &UploadSessionRow, offset: u64) -> AppResult<()> {
    let at = i64::try_from(offset).map_err(AppError::internal)?;
    if row.received != at || !q::advance(conn, &row.id, at, at)? {
        return Err(offset_mismatch(row.received, offset));
    }
    Ok(())
}

/// 409: bytes were sent from `sent`, but the session holds `held` (`details.offset`).
pub fn offset_mismatch(held: impl std::fmt::Display + serde::Serialize, sent: u64) -> AppError {
    AppError::conflict(
        "offset_mismatch",
        format!("The upload's offset is {held}, not {sent}: send the bytes from {held} on."),
    )
    .with_details(serde_json::json!({ "offset": held }))
}

/// Confirms the bytes from `from` to `to`; a conflict if the offset moved meanwhile or the
/// session is gone.
pub fn advance(conn: &mut DbConnection, id: &str, from: u64, to: u64) -> AppResult<()> {
    let (from, to) = (i64::try_from(from).map_err(AppError::internal)?, i64::try_from(to).map_err(AppError::internal)?);
    if q::advance(conn, id, from, to)? { Ok(()) } else { Err(not_found(id)) }
}

/// Ends a session (committed, or deleted by its creator); false if it was gone.
pub fn end(conn: &mut DbConnection, id: &str) -> AppResult<bool> {
    Ok(q::delete(conn, id)?)
}

/// Removes the sessions idle for longer than `idle_secs`; returns their ids.
pub fn expire(conn: &mut DbConnection, idle_secs: u64) -> AppResult<Vec<String>> {
    let idle_ms = i64::try_from(idle_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    Ok(q::delete_idle(conn, crate::db::now_ms().saturating_sub(idle_ms))?)
}
