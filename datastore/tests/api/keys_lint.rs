//! KEYS lint: what is wrong with a committee's keys, for its members (`GET …/keys/lint` and the
//! committee page), and the vote start that refuses a vote its signer's key would not survive.

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_models::api::Role;
use testkit::pgp::{self, Algorithm};
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;

on_both_backends!(the_lint_is_for_members_and_names_each_finding, a_signer_whose_key_expires_in_the_vote_blocks_it);

const LINT: &str = "/api/v1/committees/httpd/keys/lint";

/// Alice's key, created 30 days ago, expiring tomorrow.
fn expiring_key() -> pgp::SignedSecretKey {
    let mut rng = pgp::rng(7);
    let mut key = pgp::generate(&mut rng, Algorithm::Ed25519, "Alice Release <alice@apache.org>", 30, false);
    pgp::expire_after(&mut rng, &mut key, 31);
    key
}

fn certificate(key: &pgp::SignedSecretKey) -> checks::openpgp::Certificate {
    checks::openpgp::parse_keyring(pgp::public_armored(key).as_bytes()).certificates.remove(0)
}

async fn import(app: &TestApp, jwt: &str, keys: &[&pgp::SignedSecretKey]) {
    let text: String = keys.iter().map(|k| pgp::public_armored(k)).collect::<Vec<_>>().join("\n");
    let request = app.client.post(app.url("/api/v1/committees/httpd/keys/import")).bearer_auth(jwt).body(text);
    let (status, report) = app.send(request).await;
    assert_eq!((status, report["added"].as_u64()), (StatusCode::OK, Some(keys.len() as u64)), "{report}");
}

