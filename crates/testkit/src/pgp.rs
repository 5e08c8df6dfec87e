//! OpenPGP keys and signatures made by the tests themselves, for every case the signature
//! checker must judge: good, expired, revoked, certify-only, subkeys, SHA-1, several signatures.

use pgp::armor::BlockType;
pub use pgp::composed::SignedSecretKey;
use pgp::composed::{
    ArmorOptions, DetachedSignature, KeyType, SecretKeyParamsBuilder, SubkeyParamsBuilder, SubpacketConfig,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{KeyFlags, RevocationCode, SignatureConfig, SignatureType, Subpacket, SubpacketData};
use pgp::ser::Serialize;
use pgp::types::{Duration, KeyDetails, Password, SigningKey, Tag, Timestamp};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub const DAY: u32 = 86_400;

/// Seconds since the epoch, now.
pub fn now() -> u32 {
    Timestamp::now().as_secs()
}

/// A deterministic random source, so that test keys are the same on every run.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// The algorithms tests need.
#[derive(Debug, Clone, Copy)]
pub enum Algorithm {
    Ed25519,
    Rsa(u32),
}

impl Algorithm {
    fn key_type(self) -> KeyType {
        match self {
            Algorithm::Ed25519 => KeyType::Ed25519Legacy,
            Algorithm::Rsa(bits) => KeyType::Rsa(bits),
        }
    }
}

/// A key with a certify-only primary and a signing subkey, created `age_days` ago; with
/// `primary_can_sign` the primary signs too.
pub fn generate(
    rng: &mut ChaCha8Rng,
    algorithm: Algorithm,
    uid: &str,
    age_days: u32,
    primary_can_sign: bool,
) -> SignedSecretKey {
    let created = Timestamp::from_secs(now() - age_days * DAY);
    let mut params = SecretKeyParamsBuilder::default();
    params
        .key_type(algorithm.key_type())
        .can_certify(true)
        .can_sign(primary_can_sign)
        .created_at(created)
        .primary_user_id(uid.into())
        .subkey(
            SubkeyParamsBuilder::default()
                .key_type(algorithm.key_type())
                .can_sign(true)
                .created_at(created)
                .build()
                .expect("subkey parameters"),
        );
    params.build().expect("key parameters").generate(rng).expect("key generation")
}

fn issuer_subpackets(key: &impl KeyDetails, created: Timestamp) -> (Vec<Subpacket>, Vec<Subpacket>) {
    (
        vec![
            Subpacket::regular(SubpacketData::SignatureCreationTime(created)).expect("subpacket"),
            Subpacket::regular(SubpacketData::IssuerFingerprint(key.fingerprint())).expect("subpacket"),
        ],
        vec![Subpacket::regular(SubpacketData::IssuerKeyId(key.legacy_key_id())).expect("subpacket")],
    )
}

/// Makes the key (primary and signing subkey) expire `days` after its creation.
pub fn expire_after(rng: &mut ChaCha8Rng, key: &mut SignedSecretKey, days: u32) {
    let created = key.primary_key.created_at();
    let primary = &key.primary_key;
    let mut config = SignatureConfig::v4(SignatureType::CertPositive, primary.algorithm(), HashAlgorithm::Sha256);
    let (mut hashed, unhashed) = issuer_subpackets(primary, created);
    let mut flags = KeyFlags::default();
    flags.set_certify(true);
    hashed.push(Subpacket::regular(SubpacketData::KeyFlags(flags)).expect("subpacket"));
    hashed.push(Subpacket::regular(SubpacketData::IsPrimary(true)).expect("subpacket"));
    hashed.push(
        Subpacket::regular(SubpacketData::KeyExpirationTime(Duration::from_secs(days * DAY))).expect("subpacket"),
    );
    config.hashed_subpackets = hashed;
    config.unhashed_subpackets = unhashed;
    let uid = &key.details.users[0].id;
    let signature = config
        .sign_certification(primary, primary.public_key(), &Password::empty(), Tag::UserId, uid)
        .expect("self-signature");
    key.details.users[0].signatures = vec![signature];

    let subkey = &key.secret_subkeys[0].key;
    let back =
        subkey.sign_primary_key_binding(&mut *rng, primary.public_key(), &Password::empty()).expect("back-signature");
    let mut config = SignatureConfig::v4(SignatureType::SubkeyBinding, primary.algorithm(), HashAlgorithm::Sha256);
    let (mut hashed, unhashed) = issuer_subpackets(primary, created);
    let mut flags = KeyFlags::default();
    flags.set_sign(true);
    hashed.push(Subpacket::regular(SubpacketData::KeyFlags(flags)).expect("subpacket"));
    hashed.push(
        Subpacket::regular(SubpacketData::KeyExpirationTime(Duration::from_secs(days * DAY))).expect("subpacket"),
    );
    hashed.push(Subpacket::regular(SubpacketData::EmbeddedSignature(Box::new(back))).expect("subpacket"));
    config.hashed_subpackets = hashed;
    config.unhashed_subpackets = unhashed;
    let binding = config
        .sign_subkey_binding(primary, primary.public_key(), &Password::empty(), subkey.public_key())
        .expect("binding");
    key.secret_subkeys[0].signatures = vec![binding];
}

/// Revokes the whole key, `days_ago` days ago.
pub fn revoke(key: &mut SignedSecretKey, days_ago: u32) {
    let primary = &key.primary_key;
    let mut config = SignatureConfig::v4(SignatureType::KeyRevocation, primary.algorithm(), HashAlgorithm::Sha256);
    let (mut hashed, unhashed) = issuer_subpackets(primary, Timestamp::from_secs(now() - days_ago * DAY));
    hashed.push(
        Subpacket::regular(SubpacketData::RevocationReason(RevocationCode::KeyCompromised, "lost laptop".into()))
            .expect("subpacket"),
    );
    config.hashed_subpackets = hashed;
    config.unhashed_subpackets = unhashed;
    let revocation = config.sign_key(primary, &Password::empty(), primary.public_key()).expect("revocation");
    key.details.revocation_signatures.push(revocation);
}

/// Revokes the signing subkey, `days_ago` days ago (the key stays; the subkey may not sign).
pub fn revoke_subkey(key: &mut SignedSecretKey, days_ago: u32) {
    let primary = &key.primary_key;
    let mut config = SignatureConfig::v4(SignatureType::SubkeyRevocation, primary.algorithm(), HashAlgorithm::Sha256);
    let (mut hashed, unhashed) = issuer_subpackets(primary, Timestamp::from_secs(now() - days_ago * DAY));
    hashed.push(
        Subpacket::regular(SubpacketData::RevocationReason(RevocationCode::KeyCompromised, "stolen".into()))
            .expect("subpacket"),
    );
    config.hashed_subpackets = hashed;
    config.unhashed_subpackets = unhashed;
    let subkey = key.secret_subkeys[0].key.public_key();
    let revocation =
        config.sign_subkey_binding(primary, primary.public_key(), &Password::empty(), &subkey).expect("revocation");
    key.secret_subkeys[0].signatures.push(revocation);
}

/// The public key, ASCII-armored (what a KEYS file holds).
pub fn public_armored(key: &SignedSecretKey) -> String {
    key.to_public_key().to_armored_string(ArmorOptions::default()).expect("armor")
}

/// Who signs: the primary key or the first subkey.
#[derive(Debug, Clone, Copy)]
pub enum By {
    Primary,
    Subkey,
}

/// A detached binary signature over `data`, made `days_ago` days ago with `hash`.
pub fn sign(
    rng: &mut ChaCha8Rng,
    key: &SignedSecretKey,
    by: By,
    hash: HashAlgorithm,
    days_ago: u32,
    data: &[u8],
) -> DetachedSignature {
    fn with(
        rng: &mut ChaCha8Rng,
        signer: &impl SigningKey,
        hash: HashAlgorithm,
        days_ago: u32,
        data: &[u8],
    ) -> DetachedSignature {
        let (hashed, unhashed) = issuer_subpackets(signer, Timestamp::from_secs(now() - days_ago * DAY));
        DetachedSignature::sign_binary_data_with_subpackets(
            rng,
            signer,
            &Password::empty(),
            hash,
            data,
            SubpacketConfig::UserDefined { hashed, unhashed },
        )
        .expect("signing")
    }
    match by {
        By::Primary => with(rng, &key.primary_key, hash, days_ago, data),
        By::Subkey => with(rng, &key.secret_subkeys[0].key, hash, days_ago, data),
    }
}

/// Several signatures in one armored `.asc`.
pub fn armored_signatures(signatures: &[DetachedSignature]) -> Vec<u8> {
    let mut out = Vec::new();
    pgp::armor::write(&signatures.to_vec(), BlockType::Signature, &mut out, None, true).expect("armor");
    out
}

/// The signature's packet bytes with one byte of the signature value itself flipped: still a
/// well-formed packet, but mathematically wrong.
pub fn corrupted(signature: &DetachedSignature) -> Vec<u8> {
    let mut bytes = signature.to_bytes().expect("serialise");
    let last = bytes.len() - 2;
    bytes[last] ^= 0x40;
    let parsed = <DetachedSignature as pgp::composed::Deserializable>::from_bytes(&bytes[..]).expect("still parses");
    armored_signatures(&[parsed])
}

/// An armored detached SHA-256 signature over `data`, made now (as `gpg --armor --detach-sign`).
pub fn armored_signature(rng: &mut ChaCha8Rng, key: &SignedSecretKey, by: By, data: &[u8]) -> String {
    let signature = sign(rng, key, by, HashAlgorithm::Sha256, 0, data);
    String::from_utf8(armored_signatures(&[signature])).expect("armor is text")
}
