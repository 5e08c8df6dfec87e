//! The lifecycle through the API as its people use it: a release manager starts the vote, PMC
//! members, a committer and outsiders cast ballots, the vote is resolved, files are renamed in
//! preview, the voted bytes are released and later revoked; and every refusal on the way.

use checks::digest::{Sha256, Sha512};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_models::api::Role;
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;

on_both_backends!(
    a_release_is_voted_released_and_revoked,
    a_failed_vote_returns_to_draft_and_the_next_round_starts_afresh,
    failures_block_the_vote_and_manual_mode_needs_a_reason,
    a_mail_vote_is_tallied_from_its_thread,
    waivers_let_failures_pass_but_never_fixed_rules,
    auto_resolve_passes_only_a_vote_that_passes,
    a_signed_ballot_holds_only_for_its_own_text_and_voter,
    a_podling_votes_first_then_the_incubator_with_its_votes_carried_over,
    a_thread_fetched_by_a_runner_is_tallied_like_a_posted_one,
    the_bytes_of_a_file_say_where_they_were_voted_and_published,
);

pub(crate) const RELEASE: &str = "/api/v1/releases/httpd/2.4.68";

/// The files of the release: a tarball, its signature and checksum.
pub(crate) fn files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("httpd-2.4.68.tar.gz", b"the tarball".to_vec()),
        ("httpd-2.4.68.tar.gz.asc", b"the signature".to_vec()),
        ("httpd-2.4.68.tar.gz.sha512", b"the checksum".to_vec()),
    ]
}

