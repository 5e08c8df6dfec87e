//! Who may read what: a draft (its files, revisions, checks, events and tasks) is its
//! committee's and the admins'; to anyone else it does not exist. From `candidate` on, a
//! release is public. Every JSON answer says how it may be cached.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, VARY};
use serde_json::Value;
use shared_models::api::Role;
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;

on_both_backends!(drafts_are_their_committee_s_and_candidates_are_public, every_json_answer_has_a_cache_policy);

/// The reads of one release, by path under `/api/v1`.
const RELEASE_READS: [&str; 6] = [
    "/releases/httpd/2.4.69",
    "/releases/httpd/2.4.69/files",
    "/releases/httpd/2.4.69/revisions",
    "/releases/httpd/2.4.69/revisions/1",
    "/releases/httpd/2.4.69/checks",
    "/releases/httpd/2.4.69/events",
];

async fn read(app: &TestApp, path: &str, jwt: Option<&str>) -> (StatusCode, Value) {
    let request = app.client.get(app.url(&format!("/api/v1{path}")));
    app.send(match jwt {
        Some(jwt) => request.bearer_auth(jwt),
        None => request,
    })
    .await
}

async fn versions_listed(app: &TestApp, jwt: Option<&str>) -> Vec<String> {
    let (_, list) = read(app, "/projects/httpd/releases", jwt).await;
    list["releases"].as_array().unwrap().iter().map(|r| r["version"].as_str().unwrap().to_owned()).collect()
}

async fn tasks_listed(app: &TestApp, jwt: Option<&str>) -> u64 {
    let (status, list) = read(app, "/tasks", jwt).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["page"]["total"].as_u64().unwrap()
}

async fn drafts_are_their_committee_s_and_candidates_are_public(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    app.project("tomcat", false).await;
    let committer = app.user("dev", false, &[("httpd", Role::Committer)]);
    let outsider = app.user("other", false, &[("tomcat", Role::PmcMember)]);
    let nobody = app.user("visitor", false, &[]);
    let admin = app.admin();
    // The draft of a security release: its very version is not to be known yet.
    app.release(&committer, "httpd", "2.4.69").await;
    let (status, _) = app.upload(&committer, "httpd/2.4.69", "httpd-2.4.69.tar.gz", b"fix".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED);
    let task_id = app.db(|c| {
        use datastore::db::schema::task;
        use diesel::prelude::*;
        task::table.select(task::id).first::<i64>(c).unwrap()
    });

    for path in RELEASE_READS {
        for (who, jwt) in
            [("anonymous", None), ("another committee's PMC", Some(&outsider)), ("no role", Some(&nobody))]
        {
            let (status, body) = read(&app, path, jwt.map(String::as_str)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{who} reads {path}: {body}");
            assert_eq!(body["error"], "not_found");
            assert!(!body.to_string().contains("fix"), "nothing of the draft leaks: {body}");
        }
        for (who, jwt) in [("a committer", &committer), ("an admin", &admin)] {
            let (status, body) = read(&app, path, Some(jwt)).await;
            assert_eq!(status, StatusCode::OK, "{who} reads {path}: {body}");
        }
    }
    // The same answer as for a release that does not exist at all.
    let (_, unknown) = read(&app, "/releases/httpd/9.9.9", None).await;
    let (_, hidden) = read(&app, "/releases/httpd/2.4.69", None).await;
    assert_eq!(unknown["message"].as_str().unwrap().replace("9.9.9", "2.4.69"), hidden["message"]);
    // Its tasks, listed or one by one, and its place in the project's list.
    for jwt in [None, Some(outsider.as_str()), Some(nobody.as_str())] {
        assert_eq!(read(&app, &format!("/tasks/{task_id}"), jwt).await.0, StatusCode::NOT_FOUND);
        assert_eq!(read(&app, "/tasks?release=httpd/2.4.69", jwt).await.0, StatusCode::NOT_FOUND);
        assert_eq!(tasks_listed(&app, jwt).await, 0);
        assert!(versions_listed(&app, jwt).await.is_empty());
    }
    assert!(tasks_listed(&app, Some(&committer)).await > 0);
    assert!(tasks_listed(&app, Some(&admin)).await > 0);
    assert_eq!(read(&app, &format!("/tasks/{task_id}"), Some(&committer)).await.0, StatusCode::OK);
    assert_eq!(versions_listed(&app, Some(&committer)).await, ["2.4.69"]);
    // Credentials that are there but do not hold are refused, never read as anonymous.
    assert_eq!(read(&app, "/projects/httpd/releases", Some("forged.jwt.value")).await.0, StatusCode::UNAUTHORIZED);

    // The vote starts: from now on the release is everyone's to read.
    app.set_phase("httpd", "2.4.69", "candidate");
    for path in RELEASE_READS {
        let (status, body) = read(&app, path, None).await;
        assert_eq!(status, StatusCode::OK, "anonymous reads {path}: {body}");
    }
    assert_eq!(read(&app, &format!("/tasks/{task_id}"), None).await.0, StatusCode::OK);
    assert!(tasks_listed(&app, None).await > 0);
    assert_eq!(versions_listed(&app, None).await, ["2.4.69"]);
}

async fn every_json_answer_has_a_cache_policy(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let jwt = app.admin();
    let cache = |response: &reqwest::Response| {
        response.headers().get(CACHE_CONTROL).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    };
    let anonymous = app.client.get(app.url("/api/v1/projects")).send().await.unwrap();
    assert_eq!(cache(&anonymous), "public, max-age=60");
    assert!(
        anonymous.headers().get_all(VARY).iter().any(|v| v == "Authorization, Cookie"),
        "{:?}",
        anonymous.headers()
    );
    let authenticated = app.client.get(app.url("/api/v1/projects")).bearer_auth(&jwt).send().await.unwrap();
    assert_eq!(cache(&authenticated), "private, no-store");
    let me = app.client.get(app.url("/api/v1/me")).bearer_auth(&jwt).send().await.unwrap();
    assert_eq!(cache(&me), "private, no-store");
    for refused in [
        app.client.get(app.url("/api/v1/me")),
        app.client.get(app.url("/api/v1/projects/nope")),
        app.client.get(app.url("/api/v1/no/such/endpoint")),
        app.client.post(app.url("/api/v1/jwt")).json(&serde_json::json!({"uid": "root", "token": "trp_x"})),
    ] {
        let response = refused.send().await.unwrap();
        assert!(response.status().is_client_error());
        assert_eq!(cache(&response), "no-store", "{}", response.url());
    }
    let created = app
        .client
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&jwt)
        .json(&serde_json::json!({"label": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!((created.status(), cache(&created)), (StatusCode::CREATED, "private, no-store".to_owned()));
    let runner = app.client.post(app.url("/api/runner/v1/claim")).bearer_auth("trr_nope").send().await.unwrap();
    assert_eq!(cache(&runner), "no-store");
    let keys = app.client.get(app.url("/api/v1/committees/httpd/KEYS")).send().await.unwrap();
    assert_eq!(cache(&keys), "public, max-age=300", "a handler's own policy stays");
}
