//! Public keys: parsing KEYS files tolerantly, and the facts our validity policy needs
//! (creation, expiry, revocation, signing capability of the primary key and each subkey).

use std::collections::HashSet;
use std::io::Cursor;

use chrono::{DateTime, Utc};
use pgp::composed::{ArmorOptions, Deserializable, SignedPublicKey, SignedPublicSubKey};
use pgp::packet::{PublicKey, Signature, SignatureType, SubpacketData};
use pgp::ser::Serialize;
use pgp::types::{KeyDetails, KeyVersion, PublicParams, Tag};
use shared_models::api::SkippedKey;

use super::armor::{BlockKind, split_blocks};
use super::short_error;

/// Why and when a key or subkey was revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub at: Option<DateTime<Utc>>,
    pub reason: String,
}

/// A subkey and what its binding signature says about it.
#[derive(Debug, Clone)]
pub struct Subkey {
    pub fingerprint: String,
    pub key_id: String,
    pub algorithm: String,
    pub bits: Option<u32>,
    pub created: DateTime<Utc>,
    pub expires: Option<DateTime<Utc>>,
    pub revocation: Option<Revocation>,
    /// Bound for signing: the binding has the sign flag and a valid back-signature.
    pub can_sign: bool,
    /// Position in `Certificate::key.public_subkeys`.
    pub index: usize,
}

/// A usable OpenPGP v4+ public key with its facts, as read from its self-signatures.
#[derive(Debug, Clone)]
pub struct Certificate {
    /// Upper-case hex, 40 characters for v4.
    pub fingerprint: String,
    /// The 64-bit key id, upper-case hex.
    pub key_id: String,
    /// `rsa`, `dsa`, `ecdsa`, `ed25519`, `ed448`, `elgamal`, ...
    pub algorithm: String,
    /// Modulus or curve size.
    pub bits: Option<u32>,
    pub created: DateTime<Utc>,
    pub expires: Option<DateTime<Utc>>,
    pub revocation: Option<Revocation>,
    /// Every user id with a valid self-signature, primary first.
    pub uids: Vec<String>,
    /// The primary key itself may make data signatures.
    pub can_sign: bool,
    pub subkeys: Vec<Subkey>,
    /// The key, for verification.
    pub key: SignedPublicKey,
}

impl Certificate {
    pub fn primary_uid(&self) -> Option<&str> {
        self.uids.first().map(String::as_str)
    }

    /// The key re-serialised on its own, ASCII-armored.
    pub fn armored(&self) -> Result<String, String> {
        self.key.to_armored_string(ArmorOptions::default()).map_err(|e| short_error(&e))
    }

    /// Whether `signature` (a detached signature, armored or not) is a good signature over
    /// exactly `data` by this key or one of its signing subkeys that is neither revoked nor
    /// expired now. Returns the signing key's fingerprint. For proofs of ownership: only the
    /// holder of the secret key can make one.
    pub fn signed(&self, data: &[u8], signature: &[u8]) -> Result<String, String> {
        use super::verify::{Verification, facts, hash_data, issued_by, parse_signatures, verify};
        let now = Utc::now();
        let file = parse_signatures(signature);
        if file.signatures.is_empty() {
            return Err(file.problems.first().cloned().unwrap_or_else(|| "no OpenPGP signature was found".to_owned()));
        }
        if self.revocation.is_some() || self.expires.is_some_and(|e| e <= now) {
            return Err(format!("the key {} is revoked or expired", self.fingerprint));
        }
        let digests = hash_data(&file.signatures, Cursor::new(data)).map_err(|e| e.to_string())?;
        let mut outcome = format!("no signature is by the key {} or one of its signing subkeys", self.fingerprint);
        for signature in &file.signatures {
            let facts = facts(signature);
            let primary = &self.key.primary_key;
            let checked = if self.can_sign && issued_by(&facts, primary) {
                Some((verify(signature, &digests, primary), self.fingerprint.clone()))
            } else {
                self.subkeys
                    .iter()
                    .filter(|s| s.can_sign && s.revocation.is_none() && s.expires.is_none_or(|e| e > now))
                    .map(|s| (s, &self.key.public_subkeys[s.index].key))
                    .find(|(_, key)| issued_by(&facts, *key))
                    .map(|(s, key)| (verify(signature, &digests, key), s.fingerprint.clone()))
            };
            match checked {
                Some((Verification::Good, signer)) => return Ok(signer),
                Some((Verification::Bad(why) | Verification::Unusable(why), _)) => outcome = why,
                None => {}
            }
        }
        Err(outcome)
    }

