//! Releases and their revisions: creation, immutable revisions with a manifest each, and the
//! rules of the draft phase. Every change writes an event in the same transaction.

use std::collections::BTreeMap;

use serde_json::json;
use shared_models::api::{
    Event, EventList, FileEntry, FileList, Phase, Release, ReleaseSummary, RevisionManifest, RevisionSummary,
};
use shared_models::{Name, ReleasePath, Version};

use super::lifecycle::{self, Stage};
use super::page::Page;
use crate::auth::{Action, Principal, authz};
use crate::blob::BlobMeta;
use crate::db::models::{BlobRow, EventRow};
use crate::db::queries::directory;
use crate::db::queries::events::{self, NewEvent};
use crate::db::queries::releases::{self as q, ReleaseContext};
use crate::db::{DbConnection, now_ms, to_time};
use crate::error::{AppError, AppResult};

/// How a URL names a release: `{project}/{version}` or `{project}/{product}/{version}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRef {
    pub project: Name,
    pub product: Option<Name>,
    pub version: Version,
}

impl ReleaseRef {
    pub fn product_name(&self) -> &str {
        self.product.as_deref().unwrap_or(&self.project)
    }

    /// The release a key names (`project/version` or `project/product/version`, as `Display`
    /// writes it), its parts checked in that order. `Err(None)`: the key has neither shape.
    pub fn parse_key(key: &str) -> Result<Self, Option<shared_models::NameError>> {
        let parts: Vec<&str> = key.split('/').collect();
        let (project, product, version) = match parts[..] {
            [project, version] => (project, None, version),
            [project, product, version] => (project, Some(product), version),
            _ => return Err(None),
        };
        let project = Name::parse(project)?;
        let product = product.map(Name::parse).transpose()?;
        Ok(Self { project, product, version: Version::parse(version)? })
    }
}

impl std::fmt::Display for ReleaseRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.product {
            Some(product) if product != &self.project => write!(f, "{}/{product}/{}", self.project, self.version),
            _ => write!(f, "{}/{}", self.project, self.version),
        }
    }
}

/// The release a URL names, or 404.
pub fn load(conn: &mut DbConnection, release: &ReleaseRef) -> AppResult<ReleaseContext> {
    q::find_release(conn, &release.project, release.product_name(), &release.version)?
        .ok_or_else(|| AppError::not_found(format!("There is no release {release}.")))
}

/// The release a URL names, if `viewer` may read it; a draft is 404 to anyone outside its
/// committee, as if it did not exist.
pub fn load_readable(
    conn: &mut DbConnection,
    viewer: Option<&Principal>,
    release: &ReleaseRef,
) -> AppResult<ReleaseContext> {
    let ctx = load(conn, release)?;
    authz::authorize_read_release(
        viewer,
        &ctx.committee.name,
        &ctx.project.name,
        ctx.release.phase()?,
        &release.to_string(),
    )?;
    Ok(ctx)
}

pub fn summary(ctx: &ReleaseContext) -> AppResult<ReleaseSummary> {
    Ok(ReleaseSummary {
        project: Name::parse(&ctx.project.name)?,
        product: Name::parse(&ctx.product.name)?,
        version: Version::parse(&ctx.release.version)?,
        phase: ctx.release.phase()?,
        revision: ctx.release.revision,
        created_at: to_time(ctx.release.created_at),
    })
}

/// Where a release's files are public in its current phase.
pub fn download_path(ctx: &ReleaseContext) -> Option<String> {
    let stage = Stage::of_phase(ctx.release.phase().ok()?)?;
    Some(format!("/{}/{}/", stage.as_str(), ctx.key()))
}

pub fn detail(conn: &mut DbConnection, ctx: &ReleaseContext, public_url: &str) -> AppResult<Release> {
    let s = summary(ctx)?;
    Ok(Release {
        project: s.project,
        product: s.product,
        version: s.version,
        phase: s.phase,
        revision: s.revision,
        created_at: s.created_at,
        created_by: q::uid_of(conn, ctx.release.created_by)?.unwrap_or_else(|| "unknown".to_owned()),
        updated_at: to_time(ctx.release.updated_at),
        committee: Name::parse(&ctx.committee.name)?,
        podling: ctx.committee.podling,
        revoked_reason: ctx.release.revoked_reason.clone(),
        download_url: download_path(ctx).map(|p| format!("{public_url}{p}")),
        vote: super::votes::summary(&ctx.release)?,
        published: super::publish::published(conn, ctx)?,
    })
}

