//! Signing keys: adding and importing them (tolerantly: one bad key never spoils the rest),
//! listing them, regenerating a committee's KEYS file, and deleting unused keys.

use std::fmt::Write as _;

use std::collections::BTreeSet;

use checks::openpgp::lint::LintContext;
use checks::openpgp::{Certificate, KeyringParse, parse_keyring};
use serde_json::json;
use shared_models::Name;
use shared_models::api::{KeyImportReport, KeyInfo, KeysLint, SkippedKey};

use crate::auth::authz::KeyRemoval;
use crate::auth::{Action, Principal, authz};
use crate::db::models::{CommitteeRow, SigningKeyRow};
use crate::db::queries::directory;
use crate::db::queries::events::{self, NewEvent};
use crate::db::queries::keys as q;
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

fn skipped(cert: &Certificate, code: &str, reason: String) -> SkippedKey {
    SkippedKey {
        reason,
        code: code.to_owned(),
        block: 0,
        key: Some(cert.fingerprint.clone()),
        uid: cert.primary_uid().map(str::to_owned),
    }
}

/// The text whose detached signature proves that a person holds a key: it names them and the
/// key, so a signature made for one cannot serve another.
pub fn ownership_statement(uid: &str, fingerprint: &str) -> String {
    format!("Trusted Releases: proof of key ownership\nuser: {uid}\nkey: {}\n", fingerprint.to_ascii_uppercase())
}

/// How a person showed that a key is theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proof {
    /// A user id names their registered address.
    Address,
    /// They signed the ownership statement with it: they hold its secret key.
    Signature,
}

fn ownership(principal: &Principal, cert: &Certificate, signature: Option<&str>) -> Result<Proof, String> {
    if let Some(signature) = signature {
        let statement = ownership_statement(&principal.uid, &cert.fingerprint);
        return match cert.signed(statement.as_bytes(), signature.as_bytes()) {
            Ok(_) => Ok(Proof::Signature),
            Err(why) => Err(format!("the ownership signature does not hold: {why}")),
        };
    }
    let emails = checks::openpgp::uid_emails(&cert.uids);
    if principal.visitor {
        // A visitor typed their address at sign-up and nobody checked it: it proves nothing.
        return Err(format!(
            "a visitor's address is not checked, so it does not prove the key is yours; sign the statement of \
             GET /api/v1/keys/ownership-statement?fingerprint={} (gpg --armor --detach-sign) and send the \
             signature as ownership_signature",
            cert.fingerprint
        ));
    }
    match &principal.email {
        Some(mine) if emails.contains(&mine.to_ascii_lowercase()) => Ok(Proof::Address),
        Some(mine) => Err(format!(
            "no user id of the key names your registered address {mine}; add one, or sign the statement of \
             GET /api/v1/keys/ownership-statement?fingerprint={} (gpg --armor --detach-sign) and send the \
             signature as ownership_signature",
            cert.fingerprint
        )),
        None => Err(format!(
            "you have no registered email address to match the key's user ids; sign the statement of \
             GET /api/v1/keys/ownership-statement?fingerprint={} (gpg --armor --detach-sign) and send the \
             signature as ownership_signature",
            cert.fingerprint
        )),
    }
}

/// What storing one key did.
enum Stored {
    Added,
    /// Its packets changed: every committee holding it checks again.
    Updated,
    Unchanged,
}

/// Stores `cert`, merging it into the stored copy of a known key (never replacing it), if
/// `may_update` allows a change. Returns what happened, or why nothing could be.
fn store_key(
    conn: &mut DbConnection,
    cert: &Certificate,
    owner: Option<i64>,
    may_update: impl FnOnce(&SigningKeyRow) -> Result<(), String>,
) -> AppResult<Result<Stored, (&'static str, String)>> {
    let Some(known) = q::find(conn, &cert.fingerprint)? else {
        q::insert_key(conn, &row_of(cert, owner)?)?;
        return Ok(Ok(Stored::Added));
    };
    let stored = parse_keyring(known.armored.as_bytes())
        .certificates
        .into_iter()
        .next()
        .ok_or_else(|| AppError::internal(format!("the stored key {} does not parse", known.fingerprint)))?;
    let merged = checks::openpgp::merge(&stored.key, &cert.key)
        .ok_or_else(|| AppError::internal("two keys of one fingerprint have different primary keys"))?;
    let merged = Certificate::from_key(merged).map_err(|(_, why)| AppError::internal(why))?;
    let row = row_of(&merged, owner)?;
    if row.armored_sha256 == known.armored_sha256 {
        if owner.is_some() && known.owner_id.is_none() {
            q::update_key(conn, &row)?; // the proven owner is recorded
        }
        return Ok(Ok(Stored::Unchanged));
    }
    if let Err(why) = may_update(&known) {
        return Ok(Err(("update_not_allowed", why)));
    }
    q::update_key(conn, &row)?;
    Ok(Ok(Stored::Updated))
}

