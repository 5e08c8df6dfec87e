//! OpenPGP public keys and the committees whose KEYS hold them.

use diesel::prelude::*;

use super::insert_or_ignore;
use crate::db::models::SigningKeyRow;
use crate::db::schema::{committee, committee_key, key_use, signing_key, users};
use crate::db::{DbConnection, now_ms};

/// Stores a new key.
pub fn insert_key(conn: &mut DbConnection, row: &SigningKeyRow) -> QueryResult<()> {
    diesel::insert_into(signing_key::table).values(row).execute(conn)?;
    Ok(())
}

/// Replaces what a key's packets say (user ids, expiry, revocation, armor and its digest); the
/// owner is set only where there is none.
pub fn update_key(conn: &mut DbConnection, row: &SigningKeyRow) -> QueryResult<()> {
    diesel::update(signing_key::table.find(&row.fingerprint))
        .set((
            signing_key::expires_at.eq(row.expires_at),
            signing_key::revoked.eq(row.revoked),
            signing_key::primary_uid.eq(&row.primary_uid),
            signing_key::uids.eq(&row.uids),
            signing_key::armored.eq(&row.armored),
            signing_key::armored_sha256.eq(&row.armored_sha256),
            signing_key::updated_at.eq(now_ms()),
        ))
        .execute(conn)?;
    if let Some(owner) = row.owner_id {
        diesel::update(signing_key::table.find(&row.fingerprint).filter(signing_key::owner_id.is_null()))
            .set(signing_key::owner_id.eq(owner))
            .execute(conn)?;
    }
    Ok(())
}

/// Keys stored before their armor's digest was kept: fingerprint and armor.
pub fn without_digest(conn: &mut DbConnection) -> QueryResult<Vec<(String, String)>> {
    signing_key::table
        .filter(signing_key::armored_sha256.eq(""))
        .select((signing_key::fingerprint, signing_key::armored))
        .load(conn)
}

pub fn set_digest(conn: &mut DbConnection, fingerprint: &str, armored_sha256: &str) -> QueryResult<()> {
    diesel::update(signing_key::table.find(fingerprint))
        .set(signing_key::armored_sha256.eq(armored_sha256))
        .execute(conn)?;
    Ok(())
}

/// Adds a key to a committee's KEYS; false if it was there.
pub fn link(conn: &mut DbConnection, committee_id: i64, fingerprint: &str) -> QueryResult<bool> {
    let added = insert_or_ignore!(
        conn,
        committee_key::table,
        (
            committee_key::committee_id.eq(committee_id),
            committee_key::fingerprint.eq(fingerprint),
            committee_key::added_at.eq(now_ms()),
        )
    )?;
    Ok(added > 0)
}

/// The keys of a committee, oldest key first.
pub fn of_committee(conn: &mut DbConnection, committee_id: i64) -> QueryResult<Vec<SigningKeyRow>> {
    signing_key::table
        .inner_join(committee_key::table)
        .filter(committee_key::committee_id.eq(committee_id))
        .order((signing_key::key_created_at, signing_key::fingerprint))
        .select(SigningKeyRow::as_select())
        .load(conn)
}

/// The fingerprint and armored-bytes digest of each key of a committee, by fingerprint.
pub fn digests_of_committee(conn: &mut DbConnection, committee_id: i64) -> QueryResult<Vec<(String, String)>> {
    signing_key::table
        .inner_join(committee_key::table)
        .filter(committee_key::committee_id.eq(committee_id))
        .order(signing_key::fingerprint)
        .select((signing_key::fingerprint, signing_key::armored_sha256))
        .load(conn)
}

/// The keys a person registered as theirs.
pub fn owned_by(conn: &mut DbConnection, user_id: i64) -> QueryResult<Vec<SigningKeyRow>> {
    signing_key::table.filter(signing_key::owner_id.eq(user_id)).select(SigningKeyRow::as_select()).load(conn)
}