/// Creates a release in `draft` with the empty revision 0.
pub fn create(
    conn: &mut DbConnection,
    principal: &Principal,
    project: &Name,
    product: Option<&Name>,
    version: &Version,
) -> AppResult<ReleaseContext> {
    crate::db::write_transaction(conn, |conn| {
        let (project_row, committee) = directory::find_project(conn, project)?
            .ok_or_else(|| AppError::not_found(format!("There is no project {project}.")))?;
        authz::authorize_on_project(principal, Action::ComposeRelease, &committee.name, &project_row.name)?;
        let product_name = product.map_or(project.as_str(), |p| p.as_str());
        let product_row = directory::find_product(conn, project_row.id, product_name)?
            .ok_or_else(|| AppError::not_found(format!("The project {project} has no product {product_name}.")))?;
        let reference = ReleaseRef { project: project.clone(), product: product.cloned(), version: version.clone() };
        q::insert_release(conn, product_row.id, version, principal.user_id)?
            .ok_or_else(|| AppError::conflict("release_exists", format!("The release {reference} already exists.")))?;
        let ctx = load(conn, &reference)?;
        events::record(
            conn,
            NewEvent {
                actor: principal.actor(),
                action: "release.created",
                target: &ctx.key(),
                release_id: Some(ctx.release.id),
                details: json!({"phase": "draft", "revision": 0}),
            },
        )?;
        Ok(ctx)
    })
}

/// One change of a new revision.
#[derive(Debug, Clone)]
pub enum Change {
    /// Add or replace a file with stored bytes.
    Put {
        path: ReleasePath,
        blob: BlobMeta,
    },
    Delete {
        path: ReleasePath,
    },
    /// Rename a file, or move a folder with everything in it (the bytes stay the same).
    Move {
        from: ReleasePath,
        to: ReleasePath,
    },
}

impl Change {
    fn is_move(&self) -> bool {
        matches!(self, Change::Move { .. })
    }
}

/// The outcome of a new revision.
#[derive(Debug, Clone)]
pub struct NewRevision {
    pub seq: i64,
    /// Every file of the new revision, by path.
    pub manifest: BTreeMap<String, BlobRow>,
    /// Ids of the check tasks it queued.
    pub tasks: Vec<i64>,
}

/// Makes a new immutable revision of a draft: the previous revision's files with `changes`
/// applied. Revision numbers are taken under the release row's lock, so concurrent uploads
/// each build on the revision before their own and none is lost. Queues the checks of the new
/// revision and records an event.
pub fn commit_revision(
    conn: &mut DbConnection,
    principal: &Principal,
    release: &ReleaseRef,
    changes: &[Change],
    description: &str,
) -> AppResult<NewRevision> {
    let only_moves = !changes.is_empty() && changes.iter().all(Change::is_move);
    crate::db::write_transaction(conn, |conn| {
        let ctx = load_readable(conn, Some(principal), release)?;
        if only_moves {
            authz::authorize_move(principal, &ctx)?;
        } else {
            authz::authorize_release(principal, Action::ComposeRelease, &ctx)?;
        }
        let seq = q::next_revision(conn, ctx.release.id)?;
        // Read the phase again after taking the lock: a vote may have started meanwhile.
        let ctx = load(conn, release)?;
        if only_moves {
            require_moves(&ctx)?;
        } else {
            require_files_change(&ctx, "change files")?;
        }
        let parent = q::find_revision(conn, ctx.release.id, seq - 1)?
            .ok_or_else(|| AppError::internal(format!("revision {} of {release} is missing", seq - 1)))?;
        let mut manifest: BTreeMap<String, BlobRow> = q::revision_files(conn, parent.0.id)?.into_iter().collect();
        let now = now_ms();
        let (mut added, mut removed, mut moved) = (Vec::new(), Vec::new(), Vec::new());
        for change in changes {
            match change {
                Change::Put { path, blob } => {
                    let row = BlobRow {
                        sha256: blob.sha256.clone(),
                        sha512: blob.sha512.clone(),
                        size: i64::try_from(blob.size).map_err(AppError::internal)?,
                        created_at: now,
                    };
                    q::insert_blob(conn, &row)?;
                    manifest.insert(path.to_string(), row);
                    added.push(path.as_str());
                }
                Change::Delete { path } => {
                    if manifest.remove(path.as_str()).is_none() {
                        return Err(AppError::not_found(format!("The release {release} has no file {path}.")));
                    }
                    removed.push(path.as_str());
                }
                Change::Move { from, to } => {
                    for (old, new) in move_paths(&mut manifest, from, to, release)? {
                        moved.push(json!({"from": old, "to": new}));
                    }
                }
            }
        }
        check_no_file_is_a_folder(&manifest)?;
        let revision_id = q::insert_revision(conn, ctx.release.id, seq, Some(principal.user_id), description)?;
        for (path, blob) in &manifest {
            q::insert_revision_file(conn, revision_id, path, &blob.sha256)?;
        }
        let tasks = if lifecycle::runs_checks(ctx.release.phase()?) {
            super::checks::enqueue(conn, &ctx, seq, &manifest)?
        } else {
            Vec::new() // a preview's bytes were checked and voted on; only names change
        };
        events::record(
            conn,
            NewEvent {
                actor: principal.actor(),
                action: "revision.created",
                target: &ctx.key(),
                release_id: Some(ctx.release.id),
                details: json!({
                    "revision": seq,
                    "description": description,
                    "added": added,
                    "removed": removed,
                    "moved": moved,
                    "files": manifest.len(),
                    "tasks_queued": tasks.len(),
                }),
            },
        )?;
        if tasks.is_empty() && lifecycle::runs_checks(ctx.release.phase()?) {
            super::checks::note_if_complete(conn, ctx.release.id)?; // every result was known
        }
        Ok(NewRevision { seq, manifest, tasks })
    })
}