/// Counts, events and re-checks after keys were stored.
struct Outcome {
    report: KeyImportReport,
    /// Committees whose signature checks depend on what changed.
    refresh: BTreeSet<i64>,
}

impl Outcome {
    fn new(skipped: Vec<SkippedKey>) -> Self {
        Self {
            report: KeyImportReport { added: 0, updated: 0, unchanged: 0, skipped, fingerprints: Vec::new() },
            refresh: BTreeSet::new(),
        }
    }

    fn record(&mut self, conn: &mut DbConnection, cert: &Certificate, stored: Stored) -> AppResult<()> {
        match stored {
            Stored::Added => self.report.added += 1,
            Stored::Updated => {
                self.report.updated += 1;
                // Every committee holding the key judges signatures with its new packets.
                for (_, name) in q::committees_of(conn, std::slice::from_ref(&cert.fingerprint))? {
                    if let Some(c) = directory::find_committee(conn, &name)? {
                        self.refresh.insert(c.id);
                    }
                }
            }
            Stored::Unchanged => self.report.unchanged += 1,
        }
        self.report.fingerprints.push(cert.fingerprint.clone());
        Ok(())
    }

    /// Links the key into `committees`' KEYS; a new link means those committees check again.
    fn link(&mut self, conn: &mut DbConnection, fingerprint: &str, committees: &[CommitteeRow]) -> AppResult<()> {
        for committee in committees {
            if q::link(conn, committee.id, fingerprint)? {
                self.refresh.insert(committee.id);
            }
        }
        Ok(())
    }

    fn finish(
        self,
        conn: &mut DbConnection,
        principal: &Principal,
        action: &str,
        target: &str,
    ) -> AppResult<KeyImportReport> {
        for committee_id in &self.refresh {
            super::checks::refresh(conn, *committee_id, None)?;
        }
        events::record(
            conn,
            NewEvent {
                actor: principal.actor(),
                action,
                target,
                release_id: None,
                details: json!({
                    "added": self.report.added,
                    "updated": self.report.updated,
                    "unchanged": self.report.unchanged,
                    "skipped": self.report.skipped.len(),
                    "fingerprints": self.report.fingerprints,
                }),
            },
        )?;
        Ok(self.report)
    }
}

/// `POST /api/v1/committees/{c}/keys/import`: a whole KEYS file into a committee, by one of its
/// release managers. New keys are added; a known key's packets are merged in only for those
/// who may change them ([`authz::may_update_key`]); every key is linked into this KEYS.
pub fn import_committee_keys(
    conn: &mut DbConnection,
    principal: &Principal,
    committee_name: &Name,
    keys_file: &[u8],
) -> AppResult<KeyImportReport> {
    let target = committee(conn, committee_name)?;
    authz::authorize(principal, Action::ImportCommitteeKeys, &target.name)?;
    let parse = parse_keyring(keys_file);
    require_some_key(&parse)?;
    crate::db::write_transaction(conn, |conn| {
        let mut outcome = Outcome::new(parse.skipped);
        for cert in &parse.certificates {
            let mut holders: Vec<String> =
                q::committees_of(conn, std::slice::from_ref(&cert.fingerprint))?.into_iter().map(|(_, c)| c).collect();
            if !holders.contains(&target.name) {
                holders.push(target.name.clone());
            }
            let stored = store_key(conn, cert, None, |known| {
                if authz::may_update_key(principal, known.owner_id, &holders) {
                    Ok(())
                } else {
                    Err(format!(
                        "key {} is in the KEYS of {}, and only its owner or a release manager of each may change \
                         its packets; it was added to {} as it was",
                        cert.fingerprint,
                        holders.join(", "),
                        target.name
                    ))
                }
            })?;
            match stored {
                Ok(stored) => outcome.record(conn, cert, stored)?,
                Err((code, why)) => outcome.report.skipped.push(skipped(cert, code, why)),
            }
            outcome.link(conn, &cert.fingerprint, std::slice::from_ref(&target))?;
        }
        outcome.finish(conn, principal, "keys.imported", &target.name)
    })
}

