//! The OpenAPI document (generated from the code), the API reference page, health, errors.

use reqwest::StatusCode;
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;

on_both_backends!(openapi_describes_every_route, health_and_unknown_paths);

async fn openapi_describes_every_route(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (status, spec) = app.send(app.client.get(app.url("/api/openapi.json"))).await;
    assert_eq!(status, StatusCode::OK);
    let paths = spec["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/tokens", "post"),
        ("/api/v1/jwt", "post"),
        ("/api/v1/tokens/{id}", "delete"),
        ("/api/v1/committees", "get"),
        ("/api/v1/committees/{committee}", "get"),
        ("/api/v1/projects", "get"),
        ("/api/v1/projects/{project}", "get"),
        ("/api/v1/projects/{project}/policy", "put"),
        ("/api/v1/projects/{project}/releases", "get"),
        ("/api/v1/releases", "post"),
        ("/api/v1/releases/{project}/{version}", "get"),
        ("/api/v1/releases/{project}/{version}/files/{path}", "put"),
        ("/api/v1/releases/{project}/{version}/files/{path}", "delete"),
        ("/api/v1/releases/{project}/{version}/files", "get"),
        ("/api/v1/releases/{project}/{version}/revisions", "post"),
        ("/api/v1/releases/{project}/{version}/revisions/{revision}", "get"),
        ("/api/v1/releases/{project}/{version}/events", "get"),
        ("/api/v1/keys", "post"),
        ("/api/v1/committees/{committee}/keys/import", "post"),
        ("/api/v1/committees/{committee}/keys", "get"),
        ("/api/v1/committees/{committee}/KEYS", "get"),
        ("/api/v1/keys/{fingerprint}", "delete"),
        ("/api/v1/admin/committees", "post"),
        ("/api/v1/admin/projects", "post"),
        ("/api/v1/admin/users", "post"),
        ("/api/v1/admin/memberships", "put"),
        ("/api/v1/admin/import/asf", "post"),
        ("/api/v1/admin/runners", "post"),
        ("/api/v1/releases/{project}/{product}/{version}/files/{path}", "put"),
        ("/api/runner/v1/claim", "post"),
        ("/api/runner/v1/tasks/{id}/lease", "post"),
        ("/api/runner/v1/tasks/{id}/result", "post"),
        ("/{stage}/{project}/{version}/{path}", "get"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "the OpenAPI document lacks {method} {path}");
    }
    // Client generators need one operationId per operation, and templates without the router's
    // regular expressions.
    let mut ids = std::collections::BTreeMap::new();
    for (path, item) in paths {
        assert!(!path.contains(':'), "{path} carries a router pattern");
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            if let Some(earlier) = ids.insert(id.to_owned(), format!("{method} {path}")) {
                panic!("operationId {id} names both {earlier} and {method} {path}");
            }
        }
    }
    assert_eq!(paths["/api/runner/v1/claim"]["post"]["tags"][0], "runner");
    assert!(spec["components"]["securitySchemes"]["runner"].is_object());
    assert!(spec["components"]["schemas"]["ErrorBody"].is_object());
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());

    let response = app.client.get(app.url("/api/docs")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("/api/v1/releases/{project}/{version}/files/{path}"), "every operation is on the page");
    assert!(html.contains("id=\"schema-FileUploaded\""), "schemas are listed");
    assert!(!html.contains("<script"), "the page needs no script and fetches nothing");
}

async fn health_and_unknown_paths(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (status, health) = app.send(app.client.get(app.url("/healthz"))).await;
    assert_eq!(status, StatusCode::OK);
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(health["database"], expected);
    app.expect_error(app.client.get(app.url("/api/v1/nothing")), StatusCode::NOT_FOUND, "not_found").await;
    app.expect_error(
        app.client.patch(app.url("/api/v1/committees")),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    // A known path with a method it does not answer says which methods it does (405, `Allow`).
    for (method, path, allow) in [
        (reqwest::Method::DELETE, "/api/v1/me", "GET"),
        (reqwest::Method::PATCH, "/api/v1/releases/p/1.0/files/a/b.txt", "DELETE, PUT"),
        (reqwest::Method::POST, "/api/v1/releases/p/q/1.0/files/a.txt", "DELETE, PUT"),
        (reqwest::Method::GET, "/api/runner/v1/claim", "POST"),
    ] {
        let response = app.client.request(method.clone(), app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        assert_eq!(response.headers()["content-type"], "application/json", "{method} {path}");
    }
    let response = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("Projects"));
    let response = app.client.get(app.url("/nowhere")).header("Accept", "text/html").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers().get("x-request-id").is_some());
}
