//! Administration: committees, projects, products, users, memberships, Apache data import and
//! runner registration. Every handler here is for admins only (checked in the domain layer).

use actix_web::{HttpResponse, web};
use actix_web::{get, patch, post, put};
use shared_models::Name;
use shared_models::api::{
    AsfImportCounts, AsfImportRequest, Committee, CreateCommitteeRequest, CreateProductRequest, CreateProjectRequest,
    CreateRunnerRequest, CreateUserRequest, Invitation, Project, RunnerCreated, RunnerInfo, SetMembershipRequest,
    UpdateRunnerRequest, UpdateUserRequest, User, UserList,
};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{PageQuery, created, url_name};
use crate::auth::{Principal, authz};
use crate::domain::{directory, people, tokens};
use crate::error::AppResult;
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create_committee)
        .service(create_project)
        .service(create_product)
        .service(create_user)
        .service(list_users)
        .service(update_user)
        .service(invite_user)
        .service(set_membership)
        .service(import_asf)
        .service(create_runner)
        .service(list_runners)
        .service(update_runner)
        .service(replace_runner_token);
}

/// Create a committee (a PMC, or a podling with `podling: true`).
#[utoipa::path(tag = "admin", request_body = CreateCommitteeRequest,
    security(("bearer" = [])),
    responses((status = 201, body = Committee), (status = 403, body = shared_models::ErrorBody), (status = 409, body = shared_models::ErrorBody)))]
#[post("/admin/committees")]
pub async fn create_committee(
    state: web::Data<AppState>,
    principal: Principal,
    body: web::Json<CreateCommitteeRequest>,
) -> AppResult<HttpResponse> {
    let committee = state.db.run(move |c| directory::create_committee(c, &principal, &body)).await?;
    Ok(created(&committee))
}

/// Create a project of a committee, with its main product (named like the project).
#[utoipa::path(tag = "admin", request_body = CreateProjectRequest,
    security(("bearer" = [])),
    responses((status = 201, body = Project), (status = 403, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody), (status = 409, body = shared_models::ErrorBody)))]
#[post("/admin/projects")]
pub async fn create_project(
    state: web::Data<AppState>,
    principal: Principal,
    body: web::Json<CreateProjectRequest>,
) -> AppResult<HttpResponse> {
    let project = state.db.run(move |c| directory::create_project(c, &principal, &body)).await?;
    Ok(created(&project))
}

/// Add a product to a project (released separately, e.g. `httpd/tools`).
#[utoipa::path(tag = "admin",
    params(("project" = String, Path)), request_body = CreateProductRequest, security(("bearer" = [])),
    responses((status = 201, body = Project), (status = 403, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody), (status = 409, body = shared_models::ErrorBody)))]
#[post("/admin/projects/{project}/products")]
pub async fn create_product(
    state: web::Data<AppState>,
    principal: Principal,
    project: web::Path<String>,
    body: web::Json<CreateProductRequest>,
) -> AppResult<HttpResponse> {
    let project = url_name(Name::parse(&project))?;
    let result = state.db.run(move |c| directory::create_product(c, &principal, &project, &body)).await?;
    Ok(created(&result))
}

/// Create a user.
#[utoipa::path(tag = "admin", request_body = CreateUserRequest,
    security(("bearer" = [])),
    responses((status = 201, body = User), (status = 403, body = shared_models::ErrorBody), (status = 409, body = shared_models::ErrorBody)))]
#[post("/admin/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    principal: Principal,
    body: web::Json<CreateUserRequest>,
) -> AppResult<HttpResponse> {
    let user = state
        .db
        .run(move |c| {
            authz::authorize_admin(&principal)?;
            directory::create_user(c, principal.actor(), &body)
        })
        .await?;
    Ok(created(&user))
}

/// Every user, by uid, with their flags and memberships.
#[utoipa::path(tag = "admin", operation_id = "list_users", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = UserList), (status = 401, body = shared_models::ErrorBody),
        (status = 403, body = shared_models::ErrorBody)))]
