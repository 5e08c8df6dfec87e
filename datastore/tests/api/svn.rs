//! The dist repository's tasks as the datastore hands them out and takes their reports (the
//! runner's side, with the real svn clients, is tested in `runner` and in `tests/tests/svn.rs`):
//! a release and its archiving become svn tasks only with `DATASTORE_SVN_DIST`; an import is
//! asked for by who may compose the draft, and becomes a revision only of blobs its own task
//! uploaded under a live lease.

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_models::api::Role;
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;
use crate::lifecycle::{RELEASE, close_vote, finish_checks, post, upload_all, vote};

on_both_backends!(
    a_release_and_its_archiving_become_svn_tasks,
    without_svn_dist_nothing_goes_to_svn,
    a_release_revoked_before_it_reached_svn_never_goes_there,
    an_import_is_a_revision_of_the_blobs_its_task_uploaded,
);

/// The outbox's pass, as the datastore's background loop runs it every second.
fn dispatch(app: &TestApp) {
    let settings = app.state.outbound.clone();
    app.db(|c| datastore::domain::outbox::dispatch(c, &settings).unwrap());
}

async fn report(app: &TestApp, token: &str, order: &Value, result: Value) -> (StatusCode, Value) {
    let body = json!({"lease_token": order["lease_token"], "status": "completed", "results": [result]});
    let url = app.url(&format!("/api/runner/v1/tasks/{}/result", order["id"]));
    app.send(app.client.post(url).bearer_auth(token).json(&body)).await
}

fn verdict(kind: &str, status: &str, message: &str, data: Value) -> Value {
    json!({"checker": kind, "checker_version": "1", "path": "", "status": status, "message": message, "data": data})
}

async fn actions(app: &TestApp) -> Vec<Value> {
    let (_, events) = app.get_as(Some(&app.admin()), &format!("{RELEASE}/events")).await;
    events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("svn."))
        .cloned()
        .collect()
}

