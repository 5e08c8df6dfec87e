//! Resumable uploads, as in the tus protocol's core: `POST …/uploads` opens a session for one
//! file of a draft (its path and size); `PATCH /api/v1/uploads/{id}` with `Upload-Offset` sends
//! bytes from the confirmed offset on, and what a broken connection did deliver is kept;
//! `GET` (or `HEAD`) tells the confirmed offset; `POST …/commit` makes the file part of a new
//! revision, exactly as `PUT …/files/{path}` does; `DELETE` gives up. Sessions idle for
//! `DATASTORE_UPLOAD_SESSION_IDLE_SECS` are removed with their bytes. Only the session's
//! creator sees it (to anyone else it does not exist); the release's rights are checked again
//! at the commit.

use std::collections::HashSet;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_web::{delete, get, patch, post, route};
use shared_models::api::{CreateUploadRequest, FileUploaded, UploadSession};

use crate::auth::Principal;
use crate::domain::releases::{self, Change, ReleaseRef};
use crate::domain::uploads::{self, Settings};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(show).service(head).service(append).service(commit).service(remove);
}

/// The offset header of the protocol.
const UPLOAD_OFFSET: &str = "upload-offset";
/// The declared size.
const UPLOAD_LENGTH: &str = "upload-length";
/// The body type a `PATCH` sends (tus); `application/octet-stream` is taken too.
const OFFSET_STREAM: &str = "application/offset+octet-stream";

fn settings(state: &AppState) -> Settings {
    Settings {
        limit: state.config.max_upload_bytes,
        idle_secs: state.config.upload_session_idle_secs,
        public_url: state.config.public_url(),
    }
}

/// A session's answer, with its offset and size in the protocol's headers too.
fn answer(mut response: actix_web::HttpResponseBuilder, session: &UploadSession) -> HttpResponse {
    response
        .insert_header((UPLOAD_OFFSET, session.offset.to_string()))
        .insert_header((UPLOAD_LENGTH, session.size.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    response.json(session)
}

/// Open a resumable upload of one file of a draft: its path and size. Bytes follow with
/// `PATCH` on the session's `url`.
#[utoipa::path(tag = "files", operation_id = "create_upload", request_body = CreateUploadRequest,
    params(("project" = String, Path), ("version" = String, Path)), security(("bearer" = [])),
    responses((status = 201, body = UploadSession, headers(("Location" = String, description = "The session's URL"))),
        (status = 400, body = shared_models::ErrorBody), (status = 401, body = shared_models::ErrorBody),
        (status = 403, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody),
        (status = 409, description = "not a draft, or too many uploads open", body = shared_models::ErrorBody),
        (status = 413, description = "over the upload limit", body = shared_models::ErrorBody)))]
#[post("/uploads")]
pub async fn create(
    state: web::Data<AppState>,
    principal: Principal,
    release: ReleaseRef,
    body: web::Json<CreateUploadRequest>,
) -> AppResult<HttpResponse> {
    let settings = settings(&state);
    let session = state
        .db
        .run(move |c| {
            let (row, ctx) = uploads::create(c, &principal, &release, &body, &settings)?;
            uploads::view(&row, &ctx, &settings)
        })
        .await?;
    tracing::info!(upload = %session.id, release = %session.release, path = %session.path, size = session.size, "upload opened");
    let mut response = HttpResponse::Created();
    response.insert_header((header::LOCATION, session.url.clone()));
    Ok(answer(response, &session))
}

/// The session `id` if it is the caller's.
async fn own(state: &AppState, principal: &Principal, id: &str) -> AppResult<UploadSession> {
    let (principal, id) = (principal.clone(), id.to_owned());
    let settings = settings(state);
    state
        .db
        .run(move |c| {
            let (row, ctx) = uploads::own(c, &principal, &id)?;
            uploads::view(&row, &ctx, &settings)
        })
        .await
}

