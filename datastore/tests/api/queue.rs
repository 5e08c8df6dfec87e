//! The task queue's fence under pressure: many threads claiming at once, renewals racing the
//! reaper, results that arrive too late or from the wrong runner, cancellations, `error`
//! results that must not be reused, and a runner that hangs up in the middle of its claim.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

use datastore::db::models::{NewTask, RunnerRow};
use datastore::db::queries::tasks as q;
use datastore::domain::tasks::{self, LeaseTerms};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;
use shared_models::api::Role;
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;

on_both_backends!(
    eight_threads_claim_five_hundred_tasks_each_exactly_once,
    a_renewal_racing_the_reaper_never_both_win,
    a_late_result_is_refused_and_stores_nothing,
    another_runner_s_token_is_refused,
    completed_without_results_is_refused_and_can_be_retried,
    a_cancelled_task_is_not_reaped,
    an_error_result_is_not_reused,
    a_claim_whose_runner_hung_up_leases_nothing,
);

const TERMS: LeaseTerms = LeaseTerms { lease_ms: 60_000, deadline_ms: 900_000 };

/// A registered runner's row and token.
fn runner(app: &TestApp, name: &str) -> (RunnerRow, String) {
    app.db(|c| {
        let (_, token) = datastore::domain::tokens::register_runner(c, "test", name).unwrap();
        let hash = datastore::auth::secrets::hash(&token);
        (datastore::db::queries::auth::runner_by_token(c, &hash).unwrap().unwrap(), token)
    })
}

/// Queues `n` `paths` tasks of no release, each with its own identity.
fn queue(app: &TestApp, n: usize, tag: &str) -> Vec<i64> {
    app.db(|c| {
        datastore::db::write_transaction(c, |c| {
            (0..n)
                .map(|i| {
                    let task = NewTask {
                        kind: "paths".into(),
                        release_id: None,
                        revision_seq: None,
                        checker_version: Some("1".into()),
                        path: String::new(),
                        args: "{}".into(),
                        inputs: "[]".into(),
                        inputs_hash: format!("{tag}-{i}"),
                        policy_hash: String::new(),
                        status: "queued".into(),
                        priority: 0,
                        max_attempts: 3,
                        not_before: 0,
                        created_at: 0,
                    };
                    Ok(q::enqueue_unless_known(c, &task)?.unwrap())
                })
                .collect::<Result<Vec<i64>, diesel::result::Error>>()
        })
        .unwrap()
    })
}

fn kinds() -> Vec<String> {
    vec!["paths".to_owned()]
}

fn status_of(app: &TestApp, id: i64) -> String {
    app.db(|c| q::find(c, id).unwrap().unwrap().status)
}

async fn eight_threads_claim_five_hundred_tasks_each_exactly_once(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| c.db_pool_size = 10).await else { return };
    let (row, _) = runner(&app, "stress");
    let queued: BTreeSet<i64> = queue(&app, 500, "stress").into_iter().collect();
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (db, row, start) = (app.state.db.clone(), row.clone(), start.clone());
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                let mut conn = db.conn().unwrap();
                start.wait();
                loop {
                    let orders = tasks::claim(&mut conn, &row, &kinds(), 7, TERMS, &|| false).unwrap();
                    if orders.is_empty() {
                        return mine;
                    }
                    mine.extend(orders.into_iter().map(|o| (o.id, o.lease_token)));
                }
            })
        })
        .collect();
    let claims: Vec<(i64, String)> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let ids: BTreeSet<i64> = claims.iter().map(|(id, _)| *id).collect();
    assert_eq!(claims.len(), 500, "500 claims in all, none twice");
    assert_eq!(ids, queued, "every task claimed exactly once");
    let tokens: BTreeSet<&str> = claims.iter().map(|(_, token)| token.as_str()).collect();
    assert_eq!(tokens.len(), 500, "each lease has a token of its own");
    let leased: i64 = app.db(|c| {
        use datastore::db::schema::task;
        task::table.filter(task::status.eq("leased")).filter(task::attempt.eq(1)).count().get_result(c).unwrap()
    });
    assert_eq!(leased, 500);
}

/// The lease of `id` is made to run out about now, by the database's clock.
fn expire_about_now(app: &TestApp, id: i64, in_ms: i64) {
    app.db(|c| {
        use datastore::db::schema::task;
        let now = q::db_now(c).unwrap();
        diesel::update(task::table.find(id)).set(task::lease_expires_at.eq(now + in_ms)).execute(c).unwrap();
    });
}

