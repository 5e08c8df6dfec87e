//! Mail templates, webhooks and their deliveries, a release's mails, and the vote policy of
//! products and releases (`docs/NOTIFICATIONS.md`, `docs/LIFECYCLE.md`).

use actix_web::{HttpResponse, delete, get, post, put, web};
use shared_models::Name;
use shared_models::api::{EffectivePolicy, PolicyOverride};
use shared_models::outbound::{
    DeliveryList, MailKind, MailList, MailTemplateList, MailTemplateUpdate, NewWebhook, WebhookCreated, WebhookList,
};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{PageQuery, created, url_name};
use crate::auth::{Principal, Viewer};
use crate::domain::releases::ReleaseRef;
use crate::domain::{directory, mail, webhooks};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(templates)
        .service(set_template)
        .service(reset_template)
        .service(list_webhooks)
        .service(create_webhook)
        .service(delete_webhook)
        .service(deliveries)
        .service(product_policy)
        .service(set_product_policy);
}

fn mail_kind(kind: &str) -> AppResult<MailKind> {
    MailKind::parse(kind)
        .map_err(|_| AppError::not_found(format!("There is no mail template {kind:?}: vote, result or announce.")))
}

/// The templates of a project's three mails (the default where the project has none of its own).
#[utoipa::path(operation_id = "list_mail_templates", tag = "directory", params(("project" = String, Path)),
    responses((status = 200, body = MailTemplateList), (status = 400, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody)))]
#[get("/projects/{project}/mail-templates")]
pub async fn templates(state: web::Data<AppState>, name: web::Path<String>) -> AppResult<web::Json<MailTemplateList>> {
    let name = url_name(Name::parse(&name))?;
    Ok(web::Json(state.db.run(move |c| mail::list(c, &name)).await?))
}

/// Set a project's own template of one mail (PMC members). Checked by rendering it against a
/// sample release; one that does not render is refused (422 `invalid_template`).
#[utoipa::path(operation_id = "set_mail_template", tag = "directory", request_body = MailTemplateUpdate,
    params(("project" = String, Path), ("kind" = String, Path, description = "`vote`, `result` or `announce`")),
    security(("bearer" = [])),
    responses((status = 200, body = MailTemplateList), (status = 400, body = shared_models::ErrorBody),
        (status = 403, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody),
        (status = 422, description = "`invalid_template`", body = shared_models::ErrorBody)))]
#[put("/projects/{project}/mail-templates/{kind}")]
pub async fn set_template(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
    body: web::Json<MailTemplateUpdate>,
) -> AppResult<web::Json<MailTemplateList>> {
    let (name, kind) = path.into_inner();
    let name = url_name(Name::parse(&name))?;
    let kind = mail_kind(&kind)?;
    Ok(web::Json(state.db.run(move |c| mail::set(c, &principal, &name, kind, &body)).await?))
}

/// Go back to the platform's template of one mail (PMC members).
#[utoipa::path(operation_id = "reset_mail_template", tag = "directory",
    params(("project" = String, Path), ("kind" = String, Path)), security(("bearer" = [])),
    responses((status = 204, description = "the default applies"), (status = 400, body = shared_models::ErrorBody),
        (status = 403, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody)))]
#[delete("/projects/{project}/mail-templates/{kind}")]
pub async fn reset_template(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
) -> AppResult<HttpResponse> {
    let (name, kind) = path.into_inner();
    let name = url_name(Name::parse(&name))?;
    let kind = mail_kind(&kind)?;
    state.db.run(move |c| mail::reset(c, &principal, &name, kind)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A project's webhooks (PMC members), without their secrets.
#[utoipa::path(operation_id = "list_webhooks", tag = "directory", params(("project" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = WebhookList), (status = 400, body = shared_models::ErrorBody),
        (status = 401, body = shared_models::ErrorBody), (status = 403, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody)))]
#[get("/projects/{project}/webhooks")]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    principal: Principal,
    name: web::Path<String>,
) -> AppResult<web::Json<WebhookList>> {
    let name = url_name(Name::parse(&name))?;
    Ok(web::Json(state.db.run(move |c| webhooks::list(c, &principal, &name)).await?))
}

/// Register a webhook for the project's lifecycle events (PMC members). Its secret, the key of
/// the `X-TRL-Signature` HMAC, is in this answer only.
#[utoipa::path(operation_id = "create_webhook", tag = "directory", request_body = NewWebhook,
    params(("project" = String, Path)), security(("bearer" = [])),
    responses((status = 201, body = WebhookCreated), (status = 400, body = shared_models::ErrorBody),
        (status = 403, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody),
        (status = 409, description = "`too_many_webhooks`", body = shared_models::ErrorBody),
        (status = 422, body = shared_models::ErrorBody)))]
#[post("/projects/{project}/webhooks")]
pub async fn create_webhook(
    state: web::Data<AppState>,
    principal: Principal,
    name: web::Path<String>,
    body: web::Json<NewWebhook>,
) -> AppResult<HttpResponse> {
    let name = url_name(Name::parse(&name))?;
    let created_hook = state.db.run(move |c| webhooks::create(c, &principal, &name, &body)).await?;
    Ok(created(&created_hook))
}

