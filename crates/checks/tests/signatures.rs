//! The signature checker on keys and signatures made by the tests (every case of CHECKS.md
//! S1–S6) and on the real httpd release and the existing ATR's fixture.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use checks::Input;
use checks::openpgp::parse_keyring;
use checks::signature::{SignaturePolicy, check};
use pgp::composed::SignedSecretKey;
use pgp::crypto::hash::HashAlgorithm;
use shared_models::checks::{CheckResult, CheckStatus};
use testkit::pgp::{self as keys, Algorithm, By};

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    fn file(&self, name: &str, content: &[u8]) -> Input {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        Input::new(name, path)
    }
}

/// A KEYS file of these keys.
fn committee_keys(keys: &[&SignedSecretKey]) -> Vec<u8> {
    let armored: String = keys.iter().map(|k| keys::public_armored(k)).collect();
    let parse = parse_keyring(armored.as_bytes());
    assert!(parse.skipped.is_empty(), "{:?}", parse.skipped);
    armored.into_bytes()
}

/// (rule, status) of every result, and the overall verdict: failed if anything failed.
fn verdicts(results: &[CheckResult]) -> (Vec<(String, CheckStatus)>, bool) {
    let list =
        results.iter().map(|r| (r.data.as_ref().unwrap()["rule"].as_str().unwrap().to_owned(), r.status)).collect();
    let failed = results.iter().any(|r| matches!(r.status, CheckStatus::Failure | CheckStatus::Error));
    (list, failed)
}

fn messages(results: &[CheckResult]) -> String {
    results.iter().map(|r| format!("{:?} {}\n", r.status, r.message)).collect()
}

fn run(case: &Case, data: &[u8], asc: &[u8], keys: &[&SignedSecretKey]) -> Vec<CheckResult> {
    check(
        &case.file("a.tar.gz", data),
        &case.file("a.tar.gz.asc", asc),
        &committee_keys(keys),
        &SignaturePolicy::default(),
    )
}

const DATA: &[u8] = b"the bytes of a release artifact\n";

#[test]
fn good_signature_by_a_signing_subkey() {
    let case = Case::new();
    let mut rng = keys::rng(1);
    let key = keys::generate(&mut rng, Algorithm::Ed25519, "Release Manager <rm@apache.org>", 30, false);
    let signature = keys::sign(&mut rng, &key, By::Subkey, HashAlgorithm::Sha512, 1, DATA);
    let results = run(&case, DATA, &keys::armored_signatures(&[signature]), &[&key]);
    let (list, failed) = verdicts(&results);
    assert!(!failed, "{}", messages(&results));
    assert_eq!(list, [("S2".to_owned(), CheckStatus::Success), ("S6".to_owned(), CheckStatus::Success)]);
    let data = results[0].data.as_ref().unwrap();
    assert_eq!(data["uid"], "Release Manager <rm@apache.org>");
    assert_ne!(data["signer"], data["signing_key"], "the subkey signed; the signer is the primary");
    assert_eq!(data["hash"], "SHA512");
}

#[test]
fn a_tampered_file_fails() {
    let case = Case::new();
    let mut rng = keys::rng(2);
    let key = keys::generate(&mut rng, Algorithm::Ed25519, "RM <rm@apache.org>", 30, false);
    let signature = keys::sign(&mut rng, &key, By::Subkey, HashAlgorithm::Sha256, 1, DATA);
    let mut tampered = DATA.to_vec();
    tampered[3] ^= 1;
    let results = run(&case, &tampered, &keys::armored_signatures(&[signature]), &[&key]);
    let (list, failed) = verdicts(&results);
    assert!(failed);
    assert_eq!(list[0], ("S1".to_owned(), CheckStatus::Failure));
    assert!(results[0].message.contains("not the bytes that were signed"), "{}", messages(&results));
}

#[test]
fn a_corrupted_signature_fails() {
    let case = Case::new();
    let mut rng = keys::rng(3);
    let key = keys::generate(&mut rng, Algorithm::Ed25519, "RM <rm@apache.org>", 30, false);
    let signature = keys::sign(&mut rng, &key, By::Subkey, HashAlgorithm::Sha512, 1, DATA);
    let results = run(&case, DATA, &keys::corrupted(&signature), &[&key]);
    let (list, failed) = verdicts(&results);
    assert!(failed, "{}", messages(&results));
    assert_eq!(list[0], ("S1".to_owned(), CheckStatus::Failure), "{}", messages(&results));
}

