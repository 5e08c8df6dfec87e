//! The JSON API under `/api/v1`: routes, and the extractors and helpers its handlers share.
//! Handlers are thin: parse, call the domain layer in a blocking database task, render.

pub mod admin;
pub mod directory;
pub mod files;
pub mod keys;
pub mod openapi;
pub mod releases;
pub mod tasks;
pub mod tokens;

use std::future::{Ready, ready};

use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, web};
use serde::Serialize;
use shared_models::{Name, ReleasePath, Version};

use crate::domain::releases::ReleaseRef;
use crate::error::{AppError, AppResult};

/// Largest JSON body (a request carrying armored keys is the biggest).
const JSON_LIMIT: usize = 4 << 20;
/// Largest plain-text body (a KEYS file; the httpd one is 320 KB).
pub const TEXT_LIMIT: usize = 16 << 20;

const PROJECT: &str = "{project:[a-z][a-z0-9-]{0,63}}";
const PRODUCT: &str = "{product:[a-z][a-z0-9-]{0,63}}";
/// A version, with `+` also as `%2B` (the router leaves that escape in place).
const VERSION: &str = "{version:[0-9](?:[A-Za-z0-9.+_-]|%2[Bb]){0,63}}";

/// Registers a release resource in both spellings: `/releases/{project}/{version}…` for the main
/// product and `/releases/{project}/{product}/{version}…` for the others. Names start with a
/// letter and versions with a digit, so the two never match the same URL.
fn release_resource(
    cfg: &mut web::ServiceConfig,
    suffix: &str,
    routes: fn(actix_web::Resource) -> actix_web::Resource,
) {
    cfg.service(routes(web::resource(format!("/releases/{PROJECT}/{VERSION}{suffix}"))));
    cfg.service(routes(web::resource(format!("/releases/{PROJECT}/{PRODUCT}/{VERSION}{suffix}"))));
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config()).app_data(query_config()).app_data(path_config());
    cfg.service(web::resource("/openapi.json").route(web::get().to(openapi::document)));
    cfg.service(web::resource("/docs").route(web::get().to(openapi::page)));
    cfg.service(web::scope("/runner/v1").configure(crate::runner_api::configure));
    cfg.service(
        web::scope("/v1")
            .configure(tokens::routes)
            .configure(directory::routes)
            .configure(admin::routes)
            .configure(keys::routes)
            .configure(tasks::routes)
            .configure(|cfg| {
                cfg.route("/releases", web::post().to(releases::create));
                release_resource(cfg, "", |r| r.get(releases::show));
                release_resource(cfg, "/files", |r| r.get(files::list));
                release_resource(cfg, "/files/{path:.+}", |r| r.put(files::put).delete(files::delete));
                release_resource(cfg, "/revisions", |r| r.post(files::post_revision).get(releases::revisions));
                release_resource(cfg, "/revisions/{revision}", |r| r.get(releases::revision));
                release_resource(cfg, "/events", |r| r.get(releases::events));
                release_resource(cfg, "/checks", |r| r.get(releases::checks));
            })
            .default_service(web::to(not_found)),
    );
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, AppError> {
    Err(AppError::not_found(format!("There is no API endpoint {} {}.", req.method(), req.path())))
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(JSON_LIMIT).error_handler(|err, _req| {
        match &err {
            JsonPayloadError::ContentType => AppError::new(
                actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the request body as JSON with `Content-Type: application/json`.",
            ),
            JsonPayloadError::Overflow { limit } | JsonPayloadError::OverflowKnownLength { limit, .. } => {
                AppError::too_large(format!("The JSON body is larger than the limit of {limit} bytes."))
            }
            JsonPayloadError::Deserialize(e) if e.is_data() => {
                AppError::unprocessable("invalid_request", format!("The request body is not valid: {e}"))
            }
            other => AppError::bad_request("invalid_json", format!("The request body is not valid JSON: {other}")),
        }
        .into()
    })
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let QueryPayloadError::Deserialize(e) = &err else {
            return AppError::bad_request("invalid_query", err.to_string()).into();
        };
        AppError::bad_request("invalid_query", format!("The query string is not valid: {e}")).into()
    })
}

fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|err, _req| AppError::bad_request("invalid_path", format!("The URL is not valid: {err}")).into())
}

/// 201 with a JSON body.
pub fn created<T: Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Created().json(body)
}

/// Names in URLs that break the grammar are malformed requests (400), not unknown resources.
pub fn url_name<T>(parsed: Result<T, shared_models::NameError>) -> AppResult<T> {
    parsed.map_err(|e| {
        let code = if e.kind == "path" { "invalid_path" } else { "invalid_name" };
        AppError::bad_request(code, e.to_string())
    })
}

impl FromRequest for ReleaseRef {
    type Error = AppError;
    type Future = Ready<AppResult<Self>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let info = req.match_info();
        let parsed = (|| {
            Ok(ReleaseRef {
                project: url_name(Name::parse(info.get("project").unwrap_or_default()))?,
                product: info.get("product").map(|p| url_name(Name::parse(p))).transpose()?,
                version: url_name(Version::parse(&url_segment(info.get("version").unwrap_or_default())?))?,
            })
        })();
        ready(parsed)
    }
}

/// A part of a URL as the router gave it, decoded once (see [`crate::url::decode_path`]).
fn url_segment(routed: &str) -> AppResult<String> {
    crate::url::decode_path(routed)
        .map_err(|e| AppError::bad_request("invalid_path", format!("The URL is not valid: {e}.")))
}

/// The `{path}` of a files URL: decoded once, in Unicode NFC, validated.
pub fn file_path(req: &HttpRequest) -> AppResult<ReleasePath> {
    url_name(ReleasePath::normalise(&url_segment(req.match_info().get("path").unwrap_or_default())?))
}

/// `?limit=&offset=` of list endpoints.
pub use crate::domain::page::Page as PageQuery;
