//! A release's whole life through the real stack: a real signed release is uploaded and
//! checked, voted on by three PMC members and a committer (one changes their ballot), the vote
//! announcement reaches a real SMTP server, the vote is resolved, a file renamed in preview,
//! the voted bytes released under /current/ and downloaded, the announcement received, every
//! webhook delivery checked against its signature (one of them after a failed first attempt),
//! and the release revoked.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use checks::digest::Sha512;
use e2e::{Process, Stack, StackOptions, free_port, run_sql};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde_json::{Value, json};
use testkit::{Backend, eventually, fixture};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RELEASE: &str = "/api/v1/releases/tooling/0.2";
const FILES: [&str; 3] = ["apache-test-0.2.tar.gz", "apache-test-0.2.tar.gz.asc", "apache-test-0.2.tar.gz.sha512"];

/// The SMTP server: `tests/tools/smtp_sink.py` (aiosmtpd), saving what it accepts in `dir`.
struct SmtpSink {
    _process: Process,
    port: u16,
    dir: PathBuf,
}

/// Makes sure aiosmtpd is importable, installing `tests/requirements.txt` with pip (once, and
/// saying so) on a machine that does not have it yet, so that `cargo test` on a fresh clone
/// runs the mail tests instead of failing them.
fn ensure_aiosmtpd() {
    static READY: std::sync::Once = std::sync::Once::new();
    READY.call_once(|| {
        let importable = || Command::new("python3").args(["-c", "import aiosmtpd"]).status().is_ok_and(|s| s.success());
        if importable() {
            return;
        }
        let requirements = Path::new(env!("CARGO_MANIFEST_DIR")).join("requirements.txt");
        eprintln!("aiosmtpd (the SMTP server of the mail tests) is missing: pip install -r {}", requirements.display());
        let status = Command::new("python3")
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "-r"])
            .arg(&requirements)
            .status()
            .expect("python3 runs");
        assert!(
            status.success() && importable(),
            "cannot install aiosmtpd: run `pip install -r {}` and try again",
            requirements.display()
        );
    });
}

impl SmtpSink {
    fn start(dir: &Path) -> Self {
        ensure_aiosmtpd();
        std::fs::create_dir_all(dir).unwrap();
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .arg(dir)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
        assert_eq!(
            ready.trim(),
            "ready",
            "the SMTP server did not start: install it with `pip install -r tests/requirements.txt` (aiosmtpd)"
        );
        Self { _process: Process { child, name: "smtp".to_owned() }, port, dir: dir.to_owned() }
    }

    /// The messages received so far, parsed, in order.
    fn messages(&self) -> Vec<(Value, Vec<u8>)> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|eml| {
                let envelope = std::fs::read_to_string(eml.with_extension("json")).unwrap();
                (serde_json::from_str(&envelope).unwrap(), std::fs::read(&eml).unwrap())
            })
            .collect()
    }

    /// Waits for the message whose subject starts with `prefix`; its headers and body.
    async fn wait_for(&self, prefix: &str) -> (Value, BTreeMap<String, String>, String) {
        eventually(
            &format!("a mail {prefix:?} arrives"),
            Duration::from_secs(60),
            Duration::from_millis(200),
            || async {
                for (envelope, raw) in self.messages() {
                    let parsed = mailparse::parse_mail(&raw).unwrap();
                    let headers: BTreeMap<String, String> =
                        parsed.headers.iter().map(|h| (h.get_key().to_ascii_lowercase(), h.get_value())).collect();
                    if headers.get("subject").is_some_and(|s| s.starts_with(prefix)) {
                        return Ok((envelope, headers, parsed.get_body().unwrap()));
                    }
                }
                Err(format!("{} messages, none {prefix:?}", self.messages().len()))
            },
        )
        .await
    }
}

/// One request the webhook receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: BTreeMap<String, String>,
    body: String,
    answered: u16,
}

