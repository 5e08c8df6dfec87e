//! The public download tree: `/{stage}/{project}/[{product}/]{version}/{path}`, `latest`, and
//! directory listings (HTML, or JSON with `Accept: application/json`).
//!
//! Files are named by content (ETag = SHA-256), served with `Range` and `If-None-Match`, and a
//! deliberate `Cache-Control`: short enough that a revocation reaches every CDN within the
//! hour. Releases move between stages by phase: a URL of the wrong stage redirects or explains.

use std::cmp::Ordering;
use std::io;

use actix_web::body::SizedStream;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, guard, web};
use bytes::Bytes;
use serde::Serialize;
use serde_json::json;
use shared_models::api::{DirectoryEntry, DirectoryListing, Phase};

use crate::blob::BlobReader;
use crate::db::DbConnection;
use crate::db::models::{BlobRow, ReleaseRow};
use crate::db::queries::releases::{self as rq, ReleaseContext};
use crate::db::schema::{product, project, release};
use crate::domain::releases::phase_of;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::{human_size, render, wants_json};

/// Bytes per read when streaming a file.
const CHUNK: usize = 512 * 1024;

const CACHE_VERSIONED: &str = "public, max-age=3600";
const CACHE_CANDIDATE: &str = "public, max-age=60";
const CACHE_LISTING: &str = "public, max-age=300";

pub fn configure(cfg: &mut web::ServiceConfig) {
    let get_or_head = || guard::Any(guard::Get()).or(guard::Head());
    cfg.service(web::resource("/{stage:candidate|current|revoked}").route(
        web::route().guard(get_or_head()).to(|req: HttpRequest| async move { redirect(&format!("{}/", req.path())) }),
    ));
    cfg.service(
        web::resource("/{stage:candidate|current|revoked}/{tail:.*}")
            .route(web::route().guard(get_or_head()).to(download)),
    );
}

/// A public download tree. Which phases each shows is decided in one place, [`Stage::of_phase`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Candidate,
    Current,
    Revoked,
}

impl Stage {
    fn parse(value: &str) -> Option<Stage> {
        match value {
            "candidate" => Some(Stage::Candidate),
            "current" => Some(Stage::Current),
            "revoked" => Some(Stage::Revoked),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Candidate => "candidate",
            Stage::Current => "current",
            Stage::Revoked => "revoked",
        }
    }

    /// The phases whose files this stage shows.
    fn phases(self) -> Vec<&'static str> {
        Phase::ALL.into_iter().filter(|&p| Stage::of_phase(p) == Some(self)).map(Phase::as_str).collect()
    }

    /// The stage where a release in `phase` lives, if its files are public.
    pub fn of_phase(phase: Phase) -> Option<Stage> {
        match phase {
            Phase::Draft => None,
            Phase::Candidate | Phase::Preview => Some(Stage::Candidate),
            Phase::Current | Phase::Archived => Some(Stage::Current),
            Phase::Revoked => Some(Stage::Revoked),
        }
    }

    fn file_cache(self) -> &'static str {
        match self {
            Stage::Candidate => CACHE_CANDIDATE,
            Stage::Current | Stage::Revoked => CACHE_VERSIONED,
        }
    }
}

/// Compares versions the way people read them: digit runs as numbers (`2.4.10` > `2.4.9`).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for ((da, xa), (db, xb)) in ca.iter().zip(cb.iter()) {
        let order = match (da, db) {
            (true, true) => {
                let (ta, tb) = (xa.trim_start_matches('0'), xb.trim_start_matches('0'));
                ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb))
            }
            _ => xa.cmp(xb),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    ca.len().cmp(&cb.len())
}

/// What a download URL resolved to.
enum Resolved {
    Listing { entries: Vec<DirectoryEntry>, cache: &'static str, notice: Option<String> },
    File { blob: BlobRow, cache: &'static str },
    Redirect(String),
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
pub async fn download(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let html = !wants_json(&req);
    let as_page = |e: AppError| if html { e.as_html() } else { e };
    let stage = Stage::parse(req.match_info().get("stage").unwrap_or_default())
        .ok_or_else(|| as_page(AppError::not_found("Unknown stage.")))?;
    let tail = req.match_info().get("tail").unwrap_or_default().to_owned();
    let url_path = req.path().to_owned();
    let resolved = state.db.run(move |c| resolve(c, stage, &tail, &url_path)).await.map_err(as_page)?;
    match resolved {
        Resolved::Redirect(location) => Ok(redirect(&location)),
        Resolved::Listing { entries, cache, notice } => listing(&req, entries, cache, notice.as_deref()),
        Resolved::File { blob, cache } => {
            let store = state.blobs.clone();
            let sha = blob.sha256.clone();
            let reader = web::block(move || store.open_blob(&sha))
                .await
                .map_err(AppError::internal)?
                .map_err(|e| AppError::internal(format!("blob {} unreadable: {e}", blob.sha256)))?;
            Ok(serve(&req, reader, &blob, cache))
        }
    }
}

fn redirect(location: &str) -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, CACHE_LISTING))
        .finish()
}

