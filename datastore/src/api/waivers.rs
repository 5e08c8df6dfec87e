//! Audited waivers of check failures (`docs/LIFECYCLE.md`, "Waivers").

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use shared_models::api::{CreateWaiverRequest, Waiver, WaiverList};

use super::created;
use crate::auth::{Principal, Viewer};
use crate::domain::releases::ReleaseRef;
use crate::domain::waivers;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Waive failures of a checker (and rule) on matching paths of a draft, for its latest
/// revision, every revision of the release, or every release of the project. Rules marked
/// (fixed) in CHECKS.md are refused (422 `unwaivable_rule`).
#[utoipa::path(operation_id = "create_waiver", tag = "releases", request_body = CreateWaiverRequest,
    params(("project" = String, Path), ("version" = String, Path)), security(("bearer" = [])),
    responses((status = 201, body = Waiver),
        (status = 409, description = "`wrong_phase` (not a draft)", body = shared_models::ErrorBody),
        (status = 422, description = "`unwaivable_rule`, `invalid_request`", body = shared_models::ErrorBody)))]
#[post("/waivers")]
pub async fn create(
    state: web::Data<AppState>,
    principal: Principal,
    release: ReleaseRef,
    body: web::Json<CreateWaiverRequest>,
) -> AppResult<HttpResponse> {
    let waiver = state.db.run(move |c| waivers::create(c, &principal, &release, &body)).await?;
    Ok(created(&waiver))
}

/// The live waivers that apply to the release's latest revision.
#[utoipa::path(security((), ("bearer" = [])), operation_id = "list_waivers", tag = "releases",
    params(("project" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = WaiverList), (status = 404, body = shared_models::ErrorBody)))]
#[get("/waivers")]
pub async fn list(state: web::Data<AppState>, viewer: Viewer, release: ReleaseRef) -> AppResult<web::Json<WaiverList>> {
    Ok(web::Json(state.db.run(move |c| waivers::list(c, viewer.principal(), &release)).await?))
}

/// End a waiver: the failures it covered block again. It stays in the audit log.
#[utoipa::path(operation_id = "delete_waiver", tag = "releases",
    params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 204, description = "ended"), (status = 404, body = shared_models::ErrorBody)))]
#[delete("/waivers/{id}")]
pub async fn revoke(state: web::Data<AppState>, principal: Principal, req: HttpRequest) -> AppResult<HttpResponse> {
    let id = req
        .match_info()
        .get("id")
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(|| AppError::bad_request("invalid_waiver", "A waiver id is a number."))?;
    state.db.run(move |c| waivers::revoke(c, &principal, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(revoke);
}
