//! The OpenAPI document (generated from the code), the API reference page, health, errors.

use reqwest::StatusCode;
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;

on_both_backends!(openapi_describes_every_route, health_and_unknown_paths, metrics_and_readiness);

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
        ("/api/v1/committees/{committee}/keys/lint", "get"),
        ("/api/v1/releases/{project}/{version}/sbom", "get"),
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

/// The value of the metric line `series` (its name and labels exactly) in `text`.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.split(' ').next()?.parse().ok())
}

async fn metrics_and_readiness(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| c.metrics_token = Some("scrape-secret".into())).await else {
        return;
    };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", shared_models::api::Role::ReleaseManager)]);
    app.release(&rm, "httpd", "2.4.68").await;
    app.upload(&rm, "httpd/2.4.68", "README", b"read me".to_vec()).await;
    app.upload(&rm, "httpd/2.4.68", "NOTICE", b"notice!".to_vec()).await;
    let scrape = |bearer: Option<&str>| {
        let request = app.client.get(app.url("/metrics"));
        match bearer {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    };

    // Not for everyone: the token Prometheus is given, or an admin.
    app.expect_error(scrape(None), StatusCode::UNAUTHORIZED, "unauthorized").await;
    app.expect_error(scrape(Some("scrape-secreT")), StatusCode::UNAUTHORIZED, "unauthorized").await;
    app.expect_error(scrape(Some(&rm)), StatusCode::FORBIDDEN, "forbidden").await;
    let response = scrape(Some(&app.admin())).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let lower = app.client.get(app.url("/metrics")).header("Authorization", "bearer scrape-secret").send();
    assert_eq!(lower.await.unwrap().status(), StatusCode::OK, "the scheme's case does not matter (RFC 9110)");
    let response = scrape(Some("scrape-secret")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = response.text().await.unwrap();

    // Requests by route pattern (never the path), method and status, with their latency.
    let uploads = text
        .lines()
        .find(|l| {
            l.starts_with("datastore_http_requests_total{")
                && l.contains("files/{path")
                && l.contains(r#"method="PUT""#)
        })
        .unwrap_or_else(|| panic!("{text}"));
    assert!(uploads.contains(r#"status="201""#) && uploads.ends_with(" 2"), "{uploads}");
    assert!(!text.contains("README"), "no path is a label: {text}");
    assert!(metric(&text, r#"datastore_http_requests_total{route="unmatched",method="GET",status="404"}"#).is_none());
    assert!(text.contains("datastore_http_request_duration_seconds_bucket{"), "{text}");
    assert_eq!(metric(&text, "datastore_upload_bytes_total"), Some(14.0), "{text}");
    // The queue as the database holds it: the path checks of the two files wait.
    let queued = metric(&text, r#"datastore_tasks{kind="paths",status="queued"}"#);
    assert_eq!(queued, Some(2.0), "{text}");
    assert!(metric(&text, "datastore_oldest_queued_task_age_seconds").is_some_and(|age| age >= 0.0), "{text}");
    assert!(metric(&text, r#"datastore_db_pool_connections{state="open"}"#).is_some_and(|n| n >= 1.0), "{text}");
    assert!(metric(&text, "datastore_db_pool_max_connections").is_some_and(|n| n >= 1.0), "{text}");
    assert_eq!(metric(&text, r#"datastore_reaped_leases_total{outcome="requeued"}"#), None, "no pass reaped yet");

    // An unknown path counts as `unmatched`, whatever it was; a made-up method as `other`.
    app.client.get(app.url("/no/such/page")).send().await.unwrap();
    for made_up in ["X1", "X2", "BREW"] {
        let method = reqwest::Method::from_bytes(made_up.as_bytes()).unwrap();
        app.client.request(method, app.url("/api/v1/projects")).send().await.unwrap();
    }
    let text = scrape(Some("scrape-secret")).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("X1") && !text.contains("BREW") && text.contains(r#"method="other""#), "{text}");
    assert_eq!(
        metric(&text, r#"datastore_http_requests_total{route="unmatched",method="GET",status="404"}"#),
        Some(1.0)
    );
    assert!(!text.contains("/no/such/page"), "{text}");

    // Ready while the database answers and the blob store takes a file; not once it cannot.
    let (status, ready) = app.send(app.client.get(app.url("/readyz"))).await;
    assert_eq!((status, ready["status"].as_str()), (StatusCode::OK, Some("ready")), "{ready}");
    let tmp = app.state_dir.path().join("tmp");
    std::fs::rename(&tmp, app.state_dir.path().join("tmp-away")).unwrap();
    std::fs::write(&tmp, b"not a directory").unwrap();
    let (status, ready) = app.send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    // The cause is the operator's (in the log), not the public's: no path, no address.
    assert_eq!(ready["blob_store"], "failing (the cause is in the log)", "{ready}");
    assert_eq!(ready["database"], "ok", "{ready}");
    std::fs::remove_file(&tmp).unwrap();
    std::fs::rename(app.state_dir.path().join("tmp-away"), &tmp).unwrap();
    let (status, _) = app.send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(status, StatusCode::OK);
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