/// An upload session of yours: how many bytes are confirmed (`offset`, also in `Upload-Offset`).
#[utoipa::path(tag = "files", operation_id = "show_upload",
    params(("id" = String, Path, pattern = "^[0-9a-f]{32}$")), security(("bearer" = [])),
    responses((status = 200, body = UploadSession, headers(("Upload-Offset" = u64), ("Upload-Length" = u64))),
        (status = 401, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody)))]
#[get("/uploads/{id}")]
pub async fn show(state: web::Data<AppState>, principal: Principal, id: web::Path<String>) -> AppResult<HttpResponse> {
    let session = own(&state, &principal, &id).await?;
    Ok(answer(HttpResponse::Ok(), &session))
}

/// The confirmed offset of an upload session of yours, in `Upload-Offset` (as the tus
/// protocol asks it), without a body.
#[utoipa::path(tag = "files", operation_id = "head_upload",
    params(("id" = String, Path, pattern = "^[0-9a-f]{32}$")), security(("bearer" = [])),
    responses((status = 200, description = "the session's offset and size", headers(("Upload-Offset" = u64), ("Upload-Length" = u64))),
        (status = 401, description = "no credentials"), (status = 404, description = "no such upload of yours")))]
#[route("/uploads/{id}", method = "HEAD")]
pub async fn head(state: web::Data<AppState>, principal: Principal, id: web::Path<String>) -> AppResult<HttpResponse> {
    let session = own(&state, &principal, &id).await?;
    Ok(answer(HttpResponse::Ok(), &session))
}

fn offset_of(req: &HttpRequest) -> AppResult<u64> {
    let value = req.headers().get(UPLOAD_OFFSET).and_then(|v| v.to_str().ok());
    value.and_then(|v| v.trim().parse().ok()).ok_or_else(|| {
        AppError::bad_request("invalid_offset", "Send `Upload-Offset`: the session's offset, where these bytes begin.")
    })
}

/// Send bytes of an upload, from `Upload-Offset` (which must be the session's offset) on, as
/// `application/offset+octet-stream`. The bytes that arrive are kept even when the connection
/// breaks: ask the offset and go on from there.
#[utoipa::path(tag = "files", operation_id = "append_upload",
    params(("id" = String, Path, pattern = "^[0-9a-f]{32}$"),
        ("Upload-Offset" = u64, Header, description = "Where these bytes begin: the session's offset")),
    request_body(content((Vec<u8> = "application/offset+octet-stream"), (Vec<u8> = "application/octet-stream"))),
    security(("bearer" = [])),
    responses((status = 204, description = "stored and confirmed", headers(("Upload-Offset" = u64, description = "The new offset"))),
        (status = 400, body = shared_models::ErrorBody), (status = 401, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody),
        (status = 409, description = "`Upload-Offset` is not the session's offset (the answer's `Upload-Offset` is), or another request is sending", body = shared_models::ErrorBody),
        (status = 413, description = "more bytes than declared", body = shared_models::ErrorBody),
        (status = 415, description = "not `application/offset+octet-stream`", body = shared_models::ErrorBody)))]
