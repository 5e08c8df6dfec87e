//! Release files: streamed uploads (one file per PUT, or many in one multipart revision),
//! deletion and listing. Bytes go to the blob store while they arrive, hashed on the way;
//! nothing becomes visible until the new revision is committed.

use std::time::Instant;

use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_web::{delete, get, post, put};
use futures_util::StreamExt;
use shared_models::ReleasePath;
use shared_models::api::{FileList, FileUploaded, RevisionCreated};

use super::{created, file_path, url_name};
use crate::auth::{Action, Principal, Viewer, authz};
use crate::blob::BlobMeta;
use crate::domain::releases::{self, Change, ReleaseRef};
use crate::error::{AppError, AppResult};
use crate::ingest::{Ingest, IngestError, Received};
use crate::state::AppState;

/// Refuses an upload before reading its body: unknown release, no right to compose it, or not a draft.
async fn check_can_compose(
    state: &AppState,
    principal: &Principal,
    release: &ReleaseRef,
    doing: &'static str,
) -> AppResult<()> {
    let (principal, release) = (principal.clone(), release.clone());
    state
        .db
        .run(move |c| {
            let ctx = releases::load_readable(c, Some(&principal), &release)?;
            authz::authorize_release(&principal, Action::ComposeRelease, &ctx)?;
            releases::require_files_change(&ctx, doing)
        })
        .await
}

pub(crate) fn ingest_error(e: IngestError) -> AppError {
    match e {
        IngestError::TooLarge { limit } => AppError::too_large(format!(
            "The file is larger than this server's limit of {limit} bytes; nothing was stored."
        )),
        IngestError::Io(e) => crate::blob::failure("storing an upload", &e),
    }
}

pub(crate) fn content_length(req: &HttpRequest) -> Option<u64> {
    req.headers().get(actix_web::http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// A place among the uploads received at once, or 503: the server is busy receiving others.
pub(crate) fn upload_slot(state: &AppState) -> AppResult<tokio::sync::OwnedSemaphorePermit> {
    state.uploads.clone().try_acquire_owned().map_err(|_| {
        AppError::unavailable(format!(
            "{} uploads are being received now, the most this server takes at once; try again in a moment.",
            state.config.max_uploads
        ))
    })
}

/// Streams one body (or multipart field) of at most `limit` bytes into the blob store. A body
/// that sends nothing for `upload_idle_secs` is cut off: a stalled client holds nothing for long.
pub(crate) async fn receive<S, E>(state: &AppState, mut body: S, limit: u64) -> AppResult<Received>
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let idle = std::time::Duration::from_secs(state.config.upload_idle_secs.max(1));
    let mut ingest = Ingest::start(state.blobs.clone(), limit).map_err(AppError::internal)?;
    loop {
        let Ok(next) = tokio::time::timeout(idle, body.next()).await else {
            return Err(AppError::new(
                actix_web::http::StatusCode::REQUEST_TIMEOUT,
                "upload_stalled",
                format!("No byte of the upload arrived for {} s; nothing was stored.", idle.as_secs()),
            ));
        };
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| {
            AppError::bad_request(
                "upload_interrupted",
                format!("The upload stopped before its end ({e}); nothing was stored."),
            )
        })?;
        ingest.push(chunk).await.map_err(ingest_error)?;
    }
    ingest.finish().await.map_err(ingest_error)
}

pub(crate) async fn publish(state: &AppState, received: Received) -> AppResult<BlobMeta> {
    let meta = received.publish().await.map_err(ingest_error)?;
    state.metrics.uploaded(meta.size);
    Ok(meta)
}

/// Upload one file (the raw request body) as a new revision. Replaces a file of the same path.
#[utoipa::path(operation_id = "put_file", tag = "releases",
    params(("project" = String, Path), ("version" = String, Path), ("path" = String, Path, description = "Path inside the release, `/`-separated")),
    request_body(content = Option<Vec<u8>>, content_type = "application/octet-stream", description = "The file's bytes (none: an empty file)"),
    security(("bearer" = [])),
    responses((status = 201, body = FileUploaded), (status = 400, body = shared_models::ErrorBody),
        (status = 401, body = shared_models::ErrorBody), (status = 403, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody),
        (status = 409, description = "not a draft, or the path would also be a folder", body = shared_models::ErrorBody),
        (status = 413, description = "over the upload limit; nothing was stored", body = shared_models::ErrorBody)))]
