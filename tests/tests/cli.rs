//! `trel`, the command line, against the real stack: logging in keeps the token private; an
//! upload killed (SIGKILL) midway goes on when run again from the byte the datastore holds,
//! and sends only the rest, as a proxy between the two counts; status and verify answer with
//! their exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use e2e::{Stack, StackOptions, binary};
use serde_json::Value;
use testkit::Backend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TCP proxy on loopback to `upstream` that passes what clients send at most
/// `bytes_per_second` (as a slow uplink does) and counts it; answers pass at full speed.
struct Proxy {
    port: u16,
    sent: Arc<AtomicU64>,
    tasks: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    /// Closes every connection and stops accepting: nothing a client wrote before it is
    /// passed on afterwards.
    fn close(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

async fn proxy(upstream: String, bytes_per_second: u64) -> Proxy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let tasks: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
    let registry = tasks.clone();
    let accepting = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { continue };
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            let counter = counter.clone();
            let upward = tokio::spawn(async move {
                let mut buffer = vec![0; 16 << 10];
                let pause = Duration::from_secs_f64(buffer.len() as f64 / bytes_per_second as f64);
                while let Ok(n) = client_read.read(&mut buffer).await {
                    if n == 0 || server_write.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                    tokio::time::sleep(pause).await;
                }
                let _ = server_write.shutdown().await;
            });
            let downward = tokio::spawn(async move {
                let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
            });
            registry.lock().unwrap().extend([upward.abort_handle(), downward.abort_handle()]);
        }
    });
    tasks.lock().unwrap().push(accepting.abort_handle());
    Proxy { port, sent, tasks }
}

fn trel(server: &str, token: &str, home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary("trel"));
    command
        .args(args)
        .env("TREL_SERVER", server)
        .env("TREL_UID", "rm")
        .env("TREL_TOKEN", token)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_STATE_HOME")
        .stdin(Stdio::null());
    command
}

/// The only remembered upload's session id, once `trel` has written it.
fn remembered_session(home: &Path) -> Option<String> {
    let dir = home.join(".local/state/trel/uploads");
    let entry = std::fs::read_dir(dir).ok()?.flatten().next()?;
    let remembered: Value = serde_json::from_slice(&std::fs::read(entry.path()).ok()?).ok()?;
    remembered["session"].as_str().map(str::to_owned)
}