#[patch("/uploads/{id}")]
pub async fn append(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let session = own(&state, &principal, &id).await?;
    let kind = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let kind = kind.split(';').next().unwrap_or_default().trim();
    if !kind.eq_ignore_ascii_case(OFFSET_STREAM) && !kind.eq_ignore_ascii_case("application/octet-stream") {
        return Err(AppError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("Send the bytes as `{OFFSET_STREAM}`."),
        ));
    }
    let offset = offset_of(&req)?;
    if offset != session.offset {
        return Err(uploads::offset_mismatch(session.offset, offset));
    }
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| offset.saturating_add(length) > session.size) {
        return Err(AppError::too_large(format!(
            "The upload was declared as {} bytes; {offset} are in, and this body would go past the end. Nothing of it was stored.",
            session.size
        )));
    }
    let slot = super::files::upload_slot(&state)?;
    // Only a session of the caller's gets a lock (`own` above), so nobody fills the table of
    // locks with ids of their making. Under it, the session is read again: another request may
    // have moved its offset meanwhile; and the caller must still be allowed to add files.
    let mut live = state.upload_sessions.lock(&id)?;
    let (check, lookup) = (principal.clone(), id.clone());
    state
        .db
        .run(move |c| {
            let (row, _) = uploads::writable(c, &check, &lookup)?;
            uploads::resume_at(c, &row, offset)
        })
        .await?;
    let idle = Duration::from_secs(state.config.upload_idle_secs.max(1));
    // The work goes on in a task of its own: when the client goes away, the server drops this
    // request's handler, and the bytes that did arrive must still be synced and confirmed.
    let work = async move {
        let _slot = slot;
        let (reached, stopped) = state.upload_sessions.append(&id, &mut live, offset, session.size, body, idle).await?;
        if reached > offset {
            let record = id.clone();
            if let Err(e) = state.db.run(move |c| uploads::advance(c, &record, offset, reached)).await {
                // The digests cover bytes the database does not hold as confirmed: forget them.
                *live = None;
                return Err(e);
            }
            state.metrics.uploaded(reached - offset);
        }
        drop(live);
        tracing::info!(upload = %id, from = offset, to = reached, size = session.size, stopped = stopped.is_some(), "upload bytes received");
        Ok::<_, AppError>((reached, stopped))
    };
    let (reached, stopped) = actix_web::rt::spawn(work).await.map_err(AppError::internal)??;
    if let Some(error) = stopped {
        return Err(error);
    }
    let mut response = HttpResponse::NoContent();
    response.insert_header((UPLOAD_OFFSET, reached.to_string())).insert_header((header::CACHE_CONTROL, "no-store"));
    Ok(response.finish())
}

/// Make a complete upload a file of the release, in a new revision (as `PUT …/files/{path}`
/// does); the session ends.
#[utoipa::path(tag = "files", operation_id = "commit_upload",
    params(("id" = String, Path, pattern = "^[0-9a-f]{32}$")), security(("bearer" = [])),
    responses((status = 201, body = FileUploaded), (status = 401, body = shared_models::ErrorBody),
        (status = 403, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody),
        (status = 409, description = "not all bytes are in yet, or the release takes no files now", body = shared_models::ErrorBody),
        (status = 503, description = "the server is receiving its most uploads at once, or its file store does not answer; try again (`Retry-After`)", body = shared_models::ErrorBody)))]
#[post("/uploads/{id}/commit")]
pub async fn commit(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    own(&state, &principal, &id).await?;
    let mut live = state.upload_sessions.lock(&id)?;
    let (check, lookup) = (principal.clone(), id.clone());
    let (session, release) = state
        .db
        .run(move |c| {
            // The rights and the phase, as of now: they may have changed since the session opened.
            let (row, ctx) = uploads::writable(c, &check, &lookup)?;
            Ok::<_, AppError>((row, uploads::release_of(&ctx)?))
        })
        .await?;
    let size = u64::try_from(session.size).unwrap_or(0);
    if session.received != session.size {
        return Err(AppError::conflict(
            "upload_incomplete",
            format!("{} of the upload's {size} bytes are in; send the rest before committing.", session.received),
        )
        .with_details(serde_json::json!({"offset": session.received})));
    }
    let path = shared_models::ReleasePath::parse(&session.path).map_err(AppError::internal)?;
    // Sending the bytes to the blob store (a bucket, maybe) counts among the uploads received
    // at once, and goes on in a task of its own: a client that goes away mid-commit leaves the
    // blob stored or the session whole, never a half-sent multipart upload dropped.
    let slot = super::files::upload_slot(&state)?;
    let (publishing, blobs, publish_id) = (state.clone(), state.blobs.clone(), id.clone());
    let (meta, live) = actix_web::rt::spawn(async move {
        let _slot = slot;
        let meta = publishing.upload_sessions.publish(&publish_id, &mut live, size, blobs).await;
        (meta, live)
    })
    .await
    .map_err(AppError::internal)?;
    let meta = meta?;
    if let Some(expected) = session.expected_sha512.as_deref().filter(|e| *e != meta.sha512) {
        // Bytes other than those the client meant (a file that changed while it was sent): no
        // revision holds them, and the session ends; the file must be sent again.
        end(&state, &id, live).await?;
        tracing::warn!(upload = %id, expected, got = %meta.sha512, "an upload's bytes are not those its client declared");
        return Err(AppError::conflict(
            "digest_mismatch",
            format!(
                "The bytes received have the SHA-512 {}, not the {expected} declared; nothing was added, and the upload has ended: send the file again.",
                meta.sha512
            ),
        ));
    }
    let change = Change::Put { path: path.clone(), blob: meta.clone() };
    let description = format!("upload {path}");
    let ended = id.clone();
    // The bytes are in the store now (under their digest, where nothing else refers to them
    // unless a revision does): the session ends whether or not the revision is made.
    let revision = state
        .db
        .run(move |c| {
            let revision = releases::commit_revision(c, &principal, &release, &[change], &description);
            uploads::end(c, &ended)?;
            revision
        })
        .await;
    drop(live);
    state.upload_sessions.remove(&id);
    let revision = revision?;
    if !revision.tasks.is_empty() {
        state.wake_runners();
    }
    tracing::info!(upload = %id, path = %path, size, sha256 = %meta.sha256, revision = revision.seq, "upload committed");
    Ok(super::created(&FileUploaded { revision: revision.seq, path, size, sha256: meta.sha256, sha512: meta.sha512 }))
}

