//! KEYS lint: what is wrong with a committee's signing keys before a voter finds out.
//!
//! A key that expires within the vote window (or within 30 days), a revoked or weak key still
//! in KEYS, a signing subkey that expired, a key whose user ids name no project member, and the
//! same key twice (or two keys sharing a 64-bit key id, which tools that print short ids confuse).
//! Pure: the certificates, the members' addresses and the clock in, findings out.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

use super::keys::{Certificate, uid_emails};

/// How far ahead an expiry is worth a warning even when no vote is near.
pub const EXPIRY_HORIZON_DAYS: i64 = 30;

pub use shared_models::api::{KeyFinding as Finding, KeyFindingCode as Code, KeyFindingSeverity as Severity};

/// What the lint needs besides the keys.
#[derive(Debug, Clone)]
pub struct LintContext<'a> {
    pub now: DateTime<Utc>,
    /// When a vote opened now would close (none outside a vote start).
    pub vote_closes: Option<DateTime<Utc>>,
    /// The project members' addresses, lower case (committers and PMC).
    pub member_emails: &'a BTreeSet<String>,
    /// Fingerprints (primary or subkey, upper case) that signed files of the release about to
    /// be voted on: their problems block the vote.
    pub signers: &'a BTreeSet<String>,
}

/// Lints `certificates` in KEYS order; the findings come sorted by severity (blocking first),
/// then in key order.
pub fn lint(certificates: &[Certificate], context: &LintContext<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let horizon = context.now + Duration::days(EXPIRY_HORIZON_DAYS);
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut key_ids: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for certificate in certificates {
        let fingerprint = certificate.fingerprint.as_str();
        *seen.entry(fingerprint).or_default() += 1;
        key_ids.entry(certificate.key_id.as_str()).or_default().insert(fingerprint);
        for subkey in &certificate.subkeys {
            key_ids.entry(subkey.key_id.as_str()).or_default().insert(fingerprint);
        }
        let signed = context.signers.contains(fingerprint)
            || certificate.subkeys.iter().any(|s| context.signers.contains(&s.fingerprint));
        let mut add = |code: Code, blocking: bool, message: String| {
            let severity = if blocking && signed { Severity::Blocking } else { Severity::Warning };
            findings.push(Finding { fingerprint: fingerprint.to_owned(), code, severity, message });
        };
        let who = certificate.primary_uid().unwrap_or("(no user id)");

        if let Some(revocation) = &certificate.revocation {
            add(Code::Revoked, true, format!("{who}: the key is revoked ({}) but still in KEYS", revocation.reason));
            continue;
        }
        match certificate.expires {
            Some(expires) if expires <= context.now => {
                add(Code::Expired, true, format!("{who}: the key expired on {}", day(expires)));
                continue;
            }
            Some(expires) if context.vote_closes.is_some_and(|closes| expires <= closes) => add(
                Code::ExpiresSoon,
                true,
                format!(
                    "{who}: the key expires on {}, before the vote closes; extend it and upload it again",
                    day(expires)
                ),
            ),
            Some(expires) if expires <= horizon => add(
                Code::ExpiresSoon,
                false,
                format!("{who}: the key expires on {}, within {EXPIRY_HORIZON_DAYS} days", day(expires)),
            ),
            _ => {}
        }
        if let Some(reason) = weakness(&certificate.algorithm, certificate.bits) {
            add(Code::Weak, false, format!("{who}: {reason}"));
        }
        let mut live_signing = 0;
        for subkey in certificate.subkeys.iter().filter(|s| s.can_sign) {
            let used = context.signers.contains(&subkey.fingerprint);
            // Blocking only for a subkey that signed the release, and only what breaks its vote.
            let mut flag = |code: Code, blocking: bool, message: String| {
                let severity = if used && blocking { Severity::Blocking } else { Severity::Warning };
                findings.push(Finding { fingerprint: fingerprint.to_owned(), code, severity, message });
            };
            if subkey.revocation.is_some() {
                flag(Code::SubkeyRevoked, true, format!("{who}: signing subkey {} is revoked", subkey.key_id));
            } else if let Some(expires) = subkey.expires.filter(|e| *e <= context.now) {
                flag(
                    Code::SubkeyExpired,
                    true,
                    format!("{who}: signing subkey {} expired on {}", subkey.key_id, day(expires)),
                );
            } else {
                live_signing += 1;
                // A subkey that ends with its key is said once, with the key.
                let own_expiry = subkey.expires.filter(|e| certificate.expires.is_none_or(|p| *e < p));
                match own_expiry {
                    Some(expires) if context.vote_closes.is_some_and(|closes| expires <= closes) => flag(
                        Code::ExpiresSoon,
                        true,
                        format!(
                            "{who}: signing subkey {} expires on {}, before the vote closes; extend it and upload the \
                             key again",
                            subkey.key_id,
                            day(expires)
                        ),
                    ),
                    Some(expires) if expires <= horizon => flag(
                        Code::ExpiresSoon,
                        false,
                        format!(
                            "{who}: signing subkey {} expires on {}, within {EXPIRY_HORIZON_DAYS} days",
                            subkey.key_id,
                            day(expires)
                        ),
                    ),
                    _ => {}
                }
                if let Some(reason) = weakness(&subkey.algorithm, subkey.bits) {
                    findings.push(Finding {
                        fingerprint: fingerprint.to_owned(),
                        code: Code::Weak,
                        severity: Severity::Warning,
                        message: format!("{who}: signing subkey {}: {reason}", subkey.key_id),
                    });
                }
            }
        }
        if !certificate.can_sign && live_signing == 0 {
            findings.push(Finding {
                fingerprint: fingerprint.to_owned(),
                code: Code::SubkeyExpired,
                severity: Severity::Warning,
                message: format!("{who}: no key or subkey can sign any more"),
            });
        }
        let emails = uid_emails(&certificate.uids);
        if !emails.iter().any(|e| context.member_emails.contains(e)) {
            let named = if emails.is_empty() { "no address".to_owned() } else { emails.join(", ") };
            findings.push(Finding {
                fingerprint: fingerprint.to_owned(),
                code: Code::NoMemberUid,
                severity: Severity::Warning,
                message: format!("{who}: its user ids name {named}, not a project member's registered address"),
            });
        }
    }
    for (fingerprint, count) in seen.into_iter().filter(|(_, n)| *n > 1) {
        findings.push(Finding {
            fingerprint: fingerprint.to_owned(),
            code: Code::Duplicate,
            severity: Severity::Warning,
            message: format!("the key appears {count} times in KEYS"),
        });
    }
    for (key_id, fingerprints) in key_ids.into_iter().filter(|(_, f)| f.len() > 1) {
        for fingerprint in &fingerprints {
            let others: Vec<&str> = fingerprints.iter().copied().filter(|f| f != fingerprint).collect();
            findings.push(Finding {
                fingerprint: (*fingerprint).to_owned(),
                code: Code::KeyIdCollision,
                severity: Severity::Warning,
                message: format!(
                    "key id {key_id} is also a key id of {}: tools that print short ids confuse them",
                    others.join(", ")
                ),
            });
        }
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    findings
}

/// Why an algorithm and size are weak for release signing, if they are.
pub fn weakness(algorithm: &str, bits: Option<u32>) -> Option<String> {
    match (algorithm, bits) {
        ("rsa", Some(b)) if b < 2048 => Some(format!("an RSA key of {b} bits is too weak to sign releases")),
        ("rsa", Some(b)) if b < 4096 => Some(format!("an RSA key of {b} bits; 4096 bits are recommended")),
        ("dsa", _) => Some("a DSA key: DSA signatures are deprecated (RFC 9580)".to_owned()),
        _ => None,
    }
}

fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openpgp::parse_keyring;

    fn httpd_keys() -> Vec<Certificate> {
        let keys = std::fs::read(testkit::fixture("real/httpd-2.4.68/KEYS")).unwrap();
        parse_keyring(&keys).certificates
    }

    fn context<'a>(members: &'a BTreeSet<String>, signers: &'a BTreeSet<String>) -> LintContext<'a> {
        LintContext { now: Utc::now(), vote_closes: None, member_emails: members, signers }
    }

    #[test]
    fn findings_name_the_key_and_block_only_for_signers() {
        let certificates = httpd_keys();
        assert!(certificates.len() > 5);
        let none = BTreeSet::new();
        let findings = lint(&certificates, &context(&none, &none));
        // No registered members: every key lacks a member uid; no key signed: nothing blocks.
        let no_member = findings.iter().filter(|f| f.code == Code::NoMemberUid).count();
        assert_eq!(
            no_member,
            certificates.iter().filter(|c| c.revocation.is_none() && c.expires.is_none_or(|e| e > Utc::now())).count()
        );
        assert!(findings.iter().all(|f| f.severity == Severity::Warning), "{findings:?}");
        // An old KEYS file holds expired keys: each is named once, as expired.
        let expired: Vec<&Finding> = findings.iter().filter(|f| f.code == Code::Expired).collect();
        let expected = certificates
            .iter()
            .filter(|c| c.revocation.is_none() && c.expires.is_some_and(|e| e <= Utc::now()))
            .count();
        assert_eq!(expired.len(), expected);

        // The same expired key, as the signer of the release, blocks the vote.
        if let Some(first) = expired.first() {
            let signers = BTreeSet::from([first.fingerprint.clone()]);
            let findings = lint(&certificates, &context(&none, &signers));
            assert_eq!(findings[0].severity, Severity::Blocking, "{findings:?}");
            assert_eq!(findings[0].fingerprint, first.fingerprint);
        }
    }

    #[test]
    fn a_member_uid_and_a_strong_key_give_no_finding() {
        let certificates = httpd_keys();
        let strong = certificates
            .iter()
            .find(|c| {
                c.revocation.is_none()
                    && c.expires.is_none()
                    && weakness(&c.algorithm, c.bits).is_none()
                    && c.subkeys.iter().all(|s| s.revocation.is_none() && s.expires.is_none_or(|e| e > Utc::now()))
                    && (c.can_sign || c.subkeys.iter().any(|s| s.can_sign))
            })
            .expect("httpd's KEYS holds a strong key that does not expire");
        let members: BTreeSet<String> = uid_emails(&strong.uids).into_iter().collect();
        let none = BTreeSet::new();
        let findings = lint(std::slice::from_ref(strong), &context(&members, &none));
        assert_eq!(findings, []);

        // Twice in KEYS: a duplicate.
        let twice = [strong.clone(), strong.clone()];
        let codes: Vec<Code> = lint(&twice, &context(&members, &none)).iter().map(|f| f.code).collect();
        assert_eq!(codes, [Code::Duplicate]);
    }

    #[test]
    fn an_expiry_inside_the_vote_window_blocks_the_signer() {
        let certificates = httpd_keys();
        let mut key = certificates.iter().find(|c| c.revocation.is_none() && c.expires.is_none()).unwrap().clone();
        let now = Utc::now();
        key.expires = Some(now + Duration::hours(48));
        let signers = BTreeSet::from([key.fingerprint.clone()]);
        let members: BTreeSet<String> = uid_emails(&key.uids).into_iter().collect();
        let in_vote = LintContext {
            now,
            vote_closes: Some(now + Duration::hours(72)),
            member_emails: &members,
            signers: &signers,
        };
        let findings = lint(std::slice::from_ref(&key), &in_vote);
        assert_eq!(findings[0].code, Code::ExpiresSoon);
        assert_eq!(findings[0].severity, Severity::Blocking);
        assert!(findings[0].message.contains("before the vote closes"), "{findings:?}");

        // Outside a vote start, the same key is a warning within the 30-day horizon.
        let later = LintContext { vote_closes: None, ..in_vote.clone() };
        let findings = lint(std::slice::from_ref(&key), &later);
        assert_eq!((findings[0].code, findings[0].severity), (Code::ExpiresSoon, Severity::Warning));
        assert!(findings[0].message.contains("within 30 days"), "{findings:?}");
    }

    #[test]
    fn a_signing_subkey_expiring_inside_the_vote_blocks_it() {
        let certificates = httpd_keys();
        let mut key = certificates
            .iter()
            .find(|c| c.revocation.is_none() && c.expires.is_none() && c.subkeys.iter().any(|s| s.can_sign))
            .unwrap()
            .clone();
        let now = Utc::now();
        let subkey = key.subkeys.iter_mut().find(|s| s.can_sign).unwrap();
        subkey.expires = Some(now + Duration::hours(24));
        subkey.revocation = None;
        let used = subkey.fingerprint.clone();
        let signers = BTreeSet::from([used]);
        let members: BTreeSet<String> = uid_emails(&key.uids).into_iter().collect();
        let in_vote = LintContext {
            now,
            vote_closes: Some(now + Duration::hours(72)),
            member_emails: &members,
            signers: &signers,
        };
        let findings = lint(std::slice::from_ref(&key), &in_vote);
        assert_eq!((findings[0].code, findings[0].severity), (Code::ExpiresSoon, Severity::Blocking), "{findings:?}");
        assert!(findings[0].message.contains("signing subkey"), "{findings:?}");
        let none = BTreeSet::new();
        let unused = LintContext { signers: &none, ..in_vote };
        assert!(lint(std::slice::from_ref(&key), &unused).iter().all(|f| f.severity == Severity::Warning));
    }

    #[test]
    fn weak_algorithms() {
        assert!(weakness("rsa", Some(1024)).unwrap().contains("too weak"));
        assert!(weakness("rsa", Some(2048)).unwrap().contains("4096 bits are recommended"));
        assert!(weakness("dsa", Some(1024)).is_some());
        assert_eq!(weakness("rsa", Some(4096)), None);
        assert_eq!(weakness("ed25519", None), None);
    }
}
