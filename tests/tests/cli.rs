//! `trel`, the command line, against the real stack: logging in keeps the token private; an
//! upload killed (SIGKILL) midway goes on when run again from the byte the datastore holds,
//! and sends only the rest, as a proxy between the two counts; status and verify answer with
//! their exit codes. A real signed release goes from `trel check` on the release manager's
//! machine through keys, upload, the vote, resolution and publication to its revocation, each
//! step a `trel` command with its documented exit code; a token typed at a terminal is not
//! echoed.

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
    trel_as("rm", server, token, home, args)
}

fn trel_as(uid: &str, server: &str, token: &str, home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary("trel"));
    command
        .args(args)
        .env("TREL_SERVER", server)
        .env("TREL_UID", uid)
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
        .env("TREL_TOKEN", "") // set but empty, as a CI variable that was not filled in: asked for
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

/// What a finished `trel` command said (standard output, then standard error) and its exit code.
fn said(command: &mut Command) -> (Option<i32>, String) {
    let out = command.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

async fn trel_takes_a_release_from_check_to_revocation(backend: Backend) {
    let Some(mut stack) = Stack::start(backend, StackOptions::default()).await else { return };
    stack.release("tooling", "0.2", false).await;
    stack.person_with_email("rm", Some("apache-tooling@example.invalid"), "tooling", "release_manager").await;
    for uid in ["alice", "bob", "carol"] {
        stack.person(uid, "tooling", "pmc_member").await;
    }
    stack.release("other", "1.0", false).await;
    stack.person("mallory", "other", "pmc_member").await;
    let token = |uid: &str| stack.token(uid);
    let (rm, alice, bob, carol, mallory) =
        (token("rm"), token("alice"), token("bob"), token("carol"), token("mallory"));
    let home = tempfile::tempdir().unwrap();
    let base = stack.base.clone();
    let base = base.as_str();
    let as_rm = |args: &[&str]| trel(base, &rm, home.path(), args);
    let key = testkit::fixture("atr-playwright/68FF2E20F02B070D73D416188DE8CC167FE2663A.asc");
    let key = key.to_str().unwrap();
    let dist = testkit::fixture("atr-playwright/apache-test-0.2");
    let dist = dist.to_str().unwrap();

    // On the release manager's machine first: the server's checks, and what a broken sum does.
    let (code, text) = said(&mut as_rm(&["check", dist, "--keys", key]));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("1 of 1 signature(s) good") && text.contains(": 13 success, 4 warning"), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    let broken = home.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    for file in ["apache-test-0.2.tar.gz", "apache-test-0.2.tar.gz.asc"] {
        std::fs::copy(format!("{dist}/{file}"), broken.join(file)).unwrap();
    }
    std::fs::write(
        broken.join("apache-test-0.2.tar.gz.sha512"),
        format!("{}  apache-test-0.2.tar.gz\n", "0".repeat(128)),
    )
    .unwrap();
    let (code, text) = said(&mut as_rm(&["check", broken.to_str().unwrap(), "--keys", key]));
    assert_eq!(code, Some(1), "a wrong checksum fails: {text}");
    assert!(text.contains("FAIL"), "{text}");

    // The signing key, then the files, then the checks on the server.
    let (code, text) = said(&mut as_rm(&["keys", "add", key, "--committee", "tooling"]));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("1 added"), "{text}");
    let (code, text) = said(&mut as_rm(&["keys", "list", "tooling"]));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.to_lowercase().contains("68ff2e20f02b070d73d416188de8cc167fe2663a"), "{text}");
    assert!(text.contains("apache-tooling@example.invalid") && text.contains("tooling: 1 keys"), "{text}");
    let (code, text) = said(&mut trel_as("mallory", base, &mallory, home.path(), &["upload", "tooling/0.2", dist]));
    assert_eq!(code, Some(4), "another committee's member cannot upload: {text}");
    assert!(text.contains("There is no release tooling/0.2. (404, not_found)"), "nor see the draft: {text}");
    // With the runner stopped, the checks wait; the datastore restarts under a `status --wait`,
    // which asks again and ends once the runner, going on, has done them.
    stack.runners[0].signal("-STOP");
    let (code, text) = said(&mut as_rm(&["upload", "tooling/0.2", dist]));
    assert_eq!(code, Some(0), "{text}");
    let waiting = as_rm(&["status", "tooling/0.2", "--wait", "--timeout", "180"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stack.datastore.kill(); // down for longer than trel's 2 s between polls
    tokio::time::sleep(Duration::from_secs(3)).await;
    stack.crash_and_restart_datastore().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.runners[0].signal("-CONT");
    let out = waiting.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("draft at revision 3; checks complete: 13 success, 4 warning"), "{text}");

    // The vote: opened by the release manager, cast by the PMC, tallied with its exit code.
    let (code, text) = said(&mut as_rm(&["vote", "start", "tooling/0.2"]));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("The vote on tooling/0.2 is open: round 1, revision 3"), "{text}");
    let (code, text) = said(&mut trel_as(
        "alice",
        base,
        &alice,
        home.path(),
        &["vote", "cast", "tooling/0.2", "+1", "--comment", "ok"],
    ));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("alice cast +1 on tooling/0.2 (binding)"), "{text}");
    let (code, text) = said(&mut as_rm(&["vote", "tally", "tooling/0.2"]));
    assert_eq!(code, Some(1), "one binding +1 does not pass: {text}");
    assert!(text.contains("binding 1 +1, 0 0, 0 -1") && text.contains("It does not pass"), "{text}");
    let (code, text) = said(&mut trel_as("bob", base, &bob, home.path(), &["vote", "cast", "tooling/0.2", "2"]));
    assert_eq!(code, Some(2), "a ballot of 2 is refused before any request: {text}");
    for (uid, secret, value) in [("bob", &bob, "-1"), ("carol", &carol, "+1"), ("bob", &bob, "1")] {
        let (code, text) = said(&mut trel_as(uid, base, secret, home.path(), &["vote", "cast", "tooling/0.2", value]));
        assert_eq!(code, Some(0), "{uid} {value}: {text}");
    }
    let (code, text) =
        said(&mut trel_as("mallory", base, &mallory, home.path(), &["vote", "cast", "tooling/0.2", "+1"]));
    assert_eq!(code, Some(0), "anyone may vote, not bindingly: {text}");
    assert!(text.contains("not binding"), "{text}");
    let (code, text) = said(&mut as_rm(&["vote", "tally", "tooling/0.2", "--json"]));
    assert_eq!(code, Some(0), "three binding +1 pass: {text}");
    let tally: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(tally["tally"]["binding_plus"], 3, "{tally}");
    assert_eq!(tally["tally"]["binding_minus"], 0, "bob's later ballot replaced his -1: {tally}");
    assert_eq!(tally["tally"]["non_binding_plus"], 1, "{tally}");
    let (code, text) = said(&mut as_rm(&["resolve", "tooling/0.2", "passed"]));
    assert_eq!(code, Some(4), "not before the vote's time is up: {text}");
    assert!(text.contains("vote_open"), "{text}");
    e2e::run_sql(stack.database_url(), "UPDATE release SET vote_closes_at = 0 WHERE version = '0.2'");
    let (code, text) =
        said(&mut trel_as("mallory", base, &mallory, home.path(), &["resolve", "tooling/0.2", "passed"]));
    assert_eq!(code, Some(3), "another committee cannot resolve the vote: {text}");
    let (code, text) = said(&mut as_rm(&["resolve", "tooling/0.2", "passed"]));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("tooling/0.2 is preview now"), "{text}");

    // Published: the voted bytes, which verify finds released and signed.
    let (code, text) = said(&mut as_rm(&["release", "tooling/0.2"]));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("tooling/0.2 is current now") && text.contains("the voted bytes"), "{text}");
    let tarball = format!("{dist}/apache-test-0.2.tar.gz");
    let mut anonymous = as_rm(&["verify", "--released", &tarball]);
    let (code, text) = said(anonymous.env_remove("TREL_UID").env_remove("TREL_TOKEN"));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("(current, voted on: Passed, released)"), "{text}");
    assert!(text.to_lowercase().contains("signed by 68ff2e20f02b070d73d416188de8cc167fe2663a"), "{text}");
    let response = stack.client.get(stack.url("/current/tooling/0.2/apache-test-0.2.tar.gz")).send().await.unwrap();
    assert_eq!(response.status(), 200);

    // Revoked: refused to another committee, done by the release manager, and the old URL is gone.
    let revoke = ["revoke", "tooling/0.2", "--reason", "a test revocation"];
    let (code, text) = said(&mut trel_as("mallory", base, &mallory, home.path(), &revoke));
    assert_eq!(code, Some(3), "{text}");
    let (code, text) = said(&mut as_rm(&revoke));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("tooling/0.2 is revoked now"), "{text}");
    let response = stack.client.get(stack.url("/current/tooling/0.2/apache-test-0.2.tar.gz")).send().await.unwrap();
    assert_eq!(response.status(), 410);

    // Shell completions, for each shell a user may have.
    for shell in ["bash", "zsh", "fish"] {
        let (code, text) = said(Command::new(binary("trel")).args(["completions", shell]));
        assert_eq!(code, Some(0), "{shell}: {text}");
        assert!(text.contains("vote") && text.contains("revoke"), "{shell} completes the commands: {text}");
    }
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    trel_takes_a_release_from_check_to_revocation
);