fn is_version(segment: &str) -> bool {
    segment.starts_with(|c: char| c.is_ascii_digit())
}

fn resolve(conn: &mut DbConnection, stage: Stage, tail: &str, url_path: &str) -> AppResult<Resolved> {
    let is_dir = tail.is_empty() || tail.ends_with('/');
    let segments: Vec<&str> = tail.split('/').filter(|s| !s.is_empty()).collect();
    let not_found = || AppError::not_found(format!("Nothing is published at {url_path}."));
    if segments.iter().any(|s| *s == "." || *s == ".." || s.starts_with('.')) {
        return Err(not_found());
    }
    let (project_name, product_name, selector, rest) = match segments.as_slice() {
        [] => return stage_listing(conn, stage),
        [project] => return project_listing(conn, stage, project, None, is_dir, url_path),
        [project, second, rest @ ..] if is_version(second) || *second == "latest" => {
            (*project, *project, *second, rest)
        }
        [project, product] => return project_listing(conn, stage, project, Some(product), is_dir, url_path),
        [project, product, third, rest @ ..] => (*project, *product, *third, rest),
    };
    let ctx = if selector == "latest" {
        if stage != Stage::Current {
            return Err(AppError::not_found("`latest` exists only under /current/."));
        }
        let newest = rq::releases_in_phase(conn, project_name, product_name, &["current"])?
            .into_iter()
            .max_by(|a, b| compare_versions(&a.version, &b.version))
            .ok_or_else(not_found)?;
        rq::find_release(conn, project_name, product_name, &newest.version)?.ok_or_else(not_found)?
    } else {
        rq::find_release(conn, project_name, product_name, selector)?.ok_or_else(not_found)?
    };
    let phase = phase_of(&ctx.release);
    let home = Stage::of_phase(phase).ok_or_else(not_found)?;
    if home != stage {
        return wrong_stage(&ctx, stage, home, selector, rest, is_dir, not_found);
    }
    let cache = if selector == "latest" { CACHE_LISTING } else { stage.file_cache() };
    let revision = rq::find_revision(conn, ctx.release.id, ctx.release.revision)?.ok_or_else(not_found)?;
    let inner = rest.join("/");
    // A file is one row; only folders (listings, or the redirect to one) need the whole manifest.
    if !inner.is_empty()
        && !is_dir
        && let Some(blob) = rq::revision_file(conn, revision.0.id, &inner)?
    {
        return Ok(Resolved::File { blob, cache });
    }
    let files = rq::revision_files(conn, revision.0.id)?;
    let prefix = if inner.is_empty() { String::new() } else { format!("{inner}/") };
    let entries = folder_entries(&files, &prefix);
    if entries.is_empty() && !prefix.is_empty() {
        return Err(not_found());
    }
    if !is_dir {
        return Ok(Resolved::Redirect(format!("{url_path}/")));
    }
    let notice = ctx.release.revoked_reason.as_ref().map(|r| format!("This release was revoked: {r}"));
    Ok(Resolved::Listing { entries, cache: CACHE_LISTING, notice })
}

/// A release asked for under a stage it is not in: follow it if it moved on (a candidate that
/// was released), explain if it was revoked (410), and hide drafts and unreleased candidates.
fn wrong_stage(
    ctx: &ReleaseContext,
    asked: Stage,
    home: Stage,
    selector: &str,
    rest: &[&str],
    is_dir: bool,
    not_found: impl Fn() -> AppError,
) -> AppResult<Resolved> {
    let mut location = format!("/{}/{}/", home.as_str(), ctx.key());
    if selector != "latest" && !rest.is_empty() {
        location.push_str(&rest.join("/"));
        if is_dir {
            location.push('/');
        }
    }
    match (asked, home) {
        (_, Stage::Revoked) => {
            let reason = ctx.release.revoked_reason.clone().unwrap_or_else(|| "no reason given".to_owned());
            Err(AppError::gone(format!(
                "The release {} was revoked: {reason}. Its files remain at {location}.",
                ctx.key()
            ))
            .with_details(json!({"reason": reason, "location": location})))
        }
        (Stage::Candidate, Stage::Current) => Ok(Resolved::Redirect(location)),
        _ => Err(not_found()),
    }
}