#[get("/admin/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    principal: Principal,
    page: web::Query<PageQuery>,
) -> AppResult<web::Json<UserList>> {
    let page = page.into_inner();
    let list = state.db.run(move |c| people::list(c, &principal, page, "")).await?;
    Ok(web::Json(list))
}

/// Change a user's flags: `foundation_member` (foundation members read every audit event).
#[utoipa::path(tag = "admin", operation_id = "update_user", request_body = UpdateUserRequest,
    params(("uid" = String, Path, pattern = "^[a-z0-9][a-z0-9._-]*$", max_length = 64)), security(("bearer" = [])),
    responses((status = 200, body = User), (status = 400, body = shared_models::ErrorBody), (status = 401, body = shared_models::ErrorBody),
        (status = 403, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody)))]
#[patch("/admin/users/{uid}")]
pub async fn update_user(
    state: web::Data<AppState>,
    principal: Principal,
    uid: web::Path<String>,
    body: web::Json<UpdateUserRequest>,
) -> AppResult<web::Json<User>> {
    let uid = url_name(shared_models::Uid::parse(&uid))?;
    let user = state
        .db
        .run(move |c| match body.foundation_member {
            Some(member) => people::set_foundation_member(c, &principal, uid.as_str(), member),
            None => {
                crate::auth::authz::authorize_admin(&principal)?;
                people::show(c, uid.as_str())
            }
        })
        .await?;
    Ok(web::Json(user))
}

/// A one-time link with which a user chooses their password (valid for 7 days). The link is in
/// this response only.
#[utoipa::path(tag = "admin", operation_id = "invite_user",
    params(("uid" = String, Path, pattern = "^[a-z0-9][a-z0-9._-]*$", max_length = 64)), security(("bearer" = [])),
    responses((status = 201, body = Invitation), (status = 400, body = shared_models::ErrorBody), (status = 401, body = shared_models::ErrorBody),
        (status = 403, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody),
        (status = 409, body = shared_models::ErrorBody)))]
#[post("/admin/users/{uid}/invitations")]
pub async fn invite_user(
    state: web::Data<AppState>,
    principal: Principal,
    uid: web::Path<String>,
) -> AppResult<HttpResponse> {
    let uid = url_name(shared_models::Uid::parse(&uid))?;
    let secret = state.db.run(move |c| people::invite(c, &principal, uid.as_str())).await?;
    let url = format!("{}/invitations/{secret}", state.config.public_url());
    Ok(created(&Invitation { url }))
}

/// Give a user a role in a committee (roles only add up; nothing is removed).
#[utoipa::path(tag = "admin", request_body = SetMembershipRequest,
    security(("bearer" = [])),
    responses((status = 200, body = User), (status = 403, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody)))]
#[put("/admin/memberships")]
pub async fn set_membership(
    state: web::Data<AppState>,
    principal: Principal,
    body: web::Json<SetMembershipRequest>,
) -> AppResult<web::Json<User>> {
    let user = state.db.run(move |c| directory::set_membership(c, &principal, &body)).await?;
    Ok(web::Json(user))
}

/// Import Apache's public committee, podling, project and roster files (each optional).
#[utoipa::path(tag = "admin", request_body = AsfImportRequest,
    security(("bearer" = [])),
    responses((status = 200, body = AsfImportCounts), (status = 403, body = shared_models::ErrorBody)))]
#[post("/admin/import/asf")]
pub async fn import_asf(
    state: web::Data<AppState>,
    principal: Principal,
    body: web::Json<AsfImportRequest>,
) -> AppResult<web::Json<AsfImportCounts>> {
    let counts = state.db.run(move |c| directory::import_asf(c, &principal, &body)).await?;
    Ok(web::Json(counts))
}

/// Every registered runner: the version and task kinds it last reported, when it was last
/// seen, and how many tasks it holds a lease on now.
#[utoipa::path(tag = "admin", operation_id = "list_runners", security(("bearer" = [])),
    responses((status = 200, body = shared_models::api::RunnerList), (status = 401, body = shared_models::ErrorBody),
        (status = 403, body = shared_models::ErrorBody)))]
