//! Trusted publishers (the CI identities projects trust) and the ID tokens exchanged already.

use diesel::prelude::*;

use super::insert_or_ignore;
use crate::db::models::TrustedPublisherRow;
use crate::db::schema::{oidc_token_used, project, trusted_publisher};
use crate::db::{DbConnection, now_ms};

pub fn insert(
    conn: &mut DbConnection,
    project_id: i64,
    issuer: &str,
    audience: &str,
    claims: &str,
    actions: &str,
    by: &str,
) -> QueryResult<TrustedPublisherRow> {
    let id: i64 = diesel::insert_into(trusted_publisher::table)
        .values((
            trusted_publisher::project_id.eq(project_id),
            trusted_publisher::issuer.eq(issuer),
            trusted_publisher::audience.eq(audience),
            trusted_publisher::claims.eq(claims),
            trusted_publisher::actions.eq(actions),
            trusted_publisher::created_by.eq(by),
            trusted_publisher::created_at.eq(now_ms()),
        ))
        .returning(trusted_publisher::id)
        .get_result(conn)?;
    trusted_publisher::table.find(id).select(TrustedPublisherRow::as_select()).first(conn)
}

/// A project's trusts that are not deleted, oldest first.
pub fn live(conn: &mut DbConnection, project_id: i64) -> QueryResult<Vec<TrustedPublisherRow>> {
    trusted_publisher::table
        .filter(trusted_publisher::project_id.eq(project_id))
        .filter(trusted_publisher::deleted_at.is_null())
        .order(trusted_publisher::id)
        .select(TrustedPublisherRow::as_select())
        .load(conn)
}

/// Those of `ids` that are trusts of the project `project_name` and not deleted.
pub fn live_of(conn: &mut DbConnection, project_name: &str, ids: &[i64]) -> QueryResult<Vec<TrustedPublisherRow>> {
    trusted_publisher::table
        .inner_join(project::table)
        .filter(project::name.eq(project_name))
        .filter(trusted_publisher::id.eq_any(ids))
        .filter(trusted_publisher::deleted_at.is_null())
        .select(TrustedPublisherRow::as_select())
        .load(conn)
}

/// Deletes a trust of a project; false if there is none live of that id.
pub fn delete(conn: &mut DbConnection, project_id: i64, id: i64) -> QueryResult<bool> {
    let changed = diesel::update(
        trusted_publisher::table
            .find(id)
            .filter(trusted_publisher::project_id.eq(project_id))
            .filter(trusted_publisher::deleted_at.is_null()),
    )
    .set(trusted_publisher::deleted_at.eq(now_ms()))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Notes an ID token (by its SHA-256) as exchanged until `expires_at` (ms), forgetting those
/// expired; false if it was exchanged before.
pub fn use_token(conn: &mut DbConnection, token_sha256: &str, expires_at: i64) -> QueryResult<bool> {
    diesel::delete(oidc_token_used::table.filter(oidc_token_used::expires_at.lt(now_ms()))).execute(conn)?;
    let inserted = insert_or_ignore!(
        conn,
        oidc_token_used::table,
        (oidc_token_used::token_sha256.eq(token_sha256), oidc_token_used::expires_at.eq(expires_at))
    )?;
    Ok(inserted == 1)
}
