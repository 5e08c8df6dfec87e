//! Slow and stalled clients cannot starve anyone: database work has threads of its own, uploads
//! and downloads hold a thread only while bytes are there to work on, a stalled upload is cut
//! off, and the number of uploads received at once is bounded.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use shared_models::api::Role;
use testkit::{Backend, on_both_backends};

use crate::common::TestApp;

on_both_backends!(
    reads_answer_while_64_slow_uploads_and_downloads_are_open,
    a_stalled_upload_is_cut_off,
    uploads_at_once_are_bounded
);

/// Opens a connection and sends `head` (and no more), leaving it open.
fn half_request(app: &TestApp, head: &str) -> TcpStream {
    let address = app.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(head.replace("{host}", address).as_bytes()).unwrap();
    stream
}

fn slow_put(app: &TestApp, jwt: &str, name: &str) -> TcpStream {
    half_request(
        app,
        &format!(
            "PUT /api/v1/releases/httpd/1.0/files/{name} HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: Bearer {jwt}\r\n\
             Content-Length: 10000000\r\n\r\nthe first bytes, and then nothing for a long time"
        ),
    )
}

async fn reads_answer_while_64_slow_uploads_and_downloads_are_open(backend: Backend) {
    // The slow uploads are not cut off while the reads are timed: a read starved by them would
    // wait as long as they are held.
    let Some(app) = TestApp::start_with(backend, |c| {
        c.max_uploads = 100;
        c.upload_idle_secs = 120;
    })
    .await
    else {
        return;
    };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "1.0").await;
    let big: Vec<u8> = (0..16u32 << 20).map(|i| (i % 251) as u8).collect();
    let (status, _) = app.upload(&rm, "httpd/1.0", "big.bin", big).await;
    assert_eq!(status, StatusCode::CREATED);
    app.set_phase("httpd", "1.0", "candidate");
    let mut held = Vec::new();
    for i in 0..64 {
        held.push(slow_put(&app, &rm, &format!("slow-{i}.bin")));
        // A download whose client never reads: the server's sends fill the socket and wait.
        held.push(half_request(&app, "GET /candidate/httpd/1.0/big.bin HTTP/1.1\r\nHost: {host}\r\n\r\n"));
    }
    // Let the downloads fill their sockets (some 10 MiB each on loopback) and stall.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut took = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let (status, _) = app.send(app.client.get(app.url("/api/v1/projects"))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = app.send(app.client.get(app.url("/api/v1/releases/httpd/1.0/files"))).await;
        assert_eq!(status, StatusCode::OK);
        took.push(started.elapsed());
    }
    took.sort_unstable();
    // Not a latency target (the benches measure those, on a quiet machine): on two cores shared
    // with the other tests a pair of reads has taken 3.6 s here. A starved read takes as long
    // as the slow clients stay, two minutes.
    let slowest = took[took.len() - 1];
    assert!(
        slowest < Duration::from_secs(15),
        "API reads starved with 128 slow clients open: median {:?}, slowest {slowest:?}",
        took[took.len() / 2]
    );
    eprintln!("reads with 128 slow clients open: median {:?}, slowest {slowest:?}", took[took.len() / 2]);
    // And a new upload still goes through.
    app.release(&rm, "httpd", "2.0").await;
    let (status, body) = app.upload(&rm, "httpd/2.0", "NOTES.txt", b"notes".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    drop(held);
}

async fn a_stalled_upload_is_cut_off(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| c.upload_idle_secs = 1).await else { return };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "1.0").await;
    let mut stream = slow_put(&app, &rm, "stalled.bin");
    let started = Instant::now();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap_or_default();
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("upload_stalled"), "{response}");
    assert!(started.elapsed() < Duration::from_secs(5), "cut off after {:?}", started.elapsed());
    let (tmp, _) = app.stored_files();
    assert!(tmp.is_empty(), "nothing of it is kept: {tmp:?}");
    let (_, files) = app.send(app.client.get(app.url("/api/v1/releases/httpd/1.0/files")).bearer_auth(&rm)).await;
    assert_eq!(files["revision"], 0);
}

async fn uploads_at_once_are_bounded(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |c| {
        c.max_uploads = 2;
        c.upload_idle_secs = 2;
    })
    .await
    else {
        return;
    };
    app.project("httpd", false).await;
    let rm = app.user("rm", false, &[("httpd", Role::ReleaseManager)]);
    app.release(&rm, "httpd", "1.0").await;
    let held = [slow_put(&app, &rm, "a.bin"), slow_put(&app, &rm, "b.bin")];
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = app
        .client
        .put(app.url("/api/v1/releases/httpd/1.0/files/c.bin"))
        .bearer_auth(&rm)
        .body("c")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "unavailable", "{body}");
    // The stalled ones are cut off; their places are free again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, body) = app.upload(&rm, "httpd/1.0", "c.bin", b"c".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    drop(held);
}

/// Database work runs on the database's own threads: with tokio's blocking pool taken by
/// something else (an upload or a download, before), a query still runs at once.
#[test]
fn database_work_does_not_wait_for_the_blocking_pool() {
    let db_file = tempfile::tempdir().unwrap();
    let db = datastore::db::Db::connect(&format!("sqlite://{}", db_file.path().join("x.db").display()), 2).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().max_blocking_threads(1).enable_all().build().unwrap();
    runtime.block_on(async {
        let occupied = tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_secs(3)));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        let answer = db
            .run(|c| {
                use diesel::connection::SimpleConnection;
                c.batch_execute("SELECT 1").map_err(datastore::db::DbError::from)
            })
            .await;
        assert!(answer.is_ok());
        assert!(started.elapsed() < Duration::from_secs(1), "the query waited {:?}", started.elapsed());
        occupied.await.unwrap();
    });
}
