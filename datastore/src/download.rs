//! The public download tree: `/{stage}/{project}/[{product}/]{version}/{path}`, `latest`, and
//! directory listings (HTML, or JSON with `Accept: application/json`).
//!
//! Files are named by content (ETag = SHA-256), served with `Range` and `If-None-Match`, and a
//! deliberate `Cache-Control`: short enough that a revocation reaches every CDN within the
//! hour. Releases move between stages by phase: a URL of the wrong stage redirects or explains.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::body::SizedStream;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, guard, web};
use bytes::Bytes;
use serde::Serialize;
use serde_json::json;
use shared_models::api::{DirectoryEntry, DirectoryListing};

use crate::blob::BlobReader;
use crate::db::models::BlobRow;
use crate::domain::downloads::{self, Freshness, Resolved};
use crate::domain::lifecycle::Stage;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::url;
use crate::web::{human_size, render, wants_json};

/// Files up to this size are read whole and sent in one write with their headers; their bytes
/// are kept in memory ([`Recent`]).
const SMALL: u64 = 64 * 1024;
/// How long a URL is taken to name the file it named a moment ago: a phase change (a release,
/// a revocation) reaches downloads within this time; the CDN in front caches far longer.
const RESOLVED_FOR: Duration = Duration::from_secs(1);
/// Resolved URLs and bytes of small files kept per HTTP worker, at most.
const RECENT_URLS: usize = 10_000;
const RECENT_BYTES: usize = 16 << 20;

/// What each HTTP worker remembers of recent downloads, so that the small files mirrors and
/// package tools fetch again and again (`.asc`, `.sha512`) cost no database query and no read:
/// the file a URL resolved to (for [`RESOLVED_FOR`]), and the bytes of small blobs, which never
/// change (a blob is named by its SHA-256). One per worker thread: no lock is shared.
#[derive(Debug, Default)]
pub struct Recent {
    urls: RefCell<HashMap<String, (Instant, u64, BlobRow, Freshness)>>,
    small: RefCell<(HashMap<String, Bytes>, usize)>,
}

impl Recent {
    fn file(&self, url: &str) -> Option<(BlobRow, Freshness)> {
        let urls = self.urls.borrow();
        let (at, generation, blob, freshness) = urls.get(url)?;
        (at.elapsed() < RESOLVED_FOR && *generation == PHASES.load(Ordering::Acquire))
            .then(|| (blob.clone(), *freshness))
    }

    /// Remembers what `url` resolved to, as of `generation` (read before the lookup, so a
    /// phase change during it makes the entry stale at once).
    fn remember_file(&self, url: String, generation: u64, blob: &BlobRow, freshness: Freshness) {
        let mut urls = self.urls.borrow_mut();
        if urls.len() >= RECENT_URLS {
            urls.clear();
        }
        urls.insert(url, (Instant::now(), generation, blob.clone(), freshness));
    }

    fn bytes(&self, sha256: &str) -> Option<Bytes> {
        self.small.borrow().0.get(sha256).cloned()
    }

    fn remember_bytes(&self, sha256: &str, bytes: &Bytes) {
        let mut small = self.small.borrow_mut();
        if small.1 + bytes.len() > RECENT_BYTES {
            small.0.clear();
            small.1 = 0;
        }
        small.1 += bytes.len();
        small.0.insert(sha256.to_owned(), bytes.clone());
    }
}

/// Counts the phase changes this process made: a URL resolved before the latest one is resolved
/// again, so a release or a revocation here shows at once (other processes' within
/// [`RESOLVED_FOR`]).
static PHASES: AtomicU64 = AtomicU64::new(0);

/// A release changed phase: what its download URLs name may have changed.
pub fn phases_changed() {
    PHASES.fetch_add(1, Ordering::AcqRel);
}

/// How many phase changes this process has made: what was built before a change (a public
/// document, a resolved URL) is built again after it.
pub fn phase_generation() -> u64 {
    PHASES.load(Ordering::Acquire)
}

const CACHE_VERSIONED: &str = "public, max-age=3600";
const CACHE_CANDIDATE: &str = "public, max-age=60";
const CACHE_LISTING: &str = "public, max-age=300";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::Data::new(Recent::default()));
    let get_or_head = || guard::Any(guard::Get()).or(guard::Head());
    cfg.service(web::resource("/{stage:candidate|current|revoked}").route(
        web::route().guard(get_or_head()).to(|req: HttpRequest| async move { redirect(&format!("{}/", req.path())) }),
    ));
    // The catalog of every current release, whole (`GET /api/v1/catalog` pages through it).
    cfg.service(
        web::resource("/current/catalog.json").route(web::route().guard(get_or_head()).to(crate::api::catalog::whole)),
    );
    cfg.service(
        web::resource("/{stage:candidate|current|revoked}/{tail:.*}")
            .route(web::route().guard(get_or_head()).to(download)),
    );
}

