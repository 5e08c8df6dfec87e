//! Audited waivers of check failures.

use diesel::prelude::*;

use crate::db::models::WaiverRow;
use crate::db::schema::{users, waiver};
use crate::db::{DbConnection, now_ms};

/// What a new waiver holds.
#[derive(Debug, Clone)]
pub struct NewWaiver<'a> {
    pub project_id: i64,
    pub checker: &'a str,
    pub rule: Option<&'a str>,
    pub path_glob: &'a str,
    pub reason: &'a str,
    pub author_id: i64,
    pub release_id: Option<i64>,
    pub revision_seq: Option<i64>,
}

pub fn insert(conn: &mut DbConnection, new: &NewWaiver<'_>) -> QueryResult<i64> {
    diesel::insert_into(waiver::table)
        .values((
            waiver::project_id.eq(new.project_id),
            waiver::checker.eq(new.checker),
            waiver::rule.eq(new.rule),
            waiver::path_glob.eq(new.path_glob),
            waiver::reason.eq(new.reason),
            waiver::author_id.eq(new.author_id),
            waiver::release_id.eq(new.release_id),
            waiver::revision_seq.eq(new.revision_seq),
            waiver::created_at.eq(now_ms()),
        ))
        .returning(waiver::id)
        .get_result(conn)
}

/// The waivers that were live at `as_of` and may apply to revision `seq` of a release of a
/// project, with their authors' uids, oldest first.
pub fn applicable(
    conn: &mut DbConnection,
    project_id: i64,
    release_id: i64,
    seq: i64,
    as_of: i64,
) -> QueryResult<Vec<(WaiverRow, Option<String>)>> {
    waiver::table
        .left_join(users::table)
        .filter(waiver::project_id.eq(project_id))
        .filter(waiver::created_at.le(as_of))
        .filter(waiver::revoked_at.is_null().or(waiver::revoked_at.gt(as_of)))
        .filter(waiver::release_id.is_null().or(waiver::release_id.eq(release_id)))
        .filter(waiver::revision_seq.is_null().or(waiver::revision_seq.eq(seq)))
        .order(waiver::id)
        .select((WaiverRow::as_select(), users::uid.nullable()))
        .load(conn)
}

/// The live waivers of a project that apply to all its releases, with their authors' uids,
/// oldest first.
pub fn project_wide(conn: &mut DbConnection, project_id: i64) -> QueryResult<Vec<(WaiverRow, Option<String>)>> {
    waiver::table
        .left_join(users::table)
        .filter(waiver::project_id.eq(project_id))
        .filter(waiver::release_id.is_null())
        .filter(waiver::revoked_at.is_null())
        .order(waiver::id)
        .select((WaiverRow::as_select(), users::uid.nullable()))
        .load(conn)
}

pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<(WaiverRow, Option<String>)>> {
    waiver::table
        .left_join(users::table)
        .filter(waiver::id.eq(id))
        .select((WaiverRow::as_select(), users::uid.nullable()))
        .first(conn)
        .optional()
}

/// Ends a waiver (it stays, for the audit); false if it had ended already.
pub fn revoke(conn: &mut DbConnection, id: i64) -> QueryResult<bool> {
    let changed = diesel::update(waiver::table.find(id).filter(waiver::revoked_at.is_null()))
        .set(waiver::revoked_at.eq(now_ms()))
        .execute(conn)?;
    Ok(changed == 1)
}

/// The name of the committee that owns a project.
pub fn committee_of_project(conn: &mut DbConnection, project_id: i64) -> QueryResult<String> {
    use crate::db::schema::{committee, project};
    project::table.inner_join(committee::table).filter(project::id.eq(project_id)).select(committee::name).first(conn)
}