/// `POST /api/v1/keys`: the caller's own keys, optionally into committees they belong to. A key
/// counts as theirs with proof ([`ownership`]); without it the key is skipped, so nobody can
/// claim, rewrite or later delete another person's key.
pub fn add_keys(
    conn: &mut DbConnection,
    principal: &Principal,
    armored: &str,
    committee_names: &[Name],
    ownership_signature: Option<&str>,
) -> AppResult<KeyImportReport> {
    let mut committees = Vec::new();
    for name in committee_names {
        let committee = committee(conn, name)?;
        authz::authorize(principal, Action::AddCommitteeKey, &committee.name)?;
        committees.push(committee);
    }
    let parse = parse_keyring(armored.as_bytes());
    require_some_key(&parse)?;
    let report = crate::db::write_transaction(conn, |conn| {
        let mut outcome = Outcome::new(parse.skipped);
        for cert in &parse.certificates {
            let proof = match ownership(principal, cert, ownership_signature) {
                Ok(proof) => proof,
                Err(why) => {
                    outcome.report.skipped.push(skipped(
                        cert,
                        "ownership_unproven",
                        format!("key {}: {why}", cert.fingerprint),
                    ));
                    continue;
                }
            };
            let stored = store_key(conn, cert, Some(principal.user_id), |known| {
                // The secret key's holder may update it whoever registered it; an address in
                // a user id proves less, and does not override another owner.
                match known.owner_id {
                    Some(owner) if owner != principal.user_id && proof != Proof::Signature && !principal.is_admin => {
                        Err(format!(
                            "key {} belongs to another person; sign the ownership statement with it to show it is yours",
                            cert.fingerprint
                        ))
                    }
                    _ => Ok(()),
                }
            })?;
            match stored {
                Ok(stored) => outcome.record(conn, cert, stored)?,
                Err((code, why)) => {
                    outcome.report.skipped.push(skipped(cert, code, why));
                    continue;
                }
            }
            outcome.link(conn, &cert.fingerprint, &committees)?;
        }
        if outcome.report.fingerprints.is_empty() {
            return Err(AppError::unprocessable(
                "invalid_keys",
                "None of the keys could be added; `details.skipped` says why for each.",
            )
            .with_details(json!({"skipped": outcome.report.skipped})));
        }
        let names: Vec<&str> = committees.iter().map(|c| c.name.as_str()).collect();
        outcome.finish(conn, principal, "keys.added", &names.join(","))
    })?;
    Ok(report)
}

/// Keys stored before the digest of their armor was kept get it (once, at start).
pub fn backfill_digests(conn: &mut DbConnection) -> AppResult<usize> {
    let missing = q::without_digest(conn)?;
    for (fingerprint, armored) in &missing {
        q::set_digest(conn, fingerprint, &checks::digest::sha256_hex(armored.as_bytes()))?;
    }
    Ok(missing.len())
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
    infos(conn, &rows)
}

/// The keys a person owns, with the committees that hold them.
pub fn keys_of(conn: &mut DbConnection, principal: &Principal) -> AppResult<Vec<KeyInfo>> {
    let rows = q::owned_by(conn, principal.user_id)?;
    infos(conn, &rows)
}

/// A file a key signed, as the checks verified it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SignedFile {
    pub fingerprint: String,
    /// `project/version` or `project/product/version`.
    pub release: String,
    pub project: String,
    pub product: String,
    pub version: String,
    pub phase: shared_models::api::Phase,
    pub path: String,
}

/// The files that `principal`'s keys signed, in the releases `principal` may read (a draft of a
/// committee they left is not shown), newest release first; at most 200.
pub fn signed_by_keys_of(conn: &mut DbConnection, principal: &Principal) -> AppResult<Vec<SignedFile>> {
    let fingerprints: Vec<String> = q::owned_by(conn, principal.user_id)?.into_iter().map(|r| r.fingerprint).collect();
    let mut releases: std::collections::HashMap<i64, Option<crate::db::queries::releases::ReleaseContext>> =
        std::collections::HashMap::new();
    let mut signed = Vec::new();
    for (fingerprint, release_id, path) in q::uses_of(conn, &fingerprints, 200)? {
        if let std::collections::hash_map::Entry::Vacant(slot) = releases.entry(release_id) {
            let ctx = crate::db::queries::releases::context_by_id(conn, release_id)?;
            let readable = crate::auth::authz::may_read_release(
                Some(principal),
                &ctx.committee.name,
                &ctx.project.name,
                ctx.release.phase()?,
            );
            slot.insert(readable.then_some(ctx));
        }
        let Some(Some(ctx)) = releases.get(&release_id) else { continue };
        signed.push(SignedFile {
            fingerprint,
            release: ctx.key(),
            project: ctx.project.name.clone(),
            product: ctx.product.name.clone(),
            version: ctx.release.version.clone(),
            phase: ctx.release.phase()?,
            path,
        });
    }
    Ok(signed)
}