/// The immediate children of `prefix` in a manifest: files, and folders (once each).
fn folder_entries(files: &[(String, BlobRow)], prefix: &str) -> Vec<DirectoryEntry> {
    let mut entries: Vec<DirectoryEntry> = Vec::new();
    for (path, blob) in files {
        let Some(inner) = path.strip_prefix(prefix) else { continue };
        match inner.split_once('/') {
            None => entries.push(DirectoryEntry {
                name: inner.to_owned(),
                kind: "file".to_owned(),
                size: u64::try_from(blob.size).ok(),
                sha256: Some(blob.sha256.clone()),
            }),
            Some((folder, _)) => {
                if !entries.iter().any(|e| e.kind == "dir" && e.name == folder) {
                    entries.push(DirectoryEntry {
                        name: folder.to_owned(),
                        kind: "dir".to_owned(),
                        size: None,
                        sha256: None,
                    });
                }
            }
        }
    }
    entries.sort_by(|a, b| (a.kind != "dir", &a.name).cmp(&(b.kind != "dir", &b.name)));
    entries
}

fn dir(name: &str) -> DirectoryEntry {
    DirectoryEntry { name: name.to_owned(), kind: "dir".to_owned(), size: None, sha256: None }
}

/// `/{stage}/`: every project with a release in this stage.
fn stage_listing(conn: &mut DbConnection, stage: Stage) -> AppResult<Resolved> {
    use diesel::prelude::*;
    let mut names: Vec<String> = release::table
        .inner_join(product::table.inner_join(project::table))
        .filter(release::phase.eq_any(stage.phases()))
        .select(project::name)
        .distinct()
        .load(conn)?;
    names.sort();
    Ok(Resolved::Listing { entries: names.iter().map(|n| dir(n)).collect(), cache: CACHE_LISTING, notice: None })
}

/// `/{stage}/{project}/` and `/{stage}/{project}/{product}/`: versions (and other products).
fn project_listing(
    conn: &mut DbConnection,
    stage: Stage,
    project_name: &str,
    product_name: Option<&str>,
    is_dir: bool,
    url_path: &str,
) -> AppResult<Resolved> {
    use diesel::prelude::*;
    let rows: Vec<(ReleaseRow, String)> = release::table
        .inner_join(product::table.inner_join(project::table))
        .filter(project::name.eq(project_name))
        .filter(release::phase.eq_any(stage.phases()))
        .select((ReleaseRow::as_select(), product::name))
        .load(conn)?;
    let product_name = product_name.unwrap_or(project_name);
    let mut versions: Vec<&ReleaseRow> = rows.iter().filter(|(_, p)| p == product_name).map(|(r, _)| r).collect();
    versions.sort_by(|a, b| compare_versions(&b.version, &a.version));
    let mut entries: Vec<DirectoryEntry> = Vec::new();
    if stage == Stage::Current && versions.iter().any(|r| r.phase == "current") {
        entries.push(dir("latest"));
    }
    entries.extend(versions.iter().map(|r| dir(&r.version)));
    if product_name == project_name {
        let mut products: Vec<&str> = rows.iter().map(|(_, p)| p.as_str()).filter(|p| *p != project_name).collect();
        products.sort_unstable();
        products.dedup();
        entries.extend(products.into_iter().map(dir));
    }
    if entries.is_empty() {
        return Err(AppError::not_found(format!("Nothing is published at {url_path}.")));
    }
    if !is_dir {
        return Ok(Resolved::Redirect(format!("{url_path}/")));
    }
    Ok(Resolved::Listing { entries, cache: CACHE_LISTING, notice: None })
}

#[derive(Serialize)]
struct ListingRow<'a> {
    #[serde(flatten)]
    entry: &'a DirectoryEntry,
    href: String,
    size_human: String,
}

fn listing(
    req: &HttpRequest,
    entries: Vec<DirectoryEntry>,
    cache: &str,
    notice: Option<&str>,
) -> AppResult<HttpResponse> {
    let path = req.path().to_owned();
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, cache)).insert_header((header::VARY, "Accept"));
    if wants_json(req) {
        return Ok(response.json(DirectoryListing { path, entries }));
    }
    let rows: Vec<ListingRow<'_>> = entries
        .iter()
        .map(|e| ListingRow {
            entry: e,
            href: format!("{}{}", percent_encode(&e.name), if e.kind == "dir" { "/" } else { "" }),
            size_human: e.size.map(human_size).unwrap_or_default(),
        })
        .collect();
    let parent = (path.trim_end_matches('/').matches('/').count() > 1).then_some("../");
    let html = render("listing.html", &json!({"path": path, "entries": rows, "parent": parent, "notice": notice}))?;
    Ok(response.content_type("text/html; charset=utf-8").body(html))
}

fn percent_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'+' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
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