#[test]
fn an_unknown_key_does_not_count() {
    let case = Case::new();
    let mut rng = keys::rng(4);
    let committee_key = keys::generate(&mut rng, Algorithm::Ed25519, "RM <rm@apache.org>", 30, false);
    let stranger = keys::generate(&mut rng, Algorithm::Ed25519, "Stranger <x@example.com>", 30, false);
    let signature = keys::sign(&mut rng, &stranger, By::Subkey, HashAlgorithm::Sha512, 1, DATA);
    let results = run(&case, DATA, &keys::armored_signatures(&[signature]), &[&committee_key]);
    let (list, failed) = verdicts(&results);
    assert!(failed);
    assert_eq!(list, [("S2".to_owned(), CheckStatus::Warning), ("S2".to_owned(), CheckStatus::Failure)]);
    assert!(results[0].message.contains("not in the committee's KEYS"), "{}", messages(&results));
}

#[test]
fn a_key_expired_at_signature_time_does_not_count() {
    let case = Case::new();
    let mut rng = keys::rng(5);
    let mut key = keys::generate(&mut rng, Algorithm::Ed25519, "RM <rm@apache.org>", 400, false);
    keys::expire_after(&mut rng, &mut key, 365);
    // Made 10 days ago: the key expired 35 days ago.
    let signature = keys::sign(&mut rng, &key, By::Subkey, HashAlgorithm::Sha512, 10, DATA);
    let results = run(&case, DATA, &keys::armored_signatures(&[signature]), &[&key]);
    let (list, failed) = verdicts(&results);
    assert!(failed);
    assert_eq!(list[0], ("S3".to_owned(), CheckStatus::Warning));
    assert!(results[0].message.contains("expired on"), "{}", messages(&results));

    // Made while the key was valid, the same key's signature counts.
    let old = keys::sign(&mut rng, &key, By::Subkey, HashAlgorithm::Sha512, 100, DATA);
    let results = run(&case, DATA, &keys::armored_signatures(&[old]), &[&key]);
    assert!(!verdicts(&results).1, "{}", messages(&results));
}

#[test]
fn a_revoked_key_does_not_count() {
    let case = Case::new();
    let mut rng = keys::rng(6);
    let mut key = keys::generate(&mut rng, Algorithm::Ed25519, "RM <rm@apache.org>", 30, false);
    let signature = keys::sign(&mut rng, &key, By::Subkey, HashAlgorithm::Sha512, 5, DATA);
    keys::revoke(&mut key, 1);
    let results = run(&case, DATA, &keys::armored_signatures(&[signature]), &[&key]);
    let (list, failed) = verdicts(&results);
    assert!(failed);
    assert_eq!(list[0], ("S3".to_owned(), CheckStatus::Warning));
    assert!(
        results[0].message.contains("revoked") && results[0].message.contains("lost laptop"),
        "{}",
        messages(&results)
    );
}

#[test]
fn a_certify_only_primary_does_not_sign() {
    let case = Case::new();
    let mut rng = keys::rng(7);
    let key = keys::generate(&mut rng, Algorithm::Ed25519, "RM <rm@apache.org>", 30, false);
    let signature = keys::sign(&mut rng, &key, By::Primary, HashAlgorithm::Sha512, 1, DATA);
    let results = run(&case, DATA, &keys::armored_signatures(&[signature]), &[&key]);
    assert!(verdicts(&results).1);
    assert!(results[0].message.contains("not marked for signing"), "{}", messages(&results));
}

#[test]
fn sha1_signatures_and_rsa_sizes_warn() {
    let case = Case::new();
    let mut rng = keys::rng(8);
    let key = keys::generate(&mut rng, Algorithm::Rsa(2048), "RM <rm@apache.org>", 30, true);
    let signature = keys::sign(&mut rng, &key, By::Primary, HashAlgorithm::Sha1, 1, DATA);
    let results = run(&case, DATA, &keys::armored_signatures(&[signature]), &[&key]);
    let (list, failed) = verdicts(&results);
    assert!(!failed, "SHA-1 warns, it does not block: {}", messages(&results));
    for expected in [("S4", CheckStatus::Warning), ("S5", CheckStatus::Warning), ("S2", CheckStatus::Success)] {
        assert!(list.contains(&(expected.0.to_owned(), expected.1)), "{expected:?} in {list:?}");
    }
}

