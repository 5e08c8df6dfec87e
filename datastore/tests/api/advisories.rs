//! CVE records, their OSV export, distribution records and the public catalog, on both
//! backends: who may write them (the project's PMC; not its committers, nor another
//! committee's PMC), an embargo that holds (an unpublished record, and drafts a public one
//! names, are unknown to everyone but the PMC), what the export and the catalog hold, and
//! that both revalidate by `ETag`.

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_models::api::Role;
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;

on_both_backends!(cve_records_are_the_pmc_s_and_stay_embargoed_until_published);
on_both_backends!(
    distributions_and_the_catalog_describe_current_releases,
    a_runner_checks_that_a_channel_serves_the_voted_bytes
);

struct People {
    admin: String,
    pmc: String,
    committer: String,
    other_pmc: String,
}

async fn world(app: &TestApp) -> People {
    app.project("httpd", false).await;
    app.project("tomcat", false).await;
    let people = People {
        admin: app.admin(),
        pmc: app.user("pmc", false, &[("httpd", Role::PmcMember)]),
        committer: app.user("dev", false, &[("httpd", Role::Committer)]),
        other_pmc: app.user("other", false, &[("tomcat", Role::PmcMember)]),
    };
    for version in ["2.4.67", "2.4.68"] {
        app.release(&people.pmc, "httpd", version).await;
        let (status, body) =
            app.upload(&people.pmc, &format!("httpd/{version}"), "README", version.as_bytes().to_vec()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    app.release(&people.admin, "tomcat", "11.0.1").await;
    let (status, body) = app.upload(&people.pmc, "httpd/2.4.67", "README.asc", b"a signature".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.set_phase("httpd", "2.4.67", "current");
    people
}

async fn send_json(app: &TestApp, jwt: &str, method: reqwest::Method, path: &str, body: Value) -> (StatusCode, Value) {
    app.send(app.client.request(method, app.url(path)).bearer_auth(jwt).json(&body)).await
}

async fn cve_records_are_the_pmc_s_and_stay_embargoed_until_published(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let p = world(&app).await;
    let post = reqwest::Method::POST;
    let record = json!({
        "id": "CVE-2026-24001", "title": "mod_proxy: request smuggling", "severity": "important",
        "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N",
        "description": "A crafted request\nreaches the backend twice.",
        "affected": ["httpd/2.4.67"], "fixed": ["httpd/2.4.68"],
    });
    let cves = "/api/v1/projects/httpd/cves";

    // Only the project's PMC records one: not a committer, nor another committee's PMC.
    for (jwt, status) in [(&p.committer, StatusCode::FORBIDDEN), (&p.other_pmc, StatusCode::FORBIDDEN)] {
        let (got, body) = send_json(&app, jwt, post.clone(), cves, record.clone()).await;
        assert_eq!(got, status, "{body}");
    }
    let (status, body) = app.send(app.client.post(app.url(cves)).json(&record)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, made) = send_json(&app, &p.pmc, post.clone(), cves, record.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["embargoed"], true, "no `published`: embargoed");
    assert_eq!(made["affected"], json!(["httpd/2.4.67"]));
    assert_eq!(made["fixed"], json!(["httpd/2.4.68"]));
    assert_eq!(made["created_by"], "pmc");

    // Embargoed: unknown to everyone but the PMC and the admins, in every list and export.
    let one = "/api/v1/projects/httpd/cves/CVE-2026-24001";
    for jwt in [None, Some(p.committer.as_str()), Some(p.other_pmc.as_str())] {
        let (status, body) = app.get_as(jwt, one).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (_, list) = app.get_as(jwt, cves).await;
        assert_eq!(list["cves"], json!([]), "{list}");
        assert_eq!(list["page"]["total"], 0);
    }
    for jwt in [&p.pmc, &p.admin] {
        let (status, body) = app.get_as(Some(jwt), one).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, osv) = app.get_as(None, "/api/v1/projects/httpd/osv").await;
    assert_eq!(osv, json!({"vulns": []}));
    // Nobody else can change or remove it, and trying tells them nothing.
    let (status, _) = send_json(&app, &p.committer, reqwest::Method::PUT, one, record.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.send(app.client.delete(app.url(one)).bearer_auth(&p.other_pmc)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // What a record may hold.
    let refused = |field: &str, value: Value, code: &str| {
        let mut body = record.clone();
        body[field] = value;
        (body, code.to_owned())
    };
    for (body, code) in [
        (record.clone(), "duplicate".to_owned()),
        refused("id", json!("CVE-26-1"), "invalid_request"),
        refused("cvss_vector", json!("AV:N/AC:L"), "invalid_request"),
        refused("advisory_url", json!("http://example.org/advisory"), "invalid_request"),
        refused("affected", json!(["tomcat/11.0.1"]), "not_found"),
        refused("affected", json!(["httpd/9.9.9"]), "not_found"),
        refused("affected", json!(["httpd"]), "invalid_request"),
        refused("affected", json!(["httpd/2.4.68"]), "invalid_request"),
        refused("title", json!("two\nlines"), "invalid_request"),
    ] {
        let mut body = body;
        if code != "duplicate" {
            body["id"] = if body["id"] == record["id"] { json!("CVE-2026-24002") } else { body["id"].clone() };
        }
        let expected = match code.as_str() {
            "duplicate" => StatusCode::CONFLICT,
            "not_found" => StatusCode::NOT_FOUND,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let (status, answer) = send_json(&app, &p.pmc, post.clone(), cves, body.clone()).await;
        assert_eq!((status, answer["error"].as_str()), (expected, Some(code.as_str())), "{body} → {answer}");
    }
    let (status, body) = app.get_as(Some(&p.pmc), "/api/v1/projects/httpd/cves/CVE-2026-24002").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing refused was stored: {body}");
    // Another project records the same CVE, and learns nothing of httpd's embargoed record.
    let theirs = json!({"id": "CVE-2026-24001", "title": "the same flaw, in tomcat"});
    let (status, body) = send_json(&app, &p.other_pmc, post.clone(), "/api/v1/projects/tomcat/cves", theirs).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The audit log (read whole by admins and foundation members) names no embargoed CVE.
    let (_, events) = app.get_as(Some(&p.admin), "/api/v1/events?actor=pmc&limit=1000").await;
    let created = events["events"].as_array().unwrap().iter().find(|e| e["action"] == "cve.created").unwrap();
    assert_eq!(created["details"]["embargoed"], true, "{created}");
    assert!(!created.to_string().contains("CVE-2026-24001"), "{created}");
    assert!(!created.to_string().contains("smuggling"), "{created}");

    // Published: everyone reads it, but the draft that fixes it stays the PMC's secret.
    let mut published = record.clone();
    published["published"] = json!("2026-11-30T12:00:00Z");
    published["advisory_url"] = json!("https://httpd.apache.org/security/vulnerabilities_24.html");
    let (status, body) = send_json(&app, &p.pmc, reqwest::Method::PUT, one, published.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["embargoed"], false);
    let (status, public) = app.get_as(None, one).await;
    assert_eq!(status, StatusCode::OK, "{public}");
    assert_eq!(public["affected"], json!(["httpd/2.4.67"]));
    assert_eq!(public["fixed"], json!([]), "a draft is not named to the public: {public}");
    let (_, seen) = app.get_as(Some(&p.committer), one).await;
    assert_eq!(seen["fixed"], json!(["httpd/2.4.68"]), "its committee reads the draft");
    let (_, list) = app.get_as(None, cves).await;
    assert_eq!(list["page"]["total"], 1, "{list}");
    let mut hidden = published.clone();
    hidden["published"] = Value::Null;
    let (status, body) = send_json(&app, &p.pmc, reqwest::Method::PUT, one, hidden).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("already_public")), "{body}");
    let (status, _) = app.get_as(None, one).await;
    assert_eq!(status, StatusCode::OK, "still public");
    let mut renamed = published.clone();
    renamed["id"] = json!("CVE-2026-24003");
    let (status, body) = send_json(&app, &p.pmc, reqwest::Method::PUT, one, renamed).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("id_mismatch")));

    // The OSV export, once the fix is out.
    app.set_phase("httpd", "2.4.68", "current");
    let response = app.client.get(app.url("/api/v1/projects/httpd/osv")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let osv: Value = response.json().await.unwrap();
    let vuln = &osv["vulns"][0];
    assert_eq!(osv["vulns"].as_array().unwrap().len(), 1, "{osv}");
    assert_eq!(vuln["id"], "CVE-2026-24001");
    assert_eq!(vuln["schema_version"], "1.6.0");
    assert_eq!(vuln["summary"], "mod_proxy: request smuggling");
    assert_eq!(vuln["details"], "A crafted request\nreaches the backend twice.");
    assert_eq!(vuln["published"], "2026-11-30T12:00:00Z");
    assert_eq!(vuln["severity"], json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N"}]));
    assert_eq!(
        vuln["affected"],
        json!([{"versions": ["2.4.67"], "database_specific": {"project": "httpd", "product": "httpd", "fixed": ["2.4.68"]}}])
    );
    assert_eq!(vuln["references"][0], json!({"type": "ADVISORY", "url": published["advisory_url"]}));
    assert_eq!(vuln["references"][1]["type"], "PACKAGE");
    assert!(vuln["references"][1]["url"].as_str().unwrap().ends_with("/current/httpd/2.4.68/"), "{vuln}");
    assert_eq!(vuln["database_specific"], json!({"project": "httpd", "severity": "important"}));
    let again = app.client.get(app.url("/api/v1/projects/httpd/osv")).header("If-None-Match", &etag).send().await;
    assert_eq!(again.unwrap().status(), StatusCode::NOT_MODIFIED, "revalidated by its ETag");

    // Removed by the PMC; the audit log keeps what it said (for the admins).
    let (status, _) = app.send(app.client.delete(app.url(one)).bearer_auth(&p.committer)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a public record, but not the committer's to remove");
    let (status, _) = app.send(app.client.delete(app.url(one)).bearer_auth(&p.pmc)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get_as(Some(&p.pmc), one).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, events) = app.get_as(Some(&p.admin), "/api/v1/events?actor=pmc&limit=1000").await;
    let actions: Vec<&str> = events["events"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["cve.created", "cve.updated", "cve.deleted"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

async fn distributions_and_the_catalog_describe_current_releases(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let p = world(&app).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let current = "/api/v1/releases/httpd/2.4.67/distributions";
    let maven = json!({"channel": "maven_central", "url": "https://repo1.maven.org/maven2/org/apache/httpd/2.4.67/"});

    // The PMC records where a released version went; a draft went nowhere yet.
    let (status, body) = app
        .send(app.client.post(app.url("/api/v1/releases/httpd/2.4.68/distributions")).bearer_auth(&p.pmc).json(&maven))
        .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("wrong_phase")), "{body}");
    for jwt in [&p.committer, &rm, &p.other_pmc] {
        let (status, body) = app.send(app.client.post(app.url(current)).bearer_auth(jwt).json(&maven)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let (status, recorded) = app.send(app.client.post(app.url(current)).bearer_auth(&p.pmc).json(&maven)).await;
    assert_eq!(status, StatusCode::CREATED, "{recorded}");
    assert_eq!(recorded["status"], "recorded");
    assert_eq!(recorded["release"], "httpd/2.4.67");
    let (status, body) = app.send(app.client.post(app.url(current)).bearer_auth(&p.pmc).json(&maven)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("duplicate")));
    let long = format!("https://example.org/{}", "é".repeat(500));
    for url in ["ftp://mirror.example.org/httpd", "https://example.org/a b", "", "JavaScript:alert(1)", &long] {
        let body = json!({"channel": "other", "url": url});
        let (status, answer) = app.send(app.client.post(app.url(current)).bearer_auth(&p.pmc).json(&body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url:?}: {answer}");
    }
    let coordinates = json!({"channel": "maven_central", "url": "org.apache.httpd:httpd:2.4.67"});
    let (status, second) = app.send(app.client.post(app.url(current)).bearer_auth(&p.pmc).json(&coordinates)).await;
    assert_eq!(status, StatusCode::CREATED, "coordinates will do: {second}");
    let (_, listed) = app.get_as(None, current).await;
    assert_eq!(listed["distributions"].as_array().unwrap().len(), 2, "public, as the release is: {listed}");

    // A public CVE affecting it, and a signature the checks verified.
    let record = json!({"id": "CVE-2026-24010", "title": "t", "published": "2026-01-01T00:00:00Z",
                        "affected": ["httpd/2.4.67"]});
    let (status, body) =
        app.send(app.client.post(app.url("/api/v1/projects/httpd/cves")).bearer_auth(&p.pmc).json(&record)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let embargoed = json!({"id": "CVE-2026-24011", "title": "t", "affected": ["httpd/2.4.67"]});
    let (status, _) =
        app.send(app.client.post(app.url("/api/v1/projects/httpd/cves")).bearer_auth(&p.pmc).json(&embargoed)).await;
    assert_eq!(status, StatusCode::CREATED);
    // The runner's signature check verified README.asc with a key: the catalog names it.
    let runner = app.runner("runner-signature").await;
    let mut verified = 0;
    for order in app.claim(&runner, &["signature"]).await {
        let inputs = order["inputs"].as_array().unwrap();
        let signed = inputs.iter().find(|i| i["path"] == "README").unwrap_or_else(|| panic!("{order}"));
        let result = json!({"checker": "signature", "checker_version": "1", "path": signed["path"], "status": "success",
                            "message": "good signature", "data": {"signer": "65B2D44FE74BD5E3DE3AC3F082781DE46D5954FA"}});
        let body = json!({"lease_token": order["lease_token"], "status": "completed", "results": [result]});
        let url = app.url(&format!("/api/runner/v1/tasks/{}/result", order["id"]));
        let (code, answer) = app.send(app.client.post(url).bearer_auth(&runner).json(&body)).await;
        assert_eq!(code, StatusCode::OK, "{answer}");
        verified += 1;
    }
    assert_eq!(verified, 1, "one signature to check");

    // The catalog: the current release only, with its files, signers, CVEs and distributions.
    let response = app.client.get(app.url("/api/v1/catalog")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let catalog: Value = response.json().await.unwrap();
    assert_eq!(catalog["page"]["total"], 1, "drafts are not in it: {catalog}");
    let entry = &catalog["releases"][0];
    assert_eq!(entry["release"], "httpd/2.4.67");
    let sha512 = checks::digest::sha512_of(&b"2.4.67"[..]).unwrap().0;
    assert_eq!(entry["files"][0]["path"], "README");
    assert_eq!(entry["files"][0]["sha512"], sha512.as_str());
    assert_eq!(entry["files"][0]["size"], 6);
    assert_eq!(entry["files"][0]["signers"], json!(["65B2D44FE74BD5E3DE3AC3F082781DE46D5954FA"]), "{entry}");
    assert_eq!(entry["files"][1]["path"], "README.asc");
    assert_eq!(entry["files"][1]["signers"], json!([]), "a signature is not signed");
    assert!(entry["files"][0]["url"].as_str().unwrap().ends_with("/current/httpd/2.4.67/README"), "{entry}");
    assert_eq!(entry["cves_affecting"], json!(["CVE-2026-24010"]), "the embargoed one is not in it: {entry}");
    assert_eq!(entry["cves_fixed"], json!([]));
    assert_eq!(entry["distributions"].as_array().unwrap().len(), 2);
    // The URL the catalog names serves those bytes.
    let named = entry["files"][0]["url"].as_str().unwrap();
    let path = named.strip_prefix(&app.state.config.public_url()).unwrap_or_else(|| panic!("{named}"));
    let file = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(file.bytes().await.unwrap().as_ref(), b"2.4.67");
    let again = app.client.get(app.url("/api/v1/catalog")).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let (status, whole) = app.get_as(None, "/current/catalog.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(whole["releases"], catalog["releases"], "the file is the same catalog, whole");
    let (status, body) = app.get_as(None, "/api/v1/catalog?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // A record removed by the PMC, not by another committee's.
    let id = recorded["id"].as_i64().unwrap();
    let gone = format!("/api/v1/distributions/{id}");
    let (status, _) = app.send(app.client.delete(app.url(&gone)).bearer_auth(&p.other_pmc)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.send(app.client.delete(app.url(&gone)).bearer_auth(&p.pmc)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.send(app.client.delete(app.url(&gone)).bearer_auth(&p.pmc)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = app.get_as(None, current).await;
    assert_eq!(listed["distributions"].as_array().unwrap().len(), 1);
}

/// Answers a `distribution` task as the runner would, with `outcome` (or none at all).
async fn report_outcome(app: &TestApp, runner: &str, order: &Value, outcome: Option<&str>) -> (StatusCode, Value) {
    let data = match outcome {
        Some(outcome) => json!({"outcome": outcome, "detail": format!("the channel: {outcome}"), "sha512": "ab"}),
        None => json!({}),
    };
    let result = json!({"checker": "distribution", "checker_version": "", "path": "", "status": "failure",
                        "message": "checked", "data": data});
    let body = json!({"lease_token": order["lease_token"], "status": "completed", "results": [result]});
    let url = app.url(&format!("/api/runner/v1/tasks/{}/result", order["id"]));
    app.send(app.client.post(url).bearer_auth(runner).json(&body)).await
}

async fn a_runner_checks_that_a_channel_serves_the_voted_bytes(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let p = world(&app).await;
    let current = "/api/v1/releases/httpd/2.4.67/distributions";
    let web =
        json!({"channel": "github_releases", "url": "https://github.com/apache/httpd/releases/download/2.4.67/README"});
    let coordinates = json!({"channel": "maven_central", "url": "org.apache.httpd:httpd:2.4.67"});
    let (status, recorded) = app.send(app.client.post(app.url(current)).bearer_auth(&p.pmc).json(&web)).await;
    assert_eq!(status, StatusCode::CREATED, "{recorded}");
    let (_, coords) = app.send(app.client.post(app.url(current)).bearer_auth(&p.pmc).json(&coordinates)).await;
    let id = recorded["id"].as_i64().unwrap();

    // A web address is checked at once, against the voted files; coordinates are not fetched.
    let runner = app.runner("runner-parity").await;
    let orders = app.claim(&runner, &["distribution"]).await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    let args = &orders[0]["args"];
    assert_eq!((args["distribution"].as_i64(), args["url"].clone()), (Some(id), web["url"].clone()), "{args}");
    let sha512 = checks::digest::sha512_of(&b"2.4.67"[..]).unwrap().0;
    let readme = args["files"].as_array().unwrap().iter().find(|f| f["path"] == "README").unwrap();
    assert_eq!((readme["sha512"].as_str(), readme["size"].as_u64()), (Some(sha512.as_str()), Some(6)));

    // A report without an outcome is refused and changes nothing; a mismatch is recorded.
    let (status, body) = report_outcome(&app, &runner, &orders[0], None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_result")), "{body}");
    let (status, body) = report_outcome(&app, &runner, &orders[0], Some("mismatch")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, listed) = app.get_as(None, current).await;
    let record = listed["distributions"].as_array().unwrap().iter().find(|d| d["id"] == id).unwrap().clone();
    assert_eq!(
        (record["status"].as_str(), record["detail"].as_str()),
        (Some("mismatch"), Some("the channel: mismatch"))
    );
    assert!(record["checked_at"].is_string(), "{record}");
    let (_, events) = app.get_as(Some(&p.pmc), "/api/v1/releases/httpd/2.4.67/events").await;
    let mismatch = events["events"].as_array().unwrap().iter().find(|e| e["action"] == "distribution.mismatch");
    let mismatch = mismatch.unwrap_or_else(|| panic!("no mismatch event in {events}"));
    assert_eq!(mismatch["actor"], "runner:runner-parity");
    let page = app.client.get(app.url("/releases/httpd/2.4.67")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("distribution-mismatch status-failure"), "the release page shows it");

    // Checked again on request (by whoever may record it), and on the schedule.
    let verify = format!("/api/v1/distributions/{id}/verify");
    let (status, _) = app.send(app.client.post(app.url(&verify))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for jwt in [&p.committer, &p.other_pmc] {
        let (status, body) = app.send(app.client.post(app.url(&verify)).bearer_auth(jwt)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let coords_verify = format!("/api/v1/distributions/{}/verify", coords["id"]);
    let (status, body) = app.send(app.client.post(app.url(&coords_verify)).bearer_auth(&p.pmc)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_request")), "{body}");
    let (status, body) = app.send(app.client.post(app.url(&verify)).bearer_auth(&p.pmc)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // Asked again while that check waits: the one check answers both.
    let (status, body) = app.send(app.client.post(app.url(&verify)).bearer_auth(&p.pmc)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let again = app.claim(&runner, &["distribution"]).await;
    assert_eq!(again.len(), 1, "{again:?}");
    let (status, _) = report_outcome(&app, &runner, &again[0], Some("verified")).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let queued = app.db(|c| datastore::domain::parity::recheck_due(c, 1).unwrap());
    assert_eq!(queued, 1, "the web address is due again; the coordinates never are");
    let (status, _) =
        report_outcome(&app, &runner, &app.claim(&runner, &["distribution"]).await[0], Some("verified")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.db(|c| datastore::domain::parity::recheck_due(c, 3_600_000).unwrap()), 0, "checked just now");
    let (_, listed) = app.get_as(None, current).await;
    let record = listed["distributions"].as_array().unwrap().iter().find(|d| d["id"] == id).unwrap().clone();
    assert_eq!(record["status"], "verified", "{record}");
}