fn parse_range(value: Option<&str>, len: u64) -> RangeRequest {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else { return RangeRequest::Whole };
    if spec.contains(',') {
        return RangeRequest::Whole; // several ranges: the whole file is a valid answer (RFC 9110 14.2)
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return RangeRequest::Whole };
    let (first, last) = (first.trim(), last.trim());
    let parsed = if first.is_empty() {
        match last.parse::<u64>() {
            Ok(0) | Err(_) => None,
            Ok(suffix) => Some((len.saturating_sub(suffix), len.saturating_sub(1))),
        }
    } else {
        match (first.parse::<u64>(), if last.is_empty() { Ok(u64::MAX) } else { last.parse::<u64>() }) {
            (Ok(start), Ok(end)) if start <= end => Some((start, end.min(len.saturating_sub(1)))),
            (Ok(_), Ok(_)) => return RangeRequest::Whole, // "5-2" is invalid: ignore the header
            _ => return RangeRequest::Whole,
        }
    };
    match parsed {
        Some((start, end)) if start < len && start <= end => RangeRequest::Part { start, end },
        _ => RangeRequest::Unsatisfiable,
    }
}

fn etag_matches(header_value: Option<&str>, etag: &str) -> bool {
    header_value.is_some_and(|v| v.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == "*" || t == etag))
}

pub fn serve(req: &HttpRequest, reader: BlobReader, blob: &BlobRow, cache: &str) -> HttpResponse {
    let etag = format!("\"{}\"", blob.sha256);
    let len = reader.len();
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
    response.body(SizedStream::new(count, file_stream(reader, start, count)))
}

fn hex_to_base64(hex_digest: &str) -> String {
    use base64::Engine;
    hex::decode(hex_digest).map(|b| base64::engine::general_purpose::STANDARD.encode(b)).unwrap_or_default()
}

/// Reads `count` bytes from `start` on a blocking thread, a chunk at a time, with a bounded
/// queue between the disk and the socket. Each chunk is read into fresh, uninitialised memory
/// that becomes the `Bytes` sent on without another copy: serving from the page cache costs one
/// copy out of the kernel here, and what actix and the socket add.
fn file_stream(
    reader: BlobReader,
    start: u64,
    count: u64,
) -> impl futures_util::Stream<Item = Result<Bytes, io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let file = reader.into_file();
        let (mut offset, end) = (start, start + count);
        while offset < end {
            let want = usize::try_from(end - offset).map_or(CHUNK, |r| r.min(CHUNK));
            let mut buf = Vec::with_capacity(want);
            let item = match rustix::io::pread(&file, rustix::buffer::spare_capacity(&mut buf), offset) {
                Ok(0) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "blob shorter than recorded")),
                Ok(n) => {
                    offset += n as u64;
                    Ok(Bytes::from(buf))
                }
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => Err(io::Error::from(e)),
            };
            let failed = item.is_err();
            if tx.blocking_send(item).is_err() || failed {
                return; // the client went away, or the read failed
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_naturally() {
        assert_eq!(compare_versions("2.4.10", "2.4.9"), Ordering::Greater);
        assert_eq!(compare_versions("2.4.68", "2.4.68"), Ordering::Equal);
        assert_eq!(compare_versions("1.0", "1.0.1"), Ordering::Less);
        assert_eq!(compare_versions("10.0", "9.9"), Ordering::Greater);
        assert_eq!(compare_versions("1.0-RC2", "1.0-RC10"), Ordering::Less);
    }

    #[test]
    fn stages_show_the_public_phases() {
        assert_eq!(Stage::Candidate.phases(), ["candidate", "preview"]);
        assert_eq!(Stage::Current.phases(), ["current", "archived"]);
        assert_eq!(Stage::Revoked.phases(), ["revoked"]);
        assert_eq!(Stage::of_phase(Phase::Draft), None, "drafts are never public");
    }

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
    }

    #[test]
    fn etags_match_lists_weak_forms_and_stars() {
        assert!(etag_matches(Some("\"abc\""), "\"abc\""));
        assert!(etag_matches(Some("\"x\", W/\"abc\""), "\"abc\""));
        assert!(etag_matches(Some("*"), "\"abc\""));
        assert!(!etag_matches(Some("\"abd\""), "\"abc\""));
        assert!(!etag_matches(None, "\"abc\""));
    }

    #[test]
    fn folders_list_children_once() {
        let blob = BlobRow { sha256: "a".repeat(64), sha512: String::new(), size: 3, created_at: 0 };
        let files = vec![
            ("a.tar.gz".to_owned(), blob.clone()),
            ("bin/x.zip".to_owned(), blob.clone()),
            ("bin/y.zip".to_owned(), blob.clone()),
            ("bin/sub/z".to_owned(), blob),
        ];
        let root: Vec<(String, String)> = folder_entries(&files, "").into_iter().map(|e| (e.kind, e.name)).collect();
        assert_eq!(root, [("dir".into(), "bin".into()), ("file".into(), "a.tar.gz".into())]);
        assert_eq!(folder_entries(&files, "bin/").len(), 3);
    }
}
