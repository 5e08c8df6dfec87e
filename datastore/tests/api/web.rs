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
use crate::lifecycle::{RELEASE, finish_checks, upload_all};

on_both_backends!(
    a_person_logs_in_starts_and_casts_votes_on_the_page_and_logs_out,
    forms_and_cookie_writes_without_their_token_are_refused,
    guessed_passwords_are_rate_limited_per_account,
    drafts_are_pages_only_for_their_committee,
    sessions_end_when_idle_and_with_a_new_password,
);

const PAGE: &str = "/releases/httpd/2.4.68";
const PASSWORD: &str = "correct horse battery";

/// A browser's session: its cookie and the CSRF token its pages carry.
struct Browser {
    cookie: String,
    csrf: String,
}

fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The value of the first `name="csrf"` hidden field of a page.
fn csrf_of(html: &str) -> String {
    let start = html.find(r#"name="csrf" value=""#).map(|i| i + r#"name="csrf" value=""#.len());
    let start = start.unwrap_or_else(|| panic!("no CSRF field in the page: {html}"));
    html[start..].split('"').next().unwrap().to_owned()
}

fn password_for(app: &TestApp, uid: &str) {
    app.db(|c| datastore::auth::session::set_password(c, uid, Some(PASSWORD)).unwrap());
}

/// Opens the login page and posts it, as a browser does; returns the answer.
async fn post_login(app: &TestApp, uid: &str, password: &str, next: &str) -> reqwest::Response {
    let form_page = app.client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(form_page.status(), StatusCode::OK);
    let login_cookie = set_cookie(&form_page, "trl_login").expect("the login form sets its token cookie");
    assert!(login_cookie.contains("HttpOnly") && login_cookie.contains("SameSite=Strict"), "{login_cookie}");
    let cookie = login_cookie.split(';').next().unwrap().to_owned();
    let csrf = csrf_of(&form_page.text().await.unwrap());
    app.client
        .post(app.url("/login"))
        .header(COOKIE, cookie)
        .form(&[("uid", uid), ("password", password), ("next", next), ("csrf", &csrf)])
        .send()
        .await
        .unwrap()
}

async fn login(app: &TestApp, uid: &str) -> Browser {
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
    assert!(html.contains(&format!(r#"<span class="who">{uid}</span>"#)), "{html}");
    Browser { csrf: csrf_of(&html), cookie }
}

async fn get_page(app: &TestApp, cookie: Option<&str>, path: &str) -> (StatusCode, String) {
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

async fn post_form(app: &TestApp, browser: &Browser, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = vec![("csrf", &browser.csrf)];
    form.extend_from_slice(fields);
    app.client.post(app.url(path)).header(COOKIE, &browser.cookie).form(&form).send().await.unwrap()
}

async fn release_with_checks_done(app: &TestApp) {
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
    assert!(!html.contains("pmc1</span>") && html.contains("Log in"), "{html}");
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
    // Someone else at the same address is not locked out by it.
    assert_eq!(post_login(&app, "other", PASSWORD, "/").await.status(), StatusCode::SEE_OTHER);
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
