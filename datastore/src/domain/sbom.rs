//! A release's SBOM as data (`GET …/sbom`): which file it is, its components, what changed since
//! the previous release's SBOM, and the known vulnerabilities of its components in the
//! operator's OSV dump (`DATASTORE_OSV_DIR`).
//!
//! [`locate`] runs in the database; the handler reads the blobs; [`describe`] parses and
//! compares them on a blocking thread.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use checks::osv::Index;
use shared_models::sbom::{OsvData, ReleaseSbom, SbomFile};

use super::releases::{self, ReleaseRef};
use crate::auth::Principal;
use crate::db::DbConnection;
use crate::db::queries::releases as rq;
use crate::error::{AppError, AppResult};

/// The phases whose releases count as "the previous release": their vote passed.
const RELEASED: [&str; 3] = ["preview", "current", "archived"];
/// Earlier releases looked at for one with an SBOM.
const EARLIER_LOOKED_AT: i64 = 20;

/// An SBOM file of a release, with its size.
#[derive(Debug, Clone)]
pub struct Located {
    pub file: SbomFile,
    pub size: u64,
}

/// The SBOM of `release` (the file named `file`, or its first `*.cdx.json` / `bom.json`), and
/// that of the release before it, if any.
pub fn locate(
    conn: &mut DbConnection,
    viewer: Option<&Principal>,
    release: &ReleaseRef,
    file: Option<&str>,
) -> AppResult<(Located, Option<Located>)> {
    let ctx = releases::load_readable(conn, viewer, release)?;
    let current = sbom_of(conn, &ctx, file)?.ok_or_else(|| match file {
        Some(file) => AppError::not_found(format!("{} has no SBOM named {file}.", ctx.key())),
        None => AppError::not_found(format!(
            "{} has no SBOM: no file of its revision {} is named *.cdx.json or bom.json.",
            ctx.key(),
            ctx.release.revision
        )),
    })?;
    let mut previous = None;
    for row in rq::earlier_releases(conn, ctx.product.id, &RELEASED, ctx.release.created_at, EARLIER_LOOKED_AT)? {
        let earlier = rq::context_by_id(conn, row.id)?;
        if let Some(found) = sbom_of(conn, &earlier, None)? {
            previous = Some(found);
            break;
        }
    }
    Ok((current, previous))
}

fn sbom_of(conn: &mut DbConnection, ctx: &rq::ReleaseContext, file: Option<&str>) -> AppResult<Option<Located>> {
    let found = releases::latest_manifest(conn, ctx)?.into_iter().find(|(path, _)| match file {
        Some(file) => path == file && checks::sbom::is_sbom(path),
        None => checks::sbom::is_sbom(path),
    });
    Ok(found.map(|(path, blob)| Located {
        file: SbomFile { release: ctx.key(), revision: ctx.release.revision, path, sha256: blob.sha256 },
        size: u64::try_from(blob.size).unwrap_or_default(),
    }))
}

/// Refuses an SBOM too large to read (the `sbom` check has said so already).
pub fn require_readable(located: &Located) -> AppResult<()> {
    if located.size > checks::sbom::MAX_BYTES {
        return Err(AppError::unprocessable(
            "invalid_sbom",
            format!(
                "{} of {} is {} bytes; SBOMs of at most {} bytes are read.",
                located.file.path,
                located.file.release,
                located.size,
                checks::sbom::MAX_BYTES
            ),
        ));
    }
    Ok(())
}

/// Parses the SBOMs, compares them and looks their components up in the OSV data.
pub fn describe(
    current: &Located,
    bytes: &[u8],
    previous: Option<(Located, bytes::Bytes)>,
    osv: &OsvDump,
) -> AppResult<ReleaseSbom> {
    let document: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        AppError::unprocessable(
            "invalid_sbom",
            format!("{} of {} is not JSON ({e}); its sbom check says more.", current.file.path, current.file.release),
        )
    })?;
    if document.get("bomFormat").and_then(|f| f.as_str()) != Some("CycloneDX") {
        return Err(AppError::unprocessable(
            "invalid_sbom",
            format!("{} of {} is not a CycloneDX document.", current.file.path, current.file.release),
        ));
    }
    let components = checks::sbom::components(&document);
    // A previous SBOM that does not parse is named, but nothing is compared with it.
    let (previous, diff) = match previous {
        Some((located, bytes)) => {
            let diff = serde_json::from_slice(&bytes)
                .ok()
                .map(|document| checks::sbom::diff(&checks::sbom::components(&document), &components));
            (Some(located.file), diff)
        }
        None => (None, None),
    };
    let (index, osv) = osv.index()?;
    let mut vulnerabilities = Vec::new();
    if let Some(index) = index {
        for purl in components.iter().filter_map(|c| c.purl.as_deref()) {
            vulnerabilities.extend(index.lookup(purl));
        }
    }
    Ok(ReleaseSbom {
        file: current.file.clone(),
        spec_version: document.get("specVersion").and_then(|v| v.as_str()).unwrap_or_default().to_owned(),
        components,
        previous,
        diff,
        vulnerabilities,
        osv,
    })
}

/// How often the OSV directory is read again even when it looks unchanged (files replaced in
/// place, or in its subdirectories, leave the directory's own mtime alone).
const OSV_MAX_AGE: Duration = Duration::from_secs(600);