/// Keys found by fingerprint (8 hex digits or more, spaces ignored) or by user id.
pub fn search(conn: &mut DbConnection, term: &str, limit: i64) -> AppResult<Vec<KeyInfo>> {
    let compact: String = term.chars().filter(|c| !c.is_whitespace()).collect();
    let hex =
        (compact.len() >= 8 && compact.chars().all(|c| c.is_ascii_hexdigit())).then(|| compact.to_ascii_uppercase());
    let rows = q::search(conn, hex.as_deref(), term, limit)?;
    infos(conn, &rows)
}

fn infos(conn: &mut DbConnection, rows: &[SigningKeyRow]) -> AppResult<Vec<KeyInfo>> {
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

/// `DELETE /api/v1/keys/{fingerprint}`: its owner or an admin removes the key everywhere; a
/// release manager removes it from the KEYS of their own committees only. Refused (409) once the
/// key has signed a release: the release must stay verifiable.
pub fn delete_key(conn: &mut DbConnection, principal: &Principal, fingerprint: &str) -> AppResult<()> {
    let fingerprint = fingerprint.to_ascii_uppercase();
    crate::db::write_transaction(conn, |conn| {
        let row = q::find(conn, &fingerprint)?
            .ok_or_else(|| AppError::not_found(format!("There is no key {fingerprint}.")))?;
        let holders: Vec<String> =
            q::committees_of(conn, std::slice::from_ref(&fingerprint))?.into_iter().map(|(_, c)| c).collect();
        let removal = authz::key_removal(principal, row.owner_id, &holders, &fingerprint)?;
        if q::has_signed(conn, &fingerprint)? {
            return Err(AppError::conflict(
                "key_in_use",
                format!("The key {fingerprint} signed a release; it stays so that the release can still be verified."),
            ));
        }
        let everywhere = removal == KeyRemoval::Everywhere;
        let removed_from = match removal {
            KeyRemoval::Everywhere => holders,
            KeyRemoval::From(committees) => committees,
        };
        for name in &removed_from {
            if let Some(committee) = directory::find_committee(conn, name)? {
                q::unlink(conn, committee.id, &fingerprint)?;
                super::checks::refresh(conn, committee.id, None)?;
            }
        }
        let remaining = q::committees_of(conn, std::slice::from_ref(&fingerprint))?;
        let deleted = everywhere || (remaining.is_empty() && row.owner_id.is_none());
        if deleted {
            q::delete(conn, &fingerprint)?;
        }
        events::record(
            conn,
            NewEvent {
                actor: principal.actor(),
                action: if deleted { "key.deleted" } else { "key.removed" },
                target: &fingerprint,
                release_id: None,
                details: json!({"committees": removed_from}),
            },
        )?;
        Ok(())
    })
}

/// The KEYS lint of a committee (`GET /committees/{c}/keys/lint`), for its members.
pub fn lint_committee(conn: &mut DbConnection, principal: &Principal, committee_name: &Name) -> AppResult<KeysLint> {
    let committee = committee(conn, committee_name)?;
    authz::authorize(principal, Action::LintKeys, &committee.name)?;
    lint(conn, &committee, None, &BTreeSet::new())
}

/// Lints the keys of `committee`: `vote_closes` and `signers` (primary and signing-key
/// fingerprints that signed the release about to be voted on) make the findings that would
/// break that vote blocking.
pub fn lint(
    conn: &mut DbConnection,
    committee: &CommitteeRow,
    vote_closes: Option<chrono::DateTime<chrono::Utc>>,
    signers: &BTreeSet<String>,
) -> AppResult<KeysLint> {
    let rows = q::of_committee(conn, committee.id)?;
    let members: BTreeSet<String> = q::member_emails(conn, committee.id)?.into_iter().collect();
    let certificates: Vec<Certificate> =
        rows.iter().flat_map(|row| parse_keyring(row.armored.as_bytes()).certificates).collect();
    let context = LintContext { now: chrono::Utc::now(), vote_closes, member_emails: &members, signers };
    Ok(KeysLint {
        committee: committee.name.clone(),
        keys: u32::try_from(rows.len()).unwrap_or(u32::MAX),
        findings: checks::openpgp::lint::lint(&certificates, &context),
    })
}