/// httpd 2.4.68 through its vote (three PMC members) to `current`.
async fn released(app: &TestApp) -> String {
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let pmc: Vec<String> =
        (1..=3).map(|n| app.user(&format!("pmc{n}"), false, &[("httpd", Role::PmcMember)])).collect();
    app.release(&rm, "httpd", "2.4.68").await;
    upload_all(app, &rm).await;
    finish_checks(app, "success").await;
    let (status, started) = app.send(post(app, &rm, "/vote/start", json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    for jwt in &pmc {
        vote(app, jwt, 1).await;
    }
    close_vote(app);
    let (status, body) = app.send(post(app, &rm, "/resolve", json!({"outcome": "passed"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.send(post(app, &rm, "/release", json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    rm
}

async fn a_release_and_its_archiving_become_svn_tasks(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| c.svn_dist = true).await else { return };
    let rm = released(&app).await;
    dispatch(&app);
    let svn = app.runner("svn").await;
    let claimed = app.claim(&svn, &["svn_publish", "svn_archive", "svn_import"]).await;
    assert_eq!(claimed.len(), 1, "one publication: {claimed:#?}");
    let order = &claimed[0];
    assert_eq!(order["kind"], "svn_publish");
    assert_eq!(order["args"]["folder"], "release/httpd/2.4.68");
    assert_eq!(order["args"]["keys_path"], "release/httpd/KEYS");
    assert_eq!(order["args"]["committee"], "httpd");
    let message = order["args"]["message"].as_str().unwrap();
    assert!(message.starts_with("Release Apache httpd 2.4.68 (httpd/2.4.68)"), "{message}");
    assert!(message.contains("released by rm"), "{message}");
    assert!(message.contains("Vote: round 1, on revision 1, passed: binding +1: 3, 0: 0, -1: 0"), "{message}");
    let inputs: Vec<&str> = order["inputs"].as_array().unwrap().iter().map(|i| i["path"].as_str().unwrap()).collect();
    assert_eq!(inputs, ["httpd-2.4.68.tar.gz", "httpd-2.4.68.tar.gz.asc", "httpd-2.4.68.tar.gz.sha512"]);
    // The runner reads the released bytes, as a check reads its inputs.
    let sha256 = order["inputs"][0]["sha256"].as_str().unwrap();
    let (status, _) =
        app.send(app.client.get(app.url(&format!("/api/runner/v1/blobs/{sha256}"))).bearer_auth(&svn)).await;
    assert_eq!(status, StatusCode::OK);
    // The outbox's next pass (or a restart that runs it again) makes no second task.
    dispatch(&app);
    assert!(app.claim(&svn, &["svn_publish"]).await.is_empty());

    // A result without its verdict is refused and the attempt stays open; then the commit.
    let (status, body) = report(&app, &svn, order, verdict("svn_publish", "warning", "?", json!({}))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_result")), "{body}");
    let data = json!({"folder": "release/httpd/2.4.68", "revision": 1234});
    let (status, body) = report(&app, &svn, order, verdict("svn_publish", "success", "3 files committed", data)).await;
    assert_eq!((status, body["accepted"].as_bool()), (StatusCode::OK, Some(true)), "{body}");
    let events = actions(&app).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["action"], "svn.published");
    assert_eq!(events[0]["actor"], "runner:svn");
    assert_eq!(events[0]["details"]["svn_revision"], 1234);
    assert_eq!(events[0]["details"]["folder"], "release/httpd/2.4.68");

    // Archived: the folder moves; a refusal is recorded as such.
    let pmc = app.user("pmc9", false, &[("httpd", Role::PmcMember)]);
    let (status, body) = app.send(post(&app, &pmc, "/archive", json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    dispatch(&app);
    let claimed = app.claim(&svn, &["svn_publish", "svn_archive"]).await;
    assert_eq!(claimed.len(), 1, "{claimed:#?}");
    assert_eq!(claimed[0]["args"]["from"], "release/httpd/2.4.68");
    assert_eq!(claimed[0]["args"]["to"], "archive/httpd/2.4.68");
    let refusal = verdict("svn_archive", "failure", "release/httpd/2.4.68 is not in the repository", json!({}));
    let (status, _) = report(&app, &svn, &claimed[0], refusal).await;
    assert_eq!(status, StatusCode::OK);
    let events = actions(&app).await;
    assert_eq!(events[1]["action"], "svn.archive_failed", "{events:#?}");
    assert!(events[1]["details"]["message"].as_str().unwrap().contains("not in the repository"));

    // Revoked from the archive: its folder there is removed.
    let (status, body) = app.send(post(&app, &rm, "/revoke", json!({"reason": "CVE-2099-0002"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    dispatch(&app);
    let claimed = app.claim(&svn, &["svn_publish", "svn_archive"]).await;
    assert_eq!(claimed.len(), 1, "{claimed:#?}");
    assert_eq!(claimed[0]["args"]["from"], "archive/httpd/2.4.68");
    assert!(claimed[0]["args"]["to"].is_null(), "removed, not moved");
    assert!(claimed[0]["args"]["message"].as_str().unwrap().contains("CVE-2099-0002"));
}

/// Revoked before its publication reached the repository: nothing goes there, and nothing
/// is removed from it.
async fn a_release_revoked_before_it_reached_svn_never_goes_there(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| c.svn_dist = true).await else { return };
    let rm = released(&app).await;
    let (status, body) = app.send(post(&app, &rm, "/revoke", json!({"reason": "CVE-2099-0003"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    dispatch(&app);
    let svn = app.runner("svn").await;
    assert!(app.claim(&svn, &["svn_publish", "svn_archive", "svn_import"]).await.is_empty());
}

async fn without_svn_dist_nothing_goes_to_svn(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    released(&app).await;
    dispatch(&app);
    let svn = app.runner("svn").await;
    assert!(app.claim(&svn, &["svn_publish", "svn_archive", "svn_import"]).await.is_empty());
}

async fn an_import_is_a_revision_of_the_blobs_its_task_uploaded(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| c.max_revision_files = 2).await else { return };
    app.project("httpd", false).await;
    app.project("tomcat", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let tomcat = app.user("cat", false, &[("tomcat", Role::PmcMember)]);
    let visitor = app.user("visitor", false, &[]);
    app.release(&rm, "httpd", "2.4.68").await;
    let (status, _) = app.upload(&rm, "httpd/2.4.68", "README", b"already here".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED);
    let import = |jwt: Option<&str>, folder: &str| {
        let request = app.client.post(app.url(&format!("{RELEASE}/import/svn"))).json(&json!({"folder": folder}));
        match jwt {
            Some(jwt) => request.bearer_auth(jwt),
            None => request,
        }
    };

    // Who may not ask, and folders that are not a candidate's of this project.
    app.expect_error(import(None, "dev/httpd/2.4.68"), StatusCode::UNAUTHORIZED, "unauthorized").await;
    app.expect_error(import(Some(&visitor), "dev/httpd/2.4.68"), StatusCode::NOT_FOUND, "not_found").await;
    app.expect_error(import(Some(&tomcat), "dev/httpd/2.4.68"), StatusCode::NOT_FOUND, "not_found").await;
    for folder in [
        "dev/tomcat/9.0",
        "release/httpd/2.4.68",
        "dev/httpd",
        "dev/httpd/../../etc",
        "dev/httpd/.svn",
        "dev/httpd/a//b",
    ] {
        app.expect_error(import(Some(&rm), folder), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    }
    let runner_token = app.runner("intruder").await;
    app.expect_error(
        app.client
            .post(app.url(&format!("{RELEASE}/import/svn")))
            .bearer_auth(&runner_token)
            .json(&json!({"folder": "dev/httpd/x"})),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    let (status, queued) = app.send(import(Some(&rm), "dev/httpd/2.4.68-rc1")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    // The same folder again while its import waits: one at a time.
    app.expect_error(import(Some(&rm), "dev/httpd/2.4.68-rc1"), StatusCode::CONFLICT, "import_running").await;
    let svn = app.runner("svn").await;
    let claim_import = || async {
        let claimed = app.claim(&svn, &["svn_import"]).await;
        assert_eq!(claimed.len(), 1, "{claimed:#?}");
        claimed[0].clone()
    };
    let order = claim_import().await;
    assert_eq!(order["id"], queued["task"]);
    assert_eq!(order["args"]["folder"], "dev/httpd/2.4.68-rc1");
    assert_eq!(order["args"]["requested_by"], "rm");
    assert_eq!(order["args"]["max_files"], 2, "DATASTORE_MAX_REVISION_FILES");
    let upload = |token: &str, order: &Value, lease: &str, bytes: &'static [u8]| {
        app.client
            .post(app.url(&format!("/api/runner/v1/tasks/{}/blobs", order["id"])))
            .bearer_auth(token)
            .header("X-Lease-Token", lease)
            .body(bytes)
    };
    let lease = order["lease_token"].as_str().unwrap();

    // Only the runner holding the lease uploads, and only for a task that makes files.
    app.expect_error(upload(&svn, &order, "wrong", b"x"), StatusCode::CONFLICT, "lease_lost").await;
    app.expect_error(upload(&runner_token, &order, lease, b"x"), StatusCode::CONFLICT, "lease_lost").await;
    app.expect_error(upload(&rm, &order, lease, b"x"), StatusCode::UNAUTHORIZED, "unauthorized").await;
    let checks = app.claim(&runner_token, &["paths"]).await;
    let check_lease = checks[0]["lease_token"].as_str().unwrap();
    app.expect_error(upload(&runner_token, &checks[0], check_lease, b"x"), StatusCode::FORBIDDEN, "forbidden").await;

    let (status, stored) = app.send(upload(&svn, &order, lease, b"the candidate's source")).await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["size"], 22);
    // At most as many uploads as the import takes files.
    let (status, _) = app.send(upload(&svn, &order, lease, b"a second file")).await;
    assert_eq!(status, StatusCode::CREATED);
    app.expect_error(upload(&svn, &order, lease, b"a third"), StatusCode::CONFLICT, "too_many_files").await;
    let file = |path: &str, blob: &Value| json!({"path": path, "sha256": blob["sha256"], "sha512": blob["sha512"], "size": blob["size"]});

    // A result naming a blob this task did not upload (README's, known to the datastore) fails
    // the import, and says why; so do other digests than were stored, and more files than the
    // import takes. The draft is untouched each time.
    let (_, listing) = app.get_as(Some(&rm), &format!("{RELEASE}/files")).await;
    let readme = listing["files"][0].clone();
    let mut lying = file("httpd-2.4.68.tar.gz", &stored);
    lying["sha512"] = json!("0".repeat(128));
    let too_many = vec![file("a", &stored), file("b", &stored), file("c", &stored)];
    let lies = [
        (vec![file("stolen", &readme)], "names a blob this task did not upload"),
        (vec![lying], "the reported digests are not those of the uploaded blob"),
        (too_many, "it takes at most 2 files"),
    ];
    let mut order = order;
    for (round, (files, why)) in lies.into_iter().enumerate() {
        if round > 0 {
            let (status, _) = app.send(import(Some(&rm), "dev/httpd/2.4.68-rc1")).await;
            assert_eq!(status, StatusCode::ACCEPTED);
            order = claim_import().await;
            let lease = order["lease_token"].as_str().unwrap();
            let (status, _) = app.send(upload(&svn, &order, lease, b"the candidate's source")).await;
            assert_eq!(status, StatusCode::CREATED);
        }
        let data = json!({"folder": "dev/httpd/2.4.68-rc1", "revision": 7, "files": files});
        let (status, body) = report(&app, &svn, &order, verdict("svn_import", "success", "read", data)).await;
        assert_eq!((status, body["accepted"].as_bool()), (StatusCode::OK, Some(true)), "{body}");
        let failed = actions(&app).await.into_iter().last().unwrap();
        assert_eq!(failed["action"], "svn.import_failed", "{failed}");
        assert!(failed["details"]["message"].as_str().unwrap().contains(why), "{why}: {failed}");
        let (_, now) = app.get_as(Some(&rm), &format!("{RELEASE}/files")).await;
        assert_eq!(now["revision"], 1, "{now}");
    }

    let (status, _) = app.send(import(Some(&rm), "dev/httpd/2.4.68-rc1")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let order = claim_import().await;
    let lease = order["lease_token"].as_str().unwrap();
    let (_, stored) = app.send(upload(&svn, &order, lease, b"the candidate's source")).await;
    let data =
        json!({"folder": "forged/by/the/runner", "revision": 7, "files": [file("httpd-2.4.68.tar.gz", &stored)]});
    let result = verdict("svn_import", "success", "1 files of dev/httpd/2.4.68-rc1 read at r7", data);
    let (status, body) = report(&app, &svn, &order, result.clone()).await;
    assert_eq!((status, body["accepted"].as_bool()), (StatusCode::OK, Some(true)), "{body}");
    let (status, body) = report(&app, &svn, &order, result).await;
    assert_eq!((status, body["accepted"].as_bool()), (StatusCode::OK, Some(false)), "a repeated report: {body}");
    let (_, listing) = app.get_as(Some(&rm), &format!("{RELEASE}/files")).await;
    assert_eq!(listing["revision"], 2, "{listing}");
    let names: Vec<&str> = listing["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(names, ["README", "httpd-2.4.68.tar.gz"], "the import adds to the draft");
    let (_, revisions) = app.get_as(Some(&rm), &format!("{RELEASE}/revisions")).await;
    let latest = revisions["revisions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(latest["description"], "import dev/httpd/2.4.68-rc1 at r7", "{latest}");
    assert_eq!(latest["created_by"], "rm", "the revision is the requester's: {latest}");
    let events = actions(&app).await;
    let names: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(names.iter().filter(|a| **a == "svn.import_requested").count(), 4);
    let imported = events.last().unwrap();
    assert_eq!(imported["action"], "svn.imported");
    assert_eq!(imported["details"]["revision"], 2);
    assert_eq!(imported["details"]["folder"], "dev/httpd/2.4.68-rc1", "the order's folder, not the runner's");

    // Not a draft: refused before any runner is asked.
    app.set_phase("httpd", "2.4.68", "candidate");
    app.expect_error(import(Some(&rm), "dev/httpd/2.4.68-rc2"), StatusCode::CONFLICT, "wrong_phase").await;
}
