//! People besides committee members, at the pages: visitors who sign up after consenting, vote
//! without binding and withdraw; foundation members who read every event; admins who invite,
//! grant roles, register runners and retry tasks at `/admin`; and those who may not.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};
use serde_json::Value;
use shared_models::api::Role;
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;
use crate::lifecycle::{RELEASE, vote};
use crate::web::{
    PAGE, PASSWORD, csrf_of, get_page, login, password_for, post_form, release_with_checks_done, set_cookie,
};

on_both_backends!(
    visitors_sign_up_with_consent_vote_without_binding_and_withdraw,
    sign_ups_are_limited_per_address_and_can_be_closed,
    foundation_members_read_every_event,
    admins_invite_grant_and_register_at_the_admin_page,
    the_admin_page_is_for_admins_only,
);

/// Opens `/signup` and posts it from `address` with `fields` (the password given twice).
async fn sign_up(app: &TestApp, address: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let form = app.client.get(app.url("/signup")).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let cookie = set_cookie(&form, "trl_login").expect("the form's token cookie");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    // The form's token is the cookie's (double submit); a closed sign-up has no form to read.
    let csrf = cookie.split_once('=').unwrap().1.to_owned();
    let mut body: Vec<(&str, &str)> = vec![("csrf", &csrf)];
    body.extend_from_slice(fields);
    app.client
        .post(app.url("/signup"))
        .header(COOKIE, cookie)
        .header("X-Forwarded-For", address)
        .form(&body)
        .send()
        .await
        .unwrap()
}

fn visitor(uid: &str, consent: bool) -> Vec<(&str, &str)> {
    let mut fields = vec![
        ("uid", uid),
        ("name", "Vera Visitor"),
        ("email", "vera@example.org"),
        ("password", PASSWORD),
        ("password2", PASSWORD),
    ];
    if consent {
        fields.push(("consent", "yes"));
    }
    fields
}

async fn events(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, body) =
        app.send(app.client.get(app.url(&format!("/api/v1/events?{query}"))).bearer_auth(app.admin())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"].as_array().unwrap().clone()
}

