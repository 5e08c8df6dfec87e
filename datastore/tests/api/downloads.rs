//! The public download tree: stages by phase, `latest`, listings, Range, ETag and caching.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_RANGE, ETAG, LOCATION};
use shared_models::api::Role;
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;

on_both_backends!(
    files_are_served_by_stage_with_ranges_and_etags,
    listings_latest_and_revocation,
    a_kept_alive_connection_does_not_stall,
    nginx_in_front_is_handed_large_files_when_it_asks,
);

/// Sends `requests` (a path and extra header lines) one after another on one kept-alive
/// connection, reading each answer whole before the next; returns how long they all took.
fn sequential_on_one_connection(app: &TestApp, requests: &[(String, &str)]) -> std::time::Duration {
    use std::io::{BufRead, BufReader, Read, Write};
    let address = app.base.trim_start_matches("http://").to_owned();
    let stream = std::net::TcpStream::connect(&address).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let started = std::time::Instant::now();
    for (path, headers) in requests {
        // One write per request, as HTTP clients do (several small writes would meet Nagle's
        // algorithm on this side).
        writer.write_all(format!("GET {path} HTTP/1.1\r\nHost: {address}\r\n{headers}\r\n").as_bytes()).unwrap();
        let mut length = 0usize;
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 20"), "{path}: {line}");
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).unwrap();
    }
    started.elapsed()
}

/// Headers and body leave in separate writes; with Nagle's algorithm the second one waited for
/// the client's delayed ACK, about 40 ms a request on a kept-alive connection (what mirrors and
/// package tools fetching `.asc` and `.sha512` files meet).
async fn a_kept_alive_connection_does_not_stall(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "2.4.68").await;
    app.upload(&rm, "httpd/2.4.68", "httpd-2.4.68.tar.gz.sha512", vec![b'a'; 4096]).await;
    // Past the size sent from memory in one write: streamed, its headers written first.
    app.upload(&rm, "httpd/2.4.68", "big.bin", vec![b'b'; 70_000]).await;
    app.set_phase("httpd", "2.4.68", "candidate");
    let request = |path: &str, headers: &'static str| (path.to_owned(), headers);
    let mut paths: Vec<(String, &str)> =
        (0..10).map(|_| request("/candidate/httpd/2.4.68/httpd-2.4.68.tar.gz.sha512", "")).collect();
    paths.extend((0..10).map(|_| request("/api/v1/releases/httpd/2.4.68", "")));
    paths.extend((0..10).map(|_| request("/candidate/httpd/2.4.68/big.bin", "")));
    // A small part of a streamed file: headers, then a few bytes in a write of their own.
    paths.extend((0..10).map(|_| request("/candidate/httpd/2.4.68/big.bin", "Range: bytes=0-99\r\n")));
    sequential_on_one_connection(&app, &paths[..1]); // warm
    let took = sequential_on_one_connection(&app, &paths);
    assert!(took < std::time::Duration::from_millis(300), "40 requests on one connection took {took:?}");
}

