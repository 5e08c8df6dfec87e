//! A release's SBOM as data (`GET …/sbom`): components, the diff against the previous release's
//! SBOM, and known vulnerabilities from an OSV dump on disk; as public as the release.

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_models::api::Role;
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;

on_both_backends!(
    the_sbom_diff_and_known_vulnerabilities,
    what_is_not_an_sbom_is_refused_clearly,
    a_generated_sbom_is_a_new_revision_by_who_asked,
);

fn component(name: &str, group: &str, version: &str, license: &str) -> Value {
    json!({
        "type": "library", "bom-ref": format!("{group}:{name}"), "group": group, "name": name, "version": version,
        "purl": format!("pkg:maven/{group}/{name}@{version}"),
        "licenses": [{"license": {"id": license}}]
    })
}

fn sbom(components: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
        "metadata": {"timestamp": "2026-11-30T12:00:00Z", "component": {"type": "application", "name": "httpd"}},
        "components": components
    }))
    .unwrap()
}

/// Two OSV records as osv.dev publishes them, and a file that is not one.
fn osv_dump(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("Maven")).unwrap();
    let text4shell = json!({
        "id": "GHSA-599f-7c49-w659", "aliases": ["CVE-2022-42889"],
        "summary": "Arbitrary code execution in Apache Commons Text",
        "affected": [{"package": {"ecosystem": "Maven", "name": "org.apache.commons:commons-text"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.5"}, {"fixed": "1.10.0"}]}]}]
    });
    let jackson = json!({
        "id": "GHSA-test-jackson", "summary": "A flaw in jackson-core",
        "affected": [{"package": {"ecosystem": "Maven", "name": "com.fasterxml.jackson.core:jackson-core"},
            "versions": ["2.18.0"]}]
    });
    std::fs::write(dir.join("Maven/GHSA-599f-7c49-w659.json"), text4shell.to_string()).unwrap();
    std::fs::write(dir.join("Maven/GHSA-test-jackson.json"), jackson.to_string()).unwrap();
    std::fs::write(dir.join("Maven/broken.json"), b"{").unwrap();
}

async fn the_sbom_diff_and_known_vulnerabilities(backend: Backend) {
    let osv = tempfile::tempdir().unwrap();
    osv_dump(osv.path());
    let dir = osv.path().to_owned();
    let Some(app) = TestApp::start_with(backend, move |config| config.osv_dir = Some(dir)).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);

    app.release(&rm, "httpd", "2.4.67").await;
    let before = sbom(vec![
        component("commons-text", "org.apache.commons", "1.9", "Apache-2.0"),
        component("commons-io", "commons-io", "2.16.1", "Apache-2.0"),
    ]);
    assert!(app.upload(&rm, "httpd/2.4.67", "httpd-2.4.67.cdx.json", before).await.0.is_success());
    app.set_phase("httpd", "2.4.67", "current");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    app.release(&rm, "httpd", "2.4.68").await;
    let after = sbom(vec![
        component("commons-text", "org.apache.commons", "1.10.0", "Apache-2.0"),
        component("jackson-core", "com.fasterxml.jackson.core", "2.18.0", "Apache-2.0"),
    ]);
    assert!(app.upload(&rm, "httpd/2.4.68", "httpd-2.4.68.cdx.json", after).await.0.is_success());

    // The released one is public; the component it ships with a known flaw is named, with the fix.
    let (status, released) = app.get_as(None, "/api/v1/releases/httpd/2.4.67/sbom").await;
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(released["file"]["path"], "httpd-2.4.67.cdx.json");
    assert_eq!(released["components"].as_array().unwrap().len(), 3, "the primary component and two more");
    assert!(released.get("previous").is_none() && released.get("diff").is_none(), "{released}");
    assert_eq!(released["osv"]["configured"], true);
    assert_eq!(released["osv"]["records"], 2, "the broken file is skipped, not fatal: {released}");
    let found: Vec<(&str, &str)> = released["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["id"].as_str().unwrap(), v["version"].as_str().unwrap()))
        .collect();
    assert_eq!(found, [("GHSA-599f-7c49-w659", "1.9")], "{released}");
    assert_eq!(released["vulnerabilities"][0]["fixed"], json!(["1.10.0"]));
    assert_eq!(released["vulnerabilities"][0]["aliases"], json!(["CVE-2022-42889"]));

    // The draft is its committee's; compared with the release before it.
    let (status, _) = app.get_as(None, "/api/v1/releases/httpd/2.4.68/sbom").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a draft is not public");
    let (status, draft) = app.get_as(Some(&rm), "/api/v1/releases/httpd/2.4.68/sbom").await;
    assert_eq!(status, StatusCode::OK, "{draft}");
    assert_eq!(draft["previous"]["release"], "httpd/2.4.67", "{draft}");
    let diff = &draft["diff"];
    let names = |list: &Value| -> Vec<String> {
        list.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(&diff["added"]), ["jackson-core"], "{draft}");
    assert_eq!(names(&diff["removed"]), ["commons-io"], "{draft}");
    assert_eq!(diff["version_changed"][0]["identity"], "pkg:maven/org.apache.commons/commons-text");
    assert_eq!(
        (diff["version_changed"][0]["from"].clone(), diff["version_changed"][0]["to"].clone()),
        (json!(["1.9"]), json!(["1.10.0"]))
    );
    let ids: Vec<&str> =
        draft["vulnerabilities"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["GHSA-test-jackson"], "commons-text 1.10.0 is the fix: {draft}");
}

async fn what_is_not_an_sbom_is_refused_clearly(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "2.4.68").await;
    let (status, body) = app.get_as(Some(&rm), "/api/v1/releases/httpd/2.4.68/sbom").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("has no SBOM"), "{body}");

    assert!(app.upload(&rm, "httpd/2.4.68", "bom.json", b"{\"bomFormat\": ".to_vec()).await.0.is_success());
    let (status, body) = app.get_as(Some(&rm), "/api/v1/releases/httpd/2.4.68/sbom").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_sbom")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("bom.json of httpd/2.4.68 is not JSON"), "{body}");

    let (status, body) = app.get_as(Some(&rm), "/api/v1/releases/httpd/2.4.68/sbom?file=other.cdx.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["message"].as_str().unwrap().contains("no SBOM named other.cdx.json"), "{body}");

    // Without an OSV directory, nothing is claimed about vulnerabilities.
    let valid = sbom(vec![component("commons-text", "org.apache.commons", "1.9", "Apache-2.0")]);
    assert!(app.upload(&rm, "httpd/2.4.68", "bom.json", valid).await.0.is_success());
    let (status, body) = app.get_as(Some(&rm), "/api/v1/releases/httpd/2.4.68/sbom").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["osv"], json!({"configured": false, "records": 0}), "{body}");
    assert_eq!(body["vulnerabilities"], json!([]));
}