    /// Reads the facts of a parsed key. `None` for keys older than v4 and keys without a single
    /// valid self-signature, with the reason.
    pub fn from_key(key: SignedPublicKey) -> Result<Self, (&'static str, String)> {
        if key.version() < KeyVersion::V4 {
            return Err((
                "legacy_v3_key",
                format!(
                    "a PGP 2.x ({:?}) key: its MD5-based fingerprint and key id are forgeable, so it cannot vouch for a release",
                    key.version()
                ),
            ));
        }
        let primary = &key.primary_key;
        let mut uid_sigs: Vec<(String, &Signature)> = Vec::new();
        for user in &key.details.users {
            let newest = user
                .signatures
                .iter()
                .filter(|s| is_self_issued(s, primary))
                .filter(|s| s.verify_certification(primary, Tag::UserId, &user.id).is_ok())
                .max_by_key(|s| signature_secs(s));
            if let Some(sig) = newest.filter(|s| s.typ() != Some(SignatureType::CertRevocation)) {
                uid_sigs.push((String::from_utf8_lossy(user.id.id()).into_owned(), sig));
            }
        }
        // The primary user id first (a self-signature may mark it), then the others as they came.
        uid_sigs.sort_by_key(|(_, sig)| !sig.is_primary());
        let direct = key
            .details
            .direct_signatures
            .iter()
            .filter(|s| s.typ() == Some(SignatureType::Key) && s.verify_key(primary).is_ok())
            .max_by_key(|s| signature_secs(s));
        let Some(self_sig) = direct.or_else(|| uid_sigs.first().map(|(_, s)| *s)) else {
            return Err((
                "no_valid_self_signature",
                "no user id or direct-key self-signature verifies, so nothing binds this key to anyone".to_owned(),
            ));
        };
        let created = timestamp(primary.created_at());
        let revocation =
            key.details.revocation_signatures.iter().find(|s| s.verify_key(primary).is_ok()).map(revocation_of);
        let (algorithm, bits) = describe_params(primary.public_params());
        let can_sign =
            if has_key_flags(self_sig) { self_sig.key_flags().sign() } else { algorithm_can_sign(&algorithm) };
        let subkeys =
            key.public_subkeys.iter().enumerate().map(|(index, subkey)| read_subkey(primary, subkey, index)).collect();
        Ok(Self {
            fingerprint: hex::encode_upper(primary.fingerprint().as_bytes()),
            key_id: hex::encode_upper(primary.legacy_key_id()),
            algorithm,
            bits,
            created,
            expires: expiry(created, self_sig),
            revocation,
            uids: uid_sigs.into_iter().map(|(uid, _)| uid).collect(),
            can_sign,
            subkeys,
            key,
        })
    }
}

/// The union of two copies of one key (the same primary key): every user id, subkey and
/// signature that either holds. A newer self-signature or a revocation in either is kept, so
/// an older export can never undo a revocation. `None` if the primary keys differ.
pub fn merge(known: &SignedPublicKey, update: &SignedPublicKey) -> Option<SignedPublicKey> {
    if known.primary_key.fingerprint() != update.primary_key.fingerprint() {
        return None;
    }
    fn add_all(into: &mut Vec<Signature>, from: &[Signature]) {
        // The same signature may come with another packet framing: compare what was signed.
        let same = |a: &Signature, b: &Signature| match (a.signature(), b.signature()) {
            (Some(x), Some(y)) => x == y && a.signed_hash_value() == b.signed_hash_value(),
            _ => a == b,
        };
        for signature in from {
            if !into.iter().any(|known| same(known, signature)) {
                into.push(signature.clone());
            }
        }
    }
    let mut merged = known.clone();
    add_all(&mut merged.details.revocation_signatures, &update.details.revocation_signatures);
    add_all(&mut merged.details.direct_signatures, &update.details.direct_signatures);
    for user in &update.details.users {
        match merged.details.users.iter_mut().find(|u| u.id.id() == user.id.id()) {
            Some(known) => add_all(&mut known.signatures, &user.signatures),
            None => merged.details.users.push(user.clone()),
        }
    }
    for attribute in &update.details.user_attributes {
        match merged.details.user_attributes.iter_mut().find(|a| a.attr == attribute.attr) {
            Some(known) => add_all(&mut known.signatures, &attribute.signatures),
            None => merged.details.user_attributes.push(attribute.clone()),
        }
    }
    for subkey in &update.public_subkeys {
        match merged.public_subkeys.iter_mut().find(|s| s.key.fingerprint() == subkey.key.fingerprint()) {
            Some(known) => add_all(&mut known.signatures, &subkey.signatures),
            None => merged.public_subkeys.push(subkey.clone()),
        }
    }
    Some(merged)
}