/// Makes a new revision holding exactly the files of the older revision `seq` (its names and
/// bytes): a draft goes back to where it was, and its history keeps everything in between.
pub fn restore(
    conn: &mut DbConnection,
    principal: &Principal,
    release: &ReleaseRef,
    seq: i64,
) -> AppResult<NewRevision> {
    crate::db::write_transaction(conn, |conn| {
        let ctx = load_readable(conn, Some(principal), release)?;
        authz::authorize_release(principal, Action::ComposeRelease, &ctx)?;
        // The latest revision cannot change under us while the changes are worked out.
        q::lock_release(conn, ctx.release.id)?;
        let ctx = load(conn, release)?;
        if seq == ctx.release.revision {
            return Err(AppError::conflict("nothing_to_restore", format!("Revision {seq} is the latest already.")));
        }
        let old: BTreeMap<String, BlobRow> = revision_files(conn, &ctx, seq)?.into_iter().collect();
        let latest: BTreeMap<String, BlobRow> = revision_files(conn, &ctx, ctx.release.revision)?.into_iter().collect();
        let mut changes = Vec::new();
        for path in latest.keys().filter(|p| !old.contains_key(*p)) {
            changes.push(Change::Delete { path: ReleasePath::parse(path)? });
        }
        for (path, blob) in &old {
            if latest.get(path).is_some_and(|b| b.sha256 == blob.sha256) {
                continue;
            }
            let size = u64::try_from(blob.size).map_err(AppError::internal)?;
            let meta = BlobMeta { sha256: blob.sha256.clone(), sha512: blob.sha512.clone(), size };
            changes.push(Change::Put { path: ReleasePath::parse(path)?, blob: meta });
        }
        if changes.is_empty() {
            return Err(AppError::conflict(
                "nothing_to_restore",
                format!("Revision {seq} holds the same files as the latest; nothing changes."),
            ));
        }
        commit_revision(conn, principal, release, &changes, &format!("restore revision {seq}"))
    })
}

/// What changed from one revision to the next: paths added, removed, and holding new bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RevisionDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

pub fn diff(before: &[(String, BlobRow)], after: &[(String, BlobRow)]) -> RevisionDiff {
    let before: BTreeMap<&str, &str> = before.iter().map(|(p, b)| (p.as_str(), b.sha256.as_str())).collect();
    let after: BTreeMap<&str, &str> = after.iter().map(|(p, b)| (p.as_str(), b.sha256.as_str())).collect();
    let mut diff = RevisionDiff::default();
    for (path, sha) in &after {
        match before.get(path) {
            None => diff.added.push((*path).to_owned()),
            Some(old) if old != sha => diff.changed.push((*path).to_owned()),
            Some(_) => {}
        }
    }
    diff.removed = before.keys().filter(|p| !after.contains_key(*p)).map(|p| (*p).to_owned()).collect();
    diff
}