async fn files_are_served_by_stage_with_ranges_and_etags(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "2.4.68").await;
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let (_, uploaded) = app.upload(&rm, "httpd/2.4.68", "httpd-2.4.68.tar.gz", content.clone()).await;
    let get = |path: &str| app.client.get(app.url(path));

    // A draft is not public anywhere.
    for stage in ["candidate", "current", "revoked"] {
        let response = get(&format!("/{stage}/httpd/2.4.68/httpd-2.4.68.tar.gz")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{stage}");
    }

    app.set_phase("httpd", "2.4.68", "candidate");
    let url = "/candidate/httpd/2.4.68/httpd-2.4.68.tar.gz";
    let response = get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let etag = response.headers()[ETAG].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", uploaded["sha256"].as_str().unwrap()));
    assert_eq!(response.headers()[CACHE_CONTROL], "public, max-age=60");
    assert_eq!(response.headers()["content-type"], "application/gzip");
    assert_eq!(response.headers()["content-length"], "200000");
    assert_eq!(response.bytes().await.unwrap().to_vec(), content);

    // Revalidation by ETag is a cheap 304.
    let response = get(url).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    let response = get(url).header("If-None-Match", "\"other\"").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Ranges: first bytes, an open end, a suffix; out of range is 416; a stale If-Range gets all.
    let range = |spec: &'static str| get(url).header("Range", spec);
    let response = range("bytes=0-9").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.headers()[CONTENT_RANGE], "bytes 0-9/200000");
    assert_eq!(response.bytes().await.unwrap().to_vec(), content[..10]);
    let response = range("bytes=199990-").send().await.unwrap();
    assert_eq!(response.bytes().await.unwrap().to_vec(), content[199_990..]);
    let response = range("bytes=-5").send().await.unwrap();
    assert_eq!(response.bytes().await.unwrap().to_vec(), content[199_995..]);
    let response = range("bytes=300000-").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(response.headers()[CONTENT_RANGE], "bytes */200000");
    let response = range("bytes=0-9").header("If-Range", "\"stale\"").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // HEAD tells the size without the body.
    let response = app.client.head(app.url(url)).send().await.unwrap();
    assert_eq!((response.status(), response.headers()["content-length"].to_str().unwrap()), (StatusCode::OK, "200000"));

    // Nothing outside the release is reachable.
    for bad in [
        "/candidate/httpd/2.4.68/../../../etc/passwd",
        "/candidate/httpd/2.4.68/%2e%2e/%2e%2e/x",
        "/candidate/httpd/2.4.68/..%2F..%2Fx",
        "/candidate/httpd/2.4.68/.htaccess",
        "/candidate/httpd/%2E%2E/2.4.68/httpd-2.4.68.tar.gz",
    ] {
        let status = app.raw_get_status(bad);
        assert!(status == 404 || status == 400, "{bad}: {status}");
    }

    // Released: the candidate URL follows it to /current/, which caches for an hour. (A URL
    // names the file it named for up to a second after a phase change.)
    app.set_phase("httpd", "2.4.68", "current");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let response = get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(response.headers()[LOCATION], "/current/httpd/2.4.68/httpd-2.4.68.tar.gz");
    let response = get("/current/httpd/2.4.68/httpd-2.4.68.tar.gz").send().await.unwrap();
    assert_eq!(response.headers()[CACHE_CONTROL], "public, max-age=3600");
    assert_eq!(response.bytes().await.unwrap().len(), 200_000);
}

