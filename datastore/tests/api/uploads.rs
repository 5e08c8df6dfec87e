//! Resumable uploads: a session per file, bytes sent in pieces from the confirmed offset, the
//! bytes of a broken connection kept, the commit making a revision file with the digests of
//! what arrived; only the session's creator sees it; idle sessions and stray bytes are swept.

use futures_util::stream;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_models::api::Role;
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;

on_both_backends!(
    an_upload_resumes_where_its_bytes_stopped,
    only_its_creator_uses_an_upload,
    idle_uploads_and_stray_bytes_are_swept,
    one_request_at_a_time_appends_and_lost_bytes_are_never_zeros,
);

/// Bytes that are not all alike, `len` of them.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

async fn open(app: &TestApp, jwt: &str, release: &str, path: &str, size: usize) -> (StatusCode, Value) {
    let url = app.url(&format!("/api/v1/releases/{release}/uploads"));
    app.send(app.client.post(url).bearer_auth(jwt).json(&json!({"path": path, "size": size}))).await
}

fn patch(app: &TestApp, jwt: &str, id: &str, offset: usize) -> reqwest::RequestBuilder {
    app.client
        .patch(app.url(&format!("/api/v1/uploads/{id}")))
        .bearer_auth(jwt)
        .header("Upload-Offset", offset.to_string())
        .header("Content-Type", "application/offset+octet-stream")
}

async fn offset_status(app: &TestApp, jwt: &str, id: &str) -> StatusCode {
    app.client.get(app.url(&format!("/api/v1/uploads/{id}"))).bearer_auth(jwt).send().await.unwrap().status()
}

async fn offset(app: &TestApp, jwt: &str, id: &str) -> u64 {
    let (status, session) = app.send(app.client.get(app.url(&format!("/api/v1/uploads/{id}"))).bearer_auth(jwt)).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    session["offset"].as_u64().unwrap()
}