#[put("/files/{path:.+}")]
pub async fn put(
    state: web::Data<AppState>,
    principal: Principal,
    release: ReleaseRef,
    req: HttpRequest,
    body: web::Payload,
) -> AppResult<HttpResponse> {
    let path = file_path(&req)?;
    check_can_compose(&state, &principal, &release, "upload files").await?;
    let _slot = upload_slot(&state)?;
    let limit = state.config.max_upload_bytes;
    if content_length(&req).is_some_and(|n| n > limit) {
        return Err(ingest_error(IngestError::TooLarge { limit }));
    }
    let started = Instant::now();
    let meta = publish(&state, receive(&state, body, limit).await?).await?;
    let elapsed = started.elapsed();
    tracing::info!(
        release = %release, path = %path, size = meta.size, sha256 = %meta.sha256,
        seconds = elapsed.as_secs_f64(), mib_per_s = meta.size as f64 / 1_048_576.0 / elapsed.as_secs_f64().max(1e-9),
        "file received"
    );
    let change = Change::Put { path: path.clone(), blob: meta.clone() };
    let description = format!("upload {path}");
    let revision =
        state.db.run(move |c| releases::commit_revision(c, &principal, &release, &[change], &description)).await?;
    if !revision.tasks.is_empty() {
        state.wake_runners();
    }
    Ok(created(&FileUploaded {
        revision: revision.seq,
        path,
        size: meta.size,
        sha256: meta.sha256,
        sha512: meta.sha512,
    }))
}

/// The body of `POST …/revisions`, as the OpenAPI document describes it: one part per file,
/// named by the file's path in the release (at most 1,000 parts unless configured otherwise).
#[derive(Debug)]
pub struct RevisionUpload;

impl utoipa::PartialSchema for RevisionUpload {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let path = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(shared_models::RELEASE_PATH_PATTERN))
            .min_length(Some(1))
            .max_length(Some(255));
        let bytes = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Binary)));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property_names(Some(path))
            .additional_properties(Some(bytes))
            .min_properties(Some(1))
            .into()
    }
}

impl utoipa::ToSchema for RevisionUpload {}

/// Upload many files as one new revision: a `multipart/form-data` body with one field per
/// file, the field name being the file's path in the release.
#[utoipa::path(tag = "releases",
    params(("project" = String, Path), ("version" = String, Path)),
    request_body(content = RevisionUpload, content_type = "multipart/form-data", description = "One field per file; field name = path"),
    security(("bearer" = [])),
    responses((status = 201, body = RevisionCreated), (status = 400, body = shared_models::ErrorBody),
        (status = 403, body = shared_models::ErrorBody), (status = 409, body = shared_models::ErrorBody),
        (status = 413, body = shared_models::ErrorBody), (status = 422, body = shared_models::ErrorBody)))]
