//! The web pages over HTTP as a browser sends them (forms, cookies, redirects), and as an
//! attacker would: forms without their token, another site's login, guessed passwords, a
//! stale cookie, a draft looked at from outside its committee. The same pages driven in a real
//! Chromium are in `tests/tests/browser.rs`.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;
use shared_models::api::Role;
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;
use crate::lifecycle::{RELEASE, close_vote, finish_checks, post, upload_all, vote};

on_both_backends!(
    a_person_logs_in_starts_and_casts_votes_on_the_page_and_logs_out,
    forms_and_cookie_writes_without_their_token_are_refused,
    guessed_passwords_are_rate_limited_per_account,
    drafts_are_pages_only_for_their_committee,
    sessions_end_when_idle_and_with_a_new_password,
    behind_https_cookies_are_host_only_and_cookie_reads_are_private,
    tokens_are_made_once_listed_and_revoked_on_their_page,
    people_add_their_own_keys_and_committees_show_theirs,
    a_draft_is_composed_on_its_page,
    a_passed_vote_is_finished_released_and_revoked_on_the_page,
    the_audit_page_shows_what_its_reader_may_see,
    operators_watch_the_runners,
    the_header_search_finds_committees_releases_and_keys,
    failures_are_waived_and_shown_waived_on_the_release_page,
    committers_start_releases_and_the_pmc_changes_the_policy_on_the_project_page,
);

pub(crate) const PAGE: &str = "/releases/httpd/2.4.68";
pub(crate) const PASSWORD: &str = "correct horse battery";

/// A browser's session: its cookie and the CSRF token its pages carry.
pub(crate) struct Browser {
    pub(crate) cookie: String,
    pub(crate) csrf: String,
}

