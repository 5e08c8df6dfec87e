//! The JSON API under `/api/v1`: routes, and the extractors and helpers its handlers share.
//! Handlers are thin: parse, call the domain layer in a blocking database task, render.

pub mod admin;
pub mod advisories;
pub mod audit;
pub mod catalog;
pub mod directory;
pub mod files;
pub mod keys;
pub mod lifecycle;
pub mod openapi;
pub mod outbound;
pub mod publishers;
pub mod releases;
pub mod sbom;
pub mod tasks;
pub mod tokens;
pub mod uploads;
pub mod waivers;

use std::future::{Ready, ready};

use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, web};
use serde::Serialize;
use shared_models::{Name, ReleasePath, Version};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::domain::releases::ReleaseRef;
use crate::error::{AppError, AppResult};

/// Largest JSON body (a request carrying armored keys is the biggest).
const JSON_LIMIT: usize = 4 << 20;
/// Largest plain-text body (a KEYS file; the httpd one is 320 KB).
pub const TEXT_LIMIT: usize = 16 << 20;

/// Names start with a letter and versions with a digit, so `/releases/{project}/{version}` (the
/// main product) and `/releases/{project}/{product}/{version}` never match the same URL. The
/// lengths are the grammar's business: a name too long is a 400 that says so.
const PROJECT: &str = "{project:[a-z][a-z0-9-]*}";
const PRODUCT: &str = "{product:[a-z][a-z0-9-]*}";
/// A version, with `+` also as `%2B` (the router leaves that escape in place).
const VERSION: &str = "{version:[0-9](?:[A-Za-z0-9.+_-]|%2[Bb])*}";

/// Everything under `/api`: the documents about the API, then the routes themselves.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/openapi.json").route(web::get().to(openapi::document)));
    cfg.service(web::resource("/docs").route(web::get().to(openapi::page)));
    routes(&mut ServiceConfig::new(cfg));
}

/// The API's routes. Each handler carries its own path and OpenAPI description, and the
/// document is collected from this registration (see [`openapi::document`]): a route cannot be
/// served and left out of it, or documented and not served.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.app_data(json_config()).app_data(query_config()).app_data(path_config());
    cfg.service(scope("/runner/v1").configure(crate::runner_api::routes).default_service(web::to(not_found)));
    cfg.service(
        scope("/v1")
            .configure(tokens::routes)
            .configure(directory::routes)
            .configure(admin::routes)
            .configure(keys::routes)
            .configure(tasks::routes)
            .configure(audit::routes)
            .configure(waivers::routes)
            .configure(outbound::routes)
            .configure(uploads::routes)
            .configure(publishers::routes)
            .configure(advisories::routes)
            .configure(catalog::routes)
            .service(releases::create)
            .service(releases::verify_sha512)
            .service(
                scope(format!("/releases/{PROJECT}/{VERSION}").as_str())
                    .configure(release_routes)
                    .default_service(web::to(not_found)),
            )
            .service(
                scope(format!("/releases/{PROJECT}/{PRODUCT}/{VERSION}").as_str())
                    .configure(release_routes)
                    .default_service(web::to(not_found)),
            )
            .default_service(web::to(not_found)),
    );
}

/// What a release offers, under either spelling of its URL.
fn release_routes(cfg: &mut ServiceConfig) {
    cfg.service(releases::show)
        .service(files::list)
        .service(lifecycle::move_file) // before `/files/{path}`, which would also match it
        .service(files::put)
        .service(files::delete)
        .service(files::post_revision)
        .service(files::import_svn)
        .service(uploads::create)
        .service(releases::revisions)
        .service(releases::revision)
        .service(releases::events)
        .service(releases::checks)
        .service(lifecycle::start_vote)
        .service(lifecycle::cast_vote)
        .service(lifecycle::ballot_text)
        .service(lifecycle::show_votes)
        .service(lifecycle::tally_vote)
        .service(lifecycle::fetch_thread)
        .service(lifecycle::resolve)
        .service(lifecycle::publish_release)
        .service(lifecycle::archive_release)
        .service(lifecycle::revoke_release)
        .service(waivers::create)
        .service(waivers::list)
        .service(catalog::record)
        .service(catalog::list)
        .service(sbom::show)
        .service(sbom::generate)
        .service(outbound::release_policy)
        .service(outbound::set_release_policy)
        .service(outbound::release_mails);
}