/// The email addresses in a key's user ids (`Name <address>` or a bare address), lower-case.
pub fn uid_emails(uids: &[String]) -> Vec<String> {
    uids.iter()
        .filter_map(|uid| {
            let address = match (uid.rfind('<'), uid.rfind('>')) {
                (Some(open), Some(close)) if open < close => &uid[open + 1..close],
                _ => uid.as_str(),
            };
            let address = address.trim();
            address.contains('@').then(|| address.to_ascii_lowercase())
        })
        .collect()
}

fn read_subkey(primary: &PublicKey, subkey: &SignedPublicSubKey, index: usize) -> Subkey {
    let mut binding: Option<&Signature> = None;
    let mut revocation = None;
    for sig in &subkey.signatures {
        match sig.typ() {
            Some(SignatureType::SubkeyBinding)
                if sig.verify_subkey_binding(primary, &subkey.key).is_ok()
                    && binding.is_none_or(|b| signature_secs(b) < signature_secs(sig)) =>
            {
                binding = Some(sig);
            }
            Some(SignatureType::SubkeyRevocation) if sig.verify_subkey_binding(primary, &subkey.key).is_ok() => {
                revocation = Some(revocation_of(sig));
            }
            _ => {}
        }
    }
    let created = timestamp(subkey.key.created_at());
    let (algorithm, bits) = describe_params(subkey.key.public_params());
    // A signing subkey must prove it agrees to be bound (the embedded back-signature); without
    // it, anyone could attach someone else's signing key to their own certificate.
    let can_sign = binding.is_some_and(|b| {
        b.key_flags().sign()
            && b.embedded_signature().is_some_and(|back| back.verify_primary_key_binding(&subkey.key, primary).is_ok())
    });
    Subkey {
        fingerprint: hex::encode_upper(subkey.key.fingerprint().as_bytes()),
        key_id: hex::encode_upper(subkey.key.legacy_key_id()),
        algorithm,
        bits,
        created,
        expires: binding.and_then(|b| expiry(created, b)),
        revocation,
        can_sign,
        index,
    }
}

/// Whether a signature names `key` as its issuer (or names no issuer at all).
pub(crate) fn is_self_issued(sig: &Signature, key: &impl KeyDetails) -> bool {
    let ids = sig.issuer_key_id();
    let fingerprints = sig.issuer_fingerprint();
    (ids.is_empty() && fingerprints.is_empty())
        || ids.iter().any(|id| **id == key.legacy_key_id())
        || fingerprints.iter().any(|fp| **fp == key.fingerprint())
}

fn signature_secs(sig: &Signature) -> u32 {
    sig.created().map_or(0, |t| t.as_secs())
}

pub(crate) fn timestamp(t: pgp::types::Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(i64::from(t.as_secs()), 0).unwrap_or_default()
}

fn expiry(created: DateTime<Utc>, sig: &Signature) -> Option<DateTime<Utc>> {
    let seconds = sig.key_expiration_time()?.as_secs();
    (seconds != 0).then(|| created + chrono::Duration::seconds(i64::from(seconds)))
}

fn has_key_flags(sig: &Signature) -> bool {
    sig.config().is_some_and(|c| c.hashed_subpackets().any(|p| matches!(p.data, SubpacketData::KeyFlags(_))))
}

fn revocation_of(sig: &Signature) -> Revocation {
    let code = sig.revocation_reason_code().map(|c| format!("{c:?}"));
    let text = sig.revocation_reason_string().map(|s| String::from_utf8_lossy(s.as_ref()).trim().to_owned());
    let reason = match (code, text.filter(|t| !t.is_empty())) {
        (Some(code), Some(text)) => format!("{code}: {text}"),
        (Some(code), None) => code,
        (None, Some(text)) => text,
        (None, None) => "no reason given".to_owned(),
    };
    Revocation { at: sig.created().map(timestamp), reason }
}