async fn listings_latest_and_revocation(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    for version in ["2.4.9", "2.4.10"] {
        app.release(&rm, "httpd", version).await;
        let release = format!("httpd/{version}");
        app.upload(&rm, &release, &format!("httpd-{version}.tar.gz"), version.as_bytes().to_vec()).await;
        app.upload(&rm, &release, "docs/README.txt", b"read me".to_vec()).await;
        app.set_phase("httpd", version, "current");
    }
    let get = |path: &str| app.client.get(app.url(path));

    // `latest` is the highest version, compared as numbers (2.4.10 > 2.4.9).
    let response = get("/current/httpd/latest/httpd-2.4.10.tar.gz").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CACHE_CONTROL], "public, max-age=300");

    // Listings: JSON on request, HTML otherwise, folders first, a slash added where needed.
    let response = get("/current/httpd/").header("Accept", "application/json").send().await.unwrap();
    let listing: serde_json::Value = response.json().await.unwrap();
    let names: Vec<&str> = listing["entries"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["latest", "2.4.10", "2.4.9"]);
    let response = get("/current/httpd/2.4.10/").header("Accept", "application/json").send().await.unwrap();
    assert_eq!(response.headers()[CACHE_CONTROL], "public, max-age=300");
    let listing: serde_json::Value = response.json().await.unwrap();
    assert_eq!(listing["entries"][0]["name"], "docs");
    assert_eq!(listing["entries"][0]["type"], "dir");
    assert_eq!(listing["entries"][1]["size"], 6);
    let response = get("/current/httpd/2.4.10/docs").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(response.headers()[LOCATION], "/current/httpd/2.4.10/docs/");
    let html =
        get("/current/httpd/2.4.10/docs/").header("Accept", "text/html").send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Index of /current/httpd/2.4.10/docs/") && html.contains("README.txt"), "{html}");
    let (_, root) = app.send(get("/current/").header("Accept", "application/json")).await;
    assert_eq!(root["entries"][0]["name"], "httpd");

    // Revoked: the old /current/ URLs answer 410 with the reason and the new place.
    app.set_phase("httpd", "2.4.10", "revoked");
    let response =
        get("/current/httpd/2.4.10/httpd-2.4.10.tar.gz").header("Accept", "application/json").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["details"]["location"], "/revoked/httpd/2.4.10/httpd-2.4.10.tar.gz");
    assert!(body["message"].as_str().unwrap().contains("CVE-2099-0001"));
    let page = get("/current/httpd/2.4.10/httpd-2.4.10.tar.gz").header("Accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::GONE);
    assert!(page.text().await.unwrap().contains("/revoked/httpd/2.4.10/httpd-2.4.10.tar.gz"));
    let response = get("/revoked/httpd/2.4.10/httpd-2.4.10.tar.gz").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"2.4.10");
    // `latest` moves back to the newest release that still stands.
    let response = get("/current/httpd/latest/httpd-2.4.9.tar.gz").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let response = get("/current/nope/1.0/x").header("Accept", "text/html").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.text().await.unwrap().contains("<h1>404 Not Found</h1>"));
}

async fn nginx_in_front_is_handed_large_files_when_it_asks(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| c.accel_redirect = Some("/_blobs/".to_owned())).await else {
        return;
    };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "2.4.68").await;
    let large: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let (_, uploaded) = app.upload(&rm, "httpd/2.4.68", "httpd-2.4.68.tar.gz", large.clone()).await;
    app.upload(&rm, "httpd/2.4.68", "httpd-2.4.68.tar.gz.sha512", b"small".to_vec()).await;
    app.set_phase("httpd", "2.4.68", "current");
    let sha = uploaded["sha256"].as_str().unwrap();
    let get = |path: &str| app.client.get(app.url(&format!("/current/httpd/2.4.68/{path}")));

    let handed = get("httpd-2.4.68.tar.gz").header("X-Sendfile-Type", "X-Accel-Redirect").send().await.unwrap();
    assert_eq!(handed.status(), StatusCode::OK);
    let header = |name: &str| handed.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(header("x-accel-redirect"), Some(format!("/_blobs/{}/{}/{sha}", &sha[0..2], &sha[2..4])));
    assert_eq!(header("etag"), Some(format!("\"{sha}\"")));
    assert_eq!(header("content-security-policy").as_deref(), Some("sandbox"));
    assert!(handed.bytes().await.unwrap().is_empty(), "nginx sends the bytes");
    // A request straight to the datastore (nothing in front asked) is streamed as always, and
    // small files are always sent from here.
    let direct = get("httpd-2.4.68.tar.gz").send().await.unwrap();
    assert!(direct.headers().get("x-accel-redirect").is_none());
    assert_eq!(direct.bytes().await.unwrap().to_vec(), large);
    let small = get("httpd-2.4.68.tar.gz.sha512").header("X-Sendfile-Type", "X-Accel-Redirect").send().await.unwrap();
    assert!(small.headers().get("x-accel-redirect").is_none());
    assert_eq!(small.bytes().await.unwrap().as_ref(), b"small");
    let revalidated = get("httpd-2.4.68.tar.gz")
        .header("X-Sendfile-Type", "X-Accel-Redirect")
        .header("If-None-Match", format!("\"{sha}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
}
