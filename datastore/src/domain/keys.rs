//! Signing keys: adding and importing them (tolerantly: one bad key never spoils the rest),
//! listing them, regenerating a committee's KEYS file, and deleting unused keys.

use std::fmt::Write as _;

use checks::openpgp::{Certificate, KeyringParse, parse_keyring};
use serde_json::json;
use shared_models::Name;
use shared_models::api::{KeyImportReport, KeyInfo};

use crate::auth::{Action, Principal, authz};
use crate::db::models::{CommitteeRow, SigningKeyRow};
use crate::db::queries::directory;
use crate::db::queries::events::{self, NewEvent};
use crate::db::queries::keys::{self as q, Upsert};
use crate::db::{DbConnection, now_ms, to_time};
use crate::error::{AppError, AppResult};

fn committee(conn: &mut DbConnection, name: &str) -> AppResult<CommitteeRow> {
    directory::find_committee(conn, name)?.ok_or_else(|| AppError::not_found(format!("There is no committee {name}.")))
}

fn row_of(cert: &Certificate, owner_id: Option<i64>) -> AppResult<SigningKeyRow> {
    let now = now_ms();
    let armored = cert.armored().map_err(AppError::internal)?;
    Ok(SigningKeyRow {
        armored_sha256: checks::digest::sha256_hex(armored.as_bytes()),
        fingerprint: cert.fingerprint.clone(),
        key_id: cert.key_id.clone(),
        algorithm: cert.algorithm.clone(),
        bits: cert.bits.and_then(|b| i32::try_from(b).ok()),
        key_created_at: cert.created.timestamp_millis(),
        expires_at: cert.expires.map(|e| e.timestamp_millis()),
        revoked: cert.revocation.is_some(),
        primary_uid: cert.primary_uid().map(str::to_owned),
        uids: json!(cert.uids).to_string(),
        armored,
        owner_id,
        added_at: now,
        updated_at: now,
    })
}

/// Refuses a keyring in which not one key could be used, with every reason (422).
fn require_some_key(parse: &KeyringParse) -> AppResult<()> {
    if !parse.certificates.is_empty() {
        return Ok(());
    }
    let message = if parse.blocks == 0 {
        "No \"-----BEGIN PGP PUBLIC KEY BLOCK-----\" was found: this does not look like a KEYS file or an armored key."
            .to_owned()
    } else {
        format!("None of the {} key block(s) holds a usable OpenPGP key; nothing was imported.", parse.blocks)
    };
    Err(AppError::unprocessable("invalid_keys", message).with_details(json!({"skipped": parse.skipped})))
}

/// Stores every usable key of `parse`, links each to `committees`; all or nothing.
fn store(
    conn: &mut DbConnection,
    principal: &Principal,
    parse: KeyringParse,
    committees: &[CommitteeRow],
    owner_id: Option<i64>,
    action: &str,
) -> AppResult<KeyImportReport> {
    crate::db::write_transaction(conn, |conn| {
        let mut report = KeyImportReport { added: 0, updated: 0, skipped: parse.skipped, fingerprints: Vec::new() };
        for cert in &parse.certificates {
            match q::upsert_key(conn, &row_of(cert, owner_id)?)? {
                Upsert::Added => report.added += 1,
                Upsert::Updated => report.updated += 1,
            }
            for committee in committees {
                q::link(conn, committee.id, &cert.fingerprint)?;
            }
            report.fingerprints.push(cert.fingerprint.clone());
        }
        // Signature verdicts depend on the keys: check again what they judge.
        for committee in committees {
            super::checks::refresh(conn, committee.id, None)?;
        }
        let names: Vec<&str> = committees.iter().map(|c| c.name.as_str()).collect();
        events::record(
            conn,
            NewEvent {
                actor: principal.actor(),
                action,
                target: &names.join(","),
                release_id: None,
                details: json!({
                    "added": report.added,
                    "updated": report.updated,
                    "skipped": report.skipped.len(),
                    "fingerprints": report.fingerprints,
                }),
            },
        )?;
        Ok(report)
    })
}

/// `POST /api/v1/committees/{c}/keys/import`: a whole KEYS file into a committee.
pub fn import_committee_keys(
    conn: &mut DbConnection,
    principal: &Principal,
    committee_name: &Name,
    keys_file: &[u8],
) -> AppResult<KeyImportReport> {
    let committee = committee(conn, committee_name)?;
    authz::authorize(principal, Action::ImportCommitteeKeys, &committee.name)?;
    let parse = parse_keyring(keys_file);
    require_some_key(&parse)?;
    store(conn, principal, parse, &[committee], None, "keys.imported")
}

/// `POST /api/v1/keys`: the caller's own keys, optionally into committees they belong to.
pub fn add_keys(
    conn: &mut DbConnection,
    principal: &Principal,
    armored: &str,
    committee_names: &[Name],
) -> AppResult<KeyImportReport> {
    let mut committees = Vec::new();
    for name in committee_names {
        let committee = committee(conn, name)?;
        authz::authorize(principal, Action::AddCommitteeKey, &committee.name)?;
        committees.push(committee);
    }
    let parse = parse_keyring(armored.as_bytes());
    require_some_key(&parse)?;
    store(conn, principal, parse, &committees, Some(principal.user_id), "keys.added")
}

