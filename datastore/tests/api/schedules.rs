//! The datastore's scheduled work as data: the jobs and their intervals come from the
//! configuration, admins see and trigger them, each run is taken by one process and recorded
//! (outcome, detail, an event); Apache's public data is imported from a directory and from a
//! real HTTP server on loopback, and a broken file imports nothing.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;
use shared_models::api::Role;
use testkit::{Backend, fixture, on_both_backends};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::TestApp;

on_both_backends!(
    jobs_come_from_the_configuration_and_only_admins_see_or_run_them,
    apache_data_is_imported_on_schedule_and_a_broken_file_imports_nothing,
    apache_data_is_fetched_over_http,
);

const FILES: [&str; 6] = [
    "committees.json",
    "retired_committees.json",
    "podlings.json",
    "projects.json",
    "ldap_projects.json",
    "groups.json",
];

fn copy_fixtures(to: &Path) {
    for name in FILES {
        std::fs::copy(fixture(&format!("asf-datasources/{name}")), to.join(name)).unwrap();
    }
}

fn configure(app: &TestApp) {
    let config = app.state.config.clone();
    app.db(|c| datastore::domain::schedules::configure(c, &config).unwrap());
}

async fn pass(app: &TestApp) -> usize {
    datastore::domain::schedules::pass(&app.state).await.unwrap()
}

async fn job(app: &TestApp, name: &str) -> Value {
    let (status, list) = app.get_as(Some(&app.admin()), "/api/v1/schedules").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["jobs"].as_array().unwrap().iter().find(|j| j["name"] == name).unwrap().clone()
}

async fn run_now(app: &TestApp, name: &str) -> (StatusCode, Value) {
    app.send(app.client.post(app.url(&format!("/api/v1/schedules/{name}/run"))).bearer_auth(app.admin())).await
}

async fn schedule_events(app: &TestApp) -> Vec<Value> {
    let (_, events) = app.get_as(Some(&app.admin()), "/api/v1/events?limit=1000").await;
    events["events"].as_array().unwrap().iter().filter(|e| e["action"] == "schedule.ran").cloned().collect()
}

async fn jobs_come_from_the_configuration_and_only_admins_see_or_run_them(backend: Backend) {
    let data = tempfile::tempdir().unwrap();
    copy_fixtures(data.path());
    let source = data.path().display().to_string();
    let Some(app) = TestApp::start_with(backend, |c| c.asf_data = Some(source)).await else { return };
    configure(&app);
    configure(&app); // a restart configures again, and changes nothing
    let asf = job(&app, "asf_refresh").await;
    assert_eq!(asf["interval_secs"], 86_400);
    assert!(asf["next_run_at"].as_str().is_some() && asf["last_outcome"].is_null(), "{asf}");
    assert_eq!(job(&app, "osv_refresh").await["interval_secs"], 0, "no OSV directory: off");
    assert_eq!(job(&app, "distribution_recheck").await["interval_secs"], 600);
    assert_eq!(pass(&app).await, 0, "nothing is due in the first seconds");

    app.project("httpd", false).await;
    let pmc = app.user("pmc", false, &[("httpd", Role::PmcMember)]);
    for jwt in [None, Some(pmc.as_str())] {
        let (status, _) = app.get_as(jwt, "/api/v1/schedules").await;
        assert!(matches!(status.as_u16(), 401 | 403), "{status}");
        let mut request = app.client.post(app.url("/api/v1/schedules/asf_refresh/run"));
        if let Some(jwt) = jwt {
            request = request.bearer_auth(jwt);
        }
        let (status, _) = app.send(request).await;
        assert!(matches!(status.as_u16(), 401 | 403), "{status}");
    }
    let (status, body) = run_now(&app, "osv_refresh").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("job_off")), "{body}");
    let (status, _) = run_now(&app, "nightly_backup").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(schedule_events(&app).await.is_empty(), "refused requests ran nothing");

    // Two processes find the same due job: one takes it.
    let (status, _) = run_now(&app, "asf_refresh").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let row = app.db(|c| datastore::db::queries::schedules::find(c, "asf_refresh").unwrap().unwrap());
    let now = datastore::db::now_ms();
    let lease = 30 * 60_000;
    assert!(app.db(|c| datastore::db::queries::schedules::take(c, &row, now, lease).unwrap()));
    assert!(!app.db(|c| datastore::db::queries::schedules::take(c, &row, now, lease).unwrap()), "taken once");
    assert_eq!(pass(&app).await, 0, "the taken run is not run again by the loop");
    // Taken and never finished (its process died): shown as running, and due again within the
    // run's lease, not a day later.
    let asf = job(&app, "asf_refresh").await;
    assert_eq!(asf["running"], true, "{asf}");
    assert!(seconds_between(&asf["last_started_at"], &asf["next_run_at"]) <= 1800, "{asf}");
}

/// Seconds from one RFC 3339 time of a job to another.
fn seconds_between(from: &Value, to: &Value) -> i64 {
    let at = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    (at(to) - at(from)).num_seconds()
}

