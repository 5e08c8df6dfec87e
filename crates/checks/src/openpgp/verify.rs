//! Detached signatures: parsing every signature of an `.asc`, hashing the artifact once while
//! streaming it, and verifying each signature against a key, with outcomes a person can read.

use std::collections::BTreeMap;
use std::io::{self, Cursor, Read};

use chrono::{DateTime, Utc};
use digest::{DynDigest, InvalidBufferSize};
use pgp::composed::{Deserializable, DetachedSignature};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{Signature, SignatureType, SignatureVersionSpecific};
use pgp::types::{KeyDetails, VerifyingKey};

use super::armor::{BlockKind, split_blocks};
use super::keys::timestamp;
use super::short_error;

/// Every signature packet of a detached signature file, and why parts could not be read.
#[derive(Debug, Default)]
pub struct SignatureFile {
    pub signatures: Vec<Signature>,
    pub problems: Vec<String>,
    /// Whether the file was ASCII-armored (S1 requires it).
    pub armored: bool,
}

/// Reads every armor block of an `.asc` (rPGP alone reads only the first), or a binary
/// signature file.
pub fn parse_signatures(bytes: &[u8]) -> SignatureFile {
    let blocks = split_blocks(bytes, BlockKind::Signature);
    let mut file = SignatureFile { armored: !blocks.is_empty(), ..SignatureFile::default() };
    let sources: Vec<&[u8]> = if blocks.is_empty() { vec![bytes] } else { blocks.iter().map(Vec::as_slice).collect() };
    for (index, source) in sources.into_iter().enumerate() {
        match DetachedSignature::from_reader_many(Cursor::new(source)) {
            Ok((signatures, _headers)) => {
                for signature in signatures {
                    match signature {
                        Ok(detached) => file.signatures.push(detached.signature),
                        Err(e) => file.problems.push(format!(
                            "a signature in block {} cannot be read: {}",
                            index + 1,
                            short_error(&e)
                        )),
                    }
                }
            }
            Err(e) => {
                file.problems.push(format!("block {} is not an OpenPGP signature: {}", index + 1, short_error(&e)))
            }
        }
    }
    file
}

/// SHA-2 through libcrypto (see `digest.rs`), shaped as rPGP's hasher so that the data is hashed
/// at OpenSSL's speed and the signature trailer by rPGP's own code.
#[derive(Clone)]
enum FastHasher {
    Sha1(openssl::sha::Sha1),
    Sha224(openssl::sha::Sha224),
    Sha256(openssl::sha::Sha256),
    Sha384(openssl::sha::Sha384),
    Sha512(openssl::sha::Sha512),
}

impl FastHasher {
    fn new(algorithm: HashAlgorithm) -> Option<Self> {
        match algorithm {
            HashAlgorithm::Sha1 => Some(Self::Sha1(openssl::sha::Sha1::new())),
            HashAlgorithm::Sha224 => Some(Self::Sha224(openssl::sha::Sha224::new())),
            HashAlgorithm::Sha256 => Some(Self::Sha256(openssl::sha::Sha256::new())),
            HashAlgorithm::Sha384 => Some(Self::Sha384(openssl::sha::Sha384::new())),
            HashAlgorithm::Sha512 => Some(Self::Sha512(openssl::sha::Sha512::new())),
            _ => None,
        }
    }

    fn digest(self) -> Vec<u8> {
        match self {
            Self::Sha1(h) => h.finish().to_vec(),
            Self::Sha224(h) => h.finish().to_vec(),
            Self::Sha256(h) => h.finish().to_vec(),
            Self::Sha384(h) => h.finish().to_vec(),
            Self::Sha512(h) => h.finish().to_vec(),
        }
    }

    fn fresh(&self) -> Self {
        match self {
            Self::Sha1(_) => Self::Sha1(openssl::sha::Sha1::new()),
            Self::Sha224(_) => Self::Sha224(openssl::sha::Sha224::new()),
            Self::Sha256(_) => Self::Sha256(openssl::sha::Sha256::new()),
            Self::Sha384(_) => Self::Sha384(openssl::sha::Sha384::new()),
            Self::Sha512(_) => Self::Sha512(openssl::sha::Sha512::new()),
        }
    }
}

impl DynDigest for FastHasher {
    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha1(h) => h.update(data),
            Self::Sha224(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
            Self::Sha384(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
        }
    }

    fn finalize_into(self, buf: &mut [u8]) -> Result<(), InvalidBufferSize> {
        let digest = self.digest();
        if buf.len() != digest.len() {
            return Err(InvalidBufferSize);
        }
        buf.copy_from_slice(&digest);
        Ok(())
    }

    fn finalize_into_reset(&mut self, out: &mut [u8]) -> Result<(), InvalidBufferSize> {
        let fresh = self.fresh();
        std::mem::replace(self, fresh).finalize_into(out)
    }

    fn reset(&mut self) {
        *self = self.fresh();
    }

    fn output_size(&self) -> usize {
        match self {
            Self::Sha1(_) => 20,
            Self::Sha224(_) => 28,
            Self::Sha256(_) => 32,
            Self::Sha384(_) => 48,
            Self::Sha512(_) => 64,
        }
    }

    fn box_clone(&self) -> Box<dyn DynDigest> {
        Box::new(self.clone())
    }
}