/// `trel login` at a terminal (a pseudo-terminal made by `script`): the token typed after the
/// prompt is not echoed, and it is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_typed_at_a_terminal_is_not_shown() {
    use std::io::{Read, Write};
    let Some(stack) = Stack::start(Backend::Sqlite, StackOptions { runners: 0, ..StackOptions::default() }).await
    else {
        return;
    };
    let token = stack.token("root");
    let home = tempfile::tempdir().unwrap();
    let trel = binary("trel");
    let mut child = Command::new("script")
        .args(["--quiet", "--return", "--command"])
        .arg(format!("{} login --uid root", trel.display()))
        .arg("/dev/null")
        .env("TREL_SERVER", &stack.base)
        .env("HOME", home.path())
        .env_remove("TREL_TOKEN")
        .env_remove("TREL_UID")
        .env_remove("XDG_CONFIG_HOME")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // What the terminal shows, read as it comes; the token is typed once the prompt is up.
    let mut screen = child.stdout.take().unwrap();
    let (shown_tx, shown_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buffer = [0; 4096];
        while let Ok(n) = screen.read(&mut buffer) {
            if n == 0 || shown_tx.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut shown = Vec::new();
    while !String::from_utf8_lossy(&shown).contains("then press Enter") {
        shown.extend(shown_rx.recv_timeout(Duration::from_secs(30)).expect("the prompt shows"));
    }
    let mut keyboard = child.stdin.take().unwrap();
    keyboard.write_all(format!("{token}\r").as_bytes()).unwrap();
    let status = child.wait().unwrap();
    drop(keyboard);
    reader.join().unwrap();
    shown.extend(shown_rx.try_iter().flatten());
    let shown = String::from_utf8_lossy(&shown);
    assert!(status.success(), "{shown}");
    assert!(shown.contains("Logged in to"), "{shown}");
    assert!(!shown.contains(&token), "the token was echoed: {shown}");
    let kept = std::fs::read_to_string(home.path().join(".config/trel/credentials.json")).unwrap();
    assert!(kept.contains(&token), "the typed token is the one kept");
}
