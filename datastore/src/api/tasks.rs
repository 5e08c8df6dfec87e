//! Tasks: what the runners are doing for a release; admins cancel and retry.

use actix_web::{HttpResponse, web};
use actix_web::{get, post};
use serde::Deserialize;
use shared_models::runner::{Task, TaskList, TaskStatus};
use utoipa_actix_web::service_config::ServiceConfig;

use super::PageQuery;
use crate::auth::{Principal, Viewer, authz};
use crate::domain::releases::ReleaseRef;
use crate::domain::tasks;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(show).service(cancel).service(retry).service(schedules).service(run_schedule);
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskFilter {
    /// `project/version` or `project/product/version`.
    #[param(pattern = "^[a-z][a-z0-9-]*/([a-z][a-z0-9-]*/)?[0-9][A-Za-z0-9.+_-]*$")]
    pub release: Option<String>,
    /// Comma-separated statuses: `queued`, `leased`, `completed`, `failed`, `cancelled`.
    #[param(pattern = "^$|^(queued|leased|completed|failed|cancelled)(,(queued|leased|completed|failed|cancelled))*$")]
    pub status: Option<String>,
}

pub fn parse_release(value: &str) -> AppResult<ReleaseRef> {
    ReleaseRef::parse_key(value).or_else(|error| match error {
        Some(error) => super::url_name(Err(error)),
        None => {
            Err(AppError::bad_request("invalid_release", "release is `project/version` or `project/product/version`."))
        }
    })
}

/// Tasks, newest first; filter by release and status. Tasks of a draft are shown to its
/// committee's members and admins only.
#[utoipa::path(security((), ("bearer" = [])), operation_id = "list_tasks", tag = "tasks", params(TaskFilter, PageQuery),
    responses((status = 200, body = TaskList), (status = 400, body = shared_models::ErrorBody),
        (status = 401, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody)))]
#[get("/tasks")]
pub async fn list(
    state: web::Data<AppState>,
    viewer: Viewer,
    filter: web::Query<TaskFilter>,
    page: web::Query<PageQuery>,
) -> AppResult<web::Json<TaskList>> {
    let TaskFilter { release, status } = filter.into_inner();
    let release = release.as_deref().map(parse_release).transpose()?;
    let statuses = status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| s.split(',').collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|s| TaskStatus::parse(s).map_err(|e| AppError::bad_request("invalid_query", format!("status: {e}."))))
        .collect::<AppResult<Vec<_>>>()?;
    let page = page.into_inner();
    let list = state.db.run(move |c| tasks::list(c, viewer.principal(), release.as_ref(), &statuses, page)).await?;
    Ok(web::Json(list))
}

/// One task.
#[utoipa::path(security((), ("bearer" = [])), operation_id = "show_task", tag = "tasks", params(("id" = i64, Path)),
    responses((status = 200, body = Task), (status = 401, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody)))]
#[get("/tasks/{id}")]
pub async fn show(state: web::Data<AppState>, viewer: Viewer, id: web::Path<i64>) -> AppResult<web::Json<Task>> {
    let id = id.into_inner();
    let task = state.db.run(move |c| tasks::show(c, viewer.principal(), id)).await?;
    Ok(web::Json(task))
}

/// Cancel a queued or running task (admins). A runner stops it at its next lease renewal.
#[utoipa::path(operation_id = "cancel_task", tag = "tasks", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = shared_models::ErrorBody), (status = 409, body = shared_models::ErrorBody)))]
#[post("/tasks/{id}/cancel")]
pub async fn cancel(state: web::Data<AppState>, principal: Principal, id: web::Path<i64>) -> AppResult<HttpResponse> {
    authz::authorize_admin(&principal)?;
    let id = id.into_inner();
    state.db.run(move |c| tasks::cancel(c, principal.actor(), id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Run a failed or cancelled task again (admins).
#[utoipa::path(operation_id = "retry_task", tag = "tasks", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = shared_models::ErrorBody), (status = 409, body = shared_models::ErrorBody)))]
#[post("/tasks/{id}/retry")]
pub async fn retry(state: web::Data<AppState>, principal: Principal, id: web::Path<i64>) -> AppResult<HttpResponse> {
    authz::authorize_admin(&principal)?;
    let id = id.into_inner();
    state.db.run(move |c| tasks::retry(c, principal.actor(), id)).await?;
    state.wake_runners();
    Ok(HttpResponse::NoContent().finish())
}

/// The datastore's scheduled work (admins): each job, its interval, next run and how its last
/// run went (docs/OPERATIONS.md#scheduled-work).
#[utoipa::path(operation_id = "list_schedules", tag = "tasks", security(("bearer" = [])),
    responses((status = 200, body = shared_models::runner::ScheduleList),
        (status = 401, body = shared_models::ErrorBody), (status = 403, body = shared_models::ErrorBody)))]
#[get("/schedules")]
pub async fn schedules(
    state: web::Data<AppState>,
    principal: Principal,
) -> AppResult<web::Json<shared_models::runner::ScheduleList>> {
    Ok(web::Json(state.db.run(move |c| crate::domain::schedules::list(c, &principal)).await?))
}

/// Runs a scheduled job now (admins): 202, and within seconds its `last_*` fields say how it went.
#[utoipa::path(operation_id = "run_schedule", tag = "tasks", security(("bearer" = [])),
    params(("name" = String, Path, description = "`distribution_recheck`, `osv_refresh` or `asf_refresh`")),
    responses((status = 202, body = shared_models::runner::ScheduledJob),
        (status = 401, body = shared_models::ErrorBody), (status = 403, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody),
        (status = 409, description = "`job_off`: the job has nothing to do in this configuration", body = shared_models::ErrorBody)))]
#[post("/schedules/{name}/run")]
pub async fn run_schedule(
    state: web::Data<AppState>,
    principal: Principal,
    name: web::Path<String>,
) -> AppResult<HttpResponse> {
    let name = name.into_inner();
    let job = state.db.run(move |c| crate::domain::schedules::run_now(c, &principal, &name)).await?;
    Ok(HttpResponse::Accepted().json(job))
}
