//! Administration: directory entries, users and roles, Apache data import, runners.

use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{Backend, fixture, on_both_backends};

use crate::common::TestApp;

on_both_backends!(
    admins_build_the_directory,
    only_admins_administer,
    apache_data_imports_idempotently,
    free_text_is_bounded,
    admins_disable_and_rekey_runners,
);

async fn admins_build_the_directory(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let admin = app.admin();
    let post = |path: &str, body: Value| app.client.post(app.url(path)).bearer_auth(&admin).json(&body);

    let (status, _) =
        app.send(post("/api/v1/admin/committees", json!({"name": "httpd", "display_name": "HTTP Server"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    app.expect_error(
        post("/api/v1/admin/committees", json!({"name": "httpd", "display_name": "again"})),
        StatusCode::CONFLICT,
        "committee_exists",
    )
    .await;
    app.expect_error(
        post("/api/v1/admin/committees", json!({"name": "HTTPD", "display_name": "x"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    app.expect_error(
        post("/api/v1/admin/projects", json!({"name": "x", "committee": "nope", "display_name": "X"})),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let (status, project) = app
        .send(post(
            "/api/v1/admin/projects",
            json!({"name": "httpd", "committee": "httpd", "display_name": "Apache HTTP Server"}),
        ))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(project["products"], json!(["httpd"]), "the main product comes with the project");
    let (status, project) = app.send(post("/api/v1/admin/projects/httpd/products", json!({"name": "tools"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(project["products"], json!(["httpd", "tools"]));
    app.expect_error(
        post("/api/v1/admin/projects/httpd/products", json!({"name": "latest"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_name",
    )
    .await;

    let (status, user) = app.send(post("/api/v1/admin/users", json!({"uid": "covener", "name": "Eric Covener"}))).await;
    assert_eq!((status, user["admin"].as_bool()), (StatusCode::CREATED, Some(false)));
    app.expect_error(post("/api/v1/admin/users", json!({"uid": "covener"})), StatusCode::CONFLICT, "user_exists").await;
    let membership = json!({"uid": "covener", "committee": "httpd", "role": "release_manager"});
    let (status, user) =
        app.send(app.client.put(app.url("/api/v1/admin/memberships")).bearer_auth(&admin).json(&membership)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["memberships"], json!([{"committee": "httpd", "role": "release_manager"}]));
    app.expect_error(
        app.client
            .put(app.url("/api/v1/admin/memberships"))
            .bearer_auth(&admin)
            .json(&json!({"uid": "covener", "committee": "httpd", "role": "king"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;

    let (status, runner) = app.send(post("/api/v1/admin/runners", json!({"name": "runner-1"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(runner["token"].as_str().unwrap().starts_with("trr_"));
    app.expect_error(post("/api/v1/admin/runners", json!({"name": "runner-1"})), StatusCode::CONFLICT, "runner_exists")
        .await;
    let stored: String = app.db(|c| {
        use datastore::db::schema::runner;
        use diesel::prelude::*;
        runner::table.select(runner::token_hash).first(c).unwrap()
    });
    assert_ne!(stored, runner["token"].as_str().unwrap(), "runner tokens are stored hashed");
}

/// The status of a claim (without waiting) by the runner holding `token`.
async fn claim_status(app: &TestApp, token: &str) -> StatusCode {
    let body = json!({"runner": "r", "version": "0", "kinds": ["paths"], "capacity": 1, "wait_s": 0});
    app.client.post(app.url("/api/runner/v1/claim")).bearer_auth(token).json(&body).send().await.unwrap().status()
}

async fn admins_disable_and_rekey_runners(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let admin = app.admin();
    let old = app.runner("runner-1").await;
    assert_eq!(claim_status(&app, &old).await, StatusCode::NO_CONTENT, "nothing queued, but the token works");
    let patch = |name: &str, body: Value| {
        app.client.patch(app.url(&format!("/api/v1/admin/runners/{name}"))).bearer_auth(&admin).json(&body)
    };

    // Disabled, its token stops at once; enabled, it claims again. Each change is an event.
    let (status, runner) = app.send(patch("runner-1", json!({"disabled": true}))).await;
    assert_eq!(
        (status, runner["disabled"].as_bool(), runner["name"].as_str()),
        (StatusCode::OK, Some(true), Some("runner-1"))
    );
    assert_eq!(claim_status(&app, &old).await, StatusCode::UNAUTHORIZED);
    let (status, runner) = app.send(patch("runner-1", json!({"disabled": false}))).await;
    assert_eq!((status, runner["disabled"].as_bool()), (StatusCode::OK, Some(false)));
    assert_eq!(claim_status(&app, &old).await, StatusCode::NO_CONTENT);

    // A new token, shown once: the old one stops working.
    let rekey = app.client.post(app.url("/api/v1/admin/runners/runner-1/token")).bearer_auth(&admin);
    let (status, created) = app.send(rekey).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let new = created["token"].as_str().unwrap().to_owned();
    assert!(new.starts_with("trr_") && new != old && created["name"] == "runner-1", "{created}");
    assert_eq!(claim_status(&app, &old).await, StatusCode::UNAUTHORIZED, "the old token is dead");
    assert_eq!(claim_status(&app, &new).await, StatusCode::NO_CONTENT);
    let actions: Vec<String> = app.db(|c| {
        use datastore::db::schema::event;
        use diesel::prelude::*;
        event::table.filter(event::target.eq("runner-1")).order(event::id).select(event::action).load(c).unwrap()
    });
    assert_eq!(actions, ["runner.registered", "runner.disabled", "runner.enabled", "runner.token_replaced"]);

    // Unknown and malformed names; fields it does not know; and nobody but an admin.
    app.expect_error(patch("runner-9", json!({"disabled": true})), StatusCode::NOT_FOUND, "not_found").await;
    app.expect_error(patch("Runner_1", json!({"disabled": true})), StatusCode::BAD_REQUEST, "invalid_name").await;
    let (status, _) = app.send(patch("runner-1", json!({"disabled": true, "name": "x"}))).await;
    assert!(status.is_client_error() && claim_status(&app, &new).await == StatusCode::NO_CONTENT, "{status}");
    let pmc = app.user("chair", false, &[]);
    for request in [
        app.client.patch(app.url("/api/v1/admin/runners/runner-1")).bearer_auth(&pmc).json(&json!({"disabled": true})),
        app.client.post(app.url("/api/v1/admin/runners/runner-1/token")).bearer_auth(&pmc),
    ] {
        app.expect_error(request, StatusCode::FORBIDDEN, "forbidden").await;
    }
    for request in [
        app.client.patch(app.url("/api/v1/admin/runners/runner-1")).bearer_auth(&new).json(&json!({"disabled": true})),
        app.client.post(app.url("/api/v1/admin/runners/runner-1/token")).bearer_auth(&new),
    ] {
        app.expect_error(request, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    assert_eq!(claim_status(&app, &new).await, StatusCode::NO_CONTENT, "none of that changed anything");
}

async fn only_admins_administer(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let pmc = app.user("chair", false, &[("httpd", shared_models::api::Role::PmcMember)]);
    let cases: [(&str, Value); 5] = [
        ("/api/v1/admin/committees", json!({"name": "x", "display_name": "X"})),
        ("/api/v1/admin/projects", json!({"name": "x", "committee": "httpd", "display_name": "X"})),
        ("/api/v1/admin/users", json!({"uid": "x"})),
        ("/api/v1/admin/import/asf", json!({})),
        ("/api/v1/admin/runners", json!({"name": "x"})),
    ];
    for (path, body) in cases {
        app.expect_error(
            app.client.post(app.url(path)).bearer_auth(&pmc).json(&body),
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        app.expect_error(app.client.post(app.url(path)).json(&body), StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

async fn apache_data_imports_idempotently(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let admin = app.admin();
    let read = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(fixture(&format!("asf-datasources/{name}"))).unwrap()).unwrap()
    };
    let body = json!({
        "committees": read("committees.json"),
        "retired_committees": read("retired_committees.json"),
        "podlings": read("podlings.json"),
        "projects": read("projects.json"),
        "ldap_projects": read("ldap_projects.json"),
        "groups": read("groups.json"),
    });
    let import = || app.client.post(app.url("/api/v1/admin/import/asf")).bearer_auth(&admin).json(&body);
    let (status, counts) = app.send(import()).await;
    assert_eq!(status, StatusCode::OK, "{counts}");
    // tooling, abdera (retired) and amoro (podling) are committees; amoro is also a project.
    assert_eq!(counts["committees"], 3, "{counts}");
    assert_eq!(counts["users"], 3, "{counts}");
    // 3 PMC members from the roster, and 3 committer rows from the LDAP members (owners repeat the PMC).
    assert_eq!(counts["memberships"], 6, "{counts}");
    let skipped = counts["skipped"].as_array().unwrap();
    assert!(
        skipped.iter().any(|s| s.as_str().unwrap().contains("accumulo")),
        "unknown committees are reported: {counts}"
    );

    let (_, again) = app.send(import()).await;
    assert_eq!(
        (again["committees"].as_u64(), again["users"].as_u64(), again["memberships"].as_u64()),
        (Some(0), Some(0), Some(0))
    );

    let (_, amoro) = app.send(app.client.get(app.url("/api/v1/committees/amoro"))).await;
    assert_eq!(amoro["podling"], true);
    let wave = app.db(|c| {
        let user = datastore::db::queries::auth::find_user(c, "wave").unwrap().unwrap();
        datastore::db::queries::auth::memberships(c, user.id).unwrap()
    });
    assert!(wave.contains(&("tooling".to_owned(), shared_models::api::Role::PmcMember)), "{wave:?}");
}

/// Display names, people's names, addresses and labels have bounds, and no control characters;
/// nothing is cut short silently.
async fn free_text_is_bounded(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let admin = app.admin();
    let post = |path: &str, body: Value| app.client.post(app.url(path)).bearer_auth(&admin).json(&body);
    let long = "x".repeat(201);
    for body in [
        json!({"name": "httpd", "display_name": long}),
        json!({"name": "httpd", "display_name": "Apache\u{0}HTTP"}),
        json!({"name": "httpd", "display_name": "  "}),
    ] {
        let refused = app
            .expect_error(post("/api/v1/admin/committees", body), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request")
            .await;
        assert_eq!(refused["details"]["field"], "display_name", "{refused}");
    }
    for body in [
        json!({"uid": "wave", "name": long}),
        json!({"uid": "wave", "email": "not-an-address"}),
        json!({"uid": "wave", "email": format!("{}@apache.org", "w".repeat(250))}),
    ] {
        app.expect_error(post("/api/v1/admin/users", body), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    }
    app.expect_error(
        post("/api/v1/tokens", json!({"label": "CI\u{1b}[2J"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_label",
    )
    .await;
    let (status, made) =
        app.send(post("/api/v1/admin/committees", json!({"name": "httpd", "display_name": " HTTP Server "}))).await;
    assert_eq!((status, made["display_name"].as_str()), (StatusCode::CREATED, Some("HTTP Server")), "{made}");
    app.send(post(
        "/api/v1/admin/projects",
        json!({"name": "httpd", "committee": "httpd", "display_name": "HTTP Server"}),
    ))
    .await;
    let put_policy = app
        .client
        .put(app.url("/api/v1/projects/httpd/policy"))
        .bearer_auth(&admin)
        .json(&json!({"mailing_list": "dev at httpd"}));
    app.expect_error(put_policy, StatusCode::UNPROCESSABLE_ENTITY, "invalid_policy").await;
}