#[post("/revisions")]
pub async fn post_revision(
    state: web::Data<AppState>,
    principal: Principal,
    release: ReleaseRef,
    req: HttpRequest,
    mut multipart: Multipart,
) -> AppResult<HttpResponse> {
    check_can_compose(&state, &principal, &release, "upload files").await?;
    let _slot = upload_slot(&state)?;
    let (max_total, max_files) = (state.config.max_revision_bytes, state.config.max_revision_files);
    let too_large = || {
        AppError::too_large(format!(
            "The files of one revision may hold at most {max_total} bytes together; nothing was stored. \
             Upload them in several revisions, or one PUT per file."
        ))
    };
    if content_length(&req).is_some_and(|n| n > max_total) {
        return Err(too_large());
    }
    let mut received: Vec<(ReleasePath, Received)> = Vec::new();
    let mut total = 0u64;
    while let Some(field) = multipart.next().await {
        let field = field.map_err(invalid_multipart)?;
        if received.len() >= max_files {
            return Err(AppError::too_large(format!(
                "One revision may hold at most {max_files} new files; nothing was stored."
            )));
        }
        let path = url_name(ReleasePath::normalise(&part_name(&field)?))?;
        if received.iter().any(|(p, _)| *p == path) {
            return Err(AppError::unprocessable("duplicate_path", format!("The file {path} is in the request twice.")));
        }
        let left = max_total - total;
        let file = match receive(&state, field, state.config.max_upload_bytes.min(left)).await {
            Err(e) if e.code == "payload_too_large" && left < state.config.max_upload_bytes => return Err(too_large()),
            other => other?,
        };
        total += file.meta().size;
        received.push((path, file));
    }
    // The multipart parser already refuses a body without parts; this guards the invariant
    // that a revision changes something.
    if received.is_empty() {
        return Err(AppError::unprocessable(
            "no_files",
            "The request holds no file; send one multipart field per file.",
        ));
    }
    let mut changes = Vec::with_capacity(received.len());
    for (path, file) in received {
        changes.push(Change::Put { path, blob: publish(&state, file).await? });
    }
    let description = format!("upload {} files", changes.len());
    let (revision, changes) = state
        .db
        .run(move |c| {
            let revision = releases::commit_revision(c, &principal, &release, &changes, &description)?;
            Ok::<_, AppError>((revision, changes))
        })
        .await?;
    if !revision.tasks.is_empty() {
        state.wake_runners();
    }
    let files = changes
        .iter()
        .filter_map(|change| match change {
            Change::Put { path, .. } => {
                revision.manifest.get(path.as_str()).map(|blob| releases::file_entry(path, blob))
            }
            Change::Delete { .. } | Change::Move { .. } => None,
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(created(&RevisionCreated { revision: revision.seq, files }))
}

/// The `name` of a multipart part, read exactly from its `Content-Disposition`: a quoted
/// string without quotes or backslashes in it, or a plain token. A name the parser would cut
/// short (`name="a"b.txt"`) or read through escapes is refused, never stored under another name.
fn part_name(field: &actix_multipart::Field) -> AppResult<String> {
    let refused = |why: &str| {
        AppError::bad_request(
            "invalid_multipart",
            format!(
                "A part's name is not valid: {why}. Send each file as `Content-Disposition: form-data; \
                 name=\"<path in the release>\"`, with no quote or backslash in the path."
            ),
        )
    };
    let header = field
        .headers()
        .get(actix_web::http::header::CONTENT_DISPOSITION)
        // Browsers send a name outside ASCII as raw UTF-8 (HTML's form encoding), which
        // `HeaderValue::to_str` refuses.
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .ok_or_else(|| refused("the part has no Content-Disposition in UTF-8"))?;
    let mut rest = header.split_once(';').map_or("", |(_, params)| params);
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Err(invalid_multipart(actix_multipart::MultipartError::ContentDispositionNameMissing));
        }
        let (key, after) = rest.split_once('=').ok_or_else(|| refused("a parameter has no value"))?;
        let key = key.trim().to_ascii_lowercase();
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"').ok_or_else(|| refused("a quoted value has no end"))?;
                let value = &quoted[..end];
                let after = quoted[end + 1..].trim_start();
                if !(after.is_empty() || after.starts_with(';')) {
                    return Err(refused("a quote inside a quoted value"));
                }
                if value.contains('\\') {
                    return Err(refused("a backslash inside a quoted value"));
                }
                (value, after.strip_prefix(';').unwrap_or(after))
            }
            None => after.split_once(';').unwrap_or((after, "")),
        };
        if key == "name" {
            return Ok(value.trim().to_owned());
        }
        if key == "name*" {
            return Err(invalid_multipart(actix_multipart::MultipartError::ContentDispositionNameMissing));
        }
        rest = after;
    }
}