pub fn find(conn: &mut DbConnection, fingerprint: &str) -> QueryResult<Option<SigningKeyRow>> {
    signing_key::table.find(fingerprint).select(SigningKeyRow::as_select()).first(conn).optional()
}

/// The committees whose KEYS hold each of `fingerprints`.
pub fn committees_of(conn: &mut DbConnection, fingerprints: &[String]) -> QueryResult<Vec<(String, String)>> {
    committee_key::table
        .inner_join(committee::table)
        .filter(committee_key::fingerprint.eq_any(fingerprints))
        .order(committee::name)
        .select((committee_key::fingerprint, committee::name))
        .load(conn)
}

/// The uids of key owners.
pub fn owner_uids(conn: &mut DbConnection, owner_ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    users::table.filter(users::id.eq_any(owner_ids)).select((users::id, users::uid)).load(conn)
}

/// Whether a key has signed any release file.
pub fn has_signed(conn: &mut DbConnection, fingerprint: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(key_use::table.filter(key_use::fingerprint.eq(fingerprint)))).get_result(conn)
}

/// Takes a key out of one committee's KEYS.
pub fn unlink(conn: &mut DbConnection, committee_id: i64, fingerprint: &str) -> QueryResult<bool> {
    let removed = diesel::delete(
        committee_key::table
            .filter(committee_key::committee_id.eq(committee_id))
            .filter(committee_key::fingerprint.eq(fingerprint)),
    )
    .execute(conn)?;
    Ok(removed > 0)
}

/// Deletes a key and its committee links.
pub fn delete(conn: &mut DbConnection, fingerprint: &str) -> QueryResult<bool> {
    diesel::delete(committee_key::table.filter(committee_key::fingerprint.eq(fingerprint))).execute(conn)?;
    Ok(diesel::delete(signing_key::table.find(fingerprint)).execute(conn)? > 0)
}

/// What the keys `fingerprints` signed, as the checks verified it: (fingerprint, release id,
/// path), newest release first, at most `limit`.
pub fn uses_of(
    conn: &mut DbConnection,
    fingerprints: &[String],
    limit: i64,
) -> QueryResult<Vec<(String, i64, String)>> {
    key_use::table
        .filter(key_use::fingerprint.eq_any(fingerprints))
        .order((key_use::release_id.desc(), key_use::path))
        .limit(limit)
        .select((key_use::fingerprint, key_use::release_id, key_use::path))
        .load(conn)
}

/// The keys whose signatures over a file of a release the checks verified.
pub fn signers_of(conn: &mut DbConnection, release_id: i64, path: &str) -> QueryResult<Vec<String>> {
    key_use::table
        .filter(key_use::release_id.eq(release_id))
        .filter(key_use::path.eq(path))
        .select(key_use::fingerprint)
        .load(conn)
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// Keys whose fingerprint holds `hex` (upper case), or whose user ids hold `term`.
pub fn search(conn: &mut DbConnection, hex: Option<&str>, term: &str, limit: i64) -> QueryResult<Vec<SigningKeyRow>> {
    let mut query = signing_key::table.into_boxed();
    let by_uid = super::directory::contains_pattern(term);
    query = match hex {
        Some(hex) => {
            query.filter(signing_key::fingerprint.like(format!("%{hex}%")).or(lower(signing_key::uids).like(by_uid)))
        }
        None => query.filter(lower(signing_key::uids).like(by_uid)),
    };
    query.order(signing_key::fingerprint).limit(limit).select(SigningKeyRow::as_select()).load(conn)
}

/// The registered addresses of a committee's members (any role), lower case, for the KEYS lint.
pub fn member_emails(conn: &mut DbConnection, committee_id: i64) -> QueryResult<Vec<String>> {
    use crate::db::schema::membership;
    let emails: Vec<Option<String>> = membership::table
        .inner_join(users::table)
        .filter(membership::committee_id.eq(committee_id))
        .filter(users::withdrawn_at.is_null())
        .select(users::email)
        .distinct()
        .load(conn)?;
    Ok(emails.into_iter().flatten().map(|e| e.to_ascii_lowercase()).collect())
}