/// The `Cache-Control` of what a URL resolved to.
fn cache_control(freshness: Freshness) -> &'static str {
    match freshness {
        Freshness::File(Stage::Candidate) => CACHE_CANDIDATE,
        Freshness::File(Stage::Current | Stage::Revoked) => CACHE_VERSIONED,
        Freshness::Moving => CACHE_LISTING,
    }
}

/// Download a release file, or list a folder of the download tree. The product form
/// `/{stage}/{project}/{product}/{version}/{path}` works the same way.
#[utoipa::path(get, path = "/{stage}/{project}/{version}/{path}", tag = "downloads",
    params(
        ("stage" = String, Path, description = "`candidate`, `current` or `revoked`"),
        ("project" = String, Path), ("version" = String, Path, description = "A version, or `latest` (current stage)"),
        ("path" = String, Path, description = "A file; a path ending in `/` lists a folder"),
    ),
    responses(
        (status = 200, description = "The file (or listing: HTML, or JSON with `Accept: application/json`)", body = DirectoryListing),
        (status = 206, description = "Part of the file (`Range`)"),
        (status = 304, description = "Not modified (`If-None-Match` matched the ETag, the file's SHA-256)"),
        (status = 404, body = shared_models::ErrorBody),
        (status = 410, description = "The release was revoked; `details.location` says where its files are now", body = shared_models::ErrorBody),
        (status = 416, description = "The range is outside the file"),
    ))]
pub async fn download(
    state: web::Data<AppState>,
    recent: web::Data<Recent>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    if let Some((blob, freshness)) = recent.file(req.path()) {
        return serve_file(&state, &recent, &req, blob, freshness).await;
    }
    let html = !wants_json(&req);
    let as_page = |e: AppError| if html { e.as_html() } else { e };
    let stage = Stage::parse(req.match_info().get("stage").unwrap_or_default())
        .ok_or_else(|| as_page(AppError::not_found("Unknown stage.")))?;
    let tail = req.match_info().get("tail").unwrap_or_default();
    let dir = tail.is_empty() || tail.ends_with('/');
    let segments = tail
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            url::decode_path(s)
                .map_err(|e| AppError::bad_request("invalid_path", format!("The URL is not valid: {e}.")))
        })
        .collect::<AppResult<Vec<String>>>()
        .map_err(as_page)?;
    let generation = PHASES.load(Ordering::Acquire);
    let resolved = state.db.run(move |c| downloads::resolve(c, stage, &segments, dir)).await.map_err(as_page)?;
    match resolved {
        Resolved::Redirect(location) => Ok(redirect(&location)),
        Resolved::Listing { entries, notice } => listing(&req, entries, notice.as_deref()),
        Resolved::File { blob, freshness } => {
            recent.remember_file(req.path().to_owned(), generation, &blob, freshness);
            serve_file(&state, &recent, &req, blob, freshness).await
        }
    }
}

/// Sends a release file: a small one from memory, or read whole in one go; a large one
/// streamed.
async fn serve_file(
    state: &AppState,
    recent: &Recent,
    req: &HttpRequest,
    blob: BlobRow,
    freshness: Freshness,
) -> AppResult<HttpResponse> {
    let cache = cache_control(freshness);
    if let Some(bytes) = recent.bytes(&blob.sha256) {
        return Ok(serve(req, Body::Bytes(bytes), &blob, cache));
    }
    let small = u64::try_from(blob.size).is_ok_and(|size| size <= SMALL);
    if !small && let Some(prefix) = accel_prefix(state, req) {
        return Ok(accel_redirect(req, &blob, cache, prefix));
    }
    let body = async {
        let reader = state.blobs.open_blob(&blob.sha256).await?;
        if small { reader.read_all().await.map(Body::Bytes) } else { Ok(Body::File(reader)) }
    }
    .await
    .map_err(|e: io::Error| crate::blob::failure(&format!("reading blob {}", blob.sha256), &e))?;
    if let Body::Bytes(bytes) = &body {
        recent.remember_bytes(&blob.sha256, bytes);
    }
    Ok(serve(req, body, &blob, cache))
}

fn redirect(location: &str) -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, CACHE_LISTING))
        .finish()
}

#[derive(Serialize)]
struct ListingRow<'a> {
    #[serde(flatten)]
    entry: &'a DirectoryEntry,
    href: String,
    size_human: String,
}