fn codes(lint: &Value, fingerprint: &str) -> Vec<(String, String)> {
    lint["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["fingerprint"] == fingerprint)
        .map(|f| (f["code"].as_str().unwrap().to_owned(), f["severity"].as_str().unwrap().to_owned()))
        .collect()
}

async fn the_lint_is_for_members_and_names_each_finding(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    app.project("tomcat", false).await;
    let alice = app.user_with_email("alice", Some("alice@apache.org"), false, &[("httpd", Role::ReleaseManager)]);
    let committer = app.user("dev", false, &[("httpd", Role::Committer)]);
    let tomcat_pmc = app.user("cat", false, &[("tomcat", Role::PmcMember)]);
    let nobody = app.user("visitor", false, &[]);
    let alices = expiring_key();
    // A key whose only user id is no member's registered address.
    let strangers =
        pgp::generate(&mut pgp::rng(8), Algorithm::Ed25519, "Stranger <stranger@elsewhere.example>", 10, true);
    import(&app, &alice, &[&alices, &strangers]).await;

    let get = |jwt: Option<&str>, path: &str| {
        let request = app.client.get(app.url(path));
        match jwt {
            Some(jwt) => request.bearer_auth(jwt.to_owned()),
            None => request,
        }
    };
    app.expect_error(get(None, LINT), StatusCode::UNAUTHORIZED, "unauthorized").await;
    app.expect_error(get(Some(&nobody), LINT), StatusCode::FORBIDDEN, "forbidden").await;
    app.expect_error(get(Some(&tomcat_pmc), LINT), StatusCode::FORBIDDEN, "forbidden").await;
    app.expect_error(get(Some(&committer), "/api/v1/committees/nope/keys/lint"), StatusCode::NOT_FOUND, "not_found")
        .await;

    let (status, lint) = app.send(get(Some(&committer), LINT)).await;
    assert_eq!(status, StatusCode::OK, "{lint}");
    assert_eq!((lint["committee"].as_str(), lint["keys"].as_u64()), (Some("httpd"), Some(2)), "{lint}");
    let alice_fp = certificate(&alices).fingerprint;
    let stranger_fp = certificate(&strangers).fingerprint;
    // Outside a vote nothing blocks: the expiry is a warning, and Alice's uid is her address.
    assert_eq!(codes(&lint, &alice_fp), [("expires_soon".to_owned(), "warning".to_owned())], "{lint}");
    assert_eq!(codes(&lint, &stranger_fp), [("no_member_uid".to_owned(), "warning".to_owned())], "{lint}");
    let messages: Vec<&str> =
        lint["findings"].as_array().unwrap().iter().map(|f| f["message"].as_str().unwrap()).collect();
    assert!(messages.iter().any(|m| m.contains("within 30 days")), "{lint}");

    // The committee page shows the same findings to members, and nothing of them to others.
    let page = |jwt: Option<&str>| {
        let request = get(jwt, "/committees/httpd");
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let for_member = page(Some(&committer)).await;
    assert!(for_member.contains("id=\"keys-lint\""), "{for_member}");
    assert!(for_member.contains(&format!("data-code=\"no_member_uid\" data-fingerprint=\"{stranger_fp}\"")));
    for outsider in [None, Some(tomcat_pmc.as_str())] {
        let shown = page(outsider).await;
        assert!(shown.contains(&alice_fp), "the keys themselves are public");
        assert!(!shown.contains("keys-lint"), "the lint is for members only");
    }
}

/// Acts as a runner: completes every queued check, the signature checks as verified by `signer`.
async fn finish_checks(app: &TestApp, signer: &checks::openpgp::Certificate) {
    let token = app.runner("lint-runner").await;
    let claimed = app.claim(&token, &["paths", "hashing", "signature", "archive", "license", "rat"]).await;
    assert!(claimed.iter().any(|o| o["kind"] == "signature"), "{claimed:?}");
    for order in &claimed {
        let kind = order["kind"].as_str().unwrap();
        let mut data = json!({"rule": "S1"});
        if kind == "signature" {
            data["signer"] = json!(signer.fingerprint);
            data["signing_key"] = json!(signer.subkeys[0].fingerprint);
        }
        let result = json!({
            "checker": kind, "checker_version": "1", "path": order["inputs"][0]["path"], "status": "success",
            "message": "fine", "data": data
        });
        let body = json!({"lease_token": order["lease_token"], "status": "completed", "results": [result]});
        let url = app.url(&format!("/api/runner/v1/tasks/{}/result", order["id"]));
        let (code, answer) = app.send(app.client.post(url).bearer_auth(&token).json(&body)).await;
        assert_eq!(code, StatusCode::OK, "{answer}");
    }
}

async fn a_signer_whose_key_expires_in_the_vote_blocks_it(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let alice = app.user_with_email("alice", Some("alice@apache.org"), false, &[("httpd", Role::ReleaseManager)]);
    let key = expiring_key();
    import(&app, &alice, &[&key]).await;
    app.release(&alice, "httpd", "2.4.68").await;
    for (name, bytes) in [("httpd-2.4.68.tar.gz", b"the tarball".as_slice()), ("httpd-2.4.68.tar.gz.asc", b"sig")] {
        let (status, body) = app.upload(&alice, "httpd/2.4.68", name, bytes.to_vec()).await;
        assert!(status.is_success(), "{body}");
    }
    let signer = certificate(&key);
    finish_checks(&app, &signer).await;

    // The key expires tomorrow; a 72-hour vote would outlive it: voters verifying on day two
    // would be told the key expired. The release manager hears it first.
    let start =
        app.client.post(app.url("/api/v1/releases/httpd/2.4.68/vote/start")).bearer_auth(&alice).json(&json!({}));
    let refused = app.expect_error(start, StatusCode::CONFLICT, "vote_blocked").await;
    let blockers: Vec<&str> =
        refused["details"]["blockers"].as_array().unwrap().iter().map(|b| b.as_str().unwrap()).collect();
    assert_eq!(blockers.len(), 1, "{refused}");
    assert!(blockers[0].starts_with("KEYS: Alice Release <alice@apache.org>: the key expires on"), "{refused}");
    assert!(blockers[0].contains("before the vote closes"), "{refused}");
    assert!(blockers[0].contains(&signer.fingerprint), "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("KEYS:"), "{refused}");
}
