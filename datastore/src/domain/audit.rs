//! The audit log you can verify (`docs/AUDIT.md`): every event is chained to the one before it
//! by SHA-256, and the datastore signs checkpoints (the chain's length and head hash) with an
//! Ed25519 key kept in its state directory. `datastore audit verify` recomputes the chain and
//! checks every checkpoint, naming the first event that does not match.

use std::path::Path;

use openssl::pkey::{PKey, Private};
use openssl::sign::{Signer, Verifier};

use crate::db::DbConnection;
use crate::db::models::CheckpointRow;
use crate::db::queries::events as q;
pub use crate::db::queries::events::{Chained, GENESIS, event_hash};
use crate::error::{AppError, AppResult};

/// Events read per query when chaining or verifying.
const BATCH: i64 = 1_000;
/// The checkpoint key's file in the state directory.
pub(crate) const KEY_FILE: &str = "audit-ed25519.pem";

/// Chains the events written before the chain existed (in id order); returns how many.
pub fn backfill(conn: &mut DbConnection) -> AppResult<usize> {
    let mut chained = 0;
    loop {
        let rows = q::unchained(conn, BATCH)?;
        if rows.is_empty() {
            return Ok(chained);
        }
        crate::db::write_transaction(conn, |c| {
            for row in &rows {
                q::chain_existing(c, row)?;
            }
            Ok::<_, AppError>(())
        })?;
        chained += rows.len();
    }
}

/// The checkpoint signing key, made (mode 0600) on first use.
pub fn signing_key(state_dir: &Path) -> AppResult<PKey<Private>> {
    let path = state_dir.join(KEY_FILE);
    if let Ok(pem) = std::fs::read(&path) {
        return PKey::private_key_from_pem(&pem)
            .map_err(|e| AppError::internal(format!("the audit key {} does not parse: {e}", path.display())));
    }
    let key = PKey::generate_ed25519().map_err(AppError::internal)?;
    let pem = key.private_key_to_pem_pkcs8().map_err(AppError::internal)?;
    crate::private::file(&path).map_err(|e| AppError::internal(format!("cannot create {}: {e}", path.display())))?;
    std::fs::write(&path, pem).map_err(|e| AppError::internal(format!("cannot write {}: {e}", path.display())))?;
    Ok(key)
}

/// The raw public key of the checkpoint key in `state_dir`, if there is one: checkpoints are
/// verified against it, not against the key a (possibly forged) checkpoint row names.
pub fn trusted_key(state_dir: &Path) -> AppResult<Option<Vec<u8>>> {
    let path = state_dir.join(KEY_FILE);
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(signing_key(state_dir)?.raw_public_key().map_err(AppError::internal)?))
}

/// The text a checkpoint signs: `trusted-releases audit checkpoint LF seq LF hash LF`.
fn statement(seq: i64, hash: &str) -> String {
    format!("trusted-releases audit checkpoint\n{seq}\n{hash}\n")
}

/// Signs the chain's current head and stores the checkpoint.
pub fn checkpoint(conn: &mut DbConnection, key: &PKey<Private>) -> AppResult<CheckpointRow> {
    crate::db::write_transaction(conn, |c| {
        let (seq, hash) = q::head(c)?;
        let mut signer = Signer::new_without_digest(key).map_err(AppError::internal)?;
        let signature = signer.sign_oneshot_to_vec(statement(seq, &hash).as_bytes()).map_err(AppError::internal)?;
        let public = key.raw_public_key().map_err(AppError::internal)?;
        Ok(q::insert_checkpoint(c, seq, &hash, &hex::encode(public), &hex::encode(signature))?)
    })
}

/// The latest checkpoint, as the API shows it; 404 before the first.
pub fn latest(conn: &mut DbConnection) -> AppResult<shared_models::api::AuditCheckpoint> {
    let row = q::latest_checkpoint(conn)?
        .ok_or_else(|| AppError::not_found("No audit checkpoint has been signed yet (the server signs one daily)."))?;
    Ok(shared_models::api::AuditCheckpoint {
        events: row.seq,
        statement: statement(row.seq, &row.hash),
        head: row.hash,
        signed_at: crate::db::to_time(row.signed_at),
        public_key: row.public_key,
        signature: row.signature,
    })
}

