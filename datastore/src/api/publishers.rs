//! Trusted publishing (`docs/TRUSTED-PUBLISHING.md`): a project's trusts, managed by its PMC,
//! and the exchange of a CI job's OpenID Connect ID token for a token scoped to the project.

use actix_web::{HttpResponse, delete, get, post, web};
use shared_models::Name;
use shared_models::publishing::{
    ExchangeRequest, ExchangeResponse, NewTrustedPublisher, TrustedPublisher, TrustedPublisherList,
};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{created, url_name};
use crate::auth::Principal;
use crate::auth::oidc::OidcError;
use crate::domain::publishers;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(create).service(remove).service(exchange);
}

/// The CI identities a project trusts (PMC members).
#[utoipa::path(operation_id = "list_trusted_publishers", tag = "trusted publishing", params(("project" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = TrustedPublisherList), (status = 400, body = shared_models::ErrorBody),
        (status = 401, body = shared_models::ErrorBody), (status = 403, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody)))]
#[get("/projects/{project}/trusted-publishers")]
pub async fn list(
    state: web::Data<AppState>,
    principal: Principal,
    name: web::Path<String>,
) -> AppResult<web::Json<TrustedPublisherList>> {
    let name = url_name(Name::parse(&name))?;
    Ok(web::Json(state.db.run(move |c| publishers::list(c, &principal, &name)).await?))
}

/// Trust a CI identity with some of a release manager's work on the project's releases (PMC
/// members): ID tokens of `issuer` for `audience` whose claims match every glob of `claims`
/// may be exchanged for a token that does `actions`.
#[utoipa::path(operation_id = "create_trusted_publisher", tag = "trusted publishing",
    request_body = NewTrustedPublisher, params(("project" = String, Path)), security(("bearer" = [])),
    responses((status = 201, body = TrustedPublisher), (status = 400, body = shared_models::ErrorBody),
        (status = 401, body = shared_models::ErrorBody),
        (status = 403, description = "not the project's PMC, or an issuer this server does not accept",
            body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody),
        (status = 409, description = "`too_many_trusted_publishers`", body = shared_models::ErrorBody),
        (status = 422, body = shared_models::ErrorBody)))]
#[post("/projects/{project}/trusted-publishers")]
pub async fn create(
    state: web::Data<AppState>,
    principal: Principal,
    name: web::Path<String>,
    body: web::Json<NewTrustedPublisher>,
) -> AppResult<HttpResponse> {
    let name = url_name(Name::parse(&name))?;
    let issuers = state.issuers.clone();
    let trust = state.db.run(move |c| publishers::create(c, &principal, &name, &body, issuers.allowed())).await?;
    Ok(created(&trust))
}

/// Stop trusting a CI identity (PMC members): the tokens exchanged under it stop working.
#[utoipa::path(operation_id = "delete_trusted_publisher", tag = "trusted publishing",
    params(("project" = String, Path), ("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 204, description = "deleted"), (status = 400, body = shared_models::ErrorBody),
        (status = 401, body = shared_models::ErrorBody), (status = 403, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody)))]
#[delete("/projects/{project}/trusted-publishers/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, i64)>,
) -> AppResult<HttpResponse> {
    let (name, id) = path.into_inner();
    let name = url_name(Name::parse(&name))?;
    state.db.run(move |c| publishers::delete(c, &principal, &name, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Exchange a CI job's OpenID Connect ID token for a short-lived bearer token of the project's
/// CI user (`ci:<project>`), which does what the project's matching trusts grant on its
/// releases, and nothing else. Each ID token is exchanged once.
#[utoipa::path(operation_id = "exchange_trusted_publishing_token", tag = "trusted publishing",
    request_body = ExchangeRequest,
    responses((status = 200, body = ExchangeResponse), (status = 400, body = shared_models::ErrorBody),
        (status = 401, description = "not a valid ID token of a trusted issuer, expired, or exchanged already",
            body = shared_models::ErrorBody),
        (status = 403, description = "valid, but no trust of the project matches it", body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody),
        (status = 422, description = "a malformed body or project name", body = shared_models::ErrorBody),
        (status = 502, description = "the issuer's keys could not be fetched", body = shared_models::ErrorBody)))]
#[post("/trusted-publishing/exchange")]
pub async fn exchange(
    state: web::Data<AppState>,
    body: web::Json<ExchangeRequest>,
) -> AppResult<web::Json<ExchangeResponse>> {
    let ExchangeRequest { token, project } = body.into_inner();
    let project =
        Name::parse(&project).map_err(|e| AppError::unprocessable("invalid_request", e.to_string()))?.to_string();
    let verified = state.issuers.verify(&token).await.map_err(|e| match e {
        OidcError::Unreachable(_) => AppError::new(
            actix_web::http::StatusCode::BAD_GATEWAY,
            "issuer_unreachable",
            format!("The ID token could not be checked: {e}."),
        ),
        e => AppError::unauthorized(format!("The ID token is refused: {e}.")),
    })?;
    let token_sha256 = crate::auth::secrets::hash(&token);
    let scope = project.clone();
    let granted = state.db.run(move |c| publishers::exchange(c, &scope, &verified, &token_sha256)).await?;
    let (jwt, expires_at) = state
        .jwt
        .issue_publisher(&project, &granted.uid, granted.trusts.clone(), granted.actions.clone())
        .map_err(AppError::internal)?;
    tracing::info!(project, uid = granted.uid, trusts = ?granted.trusts, actions = ?granted.actions,
        "exchanged an ID token for a trusted publisher's token");
    Ok(web::Json(ExchangeResponse {
        jwt,
        expires_at,
        project,
        uid: granted.uid,
        trusted_publishers: granted.trusts,
        actions: granted.actions,
    }))
}
