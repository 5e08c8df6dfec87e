//! CVE records and the releases they name.

use diesel::prelude::*;

use super::insert_or_ignore;
use crate::db::models::CveRow;
use crate::db::schema::{cve, cve_release, product, project, release};
use crate::db::{DbConnection, now_ms};

/// What a record holds besides its links.
#[derive(Debug, Clone)]
pub struct CveFields<'a> {
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub severity: Option<&'a str>,
    pub cvss_vector: Option<&'a str>,
    pub advisory_url: Option<&'a str>,
    pub published_at: Option<i64>,
}

/// Adds the record `name` to a project; `None` if the project has a record of that name.
pub fn insert(
    conn: &mut DbConnection,
    name: &str,
    project_id: i64,
    fields: &CveFields<'_>,
    created_by: &str,
) -> QueryResult<Option<i64>> {
    let now = now_ms();
    let inserted = insert_or_ignore!(
        conn,
        cve::table,
        (
            cve::name.eq(name),
            cve::project_id.eq(project_id),
            cve::title.eq(fields.title),
            cve::description.eq(fields.description),
            cve::severity.eq(fields.severity),
            cve::cvss_vector.eq(fields.cvss_vector),
            cve::advisory_url.eq(fields.advisory_url),
            cve::published_at.eq(fields.published_at),
            cve::created_by.eq(created_by),
            cve::created_at.eq(now),
            cve::updated_at.eq(now),
        )
    )?;
    if inserted == 0 {
        return Ok(None);
    }
    cve::table.filter(cve::project_id.eq(project_id)).filter(cve::name.eq(name)).select(cve::id).first(conn).map(Some)
}

pub fn update(conn: &mut DbConnection, id: i64, fields: &CveFields<'_>) -> QueryResult<()> {
    diesel::update(cve::table.find(id))
        .set((
            cve::title.eq(fields.title),
            cve::description.eq(fields.description),
            cve::severity.eq(fields.severity),
            cve::cvss_vector.eq(fields.cvss_vector),
            cve::advisory_url.eq(fields.advisory_url),
            cve::published_at.eq(fields.published_at),
            cve::updated_at.eq(now_ms()),
        ))
        .execute(conn)
        .map(drop)
}

pub fn find(conn: &mut DbConnection, project_id: i64, name: &str) -> QueryResult<Option<CveRow>> {
    cve::table
        .filter(cve::project_id.eq(project_id))
        .filter(cve::name.eq(name))
        .select(CveRow::as_select())
        .first(conn)
        .optional()
}

/// Locks a record's row until the transaction ends (a no-op update), so that a change and a
/// removal of it happen one after the other; false if it is gone.
pub fn lock(conn: &mut DbConnection, id: i64) -> QueryResult<bool> {
    diesel::update(cve::table.find(id)).set(cve::updated_at.eq(cve::updated_at)).execute(conn).map(|n| n == 1)
}

/// A page of a project's records, the latest recorded first (those embargoed at `now` only if
/// `embargoed`), and how many there are.
pub fn of_project(
    conn: &mut DbConnection,
    project_id: i64,
    embargoed: bool,
    now: i64,
    (limit, offset): (i64, i64),
) -> QueryResult<(Vec<CveRow>, i64)> {
    let visible = || {
        let mut query = cve::table.filter(cve::project_id.eq(project_id)).into_boxed();
        if !embargoed {
            query = query.filter(cve::published_at.le(now));
        }
        query
    };
    let total = visible().count().get_result(conn)?;
    let rows = visible()
        .order((cve::created_at.desc(), cve::id.desc()))
        .limit(limit)
        .offset(offset)
        .select(CveRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Replaces the releases a record names as `relation` (`affected` or `fixed`).
pub fn set_links(conn: &mut DbConnection, cve_id: i64, relation: &str, release_ids: &[i64]) -> QueryResult<()> {
    diesel::delete(
        cve_release::table.filter(cve_release::cve_id.eq(cve_id)).filter(cve_release::relation.eq(relation)),
    )
    .execute(conn)?;
    for release_id in release_ids {
        insert_or_ignore!(
            conn,
            cve_release::table,
            (
                cve_release::cve_id.eq(cve_id),
                cve_release::release_id.eq(release_id),
                cve_release::relation.eq(relation)
            )
        )?;
    }
    Ok(())
}

/// The releases records name: `(cve id, relation, release id)`.
pub fn links(conn: &mut DbConnection, cve_ids: &[i64]) -> QueryResult<Vec<(i64, String, i64)>> {
    cve_release::table
        .filter(cve_release::cve_id.eq_any(cve_ids))
        .order((cve_release::cve_id, cve_release::relation, cve_release::release_id))
        .select((cve_release::cve_id, cve_release::relation, cve_release::release_id))
        .load(conn)
}

/// The public records (published by `now`) that name the releases `release_ids`: `(release
/// id, relation, CVE name)`.
pub fn public_of_releases(
    conn: &mut DbConnection,
    release_ids: &[i64],
    now: i64,
) -> QueryResult<Vec<(i64, String, String)>> {
    cve_release::table
        .inner_join(cve::table)
        .filter(cve_release::release_id.eq_any(release_ids))
        .filter(cve::published_at.le(now))
        .order((cve_release::release_id, cve::name))
        .select((cve_release::release_id, cve_release::relation, cve::name))
        .load(conn)
}

/// The records that name the release `release_id`, by name.
pub fn naming_release(conn: &mut DbConnection, release_id: i64) -> QueryResult<Vec<CveRow>> {
    cve::table
        .filter(
            cve::id
                .eq_any(cve_release::table.filter(cve_release::release_id.eq(release_id)).select(cve_release::cve_id)),
        )
        .order(cve::name)
        .select(CveRow::as_select())
        .load(conn)
}

pub fn delete(conn: &mut DbConnection, id: i64) -> QueryResult<()> {
    diesel::delete(cve_release::table.filter(cve_release::cve_id.eq(id))).execute(conn)?;
    diesel::delete(cve::table.find(id)).execute(conn).map(drop)
}

/// The id of the release `product/version` of project `project_id`, if it exists.
pub fn release_id(conn: &mut DbConnection, project_id: i64, product: &str, version: &str) -> QueryResult<Option<i64>> {
    release::table
        .inner_join(product::table.inner_join(project::table))
        .filter(project::id.eq(project_id))
        .filter(product::name.eq(product))
        .filter(release::version.eq(version))
        .select(release::id)
        .first(conn)
        .optional()
}