async fn a_renewal_racing_the_reaper_never_both_win(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| c.db_pool_size = 6).await else { return };
    let (row, _) = runner(&app, "racer");
    let ids = queue(&app, 150, "race");
    let (mut renewed, mut reaped) = (0, 0);
    // Leases that ran out, run out now, or are about to: the close ones are a race, decided
    // differently from run to run; the ends are decided (the reaper wins, the renewal wins).
    let offsets_ms = [-1, 0, 1, 2, 5, 1000];
    for (i, id) in ids.into_iter().enumerate() {
        let order = app.db(|c| tasks::claim(c, &row, &kinds(), 1, TERMS, &|| false).unwrap().remove(0));
        assert_eq!(order.id, id);
        expire_about_now(&app, id, offsets_ms[i % offsets_ms.len()]);
        let start = Arc::new(Barrier::new(2));
        let renewal = {
            let (db, row, start, token) = (app.state.db.clone(), row.clone(), start.clone(), order.lease_token.clone());
            std::thread::spawn(move || {
                let mut conn = db.conn().unwrap();
                start.wait();
                tasks::renew(&mut conn, &row, id, &token, None, TERMS).is_ok()
            })
        };
        let reaper = {
            let (db, start) = (app.state.db.clone(), start.clone());
            std::thread::spawn(move || {
                let mut conn = db.conn().unwrap();
                start.wait();
                tasks::reap(&mut conn).unwrap()
            })
        };
        let renew_won = renewal.join().unwrap();
        let reaper_won = reaper.join().unwrap().requeued == 1;
        let status = status_of(&app, id);
        assert!(!(renew_won && reaper_won), "task {id} was renewed and requeued");
        match (renew_won, reaper_won) {
            (true, _) => {
                assert_eq!(status, "leased", "task {id}");
                renewed += 1;
            }
            (_, true) => {
                assert_eq!(status, "queued", "task {id}");
                reaped += 1;
            }
            // The reaper came just before the lease ran out, the renewal just after: the next
            // pass of the reaper takes it.
            (false, false) => {
                assert_eq!(app.db(|c| tasks::reap(c).unwrap()).requeued, 1, "task {id}");
                reaped += 1;
            }
        }
        app.db(|c| q::cancel(c, id).unwrap()); // out of the way of the next rounds
    }
    eprintln!("renewal won {renewed} times, the reaper {reaped} times");
    assert!(renewed > 0 && reaped > 0, "both outcomes were tried: {renewed} renewed, {reaped} reaped");
    // An expired lease cannot be renewed, with or without the reaper.
    let id = queue(&app, 1, "expired")[0];
    let order = app.db(|c| tasks::claim(c, &row, &kinds(), 1, TERMS, &|| false).unwrap().remove(0));
    expire_about_now(&app, id, -1);
    let refused = app.db(|c| tasks::renew(c, &row, id, &order.lease_token, None, TERMS).unwrap_err());
    assert_eq!((refused.status.as_u16(), refused.code), (409, "lease_lost"));
    let counts = app.db(|c| tasks::reap(c).unwrap());
    assert_eq!((counts.requeued, counts.failed), (1, 0));
}

