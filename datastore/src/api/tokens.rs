//! Authentication: personal access tokens and their exchange for short-lived JWTs.

use actix_web::{HttpResponse, web};
use actix_web::{delete, get, post};
use shared_models::api::{CreateTokenRequest, JwtRequest, JwtResponse, TokenCreated, TokenList, User};
use utoipa_actix_web::service_config::ServiceConfig;

use super::created;
use crate::auth::Principal;
use crate::domain::{directory, tokens};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create).service(list).service(delete).service(jwt).service(me);
}

/// Create a personal access token for yourself. The token is in this response only.
#[utoipa::path(operation_id = "create_token", tag = "authentication", request_body = CreateTokenRequest,
    security(("bearer" = [])),
    responses((status = 201, body = TokenCreated), (status = 401, body = shared_models::ErrorBody), (status = 422, body = shared_models::ErrorBody)))]
#[post("/tokens")]
pub async fn create(
    state: web::Data<AppState>,
    principal: Principal,
    body: web::Json<CreateTokenRequest>,
) -> AppResult<HttpResponse> {
    let created_token =
        state.db.run(move |c| tokens::create_token(c, principal.actor(), &principal.uid, &body.label)).await?;
    Ok(created(&created_token))
}

/// Your personal access tokens (never the secrets).
#[utoipa::path(operation_id = "list_tokens", tag = "authentication", security(("bearer" = [])),
    responses((status = 200, body = TokenList), (status = 401, body = shared_models::ErrorBody)))]
#[get("/tokens")]
pub async fn list(state: web::Data<AppState>, principal: Principal) -> AppResult<web::Json<TokenList>> {
    let tokens = state.db.run(move |c| tokens::list_tokens(c, &principal)).await?;
    Ok(web::Json(TokenList { tokens }))
}

/// Delete one of your personal access tokens; JWTs issued for it stop working too.
#[utoipa::path(operation_id = "delete_token", tag = "authentication", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The token id")),
    responses((status = 204), (status = 401, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody)))]
#[delete("/tokens/{id}")]
pub async fn delete(state: web::Data<AppState>, principal: Principal, id: web::Path<i64>) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    state.db.run(move |c| tokens::delete_token(c, &principal, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Exchange a user id and personal access token for a JWT (valid for at most 30 minutes).
#[utoipa::path(operation_id = "create_jwt", tag = "authentication", request_body = JwtRequest,
    responses((status = 200, body = JwtResponse), (status = 401, body = shared_models::ErrorBody)))]
#[post("/jwt")]
pub async fn jwt(state: web::Data<AppState>, body: web::Json<JwtRequest>) -> AppResult<web::Json<JwtResponse>> {
    let JwtRequest { uid, token } = body.into_inner();
    let uid_for_db = uid.clone();
    let (token_id, token_hash) = state.db.run(move |c| tokens::check_token(c, &uid_for_db, &token)).await?;
    let (jwt, expires_at) = state.jwt.issue(&uid, token_id, &token_hash).map_err(AppError::internal)?;
    Ok(web::Json(JwtResponse { jwt, expires_at }))
}

/// Who you are: your user record and memberships.
#[utoipa::path(operation_id = "me", tag = "authentication", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = shared_models::ErrorBody)))]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, principal: Principal) -> AppResult<web::Json<User>> {
    let user = state.db.run(move |c| directory::me(c, &principal)).await?;
    Ok(web::Json(user))
}
