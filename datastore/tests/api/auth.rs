//! Personal access tokens, JWTs, and refusals without or with foreign credentials.

use reqwest::StatusCode;
use serde_json::json;
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;

on_both_backends!(
    token_lifecycle_and_jwt_exchange,
    missing_or_bad_credentials_are_refused,
    a_deleted_token_stays_dead_when_a_new_one_is_made,
);

async fn token_lifecycle_and_jwt_exchange(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let jwt = app.user("alice", false, &[]);

    // A new token, shown once, then exchanged for a JWT that works.
    let (status, created) =
        app.send(app.client.post(app.url("/api/v1/tokens")).bearer_auth(&jwt).json(&json!({"label": "CI"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("trp_"));
    let (status, exchanged) =
        app.send(app.client.post(app.url("/api/v1/jwt")).json(&json!({"uid": "alice", "token": token}))).await;
    assert_eq!(status, StatusCode::OK, "{exchanged}");
    let new_jwt = exchanged["jwt"].as_str().unwrap().to_owned();
    let expires: chrono::DateTime<chrono::Utc> = exchanged["expires_at"].as_str().unwrap().parse().unwrap();
    let lifetime = expires - chrono::Utc::now();
    assert!(lifetime <= chrono::Duration::minutes(30) && lifetime > chrono::Duration::minutes(1), "{lifetime}");
    let (status, me) = app.send(app.client.get(app.url("/api/v1/me")).bearer_auth(&new_jwt)).await;
    assert_eq!((status, me["uid"].as_str()), (StatusCode::OK, Some("alice")));

    // The token list shows labels, never secrets.
    let (_, list) = app.send(app.client.get(app.url("/api/v1/tokens")).bearer_auth(&new_jwt)).await;
    let labels: Vec<&str> = list["tokens"].as_array().unwrap().iter().map(|t| t["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["tests", "CI"]);
    assert!(!list.to_string().contains(&token), "secrets are never listed");

    // The token of the wrong user, or a wrong token, gets no JWT.
    app.user("bob", false, &[]);
    app.expect_error(
        app.client.post(app.url("/api/v1/jwt")).json(&json!({"uid": "bob", "token": token})),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    app.expect_error(
        app.client.post(app.url("/api/v1/jwt")).json(&json!({"uid": "alice", "token": "trp_wrong"})),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // Someone else cannot delete it (it does not exist for them); its owner can, and then its
    // JWTs stop working too.
    let id = created["id"].as_i64().unwrap();
    let bob = app.user("bobby", false, &[]);
    app.expect_error(
        app.client.delete(app.url(&format!("/api/v1/tokens/{id}"))).bearer_auth(&bob),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let (status, _) = app.send(app.client.delete(app.url(&format!("/api/v1/tokens/{id}"))).bearer_auth(&jwt)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.expect_error(
        app.client.get(app.url("/api/v1/me")).bearer_auth(&new_jwt),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    app.expect_error(
        app.client.post(app.url("/api/v1/jwt")).json(&json!({"uid": "alice", "token": token})),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // Every token change is in the audit log.
    let actions: Vec<String> = app.db(|c| {
        use datastore::db::schema::event;
        use diesel::prelude::*;
        event::table.filter(event::target.eq("alice")).select(event::action).load(c).unwrap()
    });
    assert!(
        actions.contains(&"token.created".to_owned()) && actions.contains(&"token.deleted".to_owned()),
        "{actions:?}"
    );
}

async fn missing_or_bad_credentials_are_refused(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let create = || app.client.post(app.url("/api/v1/tokens")).json(&json!({"label": "x"}));
    app.expect_error(create(), StatusCode::UNAUTHORIZED, "unauthorized").await;
    app.expect_error(create().header("Authorization", "Basic abc"), StatusCode::UNAUTHORIZED, "unauthorized").await;
    app.expect_error(create().bearer_auth("not.a.jwt"), StatusCode::UNAUTHORIZED, "unauthorized").await;
    let response = create().send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");

    // A JWT signed by another server's secret is refused.
    let foreign =
        datastore::auth::jwt::JwtKeys::new(b"another-server-secret-0123456789", std::time::Duration::from_secs(60));
    let (forged, _) = foreign.issue("root", 1, &"0".repeat(64)).unwrap();
    app.expect_error(create().bearer_auth(forged), StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Malformed bodies are 400, well-formed but invalid ones 422, wrong media types 415.
    let jwt = app.user("carol", false, &[]);
    let post = || app.client.post(app.url("/api/v1/tokens")).bearer_auth(&jwt);
    app.expect_error(
        post().header("content-type", "application/json").body("{\"label\":"),
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    app.expect_error(post().json(&json!({"nolabel": 1})), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    app.expect_error(post().json(&json!({"label": "  "})), StatusCode::UNPROCESSABLE_ENTITY, "invalid_label").await;
    app.expect_error(post().body("label=x"), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
}

/// A leaked token is deleted and a new one made: the old token's JWTs must not come back to
/// life through the new token (SQLite used to give the new token the deleted one's id).
async fn a_deleted_token_stays_dead_when_a_new_one_is_made(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let jwt = app.user("alice", false, &[]);
    let create = || app.client.post(app.url("/api/v1/tokens")).bearer_auth(&jwt).json(&json!({"label": "CI"}));
    let (_, leaked) = app.send(create()).await;
    let exchange = |token: &str| app.client.post(app.url("/api/v1/jwt")).json(&json!({"uid": "alice", "token": token}));
    let (status, old) = app.send(exchange(leaked["token"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::OK);
    let old_jwt = old["jwt"].as_str().unwrap().to_owned();
    let me = |jwt: &str| app.client.get(app.url("/api/v1/me")).bearer_auth(jwt.to_owned());
    assert_eq!(app.send(me(&old_jwt)).await.0, StatusCode::OK);

    let id = leaked["id"].as_i64().unwrap();
    let (status, _) = app.send(app.client.delete(app.url(&format!("/api/v1/tokens/{id}"))).bearer_auth(&jwt)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, fresh) = app.send(create()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(fresh["id"].as_i64().unwrap() > id, "token ids are never reused: {fresh} after {id}");
    app.expect_error(me(&old_jwt), StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Even a JWT naming the new token's id is refused if it was made for the old token.
    let bound_to_old = app.state.jwt.issue("alice", fresh["id"].as_i64().unwrap(), &"0".repeat(64)).unwrap().0;
    app.expect_error(me(&bound_to_old), StatusCode::UNAUTHORIZED, "unauthorized").await;
    let (_, new) = app.send(exchange(fresh["token"].as_str().unwrap())).await;
    assert_eq!(app.send(me(new["jwt"].as_str().unwrap())).await.0, StatusCode::OK);
}

/// The SQLite file holds the JWT secret and the token hashes: only the datastore's user may
/// read it, nor list the state directory.
#[actix_web::test]
async fn the_database_and_the_state_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    app.user("alice", false, &[]); // something written, so the WAL exists
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let url = app.state.config.database_url();
    let db = std::path::PathBuf::from(url.trim_start_matches("sqlite://"));
    assert_eq!(mode(&db), 0o600, "{}", db.display());
    let wal = db.with_extension("db-wal");
    assert!(wal.exists(), "{}", wal.display());
    assert_eq!(mode(&wal), 0o600, "{}", wal.display());
    assert_eq!(mode(app.state_dir.path()), 0o700);
}