fn algorithm_can_sign(algorithm: &str) -> bool {
    matches!(algorithm, "rsa" | "dsa" | "ecdsa" | "ed25519" | "ed448")
}

/// Algorithm name and size in bits, from the key material.
fn describe_params(params: &PublicParams) -> (String, Option<u32>) {
    // For RSA, DSA and Elgamal the first serialised MPI is the modulus (or prime); an MPI
    // starts with its length in bits.
    let first_mpi_bits = || {
        let mut bytes = Vec::new();
        params.to_writer(&mut bytes).ok()?;
        Some(u32::from(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?])))
    };
    let curve_bits = |name: &str| {
        ["256", "384", "521", "448", "25519"]
            .iter()
            .find(|n| name.contains(*n))
            .map(|n| if *n == "25519" { 256 } else { n.parse().unwrap_or(0) })
    };
    match params {
        PublicParams::RSA(_) => ("rsa".into(), first_mpi_bits()),
        PublicParams::DSA(_) => ("dsa".into(), first_mpi_bits()),
        PublicParams::Elgamal(_) => ("elgamal".into(), first_mpi_bits()),
        PublicParams::ECDSA(p) => ("ecdsa".into(), curve_bits(p.curve().name())),
        PublicParams::ECDH(p) => ("ecdh".into(), curve_bits(p.curve().name())),
        PublicParams::EdDSALegacy(_) | PublicParams::Ed25519(_) => ("ed25519".into(), Some(256)),
        PublicParams::Ed448(_) => ("ed448".into(), Some(448)),
        PublicParams::X25519(_) => ("x25519".into(), Some(256)),
        PublicParams::X448(_) => ("x448".into(), Some(448)),
        _ => ("unknown".into(), None),
    }
}

/// What a KEYS file held: the usable keys, and every key that was not usable, with the reason.
#[derive(Debug, Default)]
pub struct KeyringParse {
    pub certificates: Vec<Certificate>,
    pub skipped: Vec<SkippedKey>,
    /// Armor blocks found.
    pub blocks: usize,
}

/// A key read from armor block number `.0`, or why it could not be read.
type BlockKey = (usize, Result<SignedPublicKey, String>);

/// Every key of every armor block, parsed but not validated, and the number of blocks.
fn read_blocks(data: &[u8]) -> (usize, Vec<BlockKey>) {
    let blocks = split_blocks(data, BlockKind::PublicKey);
    let mut keys = Vec::new();
    for (index, block) in blocks.iter().enumerate() {
        let number = index + 1;
        match SignedPublicKey::from_armor_many_buf(Cursor::new(block.as_slice())) {
            Ok((parsed, _headers)) => keys.extend(parsed.map(|key| {
                (number, key.map_err(|e| format!("a key in armor block {number} cannot be read: {}", short_error(&e))))
            })),
            Err(e) => keys.push((number, Err(format!("armor block {number} cannot be read: {}", short_error(&e))))),
        }
    }
    (blocks.len(), keys)
}

/// The v4+ keys of a keyring, parsed without checking their self-signatures (cheap). The
/// signature checker validates, with [`Certificate::from_key`], only the keys a signature names.
pub fn parse_keys(data: &[u8]) -> Vec<SignedPublicKey> {
    read_blocks(data)
        .1
        .into_iter()
        .filter_map(|(_, key)| key.ok())
        .filter(|key| key.version() >= KeyVersion::V4)
        .collect()
}

/// The primary fingerprints (upper-case hex) of the v4+ keys of a keyring.
pub fn fingerprints(data: &[u8]) -> std::collections::BTreeSet<String> {
    parse_keys(data).iter().map(|key| hex::encode_upper(key.primary_key.fingerprint().as_bytes())).collect()
}

