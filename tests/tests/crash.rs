//! Crash safety of uploads, with the real `datastore` binary: killed with SIGKILL in the middle
//! of an upload, it leaves no visible partial blob and no row without bytes, and its next start
//! removes the staging file and works normally. An operations command run beside the server
//! (`datastore token create`, which opens the same store) leaves an upload in flight alone.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::time::Duration;

use e2e::{Stack, StackOptions, files_in};
use serde_json::json;
use testkit::Backend;

async fn killed_mid_upload(backend: Backend) {
    let options = StackOptions { runners: 0, ..StackOptions::default() };
    let Some(mut stack) = Stack::start(backend, options).await else { return };
    stack.release("httpd", "2.4.68", false).await;
    let (staging, blobs) = (stack.state.path().join("tmp"), stack.state.path().join("blobs"));

    // 8 MiB arrive, then the client stalls; the server is killed while it waits for more.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|c| (c, rx))
    }));
    let url = stack.url("/api/v1/releases/httpd/2.4.68/files/httpd-2.4.68.tar.gz");
    let upload = tokio::spawn(stack.client.put(url).bearer_auth(&stack.jwt).body(body).send());
    for _ in 0..32 {
        tx.send(Ok(vec![42u8; 256 * 1024])).await.unwrap();
    }
    testkit::eventually(
        "4 MiB of the upload in the staging file",
        Duration::from_secs(20),
        Duration::from_millis(20),
        || async {
            let staged = files_in(&staging);
            if staged.iter().map(|(_, n)| n).sum::<u64>() >= 4 << 20 { Ok(()) } else { Err(format!("{staged:?}")) }
        },
    )
    .await;
    stack.datastore.kill(); // SIGKILL: no chance to clean up
    drop(tx);
    assert!(upload.await.unwrap().is_err(), "the client sees the connection die");

    let staged = files_in(&staging);
    assert_eq!(staged.len(), 1, "the partial upload is only in staging: {staged:?}");
    assert!(files_in(&blobs).is_empty(), "no partial blob is visible");

    // Restarted: staging is cleaned, the release is as it was, and uploads work.
    stack.crash_and_restart_datastore().await;
    assert!(files_in(&staging).is_empty(), "the next start removed the staging file");
    let files = stack.get("/api/v1/releases/httpd/2.4.68/files").await;
    assert_eq!(files, json!({"revision": 0, "files": []}), "no revision and no row refer to the lost bytes");
    let stored = stack.upload("httpd/2.4.68", "httpd-2.4.68.tar.gz", vec![42u8; 1 << 20]).await;
    assert_eq!(stored.revision, 1, "{stored:?}");
    assert_eq!(files_in(&blobs).len(), 1);
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    killed_mid_upload
);

/// Before staging was per process, any `datastore` command removed every staging file at its
/// start, those of the running server's uploads too: their commit then failed.
async fn an_operators_command_leaves_uploads_in_flight_alone(backend: Backend) {
    let options = StackOptions { runners: 0, ..StackOptions::default() };
    let Some(stack) = Stack::start(backend, options).await else { return };
    stack.release("httpd", "2.4.68", false).await;
    let staging = stack.state.path().join("tmp");
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|c| (c, rx))
    }));
    let url = stack.url("/api/v1/releases/httpd/2.4.68/files/httpd-2.4.68.tar.gz");
    let upload = tokio::spawn(stack.client.put(url).bearer_auth(&stack.jwt).body(body).send());
    for _ in 0..16 {
        tx.send(Ok(vec![7u8; 256 * 1024])).await.unwrap();
    }
    testkit::eventually("2 MiB in the staging file", Duration::from_secs(20), Duration::from_millis(20), || async {
        let staged = files_in(&staging);
        if staged.iter().map(|(_, n)| n).sum::<u64>() >= 2 << 20 { Ok(()) } else { Err(format!("{staged:?}")) }
    })
    .await;
    let token = stack.token("root"); // a whole `datastore` process, on the same state directory
    assert!(token.starts_with("trp_"), "{token}");
    assert_eq!(files_in(&staging).len(), 1, "the upload's staging file is still there");
    for _ in 0..16 {
        tx.send(Ok(vec![7u8; 256 * 1024])).await.unwrap();
    }
    drop(tx);
    let response = upload.await.unwrap().unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 201, "the upload completes: {text}");
    let stored: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(stored["size"], 8 << 20, "{stored}");
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    an_operators_command_leaves_uploads_in_flight_alone
);