/// The 400 for a multipart body the parser refused, saying what to send instead.
fn invalid_multipart(error: actix_multipart::MultipartError) -> AppError {
    let message = match error {
        // The parser's own text for this case wrongly says the header is missing.
        actix_multipart::MultipartError::ContentDispositionNameMissing => {
            "A part has no `name` parameter in its Content-Disposition: send each file as \
             `Content-Disposition: form-data; name=\"<path in the release>\"`. RFC 7578 forbids the \
             encoded form `name*=`, which some clients produce for names with `/` (with reqwest, build \
             the form with `percent_encode_noop()`)."
                .to_owned()
        }
        other => format!("The multipart body is not valid: {other}"),
    };
    AppError::bad_request("invalid_multipart", message)
}

/// Delete a file of a draft: a new revision without it.
#[utoipa::path(operation_id = "delete_file", tag = "releases",
    params(("project" = String, Path), ("version" = String, Path), ("path" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = FileList, description = "the files of the new revision"),
        (status = 403, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody),
        (status = 409, description = "not a draft", body = shared_models::ErrorBody)))]
#[delete("/files/{path:.+}")]
pub async fn delete(
    state: web::Data<AppState>,
    principal: Principal,
    release: ReleaseRef,
    req: HttpRequest,
) -> AppResult<web::Json<FileList>> {
    let path = file_path(&req)?;
    let description = format!("delete {path}");
    let (listing, queued) = state
        .db
        .run(move |c| {
            let revision =
                releases::commit_revision(c, &principal, &release, &[Change::Delete { path }], &description)?;
            Ok::<_, AppError>((releases::file_list(&revision)?, !revision.tasks.is_empty()))
        })
        .await?;
    if queued {
        state.wake_runners();
    }
    Ok(web::Json(listing))
}

/// Have a runner read a candidate's folder of the dist repository (`dev/<project>/…`, as
/// release managers stage them with `svn import`) and make its files a new revision of this
/// draft, by you; 202 with the task, whose outcome is the event `svn.imported` (with the
/// revision) or `svn.import_failed` (with why). Needs a runner with `RUNNER_SVN_URL`.
#[utoipa::path(operation_id = "import_svn", tag = "releases", request_body = shared_models::api::SvnImportRequest,
    params(("project" = String, Path), ("version" = String, Path)), security(("bearer" = [])),
    responses((status = 202, body = shared_models::api::TaskQueued),
        (status = 401, body = shared_models::ErrorBody), (status = 403, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody),
        (status = 409, description = "`wrong_phase`: not a draft", body = shared_models::ErrorBody),
        (status = 422, description = "`invalid_request`: not a folder under `dev/<project>/`", body = shared_models::ErrorBody)))]
#[post("/import/svn")]
pub async fn import_svn(
    state: web::Data<AppState>,
    principal: Principal,
    release: ReleaseRef,
    body: web::Json<shared_models::api::SvnImportRequest>,
) -> AppResult<HttpResponse> {
    let limits = (u64::try_from(state.config.max_revision_files).unwrap_or(u64::MAX), state.config.max_revision_bytes);
    let task = state.db.run(move |c| crate::domain::svn::import(c, &principal, &release, &body.folder, limits)).await?;
    state.wake_runners();
    Ok(HttpResponse::Accepted().json(shared_models::api::TaskQueued { task }))
}

/// The files of the latest revision.
#[utoipa::path(security((), ("bearer" = [])), operation_id = "list_files", tag = "releases",
    params(("project" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = FileList), (status = 404, body = shared_models::ErrorBody)))]
#[get("/files")]
pub async fn list(state: web::Data<AppState>, viewer: Viewer, release: ReleaseRef) -> AppResult<web::Json<FileList>> {
    let manifest = state
        .db
        .run(move |c| {
            let ctx = releases::load_readable(c, viewer.principal(), &release)?;
            releases::manifest(c, &ctx, None)
        })
        .await?;
    Ok(web::Json(FileList { revision: manifest.revision, files: manifest.files }))
}
