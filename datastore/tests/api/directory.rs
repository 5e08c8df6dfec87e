//! Committees, projects, policies and release lists: public reads and PMC writes.

use reqwest::StatusCode;
use serde_json::json;
use shared_models::api::Role;
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;

on_both_backends!(
    directory_reads_are_public_and_paginated,
    policy_is_read_by_all_and_changed_by_the_pmc,
    a_source_repository_queues_a_tag_check_per_source_archive
);

async fn directory_reads_are_public_and_paginated(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    for name in ["httpd", "tomcat", "commons-io"] {
        app.project(name, false).await;
    }
    app.project("amoro", true).await;

    let (status, committees) = app.send(app.client.get(app.url("/api/v1/committees?limit=2"))).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> =
        committees["committees"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["amoro", "commons-io"]);
    assert_eq!(committees["page"]["total"], 4);
    assert_eq!(committees["page"]["next"], "?offset=2&limit=2");
    let (_, next) = app.send(app.client.get(app.url("/api/v1/committees?offset=2&limit=2"))).await;
    assert_eq!(next["committees"][0]["name"], "httpd");
    assert_eq!(next["page"]["next"], serde_json::Value::Null);

    let (_, one) = app.send(app.client.get(app.url("/api/v1/committees/amoro"))).await;
    assert_eq!((one["podling"].as_bool(), one["projects"][0].as_str()), (Some(true), Some("amoro")));
    app.expect_error(app.client.get(app.url("/api/v1/committees/nope")), StatusCode::NOT_FOUND, "not_found").await;
    app.expect_error(app.client.get(app.url("/api/v1/committees/Bad_Name")), StatusCode::BAD_REQUEST, "invalid_name")
        .await;

    let (_, search) = app.send(app.client.get(app.url("/api/v1/projects?q=TOM"))).await;
    let found: Vec<&str> = search["projects"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(found, ["tomcat"], "search ignores case and looks at display names too");
    let (_, project) = app.send(app.client.get(app.url("/api/v1/projects/httpd"))).await;
    assert_eq!(project["products"], json!(["httpd"]));
    assert_eq!(project["committee"], "httpd");
    app.expect_error(app.client.get(app.url("/api/v1/projects/nope")), StatusCode::NOT_FOUND, "not_found").await;

    // Releases of a project, newest first, with the fields API.md names.
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "2.4.67").await;
    app.release(&rm, "httpd", "2.4.68").await;
    let (_, releases) =
        app.send(app.client.get(app.url("/api/v1/projects/httpd/releases")).bearer_auth(app.admin())).await;
    let first = &releases["releases"][0];
    assert_eq!(first["version"], "2.4.68");
    for field in ["project", "product", "version", "phase", "revision", "created_at"] {
        assert!(!first[field].is_null(), "release lists carry {field}: {first}");
    }
    assert_eq!(releases["page"]["total"], 2);
}

async fn policy_is_read_by_all_and_changed_by_the_pmc(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let (status, policy) = app.send(app.client.get(app.url("/api/v1/projects/httpd/policy"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((policy["min_vote_hours"].as_u64(), policy["binding_plus_required"].as_u64()), (Some(72), Some(3)));

    let committer = app.user("dev", false, &[("httpd", Role::Committer)]);
    let pmc = app.user("chair", false, &[("httpd", Role::PmcMember)]);
    let new_policy = json!({"min_vote_hours": 96, "binding_plus_required": 3, "mailing_list": "dev@httpd.apache.org"});
    let put = |jwt: &str| app.client.put(app.url("/api/v1/projects/httpd/policy")).bearer_auth(jwt);
    app.expect_error(put(&committer).json(&new_policy), StatusCode::FORBIDDEN, "forbidden").await;
    let (status, saved) = app.send(put(&pmc).json(&new_policy)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["min_vote_hours"], 96);
    assert_eq!(saved["unknown_header_severity"], "warning", "unset fields keep their defaults");
    let (_, read) = app.send(app.client.get(app.url("/api/v1/projects/httpd/policy"))).await;
    assert_eq!(read, saved);
    app.expect_error(
        put(&pmc).json(&json!({"unknown_header_severity": "ignore"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_policy",
    )
    .await;
    app.expect_error(
        put(&pmc).json(&json!({"min_vote_hours": "soon"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
}

async fn a_source_repository_queues_a_tag_check_per_source_archive(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let pmc = app.user("chair", false, &[("httpd", Role::PmcMember)]);
    app.release(&pmc, "httpd", "2.4.68").await;
    let (status, body) = app.upload(&pmc, "httpd/2.4.68", "httpd-2.4.68.tar.gz", b"a tarball".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let put = |policy: serde_json::Value| {
        app.client.put(app.url("/api/v1/projects/httpd/policy")).bearer_auth(&pmc).json(&policy)
    };
    // A repository is an https URL without credentials; a tag is no option; globs are globs.
    for bad in [
        json!({"source_repository": "http://github.com/apache/httpd"}),
        json!({"source_repository": "https://user:secret@github.com/apache/httpd"}),
        json!({"source_repository": "file:///etc"}),
        json!({"source_repository": "https://github.com/apache/httpd", "source_tag": "--upload-pack=x"}),
        json!({"source_repository": "https://github.com/apache/httpd", "generated_files": ["a[b"]}),
    ] {
        app.expect_error(put(bad.clone()), StatusCode::UNPROCESSABLE_ENTITY, "invalid_policy").await;
    }
    let runner = app.runner("runner-tags").await;
    assert!(app.claim(&runner, &["git_tag"]).await.is_empty(), "no repository, no tag check");

    let (status, saved) =
        app.send(put(json!({"source_repository": "https://github.com/apache/httpd", "source_tag": "{version}"}))).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["generated_files"][0], "configure", "the default globs: {saved}");
    let orders = app.claim(&runner, &["git_tag"]).await;
    assert_eq!(orders.len(), 1, "the policy change queued the draft's tag check: {orders:?}");
    let args = &orders[0]["args"];
    assert_eq!(
        (args["repository"].as_str(), args["tag"].as_str()),
        (Some("https://github.com/apache/httpd"), Some("2.4.68"))
    );
    assert_eq!(orders[0]["inputs"][0]["path"], "httpd-2.4.68.tar.gz");
}