async fn visitors_sign_up_with_consent_vote_without_binding_and_withdraw(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    release_with_checks_done(&app).await;
    let pmc = app.user("pmc1", false, &[("httpd", Role::PmcMember)]);
    let rm_token = app.db(|c| datastore::domain::tokens::create_token(c, "test", "rm", "jwt").unwrap());
    let rm = app.jwt_for("rm", &rm_token);
    let (status, body) = app.send(crate::lifecycle::post(&app, &rm, "/vote/start", serde_json::json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    vote(&app, &pmc, 1).await;

    // The form says what is kept, before anything is.
    let (_, html) = get_page(&app, None, "/signup").await;
    assert!(html.contains("What is kept about you") && html.contains("written into the audit log"), "{html}");

    // Without the consent box there is no account, and the form keeps what was typed.
    let refused = sign_up(&app, "192.0.2.10", &visitor("vera", false)).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("needs your consent") && html.contains(r#"value="Vera Visitor""#), "{html}");
    assert!(app.db(|c| datastore::db::queries::auth::find_user(c, "vera").unwrap()).is_none());
    // A name that withdrawn ballots use is not anyone's.
    let taken = sign_up(&app, "192.0.2.10", &visitor("anonymous-7", true)).await;
    assert_eq!(taken.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // With it: the account, logged in at once, showing what is kept.
    let made = sign_up(&app, "192.0.2.10", &visitor("vera", true)).await;
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    assert_eq!(made.headers()[LOCATION], "/account?done=signup");
    let cookie = set_cookie(&made, "trl_session").unwrap().split(';').next().unwrap().to_owned();
    let (status, html) = get_page(&app, Some(&cookie), "/account").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("vera@example.org") && html.contains("visitor (your ballots are non-binding)"), "{html}");
    assert!(html.contains(r#"id="withdraw-form""#), "{html}");
    let signed_up = events(&app, "actor=vera").await;
    assert_eq!(signed_up[0]["action"], "visitor.signed_up", "{signed_up:?}");
    let logged = serde_json::to_string(&signed_up).unwrap();
    assert!(
        !logged.contains("Vera Visitor") && !logged.contains("vera@example.org"),
        "the log holds no personal data: {logged}"
    );

    // Their ballot counts, without binding; the log keeps its comment's digest, not its text.
    let (_, page) = get_page(&app, Some(&cookie), PAGE).await;
    assert!(page.contains(r#"<strong id="binding">not binding</strong>"#), "{page}");
    let csrf = csrf_of(&page);
    let browser = crate::web::Browser { cookie: cookie.clone(), csrf };
    let cast =
        post_form(&app, &browser, PAGE, &[("action", "vote"), ("value", "1"), ("comment", "Vera's own words")]).await;
    assert_eq!(cast.status(), StatusCode::SEE_OTHER);
    let (_, votes) = app.send(app.client.get(app.url(&format!("{RELEASE}/votes")))).await;
    let theirs = votes["votes"].as_array().unwrap().iter().find(|v| v["voter"] == "vera").unwrap().clone();
    assert_eq!((theirs["binding"].as_bool(), theirs["comment"].as_str()), (Some(false), Some("Vera's own words")));
    let cast_event = events(&app, "actor=vera").await.into_iter().find(|e| e["action"] == "vote.cast").unwrap();
    assert!(
        cast_event["details"]["comment"].is_null() && cast_event["details"]["comment_sha256"].is_string(),
        "{cast_event}"
    );

    // A visitor's account never gets a role, by hand or by an import of Apache's rosters (anyone
    // may take a free uid, a committer's too, before that committer is imported).
    let grant = serde_json::json!({"uid": "vera", "committee": "httpd", "role": "pmc_member"});
    app.expect_error(
        app.client.put(app.url("/api/v1/admin/memberships")).bearer_auth(app.admin()).json(&grant),
        StatusCode::CONFLICT,
        "visitor_account",
    )
    .await;
    let roster = serde_json::json!({"committees": {"httpd": {"display_name": "HTTP Server", "roster": {"vera": {"name": "Vera"}}}}});
    let (status, counts) =
        app.send(app.client.post(app.url("/api/v1/admin/import/asf")).bearer_auth(app.admin()).json(&roster)).await;
    assert_eq!(status, StatusCode::OK, "{counts}");
    assert!(counts["skipped"].to_string().contains("user vera: the uid is a visitor's own account"), "{counts}");
    let vera = app.db(|c| datastore::db::queries::auth::find_user(c, "vera").unwrap().unwrap());
    assert!(app.db(|c| datastore::db::queries::auth::memberships(c, vera.id).unwrap()).is_empty());
    // Nobody checked a visitor's address: it proves no key theirs, and no mail ballot theirs.
    let vera_token = app.db(|c| datastore::domain::tokens::create_token(c, "test", "vera", "keys").unwrap());
    let vera_jwt = app.jwt_for("vera", &vera_token);
    app.db(|c| {
        use datastore::db::schema::users;
        use diesel::prelude::*;
        diesel::update(users::table.filter(users::uid.eq("vera")))
            .set(users::email.eq("apache-tooling@example.invalid"))
            .execute(c)
            .unwrap();
    });
    let key = std::fs::read_to_string(testkit::fixture("atr-playwright/68FF2E20F02B070D73D416188DE8CC167FE2663A.asc"))
        .unwrap();
    let (status, body) = app
        .send(
            app.client.post(app.url("/api/v1/keys")).bearer_auth(&vera_jwt).json(&serde_json::json!({"armored": key})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("a visitor's address is not checked"), "{body}");
    let by_address = app.db(|c| {
        datastore::db::queries::auth::users_by_email(c, &["apache-tooling@example.invalid".to_owned()]).unwrap()
    });
    assert!(by_address.is_empty(), "a mail from that address is not vera's ballot");
    // The data withdrawal must remove: a signed ballot's signature and signer, failed logins.
    app.db(|c| {
        use datastore::db::schema::vote;
        use diesel::prelude::*;
        diesel::update(vote::table.filter(vote::voter.eq("vera")))
            .set((
                vote::signature.eq("-----BEGIN PGP SIGNATURE-----"),
                vote::signed_by.eq("68FF2E20F02B070D73D416188DE8CC167FE2663A"),
            ))
            .execute(c)
            .unwrap();
    });
    let wrong = crate::web::post_login(&app, "vera", "not vera's password", "/").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    // Withdrawing needs the box ticked; then the data are gone and the session with them.
    let unconfirmed = post_form(&app, &browser, "/account", &[("action", "withdraw")]).await;
    assert_eq!(unconfirmed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let withdrawn = post_form(&app, &browser, "/account", &[("action", "withdraw"), ("confirm", "yes")]).await;
    assert_eq!(withdrawn.status(), StatusCode::SEE_OTHER);
    assert_eq!(withdrawn.headers()[LOCATION], "/?done=withdrawn");
    let row = app.db(|c| datastore::db::queries::auth::find_user(c, "vera").unwrap().unwrap());
    assert_eq!((row.name, row.email, row.password_hash), (None, None, None));
    assert!(row.withdrawn_at.is_some());
    let (signatures, failures) = app.db(|c| {
        use datastore::db::schema::{login_failure, vote};
        use diesel::prelude::*;
        let signatures: i64 = vote::table
            .filter(vote::voter.like("anonymous-%"))
            .filter(vote::signature.is_not_null().or(vote::signed_by.is_not_null()))
            .count()
            .get_result(c)
            .unwrap();
        let failures: i64 = login_failure::table.filter(login_failure::uid.eq("vera")).count().get_result(c).unwrap();
        (signatures, failures)
    });
    assert_eq!((signatures, failures), (0, 0), "no signature, signer or failed login of vera is left");
    let (_, votes) = app.send(app.client.get(app.url(&format!("{RELEASE}/votes")))).await;
    let ballots = votes["votes"].as_array().unwrap();
    assert!(!ballots.iter().any(|v| v["voter"] == "vera"), "{votes}");
    let anonymous = ballots.iter().find(|v| v["voter"].as_str().unwrap().starts_with("anonymous-")).unwrap();
    assert_eq!((anonymous["value"].as_i64(), anonymous["binding"].as_bool()), (Some(1), Some(false)));
    assert!(anonymous["comment"].is_null(), "{anonymous}");
    assert_eq!(votes["tally"]["binding_plus"], 1, "the PMC's ballot is untouched: {votes}");
    let withdrew = events(&app, "actor=vera").await.into_iter().find(|e| e["action"] == "visitor.withdrew").unwrap();
    assert_eq!(withdrew["details"]["ballots_anonymised"], 1, "{withdrew}");
    let stale = app.client.get(app.url("/account")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(stale.headers()[LOCATION], "/login?next=%2Faccount", "the old cookie is nobody's");
    let old_password = crate::web::post_login(&app, "vera", PASSWORD, "/").await;
    assert_eq!(old_password.status(), StatusCode::UNAUTHORIZED);
    // The uid stays taken: the audit log names it.
    let again = sign_up(&app, "192.0.2.10", &visitor("vera", true)).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);

    // A member's account is not withdrawn at this form.
    password_for(&app, "pmc1");
    let member = login(&app, "pmc1").await;
    let refused = post_form(&app, &member, "/account", &[("action", "withdraw"), ("confirm", "yes")]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

async fn sign_ups_are_limited_per_address_and_can_be_closed(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    // Ten attempts from one address in 15 minutes, those that made no account too (each one
    // costs a password hash); the eleventh is refused before its password is looked at.
    for n in 0..3 {
        let refused = sign_up(&app, "192.0.2.20", &visitor(&format!("nope{n}"), false)).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    for n in 0..7 {
        let uid = format!("visitor{n}");
        let made = sign_up(&app, "192.0.2.20", &visitor(&uid, true)).await;
        assert_eq!(made.status(), StatusCode::SEE_OTHER, "{uid}");
    }
    let eleventh = sign_up(&app, "192.0.2.20", &visitor("visitor7", true)).await;
    assert_eq!(eleventh.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(eleventh.headers().contains_key("retry-after"));
    assert!(app.db(|c| datastore::db::queries::auth::find_user(c, "visitor7").unwrap()).is_none());
    let elsewhere = sign_up(&app, "192.0.2.21", &visitor("visitor7", true)).await;
    assert_eq!(elsewhere.status(), StatusCode::SEE_OTHER, "another address is not limited");

    let Some(closed) = TestApp::start_with(backend, |config| config.visitor_signup = false).await else { return };
    let refused = sign_up(&closed, "192.0.2.22", &visitor("visitor9", true)).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(closed.db(|c| datastore::db::queries::auth::find_user(c, "visitor9").unwrap()).is_none());
}

async fn foundation_members_read_every_event(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    release_with_checks_done(&app).await;
    let fm = app.user("fm", false, &[]);
    let drafts = |jwt: String| {
        let app = &app;
        async move {
            let (_, body) =
                app.send(app.client.get(app.url("/api/v1/events?release=httpd/2.4.68")).bearer_auth(jwt)).await;
            body["events"].as_array().map_or(0, Vec::len)
        }
    };
    assert_eq!(drafts(fm.clone()).await, 0, "a draft's events are its committee's");
    let (status, user) = app
        .send(
            app.client
                .patch(app.url("/api/v1/admin/users/fm"))
                .bearer_auth(app.admin())
                .json(&serde_json::json!({"foundation_member": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["foundation_member"], true);
    assert!(drafts(fm.clone()).await > 0, "a foundation member reads every event");
    // Only admins set the flag; nobody sets it on themselves.
    let (status, _) = app
        .send(
            app.client
                .patch(app.url("/api/v1/admin/users/rm"))
                .bearer_auth(&fm)
                .json(&serde_json::json!({"foundation_member": true})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let updated = events(&app, "actor=root").await.into_iter().any(|e| e["action"] == "user.updated");
    assert!(updated, "the change is an event");
}

async fn admins_invite_grant_and_register_at_the_admin_page(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    password_for(&app, "root");
    let root = login(&app, "root").await;
    let (status, html) = get_page(&app, Some(&root.cookie), "/admin").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(r#"data-uid="root""#) && html.contains(r#"<option value="httpd">"#), "{html}");

    // An invitation: the user is made, and the link is shown once.
    let invited = post_form(
        &app,
        &root,
        "/admin",
        &[("action", "invite"), ("uid", "newbie"), ("name", "New Bie"), ("email", "")],
    )
    .await;
    assert_eq!(invited.status(), StatusCode::OK);
    let html = invited.text().await.unwrap();
    let link = html.split(r#"id="secret" class="mono" value=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    let path = link.strip_prefix("http://datastore.test").unwrap_or_else(|| panic!("{link}")).to_owned();
    assert!(path.starts_with("/invitations/inv_"), "{path}");

    // A second link for the same person, and a token someone made for the account meanwhile.
    let again = post_form(&app, &root, "/admin", &[("action", "invite"), ("uid", "newbie")]).await;
    let html = again.text().await.unwrap();
    let older = html.split(r#"id="secret" class="mono" value=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    let older = older.strip_prefix("http://datastore.test").unwrap().to_owned();
    app.db(|c| datastore::domain::tokens::create_token(c, "test", "newbie", "before").unwrap());

    // The invited person chooses a password and logs in with it.
    let form = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let cookie = set_cookie(&form, "trl_login").unwrap().split(';').next().unwrap().to_owned();
    let csrf = csrf_of(&form.text().await.unwrap());
    let accept = |password2: &'static str| {
        app.client.post(app.url(&path)).header(COOKIE, &cookie).form(&[
            ("csrf", csrf.as_str()),
            ("password", PASSWORD),
            ("password2", password2),
        ])
    };
    let differ = accept("something else").send().await.unwrap();
    assert_eq!(differ.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let accepted = accept(PASSWORD).send().await.unwrap();
    assert_eq!(accepted.status(), StatusCode::SEE_OTHER);
    assert_eq!(accepted.headers()[LOCATION], "/login?next=/account&uid=newbie");
    let reused = accept(PASSWORD).send().await.unwrap();
    assert_eq!(reused.status(), StatusCode::NOT_FOUND, "a link works once");
    let (status, _) = app.send(app.client.get(app.url(&older))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an older link of the same person died with it");
    assert!(
        app.db(|c| {
            let user = datastore::db::queries::auth::find_user(c, "newbie").unwrap().unwrap();
            datastore::db::queries::auth::list_api_tokens(c, user.id).unwrap()
        })
        .is_empty(),
        "whoever held the account before keeps no token"
    );
    let newbie = crate::web::post_login(&app, "newbie", PASSWORD, "/account").await;
    assert_eq!(newbie.status(), StatusCode::SEE_OTHER);

    // A role, the foundation-member flag, a runner.
    let granted = post_form(
        &app,
        &root,
        "/admin",
        &[("action", "grant"), ("uid", "newbie"), ("committee", "httpd"), ("role", "release_manager")],
    )
    .await;
    assert_eq!(granted.headers()[LOCATION], "/admin?done=grant");
    let flagged =
        post_form(&app, &root, "/admin", &[("action", "member"), ("uid", "newbie"), ("member", "true")]).await;
    assert_eq!(flagged.headers()[LOCATION], "/admin?done=member");
    let row = app.db(|c| datastore::db::queries::auth::find_user(c, "newbie").unwrap().unwrap());
    assert!(row.foundation_member);
    let roles = app.db(|c| datastore::db::queries::auth::memberships(c, row.id).unwrap());
    assert_eq!(roles, vec![("httpd".to_owned(), Role::ReleaseManager)]);
    let runner = post_form(&app, &root, "/admin", &[("action", "runner"), ("runner", "runner-7")]).await;
    assert_eq!(runner.status(), StatusCode::OK);
    let html = runner.text().await.unwrap();
    let token = html.split(r#"id="secret" class="mono" value=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    let registered =
        app.db(|c| datastore::domain::tasks::runner_by_token(c, &datastore::auth::secrets::hash(&token)).unwrap());
    assert_eq!(registered.map(|r| r.name).as_deref(), Some("runner-7"), "the token shown is the runner's");
    // Disabled, its token stops working; enabled, it works again; replaced, only the new one does.
    let claims = |token: String| {
        let app = &app;
        async move {
            let body =
                serde_json::json!({"runner": "r", "version": "0", "kinds": ["paths"], "capacity": 1, "wait_s": 0});
            app.client
                .post(app.url("/api/runner/v1/claim"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert!(claims(token.clone()).await.is_success());
    let disabled = post_form(&app, &root, "/admin", &[("action", "disable"), ("runner", "runner-7")]).await;
    assert_eq!(disabled.headers()[LOCATION], "/admin?done=disable");
    assert_eq!(claims(token.clone()).await, StatusCode::UNAUTHORIZED);
    post_form(&app, &root, "/admin", &[("action", "enable"), ("runner", "runner-7")]).await;
    assert!(claims(token.clone()).await.is_success());
    let replaced = post_form(&app, &root, "/admin", &[("action", "new_token"), ("runner", "runner-7")]).await;
    let html = replaced.text().await.unwrap();
    let new_token =
        html.split(r#"id="secret" class="mono" value=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert_eq!(claims(token.clone()).await, StatusCode::UNAUTHORIZED, "the old token is dead");
    assert!(claims(new_token).await.is_success());
    let unknown = post_form(&app, &root, "/admin", &[("action", "disable"), ("runner", "nobody")]).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let bad = post_form(
        &app,
        &root,
        "/admin",
        &[("action", "grant"), ("uid", "newbie"), ("committee", "httpd"), ("role", "king")],
    )
    .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Apache's data, pasted.
    let committees = r#"{"committees": {"tomcat": {"display_name": "Tomcat", "roster": {"cat": {"name": "Cat"}}}}}"#;
    let imported = post_form(&app, &root, "/admin", &[("action", "import"), ("committees_json", committees)]).await;
    assert_eq!(imported.status(), StatusCode::OK);
    let html = imported.text().await.unwrap();
    assert!(html.contains(r#"id="imported">Imported: 1 committees"#), "{html}");
    let not_json = post_form(&app, &root, "/admin", &[("action", "import"), ("committees_json", "{nope")]).await;
    assert_eq!(not_json.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn the_admin_page_is_for_admins_only(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    app.user("pmc1", false, &[("httpd", Role::PmcMember)]);
    password_for(&app, "pmc1");
    let anonymous = app.client.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(anonymous.headers()[LOCATION], "/login?next=%2Fadmin");
    let pmc = login(&app, "pmc1").await;
    let (status, html) = get_page(&app, Some(&pmc.cookie), "/admin").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("an administrator"), "{html}");
    for action in [
        vec![("action", "invite"), ("uid", "mallory")],
        vec![("action", "member"), ("uid", "pmc1"), ("member", "true")],
        vec![("action", "grant"), ("uid", "pmc1"), ("committee", "httpd"), ("role", "pmc_member")],
        vec![("action", "runner"), ("runner", "evil")],
        vec![("action", "disable"), ("runner", "runner-0")],
        vec![("action", "new_token"), ("runner", "runner-0")],
    ] {
        let refused = post_form(&app, &pmc, "/admin", &action).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{action:?}");
    }
    assert!(app.db(|c| datastore::db::queries::auth::find_user(c, "mallory").unwrap()).is_none());
    let row = app.db(|c| datastore::db::queries::auth::find_user(c, "pmc1").unwrap().unwrap());
    assert!(!row.foundation_member);
    // An invitation link that was never made.
    let (status, html) = get_page(&app, None, "/invitations/inv_guessed").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
}
