//! Signing keys: adding, importing KEYS files, listing, the generated KEYS file, deleting.

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};
use actix_web::{delete, get, post};
use shared_models::Name;
use shared_models::api::{AddKeysRequest, KeyImportReport, KeyList, KeysLint};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{created, url_name};
use crate::auth::Principal;
use crate::domain::keys;
use crate::error::AppResult;
use crate::state::AppState;

/// The KEYS import body (text) is bounded by the application's `PayloadConfig` (`TEXT_LIMIT`).
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(add)
        .service(ownership_statement)
        .service(delete)
        .service(list)
        .service(lint)
        .service(keys_file)
        .service(import);
}

/// Add your own public keys, optionally to the KEYS of committees you belong to. Keys that
/// cannot be used are reported in `skipped`; if none can be used, nothing is stored (422).
#[utoipa::path(operation_id = "add_keys", tag = "keys", request_body = AddKeysRequest, security(("bearer" = [])),
    responses((status = 201, body = KeyImportReport), (status = 403, body = shared_models::ErrorBody),
        (status = 404, description = "a named committee does not exist", body = shared_models::ErrorBody),
        (status = 422, description = "no usable key; `details.skipped` says why", body = shared_models::ErrorBody)))]
#[post("/keys")]
pub async fn add(
    state: web::Data<AppState>,
    principal: Principal,
    body: web::Json<AddKeysRequest>,
) -> AppResult<HttpResponse> {
    let report = state
        .db
        .run(move |c| {
            keys::add_keys(c, &principal, &body.armored, &body.committees, body.ownership_signature.as_deref())
        })
        .await?;
    state.wake_runners(); // the committees' signature checks may have been queued again
    Ok(created(&report))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatementQuery {
    /// The key's fingerprint (40 hex characters for v4, 64 for v6).
    #[param(pattern = "^[0-9A-Fa-f]{32,64}$")]
    pub fingerprint: String,
}

/// The text to sign (`gpg --armor --detach-sign`) with a key to show it is yours, for
/// `ownership_signature` of `POST /api/v1/keys`. It names you and the key.
#[utoipa::path(tag = "keys", params(StatementQuery),
    security(("bearer" = [])),
    responses((status = 200, content_type = "text/plain", body = String), (status = 400, body = shared_models::ErrorBody),
        (status = 401, body = shared_models::ErrorBody)))]
#[get("/keys/ownership-statement")]
pub async fn ownership_statement(principal: Principal, query: web::Query<StatementQuery>) -> AppResult<HttpResponse> {
    let fingerprint = query.into_inner().fingerprint;
    if fingerprint.len() < 32 || fingerprint.len() > 64 || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(crate::error::AppError::bad_request("invalid_query", "fingerprint is the key's hex fingerprint."));
    }
    Ok(HttpResponse::Ok()
        .content_type(ContentType::plaintext())
        .body(keys::ownership_statement(&principal.uid, &fingerprint)))
}

/// Import a KEYS file (the raw text as the body) into a committee. Legacy PGP-2 and broken keys
/// are skipped and reported; the others are added or refreshed, all in one transaction.
#[utoipa::path(operation_id = "import_committee_keys", tag = "keys",
    params(("committee" = String, Path)),
    request_body(content = String, content_type = "text/plain", description = "A KEYS file"),
    security(("bearer" = [])),
    responses((status = 200, body = KeyImportReport), (status = 403, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody), (status = 413, body = shared_models::ErrorBody),
        (status = 422, description = "no usable key; `details.skipped` says why", body = shared_models::ErrorBody)))]
#[post("/committees/{committee}/keys/import")]
pub async fn import(
    state: web::Data<AppState>,
    principal: Principal,
    committee: web::Path<String>,
    body: web::Bytes,
) -> AppResult<web::Json<KeyImportReport>> {
    let committee = url_name(Name::parse(&committee))?;
    let report = state.db.run(move |c| keys::import_committee_keys(c, &principal, &committee, &body)).await?;
    state.wake_runners(); // the committee's signature checks may have been queued again
    Ok(web::Json(report))
}

/// The keys in a committee's KEYS.
#[utoipa::path(operation_id = "list_committee_keys", tag = "keys", params(("committee" = String, Path)),
    responses((status = 200, body = KeyList), (status = 404, body = shared_models::ErrorBody)))]
#[get("/committees/{committee}/keys")]
pub async fn list(state: web::Data<AppState>, committee: web::Path<String>) -> AppResult<web::Json<KeyList>> {
    let committee = url_name(Name::parse(&committee))?;
    let keys = state.db.run(move |c| keys::committee_keys(c, &committee)).await?;
    Ok(web::Json(KeyList { keys }))
}

/// What is wrong with a committee's keys (KEYS lint), for its members: keys that expire within
/// 30 days, revoked or weak keys still in KEYS, expired signing subkeys, keys whose user ids
/// name no member's registered address. A vote start runs the same lint with the release's
/// signers and refuses (409 `vote_blocked`) what would break its vote.
#[utoipa::path(operation_id = "lint_committee_keys", tag = "keys", params(("committee" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = KeysLint), (status = 403, body = shared_models::ErrorBody),
        (status = 404, body = shared_models::ErrorBody)))]
#[get("/committees/{committee}/keys/lint")]
pub async fn lint(
    state: web::Data<AppState>,
    principal: Principal,
    committee: web::Path<String>,
) -> AppResult<web::Json<KeysLint>> {
    let committee = url_name(Name::parse(&committee))?;
    let lint = state.db.run(move |c| keys::lint_committee(c, &principal, &committee)).await?;
    Ok(web::Json(lint))
}

/// A committee's KEYS file, generated from the database.
#[utoipa::path(operation_id = "committee_keys_file", tag = "keys", params(("committee" = String, Path)),
    responses((status = 200, content_type = "text/plain", body = String), (status = 404, body = shared_models::ErrorBody)))]
#[get("/committees/{committee}/KEYS")]
pub async fn keys_file(state: web::Data<AppState>, committee: web::Path<String>) -> AppResult<HttpResponse> {
    let committee = url_name(Name::parse(&committee))?;
    let text = state.db.run(move |c| keys::committee_keys_file(c, &committee)).await?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::plaintext())
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(text))
}

/// Delete a key that has not signed any release (its owner, an admin, or a release manager of a
/// committee holding it).
#[utoipa::path(operation_id = "delete_key", tag = "keys", params(("fingerprint" = String, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 403, body = shared_models::ErrorBody), (status = 404, body = shared_models::ErrorBody),
        (status = 409, description = "the key signed a release", body = shared_models::ErrorBody)))]
#[delete("/keys/{fingerprint:[0-9A-Fa-f]+}")]
pub async fn delete(
    state: web::Data<AppState>,
    principal: Principal,
    fingerprint: web::Path<String>,
) -> AppResult<HttpResponse> {
    let fingerprint = fingerprint.into_inner();
    state.db.run(move |c| keys::delete_key(c, &principal, &fingerprint)).await?;
    state.wake_runners(); // the holders' signature checks may have been queued again
    Ok(HttpResponse::NoContent().finish())
}