/// The data hashed once per hash algorithm the signatures use; each signature then finishes
/// its own copy with its trailer.
#[derive(Default)]
pub struct DataDigests {
    states: BTreeMap<u8, FastHasher>,
    /// Bytes of data hashed.
    pub bytes: u64,
}

impl std::fmt::Debug for DataDigests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataDigests").field("algorithms", &self.states.keys()).field("bytes", &self.bytes).finish()
    }
}

/// What verifying one signature against one key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The mathematics hold: the signature was made over exactly these bytes with this key.
    Good,
    /// The signature does not match the bytes or the key.
    Bad(String),
    /// The signature could not be evaluated (unsupported version or algorithm).
    Unusable(String),
}

/// Reads `data` once, hashing it with every algorithm the signatures use (the SHA family;
/// signatures with other algorithms are reported as unusable by [`verify`]).
pub fn hash_data(signatures: &[Signature], data: impl Read + Send) -> io::Result<DataDigests> {
    let mut states = BTreeMap::new();
    for config in signatures.iter().filter_map(Signature::config) {
        if let Some(hasher) = FastHasher::new(config.hash_alg) {
            states.entry(u8::from(config.hash_alg)).or_insert(hasher);
        }
    }
    let bytes = crate::digest::for_each_chunk(data, |chunk| {
        for hasher in states.values_mut() {
            DynDigest::update(hasher, chunk);
        }
    })?;
    Ok(DataDigests { states, bytes })
}

/// Verifies `signature` against `key` (a primary key or a subkey), finishing the digest of the
/// data computed by [`hash_data`].
pub fn verify(signature: &Signature, digests: &DataDigests, key: &impl VerifyingKey) -> Verification {
    let Some(config) = signature.config() else {
        return Verification::Unusable(format!("signature version {:?} is not supported", signature.version()));
    };
    let (Some(expected_prefix), Some(signature_bytes)) = (signature.signed_hash_value(), signature.signature()) else {
        return Verification::Unusable("the signature packet is incomplete".to_owned());
    };
    if !matches!(config.typ, SignatureType::Binary | SignatureType::Text) {
        return Verification::Unusable(format!("a {:?} signature is not a signature over a file", config.typ));
    }
    if config.typ == SignatureType::Text {
        return Verification::Unusable(
            "a text-mode signature (made with gpg --textmode) over a release artifact; sign the exact bytes".to_owned(),
        );
    }
    if config.pub_alg != key.algorithm() {
        return Verification::Bad(format!(
            "the signature was made with {:?}, but the key is {:?}",
            config.pub_alg,
            key.algorithm()
        ));
    }
    if matches!(config.version_specific, SignatureVersionSpecific::V6 { .. }) {
        // v6 signatures salt the hash before the data, which this one-pass hashing does not do.
        return Verification::Unusable("OpenPGP v6 signatures are not supported yet".to_owned());
    }
    let mut hasher: Box<dyn DynDigest + Send> = match digests.states.get(&u8::from(config.hash_alg)) {
        Some(fast) => Box::new(fast.clone()),
        None => return Verification::Unusable(format!("the hash algorithm {:?} is not accepted", config.hash_alg)),
    };
    let length = match config.hash_signature_data(&mut hasher) {
        Ok(length) => length,
        Err(e) => return Verification::Unusable(short_error(&e)),
    };
    match config.trailer(length) {
        Ok(trailer) => hasher.update(&trailer),
        Err(e) => return Verification::Unusable(short_error(&e)),
    }
    let digest = hasher.finalize();
    if digest.get(..2) != Some(&expected_prefix[..]) {
        return Verification::Bad("the artifact's bytes are not the bytes that were signed".to_owned());
    }
    match key.verify(config.hash_alg, &digest, signature_bytes) {
        Ok(()) => Verification::Good,
        Err(e) => Verification::Bad(format!("the signature does not verify: {}", short_error(&e))),
    }
}

/// The facts of a signature that the policy looks at.
#[derive(Debug, Clone)]
pub struct SignatureFacts {
    pub created: Option<DateTime<Utc>>,
    pub hash: String,
    pub issuer_fingerprints: Vec<String>,
    pub issuer_key_ids: Vec<String>,
}

pub fn facts(signature: &Signature) -> SignatureFacts {
    SignatureFacts {
        created: signature.created().map(timestamp),
        hash: signature.hash_alg().map_or_else(|| "unknown".to_owned(), |h| format!("{h:?}").to_uppercase()),
        issuer_fingerprints: signature.issuer_fingerprint().iter().map(|f| hex::encode_upper(f.as_bytes())).collect(),
        issuer_key_ids: signature.issuer_key_id().iter().map(hex::encode_upper).collect(),
    }
}

/// Whether a key (by fingerprint and key id) is named as a signature's issuer. A signature
/// that names no issuer at all could be from anyone, and matches nothing.
pub fn issued_by(facts: &SignatureFacts, key: &impl KeyDetails) -> bool {
    let fingerprint = hex::encode_upper(key.fingerprint().as_bytes());
    let key_id = hex::encode_upper(key.legacy_key_id());
    facts.issuer_fingerprints.contains(&fingerprint) || facts.issuer_key_ids.contains(&key_id)
}