fn key_info(row: &SigningKeyRow, owners: &[(i64, String)], links: &[(String, String)]) -> KeyInfo {
    KeyInfo {
        fingerprint: row.fingerprint.clone(),
        algorithm: row.algorithm.clone(),
        bits: row.bits.and_then(|b| u32::try_from(b).ok()),
        created: to_time(row.key_created_at),
        expires: row.expires_at.map(to_time),
        revoked: row.revoked,
        uids: serde_json::from_str(&row.uids).unwrap_or_default(),
        owner: row.owner_id.and_then(|id| owners.iter().find(|(o, _)| *o == id).map(|(_, uid)| uid.clone())),
        committees: links.iter().filter(|(fp, _)| *fp == row.fingerprint).map(|(_, c)| c.clone()).collect(),
    }
}

/// The keys of a committee as API objects, with their owners and committees.
pub fn committee_keys(conn: &mut DbConnection, committee_name: &Name) -> AppResult<Vec<KeyInfo>> {
    let committee = committee(conn, committee_name)?;
    let rows = q::of_committee(conn, committee.id)?;
    let fingerprints: Vec<String> = rows.iter().map(|r| r.fingerprint.clone()).collect();
    let owner_ids: Vec<i64> = rows.iter().filter_map(|r| r.owner_id).collect();
    let owners = q::owner_uids(conn, &owner_ids)?;
    let links = q::committees_of(conn, &fingerprints)?;
    Ok(rows.iter().map(|r| key_info(r, &owners, &links)).collect())
}

/// A committee's KEYS file (for people and for runners), from its key rows alone.
pub fn committee_keys_file(conn: &mut DbConnection, committee_name: &Name) -> AppResult<String> {
    let committee = committee(conn, committee_name)?;
    Ok(keys_file(committee_name.as_str(), &q::of_committee(conn, committee.id)?))
}

/// A committee's KEYS file, regenerated from the database: a short header, then per key a
/// `gpg --list-keys` style summary and its armored block.
pub fn keys_file(committee: &str, rows: &[SigningKeyRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "This file contains the OpenPGP keys of the {committee} committee's release managers,");
    let _ = writeln!(out, "generated by Trusted Releases from its records ({} keys).", rows.len());
    let _ = writeln!(out, "\nTo verify a release:  gpg --import KEYS && gpg --verify <artifact>.asc <artifact>\n");
    for row in rows {
        let algorithm = match row.bits {
            Some(bits) if matches!(row.algorithm.as_str(), "rsa" | "dsa" | "elgamal") => {
                format!("{}{bits}", row.algorithm)
            }
            _ => row.algorithm.clone(),
        };
        let mut status = String::new();
        if row.revoked {
            status.push_str(" [revoked]");
        }
        if let Some(expires) = row.expires_at {
            let _ = write!(status, " [expires: {}]", to_time(expires).format("%Y-%m-%d"));
        }
        let _ = writeln!(out, "pub   {algorithm} {}{status}", to_time(row.key_created_at).format("%Y-%m-%d"));
        let _ = writeln!(out, "      {}", row.fingerprint);
        for uid in serde_json::from_str::<Vec<String>>(&row.uids).unwrap_or_default() {
            let _ = writeln!(out, "uid           {uid}");
        }
        let _ = writeln!(out);
        out.push_str(row.armored.trim_end());
        out.push_str("\n\n");
    }
    out
}

/// `DELETE /api/v1/keys/{fingerprint}`: by its owner, an admin, or a release manager of a
/// committee that holds it; refused (409) once the key has signed a release.
pub fn delete_key(conn: &mut DbConnection, principal: &Principal, fingerprint: &str) -> AppResult<()> {
    let fingerprint = fingerprint.to_ascii_uppercase();
    crate::db::write_transaction(conn, |conn| {
        let row = q::find(conn, &fingerprint)?
            .ok_or_else(|| AppError::not_found(format!("There is no key {fingerprint}.")))?;
        let holders = q::committees_of(conn, std::slice::from_ref(&fingerprint))?;
        let may = principal.is_admin
            || row.owner_id == Some(principal.user_id)
            || holders.iter().any(|(_, c)| authz::allowed(principal, Action::ImportCommitteeKeys, c));
        if !may {
            return Err(AppError::forbidden(format!(
                "{} may not delete the key {fingerprint}: only its owner, an admin or a release manager of a committee holding it may.",
                principal.uid
            )));
        }
        if q::has_signed(conn, &fingerprint)? {
            return Err(AppError::conflict(
                "key_in_use",
                format!("The key {fingerprint} signed a release; it stays so that the release can still be verified."),
            ));
        }
        q::delete(conn, &fingerprint)?;
        for (_, name) in &holders {
            if let Some(committee) = directory::find_committee(conn, name)? {
                super::checks::refresh(conn, committee.id, None)?;
            }
        }
        events::record(
            conn,
            NewEvent {
                actor: principal.actor(),
                action: "key.deleted",
                target: &fingerprint,
                release_id: None,
                details: json!({"committees": holders.iter().map(|(_, c)| c).collect::<Vec<_>>()}),
            },
        )?;
        Ok(())
    })
}
