//! Distribution records of a release, and the public catalog of current releases.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use shared_models::catalog::{Catalog, Distribution, DistributionList, NewDistribution};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{PageQuery, created, public_document};
use crate::auth::{Principal, Viewer};
use crate::domain::catalog;
use crate::domain::releases::ReleaseRef;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_catalog).service(remove).service(verify);
}

/// Record where a release was distributed (Maven Central, PyPI, …): its PMC, or a trusted
/// publisher allowed to release. Only releases whose vote passed (preview, current, archived).
#[utoipa::path(operation_id = "record_distribution", tag = "releases", request_body = NewDistribution,
    params(("project" = String, Path), ("version" = String, Path)), security(("bearer" = [])),
    responses((status = 201, body = Distribution), (status = 403, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody),
        (status = 409, description = "`wrong_phase`, or `duplicate`: recorded already", body = shared_models::ErrorBody),
        (status = 422, description = "`invalid_request`", body = shared_models::ErrorBody)))]
#[post("/distributions")]
pub async fn record(
    state: web::Data<AppState>,
    principal: Principal,
    release: ReleaseRef,
    body: web::Json<NewDistribution>,
) -> AppResult<HttpResponse> {
    let recorded = state.db.run(move |c| catalog::record(c, &principal, &release, &body)).await?;
    state.documents.forget();
    state.wake_runners(); // a web address is checked at once
    Ok(created(&recorded))
}

/// Where a release was distributed, oldest record first; as public as the release.
#[utoipa::path(security((), ("bearer" = [])), operation_id = "list_distributions", tag = "releases",
    params(("project" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = DistributionList), (status = 404, body = shared_models::ErrorBody)))]
#[get("/distributions")]
pub async fn list(
    state: web::Data<AppState>,
    viewer: Viewer,
    release: ReleaseRef,
) -> AppResult<web::Json<DistributionList>> {
    Ok(web::Json(state.db.run(move |c| catalog::list(c, viewer.principal(), &release)).await?))
}

/// Remove a distribution record made by mistake (as for recording one); the audit log keeps it.
#[utoipa::path(operation_id = "delete_distribution", tag = "releases",
    params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 204, description = "removed"), (status = 400, body = shared_models::ErrorBody),
        (status = 403, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody)))]
#[delete("/distributions/{id}")]
pub async fn remove(state: web::Data<AppState>, principal: Principal, req: HttpRequest) -> AppResult<HttpResponse> {
    let id = distribution_id(&req)?;
    state.db.run(move |c| catalog::remove(c, &principal, id)).await?;
    state.documents.forget();
    Ok(HttpResponse::NoContent().finish())
}

/// Check now that a distribution serves the voted bytes (as for recording one): a runner fetches
/// the URL and records `verified`, `mismatch` or `unreachable` on the record, as an event too.
/// Records are checked when made and again every `DATASTORE_DISTRIBUTION_RECHECK_SECS`.
#[utoipa::path(operation_id = "verify_distribution", tag = "releases",
    params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 202, description = "a check is queued", body = Distribution),
        (status = 400, body = shared_models::ErrorBody),
        (status = 403, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody),
        (status = 409, description = "`wrong_phase`: the release is revoked", body = shared_models::ErrorBody),
        (status = 422, description = "`invalid_request`: coordinates, which cannot be fetched", body = shared_models::ErrorBody)))]
#[post("/distributions/{id}/verify")]
pub async fn verify(state: web::Data<AppState>, principal: Principal, req: HttpRequest) -> AppResult<HttpResponse> {
    let id = distribution_id(&req)?;
    let queued = state.db.run(move |c| crate::domain::parity::verify(c, &principal, id)).await?;
    state.wake_runners();
    Ok(HttpResponse::Accepted().json(queued))
}

fn distribution_id(req: &HttpRequest) -> AppResult<i64> {
    req.match_info()
        .get("id")
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(|| AppError::bad_request("invalid_id", "A distribution record's id is a number."))
}

/// Every current release, the latest released first: its files with their digests, download
/// URLs and signers, the manifest digest and outcome of its vote, the public CVEs it fixes and
/// is affected by, and where it was distributed. Public, cacheable for five minutes, with an
/// `ETag`; the same document, whole, is `/current/catalog.json` in the download tree.
#[utoipa::path(operation_id = "catalog", tag = "releases", params(PageQuery),
    responses((status = 200, body = Catalog), (status = 304, description = "unchanged (`If-None-Match`)"),
        (status = 400, body = shared_models::ErrorBody)))]
#[get("/catalog")]
pub async fn list_catalog(
    state: web::Data<AppState>,
    req: HttpRequest,
    page: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let page = page.into_inner();
    let public_url = state.config.public_url();
    public_document(&state, &req, move |c| catalog::catalog(c, page, &public_url)).await
}

/// The catalog (`GET /api/v1/catalog`), every current release in one document, in the
/// download tree: public, cacheable for five minutes, with an `ETag`.
#[utoipa::path(get, path = "/current/catalog.json", operation_id = "catalog_file", tag = "downloads",
    responses((status = 200, body = Catalog), (status = 304, description = "unchanged (`If-None-Match`)")))]
pub async fn whole(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let public_url = state.config.public_url();
    public_document(&state, &req, move |c| catalog::whole(c, &public_url)).await
}