pub(crate) fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The value of the first `name="csrf"` hidden field of a page.
pub(crate) fn csrf_of(html: &str) -> String {
    let start = html.find(r#"name="csrf" value=""#).map(|i| i + r#"name="csrf" value=""#.len());
    let start = start.unwrap_or_else(|| panic!("no CSRF field in the page: {html}"));
    html[start..].split('"').next().unwrap().to_owned()
}

pub(crate) fn password_for(app: &TestApp, uid: &str) {
    app.db(|c| datastore::auth::session::set_password(c, uid, Some(PASSWORD)).unwrap());
}

/// Opens the login page and posts it, as a browser does; returns the answer.
pub(crate) async fn post_login(app: &TestApp, uid: &str, password: &str, next: &str) -> reqwest::Response {
    post_login_as(app, uid, password, next, None, "trl_login").await
}

/// Like [`post_login`], from `address` (as the nginx front on loopback reports it in
/// `X-Forwarded-For`), with the login cookie called `cookie_name`.
async fn post_login_as(
    app: &TestApp,
    uid: &str,
    password: &str,
    next: &str,
    address: Option<&str>,
    cookie_name: &str,
) -> reqwest::Response {
    let form_page = app.client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(form_page.status(), StatusCode::OK);
    let login_cookie = set_cookie(&form_page, cookie_name).expect("the login form sets its token cookie");
    assert!(login_cookie.contains("HttpOnly") && login_cookie.contains("SameSite=Strict"), "{login_cookie}");
    let cookie = login_cookie.split(';').next().unwrap().to_owned();
    let csrf = csrf_of(&form_page.text().await.unwrap());
    let mut request = app.client.post(app.url("/login")).header(COOKIE, cookie).form(&[
        ("uid", uid),
        ("password", password),
        ("next", next),
        ("csrf", &csrf),
    ]);
    if let Some(address) = address {
        request = request.header("X-Forwarded-For", format!("198.51.100.7, {address}"));
    }
    request.send().await.unwrap()
}

pub(crate) async fn login(app: &TestApp, uid: &str) -> Browser {
    let response = post_login(app, uid, PASSWORD, PAGE).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], PAGE);
    let session = set_cookie(&response, "trl_session").expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(flag), "{flag} in {session}");
    }
    assert!(!session.contains("Secure"), "an http:// server cannot set a Secure cookie: {session}");
    let cookie = session.split(';').next().unwrap().to_owned();
    let html = get_page(app, Some(&cookie), "/").await.1;
    assert!(html.contains(&format!(r#"<a class="who" href="/account">{uid}</a>"#)), "{html}");
    Browser { csrf: csrf_of(&html), cookie }
}

pub(crate) async fn get_page(app: &TestApp, cookie: Option<&str>, path: &str) -> (StatusCode, String) {
    let mut request = app.client.get(app.url(path)).header("Accept", "text/html");
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let kind = response.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/html"), "a page answers HTML, errors too: {kind} for {path}");
    (status, response.text().await.unwrap())
}

pub(crate) async fn post_form(
    app: &TestApp,
    browser: &Browser,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = vec![("csrf", &browser.csrf)];
    form.extend_from_slice(fields);
    app.client.post(app.url(path)).header(COOKIE, &browser.cookie).form(&form).send().await.unwrap()
}

pub(crate) async fn release_with_checks_done(app: &TestApp) {
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "2.4.68").await;
    upload_all(app, &rm).await;
    assert!(finish_checks(app, "success").await >= 3);
}

async fn a_person_logs_in_starts_and_casts_votes_on_the_page_and_logs_out(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    release_with_checks_done(&app).await;
    app.user("pmc1", false, &[("httpd", Role::PmcMember)]);
    password_for(&app, "rm");
    password_for(&app, "pmc1");

    // The release manager sees the draft with its files and checks, and may start the vote.
    let rm = login(&app, "rm").await;
    let (status, html) = get_page(&app, Some(&rm.cookie), PAGE).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(r#"id="phase">draft"#) && html.contains("httpd-2.4.68.tar.gz.asc"), "{html}");
    assert!(html.contains(r#"id="start-vote-form""#) && !html.contains(r#"id="cast-form""#), "{html}");
    let started = post_form(&app, &rm, PAGE, &[("action", "start_vote"), ("duration_hours", "")]).await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    assert_eq!(started.headers()[LOCATION], format!("{PAGE}?done=start_vote"));
    let (_, html) = get_page(&app, Some(&rm.cookie), &format!("{PAGE}?done=start_vote")).await;
    assert!(html.contains("The vote has started.") && html.contains(r#"id="phase">candidate"#), "{html}");
    assert!(html.contains(r#"id="resolve-form""#), "the release manager may resolve: {html}");

    // A PMC member casts a binding +1 through the form; the API shows the same ballot.
    let pmc = login(&app, "pmc1").await;
    let (_, html) = get_page(&app, Some(&pmc.cookie), PAGE).await;
    assert!(html.contains(r#"id="cast-form""#) && !html.contains("you voted"), "{html}");
    assert!(html.contains(r#"<strong id="binding">binding</strong>"#), "a PMC member is told the ballot binds: {html}");
    let (_, theirs) = get_page(&app, Some(&rm.cookie), PAGE).await;
    assert!(theirs.contains(r#"<strong id="binding">not binding</strong>"#), "a release manager's does not: {theirs}");
    let cast =
        post_form(&app, &pmc, PAGE, &[("action", "vote"), ("value", "1"), ("comment", "checked the sigs")]).await;
    assert_eq!(cast.status(), StatusCode::SEE_OTHER);
    let (_, votes) = app.send(app.client.get(app.url(&format!("{RELEASE}/votes")))).await;
    assert_eq!(votes["tally"]["binding_plus"], 1, "{votes}");
    assert_eq!(votes["votes"][0]["voter"], "pmc1");
    assert_eq!(votes["votes"][0]["comment"], "checked the sigs");
    let (_, html) = get_page(&app, Some(&pmc.cookie), &format!("{PAGE}?done=vote")).await;
    assert!(html.contains("Your vote is recorded.") && html.contains(r#"id="binding-plus">1<"#), "{html}");
    assert!(html.contains("you voted +1"), "{html}");

    // A ballot that is not +1, 0 or -1 is refused with a page that says so.
    let bad = post_form(&app, &pmc, PAGE, &[("action", "vote"), ("value", "2")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("Choose +1, 0 or -1."));

    // A visitor sees the candidate and its tally, and is offered a login, not the forms.
    let (status, html) = get_page(&app, None, PAGE).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"id="tally""#) && !html.contains("cast-form") && !html.contains("start-vote-form"));
    assert!(html.contains("/login?next=%2Freleases%2Fhttpd%2F2.4.68"), "{html}");

    // Logging out ends the session on the server: the old cookie is a visitor's again, and
    // its forms are refused.
    let out = post_form(&app, &pmc, "/logout", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let removal = set_cookie(&out, "trl_session").unwrap();
    assert!(removal.contains("Max-Age=0"), "{removal}");
    let (_, html) = get_page(&app, Some(&pmc.cookie), PAGE).await;
    assert!(!html.contains(r#"href="/account">pmc1</a>"#) && html.contains("Log in"), "{html}");
    let replayed = post_form(&app, &pmc, PAGE, &[("action", "vote"), ("value", "-1")]).await;
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
    assert!(replayed.text().await.unwrap().contains("/login?next="), "a 401 page offers a login");
    let (_, votes) = app.send(app.client.get(app.url(&format!("{RELEASE}/votes")))).await;
    assert_eq!(votes["tally"]["binding_plus"], 1, "the replayed form changed nothing: {votes}");
}

async fn forms_and_cookie_writes_without_their_token_are_refused(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    release_with_checks_done(&app).await;
    password_for(&app, "rm");
    let rm = login(&app, "rm").await;

    // Another site's form: the cookie rides along (top-level POSTs in old browsers), the
    // token does not.
    for token in [None, Some(""), Some("not-the-token")] {
        let mut form = vec![("action", "start_vote")];
        if let Some(token) = token {
            form.push(("csrf", token));
        }
        let response = app.client.post(app.url(PAGE)).header(COOKIE, &rm.cookie).form(&form).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "token {token:?}");
        let html = response.text().await.unwrap();
        assert!(html.contains("csrf_failed") && html.contains("security token"), "{html}");
    }
    let (_, release) = app.send(app.client.get(app.url(RELEASE)).header(COOKIE, &rm.cookie)).await;
    assert_eq!(release["phase"], "draft", "nothing was started: {release}");

    // The JSON API with a cookie: reads work, writes need the token in X-CSRF-Token.
    let (status, _) = app.send(app.client.get(app.url(&format!("{RELEASE}/files"))).header(COOKIE, &rm.cookie)).await;
    assert_eq!(status, StatusCode::OK, "a committee member's cookie reads the draft");
    let start =
        || app.client.post(app.url(&format!("{RELEASE}/vote/start"))).header(COOKIE, &rm.cookie).json(&json!({}));
    app.expect_error(start(), StatusCode::FORBIDDEN, "csrf_failed").await;
    app.expect_error(start().header("X-CSRF-Token", "forged"), StatusCode::FORBIDDEN, "csrf_failed").await;
    let (status, body) = app.send(start().header("X-CSRF-Token", &rm.csrf)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A login posted from another site has neither the form's cookie nor its token.
    let forged = app
        .client
        .post(app.url("/login"))
        .form(&[("uid", "rm"), ("password", PASSWORD), ("csrf", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&forged, "trl_session").is_none());

    // A login never sends anyone to another site.
    for next in ["https://evil.example/", "//evil.example/", "/\\evil.example"] {
        let response = post_login(&app, "rm", PASSWORD, next).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[LOCATION], "/", "next={next}");
    }
}

async fn guessed_passwords_are_rate_limited_per_account(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.user("other", false, &[]);
    password_for(&app, "rm");
    password_for(&app, "other");

    // An unknown user and a wrong password read the same; the form keeps the uid.
    let unknown = post_login(&app, "nobody", PASSWORD, "/").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let unknown = unknown.text().await.unwrap();
    for attempt in 0..5 {
        let response = post_login(&app, "rm", "wrong password", "/").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
        let html = response.text().await.unwrap();
        assert!(html.contains("The user id or the password is wrong.") && html.contains(r#"value="rm""#), "{html}");
        assert!(unknown.contains("The user id or the password is wrong."));
    }
    // The sixth try is refused before the password is looked at, even the right one.
    let limited = post_login(&app, "rm", PASSWORD, "/").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = limited.headers()["Retry-After"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&wait), "{wait}");
    assert!(set_cookie(&limited, "trl_session").is_none());
    assert!(limited.text().await.unwrap().contains("Too many failed logins"));
    // Someone else at the same address is not locked out by it, nor is the account's owner
    // at another address (a uid is public: a few bad passwords must not lock its owner out).
    assert_eq!(post_login(&app, "other", PASSWORD, "/").await.status(), StatusCode::SEE_OTHER);
    let elsewhere = post_login_as(&app, "rm", PASSWORD, "/", Some("203.0.113.9"), "trl_login").await;
    assert_eq!(elsewhere.status(), StatusCode::SEE_OTHER);
    // Addresses a client writes into X-Forwarded-For itself are not believed: only the last,
    // which the front on loopback appended, counts.
    let spoofed = post_login_as(&app, "rm", PASSWORD, "/", Some("127.0.0.1"), "trl_login").await;
    assert_eq!(spoofed.status(), StatusCode::TOO_MANY_REQUESTS, "127.0.0.1 as reported is the locked address");

    // Guesses sent all at once count as much as guesses one by one.
    let guesses = (0..12).map(|_| post_login_as(&app, "other", "wrong password", "/", Some("192.0.2.1"), "trl_login"));
    let answers = futures_util::future::join_all(guesses).await;
    let mut checked = answers.iter().filter(|r| r.status() == StatusCode::UNAUTHORIZED).count();
    assert!(answers.iter().all(|r| [401, 429, 503].contains(&r.status().as_u16())));
    // Whatever the parallel ones got through, exactly 5 passwords are ever checked.
    loop {
        let next = post_login_as(&app, "other", "wrong password", "/", Some("192.0.2.1"), "trl_login").await;
        match next.status() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => break,
            other => panic!("{other}"),
        }
        assert!(checked <= 5, "more than 5 passwords were checked");
    }
    assert_eq!(checked, 5);
}

async fn drafts_are_pages_only_for_their_committee(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    release_with_checks_done(&app).await;
    app.project("tomcat", false).await;
    app.user("cat", false, &[("tomcat", Role::PmcMember)]);
    app.user("dev", false, &[("httpd", Role::Committer)]);
    password_for(&app, "cat");
    password_for(&app, "dev");

    // To a visitor and to another committee's PMC member a draft does not exist.
    let (status, html) = get_page(&app, None, PAGE).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("There is no release httpd/2.4.68.") && html.contains(r#"href="/">project directory"#));
    let cat = login(&app, "cat").await;
    let (status, html) = get_page(&app, Some(&cat.cookie), PAGE).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
    let refused = post_form(&app, &cat, PAGE, &[("action", "start_vote")]).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND, "a write does not betray the draft either");
    // The project page lists it only for its committee.
    let (status, html) = get_page(&app, Some(&cat.cookie), "/projects/httpd").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("2.4.68") && html.contains("No releases yet."), "{html}");

    // A committer of httpd reads it, checks grouped by file, but may not start the vote.
    let dev = login(&app, "dev").await;
    let (status, html) = get_page(&app, Some(&dev.cookie), PAGE).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"data-path="httpd-2.4.68.tar.gz""#) && !html.contains("start-vote-form"), "{html}");
    let refused = post_form(&app, &dev, PAGE, &[("action", "start_vote")]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("release_manager"), "a 403 names the role it needs");
    let (_, html) = get_page(&app, Some(&dev.cookie), "/projects/httpd").await;
    assert!(html.contains(r#"href="/releases/httpd/2.4.68""#), "{html}");

    // Pages name what is missing; the stylesheet is served by its hashed name, for a year.
    let (status, html) = get_page(&app, None, "/projects/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("There is no project nope."));
    let css = html.split(r#"<link rel="stylesheet" href=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    let response = app.client.get(app.url(&css)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{css}");
    assert_eq!(response.headers()["Cache-Control"], "public, max-age=31536000, immutable");
    let stale = app.client.get(app.url("/static/app.0000000000000000.css")).send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::NOT_FOUND);
}

async fn sessions_end_when_idle_and_with_a_new_password(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| c.session_idle_secs = 2).await else { return };
    release_with_checks_done(&app).await;
    password_for(&app, "rm");
    let rm = login(&app, "rm").await;
    let (status, _) = get_page(&app, Some(&rm.cookie), PAGE).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (status, _) = get_page(&app, Some(&rm.cookie), PAGE).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an idle session reads as a visitor (and a draft is not there)");

    let rm = login(&app, "rm").await;
    assert_eq!(get_page(&app, Some(&rm.cookie), PAGE).await.0, StatusCode::OK);
    app.db(|c| datastore::auth::session::set_password(c, "rm", Some("another good password")).unwrap());
    assert_eq!(get_page(&app, Some(&rm.cookie), PAGE).await.0, StatusCode::NOT_FOUND, "a new password ends sessions");
    let old = post_login(&app, "rm", PASSWORD, "/").await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
}

async fn tokens_are_made_once_listed_and_revoked_on_their_page(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let other = app.user("other", false, &[]);
    password_for(&app, "rm");

    // Without a login the page sends people to log in and back.
    let anonymous = app.client.get(app.url("/tokens")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()[LOCATION], "/login?next=%2Ftokens");

    let rm = login(&app, "rm").await;
    let refused = app
        .client
        .post(app.url("/tokens"))
        .header(COOKIE, &rm.cookie)
        .form(&[("action", "create"), ("label", "ci")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "no token, no new token");

    // Made once: the page shows the secret, and it works for the API.
    let made = post_form(&app, &rm, "/tokens", &[("action", "create"), ("label", "the deploy bot")]).await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let html = made.text().await.unwrap();
    let token =
        html.split(r#"id="new-token" class="mono" value=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert!(token.starts_with("trp_"), "{token}");
    let (status, jwt) =
        app.send(app.client.post(app.url("/api/v1/jwt")).json(&json!({"uid": "rm", "token": token}))).await;
    assert_eq!(status, StatusCode::OK, "{jwt}");
    let jwt = jwt["jwt"].as_str().unwrap().to_owned();
    // Listed afterwards with its last use, never with its secret.
    let (_, html) = get_page(&app, Some(&rm.cookie), "/tokens").await;
    assert!(html.contains("the deploy bot") && !html.contains(&token), "{html}");
    let row = html.split(r#"<tr data-id=""#).find(|row| row.contains("the deploy bot")).unwrap();
    let id = row.split('"').next().unwrap().to_owned();

    // Someone else's token is not there to revoke; one's own is, and its JWTs end with it.
    let (_, theirs) = app.send(app.client.get(app.url("/api/v1/tokens")).bearer_auth(&other)).await;
    let their_id = theirs["tokens"][0]["id"].to_string();
    let refused = post_form(&app, &rm, "/tokens", &[("action", "revoke"), ("id", &their_id)]).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    let (status, _) = app.send(app.client.get(app.url("/api/v1/tokens")).bearer_auth(&other)).await;
    assert_eq!(status, StatusCode::OK, "their token still works");
    let revoked = post_form(&app, &rm, "/tokens", &[("action", "revoke"), ("id", &id)]).await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    app.expect_error(app.client.get(app.url("/api/v1/me")).bearer_auth(&jwt), StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
    let (_, html) = get_page(&app, Some(&rm.cookie), "/tokens?done=revoke").await;
    assert!(html.contains("The token is revoked") && !html.contains("the deploy bot"), "{html}");
}

async fn people_add_their_own_keys_and_committees_show_theirs(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("tooling", false).await;
    app.project("httpd", false).await;
    app.user_with_email("sbp", Some("Apache-Tooling@example.invalid"), false, &[("tooling", Role::Committer)]);
    password_for(&app, "sbp");
    let sbp = login(&app, "sbp").await;
    let armored =
        std::fs::read_to_string(testkit::fixture("atr-playwright/68FF2E20F02B070D73D416188DE8CC167FE2663A.asc"))
            .unwrap();

    // Only the committees where the person may add keys are offered.
    let (_, html) = get_page(&app, Some(&sbp.cookie), "/keys").await;
    assert!(html.contains(r#"<option value="tooling">"#) && !html.contains(r#"<option value="httpd">"#), "{html}");
    assert!(html.contains("No keys."));

    // Garbage is refused with the reason, and what was pasted stays in the form.
    let garbage = post_form(&app, &sbp, "/keys", &[("armored", "not a key <b>"), ("committee", "")]).await;
    assert_eq!(garbage.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = garbage.text().await.unwrap();
    assert!(html.contains("does not look like a KEYS file") && html.contains("not a key &lt;b&gt;"), "{html}");
    // Another committee's KEYS is not theirs to change.
    let refused = post_form(&app, &sbp, "/keys", &[("armored", &armored), ("committee", "httpd")]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // A whole KEYS file is far over actix's 16 KiB form default: it is read, and each key that
    // is not theirs is named with the reason.
    let keys = String::from_utf8_lossy(&std::fs::read(testkit::httpd("KEYS")).unwrap()).into_owned();
    let big = post_form(&app, &sbp, "/keys", &[("armored", &keys), ("committee", "")]).await;
    assert_eq!(big.status(), StatusCode::UNPROCESSABLE_ENTITY, "none of them is theirs");
    let html = big.text().await.unwrap();
    assert!(html.contains("ownership_unproven") && html.contains("legacy_v3_key"), "{html}");
    let huge = "x".repeat(3 << 20);
    let too_big = post_form(&app, &sbp, "/keys", &[("armored", &huge)]).await;
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let added = post_form(&app, &sbp, "/keys", &[("armored", &armored), ("committee", "tooling")]).await;
    assert_eq!(added.status(), StatusCode::OK);
    let html = added.text().await.unwrap();
    assert!(
        html.contains("1 added, 0 updated")
            && html.contains(r#"data-fingerprint="68FF2E20F02B070D73D416188DE8CC167FE2663A""#)
    );
    // The committee's page lists it, for everyone, with the KEYS file it is in.
    let (status, html) = get_page(&app, None, "/committees/tooling").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("68FF2E20F02B070D73D416188DE8CC167FE2663A") && html.contains("/api/v1/committees/tooling/KEYS")
    );
    let (_, keys_file) = app.send(app.client.get(app.url("/api/v1/committees/tooling/KEYS"))).await;
    assert!(keys_file.as_str().unwrap().contains("BEGIN PGP PUBLIC KEY BLOCK"));
    let (status, _) = get_page(&app, None, "/committees/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn behind_https_cookies_are_host_only_and_cookie_reads_are_private(backend: Backend) {
    let public = |c: &mut datastore::config::Config| c.public_url = Some("https://releases.test".to_owned());
    let Some(app) = TestApp::start_with(backend, public).await else { return };
    release_with_checks_done(&app).await;
    password_for(&app, "rm");
    let response = post_login_as(&app, "rm", PASSWORD, PAGE, None, "__Host-trl_login").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let session = set_cookie(&response, "__Host-trl_session").expect("a __Host- session cookie");
    assert!(session.contains("Secure") && session.contains("Path=/") && !session.contains("Domain"), "{session}");
    let cookie = session.split(';').next().unwrap().to_owned();
    let (status, _) = get_page(&app, Some(&cookie), PAGE).await;
    assert_eq!(status, StatusCode::OK);
    // A cookie planted under the plain name (from a sibling subdomain, or over http) is not read.
    let planted = cookie.replacen("__Host-trl_session", "trl_session", 1);
    assert_eq!(get_page(&app, Some(&planted), PAGE).await.0, StatusCode::NOT_FOUND);

    // What a cookie reads through the API is that person's: never cached for others.
    let read = app.client.get(app.url(&format!("{RELEASE}/files"))).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(read.headers()["Cache-Control"], "private, no-store");
}

async fn a_draft_is_composed_on_its_page(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.user("cat", false, &[]);
    app.release(&rm, "httpd", "2.4.68").await;
    password_for(&app, "rm");
    password_for(&app, "cat");
    let browser = login(&app, "rm").await;
    let (_, html) = get_page(&app, Some(&browser.cookie), PAGE).await;
    assert!(html.contains(r#"data-upload="/api/v1/releases/httpd/2.4.68""#), "{html}");

    // What the page's script does for each chosen file: a streamed PUT with the session's token.
    let put = |name: &str, bytes: &'static [u8], csrf: &str| {
        app.client
            .put(app.url(&format!("{RELEASE}/files/{name}")))
            .header(COOKIE, &browser.cookie)
            .header("X-CSRF-Token", csrf.to_owned())
            .body(bytes)
    };
    app.expect_error(put("a.tar.gz", b"a", "wrong"), StatusCode::FORBIDDEN, "csrf_failed").await;
    for (name, bytes) in [("a.tar.gz", &b"first"[..]), ("a.tar.gz.sha512", b"sum"), ("notes.txt", b"x")] {
        let (status, body) = app.send(put(name, bytes, &browser.csrf)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, _) = app.send(put("a.tar.gz", b"second", &browser.csrf)).await;
    assert_eq!(status, StatusCode::CREATED);

    // Rename and delete through the forms; each is a revision, shown with what it changed.
    let renamed =
        post_form(&app, &browser, PAGE, &[("action", "move"), ("path", "notes.txt"), ("to", "README.txt")]).await;
    assert_eq!(renamed.status(), StatusCode::SEE_OTHER);
    let deleted = post_form(&app, &browser, PAGE, &[("action", "delete"), ("path", "a.tar.gz.sha512")]).await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    let missing = post_form(&app, &browser, PAGE, &[("action", "delete"), ("path", "nope.txt")]).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let (_, html) = get_page(&app, Some(&browser.cookie), &format!("{PAGE}?done=delete")).await;
    assert!(html.contains("The file is deleted, in a new revision."), "{html}");
    let row = |seq: u32| {
        let start =
            html.find(&format!(r#"<tr data-revision="{seq}">"#)).unwrap_or_else(|| panic!("revision {seq}: {html}"));
        html[start..].split("</tr>").next().unwrap().to_owned()
    };
    assert!(row(4).contains("~ a.tar.gz"), "new bytes under the same name: {}", row(4));
    assert!(row(5).contains("+ README.txt") && row(5).contains("− notes.txt"), "{}", row(5));
    assert!(row(6).contains("− a.tar.gz.sha512") && !row(6).contains("Restore"), "{}", row(6));

    // Restoring revision 3 brings back its names and bytes, as revision 7.
    let restored = post_form(&app, &browser, PAGE, &[("action", "restore"), ("revision", "3")]).await;
    assert_eq!(restored.status(), StatusCode::SEE_OTHER);
    let (_, files) = app.send(app.client.get(app.url(&format!("{RELEASE}/files"))).bearer_auth(&rm)).await;
    assert_eq!(files["revision"], 7);
    let names: Vec<&str> = files["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(names, ["a.tar.gz", "a.tar.gz.sha512", "notes.txt"]);
    let (_, first) = app.send(app.client.get(app.url(&format!("{RELEASE}/revisions/1"))).bearer_auth(&rm)).await;
    assert_eq!(files["files"][0]["sha512"], first["files"][0]["sha512"], "the first bytes of a.tar.gz are back");
    let latest = post_form(&app, &browser, PAGE, &[("action", "restore"), ("revision", "7")]).await;
    assert_eq!(latest.status(), StatusCode::CONFLICT);

    // Any two revisions compared: 5 to 7 brings back notes.txt and the checksum, drops the README.
    let (_, html) = get_page(&app, Some(&browser.cookie), &format!("{PAGE}?from=5&to=7")).await;
    let comparison =
        html.split(r#"id="comparison""#).nth(1).unwrap_or_else(|| panic!("{html}")).split("</div>\n").next().unwrap();
    assert!(comparison.contains("From revision 5 to revision 7"), "{comparison}");
    assert!(comparison.contains("+ notes.txt") && comparison.contains("− README.txt"), "{comparison}");
    let (_, html) = get_page(&app, Some(&browser.cookie), &format!("{PAGE}?from=3&to=7")).await;
    assert!(html.contains("The two hold the same files."), "7 restored 3: {html}");
    let (status, html) = get_page(&app, Some(&browser.cookie), &format!("{PAGE}?from=1&to=99")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("has no revision 99"), "{html}");

    // Someone outside the committee can do none of it: the draft is not there for them.
    let cat = login(&app, "cat").await;
    let refused = post_form(&app, &cat, PAGE, &[("action", "restore"), ("revision", "1")]).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
}

async fn a_passed_vote_is_finished_released_and_revoked_on_the_page(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    release_with_checks_done(&app).await;
    let rm_jwt = app.db(|c| datastore::domain::tokens::create_token(c, "test", "rm", "jwt").unwrap());
    let rm_jwt = app.jwt_for("rm", &rm_jwt);
    let (status, body) = app.send(post(&app, &rm_jwt, "/vote/start", json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for n in 1..=3 {
        let pmc = app.user(&format!("pmc{n}"), false, &[("httpd", Role::PmcMember)]);
        vote(&app, &pmc, 1).await;
    }
    close_vote(&app);
    app.user("dev", false, &[("httpd", Role::Committer)]);
    password_for(&app, "rm");
    password_for(&app, "dev");
    let rm = login(&app, "rm").await;

    let resolved = post_form(&app, &rm, PAGE, &[("action", "resolve"), ("outcome", "passed"), ("reason", "")]).await;
    assert_eq!(resolved.status(), StatusCode::SEE_OTHER);
    let (_, html) = get_page(&app, Some(&rm.cookie), PAGE).await;
    assert!(html.contains(r#"id="phase">preview"#) && html.contains(r#"id="finish""#), "{html}");
    let subject = html.split(r#"id="announcement-subject">"#).nth(1).unwrap().split('<').next().unwrap().to_owned();
    assert!(subject.starts_with("[ANNOUNCE]") && subject.contains("2.4.68"), "{subject}");
    assert!(html.contains("/current/httpd/2.4.68/httpd-2.4.68.tar.gz"), "the announcement names the public URLs");
    assert!(html.contains("No mail will be sent: the project&#x27;s policy names no mailing list"), "{html}");
    assert!(html.contains(r#"href="/audit?release=httpd%2F2.4.68""#), "{html}");
    // A committer reads the preview but is offered neither the release nor a rename.
    let dev = login(&app, "dev").await;
    let (_, theirs) = get_page(&app, Some(&dev.cookie), PAGE).await;
    assert!(!theirs.contains(r#"id="finish""#) && !theirs.contains(r#"name="rename""#), "{theirs}");
    let refused = post_form(&app, &dev, PAGE, &[("action", "release")]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // Names may change in a preview; then the voted bytes go out. A download of the old name
    // just before the rename does not outlive it.
    let old_name = app.url("/candidate/httpd/2.4.68/httpd-2.4.68.tar.gz.sha512");
    assert_eq!(app.client.get(&old_name).send().await.unwrap().status(), StatusCode::OK);
    let renamed = post_form(
        &app,
        &rm,
        PAGE,
        &[("action", "move"), ("path", "httpd-2.4.68.tar.gz.sha512"), ("to", "httpd-2.4.68.tar.gz.sha-512")],
    )
    .await;
    assert_eq!(renamed.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.client.get(&old_name).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    // A name that breaks the path rules keeps it from going out, and the page says why.
    let refused = post_form(&app, &rm, PAGE, &[("action", "release")]).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(refused.text().await.unwrap().contains("has no checksum httpd-2.4.68.tar.gz.sha512"));
    let back = post_form(
        &app,
        &rm,
        PAGE,
        &[("action", "move"), ("path", "httpd-2.4.68.tar.gz.sha-512"), ("to", "httpd-2.4.68.tar.gz.sha512")],
    )
    .await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    let released = post_form(&app, &rm, PAGE, &[("action", "release")]).await;
    assert_eq!(released.status(), StatusCode::SEE_OTHER, "{}", released.text().await.unwrap());
    let (_, html) = get_page(&app, Some(&rm.cookie), &format!("{PAGE}?done=release")).await;
    assert!(html.contains("Released: the files are public") && html.contains(r#"id="phase">current"#), "{html}");
    assert!(html.contains("exactly the voted bytes") && html.contains(r#"id="revoke""#), "{html}");
    let download = app.client.get(app.url("/current/httpd/2.4.68/httpd-2.4.68.tar.gz.sha512")).send().await.unwrap();
    assert_eq!(download.status(), StatusCode::OK);

    // Revoking needs a reason, which its old URLs then give.
    let bare = post_form(&app, &rm, PAGE, &[("action", "revoke"), ("reason", " ")]).await;
    assert_eq!(bare.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let revoked = post_form(&app, &rm, PAGE, &[("action", "revoke"), ("reason", "CVE-2099-0002: broken")]).await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    let (_, html) = get_page(&app, None, PAGE).await;
    assert!(html.contains(r#"id="phase">revoked"#) && html.contains("CVE-2099-0002: broken"), "{html}");
    let gone = app.client.get(app.url("/current/httpd/2.4.68/httpd-2.4.68.tar.gz")).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::GONE);
}

async fn the_audit_page_shows_what_its_reader_may_see(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    release_with_checks_done(&app).await;
    app.project("tomcat", false).await;
    let cat = app.user("cat", false, &[("tomcat", Role::ReleaseManager)]);
    app.release(&cat, "tomcat", "11.0.1").await;
    app.set_phase("tomcat", "11.0.1", "candidate");
    password_for(&app, "rm");

    // A visitor sees the candidate's events, not the draft's.
    let (status, html) = get_page(&app, None, "/audit").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("tomcat/11.0.1") && !html.contains("httpd/2.4.68"), "{html}");
    // Its committee sees the draft's too, and can narrow to it.
    let rm = login(&app, "rm").await;
    let (_, html) = get_page(&app, Some(&rm.cookie), "/audit?release=httpd/2.4.68&committee=&actor=").await;
    assert!(html.contains("httpd/2.4.68") && html.contains("revision.created") && !html.contains("tomcat/11.0.1"));
    assert!(html.contains(r#"value="httpd/2.4.68""#), "the form keeps the filter: {html}");
    let (_, html) = get_page(&app, Some(&rm.cookie), "/audit?actor=cat").await;
    assert!(html.contains("release.created") && !html.contains("revision.created"), "{html}");
    let (status, html) = get_page(&app, None, "/audit?since=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("since is not an RFC 3339 time"), "{html}");
    // The newest first, with a way to later and earlier events.
    let (_, html) = get_page(&app, Some(&rm.cookie), "/audit?release=httpd/2.4.68").await;
    let (newest, oldest) = (html.find("revision.created").unwrap(), html.find("release.created").unwrap());
    assert!(newest < oldest, "newest first: {html}");
    let (_, html) = get_page(&app, Some(&rm.cookie), "/audit?offset=1").await;
    assert!(html.contains(r#"id="later""#) && html.contains("The newest events 2–"), "{html}");
}

async fn operators_watch_the_runners(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    release_with_checks_done(&app).await;
    let busy = app.runner("runner-busy").await;
    app.runner("runner-idle").await;
    let rm_token = app.db(|c| datastore::domain::tokens::create_token(c, "test", "rm", "jwt").unwrap());
    let rm_jwt = app.jwt_for("rm", &rm_token);
    app.upload(&rm_jwt, "httpd/2.4.68", "extra.txt", b"more".to_vec()).await;
    assert!(!app.claim(&busy, &["paths", "hashing", "signature", "archive", "license", "rat"]).await.is_empty());
    password_for(&app, "root"); // the admin the harness made
    password_for(&app, "rm");

    // Not for release managers; the API says the same.
    let rm = login(&app, "rm").await;
    let (status, html) = get_page(&app, Some(&rm.cookie), "/runners").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("an administrator"), "{html}");
    app.expect_error(
        app.client.get(app.url("/api/v1/admin/runners")).bearer_auth(&rm_jwt),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // Nor for a runner's own token, nor for anyone without credentials.
    let runners = || app.client.get(app.url("/api/v1/admin/runners"));
    app.expect_error(runners().bearer_auth(&busy), StatusCode::UNAUTHORIZED, "unauthorized").await;
    app.expect_error(runners(), StatusCode::UNAUTHORIZED, "unauthorized").await;
    let anonymous = app.client.get(app.url("/runners")).send().await.unwrap();
    assert_eq!(anonymous.headers()[LOCATION], "/login?next=%2Frunners");

    let root = login(&app, "root").await;
    let (status, html) = get_page(&app, Some(&root.cookie), "/runners").await;
    assert_eq!(status, StatusCode::OK);
    let row = |name: &str| {
        html.split(&format!(r#"data-runner="{name}""#)).nth(1).unwrap().split("</tr>").next().unwrap().to_owned()
    };
    assert!(
        row("runner-busy").contains("paths, hashing") && !row("runner-busy").contains("silent"),
        "{}",
        row("runner-busy")
    );
    assert!(row("runner-idle").contains("never") && row("runner-idle").contains("silent"), "{}", row("runner-idle"));
    // What the busy one works on, with its capacity; the queue and the day's throughput.
    let busy_now = row("runner-busy");
    assert!(busy_now.contains(r#"<td class="num">64</td>"#) && busy_now.contains("paths · httpd/2.4.68"), "{busy_now}");
    assert!(busy_now.contains("0 completed"), "it has finished nothing yet: {busy_now}");
    assert!(html.contains(r#"<svg id="throughput""#) && html.contains(r#"class="bar""#), "{html}");
    let finished_today: u64 =
        html.split(r#"id="finished-today">"#).nth(1).unwrap().split('<').next().unwrap().parse().unwrap();
    assert!(finished_today >= 3, "the release's checks finished in the last hour: {finished_today}");
    let (_, list) = app.send(app.client.get(app.url("/api/v1/admin/runners")).bearer_auth(app.admin())).await;
    let busy_row = list["runners"].as_array().unwrap().iter().find(|r| r["name"] == "runner-busy").unwrap().clone();
    assert!(busy_row["running"].as_u64().unwrap() >= 1, "{list}");
    assert_eq!(busy_row["capacity"], 64, "{list}");
    assert_eq!(busy_row["current"].as_array().unwrap().len() as u64, busy_row["running"].as_u64().unwrap());
    assert_eq!(list["queue"]["finished_per_hour"].as_array().unwrap().len(), 24, "{list}");
    let completed: u64 = list["runners"].as_array().unwrap().iter().map(|r| r["completed"].as_u64().unwrap()).sum();
    assert!(completed >= 3, "the harness's runner completed the release's checks: {list}");

    // The datastore's scheduled work, with each job's last run.
    let config = app.state.config.clone();
    app.db(|c| datastore::domain::schedules::configure(c, &config).unwrap());
    let (status, _) =
        app.send(app.client.post(app.url("/api/v1/schedules/distribution_recheck/run")).bearer_auth(app.admin())).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(datastore::domain::schedules::pass(&app.state).await.unwrap(), 1);
    let (_, html) = get_page(&app, Some(&root.cookie), "/runners").await;
    let job = |name: &str| {
        html.split(&format!(r#"data-job="{name}""#)).nth(1).unwrap().split("</tr>").next().unwrap().to_owned()
    };
    let recheck = job("distribution_recheck");
    assert!(recheck.contains("600 s") && recheck.contains("status-success"), "{recheck}");
    assert!(recheck.contains("queued 0 distribution checks"), "{recheck}");
    assert!(job("asf_refresh").contains(">off<") && job("asf_refresh").contains("never"), "{}", job("asf_refresh"));
}

async fn the_header_search_finds_committees_releases_and_keys(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    release_with_checks_done(&app).await;
    app.project("tomcat", false).await;
    let cat = app.user("cat", false, &[("tomcat", Role::ReleaseManager)]);
    app.release(&cat, "tomcat", "2.4.99").await;
    app.set_phase("tomcat", "2.4.99", "candidate");
    let keys = std::fs::read(testkit::httpd("KEYS")).unwrap();
    let admin = app.admin();
    let (status, _) =
        app.send(app.client.post(app.url("/api/v1/committees/httpd/keys/import")).bearer_auth(&admin).body(keys)).await;
    assert_eq!(status, StatusCode::OK);

    // A version: the public candidate is found, the draft of the same prefix is not.
    let (_, html) = get_page(&app, None, "/?q=2.4").await;
    let found =
        html.split(r#"id="found-releases""#).nth(1).unwrap_or_else(|| panic!("{html}")).split("</ul>").next().unwrap();
    assert!(found.contains(r#"href="/releases/tomcat/2.4.99""#) && !found.contains("2.4.68"), "{found}");
    // A committee by its display name, and nothing from wildcards.
    let (_, html) = get_page(&app, None, "/?q=apache%20tom").await;
    assert!(html.contains(r#"<a href="/committees/tomcat">Apache tomcat</a>"#), "{html}");
    let (_, html) = get_page(&app, None, "/?q=%25").await;
    assert!(!html.contains("found-committees") && !html.contains("found-releases"), "a % matches nothing by itself");
    // A key by the last 16 hex digits of its fingerprint, spaced as people write them, or by name.
    let (_, html) = get_page(&app, None, "/?q=8278%201DE4%206D59%2054FA").await;
    assert!(html.contains("65B2D44FE74BD5E3DE3AC3F082781DE46D5954FA") && html.contains(r#"href="/committees/httpd""#));
    let (_, html) = get_page(&app, None, "/?q=covener").await;
    assert!(html.contains("found-keys"), "{html}");
}

async fn failures_are_waived_and_shown_waived_on_the_release_page(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.user("dev", false, &[("httpd", Role::Committer)]);
    app.release(&rm, "httpd", "2.4.68").await;
    upload_all(&app, &rm).await;
    assert!(crate::lifecycle::finish_checks(&app, "failure").await >= 3);
    password_for(&app, "rm");
    password_for(&app, "dev");

    // A committer sees the failures, and no way to waive them; the form posted anyway is refused.
    let dev = login(&app, "dev").await;
    let (_, html) = get_page(&app, Some(&dev.cookie), PAGE).await;
    assert!(html.contains(r#"data-status="failure""#) && !html.contains(r#"id="waive-form""#), "{html}");
    let waive = [
        ("action", "waive"),
        ("checker", "signature"),
        ("rule", "T1"),
        ("path_glob", "httpd-2.4.68.tar.gz*"),
        ("reason", "Signed with the new key; see LEGAL-123."),
        ("scope", "release"),
    ];
    let refused = post_form(&app, &dev, PAGE, &waive).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // The release manager waives the signature failure; the page shows who and why, inline.
    let rm = login(&app, "rm").await;
    let (_, html) = get_page(&app, Some(&rm.cookie), PAGE).await;
    assert!(html.contains(r#"id="waive-form""#) && html.contains(r#"<option value="signature">"#), "{html}");
    let blockers =
        html.split(r#"id="vote-blockers""#).nth(1).unwrap_or_else(|| panic!("{html}")).split("</div>").next().unwrap();
    assert!(blockers.contains("check results fail"), "what keeps the vote from starting is shown: {blockers}");
    // A vote on a revision older than the latest (the page was read before an upload) does not start.
    let stale =
        post_form(&app, &rm, PAGE, &[("action", "start_vote"), ("revision", "1"), ("duration_hours", "")]).await;
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let bad_rule = post_form(
        &app,
        &rm,
        PAGE,
        &[("action", "waive"), ("checker", "signature"), ("rule", "P1"), ("path_glob", "*"), ("reason", "x")],
    )
    .await;
    assert_eq!(bad_rule.status(), StatusCode::UNPROCESSABLE_ENTITY, "a (fixed) rule is never waived");
    let made = post_form(&app, &rm, PAGE, &waive).await;
    assert_eq!(made.headers()[LOCATION], format!("{PAGE}?done=waive"));
    let (_, html) = get_page(&app, Some(&rm.cookie), &format!("{PAGE}?done=waive")).await;
    assert!(html.contains("The waiver is made"), "{html}");
    assert!(
        html.contains("Waived by <strong>rm</strong> (release): Signed with the new key; see LEGAL-123."),
        "the waived result says who and why: {html}"
    );
    let list = html.split(r#"id="waiver-list""#).nth(1).unwrap().split("</table>").next().unwrap();
    assert!(list.contains("httpd-2.4.68.tar.gz*") && list.contains("<code>T1</code>"), "{list}");
    assert!(
        html.contains(r#"data-status="waived""#) && html.contains(r#"data-status="failure""#),
        "the others still fail"
    );

    // Withdrawn, the failure is a failure again.
    let id = list.split(r#"data-waiver=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    let withdrawn = post_form(&app, &rm, PAGE, &[("action", "unwaive"), ("waiver", &id)]).await;
    assert_eq!(withdrawn.headers()[LOCATION], format!("{PAGE}?done=unwaive"));
    let (_, html) = get_page(&app, Some(&rm.cookie), PAGE).await;
    assert!(!html.contains("Waived by") && !html.contains(r#"data-status="waived""#), "{html}");

    // A project-wide waiver is listed on the project page too, for those who read its drafts
    // (it was made on one); its release managers withdraw it there, others see no button and
    // are refused.
    let (_, html) = get_page(&app, Some(&dev.cookie), "/projects/httpd").await;
    assert!(html.contains("No waiver covers every release of this project."), "{html}");
    let project_wide: Vec<_> = waive.iter().map(|&(k, v)| if k == "scope" { (k, "project") } else { (k, v) }).collect();
    let made = post_form(&app, &rm, PAGE, &project_wide).await;
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    let (_, html) = get_page(&app, None, "/projects/httpd").await;
    assert!(!html.contains("LEGAL-123") && html.contains("Each release's page shows the waivers"), "{html}");
    let (_, html) = get_page(&app, Some(&dev.cookie), "/projects/httpd").await;
    let list = html.split(r#"id="project-waivers""#).nth(1).unwrap().split("</table>").next().unwrap();
    assert!(list.contains("Signed with the new key; see LEGAL-123.") && list.contains("<td>rm</td>"), "{list}");
    assert!(!list.contains("Withdraw"), "a committer sees no action: {list}");
    let id = list.split(r#"data-waiver=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    let refused = post_form(&app, &dev, "/projects/httpd", &[("action", "unwaive"), ("waiver", &id)]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let (_, html) = get_page(&app, Some(&rm.cookie), "/projects/httpd").await;
    assert!(html.contains(&format!(r#"id="unwaive-{id}""#)), "{html}");
    let withdrawn = post_form(&app, &rm, "/projects/httpd", &[("action", "unwaive"), ("waiver", &id)]).await;
    assert_eq!(withdrawn.headers()[LOCATION], "/projects/httpd?done=unwaive#waivers");
    let again = post_form(&app, &rm, "/projects/httpd", &[("action", "unwaive"), ("waiver", &id)]).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND, "it is withdrawn once");
    let (_, html) = get_page(&app, Some(&dev.cookie), "/projects/httpd").await;
    assert!(html.contains("No waiver covers every release of this project."), "{html}");
}

async fn committers_start_releases_and_the_pmc_changes_the_policy_on_the_project_page(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    app.user("dev", false, &[("httpd", Role::Committer)]);
    app.user("pmc", false, &[("httpd", Role::PmcMember)]);
    password_for(&app, "dev");
    password_for(&app, "pmc");

    let (_, html) = get_page(&app, None, "/projects/httpd").await;
    assert!(!html.contains("start-release-form") && !html.contains("policy-form"), "{html}");
    let dev = login(&app, "dev").await;
    let (_, html) = get_page(&app, Some(&dev.cookie), "/projects/httpd").await;
    assert!(html.contains(r#"id="start-release-form""#) && !html.contains("policy-form"), "{html}");
    let started = post_form(&app, &dev, "/projects/httpd", &[("action", "start"), ("version", "2.4.70")]).await;
    assert_eq!(started.headers()[LOCATION], "/releases/httpd/2.4.70");
    let (status, html) = get_page(&app, Some(&dev.cookie), "/releases/httpd/2.4.70").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"id="phase">draft"#), "{html}");
    let again = post_form(&app, &dev, "/projects/httpd", &[("action", "start"), ("version", "2.4.70")]).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let bad = post_form(&app, &dev, "/projects/httpd", &[("action", "start"), ("version", "../x")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let policy = [
        ("action", "policy"),
        ("min_vote_hours", "96"),
        ("binding_plus_required", "3"),
        ("vote_mode", "mail"),
        ("mailing_list", "dev@httpd.apache.org"),
        ("unknown_header_severity", "failure"),
        ("auto_resolve", "on"),
    ];
    let refused = post_form(&app, &dev, "/projects/httpd", &policy).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "a committer does not change the policy");

    let pmc = login(&app, "pmc").await;
    let changed = post_form(&app, &pmc, "/projects/httpd", &policy).await;
    assert_eq!(changed.headers()[LOCATION], "/projects/httpd?done=policy");
    let (_, body) = app.send(app.client.get(app.url("/api/v1/projects/httpd/policy"))).await;
    assert_eq!(
        (body["min_vote_hours"].as_u64(), body["binding_plus_required"].as_u64()),
        (Some(96), Some(3)),
        "{body}"
    );
    assert_eq!(
        (body["vote_mode"].as_str(), body["mailing_list"].as_str()),
        (Some("mail"), Some("dev@httpd.apache.org"))
    );
    assert_eq!(body["unknown_header_severity"], "failure");
    // A box left unticked is false: the whole policy is what the form showed.
    assert_eq!((body["auto_resolve"].as_bool(), body["warn_on_rsa_below_4096"].as_bool()), (Some(true), Some(false)));
    let (_, html) = get_page(&app, Some(&pmc.cookie), "/projects/httpd?done=policy").await;
    assert!(html.contains("The release policy is changed.") && html.contains("<td>96 hours</td>"), "{html}");
    assert_eq!(body["source_tag"], "{version}", "a form without the tag keeps the default: {body}");
    let mut with_source = policy.to_vec();
    with_source.extend([
        ("source_repository", "https://github.com/apache/httpd"),
        ("source_tag", "rel/{version}"),
        ("generated_files", "configure\r\n**/Makefile.in\r\n"),
    ]);
    let changed = post_form(&app, &pmc, "/projects/httpd", &with_source).await;
    assert_eq!(changed.headers()[LOCATION], "/projects/httpd?done=policy");
    let (_, body) = app.send(app.client.get(app.url("/api/v1/projects/httpd/policy"))).await;
    assert_eq!(
        (body["source_repository"].as_str(), body["source_tag"].as_str(), body["generated_files"].clone()),
        (Some("https://github.com/apache/httpd"), Some("rel/{version}"), json!(["configure", "**/Makefile.in"]))
    );
    let (_, html) = get_page(&app, Some(&pmc.cookie), "/projects/httpd").await;
    assert!(html.contains("<code>https://github.com/apache/httpd</code>, tag <code>rel/{version}</code>"), "{html}");
    let invalid = post_form(
        &app,
        &pmc,
        "/projects/httpd",
        &[("action", "policy"), ("min_vote_hours", "x"), ("binding_plus_required", "3")],
    )
    .await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The mail templates: everyone reads them; the PMC writes its own, and goes back to the default.
    let (_, html) = get_page(&app, Some(&dev.cookie), "/projects/httpd").await;
    assert!(
        html.contains(r#"data-kind="vote""#) && html.contains("(the default)") && !html.contains("template-form-vote")
    );
    let template = [
        ("action", "template"),
        ("kind", "vote"),
        ("subject", "[VOTE] Release httpd {{ version }}"),
        ("body", "Please vote on {{ version }}.\r\n"),
    ];
    let refused = post_form(&app, &dev, "/projects/httpd", &template).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "a committer does not write the project's mails");
    let saved = post_form(&app, &pmc, "/projects/httpd", &template).await;
    assert_eq!(saved.headers()[LOCATION], "/projects/httpd?done=template");
    let (_, list) = app.send(app.client.get(app.url("/api/v1/projects/httpd/mail-templates"))).await;
    let vote = list["templates"].as_array().unwrap().iter().find(|t| t["kind"] == "vote").unwrap().clone();
    assert_eq!(
        (vote["custom"].as_bool(), vote["body"].as_str()),
        (Some(true), Some("Please vote on {{ version }}.\n"))
    );
    let broken = [("action", "template"), ("kind", "vote"), ("subject", "x"), ("body", "{{ oops")];
    let broken = post_form(&app, &pmc, "/projects/httpd", &broken).await;
    assert_eq!(broken.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(broken.text().await.unwrap().contains("does not render"));
    let reset = post_form(&app, &pmc, "/projects/httpd", &[("action", "reset_template"), ("kind", "vote")]).await;
    assert_eq!(reset.headers()[LOCATION], "/projects/httpd?done=reset_template");
    let (_, html) = get_page(&app, Some(&pmc.cookie), "/projects/httpd?done=reset_template").await;
    assert!(
        html.contains("the platform&#x27;s default again") || html.contains("the platform's default again"),
        "{html}"
    );
    assert!(html.contains(r#"id="template-form-vote""#), "{html}");
}