/// A real HTTP receiver on loopback: records each POST; answers 500 to the first delivery of
/// `fail_first` and 200 to everything else.
async fn receiver(fail_first: &'static str) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/trl", listener.local_addr().unwrap());
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let log = received.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let log = log.clone();
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut buffer = [0u8; 8192];
                let (head, length) = loop {
                    let n = socket.read(&mut buffer).await.unwrap();
                    assert!(n > 0, "the runner closed the connection mid-request");
                    data.extend_from_slice(&buffer[..n]);
                    if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8(data[..end].to_vec()).unwrap();
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        data.drain(..end + 4);
                        break (head, length);
                    }
                };
                while data.len() < length {
                    let n = socket.read(&mut buffer).await.unwrap();
                    data.extend_from_slice(&buffer[..n]);
                }
                let headers: BTreeMap<String, String> = head
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                let event = headers.get("x-trl-event").cloned().unwrap_or_default();
                let fail = {
                    let mut log = log.lock().unwrap();
                    let fail = event == fail_first && !log.iter().any(|r| r.headers["x-trl-event"] == fail_first);
                    let answered = if fail { 500 } else { 200 };
                    log.push(Received { headers, body: String::from_utf8(data).unwrap(), answered });
                    fail
                };
                let reply = if fail { "HTTP/1.1 500 Internal Server Error" } else { "HTTP/1.1 200 OK" };
                let response = format!("{reply}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
                socket.write_all(response.as_bytes()).await.unwrap();
            });
        }
    });
    (url, received)
}

fn hmac(secret: &str, body: &str) -> String {
    let key = PKey::hmac(secret.as_bytes()).unwrap();
    let mut signer = Signer::new(MessageDigest::sha256(), &key).unwrap();
    format!("sha256={}", hex::encode(signer.sign_oneshot_to_vec(body.as_bytes()).unwrap()))
}

fn sha512(bytes: &[u8]) -> String {
    let mut hasher = Sha512::default();
    hasher.update(bytes);
    hasher.finish_hex()
}

async fn send(stack: &Stack, jwt: &str, path: &str, body: Value) -> Value {
    let response = stack.client.post(stack.url(path)).bearer_auth(jwt).json(&body).send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST {path}: {status} {body}");
    body
}

