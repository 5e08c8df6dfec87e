//! Crash safety of uploads, with the real `datastore` binary: killed with SIGKILL in the middle
//! of an upload, it leaves no visible partial blob and no row without bytes, and its next start
//! removes the staging file and works normally.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::{Process, files_in};
use serde_json::json;
use testkit::{Backend, TestDatabase};

fn command(state: &Path, database_url: &str, port: u16) -> Command {
    let mut command = Command::new(e2e::binary("datastore"));
    command
        .env("DATASTORE_STATE_DIR", state)
        .env("DATABASE_URL", database_url)
        .env("DATASTORE_BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn");
    command
}

fn output(state: &Path, database_url: &str, args: &[&str]) -> String {
    let out = command(state, database_url, 0).args(args).stderr(Stdio::inherit()).output().unwrap();
    assert!(out.status.success(), "datastore {args:?} failed ({}); its stderr is above", out.status);
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The datastore serving on a free port, and its base URL.
async fn start(state: &Path, database_url: &str) -> (Process, String) {
    let port = e2e::free_port();
    let child = command(state, database_url, port).arg("serve").stdout(Stdio::null()).spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    e2e::wait_until_up(&reqwest::Client::new(), &format!("{base}/healthz")).await;
    (Process { child, name: "datastore".to_owned() }, base)
}

async fn killed_mid_upload(backend: Backend) {
    let Some(db) = TestDatabase::new(backend) else { return };
    let state = tempfile::tempdir().unwrap();
    let state = state.path();
    output(state, &db.url, &["user", "add", "rm", "--admin"]);
    let token = output(state, &db.url, &["token", "create", "rm"]);
    let (mut server, base) = start(state, &db.url).await;
    let client = reqwest::Client::new();
    let jwt: serde_json::Value = client
        .post(format!("{}/api/v1/jwt", base))
        .json(&json!({"uid": "rm", "token": token}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwt = jwt["jwt"].as_str().unwrap().to_owned();
    for (path, body) in [
        ("admin/committees", json!({"name": "httpd", "display_name": "HTTP Server"})),
        ("admin/projects", json!({"name": "httpd", "committee": "httpd", "display_name": "HTTP Server"})),
        ("releases", json!({"project": "httpd", "version": "2.4.68"})),
    ] {
        let status =
            client.post(format!("{}/api/v1/{path}", base)).bearer_auth(&jwt).json(&body).send().await.unwrap().status();
        assert_eq!(status, 201, "{path}");
    }

    // 8 MiB arrive, then the client stalls; the server is killed while it waits for more.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|c| (c, rx))
    }));
    let url = format!("{}/api/v1/releases/httpd/2.4.68/files/httpd-2.4.68.tar.gz", base);
    let upload = tokio::spawn(client.put(url).bearer_auth(&jwt).body(body).send());
    for _ in 0..32 {
        tx.send(Ok(vec![42u8; 256 * 1024])).await.unwrap();
    }
    let staging = state.join("tmp");
    e2e::eventually(
        "4 MiB of the upload in the staging file",
        Duration::from_secs(20),
        Duration::from_millis(20),
        || async {
            let staged = files_in(&staging);
            if staged.iter().map(|(_, n)| n).sum::<u64>() >= 4 << 20 { Ok(()) } else { Err(format!("{staged:?}")) }
        },
    )
    .await;
    server.kill(); // SIGKILL: no chance to clean up
    drop(tx);
    assert!(upload.await.unwrap().is_err(), "the client sees the connection die");

    let staged = files_in(&state.join("tmp"));
    assert_eq!(staged.len(), 1, "the partial upload is only in staging: {staged:?}");
    assert!(files_in(&state.join("blobs")).is_empty(), "no partial blob is visible");

    // Restarted: staging is cleaned, the release is as it was, and uploads work.
    let (_server, base) = start(state, &db.url).await;
    assert!(files_in(&state.join("tmp")).is_empty(), "the next start removed the staging file");
    let files: serde_json::Value =
        client.get(format!("{}/api/v1/releases/httpd/2.4.68/files", base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(files, json!({"revision": 0, "files": []}), "no revision and no row refer to the lost bytes");
    let response = client
        .put(format!("{}/api/v1/releases/httpd/2.4.68/files/httpd-2.4.68.tar.gz", base))
        .bearer_auth(&jwt)
        .body(vec![42u8; 1 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(files_in(&state.join("blobs")).len(), 1);
}

testkit::on_both_backends!(
    #[tokio::test]
    killed_mid_upload
);
