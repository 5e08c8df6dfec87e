//! Signing keys: KEYS import (tolerant, all or nothing), own keys, listing, the regenerated
//! KEYS file, deletion.

use reqwest::StatusCode;
use serde_json::json;
use shared_models::api::Role;
use testkit::{Backend, fixture, httpd, on_both_backends};

use crate::common::TestApp;

on_both_backends!(the_real_httpd_keys_import_and_regenerate, garbage_imports_nothing, own_keys_and_deletion);

const SIGNER: &str = "65B2D44FE74BD5E3DE3AC3F082781DE46D5954FA";

async fn the_real_httpd_keys_import_and_regenerate(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("covener", false, &[("httpd", Role::ReleaseManager)]);
    let committer = app.user("dev", false, &[("httpd", Role::Committer)]);
    let keys = std::fs::read(httpd("KEYS")).unwrap();
    let import = |jwt: &str| {
        app.client.post(app.url("/api/v1/committees/httpd/keys/import")).bearer_auth(jwt).body(keys.clone())
    };

    app.expect_error(import(&committer), StatusCode::FORBIDDEN, "forbidden").await;
    let (status, report) = app.send(import(&rm)).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["added"], 41);
    assert_eq!(report["updated"], 0);
    let skipped = report["skipped"].as_array().unwrap();
    assert_eq!(skipped.iter().filter(|s| s["code"] == "legacy_v3_key").count(), 25, "{report}");
    assert_eq!(skipped.len(), 26, "25 legacy keys and one repeated key");
    assert!(skipped.iter().all(|s| !s["reason"].as_str().unwrap().is_empty()));

    let (_, again) = app.send(import(&rm)).await;
    assert_eq!(
        (again["added"].as_u64(), again["updated"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(0), Some(41)),
        "importing twice changes nothing: {again}"
    );

    let (_, list) = app.send(app.client.get(app.url("/api/v1/committees/httpd/keys"))).await;
    let keys_json = list["keys"].as_array().unwrap();
    assert_eq!(keys_json.len(), 41);
    let signer = keys_json.iter().find(|k| k["fingerprint"] == SIGNER).unwrap();
    assert_eq!((signer["algorithm"].as_str(), signer["bits"].as_u64()), (Some("rsa"), Some(4096)));
    assert_eq!(signer["committees"], json!(["httpd"]));
    assert!(signer["uids"][0].as_str().unwrap().contains("Eric Covener"));

    // The regenerated KEYS file holds the same keys, and parses back to them.
    let response = app.client.get(app.url("/api/v1/committees/httpd/KEYS")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    assert!(text.contains(SIGNER));
    let reparsed = checks::openpgp::parse_keyring(text.as_bytes());
    assert_eq!((reparsed.certificates.len(), reparsed.skipped.len()), (41, 0));

    app.expect_error(app.client.get(app.url("/api/v1/committees/nope/KEYS")), StatusCode::NOT_FOUND, "not_found").await;
}

async fn garbage_imports_nothing(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let import = |body: &'static str| {
        app.client.post(app.url("/api/v1/committees/httpd/keys/import")).bearer_auth(&rm).body(body)
    };
    app.expect_error(import("this is not a KEYS file"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_keys").await;
    let body = app
        .expect_error(
            import("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nZ2FyYmFnZQ==\n-----END PGP PUBLIC KEY BLOCK-----\n"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_keys",
        )
        .await;
    assert_eq!(body["details"]["skipped"][0]["code"], "unparseable", "{body}");
    let (_, list) = app.send(app.client.get(app.url("/api/v1/committees/httpd/keys"))).await;
    assert_eq!(list["keys"], json!([]), "nothing half-imported");
    let too_big = "x".repeat(17 << 20);
    let response =
        app.client.post(app.url("/api/v1/committees/httpd/keys/import")).bearer_auth(&rm).body(too_big).send().await;
    if let Ok(response) = response {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}

async fn own_keys_and_deletion(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("tooling", false).await;
    app.project("httpd", false).await;
    let member =
        app.user_with_email("sbp", Some("Apache-Tooling@example.invalid"), false, &[("tooling", Role::Committer)]);
    let armored =
        std::fs::read_to_string(fixture("atr-playwright/68FF2E20F02B070D73D416188DE8CC167FE2663A.asc")).unwrap();
    let add = |committees: serde_json::Value| {
        app.client
            .post(app.url("/api/v1/keys"))
            .bearer_auth(&member)
            .json(&json!({"armored": armored, "committees": committees}))
    };
    app.expect_error(add(json!(["httpd"])), StatusCode::FORBIDDEN, "forbidden").await;
    let (status, report) = app.send(add(json!(["tooling"]))).await;
    assert_eq!(status, StatusCode::CREATED, "{report}");
    assert_eq!(report["fingerprints"], json!(["68FF2E20F02B070D73D416188DE8CC167FE2663A"]));
    let (_, list) = app.send(app.client.get(app.url("/api/v1/committees/tooling/keys"))).await;
    assert_eq!(list["keys"][0]["owner"], "sbp");
    assert_eq!(list["keys"][0]["algorithm"], "ed25519");

    let delete = |jwt: &str, fp: &str| app.client.delete(app.url(&format!("/api/v1/keys/{fp}"))).bearer_auth(jwt);
    let stranger = app.user("stranger", false, &[("httpd", Role::PmcMember)]);
    app.expect_error(delete(&stranger, "68FF2E20F02B070D73D416188DE8CC167FE2663A"), StatusCode::FORBIDDEN, "forbidden")
        .await;
    app.expect_error(delete(&member, "0000000000000000000000000000000000000000"), StatusCode::NOT_FOUND, "not_found")
        .await;

    // A key that signed a release stays.
    let release_id = {
        let rm = app.user("rm", false, &[("tooling", Role::ReleaseManager)]);
        app.release(&rm, "tooling", "0.2").await;
        app.db(|c| {
            datastore::db::queries::releases::find_release(c, "tooling", "tooling", "0.2").unwrap().unwrap().release.id
        })
    };
    app.db(|c| {
        use datastore::db::schema::key_use;
        use diesel::prelude::*;
        diesel::insert_into(key_use::table)
            .values((
                key_use::fingerprint.eq("68FF2E20F02B070D73D416188DE8CC167FE2663A"),
                key_use::release_id.eq(release_id),
                key_use::path.eq("apache-test-0.2.tar.gz"),
                key_use::seen_at.eq(0i64),
            ))
            .execute(c)
            .unwrap();
    });
    app.expect_error(delete(&member, "68ff2e20f02b070d73d416188de8cc167fe2663a"), StatusCode::CONFLICT, "key_in_use")
        .await;
    app.db(|c| {
        use datastore::db::schema::key_use;
        use diesel::prelude::*;
        diesel::delete(key_use::table).execute(c).unwrap();
    });
    let (status, _) = app.send(delete(&member, "68FF2E20F02B070D73D416188DE8CC167FE2663A")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = app.send(app.client.get(app.url("/api/v1/committees/tooling/keys"))).await;
    assert_eq!(list["keys"], json!([]));
}
