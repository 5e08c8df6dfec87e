//! Tasks: what the runners are doing for a release; admins cancel and retry.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shared_models::runner::{Task, TaskList};

use super::PageQuery;
use crate::auth::{Principal, authz};
use crate::db::queries::tasks as q;
use crate::domain::releases::{self, ReleaseRef};
use crate::domain::tasks;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/tasks").get(list))
        .service(web::resource("/tasks/{id}").get(show))
        .service(web::resource("/tasks/{id}/cancel").post(cancel))
        .service(web::resource("/tasks/{id}/retry").post(retry));
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskFilter {
    /// `project/version` or `project/product/version`.
    pub release: Option<String>,
    /// Comma-separated statuses: `queued`, `leased`, `completed`, `failed`, `cancelled`.
    pub status: Option<String>,
}

fn parse_release(value: &str) -> AppResult<ReleaseRef> {
    let parts: Vec<&str> = value.split('/').collect();
    let name = |s: &str| super::url_name(shared_models::Name::parse(s));
    let version = |s: &str| super::url_name(shared_models::Version::parse(s));
    match parts.as_slice() {
        [project, v] => Ok(ReleaseRef { project: name(project)?, product: None, version: version(v)? }),
        [project, product, v] => {
            Ok(ReleaseRef { project: name(project)?, product: Some(name(product)?), version: version(v)? })
        }
        _ => {
            Err(AppError::bad_request("invalid_release", "release is `project/version` or `project/product/version`."))
        }
    }
}

/// Tasks, newest first; filter by release and status.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", params(TaskFilter, PageQuery),
    responses((status = 200, body = TaskList), (status = 404, body = shared_models::ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    filter: web::Query<TaskFilter>,
    page: web::Query<PageQuery>,
) -> AppResult<web::Json<TaskList>> {
    let TaskFilter { release, status } = filter.into_inner();
    let release = release.as_deref().map(parse_release).transpose()?;
    let statuses: Vec<String> = status
        .map(|s| s.split(',').map(|x| x.trim().to_owned()).filter(|x| !x.is_empty()).collect())
        .unwrap_or_default();
    let page = page.into_inner();
    let list = state
        .db
        .run(move |c| {
            let release_id = release.map(|r| releases::load(c, &r).map(|ctx| ctx.release.id)).transpose()?;
            let (limit, offset) = page.sql();
            let (rows, total) = q::list(c, release_id, &statuses, limit, offset)?;
            Ok::<_, AppError>(TaskList { tasks: tasks::view(c, rows)?, page: page.info(total, "") })
        })
        .await?;
    Ok(web::Json(list))
}

/// One task.
#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = i64, Path)),
    responses((status = 200, body = Task), (status = 404, body = shared_models::ErrorBody)))]
pub async fn show(state: web::Data<AppState>, id: web::Path<i64>) -> AppResult<web::Json<Task>> {
    let id = id.into_inner();
    let task = state
        .db
        .run(move |c| {
            let row = q::find(c, id)?.ok_or_else(|| AppError::not_found(format!("There is no task {id}.")))?;
            Ok::<_, AppError>(tasks::view(c, vec![row])?.remove(0))
        })
        .await?;
    Ok(web::Json(task))
}

/// Cancel a queued or running task (admins). A runner stops it at its next lease renewal.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/cancel", tag = "tasks", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = shared_models::ErrorBody), (status = 409, body = shared_models::ErrorBody)))]
pub async fn cancel(state: web::Data<AppState>, principal: Principal, id: web::Path<i64>) -> AppResult<HttpResponse> {
    authz::authorize_admin(&principal)?;
    let id = id.into_inner();
    state.db.run(move |c| tasks::cancel(c, principal.actor(), id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Run a failed or cancelled task again (admins).
#[utoipa::path(post, path = "/api/v1/tasks/{id}/retry", tag = "tasks", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = shared_models::ErrorBody), (status = 409, body = shared_models::ErrorBody)))]
pub async fn retry(state: web::Data<AppState>, principal: Principal, id: web::Path<i64>) -> AppResult<HttpResponse> {
    authz::authorize_admin(&principal)?;
    let id = id.into_inner();
    state.db.run(move |c| tasks::retry(c, principal.actor(), id)).await?;
    state.wake_runners();
    Ok(HttpResponse::NoContent().finish())
}