async fn an_upload_resumes_where_its_bytes_stopped(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "2.4.68").await;
    let bytes = pattern((3 << 20) + 17);
    let (sha512, _) = checks::digest::sha512_of(&bytes[..]).unwrap();

    // Opened: its URL, offset 0, and the protocol's headers.
    let url = app.url("/api/v1/releases/httpd/2.4.68/uploads");
    let request =
        app.client.post(url).bearer_auth(&rm).json(&json!({"path": "dist/httpd-2.4.68.tar.gz", "size": bytes.len()}));
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["upload-offset"], "0");
    assert_eq!(response.headers()["upload-length"], bytes.len().to_string().as_str());
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let session: Value = response.json().await.unwrap();
    let id = session["id"].as_str().unwrap().to_owned();
    assert!(id.len() == 32 && location.ends_with(&format!("/api/v1/uploads/{id}")), "{session}");
    assert_eq!(
        (session["release"].as_str(), session["path"].as_str()),
        (Some("httpd/2.4.68"), Some("dist/httpd-2.4.68.tar.gz"))
    );
    // A name in another Unicode form (macOS writes NFD) is taken in NFC, as `PUT` takes it.
    let (status, nfd) = open(&app, &rm, "httpd/2.4.68", "notes/caf\u{65}\u{301}.txt", 1).await;
    assert_eq!(status, StatusCode::CREATED, "{nfd}");
    assert_eq!(nfd["path"], "notes/caf\u{e9}.txt");

    // The first MiB; then a PATCH from the wrong offset is told the right one.
    let response = patch(&app, &rm, &id, 0).body(bytes[..1 << 20].to_vec()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.headers()["upload-offset"], (1u64 << 20).to_string().as_str());
    let head = app.client.head(app.url(&format!("/api/v1/uploads/{id}"))).bearer_auth(&rm).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK, "HEAD tells the offset, as the tus protocol asks it");
    assert_eq!(head.headers()["upload-offset"], (1u64 << 20).to_string().as_str());
    let (status, body) = app.send(patch(&app, &rm, &id, 0).body(bytes[..10].to_vec())).await;
    assert_eq!(
        (status, body["error"].as_str(), body["details"]["offset"].as_u64()),
        (StatusCode::CONFLICT, Some("offset_mismatch"), Some(1 << 20))
    );
    app.expect_error(
        app.client
            .patch(app.url(&format!("/api/v1/uploads/{id}")))
            .bearer_auth(&rm)
            .header("Upload-Offset", (1 << 20).to_string())
            .header("Content-Type", "text/plain")
            .body("x"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    app.expect_error(
        app.client
            .patch(app.url(&format!("/api/v1/uploads/{id}")))
            .bearer_auth(&rm)
            .header("Content-Type", "application/offset+octet-stream")
            .body("x"),
        StatusCode::BAD_REQUEST,
        "invalid_offset",
    )
    .await;
    // Committing before every byte is in is refused, naming the offset.
    let commit = || app.client.post(app.url(&format!("/api/v1/uploads/{id}/commit"))).bearer_auth(&rm);
    let (status, body) = app.send(commit()).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("upload_incomplete")), "{body}");

    // A connection that breaks after 512 KiB: what arrived is kept and confirmed.
    let piece = bytes[1 << 20..(3 << 19)].to_vec();
    let broken =
        stream::iter(vec![Ok::<_, std::io::Error>(piece), Err(std::io::Error::other("the network went away"))]);
    let sent = patch(&app, &rm, &id, 1 << 20).body(reqwest::Body::wrap_stream(broken)).send().await;
    assert!(sent.is_err(), "the request broke: {sent:?}");
    let resumed = testkit::eventually(
        "the broken PATCH's bytes confirmed",
        std::time::Duration::from_secs(10),
        std::time::Duration::from_millis(20),
        || async {
            let at = offset(&app, &rm, &id).await;
            if at > 1 << 20 { Ok(at) } else { Err(at.to_string()) }
        },
    )
    .await;
    assert!(resumed <= 3 << 19, "no more than was sent: {resumed}");
    let resumed = usize::try_from(resumed).unwrap();

    // More bytes than declared are refused before any is stored.
    let (status, body) = app.send(patch(&app, &rm, &id, resumed).body(pattern(bytes.len() - resumed + 1))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(offset(&app, &rm, &id).await, resumed as u64);

    // The rest, then the commit: a revision file with the digests of all the bytes.
    let response = patch(&app, &rm, &id, resumed).body(bytes[resumed..].to_vec()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.headers()["upload-offset"], bytes.len().to_string().as_str());
    let (status, file) = app.send(commit()).await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    assert_eq!(
        (file["path"].as_str(), file["size"].as_u64()),
        (Some("dist/httpd-2.4.68.tar.gz"), Some(bytes.len() as u64))
    );
    assert_eq!(file["sha512"].as_str(), Some(sha512.as_str()), "the digests are of the bytes sent");
    let (_, listing) = app.send(app.client.get(app.url("/api/v1/releases/httpd/2.4.68/files")).bearer_auth(&rm)).await;
    assert!(
        listing["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == "dist/httpd-2.4.68.tar.gz" && f["sha512"] == sha512.as_str()),
        "{listing}"
    );
    let (_, revisions) =
        app.send(app.client.get(app.url("/api/v1/releases/httpd/2.4.68/revisions")).bearer_auth(&rm)).await;
    let revisions = revisions["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 2, "the release's first and one more, as one PUT makes: {revisions:?}");
    assert_eq!(revisions[1]["description"], "upload dist/httpd-2.4.68.tar.gz");

    // The session has ended, and its bytes left the uploads folder.
    app.expect_error(commit(), StatusCode::NOT_FOUND, "not_found").await;
    assert!(std::fs::read_dir(app.state_dir.path().join("uploads")).unwrap().next().is_none(), "no bytes left behind");

    // Larger than the server takes: refused before any byte.
    let (status, body) = open(&app, &rm, "httpd/2.4.68", "huge.bin", usize::MAX >> 1).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")), "{body}");
    // A session that declared the file's SHA-512 refuses to commit other bytes, and ends.
    let url = app.url("/api/v1/releases/httpd/2.4.68/uploads");
    let declared = json!({"path": "declared.txt", "size": 4, "sha512": "ab".repeat(64)});
    let (status, session) = app.send(app.client.post(url).bearer_auth(&rm).json(&declared)).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let declared_id = session["id"].as_str().unwrap().to_owned();
    assert_eq!(patch(&app, &rm, &declared_id, 0).body("four").send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let (status, body) =
        app.send(app.client.post(app.url(&format!("/api/v1/uploads/{declared_id}/commit"))).bearer_auth(&rm)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("digest_mismatch")), "{body}");
    assert_eq!(offset_status(&app, &rm, &declared_id).await, StatusCode::NOT_FOUND, "the session ended");
    let (_, listing) = app.send(app.client.get(app.url("/api/v1/releases/httpd/2.4.68/files")).bearer_auth(&rm)).await;
    assert!(!listing.to_string().contains("declared.txt"), "no revision holds it: {listing}");
    let bad = json!({"path": "bad.txt", "size": 1, "sha512": "not hex"});
    let (status, body) =
        app.send(app.client.post(app.url("/api/v1/releases/httpd/2.4.68/uploads")).bearer_auth(&rm).json(&bad)).await;
    assert_eq!(
        (status, body["details"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("sha512")),
        "{body}"
    );
    // An empty file needs no PATCH.
    let (status, empty) = open(&app, &rm, "httpd/2.4.68", "EMPTY", 0).await;
    assert_eq!(status, StatusCode::CREATED, "{empty}");
    let id = empty["id"].as_str().unwrap();
    let (status, file) =
        app.send(app.client.post(app.url(&format!("/api/v1/uploads/{id}/commit"))).bearer_auth(&rm)).await;
    assert_eq!((status, file["size"].as_u64()), (StatusCode::CREATED, Some(0)), "{file}");
}

async fn one_request_at_a_time_appends_and_lost_bytes_are_never_zeros(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "2.4.68").await;
    let (_, session) = open(&app, &rm, "httpd/2.4.68", "big.bin", 2 << 20).await;
    let id = session["id"].as_str().unwrap().to_owned();

    // A PATCH that is still sending holds the session: a second one from the same offset is
    // told to wait, and changes nothing.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|c| (c, rx))
    }));
    let first = tokio::spawn(patch(&app, &rm, &id, 0).body(body).send());
    tx.send(Ok(pattern(256 << 10))).await.unwrap();
    let held = app.state_dir.path().join("uploads").join(&id);
    testkit::eventually(
        "the first PATCH's bytes on disk",
        std::time::Duration::from_secs(10),
        std::time::Duration::from_millis(10),
        || async {
            let len = std::fs::metadata(&held).map(|m| m.len()).unwrap_or(0);
            if len > 0 { Ok(()) } else { Err(len.to_string()) }
        },
    )
    .await;
    let (status, body) = app.send(patch(&app, &rm, &id, 0).body(pattern(1 << 20))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("upload_busy")), "{body}");
    drop(tx);
    let response = first.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(offset(&app, &rm, &id).await, 256 << 10, "the first PATCH's bytes, and only those");

    // The file gone from under the session (a lost state directory): never read as zeros.
    std::fs::remove_file(&held).unwrap();
    let (status, body) = app.send(patch(&app, &rm, &id, 256 << 10).body(pattern(1 << 10))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("upload_lost")), "{body}");
    assert!(!held.exists(), "no file was made up for it");
    // Shorter than the confirmed bytes: the same.
    std::fs::write(&held, pattern(1000)).unwrap();
    let (status, body) = app.send(patch(&app, &rm, &id, 256 << 10).body(pattern(1 << 10))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("upload_lost")), "{body}");
    assert_eq!(std::fs::metadata(&held).unwrap().len(), 1000, "nothing was padded");
    let response = app.client.delete(app.url(&format!("/api/v1/uploads/{id}"))).bearer_auth(&rm).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "it can be given up");
}