fn listing(req: &HttpRequest, entries: Vec<DirectoryEntry>, notice: Option<&str>) -> AppResult<HttpResponse> {
    let path = req.path().to_owned();
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, CACHE_LISTING)).insert_header((header::VARY, "Accept"));
    if wants_json(req) {
        return Ok(response.json(DirectoryListing { path, entries }));
    }
    let rows: Vec<ListingRow<'_>> = entries
        .iter()
        .map(|e| ListingRow {
            entry: e,
            href: format!("{}{}", url::encode_segment(&e.name), if e.kind == "dir" { "/" } else { "" }),
            size_human: e.size.map(human_size).unwrap_or_default(),
        })
        .collect();
    let parent = (path.trim_end_matches('/').matches('/').count() > 1).then_some("../");
    let html = render("listing.html", &json!({"path": path, "entries": rows, "parent": parent, "notice": notice}))?;
    Ok(response.content_type("text/html; charset=utf-8").body(html))
}

/// A guess of the media type from the name; unknown types download as bytes.
fn content_type(path: &str) -> &'static str {
    let lower = path.to_ascii_lowercase();
    let by_suffix: [(&str, &str); 16] = [
        (".tar.gz", "application/gzip"),
        (".tgz", "application/gzip"),
        (".gz", "application/gzip"),
        (".bz2", "application/x-bzip2"),
        (".xz", "application/x-xz"),
        (".zip", "application/zip"),
        (".jar", "application/java-archive"),
        (".asc", "application/pgp-signature"),
        (".sig", "application/pgp-signature"),
        (".sha512", "text/plain; charset=utf-8"),
        (".sha256", "text/plain; charset=utf-8"),
        (".txt", "text/plain; charset=utf-8"),
        (".md", "text/plain; charset=utf-8"),
        (".json", "application/json"),
        (".html", "text/html; charset=utf-8"),
        (".pom", "application/xml"),
    ];
    by_suffix.iter().find(|(suffix, _)| lower.ends_with(suffix)).map_or("application/octet-stream", |(_, t)| t)
}

/// The byte range a `Range` header asks for, if it is a single range this server honours.
#[derive(Debug, PartialEq, Eq)]
enum RangeRequest {
    Whole,
    Part { start: u64, end: u64 },
    Unsatisfiable,
}

/// RFC 9110 section 14: a header that is not a valid single `bytes` range is ignored (the
/// whole file); a valid one outside the file is unsatisfiable (416).
fn parse_range(value: Option<&str>, len: u64) -> RangeRequest {
    use RangeRequest::{Part, Unsatisfiable, Whole};
    let number =
        |s: &str| if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) { s.parse::<u64>().ok() } else { None };
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else { return Whole };
    if spec.contains(',') {
        return Whole; // several ranges: the whole file is a valid answer (RFC 9110 14.2)
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return Whole };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // A suffix range: the last N bytes.
        return match number(last) {
            None => Whole,
            Some(0) => Unsatisfiable,
            // Satisfiable (RFC 9110 14.1.1), but an empty file has no last byte to name: all of it.
            Some(_) if len == 0 => Whole,
            Some(suffix) => Part { start: len.saturating_sub(suffix), end: len - 1 },
        };
    }
    let Some(start) = number(first) else { return Whole };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match number(last) {
            Some(end) => end,
            None => return Whole,
        }
    };
    if start > end {
        return Whole; // "5-2" is invalid: the header is ignored
    }
    if start >= len {
        return Unsatisfiable;
    }
    Part { start, end: end.min(len - 1) }
}

fn etag_matches(header_value: Option<&str>, etag: &str) -> bool {
    header_value.is_some_and(|v| v.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == "*" || t == etag))
}

/// The bytes of a response: a blob open for streaming, or all of them in memory.
#[derive(Debug)]
pub enum Body {
    File(BlobReader),
    Bytes(Bytes),
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::File(reader) => reader.len(),
            Body::Bytes(bytes) => bytes.len() as u64,
        }
    }
}

/// The location prefix to hand a large file to the nginx in front (`DATASTORE_ACCEL_REDIRECT`),
/// when it asked for that on this request (`X-Sendfile-Type: X-Accel-Redirect`, which the
/// deploy's nginx sets): requests that reach the datastore directly are streamed as always.
fn accel_prefix<'a>(state: &'a AppState, req: &HttpRequest) -> Option<&'a str> {
    let prefix = state.config.accel_redirect.as_deref()?;
    let asked =
        req.headers().get("X-Sendfile-Type").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"X-Accel-Redirect"));
    asked.then_some(prefix)
}