/// `GET /api/v1/events`: a page of the audit log, oldest first, filtered; admins and
/// foundation members read every event, others those of the releases they may read (public
/// ones, and their committees' drafts).
pub fn events(
    conn: &mut DbConnection,
    viewer: Option<&crate::auth::Principal>,
    filter: &q::EventFilter,
    page: super::page::Page,
    query: &str,
) -> AppResult<shared_models::api::EventList> {
    use crate::auth::authz::{self, DraftsVisible};
    let visible = if viewer.is_some_and(authz::reads_every_event) {
        q::EventsVisible::All
    } else {
        match authz::drafts_visible(viewer) {
            DraftsVisible::All => q::EventsVisible::All,
            DraftsVisible::OfCommittees(draft_committees) => q::EventsVisible::Releases { draft_committees },
        }
    };
    let (limit, offset) = page.sql();
    let (rows, total) = q::list(conn, filter, &visible, limit, offset)?;
    let events = rows.into_iter().map(super::releases::event_view).collect::<AppResult<Vec<_>>>()?;
    Ok(shared_models::api::EventList { events, page: page.info(total, query) })
}

/// Whether a checkpoint's signature holds for its own statement and public key.
pub fn signature_holds(checkpoint: &CheckpointRow) -> bool {
    let (Ok(public), Ok(signature)) = (hex::decode(&checkpoint.public_key), hex::decode(&checkpoint.signature)) else {
        return false;
    };
    let Ok(key) = PKey::public_key_from_raw_bytes(&public, openssl::pkey::Id::ED25519) else { return false };
    let Ok(mut verifier) = Verifier::new_without_digest(&key) else { return false };
    verifier.verify_oneshot(&signature, statement(checkpoint.seq, &checkpoint.hash).as_bytes()).unwrap_or(false)
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub events: i64,
    pub head: String,
    pub checkpoints: usize,
}

/// Recomputes the chain from the first event and checks every checkpoint against it, and
/// against `trusted` (this datastore's key) when given. The error names the first event (by
/// its place and id) or checkpoint that does not match; a chain no checkpoint vouches for fails.
pub fn verify(conn: &mut DbConnection, trusted: Option<&[u8]>) -> Result<Verified, String> {
    let mut checkpoints = q::checkpoints(conn).map_err(unreadable)?;
    checkpoints.sort_by_key(|c| c.seq);
    let mut at_seq: std::collections::BTreeMap<i64, String> = std::collections::BTreeMap::new();
    at_seq.insert(0, GENESIS.to_owned());
    let (events, prev) = walk(conn, 1, GENESIS.to_owned(), |seq, hash| {
        if checkpoints.iter().any(|c| c.seq == seq) {
            at_seq.insert(seq, hash.to_owned());
        }
    })?;
    if events > 0 && checkpoints.is_empty() {
        return Err(format!(
            "no checkpoint vouches for the {events} events (the server signs one when it starts and daily; \
             `datastore audit checkpoint` signs one now)"
        ));
    }
    for checkpoint in &checkpoints {
        if let Some(trusted) = trusted
            && checkpoint.public_key != hex::encode(trusted)
        {
            return Err(format!(
                "checkpoint {} (at event {}) is signed by the key {}, not by this datastore's key {}",
                checkpoint.id,
                checkpoint.seq,
                checkpoint.public_key,
                hex::encode(trusted)
            ));
        }
        if !signature_holds(checkpoint) {
            return Err(format!(
                "checkpoint {} (at event {}) has a signature that does not verify",
                checkpoint.id, checkpoint.seq
            ));
        }
        if at_seq.get(&checkpoint.seq) != Some(&checkpoint.hash) {
            return Err(format!(
                "checkpoint {} says event {} has the hash {}, which the chain does not give: history was rewritten",
                checkpoint.id, checkpoint.seq, checkpoint.hash
            ));
        }
    }
    Ok(Verified { events, head: prev, checkpoints: checkpoints.len() })
}

