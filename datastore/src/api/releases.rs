//! Releases: creating drafts, and reading a release, its revisions and its audit trail.

use actix_web::{HttpRequest, HttpResponse, web};
use actix_web::{get, post};
use shared_models::api::{CreateReleaseRequest, EventList, Release, RevisionList, RevisionManifest};

use super::{PageQuery, created};
use crate::auth::{Principal, Viewer};
use crate::domain::releases::{self, ReleaseRef};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Create a release of a project (or one of its products) in phase `draft`, at revision 0.
#[utoipa::path(operation_id = "create_release", tag = "releases", request_body = CreateReleaseRequest,
    security(("bearer" = [])),
    responses((status = 201, body = Release), (status = 401, body = shared_models::ErrorBody),
        (status = 403, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody),
        (status = 409, description = "the version exists", body = shared_models::ErrorBody),
        (status = 422, body = shared_models::ErrorBody)))]
#[post("/releases")]
pub async fn create(
    state: web::Data<AppState>,
    principal: Principal,
    body: web::Json<CreateReleaseRequest>,
) -> AppResult<HttpResponse> {
    let public_url = state.config.public_url();
    let release = state
        .db
        .run(move |c| {
            let ctx = releases::create(c, &principal, &body.project, body.product.as_ref(), &body.version)?;
            releases::detail(c, &ctx, &public_url)
        })
        .await?;
    Ok(created(&release))
}

/// A release. The product form of the URL, `/api/v1/releases/{project}/{product}/{version}`,
/// works for this and every other release endpoint.
#[utoipa::path(security((), ("bearer" = [])), operation_id = "show_release", tag = "releases",
    params(("project" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = Release), (status = 404, body = shared_models::ErrorBody)))]
#[get("")]
pub async fn show(state: web::Data<AppState>, viewer: Viewer, release: ReleaseRef) -> AppResult<web::Json<Release>> {
    let public_url = state.config.public_url();
    let detail = state
        .db
        .run(move |c| {
            let ctx = releases::load_readable(c, viewer.principal(), &release)?;
            releases::detail(c, &ctx, &public_url)
        })
        .await?;
    Ok(web::Json(detail))
}

/// Every revision of a release, oldest first.
#[utoipa::path(security((), ("bearer" = [])), operation_id = "list_revisions", tag = "releases",
    params(("project" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = RevisionList), (status = 404, body = shared_models::ErrorBody)))]
#[get("/revisions")]
pub async fn revisions(
    state: web::Data<AppState>,
    viewer: Viewer,
    release: ReleaseRef,
) -> AppResult<web::Json<RevisionList>> {
    let revisions = state
        .db
        .run(move |c| {
            let ctx = releases::load_readable(c, viewer.principal(), &release)?;
            releases::revisions(c, &ctx)
        })
        .await?;
    Ok(web::Json(RevisionList { revisions }))
}

/// The manifest of one revision: every file with its size and digests.
#[utoipa::path(security((), ("bearer" = [])), operation_id = "show_revision", tag = "releases",
    params(("project" = String, Path), ("version" = String, Path), ("revision" = i64, Path)),
    responses((status = 200, body = RevisionManifest), (status = 404, body = shared_models::ErrorBody)))]
#[get("/revisions/{revision}")]
pub async fn revision(
    state: web::Data<AppState>,
    viewer: Viewer,
    release: ReleaseRef,
    req: HttpRequest,
) -> AppResult<web::Json<RevisionManifest>> {
    let seq = req
        .match_info()
        .get("revision")
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(|| AppError::bad_request("invalid_revision", "A revision is a number."))?;
    let manifest = state
        .db
        .run(move |c| {
            let ctx = releases::load_readable(c, viewer.principal(), &release)?;
            releases::manifest(c, &ctx, Some(seq))
        })
        .await?;
    Ok(web::Json(manifest))
}

/// The audit trail of a release, oldest first.
#[utoipa::path(security((), ("bearer" = [])), operation_id = "list_events", tag = "releases",
    params(("project" = String, Path), ("version" = String, Path), PageQuery),
    responses((status = 200, body = EventList), (status = 404, body = shared_models::ErrorBody)))]
#[get("/events")]
pub async fn events(
    state: web::Data<AppState>,
    viewer: Viewer,
    release: ReleaseRef,
    page: web::Query<PageQuery>,
) -> AppResult<web::Json<EventList>> {
    let page = page.into_inner();
    let list = state
        .db
        .run(move |c| {
            let ctx = releases::load_readable(c, viewer.principal(), &release)?;
            releases::events(c, &ctx, page)
        })
        .await?;
    Ok(web::Json(list))
}

/// The checks of the latest revision: every result, a summary by status, and whether every
/// planned check has reported.
#[utoipa::path(security((), ("bearer" = [])), operation_id = "show_checks", tag = "releases",
    params(("project" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = shared_models::checks::ChecksReport), (status = 404, body = shared_models::ErrorBody)))]
#[get("/checks")]
pub async fn checks(
    state: web::Data<AppState>,
    viewer: Viewer,
    release: ReleaseRef,
) -> AppResult<web::Json<shared_models::checks::ChecksReport>> {
    let report = state
        .db
        .run(move |c| {
            crate::db::read_transaction(c, |c| {
                let ctx = releases::load_readable(c, viewer.principal(), &release)?;
                crate::domain::checks::report(c, &ctx)
            })
        })
        .await?;
    Ok(web::Json(report))
}

/// Were these exact bytes voted on and published, and by whom? Every release revision holding
/// the file with this SHA-512, with its phase, vote, signers and download URL (drafts only for
/// their committee).
#[utoipa::path(security((), ("bearer" = [])), operation_id = "verify_sha512", tag = "releases",
    params(("hex" = String, Path, description = "the file's SHA-512, 128 hex digits", pattern = "^[0-9a-fA-F]{128}$")),
    responses((status = 200, body = shared_models::api::Verification), (status = 400, body = shared_models::ErrorBody)))]
#[get("/verify/sha512/{hex}")]
pub async fn verify_sha512(
    state: web::Data<AppState>,
    viewer: crate::auth::Viewer,
    hex: web::Path<String>,
) -> AppResult<web::Json<shared_models::api::Verification>> {
    let public = state.config.public_url();
    let hex = hex.into_inner();
    Ok(web::Json(state.db.run(move |c| crate::domain::verify::verify(c, viewer.principal(), &hex, &public)).await?))
}
