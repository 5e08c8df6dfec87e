//! Signing keys as an attacker would go at them (found in a live probe): rewriting another
//! committee's key with an older export (un-revoking a subkey), claiming someone else's key
//! and deleting it everywhere, a release manager reaching into another committee's KEYS.

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_models::api::Role;
use testkit::pgp::{self, Algorithm, By};
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;

on_both_backends!(
    an_older_export_never_unrevokes_a_subkey,
    nobody_claims_or_deletes_another_person_s_key,
    a_signed_statement_proves_ownership,
    a_changed_key_rechecks_every_committee_holding_it,
);

fn alice_key() -> pgp::SignedSecretKey {
    pgp::generate(&mut pgp::rng(41), Algorithm::Ed25519, "Alice Release <alice@apache.org>", 30, false)
}

async fn add(app: &TestApp, jwt: &str, armored: &str, committees: Value) -> (StatusCode, Value) {
    app.send(
        app.client
            .post(app.url("/api/v1/keys"))
            .bearer_auth(jwt)
            .json(&json!({"armored": armored, "committees": committees})),
    )
    .await
}

async fn import(app: &TestApp, jwt: &str, committee: &str, keys: &str) -> (StatusCode, Value) {
    app.send(
        app.client
            .post(app.url(&format!("/api/v1/committees/{committee}/keys/import")))
            .bearer_auth(jwt)
            .body(keys.to_owned()),
    )
    .await
}

/// The key as the committee's KEYS file serves it (what runners check signatures with).
async fn served(app: &TestApp, committee: &str, fingerprint: &str) -> Option<checks::openpgp::Certificate> {
    let text = app.client.get(app.url(&format!("/api/v1/committees/{committee}/KEYS"))).send().await.unwrap();
    let text = text.text().await.unwrap();
    checks::openpgp::parse_keyring(text.as_bytes()).certificates.into_iter().find(|c| c.fingerprint == fingerprint)
}

fn fingerprint(key: &pgp::SignedSecretKey) -> String {
    checks::openpgp::parse_keyring(pgp::public_armored(key).as_bytes()).certificates[0].fingerprint.clone()
}

async fn an_older_export_never_unrevokes_a_subkey(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    app.project("tomcat", false).await;
    let alice = app.user_with_email("alice", Some("alice@apache.org"), false, &[("httpd", Role::ReleaseManager)]);
    let mallory = app.user_with_email("mallory", Some("mallory@evil.example"), false, &[]);
    let tomcat_rm = app.user("trent", false, &[("tomcat", Role::ReleaseManager)]);
    let mut key = alice_key();
    let fp = fingerprint(&key);
    let old_export = pgp::public_armored(&key);
    let (status, report) = add(&app, &alice, &old_export, json!(["httpd"])).await;
    assert_eq!((status, report["added"].as_u64()), (StatusCode::CREATED, Some(1)), "{report}");
    // The signing subkey is stolen: Alice revokes it and publishes the key again.
    pgp::revoke_subkey(&mut key, 0);
    let (status, report) = add(&app, &alice, &pgp::public_armored(&key), json!([])).await;
    assert_eq!((status, report["updated"].as_u64()), (StatusCode::CREATED, Some(1)), "{report}");
    assert!(served(&app, "httpd", &fp).await.unwrap().subkeys[0].revocation.is_some());

    // Mallory, who has no role anywhere, posts the export from before the revocation.
    let (status, body) = add(&app, &mallory, &old_export, json!([])).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_keys")), "{body}");
    assert_eq!(body["details"]["skipped"][0]["code"], "ownership_unproven");
    // Alice herself re-posting it, or another committee's release manager importing it, merges
    // it into what is known: the revocation stays.
    let (_, report) = add(&app, &alice, &old_export, json!([])).await;
    assert_eq!((report["updated"].as_u64(), report["unchanged"].as_u64()), (Some(0), Some(1)), "{report}");
    let (status, report) = import(&app, &tomcat_rm, "tomcat", &old_export).await;
    assert_eq!((status, report["unchanged"].as_u64()), (StatusCode::OK, Some(1)), "{report}");
    for committee in ["httpd", "tomcat"] {
        let cert = served(&app, committee, &fp).await.unwrap();
        assert!(cert.subkeys[0].revocation.is_some(), "the subkey is still revoked in {committee}'s KEYS");
    }
    // And a signature by the stolen subkey does not verify against the KEYS.
    let keys = app.client.get(app.url("/api/v1/committees/httpd/KEYS")).send().await.unwrap().bytes().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.tar.gz"), b"forged release").unwrap();
    let signature = pgp::armored_signature(&mut pgp::rng(7), &key, By::Subkey, b"forged release");
    std::fs::write(dir.path().join("a.tar.gz.asc"), signature).unwrap();
    let results = checks::signature::check(
        &checks::Input::new("a.tar.gz", dir.path().join("a.tar.gz")),
        &checks::Input::new("a.tar.gz.asc", dir.path().join("a.tar.gz.asc")),
        &keys,
        &checks::signature::SignaturePolicy::default(),
    );
    assert!(results.iter().all(|r| r.status.as_str() != "success"), "{results:#?}");
}

