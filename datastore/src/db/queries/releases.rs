//! Releases, their immutable revisions, revision manifests and blobs.

use diesel::prelude::*;

use super::insert_or_ignore;
use crate::db::models::{BlobRow, CommitteeRow, ProductRow, ProjectRow, ReleaseRow, RevisionRow};
use crate::db::schema::{blob, committee, product, project, release, revision, revision_file, users};
use crate::db::{DbConnection, now_ms};

/// A release with everything it belongs to.
#[derive(Debug, Clone)]
pub struct ReleaseContext {
    pub release: ReleaseRow,
    pub product: ProductRow,
    pub project: ProjectRow,
    pub committee: CommitteeRow,
}

impl ReleaseContext {
    /// `project/version` for the main product, `project/product/version` otherwise.
    pub fn key(&self) -> String {
        if self.product.name == self.project.name {
            format!("{}/{}", self.project.name, self.release.version)
        } else {
            format!("{}/{}/{}", self.project.name, self.product.name, self.release.version)
        }
    }
}

pub fn find_release(
    conn: &mut DbConnection,
    project_name: &str,
    product_name: &str,
    version: &str,
) -> QueryResult<Option<ReleaseContext>> {
    let row = release::table
        .inner_join(product::table.inner_join(project::table.inner_join(committee::table)))
        .filter(project::name.eq(project_name))
        .filter(product::name.eq(product_name))
        .filter(release::version.eq(version))
        .select((ReleaseRow::as_select(), ProductRow::as_select(), ProjectRow::as_select(), CommitteeRow::as_select()))
        .first::<(ReleaseRow, ProductRow, ProjectRow, CommitteeRow)>(conn)
        .optional()?;
    Ok(row.map(|(release, product, project, committee)| ReleaseContext { release, product, project, committee }))
}

/// Locks a release's row until the transaction ends (a no-op update).
pub fn lock_release(conn: &mut DbConnection, release_id: i64) -> QueryResult<()> {
    diesel::update(release::table.find(release_id)).set(release::updated_at.eq(release::updated_at)).execute(conn)?;
    Ok(())
}

/// A release with its product, project and committee, by id.
/// The `project/[product/]version` key of the release `release_id`, looked up once per release
/// for a list of things that name releases (tasks, runners' work).
pub fn key_by_id(
    conn: &mut DbConnection,
    known: &mut std::collections::HashMap<i64, String>,
    release_id: i64,
) -> QueryResult<String> {
    if let Some(key) = known.get(&release_id) {
        return Ok(key.clone());
    }
    let key = context_by_id(conn, release_id)?.key();
    known.insert(release_id, key.clone());
    Ok(key)
}

pub fn context_by_id(conn: &mut DbConnection, release_id: i64) -> QueryResult<ReleaseContext> {
    let (release, product, project, committee) = release::table
        .inner_join(product::table.inner_join(project::table.inner_join(committee::table)))
        .filter(release::id.eq(release_id))
        .select((ReleaseRow::as_select(), ProductRow::as_select(), ProjectRow::as_select(), CommitteeRow::as_select()))
        .first::<(ReleaseRow, ProductRow, ProjectRow, CommitteeRow)>(conn)?;
    Ok(ReleaseContext { release, product, project, committee })
}

/// Ids of the releases of a committee (or of one project) in the given phases.
pub fn open_release_ids(
    conn: &mut DbConnection,
    committee_id: i64,
    project_id: Option<i64>,
    phases: &[&str],
) -> QueryResult<Vec<i64>> {
    let mut query = release::table
        .inner_join(product::table.inner_join(project::table))
        .filter(project::committee_id.eq(committee_id))
        .filter(release::phase.eq_any(phases))
        .select(release::id)
        .into_boxed();
    if let Some(project_id) = project_id {
        query = query.filter(project::id.eq(project_id));
    }
    query.load(conn)
}

/// Every release of a product in the given phases, with their contexts (for `latest`).
pub fn releases_in_phase(
    conn: &mut DbConnection,
    project_name: &str,
    product_name: &str,
    phases: &[&str],
) -> QueryResult<Vec<ReleaseRow>> {
    release::table
        .inner_join(product::table.inner_join(project::table))
        .filter(project::name.eq(project_name))
        .filter(product::name.eq(product_name))
        .filter(release::phase.eq_any(phases))
        .select(ReleaseRow::as_select())
        .load(conn)
}

/// The names of the projects with a release in one of `phases`.
pub fn projects_in_phases(conn: &mut DbConnection, phases: &[&str]) -> QueryResult<Vec<String>> {
    release::table
        .inner_join(product::table.inner_join(project::table))
        .filter(release::phase.eq_any(phases))
        .select(project::name)
        .distinct()
        .load(conn)
}

