//! Crash safety of uploads, with the real `datastore` binary: killed with SIGKILL in the middle
//! of an upload, it leaves no visible partial blob and no row without bytes, and its next start
//! removes the staging file and works normally.

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
    assert_eq!(stored["revision"], 1, "{stored}");
    assert_eq!(files_in(&blobs).len(), 1);
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    killed_mid_upload
);