fn unreadable(e: diesel::result::Error) -> String {
    format!("the database could not be read: {e}")
}

/// Recomputes the chain from event `from` (whose predecessor's hash is `prev`) to the head as
/// it was read first (events written meanwhile are left for the next look), calling `seen`
/// with each event's place and hash; checks that the chain ends at that head and that no event
/// is outside it. Returns the number of events and the head's hash.
fn walk(
    conn: &mut DbConnection,
    from: i64,
    mut prev: String,
    mut seen: impl FnMut(i64, &str),
) -> Result<(i64, String), String> {
    let (head_seq, head_hash) = q::head(conn).map_err(unreadable)?;
    let mut expected_seq = from;
    'read: while expected_seq <= head_seq {
        let rows = q::chain_from(conn, expected_seq, BATCH).map_err(unreadable)?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let seq = row.seq.unwrap_or_default();
            if seq > head_seq {
                break 'read;
            }
            if seq != expected_seq {
                return Err(format!("event {expected_seq} of the chain is missing (the next is {seq}, id {})", row.id));
            }
            if row.prev_hash.as_deref() != Some(prev.as_str()) {
                return Err(format!("event {seq} (id {}) does not name the hash of the event before it", row.id));
            }
            let hash = event_hash(&prev, &Chained::of(row, seq));
            if row.hash.as_deref() != Some(hash.as_str()) {
                return Err(format!(
                    "event {seq} (id {}, {} on {}) was changed: its content does not give its hash",
                    row.id, row.action, row.target
                ));
            }
            seen(seq, &hash);
            prev = hash;
            expected_seq += 1;
        }
    }
    let events = expected_seq - 1;
    if events != head_seq || prev != head_hash {
        return Err(format!(
            "the chain has {events} events ending in {prev}, but its head says {head_seq} ending in {head_hash}"
        ));
    }
    let outside = q::count_unchained(conn).map_err(unreadable)?;
    if outside > 0 {
        return Err(format!("{outside} events are outside the chain"));
    }
    Ok((events, prev))
}

/// The chain's state as the audit page shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChainStatus {
    /// Events in the chain.
    pub events: i64,
    /// Whether the whole chain was recomputed (otherwise only the events since the latest
    /// checkpoint, and that checkpoint's signature).
    pub whole: bool,
    /// Events recomputed.
    pub checked: i64,
    /// Why the chain does not hold, if it does not.
    pub broken: Option<String>,
    /// No checkpoint was signed yet, and the whole chain was not asked for: nothing was checked.
    pub unsigned: bool,
}

/// Checks the chain for the audit page: the latest checkpoint's signature (against `trusted`,
/// this datastore's key, when there is one) and every event since it, which is what changed
/// since the last signature; with `whole`, every event and checkpoint, as `verify` does.
/// Before the first checkpoint only `whole` checks anything (it reads every event).
pub fn status(conn: &mut DbConnection, trusted: Option<&[u8]>, whole: bool) -> ChainStatus {
    let (events, _) = q::head(conn).unwrap_or_default();
    let outcome = if whole { verify(conn, trusted).map(|verified| Some(verified.events)) } else { tail(conn, trusted) };
    match outcome {
        Ok(Some(checked)) => ChainStatus { events, whole, checked, broken: None, unsigned: false },
        Ok(None) => ChainStatus { events, whole, checked: 0, broken: None, unsigned: true },
        Err(why) => ChainStatus { events, whole, checked: 0, broken: Some(why), unsigned: false },
    }
}