/// The releases of a project in one of `phases`, with their product names.
pub fn project_releases_in_phases(
    conn: &mut DbConnection,
    project_name: &str,
    phases: &[&str],
) -> QueryResult<Vec<(ReleaseRow, String)>> {
    release::table
        .inner_join(product::table.inner_join(project::table))
        .filter(project::name.eq(project_name))
        .filter(release::phase.eq_any(phases))
        .select((ReleaseRow::as_select(), product::name))
        .load(conn)
}

/// A page of a project's releases, newest first, with their products; drafts only if asked.
pub fn list_releases(
    conn: &mut DbConnection,
    project_id: i64,
    with_drafts: bool,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<(ReleaseRow, ProductRow)>, i64)> {
    let of_project = || {
        let query = release::table.inner_join(product::table).filter(product::project_id.eq(project_id)).into_boxed();
        if with_drafts { query } else { query.filter(release::phase.ne("draft")) }
    };
    let total = of_project().count().get_result(conn)?;
    let rows = of_project()
        .order((release::created_at.desc(), release::id.desc()))
        .limit(limit)
        .offset(offset)
        .select((ReleaseRow::as_select(), ProductRow::as_select()))
        .load(conn)?;
    Ok((rows, total))
}

/// A page of the ids of releases in `phase`, the latest released first, and how many there are.
pub fn ids_in_phase(conn: &mut DbConnection, phase: &str, limit: i64, offset: i64) -> QueryResult<(Vec<i64>, i64)> {
    let total = release::table.filter(release::phase.eq(phase)).count().get_result(conn)?;
    let ids = release::table
        .filter(release::phase.eq(phase))
        .order((release::released_at.desc(), release::id.desc()))
        .limit(limit)
        .offset(offset)
        .select(release::id)
        .load(conn)?;
    Ok((ids, total))
}

/// Creates a release in `draft` with its empty revision 0; `None` if the version exists.
pub fn insert_release(
    conn: &mut DbConnection,
    product_id: i64,
    version: &str,
    created_by: i64,
) -> QueryResult<Option<ReleaseRow>> {
    let now = now_ms();
    let inserted = insert_or_ignore!(
        conn,
        release::table,
        (
            release::product_id.eq(product_id),
            release::version.eq(version),
            release::phase.eq("draft"),
            release::revision.eq(0i64),
            release::created_by.eq(created_by),
            release::created_at.eq(now),
            release::updated_at.eq(now),
        )
    )?;
    if inserted == 0 {
        return Ok(None);
    }
    let row: ReleaseRow = release::table
        .filter(release::product_id.eq(product_id))
        .filter(release::version.eq(version))
        .select(ReleaseRow::as_select())
        .first(conn)?;
    insert_revision(conn, row.id, 0, Some(created_by), "release created")?;
    Ok(Some(row))
}

/// Takes the next revision number of a release. The update locks the release row (PostgreSQL)
/// or the database (SQLite) until the transaction ends, so concurrent uploads get distinct,
/// gap-free numbers and each sees the revision before its own.
pub fn next_revision(conn: &mut DbConnection, release_id: i64) -> QueryResult<i64> {
    diesel::update(release::table.find(release_id))
        .set((release::revision.eq(release::revision + 1), release::updated_at.eq(now_ms())))
        .returning(release::revision)
        .get_result(conn)
}

pub fn insert_revision(
    conn: &mut DbConnection,
    release_id: i64,
    seq: i64,
    created_by: Option<i64>,
    description: &str,
) -> QueryResult<i64> {
    diesel::insert_into(revision::table)
        .values((
            revision::release_id.eq(release_id),
            revision::seq.eq(seq),
            revision::created_by.eq(created_by),
            revision::created_at.eq(now_ms()),
            revision::description.eq(description),
        ))
        .returning(revision::id)
        .get_result(conn)
}

/// A revision and the uid of its author.
pub fn find_revision(
    conn: &mut DbConnection,
    release_id: i64,
    seq: i64,
) -> QueryResult<Option<(RevisionRow, Option<String>)>> {
    revision::table
        .left_join(users::table)
        .filter(revision::release_id.eq(release_id))
        .filter(revision::seq.eq(seq))
        .select((RevisionRow::as_select(), users::uid.nullable()))
        .first(conn)
        .optional()
}