/// The differences of the latest `count` revisions, each against the one before it (newest first).
/// What changed from revision `from` to revision `to` of a release (either may be the older).
pub fn compare(conn: &mut DbConnection, ctx: &ReleaseContext, from: i64, to: i64) -> AppResult<RevisionDiff> {
    let before = revision_files(conn, ctx, from)?;
    let after = revision_files(conn, ctx, to)?;
    Ok(diff(&before, &after))
}

pub fn recent_diffs(conn: &mut DbConnection, ctx: &ReleaseContext, count: i64) -> AppResult<Vec<(i64, RevisionDiff)>> {
    let newest = ctx.release.revision;
    let oldest = (newest - count + 1).max(1);
    let mut after = revision_files(conn, ctx, newest)?;
    let mut diffs = Vec::new();
    for seq in (oldest..=newest).rev() {
        let before = revision_files(conn, ctx, seq - 1)?;
        diffs.push((seq, diff(&before, &after)));
        after = before;
    }
    Ok(diffs)
}

/// 409 `wrong_phase` unless the release's files may change (a draft).
pub fn require_files_change(ctx: &ReleaseContext, doing: &str) -> AppResult<()> {
    let current = ctx.release.phase()?;
    if lifecycle::accepts_files(current) {
        return Ok(());
    }
    let required = Phase::Draft.as_str();
    Err(lifecycle::wrong_phase(
        current,
        required,
        format!("Cannot {doing}: the release {} is in phase {current}, and this needs phase {required}.", ctx.key()),
    ))
}

/// 409 `wrong_phase` unless files may be renamed or moved (a draft or a preview).
fn require_moves(ctx: &ReleaseContext) -> AppResult<()> {
    let current = ctx.release.phase()?;
    if lifecycle::accepts_moves(current) {
        return Ok(());
    }
    Err(lifecycle::wrong_phase(
        current,
        "draft|preview",
        format!(
            "Cannot move files: the release {} is in phase {current}, and this needs phase draft or preview.",
            ctx.key()
        ),
    ))
}

/// Moves the file `from` to `to`, or every file under the folder `from` to the folder `to`;
/// returns the moves made. 404 if nothing is at `from`; 409 `path_conflict` if a file would
/// land on another.
fn move_paths(
    manifest: &mut BTreeMap<String, BlobRow>,
    from: &ReleasePath,
    to: &ReleasePath,
    release: &ReleaseRef,
) -> AppResult<Vec<(String, String)>> {
    let folder = format!("{from}/");
    let moves: Vec<(String, String)> = if manifest.contains_key(from.as_str()) {
        vec![(from.to_string(), to.to_string())]
    } else {
        manifest
            .range(folder.clone()..)
            .take_while(|(path, _)| path.starts_with(&folder))
            .map(|(path, _)| (path.clone(), format!("{to}/{}", &path[folder.len()..])))
            .collect()
    };
    if moves.is_empty() {
        return Err(AppError::not_found(format!("The release {release} has no file or folder {from}.")));
    }
    if to.as_str() == from.as_str() || to.as_str().starts_with(&folder) {
        return Err(AppError::conflict("path_conflict", format!("{from} cannot move into itself ({to}).")));
    }
    let blobs: Vec<BlobRow> = moves.iter().filter_map(|(old, _)| manifest.remove(old)).collect();
    for ((old, new), blob) in moves.iter().zip(blobs) {
        if manifest.insert(new.clone(), blob).is_some() {
            return Err(AppError::conflict(
                "path_conflict",
                format!("Moving {old} to {new} would replace the file {new}; move or delete that first."),
            ));
        }
    }
    Ok(moves)
}

/// A path cannot be both a file and a folder of other files: the download tree could not show both.
fn check_no_file_is_a_folder(manifest: &BTreeMap<String, BlobRow>) -> AppResult<()> {
    for path in manifest.keys() {
        let folder = format!("{path}/");
        if let Some((inner, _)) = manifest.range(folder.clone()..).next().filter(|(p, _)| p.starts_with(&folder)) {
            return Err(AppError::conflict(
                "path_conflict",
                format!("{path} would be both a file and the folder of {inner}; rename one of them."),
            ));
        }
    }
    Ok(())
}

/// The files of a new revision, as the API lists them.
pub fn file_list(revision: &NewRevision) -> AppResult<FileList> {
    let files = revision.manifest.iter().map(|(p, b)| file_entry(p, b)).collect::<AppResult<Vec<_>>>()?;
    Ok(FileList { revision: revision.seq, files })
}

