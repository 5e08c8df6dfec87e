//! `datastore backup DIR` beside a running server: the copy is a state directory that a
//! datastore serves as it was at the backup (SQLite: `VACUUM INTO`), and on PostgreSQL a
//! `pg_dump` archive of the datastore's schema that `pg_restore` reads.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::process::{Command, Stdio};

use e2e::{Process, Stack, StackOptions, binary, free_port, run_sql, wait_until_up};
use testkit::Backend;

async fn a_backup_of_a_running_datastore_serves_as_it_was(backend: Backend) {
    let Some(stack) = Stack::start(backend, StackOptions { runners: 0, ..StackOptions::default() }).await else {
        return;
    };
    stack.release("httpd", "2.4.68", false).await;
    let big: Vec<u8> = (0..3 << 20).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let stored = stack.upload("httpd/2.4.68", "httpd-2.4.68.tar.gz", big.clone()).await;
    stack.upload("httpd/2.4.68", "README", b"read me\n".to_vec()).await;
    stack.operate(&["audit", "checkpoint"]).unwrap();

    let backups = tempfile::tempdir().unwrap();
    let dir = backups.path().join("2026-12-02");
    let said = stack.operate(&["backup", dir.to_str().unwrap()]).unwrap();
    assert!(said.contains("), 2 blobs (") && said.ends_with(", the audit key"), "{said}");
    assert!(!backups.path().join(".2026-12-02.partial").exists(), "written beside, then renamed into place");
    // Written after the backup: not in it.
    stack.upload("httpd/2.4.68", "LATER", b"after the backup\n".to_vec()).await;
    let (code, refused) = stack.operate(&["backup", dir.to_str().unwrap()]).unwrap_err();
    assert_eq!(code, Some(1));
    assert!(refused.contains("is not empty"), "a backup never writes over another: {refused}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&dir).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "the backup holds secrets: only its owner reads it");
    for secret in ["datastore.db", "datastore.pgdump", "audit-ed25519.pem"] {
        if let Ok(meta) = std::fs::metadata(dir.join(secret)) {
            let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
            assert_eq!(mode & 0o077, 0, "{secret} is its owner's only");
        }
    }
    let database = if backend == Backend::Postgres { "datastore.pgdump" } else { "datastore.db" };
    assert!(dir.join(database).exists(), "{database}");

    if backend == Backend::Postgres {
        let listed = Command::new("pg_restore").arg("--list").arg(dir.join("datastore.pgdump")).output().unwrap();
        let listed = String::from_utf8_lossy(&listed.stdout);
        for table in ["release", "revision_file", "blob", "event", "server_secret"] {
            let has_data = listed.lines().any(|l| l.contains("TABLE DATA") && l.split_whitespace().any(|w| w == table));
            assert!(has_data, "the dump holds the rows of {table}: {listed}");
        }
        return;
    }

    // The copy, served by a datastore of its own: the state at the backup, its audit chain whole.
    let port = free_port();
    let restored = |args: &[&str]| {
        let mut command = Command::new(binary("datastore"));
        command.args(args).env("DATASTORE_STATE_DIR", &dir).env("DATASTORE_BIND", format!("127.0.0.1:{port}"));
        command.env_remove("DATABASE_URL").env("RUST_LOG", "warn");
        command
    };
    let verified = restored(&["audit", "verify"]).output().unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    // Before it serves: a connection of the test's own would meet the server's writes.
    run_sql(&format!("sqlite://{}", dir.join("datastore.db").display()), "UPDATE release SET phase = 'candidate'");
    let child = restored(&["serve"]).stdout(Stdio::null()).spawn().unwrap();
    let _served = Process { child, name: "restored datastore".into() };
    let base = format!("http://127.0.0.1:{port}");
    wait_until_up(&stack.client, &format!("{base}/healthz")).await;
    // The JWT's key is in the database: the copy accepts the original's JWT too.
    let copy = trel_client::Client::with_jwt(&base, &stack.jwt).unwrap();
    let files = copy.files("httpd/2.4.68").await.unwrap();
    let paths: Vec<&str> = files.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["README", "httpd-2.4.68.tar.gz"], "{files:?}");
    let download = stack.client.get(format!("{base}/candidate/httpd/2.4.68/httpd-2.4.68.tar.gz")).send().await.unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["etag"], format!("\"{}\"", stored.sha256).as_str());
    assert!(download.bytes().await.unwrap() == big, "the blob's bytes are whole");
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_backup_of_a_running_datastore_serves_as_it_was
);