/// No route matched: 405 with `Allow` when the path exists under other methods, else 404.
async fn not_found(req: HttpRequest) -> Result<HttpResponse, AppError> {
    let allowed = openapi::methods_at(req.path());
    if allowed.is_empty() || allowed.contains(&req.method().as_str()) {
        return Err(AppError::not_found(format!("There is no API endpoint {} {}.", req.method(), req.path())));
    }
    let allow = allowed.join(", ");
    let message = format!("{} is not allowed on {}; it answers {allow}.", req.method(), req.path());
    Err(AppError::method_not_allowed(allow, message))
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

/// How long a public document (the catalog, an OSV export) may be cached.
const DOCUMENT_MAX_AGE: &str = "public, max-age=300";
/// How long this process serves a document it built without building it again (unless a
/// change it made forgets it first): other processes' changes show within this time.
const DOCUMENT_REBUILT_AFTER: std::time::Duration = std::time::Duration::from_secs(30);
/// Documents kept at once (one per URL: each page of the catalog, each project's export).
const DOCUMENTS_KEPT: usize = 256;

/// The public documents this process built lately, by URL: a mirror polling the catalog, or a
/// scanner polling an export, costs one build per [`DOCUMENT_REBUILT_AFTER`], not one per poll.
#[derive(Debug, Default)]
pub struct Documents {
    built: std::sync::Mutex<std::collections::HashMap<String, Built>>,
}

#[derive(Debug, Clone)]
struct Built {
    at: std::time::Instant,
    generation: u64,
    body: web::Bytes,
    etag: String,
}

impl Documents {
    /// Something a document shows changed here: build each again when next asked.
    pub fn forget(&self) {
        self.built.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }

    fn fresh(&self, url: &str) -> Option<Built> {
        let built = self.built.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let found = built.get(url)?;
        (found.at.elapsed() < DOCUMENT_REBUILT_AFTER && found.generation == crate::download::phase_generation())
            .then(|| found.clone())
    }

    fn keep(&self, url: String, document: Built) {
        let mut built = self.built.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if built.len() >= DOCUMENTS_KEPT {
            built.clear();
        }
        built.insert(url, document);
    }
}

/// A public JSON document: 200, cacheable for five minutes, its `ETag` the SHA-256 of the
/// body, or 304 when the client's `If-None-Match` names it. `build` makes it (in a database
/// task) unless this process built it lately.
pub async fn public_document<T, F>(
    state: &crate::state::AppState,
    req: &HttpRequest,
    build: F,
) -> AppResult<HttpResponse>
where
    T: Serialize + Send + 'static,
    F: FnOnce(&mut crate::db::DbConnection) -> AppResult<T> + Send + 'static,
{
    use actix_web::http::header;
    let url = req.uri().to_string();
    let document = match state.documents.fresh(&url) {
        Some(document) => document,
        None => {
            let generation = crate::download::phase_generation();
            let value = state.db.run(build).await?;
            let body = web::Bytes::from(serde_json::to_vec(&value).map_err(AppError::internal)?);
            let etag = format!("\"{}\"", hex::encode(&openssl::sha::sha256(&body)[..16]));
            let document = Built { at: std::time::Instant::now(), generation, body, etag };
            state.documents.keep(url, document.clone());
            document
        }
    };
    let matches = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',').any(|tag| [document.etag.as_str(), "*"].contains(&tag.trim().trim_start_matches("W/")))
    });
    let mut response = if matches { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response.insert_header((header::CACHE_CONTROL, DOCUMENT_MAX_AGE)).insert_header((header::ETAG, document.etag));
    Ok(if matches { response.finish() } else { response.content_type("application/json").body(document.body) })
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