/// Give up an upload: the session and its bytes are removed.
#[utoipa::path(tag = "files", operation_id = "delete_upload",
    params(("id" = String, Path, pattern = "^[0-9a-f]{32}$")), security(("bearer" = [])),
    responses((status = 204, description = "removed"), (status = 401, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody), (status = 409, body = shared_models::ErrorBody)))]
#[delete("/uploads/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    own(&state, &principal, &id).await?;
    let live = state.upload_sessions.lock(&id)?;
    end(&state, &id, live).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Ends session `id`, whose lock `live` the caller holds: its row, then its bytes.
async fn end(state: &AppState, id: &str, live: tokio::sync::OwnedMutexGuard<crate::resumable::Live>) -> AppResult<()> {
    let ended = id.to_owned();
    state.db.run(move |c| uploads::end(c, &ended)).await?;
    drop(live);
    state.upload_sessions.remove(id);
    Ok(())
}

/// Removes idle sessions with their bytes, and bytes no session owns (a release deleted with
/// its sessions, a crash between the two); returns how many sessions and files went.
pub async fn sweep(state: &AppState) -> AppResult<(usize, usize)> {
    let idle_secs = state.config.upload_session_idle_secs;
    let sessions = state.upload_sessions.clone();
    let files = web::block(move || sessions.files()).await.map_err(AppError::internal)?.map_err(AppError::internal)?;
    let (expired, known) = state
        .db
        .run(move |c| {
            let expired = uploads::expire(c, idle_secs)?;
            let known: HashSet<String> = crate::db::queries::uploads::ids(c)?.into_iter().collect();
            Ok::<_, AppError>((expired, known))
        })
        .await?;
    for id in &expired {
        state.upload_sessions.remove(id);
    }
    let files: Vec<String> = files.into_iter().filter(|name| !expired.contains(name)).collect();
    let sessions = state.upload_sessions.clone();
    let orphans = web::block(move || sessions.remove_orphans(files, &known)).await.map_err(AppError::internal)?;
    Ok((expired.len(), orphans))
}

/// Sweeps idle upload sessions every minute.
pub async fn sweeper(state: AppState) {
    loop {
        match sweep(&state).await {
            Ok((0, 0)) => {}
            Ok((expired, orphans)) => tracing::info!(expired, orphans, "removed idle uploads and their bytes"),
            Err(e) => tracing::warn!(error = %e, "sweeping idle uploads failed; trying again"),
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}