#[test]
fn several_signatures_are_each_reported() {
    let case = Case::new();
    let mut rng = keys::rng(9);
    let first = keys::generate(&mut rng, Algorithm::Ed25519, "First <a@apache.org>", 30, false);
    let second = keys::generate(&mut rng, Algorithm::Ed25519, "Second <b@apache.org>", 30, false);
    let stranger = keys::generate(&mut rng, Algorithm::Ed25519, "Stranger <x@example.com>", 30, false);
    let signatures = [
        keys::sign(&mut rng, &first, By::Subkey, HashAlgorithm::Sha512, 1, DATA),
        keys::sign(&mut rng, &second, By::Subkey, HashAlgorithm::Sha256, 1, DATA),
        keys::sign(&mut rng, &stranger, By::Subkey, HashAlgorithm::Sha512, 1, DATA),
    ];
    // One armor block with three packets, plus a second block appended (as `cat a.asc b.asc`).
    let mut asc = keys::armored_signatures(&signatures);
    asc.extend(keys::armored_signatures(&[keys::sign(&mut rng, &first, By::Subkey, HashAlgorithm::Sha384, 2, DATA)]));
    let results = run(&case, DATA, &asc, &[&first, &second]);
    let (list, failed) = verdicts(&results);
    assert!(!failed, "{}", messages(&results));
    assert_eq!(list.iter().filter(|(r, s)| r == "S2" && *s == CheckStatus::Success).count(), 3, "{list:?}");
    assert_eq!(list.iter().filter(|(r, s)| r == "S2" && *s == CheckStatus::Warning).count(), 1);
    assert!(results.last().unwrap().message.contains("3 of 4"), "{}", messages(&results));

    // A bad signature next to good ones fails the file (S6).
    let mut with_bad = keys::armored_signatures(&signatures[..1]);
    with_bad.extend(keys::corrupted(&signatures[1]));
    let results = run(&case, DATA, &with_bad, &[&first, &second]);
    assert_eq!(
        verdicts(&results).0.last().unwrap(),
        &("S6".to_owned(), CheckStatus::Failure),
        "{}",
        messages(&results)
    );
}

#[test]
fn a_binary_signature_or_garbage_is_not_accepted() {
    let case = Case::new();
    let mut rng = keys::rng(10);
    let key = keys::generate(&mut rng, Algorithm::Ed25519, "RM <rm@apache.org>", 30, false);
    let signature = keys::sign(&mut rng, &key, By::Subkey, HashAlgorithm::Sha512, 1, DATA);
    let binary = pgp::ser::Serialize::to_bytes(&signature).unwrap();
    let garbage = b"-----BEGIN PGP SIGNATURE-----\n\nnonsense\n-----END PGP SIGNATURE-----\n".to_vec();
    for asc in [binary, garbage, Vec::new()] {
        let results = run(&case, DATA, &asc, &[&key]);
        let (list, failed) = verdicts(&results);
        assert!(failed, "{list:?}");
        assert_eq!(list[0].0, "S1");
    }
}

#[test]
fn the_real_httpd_release_verifies_and_a_changed_byte_does_not() {
    let keys = std::fs::read(testkit::httpd("KEYS")).unwrap();
    let artifact = Input::new("httpd-2.4.68.tar.gz", testkit::httpd("httpd-2.4.68.tar.gz"));
    let asc = Input::new("httpd-2.4.68.tar.gz.asc", testkit::httpd("httpd-2.4.68.tar.gz.asc"));
    let results = check(&artifact, &asc, &keys, &SignaturePolicy::default());
    assert!(!verdicts(&results).1, "{}", messages(&results));
    assert_eq!(results[0].data.as_ref().unwrap()["signer"], "65B2D44FE74BD5E3DE3AC3F082781DE46D5954FA");
    assert!(results[0].data.as_ref().unwrap()["uid"].as_str().unwrap().contains("Covener"));

    let case = Case::new();
    let mut bytes = std::fs::read(testkit::httpd("httpd-2.4.68.tar.gz")).unwrap();
    bytes[5_000_000] ^= 0x01;
    let results = check(&case.file("httpd-2.4.68.tar.gz", &bytes), &asc, &keys, &SignaturePolicy::default());
    assert!(verdicts(&results).1);
    assert_eq!(results[0].data.as_ref().unwrap()["rule"], "S1");
}

#[test]
fn the_atr_fixture_is_signed_by_its_ed25519_subkey() {
    let key = testkit::fixture("atr-playwright/68FF2E20F02B070D73D416188DE8CC167FE2663A.asc");
    let keys = std::fs::read(key).unwrap();
    let dir = "atr-playwright/apache-test-0.2";
    let artifact = Input::new("apache-test-0.2.tar.gz", testkit::fixture(&format!("{dir}/apache-test-0.2.tar.gz")));
    let asc = Input::new("apache-test-0.2.tar.gz.asc", testkit::fixture(&format!("{dir}/apache-test-0.2.tar.gz.asc")));
    let results = check(&artifact, &asc, &keys, &SignaturePolicy::default());
    assert!(!verdicts(&results).1, "{}", messages(&results));
    assert_eq!(results[0].data.as_ref().unwrap()["signing_key"], "A32F0FCCFF48C94FB971F98581B1A0B8D9D20CBA");
}
