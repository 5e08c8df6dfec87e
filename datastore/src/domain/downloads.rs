//! What a URL of the public download tree names: `/{stage}/{project}/[{product}/]{version}/{path}`,
//! `…/latest/…` (the newest `current` release), and the folders above and inside releases.
//!
//! Releases move between stages by phase ([`Stage::of_phase`]): a URL of the wrong stage
//! redirects (a candidate that was released) or explains (a revoked release, 410); drafts are
//! never found. Paths here are decoded segments; the HTTP layer encodes them into URLs.

use std::cmp::Ordering;

use serde_json::json;
use shared_models::api::{DirectoryEntry, Phase};

use super::lifecycle::Stage;
use crate::db::DbConnection;
use crate::db::models::BlobRow;
use crate::db::queries::releases::{self as rq, ReleaseContext};
use crate::error::{AppError, AppResult};
use crate::url;

/// How long what a URL resolved to may be cached, by kind; the HTTP layer says it in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// A file of a versioned release, in this stage.
    File(Stage),
    /// What `latest` and folder listings show: it changes with the next release.
    Moving,
}

/// What a download URL names.
#[derive(Debug)]
pub enum Resolved {
    Listing {
        entries: Vec<DirectoryEntry>,
        notice: Option<String>,
    },
    File {
        blob: BlobRow,
        freshness: Freshness,
    },
    /// Another URL path, encoded.
    Redirect(String),
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

fn is_version(segment: &str) -> bool {
    segment.starts_with(|c: char| c.is_ascii_digit())
}

fn phase_names(stage: Stage) -> Vec<&'static str> {
    stage.phases().into_iter().map(Phase::as_str).collect()
}

/// Resolves the decoded `segments` under `stage`; `dir` says the URL ended in `/`.
pub fn resolve(conn: &mut DbConnection, stage: Stage, segments: &[String], dir: bool) -> AppResult<Resolved> {
    let shown = || {
        let mut path = format!("/{}/{}", stage.as_str(), segments.join("/"));
        if dir && !segments.is_empty() {
            path.push('/');
        }
        path
    };
    let not_found = || AppError::not_found(format!("Nothing is published at {}.", shown()));
    if segments.iter().any(|s| s.is_empty() || s == "." || s == ".." || s.starts_with('.')) {
        return Err(not_found());
    }
    let redirect_to_folder = || {
        let mut all = vec![stage.as_str()];
        all.extend(segments.iter().map(String::as_str));
        Ok(Resolved::Redirect(url::path(&all, true)))
    };
    let (project_name, product_name, selector, rest) = match segments {
        [] => return stage_listing(conn, stage),
        [project] => {
            let entries = project_listing(conn, stage, project, None)?;
            return if entries.is_empty() {
                Err(not_found())
            } else if dir {
                Ok(Resolved::Listing { entries, notice: None })
            } else {
                redirect_to_folder()
            };
        }
        [project, second, rest @ ..] if is_version(second) || second == "latest" => {
            (project.as_str(), project.as_str(), second.as_str(), rest)
        }
        [project, product] => {
            let entries = project_listing(conn, stage, project, Some(product))?;
            return if entries.is_empty() {
                Err(not_found())
            } else if dir {
                Ok(Resolved::Listing { entries, notice: None })
            } else {
                redirect_to_folder()
            };
        }
        [project, product, third, rest @ ..] => (project.as_str(), product.as_str(), third.as_str(), rest),
    };
    let latest = selector == "latest";
    let ctx = if latest {
        if stage != Stage::Current {
            return Err(AppError::not_found("`latest` exists only under /current/."));
        }
        let newest = rq::releases_in_phase(conn, project_name, product_name, &[Phase::Current.as_str()])?
            .into_iter()
            .max_by(|a, b| compare_versions(&a.version, &b.version))
            .ok_or_else(not_found)?;
        rq::find_release(conn, project_name, product_name, &newest.version)?.ok_or_else(not_found)?
    } else {
        rq::find_release(conn, project_name, product_name, selector)?.ok_or_else(not_found)?
    };
    let home = Stage::of_phase(ctx.release.phase()?).ok_or_else(not_found)?;
    if home != stage {
        return wrong_stage(&ctx, stage, home, latest, rest, dir, not_found);
    }
    let freshness = if latest { Freshness::Moving } else { Freshness::File(stage) };
    let revision = rq::find_revision(conn, ctx.release.id, ctx.release.revision)?.ok_or_else(not_found)?;
    let inner = rest.join("/");
    // A file is one row; only folders (listings, or the redirect to one) need the whole manifest.
    if !inner.is_empty()
        && !dir
        && let Some(blob) = rq::revision_file(conn, revision.0.id, &inner)?
    {
        return Ok(Resolved::File { blob, freshness });
    }
    let files = rq::revision_files(conn, revision.0.id)?;
    let prefix = if inner.is_empty() { String::new() } else { format!("{inner}/") };
    let entries = folder_entries(&files, &prefix);
    if entries.is_empty() && !prefix.is_empty() {
        return Err(not_found());
    }
    if !dir {
        return redirect_to_folder();
    }
    let notice = ctx.release.revoked_reason.as_ref().map(|r| format!("This release was revoked: {r}"));
    Ok(Resolved::Listing { entries, notice })
}