/// The operator's OSV data: read on first use, again when the directory's mtime changes or
/// after ten minutes. One request reads it while the others go on with the index they had;
/// a read that fails keeps the last good index (and is tried again after the same ten minutes).
#[derive(Debug)]
pub struct OsvDump {
    dir: Option<PathBuf>,
    cache: Mutex<Option<Arc<Loaded>>>,
    /// Held by the one request reading the directory.
    loading: Mutex<()>,
}

#[derive(Debug)]
struct Loaded {
    index: Arc<Index>,
    modified: Option<SystemTime>,
    at: Instant,
    at_wall: chrono::DateTime<chrono::Utc>,
}

impl OsvDump {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir, cache: Mutex::new(None), loading: Mutex::new(()) }
    }

    fn current(&self) -> Option<Arc<Loaded>> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The index (none without a configured directory, or before a first good read) and what
    /// it holds.
    pub fn index(&self) -> AppResult<(Option<Arc<Index>>, OsvData)> {
        let Some(dir) = &self.dir else {
            return Ok((None, OsvData { configured: false, records: 0, loaded_at: None }));
        };
        let modified = std::fs::metadata(dir).and_then(|m| m.modified()).ok();
        let known = self.current();
        let fresh = known.as_ref().is_some_and(|l| l.modified == modified && l.at.elapsed() < OSV_MAX_AGE);
        let loaded = if fresh {
            known
        } else {
            // With an index at hand, a request that finds another one reading goes on with it;
            // without one, it waits for that read.
            let guard = match (self.loading.try_lock(), &known) {
                (Ok(guard), _) => Some(guard),
                (Err(_), Some(_)) => None,
                (Err(_), None) => Some(self.loading.lock().unwrap_or_else(std::sync::PoisonError::into_inner)),
            };
            match guard {
                Some(_guard) if self.current().map(|l| l.at) == known.as_ref().map(|l| l.at) => {
                    self.load(dir, modified, known)
                }
                _ => self.current(),
            }
        };
        let Some(loaded) = loaded else {
            return Ok((None, OsvData { configured: true, records: 0, loaded_at: None }));
        };
        let data = OsvData {
            configured: true,
            records: u64::try_from(loaded.index.records).unwrap_or(u64::MAX),
            loaded_at: Some(loaded.at_wall.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        };
        Ok((Some(loaded.index.clone()), data))
    }

    /// Reads the directory again now (the scheduled `osv_refresh`): how many records it holds
    /// and how many files were skipped, or why it could not be read (the index read before
    /// stays in use).
    pub fn refresh(&self) -> Result<(usize, usize), String> {
        let Some(dir) = &self.dir else { return Err("DATASTORE_OSV_DIR is not set".to_owned()) };
        let _guard = self.loading.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let index = Index::load(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let counts = (index.records, index.skipped_count);
        let modified = std::fs::metadata(dir).and_then(|m| m.modified()).ok();
        let loaded = Loaded { index: Arc::new(index), modified, at: Instant::now(), at_wall: chrono::Utc::now() };
        *self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(loaded));
        Ok(counts)
    }

    /// Reads the directory into a new index; on failure keeps `known` (marked as read now, so
    /// that a broken directory is not read again by every request).
    fn load(
        &self,
        dir: &std::path::Path,
        modified: Option<SystemTime>,
        known: Option<Arc<Loaded>>,
    ) -> Option<Arc<Loaded>> {
        let started = Instant::now();
        let fresh = match Index::load(dir) {
            Ok(index) => {
                tracing::info!(
                    dir = %dir.display(),
                    records = index.records,
                    skipped = index.skipped_count,
                    first_skipped = ?index.skipped.first(),
                    ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    "read the OSV data"
                );
                Some(Arc::new(Loaded {
                    index: Arc::new(index),
                    modified,
                    at: Instant::now(),
                    at_wall: chrono::Utc::now(),
                }))
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot read the OSV data; keeping what was read before");
                known.map(|k| {
                    Arc::new(Loaded { index: k.index.clone(), modified, at: Instant::now(), at_wall: k.at_wall })
                })
            }
        };
        *self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = fresh.clone();
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> String {
        serde_json::json!({"id": id, "affected": [{"package": {"ecosystem": "npm", "name": "left"}, "versions": ["1.0.0"]}]})
            .to_string()
    }

    #[test]
    fn the_osv_data_is_read_again_when_it_changes_and_kept_when_it_cannot_be_read() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("osv");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("A.json"), record("A")).unwrap();
        let dump = OsvDump::new(Some(dir.clone()));
        let (index, data) = dump.index().unwrap();
        assert_eq!((data.configured, data.records), (true, 1));
        assert_eq!(index.unwrap().lookup("pkg:npm/left@1.0.0").len(), 1);

        // The directory goes away (an rsync mid-way): the last good index stays.
        std::fs::rename(&dir, parent.path().join("aside")).unwrap();
        assert_eq!(dump.index().unwrap().1.records, 1);

        // It comes back with more: read again.
        std::fs::rename(parent.path().join("aside"), &dir).unwrap();
        std::fs::write(dir.join("B.json"), record("B")).unwrap();
        let (index, data) = dump.index().unwrap();
        assert_eq!(data.records, 2);
        assert_eq!(index.unwrap().lookup("pkg:npm/left@1.0.0").len(), 2);

        let none = OsvDump::new(None).index().unwrap();
        assert!(none.0.is_none() && !none.1.configured);
    }
}