pub fn file_entry(path: &str, blob: &BlobRow) -> AppResult<FileEntry> {
    Ok(FileEntry {
        path: ReleasePath::parse(path)?,
        size: u64::try_from(blob.size).map_err(AppError::internal)?,
        sha256: blob.sha256.clone(),
        sha512: blob.sha512.clone(),
    })
}

/// The files of a release's latest revision, by path (none before its first revision).
pub fn latest_manifest(conn: &mut DbConnection, ctx: &ReleaseContext) -> AppResult<BTreeMap<String, BlobRow>> {
    let Some((revision, _)) = q::find_revision(conn, ctx.release.id, ctx.release.revision)? else {
        return Ok(BTreeMap::new());
    };
    Ok(q::revision_files(conn, revision.id)?.into_iter().collect())
}

/// The files of revision `seq` of a release, by path; 404 if it has none of that number.
pub fn revision_files(conn: &mut DbConnection, ctx: &ReleaseContext, seq: i64) -> AppResult<Vec<(String, BlobRow)>> {
    let (revision, _) = q::find_revision(conn, ctx.release.id, seq)?
        .ok_or_else(|| AppError::not_found(format!("The release {} has no revision {seq}.", ctx.key())))?;
    Ok(q::revision_files(conn, revision.id)?)
}

/// The files of a revision (the latest if `seq` is `None`).
pub fn manifest(conn: &mut DbConnection, ctx: &ReleaseContext, seq: Option<i64>) -> AppResult<RevisionManifest> {
    let seq = seq.unwrap_or(ctx.release.revision);
    let (revision, author) = q::find_revision(conn, ctx.release.id, seq)?
        .ok_or_else(|| AppError::not_found(format!("The release {} has no revision {seq}.", ctx.key())))?;
    let files = q::revision_files(conn, revision.id)?
        .iter()
        .map(|(path, blob)| file_entry(path, blob))
        .collect::<AppResult<Vec<_>>>()?;
    Ok(RevisionManifest {
        revision: seq,
        created_at: to_time(revision.created_at),
        created_by: author.unwrap_or_else(|| "unknown".to_owned()),
        description: revision.description,
        files,
    })
}

/// A page of a release's audit trail, oldest first.
pub fn events(conn: &mut DbConnection, ctx: &ReleaseContext, page: Page) -> AppResult<EventList> {
    let (limit, offset) = page.sql();
    let (rows, total) = events::of_release(conn, ctx.release.id, limit, offset)?;
    let events = rows.into_iter().map(event_view).collect::<AppResult<Vec<_>>>()?;
    Ok(EventList { events, page: page.info(total, "") })
}

/// An event as the API shows it.
pub fn event_view(row: EventRow) -> AppResult<Event> {
    Ok(Event {
        id: row.id,
        at: to_time(row.at),
        actor: row.actor,
        action: row.action,
        target: row.target,
        details: serde_json::from_str(&row.details).map_err(AppError::internal)?,
    })
}

pub fn revisions(conn: &mut DbConnection, ctx: &ReleaseContext) -> AppResult<Vec<RevisionSummary>> {
    Ok(q::list_revisions(conn, ctx.release.id)?
        .into_iter()
        .map(|(revision, author, count)| RevisionSummary {
            revision: revision.seq,
            created_at: to_time(revision.created_at),
            created_by: author.unwrap_or_else(|| "unknown".to_owned()),
            description: revision.description,
            file_count: u64::try_from(count).unwrap_or_default(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob() -> BlobRow {
        BlobRow { sha256: "a".repeat(64), sha512: "b".repeat(128), size: 1, created_at: 0 }
    }

    #[test]
    fn a_file_cannot_also_be_a_folder() {
        let mut manifest = BTreeMap::new();
        manifest.insert("a".to_owned(), blob());
        manifest.insert("a-b".to_owned(), blob());
        manifest.insert("ab/c".to_owned(), blob());
        assert!(check_no_file_is_a_folder(&manifest).is_ok());
        manifest.insert("a/c".to_owned(), blob());
        let err = check_no_file_is_a_folder(&manifest).unwrap_err();
        assert_eq!(err.code, "path_conflict");
    }

    #[test]
    fn release_refs_print_as_urls_do() {
        let main = ReleaseRef {
            project: Name::parse("httpd").unwrap(),
            product: None,
            version: Version::parse("2.4.68").unwrap(),
        };
        assert_eq!(main.to_string(), "httpd/2.4.68");
        let tools = ReleaseRef { product: Some(Name::parse("tools").unwrap()), ..main };
        assert_eq!(tools.to_string(), "httpd/tools/2.4.68");
    }
}
