//! CVE records of a project, and their OSV export (`docs/CVES.md`).

use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use shared_models::Name;
use shared_models::advisories::{Cve, CveList, CveRequest, OsvExport};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{PageQuery, created, public_document, url_name};
use crate::auth::{Principal, Viewer};
use crate::domain::advisories;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(create).service(osv).service(show).service(update).service(remove);
}

/// The project and CVE id of a URL, or 400.
fn record_of(req: &HttpRequest) -> AppResult<(Name, String)> {
    let project = url_name(Name::parse(req.match_info().get("project").unwrap_or_default()))?;
    let id = req.match_info().get("id").unwrap_or_default();
    if advisories::is_cve_id(id) {
        Ok((project, id.to_owned()))
    } else {
        Err(AppError::bad_request("invalid_cve_id", format!("{id:?} is not a CVE id (such as CVE-2026-12345).")))
    }
}

/// A project's CVE records, the latest recorded first. Embargoed ones (not yet published) are listed for
/// the project's PMC and the admins only.
#[utoipa::path(security((), ("bearer" = [])), operation_id = "list_cves", tag = "advisories",
    params(("project" = String, Path), PageQuery),
    responses((status = 200, body = CveList), (status = 404, body = shared_models::ErrorBody)))]
#[get("/projects/{project}/cves")]
pub async fn list(
    state: web::Data<AppState>,
    viewer: Viewer,
    name: web::Path<String>,
    page: web::Query<PageQuery>,
) -> AppResult<web::Json<CveList>> {
    let name = url_name(Name::parse(&name))?;
    let page = page.into_inner();
    Ok(web::Json(state.db.run(move |c| advisories::list(c, viewer.principal(), &name, page)).await?))
}

/// Record a CVE of the project (its PMC), with the releases it affects and those that fix it.
/// Without `published` (or with a time still to come) it is embargoed until then.
#[utoipa::path(operation_id = "create_cve", tag = "advisories", request_body = CveRequest,
    params(("project" = String, Path)), security(("bearer" = [])),
    responses((status = 201, body = Cve), (status = 403, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody),
        (status = 409, description = "`duplicate`: the CVE is recorded already", body = shared_models::ErrorBody),
        (status = 422, description = "`invalid_request`: a field", body = shared_models::ErrorBody)))]
#[post("/projects/{project}/cves")]
pub async fn create(
    state: web::Data<AppState>,
    principal: Principal,
    name: web::Path<String>,
    body: web::Json<CveRequest>,
) -> AppResult<HttpResponse> {
    let name = url_name(Name::parse(&name))?;
    let cve = state.db.run(move |c| advisories::create(c, &principal, &name, &body)).await?;
    state.documents.forget();
    Ok(created(&cve))
}

/// The project's public CVE records as OSV documents (<https://ossf.github.io/osv-schema/>),
/// for downstream scanners. Cacheable for five minutes, with an `ETag`.
#[utoipa::path(operation_id = "project_osv", tag = "advisories", params(("project" = String, Path)),
    responses((status = 200, body = OsvExport), (status = 304, description = "unchanged (`If-None-Match`)"),
        (status = 404, body = shared_models::ErrorBody)))]
#[get("/projects/{project}/osv")]
pub async fn osv(state: web::Data<AppState>, req: HttpRequest, name: web::Path<String>) -> AppResult<HttpResponse> {
    let name = url_name(Name::parse(&name))?;
    let public_url = state.config.public_url();
    public_document(&state, &req, move |c| advisories::osv(c, &name, &public_url)).await
}

/// One CVE record (404 while embargoed, but to the PMC).
#[utoipa::path(security((), ("bearer" = [])), operation_id = "show_cve", tag = "advisories",
    params(("project" = String, Path), ("id" = String, Path, pattern = "^CVE-[0-9]{4}-[0-9]{4,19}$")),
    responses((status = 200, body = Cve), (status = 400, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody)))]
#[get("/projects/{project}/cves/{id}")]
pub async fn show(state: web::Data<AppState>, viewer: Viewer, req: HttpRequest) -> AppResult<web::Json<Cve>> {
    let (project, id) = record_of(&req)?;
    Ok(web::Json(state.db.run(move |c| advisories::show(c, viewer.principal(), &project, &id)).await?))
}

/// Replace a CVE record: every field and both lists of releases (the project's PMC). A public
/// record cannot be embargoed again.
#[utoipa::path(operation_id = "update_cve", tag = "advisories", request_body = CveRequest,
    params(("project" = String, Path), ("id" = String, Path, pattern = "^CVE-[0-9]{4}-[0-9]{4,19}$")),
    security(("bearer" = [])),
    responses((status = 200, body = Cve), (status = 400, body = shared_models::ErrorBody),
        (status = 403, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody),
        (status = 409, description = "`id_mismatch`: the body's id is not the URL's; `already_public`: it would embargo a public record", body = shared_models::ErrorBody),
        (status = 422, description = "`invalid_request`: a field", body = shared_models::ErrorBody)))]
#[put("/projects/{project}/cves/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    body: web::Json<CveRequest>,
) -> AppResult<web::Json<Cve>> {
    let (project, id) = record_of(&req)?;
    let cve = state.db.run(move |c| advisories::update(c, &principal, &project, &id, &body)).await?;
    state.documents.forget();
    Ok(web::Json(cve))
}

/// Remove a CVE record made by mistake (the project's PMC); the audit log keeps it.
#[utoipa::path(operation_id = "delete_cve", tag = "advisories",
    params(("project" = String, Path), ("id" = String, Path, pattern = "^CVE-[0-9]{4}-[0-9]{4,19}$")),
    security(("bearer" = [])),
    responses((status = 204, description = "removed"), (status = 400, body = shared_models::ErrorBody),
        (status = 403, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody)))]
#[delete("/projects/{project}/cves/{id}")]
pub async fn remove(state: web::Data<AppState>, principal: Principal, req: HttpRequest) -> AppResult<HttpResponse> {
    let (project, id) = record_of(&req)?;
    state.db.run(move |c| advisories::delete(c, &principal, &project, &id)).await?;
    state.documents.forget();
    Ok(HttpResponse::NoContent().finish())
}