async fn a_killed_upload_goes_on_where_it_stopped(backend: Backend) {
    let Some(stack) = Stack::start(backend, StackOptions { runners: 0, ..StackOptions::default() }).await else {
        return;
    };
    stack.release("big", "1.0", false).await;
    let rm = stack.person("rm", "big", "release_manager").await;
    let token = stack.token("rm");
    let home = tempfile::tempdir().unwrap();
    let dist = home.path().join("dist");
    std::fs::create_dir_all(dist.join("docs")).unwrap();
    const SIZE: usize = 48 << 20;
    let bytes: Vec<u8> = (0..SIZE).map(|i| (i.wrapping_mul(2_654_435_761) >> 15) as u8).collect();
    std::fs::write(dist.join("big-1.0.bin"), &bytes).unwrap();
    std::fs::write(dist.join("docs/README"), b"read me\n").unwrap();
    let (sha512, _) = checks::digest::sha512_of(&bytes[..]).unwrap();

    // Logging in checks the token and keeps it, readable by its owner only.
    let mut login = trel(&stack.base, &token, home.path(), &["login", "--uid", "rm"]);
    login
        .env_remove("TREL_TOKEN")
        .env_remove("TREL_UID")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = login.spawn().unwrap();
    child.stdin.take().unwrap().write_all_sync(format!("{token}\n").as_bytes());
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(!said.contains(&token), "the token is never shown: {said}");
    let kept = home.path().join(".config/trel/credentials.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&kept).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the token is private");
    let refused = trel(&stack.base, "trp_not-a-token", home.path(), &["status", "big/1.0"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(3), "refused credentials: {}", String::from_utf8_lossy(&refused.stderr));

    // Through an uplink of 8 MB/s, the upload is killed once 16 MiB are confirmed.
    let slow = proxy(stack.base.trim_start_matches("http://").to_owned(), 8_000_000).await;
    let via = format!("http://127.0.0.1:{}", slow.port);
    let dist_arg = dist.to_str().unwrap();
    let mut first = trel(&via, &token, home.path(), &["upload", "big/1.0", dist_arg, "--jobs", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let id = testkit::eventually(
        "the upload's session remembered",
        Duration::from_secs(60),
        Duration::from_millis(20),
        || async { remembered_session(home.path()).ok_or_else(|| "none yet".to_owned()) },
    )
    .await;
    let confirmed =
        testkit::eventually("16 MiB confirmed", Duration::from_secs(60), Duration::from_millis(20), || async {
            let session =
                stack.client.get(stack.url(&format!("/api/v1/uploads/{id}"))).bearer_auth(&rm).send().await.unwrap();
            let session: Value = session.json().await.unwrap();
            let offset = session["offset"].as_u64().unwrap_or(0);
            if offset >= 16 << 20 { Ok(offset) } else { Err(session.to_string()) }
        })
        .await;
    first.kill().unwrap();
    first.wait().unwrap();
    slow.close(); // what the killed client had written goes no further
    assert!(confirmed < SIZE as u64, "killed before the end");
    // The datastore keeps what the cut-off request delivered; once it has confirmed it, an empty
    // PATCH at the offset is answered (before, the session is busy, or the offset moves on).
    let offset = testkit::eventually(
        "the killed request's bytes confirmed",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || async {
            let held =
                stack.client.get(stack.url(&format!("/api/v1/uploads/{id}"))).bearer_auth(&rm).send().await.unwrap();
            let offset = held.json::<Value>().await.unwrap()["offset"].as_u64().unwrap();
            let probe = stack
                .client
                .patch(stack.url(&format!("/api/v1/uploads/{id}")))
                .bearer_auth(&rm)
                .header("Upload-Offset", offset.to_string())
                .header("Content-Type", "application/offset+octet-stream")
                .send()
                .await
                .unwrap();
            if probe.status() == 204 { Ok(offset) } else { Err(probe.status().to_string()) }
        },
    )
    .await;

    // Run again (through a fast counting proxy): it says where it resumes and sends only the rest.
    let counted = proxy(stack.base.trim_start_matches("http://").to_owned(), 1 << 40).await;
    let via = format!("http://127.0.0.1:{}", counted.port);
    let second = trel(&via, &token, home.path(), &["upload", "big/1.0", dist_arg]).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&second.stdout), String::from_utf8_lossy(&second.stderr));
    assert!(second.status.success(), "{said}");
    assert!(!said.contains(&token), "the token is never shown: {said}");
    assert!(said.contains(&format!("resuming at byte {offset} of {SIZE}")), "{said}");
    let resent = counted.sent.load(Ordering::Relaxed);
    let rest = SIZE as u64 - offset;
    assert!(resent >= rest && resent < rest + (1 << 20), "sent {resent} bytes for the {rest} missing");
    assert!(said.contains("2 files stored in big/1.0"), "{said}");
    assert!(remembered_session(home.path()).is_none(), "nothing is left to resume");

    // The release holds the bytes; status and verify say so, with their exit codes.
    let files: Value = stack.get("/api/v1/releases/big/1.0/files").await;
    let stored = files["files"].as_array().unwrap();
    assert!(stored.iter().any(|f| f["path"] == "big-1.0.bin" && f["sha512"] == sha512.as_str()), "{files}");
    assert!(stored.iter().any(|f| f["path"] == "docs/README"), "a folder's files keep their paths: {files}");
    let status = trel(&stack.base, &token, home.path(), &["status", "big/1.0", "--json"]).output().unwrap();
    assert!(status.status.success(), "no check fails: {}", String::from_utf8_lossy(&status.stderr));
    let report: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(report["release"]["phase"], "draft", "{report}");
    let verified = trel(&stack.base, &token, home.path(), &["verify", dist.join("big-1.0.bin").to_str().unwrap()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success() && said.contains(": known") && said.contains("big/1.0 revision"), "{said}");
    let mut draft_only =
        trel(&stack.base, &token, home.path(), &["verify", "--released", dist.join("big-1.0.bin").to_str().unwrap()]);
    assert_eq!(draft_only.output().unwrap().status.code(), Some(1), "a draft's bytes are not released");
    let stranger = home.path().join("stranger.bin");
    std::fs::write(&stranger, b"bytes nobody uploaded").unwrap();
    let verified = trel(&stack.base, &token, home.path(), &["verify", stranger.to_str().unwrap()]).output().unwrap();
    assert_eq!(verified.status.code(), Some(1), "unknown bytes: {}", String::from_utf8_lossy(&verified.stdout));
    let typo = trel(&stack.base, &token, home.path(), &["upload", "big/1.0/../../admin", dist_arg]).output().unwrap();
    assert_eq!(typo.status.code(), Some(2), "a malformed release: {}", String::from_utf8_lossy(&typo.stderr));
    let help = Command::new(binary("trel")).args(["upload", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("Examples:"), "--help teaches by example");
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_killed_upload_goes_on_where_it_stopped
);

trait WriteAllSync {
    fn write_all_sync(self, bytes: &[u8]);
}

impl WriteAllSync for std::process::ChildStdin {
    fn write_all_sync(mut self, bytes: &[u8]) {
        std::io::Write::write_all(&mut self, bytes).unwrap();
    }
}