/// Parses every public key of a KEYS file (or any armored keyring). Nothing in it is fatal: a
/// legacy, broken or duplicate key is reported in `skipped` and the others are read.
pub fn parse_keyring(data: &[u8]) -> KeyringParse {
    let (blocks, keys) = read_blocks(data);
    let mut parse = KeyringParse { blocks, ..KeyringParse::default() };
    let mut seen = HashSet::new();
    for (number, key) in keys {
        let skip = |code: &str, reason: String, key: Option<String>, uid: Option<String>| SkippedKey {
            reason,
            code: code.to_owned(),
            block: number,
            key,
            uid,
        };
        let key = match key {
            Ok(key) => key,
            Err(reason) => {
                parse.skipped.push(skip("unparseable", reason, None, None));
                continue;
            }
        };
        let id = hex::encode_upper(key.legacy_key_id());
        let uid = key.details.users.first().map(|u| String::from_utf8_lossy(u.id.id()).into_owned());
        match Certificate::from_key(key) {
            Err((code, reason)) => parse.skipped.push(skip(code, format!("key {id}: {reason}"), Some(id), uid)),
            Ok(cert) if !seen.insert(cert.fingerprint.clone()) => parse.skipped.push(skip(
                "duplicate",
                format!("key {} appears again in armor block {number}; the first copy is used", cert.fingerprint),
                Some(cert.fingerprint),
                uid,
            )),
            Ok(cert) => parse.certificates.push(cert),
        }
    }
    parse
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTTPD_KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/real/httpd-2.4.68/KEYS");
    const ATR_KEY: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/atr-playwright/68FF2E20F02B070D73D416188DE8CC167FE2663A.asc"
    );

    #[test]
    fn reads_the_real_httpd_keys_file() {
        let data = std::fs::read(HTTPD_KEYS).unwrap();
        assert!(std::str::from_utf8(&data).is_err(), "the fixture is not UTF-8, as real KEYS files are not");
        let parse = parse_keyring(&data);
        assert_eq!(parse.blocks, 65);
        let legacy = parse.skipped.iter().filter(|s| s.code == "legacy_v3_key").count();
        let duplicates = parse.skipped.iter().filter(|s| s.code == "duplicate").count();
        assert_eq!(legacy, 25, "{:#?}", parse.skipped);
        assert_eq!(duplicates, 1);
        assert_eq!(parse.certificates.len() + parse.skipped.len(), 67, "every key is accounted for");
        assert_eq!(parse.certificates.len(), 41);

        let signer = parse
            .certificates
            .iter()
            .find(|c| c.fingerprint == "65B2D44FE74BD5E3DE3AC3F082781DE46D5954FA")
            .expect("the httpd 2.4.68 signer");
        assert_eq!((signer.algorithm.as_str(), signer.bits), ("rsa", Some(4096)));
        assert_eq!(signer.key_id, "82781DE46D5954FA");
        assert!(signer.can_sign && signer.revocation.is_none());
        assert!(signer.primary_uid().is_some_and(|u| u.contains("Eric Covener")), "{:?}", signer.uids);
        assert_eq!(signer.created.timestamp(), 1_258_433_142);
        let reparsed = parse_keyring(signer.armored().unwrap().as_bytes());
        assert_eq!(reparsed.certificates[0].fingerprint, signer.fingerprint);
    }

    #[test]
    fn reads_an_ed25519_key_with_a_signing_subkey_and_expiry() {
        let parse = parse_keyring(&std::fs::read(ATR_KEY).unwrap());
        assert!(parse.skipped.is_empty(), "{:?}", parse.skipped);
        let cert = &parse.certificates[0];
        assert_eq!(cert.fingerprint, "68FF2E20F02B070D73D416188DE8CC167FE2663A");
        assert_eq!(cert.algorithm, "ed25519");
        assert!(!cert.can_sign, "the primary key only certifies");
        assert!(cert.expires.is_some());
        let signing: Vec<&Subkey> = cert.subkeys.iter().filter(|s| s.can_sign).collect();
        assert_eq!(signing.len(), 1);
        assert_eq!(signing[0].fingerprint, "A32F0FCCFF48C94FB971F98581B1A0B8D9D20CBA");
    }

    #[test]
    fn garbage_is_reported_not_fatal() {
        let data = b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n-----END PGP PUBLIC KEY BLOCK-----\n";
        let parse = parse_keyring(data);
        assert!(parse.certificates.is_empty());
        assert_eq!(parse.skipped.len(), 1);
        assert_eq!(parse.skipped[0].code, "unparseable");
        assert!(parse.skipped[0].reason.len() < 300, "errors are kept short: {}", parse.skipped[0].reason);
        assert_eq!(parse_keyring(b"hello").blocks, 0);
    }

    #[test]
    fn the_cheap_parse_keeps_the_v4_keys() {
        let keys = parse_keys(&std::fs::read(HTTPD_KEYS).unwrap());
        assert_eq!(keys.len(), 42, "41 keys, one of them twice");
    }
}