/// Every revision of a release, oldest first, with author uid and file count.
pub fn list_revisions(
    conn: &mut DbConnection,
    release_id: i64,
) -> QueryResult<Vec<(RevisionRow, Option<String>, i64)>> {
    let revisions: Vec<(RevisionRow, Option<String>)> = revision::table
        .left_join(users::table)
        .filter(revision::release_id.eq(release_id))
        .order(revision::seq)
        .select((RevisionRow::as_select(), users::uid.nullable()))
        .load(conn)?;
    let ids: Vec<i64> = revisions.iter().map(|(r, _)| r.id).collect();
    let counts: Vec<(i64, i64)> = revision_file::table
        .filter(revision_file::revision_id.eq_any(&ids))
        .group_by(revision_file::revision_id)
        .select((revision_file::revision_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(revisions
        .into_iter()
        .map(|(r, uid)| {
            let count = counts.iter().find(|(id, _)| *id == r.id).map_or(0, |(_, n)| *n);
            (r, uid, count)
        })
        .collect())
}

/// The manifest of a revision: path and blob of every file, by path.
pub fn revision_files(conn: &mut DbConnection, revision_id: i64) -> QueryResult<Vec<(String, BlobRow)>> {
    revision_file::table
        .inner_join(blob::table)
        .filter(revision_file::revision_id.eq(revision_id))
        .order(revision_file::path)
        .select((revision_file::path, BlobRow::as_select()))
        .load(conn)
}

/// One file of a revision.
pub fn revision_file(conn: &mut DbConnection, revision_id: i64, path: &str) -> QueryResult<Option<BlobRow>> {
    revision_file::table
        .inner_join(blob::table)
        .filter(revision_file::revision_id.eq(revision_id))
        .filter(revision_file::path.eq(path))
        .select(BlobRow::as_select())
        .first(conn)
        .optional()
}

pub fn insert_revision_file(conn: &mut DbConnection, revision_id: i64, path: &str, sha256: &str) -> QueryResult<()> {
    diesel::insert_into(revision_file::table)
        .values((
            revision_file::revision_id.eq(revision_id),
            revision_file::path.eq(path),
            revision_file::blob_sha256.eq(sha256),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records a blob's digests; a blob already known is left as it is.
pub fn insert_blob(conn: &mut DbConnection, row: &BlobRow) -> QueryResult<()> {
    insert_or_ignore!(conn, blob::table, row)?;
    Ok(())
}

pub fn find_blob(conn: &mut DbConnection, sha256: &str) -> QueryResult<Option<BlobRow>> {
    blob::table.find(sha256).select(BlobRow::as_select()).first(conn).optional()
}

/// Moves a release to `phase`; entering `current` records the release time.
pub fn set_phase(conn: &mut DbConnection, release_id: i64, phase: &str) -> QueryResult<()> {
    let now = now_ms();
    let target = release::table.find(release_id);
    diesel::update(target).set((release::phase.eq(phase), release::updated_at.eq(now))).execute(conn)?;
    if phase == "current" {
        diesel::update(target).set(release::released_at.eq(now)).execute(conn)?;
    }
    Ok(())
}

/// The uid of a user id.
pub fn uid_of(conn: &mut DbConnection, user_id: Option<i64>) -> QueryResult<Option<String>> {
    match user_id {
        None => Ok(None),
        Some(id) => users::table.find(id).select(users::uid).first(conn).optional(),
    }
}

/// A blob by its SHA-512 (indexed).
pub fn blob_by_sha512(conn: &mut DbConnection, sha512: &str) -> QueryResult<Option<BlobRow>> {
    blob::table.filter(blob::sha512.eq(sha512)).select(BlobRow::as_select()).first(conn).optional()
}

/// Every (release id, revision seq, path) holding blob `sha256`, newest revision first, at most `limit`.
pub fn holders_of(conn: &mut DbConnection, sha256: &str, limit: i64) -> QueryResult<Vec<(i64, i64, String)>> {
    revision_file::table
        .inner_join(revision::table)
        .filter(revision_file::blob_sha256.eq(sha256))
        .order((revision::release_id.desc(), revision::seq.desc()))
        .limit(limit)
        .select((revision::release_id, revision::seq, revision_file::path))
        .load(conn)
}

/// The releases of a product in `phases` created before `before` (epoch ms), newest first; at
/// most `limit`.
pub fn earlier_releases(
    conn: &mut DbConnection,
    product_id: i64,
    phases: &[&str],
    before: i64,
    limit: i64,
) -> QueryResult<Vec<ReleaseRow>> {
    release::table
        .filter(release::product_id.eq(product_id))
        .filter(release::phase.eq_any(phases))
        .filter(release::created_at.lt(before))
        .order((release::created_at.desc(), release::id.desc()))
        .limit(limit)
        .select(ReleaseRow::as_select())
        .load(conn)
}
