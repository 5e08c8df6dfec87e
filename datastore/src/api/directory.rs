//! Public reads of the directory (committees, projects, their releases) and project policy.

use actix_web::web;
use actix_web::{get, put};
use serde::Deserialize;
use shared_models::Name;
use shared_models::api::{Committee, CommitteeList, Project, ProjectList, ProjectPolicy, ReleaseList};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{PageQuery, url_name};
use crate::auth::{Principal, Viewer};
use crate::domain::directory;
use crate::error::AppResult;
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(committees)
        .service(committee)
        .service(projects)
        .service(project)
        .service(policy)
        .service(set_policy)
        .service(releases);
}

/// All committees (PMCs and podlings), by name.
#[utoipa::path(operation_id = "list_committees", tag = "directory", params(PageQuery),
    responses((status = 200, body = CommitteeList)))]
#[get("/committees")]
pub async fn committees(
    state: web::Data<AppState>,
    page: web::Query<PageQuery>,
) -> AppResult<web::Json<CommitteeList>> {
    let page = page.into_inner();
    let list = state.db.run(move |c| directory::list_committees(c, page)).await?;
    Ok(web::Json(list))
}

/// One committee.
#[utoipa::path(operation_id = "show_committee", tag = "directory",
    params(("committee" = String, Path)),
    responses((status = 200, body = Committee), (status = 404, body = shared_models::ErrorBody)))]
#[get("/committees/{committee}")]
pub async fn committee(state: web::Data<AppState>, name: web::Path<String>) -> AppResult<web::Json<Committee>> {
    let name = url_name(Name::parse(&name))?;
    let committee = state.db.run(move |c| directory::committee(c, &name)).await?;
    Ok(web::Json(committee))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProjectSearch {
    /// Only projects whose name or display name contains this text.
    pub q: Option<String>,
}

/// All projects, by name; `?q=` searches names and display names.
#[utoipa::path(operation_id = "list_projects", tag = "directory", params(PageQuery, ProjectSearch),
    responses((status = 200, body = ProjectList)))]
#[get("/projects")]
pub async fn projects(
    state: web::Data<AppState>,
    page: web::Query<PageQuery>,
    search: web::Query<ProjectSearch>,
) -> AppResult<web::Json<ProjectList>> {
    let page = page.into_inner();
    let term = search.into_inner().q;
    let list = state.db.run(move |c| directory::list_projects(c, term.as_deref(), page)).await?;
    Ok(web::Json(list))
}

/// One project, with its products.
#[utoipa::path(operation_id = "show_project", tag = "directory", params(("project" = String, Path)),
    responses((status = 200, body = Project), (status = 404, body = shared_models::ErrorBody)))]
#[get("/projects/{project}")]
pub async fn project(state: web::Data<AppState>, name: web::Path<String>) -> AppResult<web::Json<Project>> {
    let name = url_name(Name::parse(&name))?;
    let project = state.db.run(move |c| directory::project(c, &name)).await?;
    Ok(web::Json(project))
}

/// A project's release policy.
#[utoipa::path(operation_id = "show_policy", tag = "directory", params(("project" = String, Path)),
    responses((status = 200, body = ProjectPolicy), (status = 404, body = shared_models::ErrorBody)))]
#[get("/projects/{project}/policy")]
pub async fn policy(state: web::Data<AppState>, name: web::Path<String>) -> AppResult<web::Json<ProjectPolicy>> {
    let name = url_name(Name::parse(&name))?;
    let current = state.db.run(move |c| directory::policy(&directory::find_project(c, &name)?.0)).await?;
    Ok(web::Json(current))
}

/// Change a project's release policy (PMC members). Releases copy it when their vote starts.
#[utoipa::path(tag = "directory", params(("project" = String, Path)),
    request_body = ProjectPolicy, security(("bearer" = [])),
    responses((status = 200, body = ProjectPolicy), (status = 403, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody), (status = 422, body = shared_models::ErrorBody)))]
#[put("/projects/{project}/policy")]
pub async fn set_policy(
    state: web::Data<AppState>,
    principal: Principal,
    name: web::Path<String>,
    body: web::Json<ProjectPolicy>,
) -> AppResult<web::Json<ProjectPolicy>> {
    let name = url_name(Name::parse(&name))?;
    let updated = state.db.run(move |c| directory::set_policy(c, &principal, &name, &body)).await?;
    state.wake_runners(); // checks that depend on the policy may have been queued again
    Ok(web::Json(updated))
}

/// A project's releases, newest first. Drafts are listed for the committee's members and admins.
#[utoipa::path(security((), ("bearer" = [])), operation_id = "list_project_releases", tag = "directory",
    params(("project" = String, Path), PageQuery),
    responses((status = 200, body = ReleaseList), (status = 404, body = shared_models::ErrorBody)))]
#[get("/projects/{project}/releases")]
pub async fn releases(
    state: web::Data<AppState>,
    viewer: Viewer,
    name: web::Path<String>,
    page: web::Query<PageQuery>,
) -> AppResult<web::Json<ReleaseList>> {
    let name = url_name(Name::parse(&name))?;
    let page = page.into_inner();
    let list = state.db.run(move |c| directory::project_releases(c, viewer.principal(), &name, page)).await?;
    Ok(web::Json(list))
}