async fn a_release_goes_from_draft_to_revoked_with_mail_and_webhooks(backend: Backend) {
    let mail_dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start(mail_dir.path());
    let (hook_url, received) = receiver("vote.started").await;
    let options = StackOptions {
        datastore_env: vec![("DATASTORE_MAIL_FROM".into(), "Trusted Releases <releases@releases.test>".into())],
        runner_env: vec![
            ("RUNNER_SMTP_URL".into(), format!("smtp://127.0.0.1:{}", smtp.port)),
            ("RUNNER_WEBHOOK_ALLOW_PRIVATE".into(), "true".into()),
        ],
        ..StackOptions::default()
    };
    let Some(stack) = Stack::start(backend, options).await else { return };
    stack.release("tooling", "0.2", false).await;
    let pmc = [
        stack.person("alice", "tooling", "pmc_member").await,
        stack.person("bob", "tooling", "pmc_member").await,
        stack.person("carol", "tooling", "pmc_member").await,
    ];
    let committer = stack.person("dave", "tooling", "committer").await;
    let mut policy = stack.get("/api/v1/projects/tooling/policy").await;
    policy["mailing_list"] = json!("dev@tooling.apache.org");
    let response = stack
        .client
        .put(stack.url("/api/v1/projects/tooling/policy"))
        .bearer_auth(&pmc[0])
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let hook = send(&stack, &pmc[0], "/api/v1/projects/tooling/webhooks", json!({"url": hook_url})).await;
    let secret = hook["secret"].as_str().unwrap().to_owned();

    // A real signed release, checked by the runner.
    let key = std::fs::read(fixture("atr-playwright/68FF2E20F02B070D73D416188DE8CC167FE2663A.asc")).unwrap();
    stack.import_keys("tooling", key).await;
    let bytes: BTreeMap<&str, Vec<u8>> = FILES
        .iter()
        .map(|f| (*f, std::fs::read(fixture(&format!("atr-playwright/apache-test-0.2/{f}"))).unwrap()))
        .collect();
    for (file, content) in &bytes {
        stack.upload("tooling/0.2", file, content.clone()).await;
    }
    let report = stack.checks_done("tooling/0.2", Duration::from_secs(120)).await;
    assert!(report.results.iter().all(|r| !matches!(r.status.as_str(), "failure" | "error")), "{report:#?}");

    // The vote: announced on the list.
    let started = send(&stack, &stack.jwt, &format!("{RELEASE}/vote/start"), json!({})).await;
    let digest = started["manifest_digest"].as_str().unwrap().to_owned();
    let (envelope, headers, body) = smtp.wait_for("[VOTE]").await;
    assert_eq!(headers["subject"], "[VOTE] Release tooling 0.2");
    assert_eq!(headers["to"], "dev@tooling.apache.org");
    assert_eq!(headers["from"], "\"Trusted Releases\" <releases@releases.test>");
    assert_eq!(envelope["rcpt_tos"], json!(["dev@tooling.apache.org"]));
    assert_eq!(envelope["mail_from"], "releases@releases.test");
    let vote_message_id = headers["message-id"].clone();
    assert!(body.contains(&digest), "the announcement names the digest: {body}");
    for file in FILES {
        assert!(body.contains(&format!("/candidate/tooling/0.2/{file}")), "{file} in {body}");
    }

    // Three PMC members and a committer vote; bob changes his mind.
    for (jwt, value) in [(&pmc[0], 1), (&pmc[1], -1), (&pmc[2], 1), (&committer, 1), (&pmc[1], 1)] {
        send(&stack, jwt, &format!("{RELEASE}/votes"), json!({"value": value})).await;
    }
    let votes = stack.get(&format!("{RELEASE}/votes")).await;
    assert_eq!(votes["tally"]["binding_plus"], 3, "{votes}");
    assert_eq!(votes["tally"]["binding_minus"], 0, "bob's later ballot replaced his -1");
    assert_eq!(votes["tally"]["non_binding_plus"], 1);
    assert_eq!(votes["passes"], true);
    run_sql(stack.database_url(), "UPDATE release SET vote_closes_at = 0 WHERE version = '0.2'");
    send(&stack, &stack.jwt, &format!("{RELEASE}/resolve"), json!({"outcome": "passed"})).await;
    let (_, headers, body) = smtp.wait_for("[RESULT] [VOTE]").await;
    assert_eq!(headers["subject"], "[RESULT] [VOTE] Release tooling 0.2");
    assert_eq!(headers["in-reply-to"], vote_message_id, "the result is in the vote's thread");
    assert!(body.contains("Binding votes: 3 +1, 0 0, 0 -1."), "{body}");

    // Renamed in preview (a rename that parts a checksum from its artifact is refused at the
    // release), then released: the same bytes under /current/.
    let rename = |from: &str, to: &str| json!({"from": from, "to": to});
    send(&stack, &stack.jwt, &format!("{RELEASE}/files/move"), rename(FILES[2], "apache-test-0.2-src.tar.gz.sha512"))
        .await;
    let response = stack
        .client
        .post(stack.url(&format!("{RELEASE}/release")))
        .bearer_auth(&stack.jwt)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let refused: Value = response.json().await.unwrap();
    assert_eq!(refused["error"], "paths_failed", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("apache-test-0.2-src.tar.gz.sha512 belongs to"), "{refused}");
    for (from, to) in [(FILES[0], "apache-test-0.2-src.tar.gz"), (FILES[1], "apache-test-0.2-src.tar.gz.asc")] {
        send(&stack, &stack.jwt, &format!("{RELEASE}/files/move"), rename(from, to)).await;
    }
    let released = send(&stack, &stack.jwt, &format!("{RELEASE}/release"), json!({})).await;
    assert_eq!(released["phase"], "current", "{released}");
    assert_eq!(released["published"]["content_matches_vote"], true, "{released}");
    let names = ["apache-test-0.2-src.tar.gz", "apache-test-0.2-src.tar.gz.asc", "apache-test-0.2-src.tar.gz.sha512"];
    for (name, original) in names.iter().zip(FILES) {
        for base in ["/current/tooling/0.2", "/current/tooling/latest"] {
            let response = stack.client.get(stack.url(&format!("{base}/{name}"))).send().await.unwrap();
            assert_eq!(response.status(), 200, "{base}/{name}");
            let downloaded = response.bytes().await.unwrap();
            assert_eq!(sha512(&downloaded), sha512(&bytes[original]), "{base}/{name} is the voted bytes");
        }
    }
    let (_, headers, body) = smtp.wait_for("[ANNOUNCE]").await;
    assert_eq!(headers["subject"], "[ANNOUNCE] tooling 0.2 released");
    assert!(body.contains("/current/tooling/0.2/apache-test-0.2-src.tar.gz.sha512"), "{body}");

    // Revoked: the old URLs say where the files went.
    send(&stack, &stack.jwt, &format!("{RELEASE}/revoke"), json!({"reason": "a test revocation"})).await;
    let gone = stack.client.get(stack.url(&format!("/current/tooling/0.2/{}", names[0]))).send().await.unwrap();
    assert_eq!(gone.status(), 410);
    let moved = stack.client.get(stack.url(&format!("/revoked/tooling/0.2/{}", names[0]))).send().await.unwrap();
    assert_eq!(moved.status(), 200);

    // Every webhook delivery, signed; the one that failed first was delivered on its retry.
    let expected = [
        "checks.completed",
        "vote.started",
        "vote.cast",
        "vote.cast",
        "vote.cast",
        "vote.cast",
        "vote.cast",
        "vote.resolved",
        "release.published",
        "release.revoked",
    ];
    let delivered =
        eventually("every webhook delivery arrives", Duration::from_secs(90), Duration::from_millis(250), || async {
            let log = received.lock().unwrap().clone();
            let mut events: Vec<&str> =
                log.iter().filter(|r| r.answered == 200).map(|r| r.headers["x-trl-event"].as_str()).collect();
            events.sort_unstable();
            let mut want = expected.to_vec();
            want.sort_unstable();
            if events == want { Ok(log) } else { Err(format!("{events:?}")) }
        })
        .await;
    let mut ids = std::collections::BTreeSet::new();
    for request in &delivered {
        assert_eq!(request.headers["x-trl-signature"], hmac(&secret, &request.body), "{request:?}");
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body["release"], "tooling/0.2");
        assert_eq!(body["event"].as_str(), Some(request.headers["x-trl-event"].as_str()));
        if request.answered == 200 {
            assert!(ids.insert(request.headers["x-trl-delivery"].clone()), "delivered twice: {request:?}");
        }
    }
    let retried: Vec<&Received> = delivered.iter().filter(|r| r.headers["x-trl-event"] == "vote.started").collect();
    assert_eq!(retried.len(), 2, "one failed attempt, one delivery");
    assert_eq!(retried[0].headers["x-trl-delivery"], retried[1].headers["x-trl-delivery"], "the same delivery id");
    assert_eq!(retried[0].body, retried[1].body, "the same bytes");
    let history = stack
        .client
        .get(stack.url(&format!("/api/v1/projects/tooling/webhooks/{}/deliveries", hook["id"])))
        .bearer_auth(&pmc[2])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let started_delivery =
        history["deliveries"].as_array().unwrap().iter().find(|d| d["event"] == "vote.started").unwrap();
    assert_eq!(
        (started_delivery["status"].as_str(), started_delivery["attempts"].as_i64()),
        (Some("delivered"), Some(2))
    );

    // Three mails, each sent once.
    let mails = stack.get(&format!("{RELEASE}/mails")).await;
    let kinds: Vec<&str> = mails["mails"].as_array().unwrap().iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["vote", "result", "announce"]);
    assert_eq!(smtp.messages().len(), 3, "no mail was sent twice");
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_release_goes_from_draft_to_revoked_with_mail_and_webhooks
);