/// `POST …/sbom/generate`, as the runner's side sees it: the order names the archive and the
/// SBOM's path; the SBOM the runner uploads becomes a new revision, by the requester, and is
/// checked; who may not ask, what is not an archive and a second request are refused.
async fn a_generated_sbom_is_a_new_revision_by_who_asked(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    app.project("tomcat", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let tomcat = app.user("cat", false, &[("tomcat", Role::PmcMember)]);
    app.release(&rm, "httpd", "2.4.68").await;
    for (name, bytes) in [("dist/httpd-2.4.68.tar.gz", b"an archive".to_vec()), ("README", b"text".to_vec())] {
        let (status, body) = app.upload(&rm, "httpd/2.4.68", name, bytes).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let generate = |jwt: Option<&str>, file: &str| {
        let request =
            app.client.post(app.url("/api/v1/releases/httpd/2.4.68/sbom/generate")).json(&json!({"file": file}));
        match jwt {
            Some(jwt) => request.bearer_auth(jwt),
            None => request,
        }
    };
    app.expect_error(generate(None, "dist/httpd-2.4.68.tar.gz"), StatusCode::UNAUTHORIZED, "unauthorized").await;
    app.expect_error(generate(Some(&tomcat), "dist/httpd-2.4.68.tar.gz"), StatusCode::NOT_FOUND, "not_found").await;
    app.expect_error(generate(Some(&rm), "dist/nothing.tar.gz"), StatusCode::NOT_FOUND, "not_found").await;
    app.expect_error(generate(Some(&rm), "README"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let (status, queued) = app.send(generate(Some(&rm), "dist/httpd-2.4.68.tar.gz")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    app.expect_error(generate(Some(&rm), "dist/httpd-2.4.68.tar.gz"), StatusCode::CONFLICT, "generation_running").await;

    let runner = app.runner("sbom").await;
    let claimed = app.claim(&runner, &["sbom_generate"]).await;
    assert_eq!(claimed.len(), 1, "{claimed:#?}");
    // The first attempt uploads, then loses its lease: the next attempt may upload its own.
    let first = &claimed[0];
    let (status, _) = app
        .send(
            app.client
                .post(app.url(&format!("/api/runner/v1/tasks/{}/blobs", first["id"])))
                .bearer_auth(&runner)
                .header("X-Lease-Token", first["lease_token"].as_str().unwrap())
                .body(b"attempt 1".to_vec()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    app.db(|c| {
        use datastore::db::schema::task;
        use diesel::prelude::*;
        diesel::update(task::table.find(first["id"].as_i64().unwrap()))
            .set(task::lease_expires_at.eq(1i64))
            .execute(c)
            .unwrap();
        datastore::domain::tasks::reap(c).unwrap();
        diesel::update(task::table.filter(task::status.eq("queued")))
            .set(task::not_before.eq(0i64))
            .execute(c)
            .unwrap();
    });
    let claimed = app.claim(&runner, &["sbom_generate"]).await;
    assert_eq!((claimed.len(), claimed[0]["attempt"].as_i64()), (1, Some(2)), "{claimed:#?}");
    let order = &claimed[0];
    assert_eq!(order["id"], queued["task"]);
    assert_eq!(order["args"]["output"], "dist/httpd-2.4.68.cdx.json");
    assert_eq!((order["args"]["name"].as_str(), order["args"]["version"].as_str()), (Some("httpd"), Some("2.4.68")));
    assert_eq!(order["inputs"][0]["path"], "dist/httpd-2.4.68.tar.gz", "the archive is the task's input");
    let upload = |bytes: Vec<u8>| {
        app.client
            .post(app.url(&format!("/api/runner/v1/tasks/{}/blobs", order["id"])))
            .bearer_auth(&runner)
            .header("X-Lease-Token", order["lease_token"].as_str().unwrap())
            .body(bytes)
    };
    let document = sbom(vec![component("commons-io", "commons-io", "2.16.1", "Apache-2.0")]);
    let (status, stored) = app.send(upload(document)).await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    app.expect_error(upload(b"a second file".to_vec()), StatusCode::CONFLICT, "too_many_files").await;
    let file = json!({"path": "dist/httpd-2.4.68.cdx.json", "sha256": stored["sha256"], "sha512": stored["sha512"], "size": stored["size"]});
    let result = json!({"checker": "sbom_generate", "checker_version": "1", "path": "dist/httpd-2.4.68.tar.gz",
        "status": "success", "message": "1 components from 1 manifest(s)", "data": {"files": [file], "components": 1}});
    let body = json!({"lease_token": order["lease_token"], "status": "completed", "results": [result]});
    let url = app.url(&format!("/api/runner/v1/tasks/{}/result", order["id"]));
    let (status, answer) = app.send(app.client.post(url).bearer_auth(&runner).json(&body)).await;
    assert_eq!((status, answer["accepted"].as_bool()), (StatusCode::OK, Some(true)), "{answer}");

    let (_, listing) = app.get_as(Some(&rm), "/api/v1/releases/httpd/2.4.68/files").await;
    assert_eq!(listing["revision"], 3, "{listing}");
    let names: Vec<&str> = listing["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(names, ["README", "dist/httpd-2.4.68.cdx.json", "dist/httpd-2.4.68.tar.gz"]);
    let (_, revisions) = app.get_as(Some(&rm), "/api/v1/releases/httpd/2.4.68/revisions").await;
    let latest = revisions["revisions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(latest["created_by"], "rm", "{latest}");
    assert!(latest["description"].as_str().unwrap().starts_with("SBOM of dist/httpd-2.4.68.tar.gz"), "{latest}");
    let (_, events) = app.get_as(Some(&rm), "/api/v1/releases/httpd/2.4.68/events?limit=1000").await;
    let generated = events["events"].as_array().unwrap().iter().find(|e| e["action"] == "sbom.generated").unwrap();
    assert_eq!(
        (generated["details"]["revision"].as_i64(), generated["actor"].as_str()),
        (Some(3), Some("runner:sbom"))
    );
    // The new revision's SBOM is checked like an uploaded one.
    let checks = app.claim(&runner, &["sbom"]).await;
    assert_eq!(checks.len(), 1, "{checks:#?}");
    assert_eq!(checks[0]["inputs"][0]["path"], "dist/httpd-2.4.68.cdx.json");

    // Made once: another request would replace it, which only a person deleting it may do.
    app.expect_error(generate(Some(&rm), "dist/httpd-2.4.68.tar.gz"), StatusCode::CONFLICT, "sbom_exists").await;
    app.set_phase("httpd", "2.4.68", "candidate");
    app.expect_error(generate(Some(&rm), "dist/httpd-2.4.68.tar.gz"), StatusCode::CONFLICT, "wrong_phase").await;
}
