//! Releases and their files: drafts, streamed uploads, multipart revisions, deletion,
//! manifests, the audit trail, check tasks, and every way an upload can be refused.

use reqwest::StatusCode;
use serde_json::json;
use shared_models::api::Role;
use testkit::{Backend, httpd, on_both_backends};

use crate::common::TestApp;

on_both_backends!(
    the_real_httpd_release_round_trips_byte_for_byte,
    revisions_are_immutable_manifests,
    multipart_uploads_make_one_revision,
    bad_uploads_are_refused_and_store_nothing,
    only_committers_of_the_committee_compose,
    drafts_only,
    concurrent_uploads_each_get_a_revision,
    products_are_addressed_by_their_own_urls,
);

fn tasks_of(app: &TestApp, revision: i64) -> Vec<(String, String)> {
    app.db(|c| {
        use datastore::db::schema::task;
        use diesel::prelude::*;
        task::table
            .filter(task::revision_seq.eq(revision))
            .order(task::id)
            .select((task::kind, task::path))
            .load(c)
            .unwrap()
    })
}

async fn the_real_httpd_release_round_trips_byte_for_byte(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| c.max_upload_bytes = 32 << 20).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("covener", false, &[("httpd", Role::ReleaseManager)]);
    let created = app.release(&rm, "httpd", "2.4.68").await;
    assert_eq!((created["phase"].as_str(), created["revision"].as_i64()), (Some("draft"), Some(0)));

    let tarball = std::fs::read(httpd("httpd-2.4.68.tar.gz")).unwrap();
    let expected_sha512 = std::fs::read_to_string(httpd("httpd-2.4.68.tar.gz.sha512")).unwrap();
    let expected_sha512 = expected_sha512.split_whitespace().next().unwrap();
    let (status, uploaded) = app.upload(&rm, "httpd/2.4.68", "httpd-2.4.68.tar.gz", tarball.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    assert_eq!(uploaded["sha512"], expected_sha512);
    assert_eq!(uploaded["size"], tarball.len());
    assert_eq!(uploaded["revision"], 1);
    for name in ["httpd-2.4.68.tar.gz.asc", "httpd-2.4.68.tar.gz.sha512"] {
        let (status, body) = app.upload(&rm, "httpd/2.4.68", name, std::fs::read(httpd(name)).unwrap()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    let (_, files) =
        app.send(app.client.get(app.url("/api/v1/releases/httpd/2.4.68/files")).bearer_auth(app.admin())).await;
    assert_eq!(files["revision"], 3);
    let listed: Vec<&str> = files["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(listed, ["httpd-2.4.68.tar.gz", "httpd-2.4.68.tar.gz.asc", "httpd-2.4.68.tar.gz.sha512"]);

    // Published as a candidate, the download is exactly the uploaded bytes.
    app.set_phase("httpd", "2.4.68", "candidate");
    let response = app.client.get(app.url("/candidate/httpd/2.4.68/httpd-2.4.68.tar.gz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let downloaded = response.bytes().await.unwrap();
    assert_eq!(checks::digest::sha512_of(&downloaded[..]).unwrap().0, expected_sha512);

    // The third revision queued every check of the release once; nothing was stored twice.
    // Unchanged inputs are never queued twice: each revision queues only what it changed.
    let kinds = |revision| tasks_of(&app, revision).into_iter().map(|(k, _)| k).collect::<Vec<String>>();
    assert_eq!(kinds(1), ["paths", "archive", "license", "rat"]);
    assert_eq!(kinds(2), ["paths", "signature"]);
    assert_eq!(kinds(3), ["paths", "hashing"]);
    let (tmp, blobs) = app.stored_files();
    assert!(tmp.is_empty(), "no staging file is left: {tmp:?}");
    assert_eq!(blobs.len(), 3);
}

async fn revisions_are_immutable_manifests(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("tomcat", false).await;
    let rm = app.user("markt", false, &[("tomcat", Role::ReleaseManager)]);
    app.release(&rm, "tomcat", "11.0.1").await;
    app.upload(&rm, "tomcat/11.0.1", "README.txt", b"first".to_vec()).await;
    app.upload(&rm, "tomcat/11.0.1", "bin/apache-tomcat-11.0.1.zip", b"zip bytes".to_vec()).await;
    let (status, replaced) = app.upload(&rm, "tomcat/11.0.1", "README.txt", b"second".to_vec()).await;
    assert_eq!((status, replaced["revision"].as_i64()), (StatusCode::CREATED, Some(3)));
    let (status, after_delete) = app
        .send(
            app.client
                .delete(app.url("/api/v1/releases/tomcat/11.0.1/files/bin/apache-tomcat-11.0.1.zip"))
                .bearer_auth(&rm),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{after_delete}");
    assert_eq!(after_delete["revision"], 4);
    assert_eq!(after_delete["files"].as_array().unwrap().len(), 1);
    app.expect_error(
        app.client.delete(app.url("/api/v1/releases/tomcat/11.0.1/files/missing.txt")).bearer_auth(&rm),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let (_, list) =
        app.send(app.client.get(app.url("/api/v1/releases/tomcat/11.0.1/revisions")).bearer_auth(app.admin())).await;
    let counts: Vec<(i64, u64)> = list["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["revision"].as_i64().unwrap(), r["file_count"].as_u64().unwrap()))
        .collect();
    assert_eq!(counts, [(0, 0), (1, 1), (2, 2), (3, 2), (4, 1)]);
    assert_eq!(list["revisions"][4]["description"], "delete bin/apache-tomcat-11.0.1.zip");
    assert_eq!(list["revisions"][4]["created_by"], "markt");

    // Old revisions keep their bytes: revision 1 still has the first README.
    let (_, one) =
        app.send(app.client.get(app.url("/api/v1/releases/tomcat/11.0.1/revisions/1")).bearer_auth(app.admin())).await;
    let first_sha = checks::digest::sha256_of(&b"first"[..]).unwrap().0;
    assert_eq!(one["files"][0]["sha256"], first_sha);
    app.expect_error(
        app.client.get(app.url("/api/v1/releases/tomcat/11.0.1/revisions/99")).bearer_auth(app.admin()),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    app.expect_error(
        app.client.get(app.url("/api/v1/releases/tomcat/11.0.1/revisions/x")).bearer_auth(app.admin()),
        StatusCode::BAD_REQUEST,
        "invalid_revision",
    )
    .await;

    // The audit trail names every change, oldest first.
    let (_, events) = app
        .send(app.client.get(app.url("/api/v1/releases/tomcat/11.0.1/events?limit=3")).bearer_auth(app.admin()))
        .await;
    let actions: Vec<&str> =
        events["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["release.created", "revision.created", "revision.created"]);
    assert_eq!(events["page"]["total"], 5);
    assert_eq!(events["events"][1]["details"]["added"], json!(["README.txt"]));
    assert_eq!(events["events"][0]["actor"], "markt");
}

async fn multipart_uploads_make_one_revision(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("commons-io", false).await;
    let rm = app.user("ggregory", false, &[("commons-io", Role::ReleaseManager)]);
    app.release(&rm, "commons-io", "2.16.1").await;
    // Field names are sent raw, as browsers and curl send them.
    let form = reqwest::multipart::Form::new()
        .percent_encode_noop()
        .part("commons-io-2.16.1-src.tar.gz", reqwest::multipart::Part::bytes(b"source".to_vec()).file_name("x"))
        .part("commons-io-2.16.1-src.tar.gz.asc", reqwest::multipart::Part::bytes(b"signature".to_vec()))
        .part("binaries/commons-io-2.16.1-bin.zip", reqwest::multipart::Part::bytes(b"binary".to_vec()));
    let post = || app.client.post(app.url("/api/v1/releases/commons-io/2.16.1/revisions")).bearer_auth(&rm);
    let (status, created) = app.send(post().multipart(form)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["revision"], 1);
    assert_eq!(created["files"].as_array().unwrap().len(), 3);
    assert_eq!(created["files"][2]["path"], "binaries/commons-io-2.16.1-bin.zip");

    let duplicate = reqwest::multipart::Form::new()
        .part("a.txt", reqwest::multipart::Part::bytes(b"1".to_vec()))
        .part("a.txt", reqwest::multipart::Part::bytes(b"2".to_vec()));
    app.expect_error(post().multipart(duplicate), StatusCode::UNPROCESSABLE_ENTITY, "duplicate_path").await;
    let traversal = reqwest::multipart::Form::new()
        .percent_encode_noop()
        .part("../../etc/passwd", reqwest::multipart::Part::bytes(b"x".to_vec()));
    app.expect_error(post().multipart(traversal), StatusCode::BAD_REQUEST, "invalid_path").await;
    // reqwest's default encodes a name with `/` as `name*=`, which RFC 7578 forbids: the refusal says how to fix it.
    let encoded = reqwest::multipart::Form::new()
        .part("binaries/commons-io-2.16.1-bin.zip", reqwest::multipart::Part::bytes(b"x".to_vec()));
    let refused = app.expect_error(post().multipart(encoded), StatusCode::BAD_REQUEST, "invalid_multipart").await;
    assert!(refused["message"].as_str().unwrap().contains("percent_encode_noop"), "{refused}");
    let empty = post().header("content-type", "multipart/form-data; boundary=XX").body("\r\n--XX--\r\n");
    app.expect_error(empty, StatusCode::BAD_REQUEST, "invalid_multipart").await;
    app.expect_error(
        post().header("content-type", "multipart/form-data").body("garbage"),
        StatusCode::BAD_REQUEST,
        "invalid_multipart",
    )
    .await;
    let (_, revisions) = app
        .send(app.client.get(app.url("/api/v1/releases/commons-io/2.16.1/revisions")).bearer_auth(app.admin()))
        .await;
    assert_eq!(revisions["revisions"].as_array().unwrap().len(), 2, "refused requests made no revision");
    let (tmp, _) = app.stored_files();
    assert!(tmp.is_empty(), "{tmp:?}");
}

async fn bad_uploads_are_refused_and_store_nothing(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| c.max_upload_bytes = 1 << 20).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "2.4.68").await;
    let put =
        |path: &str| app.client.put(app.url(&format!("/api/v1/releases/httpd/2.4.68/files/{path}"))).bearer_auth(&rm);

    // (Paths with `..` segments are normalised away by HTTP clients; the raw test below and the
    // grammar's unit tests cover them.)
    for bad in ["..%2F..%2Fetc%2Fpasswd", ".htaccess", "dir/.git/config", "a%00b", "a//b", "x%0Ay"] {
        app.expect_error(put(bad).body("x"), StatusCode::BAD_REQUEST, "invalid_path").await;
    }
    // Too large: refused from Content-Length before reading, and while streaming without one.
    app.expect_error(put("big.bin").body(vec![7u8; (1 << 20) + 1]), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        .await;
    let chunks = futures_util::stream::iter((0..40).map(|_| Ok::<_, std::io::Error>(vec![1u8; 64 * 1024])));
    let streamed = put("big.bin").body(reqwest::Body::wrap_stream(chunks)).send().await;
    if let Ok(response) = streamed {
        // The server may also close the connection before the client has sent everything.
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    // A client that gives up half-way (a laptop closed at midnight): the request fails and the
    // partial bytes go with it.
    let dying = futures_util::stream::iter((0..8).map(|i| match i {
        7 => Err(std::io::Error::other("the client gave up")),
        _ => Ok(vec![2u8; 64 * 1024]),
    }));
    assert!(put("half.bin").body(reqwest::Body::wrap_stream(dying)).send().await.is_err());
    // A file can't also be a folder.
    app.upload(&rm, "httpd/2.4.68", "docs", b"file".to_vec()).await;
    app.expect_error(put("docs/manual.html").body("x"), StatusCode::CONFLICT, "path_conflict").await;

    let (_, files) =
        app.send(app.client.get(app.url("/api/v1/releases/httpd/2.4.68/files")).bearer_auth(app.admin())).await;
    assert_eq!(files["revision"], 1, "only the good upload made a revision");
    // The server learns of the abandoned upload when the connection drops: give it a moment.
    let blobs = testkit::eventually(
        "no staging files left by refused and abandoned uploads",
        std::time::Duration::from_secs(10),
        std::time::Duration::from_millis(20),
        || async {
            let (tmp, blobs) = app.stored_files();
            if tmp.is_empty() { Ok(blobs) } else { Err(format!("{tmp:?}")) }
        },
    )
    .await;
    // The refused path-conflict upload had complete bytes; they may remain as an unreferenced
    // blob, but no database row points at anything that is not stored.
    assert!(blobs.len() <= 2, "{blobs:?}");
    let rows: Vec<String> = app.db(|c| {
        use datastore::db::schema::blob;
        use diesel::prelude::*;
        blob::table.select(blob::sha256).load(c).unwrap()
    });
    for row in rows {
        assert!(blobs.contains(&row), "every blob row has its bytes: {row}");
    }
}

async fn only_committers_of_the_committee_compose(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    app.project("tomcat", false).await;
    let outsider = app.user("outsider", false, &[("tomcat", Role::PmcMember)]);
    let committer = app.user("dev", false, &[("httpd", Role::Committer)]);
    app.expect_error(
        app.client
            .post(app.url("/api/v1/releases"))
            .bearer_auth(&outsider)
            .json(&json!({"project": "httpd", "version": "1.0"})),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    app.expect_error(
        app.client.post(app.url("/api/v1/releases")).json(&json!({"project": "httpd", "version": "1.0"})),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    app.release(&committer, "httpd", "1.0").await;
    app.expect_error(
        app.client
            .post(app.url("/api/v1/releases"))
            .bearer_auth(&committer)
            .json(&json!({"project": "httpd", "version": "1.0"})),
        StatusCode::CONFLICT,
        "release_exists",
    )
    .await;
    app.expect_error(
        app.client
            .post(app.url("/api/v1/releases"))
            .bearer_auth(&committer)
            .json(&json!({"project": "nope", "version": "1.0"})),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    for version in ["v1.0", "1.0/x", "", "1 0"] {
        app.expect_error(
            app.client
                .post(app.url("/api/v1/releases"))
                .bearer_auth(&committer)
                .json(&json!({"project": "httpd", "version": version})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        )
        .await;
    }
    // Another committee's member: the draft does not exist for them (404, not a 403 that names it).
    app.expect_error(
        app.client.put(app.url("/api/v1/releases/httpd/1.0/files/a.txt")).bearer_auth(&outsider).body("x"),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    app.expect_error(
        app.client.put(app.url("/api/v1/releases/httpd/1.0/files/a.txt")).body("x"),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    app.expect_error(
        app.client.put(app.url("/api/v1/releases/httpd/9.9/files/a.txt")).bearer_auth(&committer).body("x"),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let (status, _) = app.upload(&committer, "httpd/1.0", "a.txt", b"x".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn drafts_only(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "2.4.68").await;
    app.upload(&rm, "httpd/2.4.68", "a.txt", b"x".to_vec()).await;
    app.set_phase("httpd", "2.4.68", "candidate");
    let body = app
        .expect_error(
            app.client.put(app.url("/api/v1/releases/httpd/2.4.68/files/b.txt")).bearer_auth(&rm).body("y"),
            StatusCode::CONFLICT,
            "wrong_phase",
        )
        .await;
    assert_eq!(body["details"], json!({"phase": "candidate", "required": "draft"}));
    app.expect_error(
        app.client.delete(app.url("/api/v1/releases/httpd/2.4.68/files/a.txt")).bearer_auth(&rm),
        StatusCode::CONFLICT,
        "wrong_phase",
    )
    .await;
    let form = reqwest::multipart::Form::new().part("c.txt", reqwest::multipart::Part::bytes(b"z".to_vec()));
    app.expect_error(
        app.client.post(app.url("/api/v1/releases/httpd/2.4.68/revisions")).bearer_auth(&rm).multipart(form),
        StatusCode::CONFLICT,
        "wrong_phase",
    )
    .await;
    let (_, release) =
        app.send(app.client.get(app.url("/api/v1/releases/httpd/2.4.68")).bearer_auth(app.admin())).await;
    assert_eq!((release["phase"].as_str(), release["revision"].as_i64()), (Some("candidate"), Some(1)));
    assert_eq!(release["download_url"], "http://datastore.test/candidate/httpd/2.4.68/");
}

async fn concurrent_uploads_each_get_a_revision(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "2.4.68").await;
    let names: Vec<String> = (0..8).map(|i| format!("file-{i}.txt")).collect();
    let uploads = names.iter().map(|name| app.upload(&rm, "httpd/2.4.68", name, name.as_bytes().to_vec()));
    let results = futures_util::future::join_all(uploads).await;
    let mut revisions: Vec<i64> = results
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, StatusCode::CREATED, "{body}");
            body["revision"].as_i64().unwrap()
        })
        .collect();
    revisions.sort_unstable();
    assert_eq!(revisions, (1..=8).collect::<Vec<_>>(), "each upload made its own revision");
    let (_, files) =
        app.send(app.client.get(app.url("/api/v1/releases/httpd/2.4.68/files")).bearer_auth(app.admin())).await;
    assert_eq!(files["files"].as_array().unwrap().len(), 8, "no upload was lost: {files}");
}

async fn products_are_addressed_by_their_own_urls(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let admin = app.admin();
    app.send(
        app.client
            .post(app.url("/api/v1/admin/projects/httpd/products"))
            .bearer_auth(&admin)
            .json(&json!({"name": "tools"})),
    )
    .await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let (status, created) = app
        .send(
            app.client
                .post(app.url("/api/v1/releases"))
                .bearer_auth(&rm)
                .json(&json!({"project": "httpd", "product": "tools", "version": "1.0"})),
        )
        .await;
    assert_eq!((status, created["product"].as_str()), (StatusCode::CREATED, Some("tools")));
    let (status, _) = app.upload(&rm, "httpd/tools/1.0", "tools-1.0.tar.gz", b"t".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, files) =
        app.send(app.client.get(app.url("/api/v1/releases/httpd/tools/1.0/files")).bearer_auth(app.admin())).await;
    assert_eq!(files["files"][0]["path"], "tools-1.0.tar.gz");
    app.expect_error(
        app.client.get(app.url("/api/v1/releases/httpd/1.0")).bearer_auth(app.admin()),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let (_, list) = app.send(app.client.get(app.url("/api/v1/projects/httpd/releases")).bearer_auth(app.admin())).await;
    assert_eq!(list["releases"][0]["product"], "tools");
}
