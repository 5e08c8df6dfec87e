//! The runner protocol as a runner sees it: claims, leases and their fencing, logs, results,
//! the reaper, blob access, and the checks report fed by results.

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_models::api::Role;
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;

on_both_backends!(
    claims_are_exclusive_and_fenced,
    the_reaper_requeues_then_fails_lost_tasks,
    results_feed_the_checks_report,
    logs_blobs_and_cancellation,
);

/// A runner token, registered through the admin API.
async fn runner(app: &TestApp, name: &str) -> String {
    let (status, body) = app
        .send(app.client.post(app.url("/api/v1/admin/runners")).bearer_auth(app.admin()).json(&json!({"name": name})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

async fn claim(app: &TestApp, token: &str, capacity: u32) -> (StatusCode, Value) {
    app.send(app.client.post(app.url("/api/runner/v1/claim")).bearer_auth(token).json(&json!({
        "runner": "test", "version": "0", "kinds": ["paths", "hashing", "signature", "archive", "license", "rat"],
        "capacity": capacity, "wait_s": 1
    })))
    .await
}

/// A release with a tarball, its signature and checksum (6 checks to run).
async fn release_with_files(app: &TestApp) {
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "2.4.68").await;
    let form = reqwest::multipart::Form::new()
        .part("httpd-2.4.68.tar.gz", reqwest::multipart::Part::bytes(b"tarball".to_vec()))
        .part("httpd-2.4.68.tar.gz.asc", reqwest::multipart::Part::bytes(b"signature".to_vec()))
        .part("httpd-2.4.68.tar.gz.sha512", reqwest::multipart::Part::bytes(b"checksum".to_vec()));
    let (status, body) = app
        .send(app.client.post(app.url("/api/v1/releases/httpd/2.4.68/revisions")).bearer_auth(&rm).multipart(form))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

fn expire_lease(app: &TestApp, task_id: i64) {
    app.db(|c| {
        use datastore::db::schema::task;
        use diesel::prelude::*;
        diesel::update(task::table.find(task_id))
            .set((task::lease_expires_at.eq(1i64), task::not_before.eq(0i64)))
            .execute(c)
            .unwrap();
    });
}

fn reap(app: &TestApp) {
    app.db(|c| datastore::domain::tasks::reap(c).unwrap());
    // Requeued tasks wait out their backoff; the tests do not.
    app.db(|c| {
        use datastore::db::schema::task;
        use diesel::prelude::*;
        diesel::update(task::table.filter(task::status.eq("queued")))
            .set(task::not_before.eq(0i64))
            .execute(c)
            .unwrap();
    });
}

async fn claims_are_exclusive_and_fenced(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    release_with_files(&app).await;
    let (a, b) = (runner(&app, "runner-a").await, runner(&app, "runner-b").await);

    // Credentials: a user's JWT or a wrong token is not a runner.
    let user = app.admin();
    assert_eq!(claim(&app, &user, 1).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(claim(&app, "trr_wrong", 1).await.0, StatusCode::UNAUTHORIZED);

    // Concurrent claims share the six tasks out without overlap, never beyond capacity.
    let (first, second) = tokio::join!(claim(&app, &a, 4), claim(&app, &b, 4));
    let ids = |claimed: &Value| {
        claimed["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect::<Vec<_>>()
    };
    let (ids_a, ids_b) = (ids(&first.1), ids(&second.1));
    assert!(ids_a.len() <= 4 && ids_b.len() <= 4);
    assert_eq!(ids_a.len() + ids_b.len(), 6, "{first:?} {second:?}");
    assert!(ids_a.iter().all(|id| !ids_b.contains(id)), "no task is held twice");
    let order = &first.1["tasks"][0];
    for field in [
        "id",
        "kind",
        "attempt",
        "lease_token",
        "lease_expires_at",
        "renew_every_s",
        "deadline",
        "release",
        "inputs",
        "args",
        "policy",
    ] {
        assert!(!order[field].is_null(), "a task order carries {field}: {order}");
    }
    let orders = first.1["tasks"].as_array().unwrap().iter().chain(second.1["tasks"].as_array().unwrap());
    for order in orders {
        let release = &order["release"];
        assert_eq!(
            (release["project"].as_str(), release["version"].as_str(), release["revision"].as_i64()),
            (Some("httpd"), Some("2.4.68"), Some(1)),
            "every order names the release and the revision it checks: {order}"
        );
    }
    assert_eq!(order["renew_every_s"], 20, "a third of the 60 s lease");

    // Nothing left: the long poll answers 204 after its wait.
    let started = std::time::Instant::now();
    assert_eq!(claim(&app, &a, 1).await.0, StatusCode::NO_CONTENT);
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));

    // Renewal with the right token works; with another runner's token it is 409.
    let id = order["id"].as_i64().unwrap();
    let token = order["lease_token"].as_str().unwrap();
    let renew = |lease: &str| {
        app.client
            .post(app.url(&format!("/api/runner/v1/tasks/{id}/lease")))
            .bearer_auth(&a)
            .json(&json!({"lease_token": lease, "progress": "halfway"}))
    };
    let (status, renewed) = app.send(renew(token)).await;
    assert_eq!((status, renewed["cancel"].as_bool()), (StatusCode::OK, Some(false)), "{renewed}");
    app.expect_error(renew("trl_stale"), StatusCode::CONFLICT, "lease_lost").await;
    let (_, task) = app.send(app.client.get(app.url(&format!("/api/v1/tasks/{id}"))).bearer_auth(app.admin())).await;
    assert_eq!((task["progress"].as_str(), task["runner"].as_str()), (Some("halfway"), Some("runner-a")));
}

async fn the_reaper_requeues_then_fails_lost_tasks(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    release_with_files(&app).await;
    let token = runner(&app, "runner-a").await;
    let (_, claimed) = claim(&app, &token, 1).await;
    let first = &claimed["tasks"][0];
    let id = first["id"].as_i64().unwrap();
    let stale_token = first["lease_token"].as_str().unwrap().to_owned();
    assert_eq!(first["attempt"], 1);

    // The runner goes quiet: the reaper returns the task, and the old token is fenced off.
    expire_lease(&app, id);
    reap(&app);
    let (_, task) = app.send(app.client.get(app.url(&format!("/api/v1/tasks/{id}"))).bearer_auth(app.admin())).await;
    assert_eq!(task["status"], "queued");
    let late = json!({"lease_token": stale_token, "status": "completed", "results": []});
    app.expect_error(
        app.client.post(app.url(&format!("/api/runner/v1/tasks/{id}/result"))).bearer_auth(&token).json(&late),
        StatusCode::CONFLICT,
        "lease_lost",
    )
    .await;

    // Claimed again (attempt 2), lost again, and again: after max_attempts it fails visibly.
    for attempt in 2..=3 {
        let (_, claimed) = claim(&app, &token, 6).await;
        let again = claimed["tasks"].as_array().unwrap().iter().find(|t| t["id"] == id).cloned().unwrap();
        assert_eq!(again["attempt"], attempt);
        expire_lease(&app, id);
        reap(&app);
    }
    let (_, task) = app.send(app.client.get(app.url(&format!("/api/v1/tasks/{id}"))).bearer_auth(app.admin())).await;
    assert_eq!((task["status"].as_str(), task["error"].as_str()), (Some("failed"), Some("runner_lost")), "{task}");
    let (_, report) =
        app.send(app.client.get(app.url("/api/v1/releases/httpd/2.4.68/checks")).bearer_auth(app.admin())).await;
    let error = report["results"].as_array().unwrap().iter().find(|r| r["status"] == "error").unwrap();
    assert!(error["message"].as_str().unwrap().contains("runner_lost"), "{error}");

    // An admin retries it: queued again with a clean slate.
    let retry = app.client.post(app.url(&format!("/api/v1/tasks/{id}/retry"))).bearer_auth(app.admin());
    assert_eq!(app.send(retry).await.0, StatusCode::NO_CONTENT);
    let (_, task) = app.send(app.client.get(app.url(&format!("/api/v1/tasks/{id}"))).bearer_auth(app.admin())).await;
    assert_eq!((task["status"].as_str(), task["attempt"].as_i64()), (Some("queued"), Some(0)));
    let (_, report) =
        app.send(app.client.get(app.url("/api/v1/releases/httpd/2.4.68/checks")).bearer_auth(app.admin())).await;
    assert!(report["results"].as_array().unwrap().iter().all(|r| r["status"] != "error"));
}

async fn results_feed_the_checks_report(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    release_with_files(&app).await;
    let token = runner(&app, "runner-a").await;
    let (_, report) =
        app.send(app.client.get(app.url("/api/v1/releases/httpd/2.4.68/checks")).bearer_auth(app.admin())).await;
    assert_eq!((report["complete"].as_bool(), report["revision"].as_i64()), (Some(false), Some(1)));

    let (_, claimed) = claim(&app, &token, 6).await;
    for order in claimed["tasks"].as_array().unwrap() {
        let id = order["id"].as_i64().unwrap();
        let kind = order["kind"].as_str().unwrap();
        let result = json!({
            "checker": kind, "checker_version": "1", "path": order["inputs"][0]["path"], "status": "success",
            "message": format!("{kind} is fine"), "data": {"rule": "X1"}
        });
        let body = json!({"lease_token": order["lease_token"], "status": "completed", "results": [result]});
        let submit =
            || app.client.post(app.url(&format!("/api/runner/v1/tasks/{id}/result"))).bearer_auth(&token).json(&body);
        let (status, first) = app.send(submit()).await;
        assert_eq!((status, first["accepted"].as_bool()), (StatusCode::OK, Some(true)), "{first}");
        // The same result again (a retried call): acknowledged, not stored twice.
        let (status, again) = app.send(submit()).await;
        assert_eq!((status, again["accepted"].as_bool()), (StatusCode::OK, Some(false)));
    }
    let (_, report) =
        app.send(app.client.get(app.url("/api/v1/releases/httpd/2.4.68/checks")).bearer_auth(app.admin())).await;
    assert_eq!(report["complete"], true, "{report}");
    assert_eq!(report["summary"]["success"], 6);
    assert_eq!(report["results"].as_array().unwrap().len(), 6);

    // A wrong checker or a "waived" verdict from a runner is refused.
    let rm = app.user("rm2", false, &[("httpd", Role::ReleaseManager)]);
    app.upload(&rm, "httpd/2.4.68", "NOTES.txt", b"notes".to_vec()).await;
    let (_, claimed) = claim(&app, &token, 1).await;
    let order = &claimed["tasks"][0];
    let id = order["id"].as_i64().unwrap();
    let wrong = json!({"lease_token": order["lease_token"], "status": "completed", "results": [{
        "checker": "rat", "checker_version": "1", "path": "x", "status": "waived", "message": "no"
    }]});
    app.expect_error(
        app.client.post(app.url(&format!("/api/runner/v1/tasks/{id}/result"))).bearer_auth(&token).json(&wrong),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_result",
    )
    .await;
    // A failed attempt is queued again with its error, not stored as a verdict.
    let failed = json!({"lease_token": order["lease_token"], "status": "failed", "error": "disk full"});
    let (_, outcome) = app
        .send(app.client.post(app.url(&format!("/api/runner/v1/tasks/{id}/result"))).bearer_auth(&token).json(&failed))
        .await;
    assert_eq!(outcome["status"], "queued");
    let (_, task) = app.send(app.client.get(app.url(&format!("/api/v1/tasks/{id}"))).bearer_auth(app.admin())).await;
    assert_eq!(task["error"], "disk full");
    let (_, tasks) = app
        .send(app.client.get(app.url("/api/v1/tasks?release=httpd/2.4.68&status=completed")).bearer_auth(app.admin()))
        .await;
    assert_eq!(tasks["page"]["total"], 6);
}

async fn logs_blobs_and_cancellation(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    release_with_files(&app).await;
    let token = runner(&app, "runner-a").await;
    let other = runner(&app, "runner-b").await;
    let (_, claimed) = claim(&app, &token, 6).await;
    let order = claimed["tasks"].as_array().unwrap().iter().find(|t| t["kind"] == "archive").cloned().unwrap();
    let id = order["id"].as_i64().unwrap();
    let lease = order["lease_token"].as_str().unwrap();

    // Logs: numbered from 0, repeats ignored, gaps refused with the expected number.
    let log = |seq: i32| {
        app.client
            .post(app.url(&format!("/api/runner/v1/tasks/{id}/log")))
            .bearer_auth(&token)
            .json(&json!({"lease_token": lease, "seq": seq, "text": format!("line {seq}")}))
    };
    assert_eq!(app.send(log(0)).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.send(log(0)).await.0, StatusCode::NO_CONTENT);
    let gap = app.expect_error(log(5), StatusCode::CONFLICT, "log_gap").await;
    assert_eq!(gap["details"]["expected_seq"], 1);

    // Blobs: the leased task's inputs only, to the runner holding it, with ranges.
    let sha = order["inputs"][0]["sha256"].as_str().unwrap();
    let blob = |runner: &str| app.client.get(app.url(&format!("/api/runner/v1/blobs/{sha}"))).bearer_auth(runner);
    let response = blob(&token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"tarball");
    let response = blob(&token).header("Range", "bytes=0-2").send().await.unwrap();
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"tar");
    app.expect_error(blob(&other), StatusCode::FORBIDDEN, "forbidden").await;
    app.expect_error(
        app.client.get(app.url("/api/runner/v1/blobs/%2E%2E%2Fetc")).bearer_auth(&token),
        StatusCode::BAD_REQUEST,
        "invalid_digest",
    )
    .await;
    let (status, _) =
        app.send(app.client.get(app.url("/api/runner/v1/committees/httpd/KEYS")).bearer_auth(&token)).await;
    assert_eq!(status, StatusCode::OK);

    // An admin cancels the task: the next renewal tells the runner to stop.
    let cancel = app.client.post(app.url(&format!("/api/v1/tasks/{id}/cancel"))).bearer_auth(app.admin());
    assert_eq!(app.send(cancel).await.0, StatusCode::NO_CONTENT);
    let (status, renewed) = app
        .send(
            app.client
                .post(app.url(&format!("/api/runner/v1/tasks/{id}/lease")))
                .bearer_auth(&token)
                .json(&json!({"lease_token": lease})),
        )
        .await;
    assert_eq!((status, renewed["cancel"].as_bool()), (StatusCode::OK, Some(true)));
    let committer = app.user("dev", false, &[("httpd", Role::Committer)]);
    app.expect_error(
        app.client.post(app.url(&format!("/api/v1/tasks/{id}/retry"))).bearer_auth(&committer),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}