/// The answer that hands a file to nginx: the same headers as [`serve`], no body, and
/// `X-Accel-Redirect` naming the blob under nginx's `internal` location of the blob directory
/// (`ab/cd/<sha256>`, as the store lays it out); nginx sends the bytes with `sendfile` and
/// answers `Range` itself. Conditional requests are still answered here.
fn accel_redirect(req: &HttpRequest, blob: &BlobRow, cache: &str, prefix: &str) -> HttpResponse {
    let etag = format!("\"{}\"", blob.sha256);
    let mut response = HttpResponseBuilder::new(StatusCode::OK);
    // No Accept-Ranges: nginx answers ranges, and says so itself.
    response
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header(("Digest", format!("sha-256={}", hex_to_base64(&blob.sha256))))
        .insert_header(("Content-Security-Policy", "sandbox"))
        .insert_header(("X-Content-Type-Options", "nosniff"));
    let if_none_match = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok());
    if etag_matches(if_none_match, &etag) {
        return response.status(StatusCode::NOT_MODIFIED).finish();
    }
    let sha = &blob.sha256;
    let location = format!("{}/{}/{}/{sha}", prefix.trim_end_matches('/'), &sha[0..2], &sha[2..4]);
    response
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type(req.path()))))
        .insert_header(("X-Accel-Redirect", location))
        .finish()
}

/// A blob as an HTTP response: `ETag` (its SHA-256), `If-None-Match`, `Range`, `HEAD`.
pub fn serve(req: &HttpRequest, body: Body, blob: &BlobRow, cache: &str) -> HttpResponse {
    let etag = format!("\"{}\"", blob.sha256);
    let len = body.len();
    let header_str = |name: header::HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok());
    let mut response = HttpResponseBuilder::new(StatusCode::OK);
    response
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header(("Digest", format!("sha-256={}", hex_to_base64(&blob.sha256))))
        // Release files are uploads: never let one run script in this origin.
        .insert_header(("Content-Security-Policy", "sandbox"))
        .insert_header(("X-Content-Type-Options", "nosniff"));
    if etag_matches(header_str(header::IF_NONE_MATCH), &etag) {
        return response.status(StatusCode::NOT_MODIFIED).finish();
    }
    // If-Range: serve a part only of the representation the client already has part of.
    let range_header = match header_str(header::IF_RANGE) {
        Some(if_range) if if_range.trim() != etag => None,
        _ => header_str(header::RANGE),
    };
    let (start, end) = match parse_range(range_header, len) {
        RangeRequest::Whole => (0, len.saturating_sub(1)),
        RangeRequest::Part { start, end } => {
            response
                .status(StatusCode::PARTIAL_CONTENT)
                .insert_header((header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}")));
            (start, end)
        }
        RangeRequest::Unsatisfiable => {
            return response
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .insert_header((header::CONTENT_RANGE, format!("bytes */{len}")))
                .finish();
        }
    };
    let count = if len == 0 { 0 } else { end - start + 1 };
    response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type(req.path()))));
    if req.method() == Method::HEAD {
        // The size is announced; actix sends no body for HEAD and never polls this stream.
        return response.body(SizedStream::new(count, futures_util::stream::empty::<Result<Bytes, io::Error>>()));
    }
    match body {
        Body::File(reader) => response.body(SizedStream::new(count, reader.stream(start, count))),
        Body::Bytes(bytes) => {
            let (start, count) = (usize::try_from(start).unwrap_or(0), usize::try_from(count).unwrap_or(0));
            response.body(bytes.slice(start..start + count))
        }
    }
}

fn hex_to_base64(hex_digest: &str) -> String {
    use base64::Engine;
    hex::decode(hex_digest).map(|b| base64::engine::general_purpose::STANDARD.encode(b)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeRequest::*;
        assert_eq!(parse_range(None, 100), Whole);
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Part { start: 0, end: 9 });
        assert_eq!(parse_range(Some("bytes=90-"), 100), Part { start: 90, end: 99 });
        assert_eq!(parse_range(Some("bytes=-10"), 100), Part { start: 90, end: 99 });
        assert_eq!(parse_range(Some("bytes=50-500"), 100), Part { start: 50, end: 99 });
        assert_eq!(parse_range(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Whole);
        assert_eq!(parse_range(Some("bytes=9-2"), 100), Whole);
        assert_eq!(parse_range(Some("items=0-1"), 100), Whole);
        for invalid in ["bytes=abc", "bytes=-abc", "bytes=1-x", "bytes=+1-2", "bytes= - ", "bytes=-", "bytes=1"] {
            assert_eq!(parse_range(Some(invalid), 100), Whole, "{invalid} is ignored");
        }
        assert_eq!(parse_range(Some("bytes=-1"), 0), Whole, "a suffix of an empty file is satisfiable");
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-500"), 100), Part { start: 0, end: 99 });
    }

    #[test]
    fn etags_match_lists_weak_forms_and_stars() {
        assert!(etag_matches(Some("\"abc\""), "\"abc\""));
        assert!(etag_matches(Some("\"x\", W/\"abc\""), "\"abc\""));
        assert!(etag_matches(Some("*"), "\"abc\""));
        assert!(!etag_matches(Some("\"abd\""), "\"abc\""));
        assert!(!etag_matches(None, "\"abc\""));
    }
}