/// A release asked for under a stage it is not in: follow it if it moved on (a candidate that
/// was released), explain if it was revoked (410), and hide drafts and unreleased candidates.
fn wrong_stage(
    ctx: &ReleaseContext,
    asked: Stage,
    home: Stage,
    latest: bool,
    rest: &[String],
    dir: bool,
    not_found: impl Fn() -> AppError,
) -> AppResult<Resolved> {
    let mut segments = vec![home.as_str().to_owned()];
    segments.extend(ctx.key().split('/').map(str::to_owned));
    let dir = if !latest && !rest.is_empty() {
        segments.extend(rest.iter().cloned());
        dir
    } else {
        true
    };
    let location = url::path(&segments, dir);
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
                    entries.push(folder_entry(folder));
                }
            }
        }
    }
    entries.sort_by(|a, b| (a.kind != "dir", &a.name).cmp(&(b.kind != "dir", &b.name)));
    entries
}

fn folder_entry(name: &str) -> DirectoryEntry {
    DirectoryEntry { name: name.to_owned(), kind: "dir".to_owned(), size: None, sha256: None }
}

/// `/{stage}/`: every project with a release in this stage.
fn stage_listing(conn: &mut DbConnection, stage: Stage) -> AppResult<Resolved> {
    let mut names = rq::projects_in_phases(conn, &phase_names(stage))?;
    names.sort();
    Ok(Resolved::Listing { entries: names.iter().map(|n| folder_entry(n)).collect(), notice: None })
}

/// `/{stage}/{project}/` and `/{stage}/{project}/{product}/`: versions (and other products).
fn project_listing(
    conn: &mut DbConnection,
    stage: Stage,
    project_name: &str,
    product_name: Option<&str>,
) -> AppResult<Vec<DirectoryEntry>> {
    let rows = rq::project_releases_in_phases(conn, project_name, &phase_names(stage))?;
    let product_name = product_name.unwrap_or(project_name);
    let mut versions: Vec<_> = rows.iter().filter(|(_, p)| p == product_name).map(|(r, _)| r).collect();
    versions.sort_by(|a, b| compare_versions(&b.version, &a.version));
    let mut entries: Vec<DirectoryEntry> = Vec::new();
    if stage == Stage::Current && versions.iter().any(|r| r.phase == Phase::Current.as_str()) {
        entries.push(folder_entry("latest"));
    }
    entries.extend(versions.iter().map(|r| folder_entry(&r.version)));
    if product_name == project_name {
        let mut products: Vec<&str> = rows.iter().map(|(_, p)| p.as_str()).filter(|p| *p != project_name).collect();
        products.sort_unstable();
        products.dedup();
        entries.extend(products.into_iter().map(folder_entry));
    }
    Ok(entries)
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