async fn apache_data_is_imported_on_schedule_and_a_broken_file_imports_nothing(backend: Backend) {
    let data = tempfile::tempdir().unwrap();
    copy_fixtures(data.path());
    std::fs::remove_file(data.path().join("groups.json")).unwrap();
    // Whimsy lists graduated podlings too: one is not made a podling.
    let mut podlings: Value =
        serde_json::from_slice(&std::fs::read(data.path().join("podlings.json")).unwrap()).unwrap();
    podlings["oldpod"] = serde_json::json!({"name": "Apache Old Pod", "status": "graduated", "podling": false});
    std::fs::write(data.path().join("podlings.json"), serde_json::to_vec(&podlings).unwrap()).unwrap();
    let source = data.path().display().to_string();
    let Some(app) = TestApp::start_with(backend, |c| c.asf_data = Some(source)).await else { return };
    configure(&app);
    let (status, _) = run_now(&app, "asf_refresh").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(pass(&app).await, 1);
    let asf = job(&app, "asf_refresh").await;
    assert_eq!(asf["last_outcome"], "success", "{asf}");
    assert_eq!((asf["runs"].as_u64(), asf["running"].as_bool()), (Some(1), Some(false)));
    assert!((86_399..=86_401).contains(&seconds_between(&asf["last_finished_at"], &asf["next_run_at"])), "{asf}");
    let detail = asf["last_detail"].as_str().unwrap();
    assert!(detail.starts_with("3 committees, 1 projects, 3 users, 6 memberships from "), "{detail}");
    assert!(detail.ends_with("; absent: groups.json"), "{detail}");
    let (_, amoro) = app.get_as(None, "/api/v1/committees/amoro").await;
    assert_eq!(amoro["podling"], true, "{amoro}");
    let (status, _) = app.get_as(None, "/api/v1/committees/oldpod").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a graduated podling is not imported as one");
    let events = schedule_events(&app).await;
    assert_eq!(events.len(), 1);
    assert_eq!((events[0]["actor"].as_str(), events[0]["target"].as_str()), (Some("system"), Some("asf_refresh")));
    assert_eq!(events[0]["details"]["outcome"], "success");

    // A file that is not JSON: the run fails, says why, and imports nothing of the others.
    std::fs::write(data.path().join("committees.json"), b"{\"committees\": {\"newpmc\": ").unwrap();
    std::fs::write(
        data.path().join("podlings.json"),
        br#"{"newpod": {"name": "Apache New Pod (Incubating)", "pmc": "incubator", "podling": true}}"#,
    )
    .unwrap();
    let (status, _) = run_now(&app, "asf_refresh").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(pass(&app).await, 1);
    let asf = job(&app, "asf_refresh").await;
    assert_eq!((asf["last_outcome"].as_str(), asf["runs"].as_u64()), (Some("failure"), Some(2)), "{asf}");
    assert!(asf["last_detail"].as_str().unwrap().contains("committees.json is not JSON"), "{asf}");
    let retry = seconds_between(&asf["last_finished_at"], &asf["next_run_at"]);
    assert!((299..=301).contains(&retry), "a failed run is tried again in five minutes: {asf}");
    let (status, _) = app.get_as(None, "/api/v1/committees/newpod").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing of the run was imported");
    let events = schedule_events(&app).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["details"]["outcome"], "failure");
}

/// Serves the fixture files over HTTP/1.1 on loopback; `groups.json` is not there (404).
async fn data_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/public", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut request = vec![0u8; 8192];
                let read = socket.read(&mut request).await.unwrap_or(0);
                let line = String::from_utf8_lossy(&request[..read]).lines().next().unwrap_or("").to_owned();
                let name = line.split(' ').nth(1).and_then(|p| p.strip_prefix("/public/")).unwrap_or("").to_owned();
                let body = FILES
                    .iter()
                    .filter(|f| **f == name && name != "groups.json")
                    .find_map(|f| std::fs::read(fixture(&format!("asf-datasources/{f}"))).ok());
                let moved = line.split(' ').nth(1).is_some_and(|p| p.starts_with("/moved/"));
                let (status, body) = match body {
                    _ if moved => ("302 Found\r\nLocation: /public/committees.json", Vec::new()),
                    Some(body) => ("200 OK", body),
                    None => ("404 Not Found", b"no such file".to_vec()),
                };
                let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    base
}

async fn apache_data_is_fetched_over_http(backend: Backend) {
    // The files grant roles: plain HTTP only to a loopback mirror.
    let Some(remote) =
        TestApp::start_with(backend, |c| c.asf_data = Some("http://asf-data.example.org/public".into())).await
    else {
        return;
    };
    configure(&remote);
    run_now(&remote, "asf_refresh").await;
    assert_eq!(pass(&remote).await, 1);
    let refused = job(&remote, "asf_refresh").await;
    assert_eq!(refused["last_outcome"], "failure", "{refused}");
    assert!(refused["last_detail"].as_str().unwrap().contains("read over https:// only"), "{refused}");

    let base = data_server().await;
    let source = base.clone();
    let Some(app) = TestApp::start_with(backend, |c| c.asf_data = Some(source)).await else { return };
    configure(&app);
    let (status, _) = run_now(&app, "asf_refresh").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(pass(&app).await, 1);
    let asf = job(&app, "asf_refresh").await;
    assert_eq!(asf["last_outcome"], "success", "{asf}");
    let detail = asf["last_detail"].as_str().unwrap();
    assert!(detail.contains(&format!("3 committees, 1 projects, 3 users, 6 memberships from {base}")), "{detail}");
    assert!(detail.ends_with("absent: groups.json"), "{detail}");
    let (_, tooling) = app.get_as(None, "/api/v1/committees/tooling").await;
    assert_eq!(tooling["display_name"], "Tooling", "{tooling}");

    // A redirect is not followed (it could lead anywhere, over anything).
    let moved = base.replace("/public", "/moved");
    let Some(app) = TestApp::start_with(backend, |c| c.asf_data = Some(moved)).await else { return };
    configure(&app);
    run_now(&app, "asf_refresh").await;
    assert_eq!(pass(&app).await, 1);
    let refused = job(&app, "asf_refresh").await;
    assert!(refused["last_detail"].as_str().unwrap().contains("a redirect, which is not followed"), "{refused}");
}