#[get("/admin/runners")]
pub async fn list_runners(
    state: web::Data<AppState>,
    principal: Principal,
) -> AppResult<web::Json<shared_models::api::RunnerList>> {
    let list = state.db.run(move |c| tokens::runners(c, &principal)).await?;
    Ok(web::Json(list))
}

/// Register a runner. Its token is in this response only.
#[utoipa::path(tag = "admin", request_body = CreateRunnerRequest,
    security(("bearer" = [])),
    responses((status = 201, body = RunnerCreated), (status = 403, body = shared_models::ErrorBody), (status = 409, body = shared_models::ErrorBody)))]
#[post("/admin/runners")]
pub async fn create_runner(
    state: web::Data<AppState>,
    principal: Principal,
    body: web::Json<CreateRunnerRequest>,
) -> AppResult<HttpResponse> {
    let name = body.into_inner().name;
    let runner_name = name.clone();
    let (id, token) = state.db.run(move |c| tokens::register_runner_as(c, &principal, &runner_name)).await?;
    Ok(created(&RunnerCreated { id, name, token }))
}

/// The runner `name` as the runners list shows it.
fn runner_named(list: shared_models::api::RunnerList, name: &str) -> AppResult<RunnerInfo> {
    list.runners
        .into_iter()
        .find(|r| r.name == name)
        .ok_or_else(|| crate::error::AppError::not_found(format!("There is no runner {name}.")))
}

/// Disable a runner (its token stops working at once; the tasks it held are queued again when
/// their leases run out) or enable it again. An event records each change.
#[utoipa::path(tag = "admin", operation_id = "update_runner", request_body = UpdateRunnerRequest,
    params(("name" = String, Path, pattern = "^[a-z][a-z0-9-]*$", max_length = 64)), security(("bearer" = [])),
    responses((status = 200, body = RunnerInfo), (status = 400, body = shared_models::ErrorBody), (status = 401, body = shared_models::ErrorBody),
        (status = 403, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody)))]
#[patch("/admin/runners/{name}")]
pub async fn update_runner(
    state: web::Data<AppState>,
    principal: Principal,
    name: web::Path<String>,
    body: web::Json<UpdateRunnerRequest>,
) -> AppResult<web::Json<RunnerInfo>> {
    let name = url_name(Name::parse(&name))?;
    let runner = state
        .db
        .run(move |c| {
            tokens::set_runner_disabled(c, &principal, name.as_str(), body.disabled)?;
            runner_named(tokens::runners(c, &principal)?, name.as_str())
        })
        .await?;
    Ok(web::Json(runner))
}

/// Give a runner a new token, shown in this response only; its old token stops working (for a
/// token that leaked, or a runner moved to another machine).
#[utoipa::path(tag = "admin", operation_id = "replace_runner_token",
    params(("name" = String, Path, pattern = "^[a-z][a-z0-9-]*$", max_length = 64)), security(("bearer" = [])),
    responses((status = 201, body = RunnerCreated), (status = 400, body = shared_models::ErrorBody), (status = 401, body = shared_models::ErrorBody),
        (status = 403, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody)))]
#[post("/admin/runners/{name}/token")]
pub async fn replace_runner_token(
    state: web::Data<AppState>,
    principal: Principal,
    name: web::Path<String>,
) -> AppResult<HttpResponse> {
    let name = url_name(Name::parse(&name))?;
    let runner_name = name.clone();
    let (id, token) = state
        .db
        .run(move |c| {
            let token = tokens::replace_runner_token(c, &principal, runner_name.as_str())?;
            Ok::<_, crate::error::AppError>((
                runner_named(tokens::runners(c, &principal)?, runner_name.as_str())?.id,
                token,
            ))
        })
        .await?;
    Ok(created(&RunnerCreated { id, name, token }))
}
