//! Committees, projects and products.

use diesel::prelude::*;

use super::insert_or_ignore;
use crate::db::models::{CommitteeRow, ProductRow, ProjectRow};
use crate::db::schema::{committee, product, project, release};
use crate::db::{DbConnection, now_ms};

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

pub fn find_committee(conn: &mut DbConnection, name: &str) -> QueryResult<Option<CommitteeRow>> {
    committee::table.filter(committee::name.eq(name)).select(CommitteeRow::as_select()).first(conn).optional()
}

pub fn committee_by_id(conn: &mut DbConnection, id: i64) -> QueryResult<CommitteeRow> {
    committee::table.find(id).select(CommitteeRow::as_select()).first(conn)
}

/// A page of committees by name, and how many there are.
pub fn list_committees(conn: &mut DbConnection, limit: i64, offset: i64) -> QueryResult<(Vec<CommitteeRow>, i64)> {
    let total = committee::table.count().get_result(conn)?;
    let rows = committee::table
        .order(committee::name)
        .limit(limit)
        .offset(offset)
        .select(CommitteeRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Creates a committee; `None` when the name is taken.
pub fn insert_committee(
    conn: &mut DbConnection,
    name: &str,
    display_name: &str,
    podling: bool,
) -> QueryResult<Option<CommitteeRow>> {
    let inserted = insert_or_ignore!(
        conn,
        committee::table,
        (
            committee::name.eq(name),
            committee::display_name.eq(display_name),
            committee::podling.eq(podling),
            committee::created_at.eq(now_ms()),
        )
    )?;
    if inserted == 0 {
        return Ok(None);
    }
    find_committee(conn, name)
}

/// Creates or updates a committee (for imports); returns it and whether it is new.
pub fn upsert_committee(
    conn: &mut DbConnection,
    name: &str,
    display_name: &str,
    podling: bool,
    retired: bool,
) -> QueryResult<(CommitteeRow, bool)> {
    if let Some(existing) = find_committee(conn, name)? {
        diesel::update(committee::table.find(existing.id))
            .set((
                committee::display_name.eq(display_name),
                committee::podling.eq(podling),
                committee::retired.eq(retired),
            ))
            .execute(conn)?;
        return Ok((committee_by_id(conn, existing.id)?, false));
    }
    let created = insert_committee(conn, name, display_name, podling)?.ok_or(diesel::result::Error::NotFound)?;
    if retired {
        diesel::update(committee::table.find(created.id)).set(committee::retired.eq(true)).execute(conn)?;
    }
    Ok((created, true))
}

/// Project names per committee id, for committee listings.
pub fn project_names_of(conn: &mut DbConnection, committee_ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    project::table
        .filter(project::committee_id.eq_any(committee_ids))
        .order(project::name)
        .select((project::committee_id, project::name))
        .load(conn)
}

pub fn find_project(conn: &mut DbConnection, name: &str) -> QueryResult<Option<(ProjectRow, CommitteeRow)>> {
    project::table
        .inner_join(committee::table)
        .filter(project::name.eq(name))
        .select((ProjectRow::as_select(), CommitteeRow::as_select()))
        .first(conn)
        .optional()
}

pub fn project_by_id(conn: &mut DbConnection, id: i64) -> QueryResult<(ProjectRow, CommitteeRow)> {
    project::table
        .inner_join(committee::table)
        .filter(project::id.eq(id))
        .select((ProjectRow::as_select(), CommitteeRow::as_select()))
        .first(conn)
}

/// A page of projects (optionally those whose name or display name contains `search`).
pub fn list_projects(
    conn: &mut DbConnection,
    search: Option<&str>,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<(ProjectRow, CommitteeRow)>, i64)> {
    let filtered = || {
        let mut query = project::table.inner_join(committee::table).into_boxed();
        if let Some(term) = search.filter(|s| !s.is_empty()) {
            let pattern = format!("%{}%", term.to_lowercase().replace(['%', '_'], ""));
            query = query.filter(project::name.like(pattern.clone()).or(lower(project::display_name).like(pattern)));
        }
        query
    };
    let total = filtered().count().get_result(conn)?;
    let rows = filtered()
        .order(project::name)
        .limit(limit)
        .offset(offset)
        .select((ProjectRow::as_select(), CommitteeRow::as_select()))
        .load(conn)?;
    Ok((rows, total))
}

/// The pattern of a search term for `LIKE`: lower case, wildcards taken out, inside `%…%`.
pub fn contains_pattern(term: &str) -> String {
    format!("%{}%", term.to_lowercase().replace(['%', '_', '\\'], ""))
}

/// Committees whose name or display name holds `term`.
pub fn search_committees(conn: &mut DbConnection, term: &str, limit: i64) -> QueryResult<Vec<CommitteeRow>> {
    let pattern = contains_pattern(term);
    committee::table
        .filter(committee::name.like(pattern.clone()).or(lower(committee::display_name).like(pattern)))
        .order(committee::name)
        .limit(limit)
        .select(CommitteeRow::as_select())
        .load(conn)
}

/// Releases out of draft whose version holds `term`, with their product and project names,
/// newest first.
pub fn search_releases(
    conn: &mut DbConnection,
    term: &str,
    limit: i64,
) -> QueryResult<Vec<(crate::db::models::ReleaseRow, String, String)>> {
    let pattern = contains_pattern(term);
    release::table
        .inner_join(product::table.inner_join(project::table))
        .filter(release::phase.ne("draft"))
        .filter(lower(release::version).like(pattern))
        .order((release::created_at.desc(), release::id.desc()))
        .limit(limit)
        .select((crate::db::models::ReleaseRow::as_select(), project::name, product::name))
        .load(conn)
}

/// Creates a project and its main product (named like the project); `None` if the name is taken.
pub fn insert_project(
    conn: &mut DbConnection,
    name: &str,
    committee_id: i64,
    display_name: &str,
) -> QueryResult<Option<ProjectRow>> {
    let now = now_ms();
    let inserted = insert_or_ignore!(
        conn,
        project::table,
        (
            project::name.eq(name),
            project::committee_id.eq(committee_id),
            project::display_name.eq(display_name),
            project::created_at.eq(now),
        )
    )?;
    if inserted == 0 {
        return Ok(None);
    }
    let row: ProjectRow = project::table.filter(project::name.eq(name)).select(ProjectRow::as_select()).first(conn)?;
    insert_product(conn, row.id, name, display_name)?;
    Ok(Some(row))
}

/// Creates a product; `None` if the project already has one of that name.
pub fn insert_product(
    conn: &mut DbConnection,
    project_id: i64,
    name: &str,
    display_name: &str,
) -> QueryResult<Option<ProductRow>> {
    let inserted = insert_or_ignore!(
        conn,
        product::table,
        (
            product::project_id.eq(project_id),
            product::name.eq(name),
            product::display_name.eq(display_name),
            product::created_at.eq(now_ms()),
        )
    )?;
    if inserted == 0 {
        return Ok(None);
    }
    find_product(conn, project_id, name)
}

pub fn find_product(conn: &mut DbConnection, project_id: i64, name: &str) -> QueryResult<Option<ProductRow>> {
    product::table
        .filter(product::project_id.eq(project_id))
        .filter(product::name.eq(name))
        .select(ProductRow::as_select())
        .first(conn)
        .optional()
}

/// Product names per project id.
pub fn product_names_of(conn: &mut DbConnection, project_ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    product::table
        .filter(product::project_id.eq_any(project_ids))
        .order(product::name)
        .select((product::project_id, product::name))
        .load(conn)
}

/// A product's vote policy over its project's (`None`: none).
pub fn set_product_override(conn: &mut DbConnection, product_id: i64, json: Option<&str>) -> QueryResult<()> {
    diesel::update(product::table.find(product_id)).set(product::policy_override.eq(json)).execute(conn)?;
    Ok(())
}

/// A draft's vote policy over its product's and project's; false if it is no longer a draft.
pub fn set_release_override(conn: &mut DbConnection, release_id: i64, json: Option<&str>) -> QueryResult<bool> {
    let changed = diesel::update(release::table.find(release_id).filter(release::phase.eq("draft")))
        .set(release::policy_override.eq(json))
        .execute(conn)?;
    Ok(changed == 1)
}

pub fn set_policy(conn: &mut DbConnection, project_id: i64, policy_json: &str) -> QueryResult<()> {
    diesel::update(project::table.find(project_id)).set(project::policy.eq(policy_json)).execute(conn)?;
    Ok(())
}