async fn only_its_creator_uses_an_upload(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    app.project("tomcat", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    let other_rm = app.user("rm2", false, &[("httpd", Role::ReleaseManager)]);
    let pmc = app.user("pmc", false, &[("httpd", Role::PmcMember)]);
    let stranger = app.user("cat", false, &[("tomcat", Role::PmcMember)]);
    let admin = app.admin();
    let runner = app.runner("runner-1").await;
    app.release(&rm, "httpd", "2.4.68").await;
    let (status, session) = open(&app, &rm, "httpd/2.4.68", "README", 4).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let id = session["id"].as_str().unwrap().to_owned();

    // Another committee's member cannot open one; nobody but its creator finds it, an admin neither.
    let (status, _) = open(&app, &stranger, "httpd/2.4.68", "README", 4).await;
    assert!(matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{status}");
    for jwt in [&other_rm, &pmc, &stranger, &admin] {
        let session = format!("/api/v1/uploads/{id}");
        for request in [
            app.client.get(app.url(&session)).bearer_auth(jwt),
            patch(&app, jwt, &id, 0).body("read"),
            app.client.post(app.url(&format!("{session}/commit"))).bearer_auth(jwt),
            app.client.delete(app.url(&session)).bearer_auth(jwt),
        ] {
            app.expect_error(request, StatusCode::NOT_FOUND, "not_found").await;
        }
    }
    for token in [None, Some(runner.as_str())] {
        let request = app.client.get(app.url(&format!("/api/v1/uploads/{id}")));
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        app.expect_error(request, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    app.expect_error(
        app.client.get(app.url("/api/v1/uploads/..%2F..%2Fdatastore.db")).bearer_auth(&rm),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(offset(&app, &rm, &id).await, 0, "none of that changed it");

    // The creator's rights are checked again at the commit: a release that left draft takes no file.
    let response = patch(&app, &rm, &id, 0).body("read").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    app.set_phase("httpd", "2.4.68", "candidate");
    let (status, body) =
        app.send(app.client.post(app.url(&format!("/api/v1/uploads/{id}/commit"))).bearer_auth(&rm)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // Deleting gives it up, with its bytes.
    let response = app.client.delete(app.url(&format!("/api/v1/uploads/{id}"))).bearer_auth(&rm).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    app.expect_error(
        app.client.get(app.url(&format!("/api/v1/uploads/{id}"))).bearer_auth(&rm),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert!(!app.state_dir.path().join("uploads").join(&id).exists());
}

async fn idle_uploads_and_stray_bytes_are_swept(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "2.4.68").await;
    let mut ids = Vec::new();
    for n in 0..datastore::domain::uploads::MAX_OPEN_PER_PERSON {
        let (status, session) = open(&app, &rm, "httpd/2.4.68", &format!("file-{n}"), 2).await;
        assert_eq!(status, StatusCode::CREATED, "{session}");
        ids.push(session["id"].as_str().unwrap().to_owned());
    }
    // One person holds at most so many at once.
    let (status, body) = open(&app, &rm, "httpd/2.4.68", "one-more", 2).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("too_many_uploads")), "{body}");
    let response = patch(&app, &rm, &ids[0], 0).body("a").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(app.state_dir.path().join("uploads").join(&ids[0]).exists());

    // Nothing is idle yet; then the first session has been idle past the limit.
    assert_eq!(datastore::api::uploads::sweep(&app.state).await.unwrap(), (0, 0));
    app.db(|c| {
        use datastore::db::schema::upload_session;
        use diesel::prelude::*;
        diesel::update(upload_session::table.find(&ids[0]))
            .set(upload_session::updated_at.eq(1i64))
            .execute(c)
            .unwrap();
    });
    // And a file no session owns (left by a crash between the two).
    std::fs::write(app.state_dir.path().join("uploads").join("0123456789abcdef0123456789abcdef"), b"stray").unwrap();
    assert_eq!(datastore::api::uploads::sweep(&app.state).await.unwrap(), (1, 1));
    assert!(!app.state_dir.path().join("uploads").join(&ids[0]).exists(), "its bytes went with it");
    app.expect_error(
        app.client.get(app.url(&format!("/api/v1/uploads/{}", ids[0]))).bearer_auth(&rm),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(offset(&app, &rm, &ids[1]).await, 0, "the others stay");
    let (status, _) = open(&app, &rm, "httpd/2.4.68", "one-more", 2).await;
    assert_eq!(status, StatusCode::CREATED, "a place became free");
}