/// Verifies the latest checkpoint and the events from its place to the head; returns how many
/// events it recomputed, or `None` before the first checkpoint.
fn tail(conn: &mut DbConnection, trusted: Option<&[u8]>) -> Result<Option<i64>, String> {
    let Some(checkpoint) = q::latest_checkpoint(conn).map_err(unreadable)? else {
        return Ok(None);
    };
    if let Some(trusted) = trusted
        && checkpoint.public_key != hex::encode(trusted)
    {
        return Err(format!(
            "the latest checkpoint (at event {}) is signed by the key {}, not by this datastore's key",
            checkpoint.seq, checkpoint.public_key
        ));
    }
    if !signature_holds(&checkpoint) {
        return Err(format!(
            "the latest checkpoint (at event {}) has a signature that does not verify",
            checkpoint.seq
        ));
    }
    if checkpoint.seq == 0 {
        return walk(conn, 1, GENESIS.to_owned(), |_, _| ()).map(|(events, _)| Some(events));
    }
    let first = q::chain_from(conn, checkpoint.seq, 1).map_err(unreadable)?;
    let prev =
        first.first().filter(|row| row.seq == Some(checkpoint.seq)).and_then(|row| row.prev_hash.clone()).ok_or_else(
            || format!("event {} of the chain, which the latest checkpoint signs, is missing", checkpoint.seq),
        )?;
    let mut signed = None;
    let (events, _) = walk(conn, checkpoint.seq, prev, |seq, hash| {
        if seq == checkpoint.seq {
            signed = Some(hash.to_owned());
        }
    })?;
    if signed.as_deref() != Some(checkpoint.hash.as_str()) {
        return Err(format!(
            "the latest checkpoint says event {} has the hash {}, which the chain does not give: history was rewritten",
            checkpoint.seq, checkpoint.hash
        ));
    }
    Ok(Some(events - checkpoint.seq + 1))
}

#[cfg(test)]
mod tests {
    use checks::digest::Sha256;

    use super::*;

    #[test]
    fn the_hash_covers_every_field_and_the_previous_hash() {
        let base = Chained {
            seq: 1,
            at: 2,
            actor: "rm",
            action: "vote.started",
            target: "httpd/1.0",
            release_id: Some(3),
            details: "{}",
        };
        let hash = event_hash(GENESIS, &base);
        let mut hasher = Sha256::default();
        hasher.update(
            format!("{GENESIS}\n{{\"seq\":1,\"at\":2,\"actor\":\"rm\",\"action\":\"vote.started\",\"target\":\"httpd/1.0\",\"release_id\":3,\"details\":\"{{}}\"}}")
                .as_bytes(),
        );
        assert_eq!(hash, hasher.finish_hex(), "the documented text");
        for changed in [
            Chained { seq: 2, ..base },
            Chained { at: 3, ..base },
            Chained { actor: "x", ..base },
            Chained { action: "x", ..base },
            Chained { target: "x", ..base },
            Chained { release_id: None, ..base },
            Chained { details: "{\"a\":1}", ..base },
        ] {
            assert_ne!(event_hash(GENESIS, &changed), hash, "{changed:?}");
        }
        assert_ne!(event_hash(&"1".repeat(64), &base), hash);
    }

    #[test]
    fn checkpoints_verify_only_as_signed() {
        let key = PKey::generate_ed25519().unwrap();
        let mut signer = Signer::new_without_digest(&key).unwrap();
        let signature = signer.sign_oneshot_to_vec(statement(5, GENESIS).as_bytes()).unwrap();
        let checkpoint = CheckpointRow {
            id: 1,
            seq: 5,
            hash: GENESIS.to_owned(),
            signed_at: 0,
            public_key: hex::encode(key.raw_public_key().unwrap()),
            signature: hex::encode(signature),
        };
        assert!(signature_holds(&checkpoint));
        assert!(!signature_holds(&CheckpointRow { seq: 6, ..checkpoint.clone() }), "another length");
        assert!(!signature_holds(&CheckpointRow { hash: "1".repeat(64), ..checkpoint }), "another head");
    }
}