/// Stop a webhook (PMC members); its delivery history stays readable.
#[utoipa::path(operation_id = "delete_webhook", tag = "directory",
    params(("project" = String, Path), ("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 204, description = "deleted"), (status = 400, body = shared_models::ErrorBody),
        (status = 403, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody)))]
#[delete("/projects/{project}/webhooks/{id}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, i64)>,
) -> AppResult<HttpResponse> {
    let (name, id) = path.into_inner();
    let name = url_name(Name::parse(&name))?;
    state.db.run(move |c| webhooks::delete(c, &principal, &name, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A webhook's deliveries, newest first, with status, attempts and the last error (PMC members).
#[utoipa::path(operation_id = "list_webhook_deliveries", tag = "directory",
    params(("project" = String, Path), ("id" = i64, Path), PageQuery), security(("bearer" = [])),
    responses((status = 200, body = DeliveryList), (status = 400, body = shared_models::ErrorBody),
        (status = 403, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody)))]
#[get("/projects/{project}/webhooks/{id}/deliveries")]
pub async fn deliveries(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, i64)>,
    page: web::Query<PageQuery>,
) -> AppResult<web::Json<DeliveryList>> {
    let (name, id) = path.into_inner();
    let name = url_name(Name::parse(&name))?;
    let page = page.into_inner();
    Ok(web::Json(state.db.run(move |c| webhooks::deliveries(c, &principal, &name, id, page)).await?))
}

/// A product's vote policy: what it sets over the project's, and the result.
#[utoipa::path(operation_id = "show_product_policy", tag = "directory",
    params(("project" = String, Path), ("product" = String, Path)),
    responses((status = 200, body = EffectivePolicy), (status = 400, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody)))]
#[get("/projects/{project}/products/{product}/policy")]
pub async fn product_policy(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> AppResult<web::Json<EffectivePolicy>> {
    let (project, product) = path.into_inner();
    let (project, product) = (url_name(Name::parse(&project))?, url_name(Name::parse(&product))?);
    Ok(web::Json(state.db.run(move |c| directory::product_policy(c, &project, &product)).await?))
}

/// Set a product's vote policy fields (PMC members); `{}` clears them.
#[utoipa::path(operation_id = "set_product_policy", tag = "directory", request_body = PolicyOverride,
    params(("project" = String, Path), ("product" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = EffectivePolicy), (status = 400, body = shared_models::ErrorBody),
        (status = 403, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody),
        (status = 422, body = shared_models::ErrorBody)))]
#[put("/projects/{project}/products/{product}/policy")]
pub async fn set_product_policy(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, String)>,
    body: web::Json<PolicyOverride>,
) -> AppResult<web::Json<EffectivePolicy>> {
    let (project, product) = path.into_inner();
    let (project, product) = (url_name(Name::parse(&project))?, url_name(Name::parse(&product))?);
    Ok(web::Json(state.db.run(move |c| directory::set_product_policy(c, &principal, &project, &product, &body)).await?))
}

/// A release's vote policy: what it sets, and the policy its vote would run under.
#[utoipa::path(security((), ("bearer" = [])), operation_id = "show_release_policy", tag = "vote",
    params(("project" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = EffectivePolicy), (status = 404, body = shared_models::ErrorBody)))]
#[get("/policy")]
pub async fn release_policy(
    state: web::Data<AppState>,
    viewer: Viewer,
    release: ReleaseRef,
) -> AppResult<web::Json<EffectivePolicy>> {
    Ok(web::Json(state.db.run(move |c| directory::release_policy(c, viewer.principal(), &release)).await?))
}

/// Set a draft's vote policy fields over its product's and project's (PMC members); `{}`
/// clears them. The vote snapshots the result when it starts.
#[utoipa::path(operation_id = "set_release_policy", tag = "vote", request_body = PolicyOverride,
    params(("project" = String, Path), ("version" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = EffectivePolicy), (status = 403, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody),
        (status = 409, description = "`wrong_phase` (not a draft)", body = shared_models::ErrorBody),
        (status = 422, body = shared_models::ErrorBody)))]
#[put("/policy")]
pub async fn set_release_policy(
    state: web::Data<AppState>,
    principal: Principal,
    release: ReleaseRef,
    body: web::Json<PolicyOverride>,
) -> AppResult<web::Json<EffectivePolicy>> {
    Ok(web::Json(state.db.run(move |c| directory::set_release_policy(c, &principal, &release, &body)).await?))
}

/// The mails of a release (vote announcement, result, release announcement) and where each is.
#[utoipa::path(security((), ("bearer" = [])), operation_id = "list_release_mails", tag = "vote",
    params(("project" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = MailList), (status = 404, body = shared_models::ErrorBody)))]
#[get("/mails")]
pub async fn release_mails(
    state: web::Data<AppState>,
    viewer: Viewer,
    release: ReleaseRef,
) -> AppResult<web::Json<MailList>> {
    Ok(web::Json(state.db.run(move |c| webhooks::mails(c, viewer.principal(), &release)).await?))
}
