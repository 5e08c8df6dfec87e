//! Downstream parity through the whole stack: a real runner fetches what a channel serves from an
//! HTTP server on loopback and compares it with the voted bytes; the schedule checks again, so a
//! channel that starts serving altered bytes is caught and named.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{Stack, StackOptions};
use serde_json::{Value, json};
use testkit::Backend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A file server on loopback whose bytes the test can change.
async fn channel(bytes: Arc<Mutex<Vec<u8>>>) -> String {
    channel_at(bytes, "app-1.0.tar.gz").await
}

/// [`channel`], serving the file under `name`.
async fn channel_at(bytes: Arc<Mutex<Vec<u8>>>, name: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/dist/{name}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let body = bytes.lock().unwrap().clone();
            tokio::spawn(async move {
                let mut request = vec![0u8; 8192];
                let _ = socket.read(&mut request).await;
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    url
}

async fn status_in(stack: &Stack, release: &str, id: i64) -> Value {
    let listed = stack.get(&format!("/api/v1/releases/{release}/distributions")).await;
    listed["distributions"].as_array().unwrap().iter().find(|d| d["id"] == id).unwrap().clone()
}

async fn wait_for(stack: &Stack, id: i64, status: &str) -> Value {
    wait_in(stack, "app/1.0", id, status).await
}

async fn wait_in(stack: &Stack, release: &str, id: i64, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let record = status_in(stack, release, id).await;
        if record["status"] == status {
            return record;
        }
        assert!(Instant::now() < deadline, "the record never became {status}: {record}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn a_channel_that_changes_its_bytes_is_caught(backend: Backend) {
    let options = StackOptions {
        datastore_env: vec![("DATASTORE_DISTRIBUTION_RECHECK_SECS".into(), "2".into())],
        runner_env: vec![("RUNNER_WEBHOOK_ALLOW_PRIVATE".into(), "true".into())],
        ..StackOptions::default()
    };
    let Some(stack) = Stack::start(backend, options).await else {
        return;
    };
    stack.release("app", "1.0", false).await;
    let voted = b"the voted bytes of app 1.0".to_vec();
    stack.upload("app/1.0", "app-1.0.tar.gz", voted.clone()).await;
    e2e::set_phase(stack.database_url(), "app", "1.0", "current", None);

    let served = Arc::new(Mutex::new(voted.clone()));
    let url = channel(served.clone()).await;
    let (status, recorded) =
        stack.post("/api/v1/releases/app/1.0/distributions", json!({"channel": "github_releases", "url": url})).await;
    assert_eq!(status, 201, "{recorded}");
    let id = recorded["id"].as_i64().unwrap();
    let verified = wait_for(&stack, id, "verified").await;
    assert!(verified["detail"].as_str().unwrap().contains("serves the voted bytes of app-1.0.tar.gz"), "{verified}");

    // The channel starts serving other bytes: the next scheduled check says so.
    *served.lock().unwrap() = b"the voted bytes of app 1.0, altered".to_vec();
    let mismatch = wait_for(&stack, id, "mismatch").await;
    assert!(mismatch["detail"].as_str().unwrap().contains("none of the voted files"), "{mismatch}");
    let events = stack.get("/api/v1/releases/app/1.0/events").await;
    let actions: Vec<&str> = events["events"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"distribution.verified") && actions.contains(&"distribution.mismatch"), "{actions:?}");
}

/// A channel that repackages the voted source (a zip of the same files: other bytes) serves
/// the voted release; once one of its files changes, it does not, and the file is named.
async fn a_repackaging_of_the_voted_archive_is_verified_by_its_files(backend: Backend) {
    use testkit::archives::{Entry, gzip, tar_bytes, zip_bytes};
    let options = StackOptions {
        datastore_env: vec![("DATASTORE_DISTRIBUTION_RECHECK_SECS".into(), "2".into())],
        runner_env: vec![("RUNNER_WEBHOOK_ALLOW_PRIVATE".into(), "true".into())],
        ..StackOptions::default()
    };
    let Some(stack) = Stack::start(backend, options).await else {
        return;
    };
    stack.release("app", "2.0", false).await;
    let voted = gzip(&tar_bytes(&[
        Entry::File("app-2.0-src/README", b"app 2.0\n"),
        Entry::File("app-2.0-src/src/main.c", b"int main(void) { return 0; }\n"),
    ]));
    stack.upload("app/2.0", "app-2.0-src.tar.gz", voted).await;
    e2e::set_phase(stack.database_url(), "app", "2.0", "current", None);
    let zip = |main: &'static [u8]| {
        zip_bytes(&[("app-2.0/README", b"app 2.0\n"), ("app-2.0/src/main.c", main)], zip::CompressionMethod::Deflated)
    };
    let served = Arc::new(Mutex::new(zip(b"int main(void) { return 0; }\n")));
    let url = channel_at(served.clone(), "app-2.0-src.zip").await;
    let (status, recorded) =
        stack.post("/api/v1/releases/app/2.0/distributions", json!({"channel": "other", "url": url})).await;
    assert_eq!(status, 201, "{recorded}");
    let id = recorded["id"].as_i64().unwrap();
    let verified = wait_in(&stack, "app/2.0", id, "verified").await;
    let detail = verified["detail"].as_str().unwrap();
    assert!(
        detail.contains("serves a repackaging of the voted app-2.0-src.tar.gz: other bytes, the same 2 files"),
        "{detail}"
    );

    *served.lock().unwrap() = zip(b"int main(void) { return 1; }\n");
    let mismatch = wait_in(&stack, "app/2.0", id, "mismatch").await;
    let detail = mismatch["detail"].as_str().unwrap();
    assert!(
        detail.contains("not a repackaging of a voted archive either") && detail.contains("`src/main.c`"),
        "{detail}"
    );
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_channel_that_changes_its_bytes_is_caught
);

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_repackaging_of_the_voted_archive_is_verified_by_its_files
);