pub(crate) async fn upload_all(app: &TestApp, jwt: &str) {
    let mut form = reqwest::multipart::Form::new();
    for (name, bytes) in files() {
        form = form.part(name, reqwest::multipart::Part::bytes(bytes));
    }
    let (status, body) =
        app.send(app.client.post(app.url(&format!("{RELEASE}/revisions"))).bearer_auth(jwt).multipart(form)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Acts as a runner: claims every queued task and reports `status` for each.
pub(crate) async fn finish_checks(app: &TestApp, status: &str) -> usize {
    finish_checks_under(app, status, "T1").await
}

/// Like [`finish_checks`], with every result naming `rule`.
async fn finish_checks_under(app: &TestApp, status: &str, rule: &str) -> usize {
    let token = app.runner(&format!("runner-{}", rand_suffix())).await;
    let mut done = 0;
    loop {
        let claimed = app.claim(&token, &["paths", "hashing", "signature", "archive", "license", "rat"]).await;
        if claimed.is_empty() {
            return done;
        }
        for order in &claimed {
            let kind = order["kind"].as_str().unwrap();
            let result = json!({
                "checker": kind, "checker_version": "1", "path": order["inputs"][0]["path"], "status": status,
                "message": format!("{kind}: {status}"), "data": {"rule": rule}
            });
            let body = json!({"lease_token": order["lease_token"], "status": "completed", "results": [result]});
            let url = app.url(&format!("/api/runner/v1/tasks/{}/result", order["id"]));
            let (code, answer) = app.send(app.client.post(url).bearer_auth(&token).json(&body)).await;
            assert_eq!(code, StatusCode::OK, "{answer}");
            done += 1;
        }
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The vote's minimum time passes (the tests do not wait 72 hours).
pub(crate) fn close_vote(app: &TestApp) {
    app.db(|c| {
        use datastore::db::schema::release;
        use diesel::prelude::*;
        diesel::update(release::table.filter(release::version.eq("2.4.68")))
            .set(release::vote_closes_at.eq(datastore::db::now_ms() - 1))
            .execute(c)
            .unwrap();
    });
}

pub(crate) fn post(app: &TestApp, jwt: &str, path: &str, body: Value) -> reqwest::RequestBuilder {
    post_at(app, jwt, RELEASE, path, body)
}

fn post_at(app: &TestApp, jwt: &str, release: &str, path: &str, body: Value) -> reqwest::RequestBuilder {
    app.client.post(app.url(&format!("{release}{path}"))).bearer_auth(jwt).json(&body)
}

pub(crate) async fn vote(app: &TestApp, jwt: &str, value: i32) -> Value {
    let (status, ballot) = app.send(post(app, jwt, "/votes", json!({"value": value}))).await;
    assert_eq!(status, StatusCode::CREATED, "{ballot}");
    ballot
}

/// The digest as docs/LIFECYCLE.md says to recompute it from a file listing.
fn digest_of(files: &[(String, usize, String)]) -> String {
    let mut lines: Vec<String> =
        files.iter().map(|(path, size, sha512)| format!("{path}\t{size}\t{sha512}\n")).collect();
    lines.sort();
    let mut hasher = Sha256::default();
    for line in lines {
        hasher.update(line.as_bytes());
    }
    hasher.finish_hex()
}

fn sha512(bytes: &[u8]) -> String {
    let mut hasher = Sha512::default();
    hasher.update(bytes);
    hasher.finish_hex()
}

async fn a_release_is_voted_released_and_revoked(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    app.project("tomcat", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let pmc: Vec<String> =
        (1..=3).map(|n| app.user(&format!("pmc{n}"), false, &[("httpd", Role::PmcMember)])).collect();
    let committer = app.user("dev", false, &[("httpd", Role::Committer)]);
    let tomcat_pmc = app.user("cat", false, &[("tomcat", Role::PmcMember)]);
    let visitor = app.user("visitor", false, &[]);
    app.release(&rm, "httpd", "2.4.68").await;
    upload_all(&app, &rm).await;

    // Before the checks have run, the vote cannot start, and says why.
    let refused =
        app.expect_error(post(&app, &rm, "/vote/start", json!({})), StatusCode::CONFLICT, "vote_blocked").await;
    assert!(refused["details"]["blockers"][0].as_str().unwrap().contains("checks are still running"), "{refused}");
    assert!(finish_checks(&app, "success").await >= 3);

    // A committer may not start it; a revision that is not the latest is refused; a vote
    // shorter than the policy's 72 hours needs a reason.
    app.expect_error(post(&app, &committer, "/vote/start", json!({})), StatusCode::FORBIDDEN, "forbidden").await;
    // Outside the committee a draft does not exist: no 403 or 409 that would betray it.
    app.expect_error(post(&app, &tomcat_pmc, "/vote/start", json!({})), StatusCode::NOT_FOUND, "not_found").await;
    app.expect_error(post(&app, &visitor, "/votes", json!({"value": 1})), StatusCode::NOT_FOUND, "not_found").await;
    app.expect_error(
        post(&app, &tomcat_pmc, "/resolve", json!({"outcome": "failed"})),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    app.expect_error(post(&app, &rm, "/vote/start", json!({"revision": 0})), StatusCode::CONFLICT, "stale_revision")
        .await;
    app.expect_error(post(&app, &rm, "/vote/start", json!({"revision": 9})), StatusCode::NOT_FOUND, "not_found").await;
    app.expect_error(
        post(&app, &rm, "/vote/start", json!({"duration_hours": 24})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    app.expect_error(
        app.client.post(app.url(&format!("{RELEASE}/vote/start"))).json(&json!({})),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    let (status, started) = app.send(post(&app, &rm, "/vote/start", json!({"revision": 1}))).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!((started["round"].as_i64(), started["revision"].as_i64()), (Some(1), Some(1)));
    assert_eq!((started["mode"].as_str(), started["min_vote_hours"].as_u64()), (Some("platform"), Some(72)));
    let listing: Vec<(String, usize, String)> =
        files().into_iter().map(|(name, bytes)| (name.to_owned(), bytes.len(), sha512(&bytes))).collect();
    let voted_digest = started["manifest_digest"].as_str().unwrap().to_owned();
    assert_eq!(voted_digest, digest_of(&listing), "anyone can recompute the digest from the files");
    assert!(started["seconds_left"].as_u64().unwrap() > 71 * 3600);
    app.expect_error(post(&app, &rm, "/vote/start", json!({})), StatusCode::CONFLICT, "wrong_phase").await;

    // The candidate is frozen: no upload, delete or move.
    let (status, _) = app.upload(&rm, "httpd/2.4.68", "late.txt", b"late".to_vec()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    app.expect_error(
        app.client.delete(app.url(&format!("{RELEASE}/files/httpd-2.4.68.tar.gz.sha512"))).bearer_auth(&rm),
        StatusCode::CONFLICT,
        "wrong_phase",
    )
    .await;
    app.expect_error(
        post(&app, &rm, "/files/move", json!({"from": "httpd-2.4.68.tar.gz", "to": "x.tar.gz"})),
        StatusCode::CONFLICT,
        "wrong_phase",
    )
    .await;

    // Ballots: anonymous callers may read, not vote; binding is the PMC's; a changed ballot replaces the first.
    app.expect_error(
        app.client.post(app.url(&format!("{RELEASE}/votes"))).json(&json!({"value": 1})),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    app.expect_error(
        post(&app, &pmc[0], "/votes", json!({"value": 2})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    assert_eq!(vote(&app, &pmc[0], 1).await["binding"], true);
    assert_eq!(vote(&app, &pmc[1], -1).await["binding"], true);
    let changed = vote(&app, &pmc[1], 1).await;
    assert_eq!((changed["binding"].as_bool(), changed["ballots_cast"].as_u64()), (Some(true), Some(2)));
    assert_eq!(vote(&app, &pmc[2], 0).await["binding"], true);
    assert_eq!(vote(&app, &committer, 1).await["binding"], false, "a committer's vote is not binding");
    assert_eq!(vote(&app, &rm, 1).await["binding"], false, "a release manager is not the PMC");
    assert_eq!(vote(&app, &tomcat_pmc, 1).await["binding"], false, "another committee's PMC member is not binding");
    let (status, ballot) =
        app.send(post(&app, &visitor, "/votes", json!({"value": -1, "comment": "Fails on\nmy box"}))).await;
    assert_eq!((status, ballot["binding"].as_bool()), (StatusCode::CREATED, Some(false)), "{ballot}");

    let (status, votes) = app.send(app.client.get(app.url(&format!("{RELEASE}/votes")))).await;
    assert_eq!(status, StatusCode::OK, "a candidate's vote is public");
    assert_eq!(
        votes["tally"],
        json!({"binding_plus": 2, "binding_zero": 1, "binding_minus": 0,
               "non_binding_plus": 3, "non_binding_zero": 0, "non_binding_minus": 1})
    );
    assert_eq!((votes["passes"].as_bool(), votes["closed"].as_bool()), (Some(false), Some(false)));
    assert_eq!(votes["votes"].as_array().unwrap().len(), 7, "one ballot per person");
    assert_eq!(votes["manifest_digest"], voted_digest.as_str());

    // Resolving: not before the minimum time, not without the quorum, not by a committer.
    app.expect_error(post(&app, &rm, "/resolve", json!({"outcome": "passed"})), StatusCode::CONFLICT, "vote_open")
        .await;
    close_vote(&app);
    let refused = app
        .expect_error(post(&app, &rm, "/resolve", json!({"outcome": "passed"})), StatusCode::CONFLICT, "no_quorum")
        .await;
    assert_eq!(refused["details"]["tally"]["binding_plus"], 2);
    vote(&app, &pmc[2], 1).await;
    app.expect_error(
        post(&app, &committer, "/resolve", json!({"outcome": "passed"})),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let (status, resolved) = app.send(post(&app, &rm, "/resolve", json!({"outcome": "passed"}))).await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!((resolved["phase"].as_str(), resolved["vote"]["outcome"].as_str()), (Some("preview"), Some("passed")));
    app.expect_error(post(&app, &pmc[0], "/votes", json!({"value": 1})), StatusCode::CONFLICT, "wrong_phase").await;

    // Preview: names may change, bytes may not.
    let (status, _) = app.upload(&rm, "httpd/2.4.68", "extra.txt", b"extra".to_vec()).await;
    assert_eq!(status, StatusCode::CONFLICT, "no file is added in preview");
    app.expect_error(
        post(&app, &committer, "/files/move", json!({"from": "httpd-2.4.68.tar.gz", "to": "a"})),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    app.expect_error(
        post(&app, &rm, "/files/move", json!({"from": "nothing", "to": "a"})),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    app.expect_error(
        post(&app, &rm, "/files/move", json!({"from": "httpd-2.4.68.tar.gz", "to": "httpd-2.4.68.tar.gz.asc"})),
        StatusCode::CONFLICT,
        "path_conflict",
    )
    .await;
    for (name, _) in files() {
        let (status, moved) =
            app.send(post(&app, &rm, "/files/move", json!({"from": name, "to": format!("source/{name}")}))).await;
        assert_eq!(status, StatusCode::CREATED, "{moved}");
    }
    let (status, moved) = app.send(post(&app, &rm, "/files/move", json!({"from": "source", "to": "src"}))).await;
    assert_eq!(status, StatusCode::CREATED, "a folder moves with its files: {moved}");
    let paths: Vec<&str> = moved["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["src/httpd-2.4.68.tar.gz", "src/httpd-2.4.68.tar.gz.asc", "src/httpd-2.4.68.tar.gz.sha512"]);
    let (_, tasks) = app
        .send(app.client.get(app.url("/api/v1/tasks?release=httpd/2.4.68&status=queued")).bearer_auth(app.admin()))
        .await;
    assert_eq!(tasks["page"]["total"], 0, "no checks run again for a rename in preview");

    // A rename that parts an artifact from its signature is caught before anything goes out.
    let (status, _) = app
        .send(post(&app, &rm, "/files/move", json!({"from": "src/httpd-2.4.68.tar.gz.asc", "to": "src/signature.asc"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let refused = app.expect_error(post(&app, &rm, "/release", json!({})), StatusCode::CONFLICT, "paths_failed").await;
    assert!(refused["details"]["failures"].as_array().is_some_and(|f| !f.is_empty()), "{refused}");
    let (status, _) = app
        .send(post(&app, &rm, "/files/move", json!({"from": "src/signature.asc", "to": "src/httpd-2.4.68.tar.gz.asc"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // Release: the voted bytes, under new names, at /current/, and `latest` names them.
    app.expect_error(post(&app, &committer, "/release", json!({})), StatusCode::FORBIDDEN, "forbidden").await;
    let (status, released) = app.send(post(&app, &rm, "/release", json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(released["phase"], "current");
    assert_eq!(released["vote"]["manifest_digest"], voted_digest.as_str());
    assert_eq!(released["published"]["content_matches_vote"], true);
    let moved_listing: Vec<(String, usize, String)> =
        listing.iter().map(|(p, s, h)| (format!("src/{p}"), *s, h.clone())).collect();
    assert_eq!(released["published"]["manifest_digest"], digest_of(&moved_listing).as_str());
    for (name, bytes) in files() {
        for url in [format!("/current/httpd/2.4.68/src/{name}"), format!("/current/httpd/latest/src/{name}")] {
            let response = app.client.get(app.url(&url)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{url}");
            assert_eq!(sha512(&response.bytes().await.unwrap()), sha512(&bytes), "{url} serves the voted bytes");
        }
    }
    app.expect_error(post(&app, &rm, "/release", json!({})), StatusCode::CONFLICT, "wrong_phase").await;

    // The audit trail has every step.
    let (_, events) = app.send(app.client.get(app.url(&format!("{RELEASE}/events?limit=1000")))).await;
    let actions: Vec<&str> =
        events["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in ["vote.started", "vote.resolved", "release.published"] {
        assert_eq!(actions.iter().filter(|a| **a == action).count(), 1, "{action} in {actions:?}");
    }
    assert_eq!(actions.iter().filter(|a| **a == "vote.cast").count(), 9, "every ballot, changed ones too");

    // Revocation: by those who manage releases, with a reason; the files stay, elsewhere.
    app.expect_error(
        post(&app, &committer, "/revoke", json!({"reason": "CVE-2099-1"})),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    app.expect_error(
        post(&app, &rm, "/revoke", json!({"reason": "  "})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    let (status, revoked) = app.send(post(&app, &rm, "/revoke", json!({"reason": "CVE-2099-1: broken"}))).await;
    assert_eq!((status, revoked["phase"].as_str()), (StatusCode::OK, Some("revoked")), "{revoked}");
    let gone = app.client.get(app.url("/current/httpd/2.4.68/src/httpd-2.4.68.tar.gz")).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::GONE);
    let kept = app.client.get(app.url("/revoked/httpd/2.4.68/src/httpd-2.4.68.tar.gz")).send().await.unwrap();
    assert_eq!(kept.status(), StatusCode::OK);
    app.expect_error(post(&app, &rm, "/archive", json!({})), StatusCode::CONFLICT, "wrong_phase").await;
}

async fn a_failed_vote_returns_to_draft_and_the_next_round_starts_afresh(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let pmc = app.user("pmc", false, &[("httpd", Role::PmcMember)]);
    app.release(&rm, "httpd", "2.4.68").await;
    upload_all(&app, &rm).await;
    finish_checks(&app, "success").await;
    let (status, _) = app.send(post(&app, &rm, "/vote/start", json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    vote(&app, &pmc, -1).await;
    // A vote may fail at any time (a -1 found a problem); the release is a draft again.
    let (status, failed) =
        app.send(post(&app, &rm, "/resolve", json!({"outcome": "failed", "reason": "bad NOTICE"}))).await;
    assert_eq!(status, StatusCode::OK, "{failed}");
    assert_eq!((failed["phase"].as_str(), failed["vote"]["outcome"].as_str()), (Some("draft"), Some("failed")));
    assert_eq!(failed["vote"]["resolution"], "bad NOTICE");
    // Drafts are private again.
    let (status, _) = app.send(app.client.get(app.url(RELEASE))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = app.upload(&rm, "httpd/2.4.68", "NOTICE", b"fixed".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED);
    // A name given decomposed in a JSON body is the NFC name, as in a URL.
    let (status, moved) =
        app.send(post(&app, &rm, "/files/move", json!({"from": "NOTICE", "to": "caf\u{65}\u{301}/NOTICE"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{moved}");
    assert!(moved["files"].as_array().unwrap().iter().any(|f| f["path"] == "caf\u{e9}/NOTICE"), "{moved}");
    finish_checks(&app, "success").await;
    let (status, second) = app.send(post(&app, &rm, "/vote/start", json!({"duration_hours": 96}))).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!((second["round"].as_i64(), second["revision"].as_i64()), (Some(2), Some(3)));
    assert!(second["seconds_left"].as_u64().unwrap() > 95 * 3600, "a longer vote than the minimum needs no reason");
    assert_eq!(second["votes"], json!([]), "ballots of the failed round do not count again");
    assert_eq!(second["outcome"], Value::Null);

    // An expedited vote records why it is short.
    let (status, _) = app.send(post(&app, &rm, "/resolve", json!({"outcome": "failed"}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, third) = app
        .send(post(&app, &rm, "/vote/start", json!({"duration_hours": 24, "expedited_reason": "CVE-2099-2 fix"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{third}");
    assert_eq!((third["round"].as_i64(), third["expedited_reason"].as_str()), (Some(3), Some("CVE-2099-2 fix")));
    assert!(third["seconds_left"].as_u64().unwrap() <= 24 * 3600);
}

async fn failures_block_the_vote_and_manual_mode_needs_a_reason(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let pmc = app.user("pmc", false, &[("httpd", Role::PmcMember)]);

    // A vote held elsewhere and recorded by hand.
    app.release(&rm, "httpd", "2.4.68").await;
    upload_all(&app, &rm).await;
    finish_checks(&app, "success").await;
    let (status, policy) = app
        .send(
            app.client
                .put(app.url("/api/v1/projects/httpd/policy"))
                .bearer_auth(&pmc)
                .json(&json!({"vote_mode": "manual"})),
        )
        .await;
    assert_eq!((status, policy["vote_mode"].as_str()), (StatusCode::OK, Some("manual")), "{policy}");
    let (status, started) = app.send(post(&app, &rm, "/vote/start", json!({}))).await;
    assert_eq!((status, started["mode"].as_str()), (StatusCode::OK, Some("manual")), "{started}");
    app.expect_error(post(&app, &pmc, "/votes", json!({"value": 1})), StatusCode::CONFLICT, "wrong_vote_mode").await;
    close_vote(&app);
    app.expect_error(
        post(&app, &rm, "/resolve", json!({"outcome": "passed"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    let (status, resolved) = app
        .send(post(&app, &rm, "/resolve", json!({"outcome": "passed", "reason": "passed on dev@: 3 binding +1"})))
        .await;
    assert_eq!((status, resolved["phase"].as_str()), (StatusCode::OK, Some("preview")), "{resolved}");
    assert_eq!(resolved["vote"]["resolution"], "passed on dev@: 3 binding +1");

    // A failed check blocks the next release's vote, and the refusal names it.
    app.release(&rm, "httpd", "2.4.69").await;
    let (status, _) = app.upload(&rm, "httpd/2.4.69", "broken-2.4.69.tar.gz", b"broken".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED);
    finish_checks(&app, "failure").await;
    let refused = app
        .expect_error(
            post_at(&app, &rm, "/api/v1/releases/httpd/2.4.69", "/vote/start", json!({})),
            StatusCode::CONFLICT,
            "vote_blocked",
        )
        .await;
    let blockers: Vec<&str> =
        refused["details"]["blockers"].as_array().unwrap().iter().map(|b| b.as_str().unwrap()).collect();
    assert!(
        !blockers.is_empty() && blockers.iter().all(|b| b.contains("broken-2.4.69.tar.gz: failure: ")),
        "{blockers:?}"
    );
    assert_eq!(refused["details"]["total"], blockers.len());
}

/// The people of `tests/fixtures/mail/vote-thread.mbox`, registered with its addresses: the
/// release manager, four PMC members and a committer (their JWTs).
fn thread_voters(app: &TestApp) -> (String, Vec<String>, String) {
    let rm = app.user_with_email("rm", Some("rm@apache.org"), false, &[("httpd", Role::ReleaseManager)]);
    let pmc = (1..=4)
        .map(|n| {
            let address = format!("pmc{n}@apache.org");
            app.user_with_email(&format!("pmc{n}"), Some(&address), false, &[("httpd", Role::PmcMember)])
        })
        .collect();
    let committer = app.user_with_email("dev", Some("dev@example.org"), false, &[("httpd", Role::Committer)]);
    (rm, pmc, committer)
}

async fn a_mail_vote_is_tallied_from_its_thread(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let (rm, pmc, committer) = thread_voters(&app);
    let thread = std::fs::read(testkit::fixture("mail/vote-thread.mbox")).unwrap();
    let tally = |jwt: &str, content_type: &str| {
        app.client
            .post(app.url(&format!("{RELEASE}/vote/tally")))
            .bearer_auth(jwt)
            .header("Content-Type", content_type)
            .body(thread.clone())
    };
    app.release(&rm, "httpd", "2.4.68").await;
    upload_all(&app, &rm).await;
    finish_checks(&app, "success").await;
    app.expect_error(tally(&rm, "application/mbox"), StatusCode::CONFLICT, "wrong_phase").await;

    // Platform mode takes ballots here, not from a thread.
    let (status, _) = app.send(post(&app, &rm, "/vote/start", json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    app.expect_error(tally(&rm, "application/mbox"), StatusCode::CONFLICT, "wrong_vote_mode").await;
    let (status, _) = app.send(post(&app, &rm, "/resolve", json!({"outcome": "failed"}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .send(
            app.client
                .put(app.url("/api/v1/projects/httpd/policy"))
                .bearer_auth(&pmc[0])
                .json(&json!({"vote_mode": "mail"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, started) = app.send(post(&app, &rm, "/vote/start", json!({}))).await;
    assert_eq!((status, started["mode"].as_str()), (StatusCode::OK, Some("mail")), "{started}");
    app.expect_error(post(&app, &pmc[0], "/votes", json!({"value": 1})), StatusCode::CONFLICT, "wrong_vote_mode").await;
    app.expect_error(tally(&rm, "text/html"), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    app.expect_error(tally(&committer, "application/mbox"), StatusCode::FORBIDDEN, "forbidden").await;

    let (status, result) = app.send(tally(&rm, "application/mbox; charset=utf-8")).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    // Binding: pmc1 (top-posted, address in another case), pmc2 (a -1, then changed to +1),
    // pmc4 (quoted-printable, the plain part). Not binding: a contributor, and a PMC member
    // writing from an address not registered here. Not counted: the announcement's own +1,
    // a committer whose only +1 is quoted, a +1 in a signature.
    assert_eq!(
        result["tally"],
        json!({"binding_plus": 3, "binding_zero": 0, "binding_minus": 0,
               "non_binding_plus": 2, "non_binding_zero": 0, "non_binding_minus": 0})
    );
    assert_eq!(result["passes"], true);
    let counted: Vec<(String, Value, i64, bool, bool)> = result["counted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["message_id"].as_str().unwrap().to_owned(),
                m["uid"].clone(),
                m["value"].as_i64().unwrap(),
                m["binding"].as_bool().unwrap(),
                m["counts"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counted,
        [
            ("<one@apache.org>".to_owned(), json!("pmc1"), 1, true, true),
            ("<two-a@apache.org>".to_owned(), json!("pmc2"), -1, true, false),
            ("<someone@example.com>".to_owned(), Value::Null, 1, false, true),
            ("<three@gmail.com>".to_owned(), Value::Null, 1, false, true),
            ("<four@apache.org>".to_owned(), json!("pmc4"), 1, true, true),
            ("<two-b@apache.org>".to_owned(), json!("pmc2"), 1, true, true),
        ]
    );
    let skipped: Vec<&str> =
        result["skipped"].as_array().unwrap().iter().map(|m| m["message_id"].as_str().unwrap()).collect();
    assert_eq!(skipped, ["<announce@apache.org>", "<dev@example.org>", "<alice@example.net>"]);
    assert_eq!(result["recorded"], 5);
    assert_eq!(result["counted"][0]["line"], "+1 (binding)");

    // The same thread again records nothing; the vote is what GET …/votes says, and it passes.
    let (_, again) = app.send(tally(&rm, "application/mbox")).await;
    assert_eq!((again["recorded"].as_u64(), &again["tally"]), (Some(0), &result["tally"]));
    let (_, votes) = app.send(app.client.get(app.url(&format!("{RELEASE}/votes")))).await;
    assert_eq!(votes["tally"], result["tally"]);
    assert!(votes["votes"].as_array().unwrap().iter().all(|b| b["source"] == "mail"));
    close_vote(&app);
    let (status, resolved) = app.send(post(&app, &rm, "/resolve", json!({"outcome": "passed"}))).await;
    assert_eq!((status, resolved["phase"].as_str()), (StatusCode::OK, Some("preview")), "{resolved}");
}

/// The checkers whose results failed in the latest report.
async fn failing_checkers(app: &TestApp, release: &str) -> Vec<String> {
    let (_, report) = app.send(app.client.get(app.url(&format!("{release}/checks"))).bearer_auth(app.admin())).await;
    let mut checkers: Vec<String> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "failure")
        .map(|r| r["checker"].as_str().unwrap().to_owned())
        .collect();
    checkers.sort();
    checkers.dedup();
    checkers
}

async fn waivers_let_failures_pass_but_never_fixed_rules(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    app.project("tomcat", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let committer = app.user("dev", false, &[("httpd", Role::Committer)]);
    let outsider = app.user("cat", false, &[("tomcat", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "2.4.68").await;
    upload_all(&app, &rm).await;
    finish_checks(&app, "failure").await;
    let checkers = failing_checkers(&app, RELEASE).await;
    assert!(!checkers.is_empty());
    let waiver = |checker: &str| json!({"checker": checker, "rule": "T1", "path_glob": "**", "reason": "known, fixed upstream", "scope": "release"});

    // Who may waive, and what.
    app.expect_error(post(&app, &committer, "/waivers", waiver(&checkers[0])), StatusCode::FORBIDDEN, "forbidden")
        .await;
    app.expect_error(post(&app, &outsider, "/waivers", waiver(&checkers[0])), StatusCode::NOT_FOUND, "not_found").await;
    for fixed in ["P1", "R2"] {
        let body = json!({"checker": "paths", "rule": fixed, "path_glob": "**", "reason": "no", "scope": "project"});
        app.expect_error(post(&app, &rm, "/waivers", body), StatusCode::UNPROCESSABLE_ENTITY, "unwaivable_rule").await;
    }
    let bad_glob = json!({"checker": "paths", "path_glob": "a[", "reason": "no", "scope": "revision"});
    app.expect_error(post(&app, &rm, "/waivers", bad_glob), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;

    // Waiving every failing checker but one still blocks, naming the one.
    let mut ids = Vec::new();
    for checker in &checkers {
        let (status, made) = app.send(post(&app, &rm, "/waivers", waiver(checker))).await;
        assert_eq!((status, made["author"].as_str()), (StatusCode::CREATED, Some("rm")), "{made}");
        ids.push(made["id"].as_i64().unwrap());
    }
    let (status, list) = app.send(app.client.get(app.url(&format!("{RELEASE}/waivers"))).bearer_auth(&rm)).await;
    assert_eq!((status, list["waivers"].as_array().unwrap().len()), (StatusCode::OK, checkers.len()));
    let (status, _) = app.send(app.client.get(app.url(&format!("{RELEASE}/waivers")))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a draft's waivers are its committee's");
    let last = *ids.last().unwrap();
    let delete = |jwt: &str| app.client.delete(app.url(&format!("/api/v1/waivers/{last}"))).bearer_auth(jwt.to_owned());
    app.expect_error(delete(&outsider), StatusCode::NOT_FOUND, "not_found").await;
    app.expect_error(delete(&committer), StatusCode::FORBIDDEN, "forbidden").await;
    let (status, _) = app.send(delete(&rm)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.expect_error(delete(&rm), StatusCode::NOT_FOUND, "not_found").await;
    let refused =
        app.expect_error(post(&app, &rm, "/vote/start", json!({})), StatusCode::CONFLICT, "vote_blocked").await;
    let unwaived = checkers.last().unwrap();
    let blockers = refused["details"]["blockers"].as_array().unwrap();
    assert!(blockers.iter().all(|b| b.as_str().unwrap().starts_with(&format!("{unwaived} on "))), "{refused}");

    // With every failure waived, voters see who waived what and why, and the vote starts.
    let (status, _) = app.send(post(&app, &rm, "/waivers", waiver(unwaived))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, report) = app.send(app.client.get(app.url(&format!("{RELEASE}/checks"))).bearer_auth(&rm)).await;
    let results = report["results"].as_array().unwrap();
    assert!(results.iter().all(|r| r["status"] != "failure"), "{report}");
    let waived: Vec<&Value> = results.iter().filter(|r| r["status"] == "waived").collect();
    assert!(!waived.is_empty());
    assert!(
        waived
            .iter()
            .all(|r| r["data"]["waiver"]["by"] == "rm" && r["data"]["waiver"]["reason"] == "known, fixed upstream")
    );
    assert_eq!(report["summary"]["waived"], waived.len());
    let (status, _) = app.send(post(&app, &rm, "/vote/start", json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    app.expect_error(post(&app, &rm, "/waivers", waiver("paths")), StatusCode::CONFLICT, "wrong_phase").await;

    // A failure under a fixed rule is never waived, even by a waiver of every rule of its checker.
    let next = "/api/v1/releases/httpd/2.4.69";
    app.release(&rm, "httpd", "2.4.69").await;
    let (status, _) = app.upload(&rm, "httpd/2.4.69", "unsigned-2.4.69.tar.gz", b"unsigned".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED);
    finish_checks_under(&app, "failure", "P1").await;
    for checker in failing_checkers(&app, next).await {
        let body = json!({"checker": checker, "path_glob": "**", "reason": "every rule", "scope": "project"});
        let (status, made) = app.send(post_at(&app, &rm, next, "/waivers", body)).await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
    }
    assert!(!failing_checkers(&app, next).await.is_empty(), "P1 failures stay failures");
    app.expect_error(post_at(&app, &rm, next, "/vote/start", json!({})), StatusCode::CONFLICT, "vote_blocked").await;
}

async fn phase_of(app: &TestApp) -> String {
    let (_, release) = app.send(app.client.get(app.url(RELEASE)).bearer_auth(app.admin())).await;
    release["phase"].as_str().unwrap().to_owned()
}

async fn auto_resolve_passes_only_a_vote_that_passes(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let pmc: Vec<String> =
        (1..=3).map(|n| app.user(&format!("pmc{n}"), false, &[("httpd", Role::PmcMember)])).collect();
    let (status, _) = app
        .send(
            app.client
                .put(app.url("/api/v1/projects/httpd/policy"))
                .bearer_auth(&pmc[0])
                .json(&json!({"auto_resolve": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.release(&rm, "httpd", "2.4.68").await;
    upload_all(&app, &rm).await;
    finish_checks(&app, "success").await;
    let (status, _) = app.send(post(&app, &rm, "/vote/start", json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    for jwt in &pmc[..2] {
        vote(&app, jwt, 1).await;
    }
    close_vote(&app);
    assert!(app.db(datastore::domain::votes::auto_resolve).unwrap().is_empty(), "two binding +1 do not pass");
    assert_eq!(phase_of(&app).await, "candidate");
    vote(&app, &pmc[2], 1).await;
    assert_eq!(app.db(datastore::domain::votes::auto_resolve).unwrap(), ["httpd/2.4.68"]);
    assert_eq!(phase_of(&app).await, "preview");
    let (_, events) = app.send(app.client.get(app.url(&format!("{RELEASE}/events?limit=1000")))).await;
    let resolved = events["events"].as_array().unwrap().iter().find(|e| e["action"] == "vote.resolved").unwrap();
    assert_eq!(resolved["actor"], "system");
}

async fn a_signed_ballot_holds_only_for_its_own_text_and_voter(backend: Backend) {
    use testkit::pgp::{self, Algorithm, By};
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let alice = app.user_with_email("alice", Some("alice@apache.org"), false, &[("httpd", Role::PmcMember)]);
    let mallory = app.user_with_email("mallory", Some("mallory@apache.org"), false, &[("httpd", Role::PmcMember)]);
    let key = pgp::generate(&mut pgp::rng(71), Algorithm::Ed25519, "Alice <alice@apache.org>", 5, false);
    let armored = pgp::public_armored(&key);
    let fingerprint = checks::openpgp::parse_keyring(armored.as_bytes()).certificates[0].fingerprint.clone();
    let (status, added) = app
        .send(
            app.client
                .post(app.url("/api/v1/keys"))
                .bearer_auth(&alice)
                .json(&json!({"armored": armored, "committees": []})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    app.release(&rm, "httpd", "2.4.68").await;
    let text_of =
        |value: i32| app.client.get(app.url(&format!("{RELEASE}/votes/ballot-text?value={value}"))).bearer_auth(&alice);
    app.expect_error(text_of(1), StatusCode::CONFLICT, "wrong_phase").await;
    upload_all(&app, &rm).await;
    finish_checks(&app, "success").await;
    let (_, started) = app.send(post(&app, &rm, "/vote/start", json!({}))).await;
    let digest = started["manifest_digest"].as_str().unwrap();

    let text = text_of(1).send().await.unwrap().text().await.unwrap();
    assert_eq!(
        text,
        format!("Trusted Releases ballot\nrelease: httpd/2.4.68\nround: 1\nmanifest: {digest}\nvalue: +1\n")
    );
    app.expect_error(text_of(2), StatusCode::BAD_REQUEST, "invalid_query").await;
    let signature = pgp::armored_signature(&mut pgp::rng(3), &key, By::Subkey, text.as_bytes());
    // The signature of a +1 is no signature of a -1; Mallory cannot pass Alice's off as hers;
    // a broken signature is refused, not stored as unsigned.
    let ballot = |value: i32, signature: &str| json!({"value": value, "signature": signature});
    let refused = app
        .expect_error(
            post(&app, &alice, "/votes", ballot(-1, &signature)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_signature",
        )
        .await;
    assert!(refused["details"]["signed_text"].as_str().unwrap().ends_with("value: -1\n"), "{refused}");
    app.expect_error(
        post(&app, &mallory, "/votes", ballot(1, &signature)),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_signature",
    )
    .await;
    app.expect_error(
        post(&app, &alice, "/votes", ballot(1, "-----BEGIN PGP SIGNATURE-----\nnonsense")),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_signature",
    )
    .await;
    let (status, cast) = app.send(post(&app, &alice, "/votes", ballot(1, &signature))).await;
    assert_eq!(status, StatusCode::CREATED, "{cast}");
    assert_eq!(cast["signed_by"], fingerprint.as_str());
    vote(&app, &mallory, 1).await;
    let (_, votes) = app.send(app.client.get(app.url(&format!("{RELEASE}/votes"))).bearer_auth(&rm)).await;
    let signed: Vec<(&str, &Value)> =
        votes["votes"].as_array().unwrap().iter().map(|b| (b["voter"].as_str().unwrap(), &b["signed_by"])).collect();
    assert_eq!(signed, [("alice", &json!(fingerprint)), ("mallory", &Value::Null)], "{votes}");
}

async fn a_podling_votes_first_then_the_incubator_with_its_votes_carried_over(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("incubator", false).await;
    app.project("httpd", true).await; // a podling, for the helpers' release path
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let ppmc: Vec<String> =
        (1..=3).map(|n| app.user(&format!("ppmc{n}"), false, &[("httpd", Role::PmcMember)])).collect();
    // An Incubator PMC member who mentors the podling, and two more.
    let mentor = app.user("mentor", false, &[("incubator", Role::PmcMember), ("httpd", Role::PmcMember)]);
    let ipmc: Vec<String> =
        (1..=2).map(|n| app.user(&format!("ipmc{n}"), false, &[("incubator", Role::PmcMember)])).collect();
    app.release(&rm, "httpd", "2.4.68").await;
    upload_all(&app, &rm).await;
    finish_checks(&app, "success").await;
    let (status, started) = app.send(post(&app, &rm, "/vote/start", json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!(started["stage"], "podling");

    // The podling's stage: its PPMC votes binding; an Incubator member who is not on it does not.
    for jwt in &ppmc[..2] {
        vote(&app, jwt, 1).await;
    }
    vote(&app, &mentor, 1).await;
    let early = vote(&app, &ipmc[0], 1).await;
    assert_eq!(early["binding"], false, "not binding for the podling");
    close_vote(&app);
    let (status, resolved) = app.send(post(&app, &rm, "/resolve", json!({"outcome": "passed"}))).await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["phase"], "candidate", "the Incubator votes next: {resolved}");

    // The Incubator's stage: the next round, the same bytes; its members' ballots carried over.
    let (_, votes) = app.send(app.client.get(app.url(&format!("{RELEASE}/votes"))).bearer_auth(&rm)).await;
    assert_eq!((votes["round"].as_i64(), votes["stage"].as_str()), (Some(2), Some("incubator")), "{votes}");
    assert_eq!(votes["manifest_digest"], started["manifest_digest"]);
    let carried: Vec<(&str, &str, bool)> = votes["votes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["voter"].as_str().unwrap(), b["source"].as_str().unwrap(), b["binding"].as_bool().unwrap()))
        .collect();
    assert_eq!(carried, [("ipmc1", "carried", true), ("mentor", "carried", true)], "{votes}");
    assert!(votes["seconds_left"].as_u64().unwrap() > 71 * 3600, "a full minimum time again");
    let podling_only = vote(&app, &ppmc[2], 1).await;
    assert_eq!(podling_only["binding"], false, "a PPMC member's vote does not bind the Incubator");
    close_vote(&app);
    // The Incubator's stage is the Incubator's to pass, not the podling's release manager's.
    app.expect_error(post(&app, &mentor, "/resolve", json!({"outcome": "passed"})), StatusCode::CONFLICT, "no_quorum")
        .await;
    vote(&app, &ipmc[1], 1).await;
    app.expect_error(post(&app, &rm, "/resolve", json!({"outcome": "passed"})), StatusCode::FORBIDDEN, "forbidden")
        .await;
    let (status, resolved) = app.send(post(&app, &mentor, "/resolve", json!({"outcome": "passed"}))).await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["phase"], "preview");
    let events = app
        .db(|c| datastore::db::queries::events::of_release(c, 1, 1000, 0).unwrap().0)
        .into_iter()
        .filter(|e| e.action.starts_with("vote.started") || e.action == "vote.resolved")
        .map(|e| e.action)
        .collect::<Vec<_>>();
    assert_eq!(events, ["vote.started", "vote.resolved", "vote.started", "vote.resolved"]);
}

async fn a_thread_fetched_by_a_runner_is_tallied_like_a_posted_one(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let (rm, pmc, committer) = thread_voters(&app);
    let (status, _) = app
        .send(
            app.client
                .put(app.url("/api/v1/projects/httpd/policy"))
                .bearer_auth(&pmc[0])
                .json(&json!({"vote_mode": "mail"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.release(&rm, "httpd", "2.4.68").await;
    upload_all(&app, &rm).await;
    finish_checks(&app, "success").await;
    let fetch = |jwt: &str, body: Value| post(&app, jwt, "/vote/fetch", body);
    app.expect_error(
        fetch(&rm, json!({"url": "https://lists.example.org/t.mbox"})),
        StatusCode::CONFLICT,
        "wrong_phase",
    )
    .await;
    let (status, _) = app.send(post(&app, &rm, "/vote/start", json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    // No announcement went out from here (no mail was sent), so the archive cannot be asked
    // for its thread by Message-ID: the url is needed.
    let refused = app.expect_error(fetch(&rm, json!({})), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    assert!(refused["message"].as_str().unwrap().contains("Message-ID"), "{refused}");
    app.expect_error(
        fetch(&committer, json!({"url": "https://lists.example.org/t.mbox"})),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    app.expect_error(
        fetch(&rm, json!({"url": "file:///etc/passwd"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    let (status, queued) = app.send(fetch(&rm, json!({"url": "https://lists.example.org/t.mbox"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");

    let token = &app.runner("fetcher").await;
    let claimed = app.claim(token, &["vote_thread"]).await;
    let order = &claimed[0];
    assert_eq!(
        (order["id"].as_i64(), order["args"]["url"].as_str()),
        (queued["task"].as_i64(), Some("https://lists.example.org/t.mbox"))
    );
    let report = |results: Value| {
        app.client
            .post(app.url(&format!("/api/runner/v1/tasks/{}/result", order["id"])))
            .bearer_auth(token)
            .json(&json!({"lease_token": order["lease_token"], "status": "completed", "results": results}))
    };
    let result = |data: Value| json!([{"checker": "vote_thread", "checker_version": "", "path": "", "status": "success", "message": "fetched", "data": data}]);
    app.expect_error(report(result(json!({}))), StatusCode::UNPROCESSABLE_ENTITY, "invalid_result").await;
    let thread = String::from_utf8(std::fs::read(testkit::fixture("mail/vote-thread.mbox")).unwrap()).unwrap();
    let (status, answer) = app.send(report(result(json!({"mbox": thread})))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, votes) = app.send(app.client.get(app.url(&format!("{RELEASE}/votes"))).bearer_auth(&rm)).await;
    assert_eq!(
        votes["tally"],
        json!({"binding_plus": 3, "binding_zero": 0, "binding_minus": 0,
               "non_binding_plus": 2, "non_binding_zero": 0, "non_binding_minus": 0}),
        "the same counts as the posted thread: {votes}"
    );
    let tallied = app.db(|c| datastore::db::queries::events::of_release(c, 1, 1000, 0).unwrap().0);
    let by = tallied.iter().find(|e| e.action == "vote.tallied").map(|e| e.actor.as_str());
    assert_eq!(by, Some("rm"), "the tally is the release manager's, who asked for it");
}

async fn the_bytes_of_a_file_say_where_they_were_voted_and_published(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    app.project("tomcat", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let pmc: Vec<String> =
        (1..=3).map(|n| app.user(&format!("pmc{n}"), false, &[("httpd", Role::PmcMember)])).collect();
    let cat = app.user("cat", false, &[("tomcat", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "2.4.68").await;
    upload_all(&app, &rm).await;
    finish_checks(&app, "success").await;
    let (_, started) = app.send(post(&app, &rm, "/vote/start", json!({}))).await;
    for jwt in &pmc {
        vote(&app, jwt, 1).await;
    }
    close_vote(&app);
    app.send(post(&app, &rm, "/resolve", json!({"outcome": "passed"}))).await;
    let (status, released) = app.send(post(&app, &rm, "/release", json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{released}");
    // Another committee's draft holds the same bytes: only its members see it.
    app.release(&cat, "tomcat", "9.0.1").await;
    let tarball = files().into_iter().next().unwrap().1;
    let (status, _) = app.upload(&cat, "tomcat/9.0.1", "same.tar.gz", tarball.clone()).await;
    assert_eq!(status, StatusCode::CREATED);

    let digest = sha512(&tarball);
    let verify = |jwt: Option<&str>, hex: &str| {
        let request = app.client.get(app.url(&format!("/api/v1/verify/sha512/{hex}")));
        match jwt {
            Some(jwt) => request.bearer_auth(jwt.to_owned()),
            None => request,
        }
    };
    let (status, public) = app.send(verify(None, &digest.to_ascii_uppercase())).await;
    assert_eq!(status, StatusCode::OK, "{public}");
    assert_eq!((public["known"].as_bool(), public["size"].as_u64()), (Some(true), Some(tarball.len() as u64)));
    let found = public["found"].as_array().unwrap();
    assert_eq!(found.len(), 1, "the other committee's draft is not shown: {public}");
    let file = &found[0];
    assert_eq!(
        (file["release"].as_str(), file["phase"].as_str(), file["path"].as_str()),
        (Some("httpd/2.4.68"), Some("current"), Some("httpd-2.4.68.tar.gz"))
    );
    assert_eq!(
        (file["voted"].as_bool(), file["vote_outcome"].as_str(), file["published"].as_bool()),
        (Some(true), Some("passed"), Some(true))
    );
    assert_eq!(file["manifest_digest"], started["manifest_digest"]);
    assert_eq!(file["url"], "http://datastore.test/current/httpd/2.4.68/httpd-2.4.68.tar.gz");
    let (_, theirs) = app.send(verify(Some(&cat), &digest)).await;
    let releases: Vec<&str> =
        theirs["found"].as_array().unwrap().iter().map(|f| f["release"].as_str().unwrap()).collect();
    assert_eq!(releases, ["tomcat/9.0.1", "httpd/2.4.68"], "{theirs}");
    assert_eq!(theirs["found"][0]["voted"], false);
    let (_, unknown) = app.send(verify(None, &"0".repeat(128))).await;
    assert_eq!((unknown["known"].as_bool(), unknown["found"].as_array().map(Vec::len)), (Some(false), Some(0)));
    app.expect_error(verify(None, "abc"), StatusCode::BAD_REQUEST, "invalid_digest").await;
}