async fn nobody_claims_or_deletes_another_person_s_key(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    app.project("tomcat", false).await;
    let alice = app.user_with_email("alice", Some("alice@apache.org"), false, &[("httpd", Role::Committer)]);
    let mallory = app.user_with_email("mallory", Some("mallory@evil.example"), false, &[("tomcat", Role::Committer)]);
    let tomcat_rm = app.user("trent", false, &[("tomcat", Role::ReleaseManager)]);
    let httpd_rm = app.user("rita", false, &[("httpd", Role::ReleaseManager)]);
    let key = alice_key();
    let (fp, armored) = (fingerprint(&key), pgp::public_armored(&key));
    // Mallory gets there first with Alice's public key: it is not hers to register.
    let (status, body) = add(&app, &mallory, &armored, json!(["tomcat"])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(served(&app, "tomcat", &fp).await.is_none());
    let (status, _) = add(&app, &alice, &armored, json!(["httpd"])).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, list) = app.send(app.client.get(app.url("/api/v1/committees/httpd/keys"))).await;
    assert_eq!(list["keys"][0]["owner"], "alice");
    // Tomcat's release manager adds Alice's key to tomcat's KEYS (a release manager may).
    let (status, report) = import(&app, &tomcat_rm, "tomcat", &armored).await;
    assert_eq!((status, report["unchanged"].as_u64()), (StatusCode::OK, Some(1)), "{report}");

    let delete = |jwt: &str| app.client.delete(app.url(&format!("/api/v1/keys/{fp}"))).bearer_auth(jwt.to_owned());
    app.expect_error(delete(&mallory), StatusCode::FORBIDDEN, "forbidden").await;
    // A release manager removes it from their own committee's KEYS only.
    assert_eq!(app.send(delete(&tomcat_rm)).await.0, StatusCode::NO_CONTENT);
    assert!(served(&app, "tomcat", &fp).await.is_none());
    assert!(served(&app, "httpd", &fp).await.is_some(), "tomcat's release manager cannot reach httpd's KEYS");
    app.expect_error(delete(&tomcat_rm), StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(app.send(delete(&httpd_rm)).await.0, StatusCode::NO_CONTENT);
    assert!(served(&app, "httpd", &fp).await.is_none());
    // Alice's key is still hers: she adds it back, and removes it for good.
    let (status, _) = add(&app, &alice, &armored, json!(["httpd"])).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(app.send(delete(&alice)).await.0, StatusCode::NO_CONTENT);
    let gone = app.db(|c| datastore::db::queries::keys::find(c, &fp).unwrap());
    assert!(gone.is_none());
}

async fn a_signed_statement_proves_ownership(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let bob = app.user_with_email("bob", Some("bob@apache.org"), false, &[]);
    let mallory = app.user_with_email("mallory", Some("mallory@evil.example"), false, &[]);
    // Bob's key names his address at home, not the one he registered.
    let key = pgp::generate(&mut pgp::rng(43), Algorithm::Ed25519, "Bob <bob@home.example>", 10, false);
    let (fp, armored) = (fingerprint(&key), pgp::public_armored(&key));
    let (status, _) = add(&app, &bob, &armored, json!([])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let statement = |jwt: &str| {
        app.client
            .get(app.url(&format!("/api/v1/keys/ownership-statement?fingerprint={fp}")))
            .bearer_auth(jwt.to_owned())
    };
    let text = statement(&bob).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("bob") && text.contains(&fp), "{text}");
    let signature = pgp::armored_signature(&mut pgp::rng(5), &key, By::Subkey, text.as_bytes());
    let post = |jwt: &str, signature: &str| {
        app.client.post(app.url("/api/v1/keys")).bearer_auth(jwt.to_owned()).json(&json!({
            "armored": armored, "committees": [], "ownership_signature": signature
        }))
    };
    // Mallory replays Bob's signature: it names Bob, not her.
    let (status, body) = app.send(post(&mallory, &signature)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A signature over other text does not prove anything either.
    let other = pgp::armored_signature(&mut pgp::rng(6), &key, By::Subkey, b"something else");
    assert_eq!(app.send(post(&bob, &other)).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, report) = app.send(post(&bob, &signature)).await;
    assert_eq!((status, report["added"].as_u64()), (StatusCode::CREATED, Some(1)), "{report}");
    let owner = app.db(|c| datastore::db::queries::keys::find(c, &fp).unwrap().unwrap().owner_id);
    let bob_id = app.db(|c| datastore::db::queries::auth::find_user(c, "bob").unwrap().unwrap().id);
    assert_eq!(owner, Some(bob_id));
}

/// Signature tasks of a release, by status.
fn signature_tasks(app: &TestApp, project: &str) -> usize {
    app.db(|c| {
        use datastore::db::schema::task;
        use diesel::prelude::*;
        let release = datastore::db::queries::releases::find_release(c, project, project, "1.0").unwrap().unwrap();
        task::table
            .filter(task::release_id.eq(release.release.id))
            .filter(task::kind.eq("signature"))
            .count()
            .get_result::<i64>(c)
            .unwrap()
    })
    .try_into()
    .unwrap()
}

async fn a_changed_key_rechecks_every_committee_holding_it(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    app.project("tomcat", false).await;
    let alice = app.user_with_email(
        "alice",
        Some("alice@apache.org"),
        false,
        &[("httpd", Role::ReleaseManager), ("tomcat", Role::ReleaseManager)],
    );
    let mut key = alice_key();
    add(&app, &alice, &pgp::public_armored(&key), json!(["httpd", "tomcat"])).await;
    for project in ["httpd", "tomcat"] {
        app.release(&alice, project, "1.0").await;
        // Bytes of their own: a check of the same bytes against the same keys is done once.
        let files = [("a-1.0.tar.gz", project.as_bytes().to_vec()), ("a-1.0.tar.gz.asc", b"sig".to_vec())];
        for (name, bytes) in files {
            let (status, _) = app.upload(&alice, &format!("{project}/1.0"), name, bytes).await;
            assert_eq!(status, StatusCode::CREATED);
        }
        assert_eq!(signature_tasks(&app, project), 1);
    }
    // A new packet on the key (a revoked subkey) changes what every holder's signatures mean.
    pgp::revoke_subkey(&mut key, 0);
    let (_, report) = add(&app, &alice, &pgp::public_armored(&key), json!([])).await;
    assert_eq!(report["updated"], 1, "{report}");
    for project in ["httpd", "tomcat"] {
        assert_eq!(signature_tasks(&app, project), 2, "{project} checks its signature again");
    }
}
