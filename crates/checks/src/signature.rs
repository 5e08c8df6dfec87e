//! The `signature` checker: every signature in an artifact's `.asc`, verified against the
//! committee's keys while the artifact is streamed once, then judged by our validity policy.

use std::fs::File;

use chrono::{DateTime, Utc};
use pgp::composed::SignedPublicKey;
use pgp::types::KeyDetails;
use serde_json::json;
use shared_models::checks::CheckResult;

use crate::artifacts::checker;
use crate::openpgp::keys::Revocation;
use crate::openpgp::verify::{self, SignatureFacts, Verification};
use crate::openpgp::{Certificate, Subkey, parse_keys};
use crate::report::{Input, Report};

/// The tunable part of the policy (CHECKS.md S4).
#[derive(Debug, Clone)]
pub struct SignaturePolicy {
    /// RSA keys of 2048–4095 bits get a warning.
    pub warn_on_rsa_below_4096: bool,
    /// The time the check runs, to catch signatures dated in the future.
    pub now: DateTime<Utc>,
}

impl Default for SignaturePolicy {
    fn default() -> Self {
        Self { warn_on_rsa_below_4096: true, now: Utc::now() }
    }
}

/// The key that made a signature: a committee key, or one of its subkeys.
struct Signer {
    certificate: Certificate,
    subkey: Option<Subkey>,
}

impl Signer {
    fn fingerprint(&self) -> &str {
        self.subkey.as_ref().map_or(&self.certificate.fingerprint, |s| &s.fingerprint)
    }

    fn algorithm(&self) -> (&str, Option<u32>) {
        match &self.subkey {
            Some(s) => (&s.algorithm, s.bits),
            None => (&self.certificate.algorithm, self.certificate.bits),
        }
    }

    fn describe(&self) -> String {
        let who = self.certificate.primary_uid().unwrap_or("(no user id)");
        match &self.subkey {
            Some(s) => format!("{who} (subkey {} of {})", s.fingerprint, self.certificate.fingerprint),
            None => format!("{who} ({})", self.certificate.fingerprint),
        }
    }