/// A runner token from the admin API, and one claimed task's order.
async fn runner_with_task(app: &TestApp, name: &str) -> (String, serde_json::Value) {
    let (status, body) = app
        .send(app.client.post(app.url("/api/v1/admin/runners")).bearer_auth(app.admin()).json(&json!({"name": name})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let (status, claimed) = app
        .send(app.client.post(app.url("/api/runner/v1/claim")).bearer_auth(&token).json(&json!({
            "runner": name, "version": "0", "kinds": ["paths"], "capacity": 1, "wait_s": 1
        })))
        .await;
    match status {
        StatusCode::OK => (token, claimed["tasks"][0].clone()),
        StatusCode::NO_CONTENT => (token, serde_json::Value::Null),
        other => panic!("claim: {other} {claimed}"),
    }
}

fn result_for(order: &serde_json::Value, results: serde_json::Value) -> serde_json::Value {
    json!({"lease_token": order["lease_token"], "status": "completed", "results": results})
}

fn one_result() -> serde_json::Value {
    json!([{"checker": "paths", "checker_version": "1", "path": "", "status": "success", "message": "fine"}])
}

fn stored_results(app: &TestApp) -> i64 {
    app.db(|c| {
        use datastore::db::schema::check_result;
        check_result::table.count().get_result(c).unwrap()
    })
}

async fn a_late_result_is_refused_and_stores_nothing(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    queue(&app, 1, "late");
    let (token, order) = runner_with_task(&app, "slow").await;
    let id = order["id"].as_i64().unwrap();
    // The lease runs out; the reaper has not come by yet.
    expire_about_now(&app, id, -1);
    let submit = app
        .client
        .post(app.url(&format!("/api/runner/v1/tasks/{id}/result")))
        .bearer_auth(&token)
        .json(&result_for(&order, one_result()));
    app.expect_error(submit, StatusCode::CONFLICT, "lease_lost").await;
    assert_eq!(stored_results(&app), 0, "nothing was stored");
    assert_eq!(status_of(&app, id), "leased", "the reaper, not the late runner, decides what happens to it");
    let renew = app
        .client
        .post(app.url(&format!("/api/runner/v1/tasks/{id}/lease")))
        .bearer_auth(&token)
        .json(&json!({"lease_token": order["lease_token"]}));
    app.expect_error(renew, StatusCode::CONFLICT, "lease_lost").await;
}

async fn another_runner_s_token_is_refused(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    queue(&app, 1, "theft");
    let (_, order) = runner_with_task(&app, "owner").await;
    let id = order["id"].as_i64().unwrap();
    let (thief, nothing) = runner_with_task(&app, "thief").await;
    assert!(nothing.is_null(), "the only task is leased already");
    // The thief has the owner's lease token (a leak): it still cannot renew or report.
    let renew = app
        .client
        .post(app.url(&format!("/api/runner/v1/tasks/{id}/lease")))
        .bearer_auth(&thief)
        .json(&json!({"lease_token": order["lease_token"]}));
    app.expect_error(renew, StatusCode::CONFLICT, "lease_lost").await;
    let submit = app
        .client
        .post(app.url(&format!("/api/runner/v1/tasks/{id}/result")))
        .bearer_auth(&thief)
        .json(&result_for(&order, one_result()));
    app.expect_error(submit, StatusCode::CONFLICT, "lease_lost").await;
    let log = app
        .client
        .post(app.url(&format!("/api/runner/v1/tasks/{id}/log")))
        .bearer_auth(&thief)
        .json(&json!({"lease_token": order["lease_token"], "seq": 0, "text": "mine now"}));
    app.expect_error(log, StatusCode::CONFLICT, "lease_lost").await;
    assert_eq!((status_of(&app, id), stored_results(&app)), ("leased".to_owned(), 0));
}

async fn completed_without_results_is_refused_and_can_be_retried(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    queue(&app, 1, "empty");
    let (token, order) = runner_with_task(&app, "lazy").await;
    let id = order["id"].as_i64().unwrap();
    let submit = |body: serde_json::Value| {
        app.client.post(app.url(&format!("/api/runner/v1/tasks/{id}/result"))).bearer_auth(&token).json(&body)
    };
    app.expect_error(submit(result_for(&order, json!([]))), StatusCode::UNPROCESSABLE_ENTITY, "no_results").await;
    assert_eq!(status_of(&app, id), "leased", "the refused report changed nothing");
    let (status, done) = app.send(submit(result_for(&order, one_result()))).await;
    assert_eq!((status, done["accepted"].as_bool()), (StatusCode::OK, Some(true)), "{done}");
    // An admin runs a completed task again: its results are forgotten and it is queued as new.
    let retry = app.client.post(app.url(&format!("/api/v1/tasks/{id}/retry"))).bearer_auth(app.admin());
    assert_eq!(app.send(retry).await.0, StatusCode::NO_CONTENT);
    assert_eq!((status_of(&app, id), stored_results(&app)), ("queued".to_owned(), 0));
    let twice = app.client.post(app.url(&format!("/api/v1/tasks/{id}/retry"))).bearer_auth(app.admin());
    app.expect_error(twice, StatusCode::CONFLICT, "task_not_finished").await;
}

async fn a_cancelled_task_is_not_reaped(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    queue(&app, 1, "cancel");
    let (token, order) = runner_with_task(&app, "busy").await;
    let id = order["id"].as_i64().unwrap();
    let cancel = app.client.post(app.url(&format!("/api/v1/tasks/{id}/cancel"))).bearer_auth(app.admin());
    assert_eq!(app.send(cancel).await.0, StatusCode::NO_CONTENT);
    let lease: Option<i64> = app.db(|c| q::find(c, id).unwrap().unwrap().lease_expires_at);
    assert_eq!(lease, None, "a cancelled task holds no lease");
    for _ in 0..3 {
        let counts = app.db(|c| tasks::reap(c).unwrap());
        assert_eq!((counts.requeued, counts.failed), (0, 0), "the reaper has nothing to do with it");
    }
    assert_eq!(status_of(&app, id), "cancelled");
    // The runner learns of it at its next renewal, and its late result changes nothing.
    let (status, renewed) = app
        .send(
            app.client
                .post(app.url(&format!("/api/runner/v1/tasks/{id}/lease")))
                .bearer_auth(&token)
                .json(&json!({"lease_token": order["lease_token"]})),
        )
        .await;
    assert_eq!((status, renewed["cancel"].as_bool()), (StatusCode::OK, Some(true)), "{renewed}");
    let (status, late) = app
        .send(
            app.client
                .post(app.url(&format!("/api/runner/v1/tasks/{id}/result")))
                .bearer_auth(&token)
                .json(&result_for(&order, one_result())),
        )
        .await;
    assert_eq!(
        (status, late["accepted"].as_bool(), late["status"].as_str()),
        (StatusCode::OK, Some(false), Some("cancelled"))
    );
    assert_eq!(stored_results(&app), 0);
}

/// A draft with one file, as a release manager made it.
async fn draft_with_a_file(app: &TestApp) -> String {
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "2.4.68").await;
    let (status, body) = app.upload(&rm, "httpd/2.4.68", "NOTES.txt", b"notes".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    rm
}

async fn an_error_result_is_not_reused(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let rm = draft_with_a_file(&app).await;
    let (token, order) = runner_with_task(&app, "flaky").await;
    let id = order["id"].as_i64().unwrap();
    // The check could not run: it reports an `error` (say, a checker bug met this file).
    let error = json!([{"checker": "paths", "checker_version": "1", "path": "", "status": "error",
        "message": "the checker crashed"}]);
    let (status, _) = app
        .send(
            app.client
                .post(app.url(&format!("/api/runner/v1/tasks/{id}/result")))
                .bearer_auth(&token)
                .json(&result_for(&order, error)),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let checks = || app.client.get(app.url("/api/v1/releases/httpd/2.4.68/checks")).bearer_auth(&rm);
    let (_, report) = app.send(checks()).await;
    assert_eq!((report["complete"].as_bool(), report["summary"]["error"].as_i64()), (Some(true), Some(1)), "{report}");
    // A new revision with the same paths has the same `paths` identity: the error is not its
    // verdict, so the check runs again.
    let (status, _) = app.upload(&rm, "httpd/2.4.68", "NOTES.txt", b"other notes".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, report) = app.send(checks()).await;
    assert_eq!(report["complete"], false, "the check is pending again: {report}");
    let (steady, again) = runner_with_task(&app, "steady").await;
    assert_eq!(again["kind"], "paths");
    assert_ne!(again["id"], order["id"], "a new task, not the finished one");
    let (status, stored) = app
        .send(
            app.client
                .post(app.url(&format!("/api/runner/v1/tasks/{}/result", again["id"])))
                .bearer_auth(&steady)
                .json(&result_for(&again, one_result())),
        )
        .await;
    assert_eq!((status, stored["accepted"].as_bool()), (StatusCode::OK, Some(true)), "{stored}");
    let (_, report) = app.send(checks()).await;
    assert_eq!(report["complete"], true, "{report}");
    assert_eq!(report["summary"], json!({"success": 1}), "the verdict replaced the error: {report}");
}

async fn a_claim_whose_runner_hung_up_leases_nothing(backend: Backend) {
    use std::io::Write;
    let Some(app) = TestApp::start(backend).await else { return };
    let (status, body) = app
        .send(app.client.post(app.url("/api/v1/admin/runners")).bearer_auth(app.admin()).json(&json!({"name": "gone"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    // The runner asks for work, waits a moment, and hangs up (its process died, say).
    let claim = json!({"runner": "gone", "version": "0", "kinds": ["paths"], "capacity": 4, "wait_s": 5}).to_string();
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "POST /api/runner/v1/claim HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{claim}",
        claim.len()
    )
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    drop(stream);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // Work arrives after it left: nobody may hold it.
    let ids = queue(&app, 3, "orphan");
    app.state.wake_runners();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for id in ids {
        assert_eq!(status_of(&app, id), "queued", "task {id} was leased to a runner that hung up");
    }
}