fn patch(stack: &Stack, url: &str, offset: usize) -> reqwest::RequestBuilder {
    stack
        .client
        .patch(url)
        .bearer_auth(&stack.jwt)
        .header("Upload-Offset", offset.to_string())
        .header("Content-Type", "application/offset+octet-stream")
}

/// The confirmed offset of the upload at `url`, as `HEAD` tells it.
async fn offset(stack: &Stack, url: &str) -> usize {
    let response = stack.client.head(url).bearer_auth(&stack.jwt).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.headers()["upload-offset"].to_str().unwrap().parse().unwrap()
}

/// A resumable upload survives the datastore's crash: the bytes confirmed before it are kept,
/// those of the `PATCH` it cut short (never confirmed) are not counted, and after the restart
/// (whose process has lost the running digests) the client asks the offset, sends the rest,
/// and the committed file has the digests of every byte.
async fn a_resumable_upload_goes_on_after_a_crash(backend: Backend) {
    let options = StackOptions { runners: 0, ..StackOptions::default() };
    let Some(mut stack) = Stack::start(backend, options).await else { return };
    stack.release("httpd", "2.4.68", false).await;
    let bytes: Vec<u8> = (0..24u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 17) as u8).collect();
    let (sha512, _) = checks::digest::sha512_of(&bytes[..]).unwrap();
    let (status, session) = stack
        .post("/api/v1/releases/httpd/2.4.68/uploads", json!({"path": "httpd-2.4.68.tar.gz", "size": bytes.len()}))
        .await;
    assert_eq!(status, 201, "{session}");
    let id = session["id"].as_str().unwrap().to_owned();
    let url = stack.url(&format!("/api/v1/uploads/{id}"));
    assert_eq!(session["url"].as_str(), Some(url.as_str()), "{session}");
    // 8 MiB confirmed; then a PATCH that sends 8 MiB more and stalls, and the server is killed.
    let response = patch(&stack, &url, 0).body(bytes[..8 << 20].to_vec()).send().await.unwrap();
    assert_eq!(response.status(), 204);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|c| (c, rx))
    }));
    let cut_short = tokio::spawn(patch(&stack, &url, 8 << 20).body(body).send());
    for chunk in bytes[8 << 20..16 << 20].chunks(256 << 10) {
        tx.send(Ok(chunk.to_vec())).await.unwrap();
    }
    let held = stack.state.path().join("uploads").join(&id);
    testkit::eventually(
        "the second PATCH's bytes on disk",
        Duration::from_secs(20),
        Duration::from_millis(20),
        || async {
            let len = std::fs::metadata(&held).map(|m| m.len()).unwrap_or(0);
            if len > 12 << 20 { Ok(()) } else { Err(len.to_string()) }
        },
    )
    .await;
    stack.crash_and_restart_datastore().await;
    drop(tx);
    assert!(cut_short.await.unwrap().is_err(), "the client sees the connection die");

    // The confirmed 8 MiB are what the session says it holds; the rest goes from there.
    let resumed = offset(&stack, &url).await;
    assert_eq!(resumed, 8 << 20, "only confirmed bytes count");
    let response = patch(&stack, &url, resumed).body(bytes[resumed..].to_vec()).send().await.unwrap();
    assert_eq!(response.status(), 204);
    let (status, file) = stack.post(&format!("/api/v1/uploads/{id}/commit"), json!(null)).await;
    assert_eq!(status, 201, "{file}");
    assert_eq!(file["sha512"].as_str(), Some(sha512.as_str()), "the digests are of every byte sent: {file}");
    assert_eq!(file["size"].as_u64(), Some(bytes.len() as u64));
    assert!(!held.exists(), "the session's bytes became the blob");
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_resumable_upload_goes_on_after_a_crash
);