    /// Why this key cannot vouch for a signature made at `made` (S3), if it cannot.
    fn refusal(&self, made: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<String> {
        let cert = &self.certificate;
        let Some(made) = made else {
            return Some("the signature carries no creation time".to_owned());
        };
        if made > now + chrono::Duration::days(1) {
            return Some(format!("the signature is dated {}, in the future", day(made)));
        }
        if let Some(refusal) =
            lifetime_refusal("key", &cert.fingerprint, cert.created, cert.expires, cert.revocation.as_ref(), made)
        {
            return Some(refusal);
        }
        match &self.subkey {
            None if !cert.can_sign => Some(format!("the key {} is not marked for signing", cert.fingerprint)),
            None => None,
            Some(sub) => {
                lifetime_refusal("subkey", &sub.fingerprint, sub.created, sub.expires, sub.revocation.as_ref(), made)
                    .or_else(|| {
                        (!sub.can_sign).then(|| {
                            format!(
                                "the subkey {} is not bound for signing (no signing flag or no back-signature)",
                                sub.fingerprint
                            )
                        })
                    })
            }
        }
    }
}

/// Why a key or subkey (`what`) cannot vouch for a signature made at `made`: revoked, younger
/// than the signature, or expired before it.
fn lifetime_refusal(
    what: &str,
    fingerprint: &str,
    created: DateTime<Utc>,
    expires: Option<DateTime<Utc>>,
    revocation: Option<&Revocation>,
    made: DateTime<Utc>,
) -> Option<String> {
    if let Some(revocation) = revocation {
        return Some(format!("the {what} {fingerprint} is revoked ({})", revocation.reason));
    }
    if made < created {
        return Some(format!("the signature ({}) is older than the {what} ({})", day(made), day(created)));
    }
    expires.filter(|e| *e < made).map(|expired| {
        format!("the {what} {fingerprint} expired on {}, before the signature was made on {}", day(expired), day(made))
    })
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// What the keys say about a signature's issuer.
enum Found {
    Signer(Box<Signer>),
    /// A committee key names itself the issuer but is not usable (e.g. no valid self-signature).
    Unusable {
        key: String,
        reason: String,
    },
    Unknown,
}

/// Finds the key a signature names among the committee's, and validates only that one.
fn find_signer(keys: &[SignedPublicKey], facts: &SignatureFacts) -> Found {
    for key in keys {
        let primary = verify::issued_by(facts, &key.primary_key);
        let subkey = key.public_subkeys.iter().position(|s| verify::issued_by(facts, &s.key));
        if !primary && subkey.is_none() {
            continue;
        }
        return match Certificate::from_key(key.clone()) {
            Err((_, reason)) => Found::Unusable { key: hex::encode_upper(key.legacy_key_id()), reason },
            Ok(certificate) => {
                let subkey = if primary {
                    None
                } else {
                    subkey.and_then(|i| certificate.subkeys.iter().find(|s| s.index == i).cloned())
                };
                Found::Signer(Box::new(Signer { certificate, subkey }))
            }
        };
    }
    Found::Unknown
}

fn verify_with(signer: &Signer, signature: &pgp::packet::Signature, digests: &verify::DataDigests) -> Verification {
    match &signer.subkey {
        None => verify::verify(signature, digests, &signer.certificate.key.primary_key),
        Some(sub) => match signer.certificate.key.public_subkeys.get(sub.index) {
            Some(packet) => verify::verify(signature, digests, &packet.key),
            None => Verification::Unusable("subkey missing".to_owned()),
        },
    }
}

/// Checks `asc` as a detached signature of `artifact` by one of the keys of `keys_file` (the
/// committee's KEYS; CHECKS.md S1–S6). The artifact is hashed on one core while the keys are
/// read on another.
pub fn check(artifact: &Input, asc: &Input, keys_file: &[u8], policy: &SignaturePolicy) -> Vec<CheckResult> {
    let mut report = Report::new(checker::SIGNATURE, &artifact.path);
    let asc_bytes = match asc.read_small(1 << 20) {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(size)) => {
            report.failure("S1", format!("{} is {size} bytes; a detached signature is a few KiB", asc.path));
            return report.finish();
        }
        Err(e) => {
            report.error("S1", format!("cannot read {}: {e}", asc.path));
            return report.finish();
        }
    };
    let parsed = verify::parse_signatures(&asc_bytes);
    if !parsed.armored {
        report.failure(
            "S1",
            format!("{} is not ASCII-armored: expected a \"-----BEGIN PGP SIGNATURE-----\" block (gpg --armor --detach-sign)", asc.path),
        );
        return report.finish();
    }
    for problem in &parsed.problems {
        report.failure("S1", format!("{}: {problem}", asc.path));
    }
    if parsed.signatures.is_empty() {
        if parsed.problems.is_empty() {
            report.failure("S1", format!("{} holds no signature", asc.path));
        }
        return report.finish();
    }
    // The artifact is hashed on one core while the keys are read, and the signers' keys are
    // found and validated, on the other: only the final verifications wait for the hash.
    let facts: Vec<_> = parsed.signatures.iter().map(verify::facts).collect();
    let (digests, signers, key_count) = std::thread::scope(|scope| {
        let hashing = scope.spawn(|| File::open(&artifact.file).and_then(|f| verify::hash_data(&parsed.signatures, f)));
        let keys = parse_keys(keys_file);
        let signers: Vec<Found> = facts.iter().map(|f| find_signer(&keys, f)).collect();
        let digests = hashing.join().unwrap_or_else(|_| Err(std::io::Error::other("the hashing thread panicked")));
        (digests, signers, keys.len())
    });
    let digests = match digests {
        Ok(digests) => digests,
        Err(e) => {
            report.error("S1", format!("cannot read {}: {e}", artifact.path));
            return report.finish();
        }
    };
    let mut good = Vec::new();
    let total = parsed.signatures.len();
    for (index, ((signature, facts), found)) in parsed.signatures.iter().zip(&facts).zip(signers).enumerate() {
        let number = if total > 1 { format!("signature {} of {total}", index + 1) } else { "the signature".to_owned() };
        let issuer = facts
            .issuer_fingerprints
            .first()
            .or(facts.issuer_key_ids.first())
            .cloned()
            .unwrap_or_else(|| "an unnamed key".to_owned());
        let signer = match found {
            Found::Signer(signer) => signer,
            Found::Unusable { key, reason } => {
                report
                    .warning("S3", format!("{number} is by the committee key {key}, which cannot be used: {reason}"))
                    .data("issuer", key);
                continue;
            }
            Found::Unknown => {
                report
                    .warning(
                        "S2",
                        format!("{number} is by {issuer}, which is not in the committee's KEYS: it cannot count"),
                    )
                    .data("issuer", issuer)
                    .data("hash", facts.hash.clone());
                continue;
            }
        };
        let base = |status_note: &str| format!("{number} by {}: {status_note}", signer.describe());
        match verify_with(&signer, signature, &digests) {
            Verification::Bad(reason) => {
                report
                    .failure("S1", format!("{} — {}", base("BAD"), reason))
                    .data("signer", signer.certificate.fingerprint.clone())
                    .data("signing_key", signer.fingerprint().to_owned());
                continue;
            }
            Verification::Unusable(reason) => {
                report
                    .failure("S1", base(&format!("cannot be used: {reason}")))
                    .data("signer", signer.certificate.fingerprint.clone());
                continue;
            }
            Verification::Good => {}
        }
        let made = facts.created;
        if let Some(reason) = signer.refusal(made, policy.now) {
            report
                .warning("S3", format!("{} but does not count: {reason}", base("verifies")))
                .data("signer", signer.certificate.fingerprint.clone())
                .data("signing_key", signer.fingerprint().to_owned());
            continue;
        }
        if matches!(facts.hash.as_str(), "MD5" | "RIPEMD160") {
            report.failure("S5", base(&format!("uses the broken hash {}", facts.hash)));
            continue;
        }
        let (algorithm, bits) = signer.algorithm();
        let strength = match (algorithm, bits) {
            ("dsa", _) => Some((true, "DSA keys are no longer accepted for release signatures".to_owned())),
            ("rsa", Some(b)) if b < 2048 => Some((true, format!("an RSA key of {b} bits is too weak (at least 2048)"))),
            ("rsa", Some(b)) if b < 4096 && policy.warn_on_rsa_below_4096 => {
                Some((false, format!("an RSA key of {b} bits; 4096 bits are recommended")))
            }
            _ => None,
        };
        if let Some((fatal, message)) = strength {
            if fatal {
                report.failure("S4", base(&message)).data("signer", signer.certificate.fingerprint.clone());
                continue;
            }
            report.warning("S4", base(&message)).data("signer", signer.certificate.fingerprint.clone());
        }
        if facts.hash == "SHA1" {
            report.warning("S5", base("uses SHA-1; sign with SHA-256 or SHA-512 (gpg --digest-algo SHA512)"));
        }
        let when = made.map(|t| t.to_rfc3339()).unwrap_or_default();
        report
            .success(
                "S2",
                format!("{} made on {} with {}", base("good signature"), when.get(..10).unwrap_or(""), facts.hash),
            )
            .data("signer", signer.certificate.fingerprint.clone())
            .data("signing_key", signer.fingerprint().to_owned())
            .data("uid", signer.certificate.primary_uid().unwrap_or_default().to_owned())
            .data("created", when)
            .data("hash", facts.hash.clone());
        good.push(signer.certificate.fingerprint.clone());
    }
    let bad = report.has_problems();
    match (good.is_empty(), bad) {
        (true, _) => {
            report.failure(
                "S2",
                format!(
                    "no signature in {} is a valid signature by a key in the committee's KEYS ({} key(s) known)",
                    asc.path, key_count
                ),
            );
        }
        (false, true) => {
            report.failure("S6", format!("{} holds a good signature, but also a bad one (see above)", asc.path));
        }
        (false, false) => {
            report
                .success("S6", format!("{} of {total} signature(s) good, none bad", good.len()))
                .data("signers", json!(good))
                .data("bytes", digests.bytes);
        }
    }
    report.finish()
}
