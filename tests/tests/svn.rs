//! Apache's dist tree over SVN through the whole stack: a real repository (`svnadmin create`)
//! served by a real `svnserve` on loopback, with password authentication. A release manager
//! stages a candidate under `dev/` with svnmucc, as they would with `svn import`, and the
//! platform imports it as a revision of the draft; the real signed release is checked, voted
//! on and released, and the runner commits exactly its files and the committee's KEYS to
//! `release/`, in one commit whose message names the release and its vote; archiving moves the
//! folder, history kept.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use e2e::{Process, Stack, StackOptions, free_port};
use serde_json::{Value, json};
use testkit::{Backend, eventually, fixture};

const RELEASE: &str = "/api/v1/releases/tooling/0.2";
const FILES: [&str; 3] = ["apache-test-0.2.tar.gz", "apache-test-0.2.tar.gz.asc", "apache-test-0.2.tar.gz.sha512"];

/// A repository served by svnserve on a loopback port; `rm` may write, anonymous users read.
struct Svnserve {
    _process: Process,
    url: String,
    dir: tempfile::TempDir,
}

fn need(program: &str) {
    let found = Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found, "{program} is not installed: apt-get install subversion (svnadmin, svnserve, svn, svnmucc)");
}

impl Svnserve {
    fn start() -> Self {
        for program in ["svnadmin", "svnserve", "svn", "svnmucc"] {
            need(program);
        }
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("dist");
        assert!(Command::new("svnadmin").arg("create").arg(&repo).status().unwrap().success());
        std::fs::write(
            repo.join("conf/svnserve.conf"),
            "[general]\nanon-access = read\nauth-access = write\npassword-db = passwd\nrealm = dist\n",
        )
        .unwrap();
        std::fs::write(repo.join("conf/passwd"), "[users]\nrm = s3cret pass\n").unwrap();
        let port = free_port();
        let child = Command::new("svnserve")
            .args(["--foreground", "--daemon", "--listen-host", "127.0.0.1", "--listen-port"])
            .arg(port.to_string())
            .arg("--root")
            .arg(dir.path())
            .spawn()
            .expect("svnserve runs");
        let url = format!("svn://127.0.0.1:{port}/dist");
        let server = Self { _process: Process { child, name: "svnserve".into() }, url, dir };
        for _ in 0..100 {
            if Command::new("svn").args(["info", "--non-interactive", &server.url]).output().unwrap().status.success() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("svnserve did not answer at {}", server.url);
    }

    fn password_file(&self) -> PathBuf {
        let path = self.dir.path().join("rm.password");
        std::fs::write(&path, "s3cret pass\n").unwrap();
        path
    }

    fn svn(&self, args: &[&str]) -> String {
        let output = Command::new("svn").arg("--non-interactive").args(args).output().unwrap();
        assert!(output.status.success(), "svn {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.url)
    }

    /// What a release manager does by hand: one commit of `actions` as `rm`.
    fn commit(&self, message: &str, actions: &[String]) {
        let status = Command::new("svnmucc")
            .args(["--non-interactive", "--no-auth-cache", "--username", "rm", "--password", "s3cret pass", "-m"])
            .arg(message)
            .arg("-U")
            .arg(&self.url)
            .args(actions)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "svnmucc {actions:?}");
    }
}

fn local(name: &str) -> PathBuf {
    fixture(&format!("atr-playwright/apache-test-0.2/{name}"))
}

async fn events_of(stack: &Stack, release: &str) -> Vec<Value> {
    let events = stack.get(&format!("{release}/events?limit=1000")).await;
    events["events"].as_array().unwrap().clone()
}

/// The first event of the outcomes of `task` (`svn.published` or `svn.publish_failed` for
/// `publish`, say), once there is one.
async fn wait_for_event(stack: &Stack, release: &str, task: &str) -> Value {
    let (done, failed) = match task {
        "import" => ("svn.imported", "svn.import_failed"),
        "publish" => ("svn.published", "svn.publish_failed"),
        _ => ("svn.archived", "svn.archive_failed"),
    };
    eventually(&format!("{done} or {failed}"), Duration::from_secs(90), Duration::from_millis(200), || async {
        let events = events_of(stack, release).await;
        let found = events.iter().find(|e| e["action"] == done || e["action"] == failed).cloned();
        found.ok_or_else(|| format!("{:?}", events.iter().map(|e| e["action"].clone()).collect::<Vec<_>>()))
    })
    .await
}

async fn post(stack: &Stack, jwt: &str, path: &str, body: Value) -> Value {
    let response = stack.client.post(stack.url(path)).bearer_auth(jwt).json(&body).send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST {path}: {status} {body}");
    body
}

async fn a_release_is_imported_from_dev_and_published_to_release_over_svn(backend: Backend) {
    let svn = Svnserve::start();
    let options = StackOptions {
        datastore_env: vec![("DATASTORE_SVN_DIST".into(), "true".into())],
        runner_env: vec![
            ("RUNNER_SVN_URL".into(), svn.url.clone()),
            ("RUNNER_SVN_USERNAME".into(), "rm".into()),
            ("RUNNER_SVN_PASSWORD_FILE".into(), svn.password_file().display().to_string()),
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
    let key = std::fs::read(fixture("atr-playwright/68FF2E20F02B070D73D416188DE8CC167FE2663A.asc")).unwrap();
    stack.import_keys("tooling", key.clone()).await;

    // The candidate, staged under dev/ as release managers do, imported as revision 1.
    let mut actions: Vec<String> =
        ["mkdir", "dev", "mkdir", "dev/tooling", "mkdir", "dev/tooling/0.2-rc1"].map(str::to_owned).to_vec();
    for file in FILES {
        actions.extend(["put".to_owned(), local(file).display().to_string(), format!("dev/tooling/0.2-rc1/{file}")]);
    }
    svn.commit("Stage tooling 0.2 RC1", &actions);
    let queued =
        post(&stack, &stack.jwt, &format!("{RELEASE}/import/svn"), json!({"folder": "dev/tooling/0.2-rc1"})).await;
    assert!(queued["task"].as_i64().is_some(), "{queued}");
    let imported = wait_for_event(&stack, RELEASE, "import").await;
    assert_eq!(imported["action"], "svn.imported", "{imported}");
    assert_eq!(imported["details"]["svn_revision"], 1);
    let listing = stack.get(&format!("{RELEASE}/files")).await;
    let names: Vec<&str> = listing["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(names, FILES, "{listing}");
    for entry in listing["files"].as_array().unwrap() {
        let bytes = std::fs::read(local(entry["path"].as_str().unwrap())).unwrap();
        assert_eq!(entry["size"].as_u64(), Some(bytes.len() as u64), "the committed bytes: {entry}");
    }
    let report = stack.checks_done("tooling/0.2", Duration::from_secs(120)).await;
    assert!(report.results.iter().all(|r| !matches!(r.status.as_str(), "failure" | "error")), "{report:#?}");

    // The vote, and the release.
    post(&stack, &stack.jwt, &format!("{RELEASE}/vote/start"), json!({})).await;
    for jwt in &pmc {
        post(&stack, jwt, &format!("{RELEASE}/votes"), json!({"value": 1})).await;
    }
    e2e::run_sql(stack.database_url(), "UPDATE release SET vote_closes_at = 0 WHERE version = '0.2'");
    post(&stack, &stack.jwt, &format!("{RELEASE}/resolve"), json!({"outcome": "passed"})).await;
    post(&stack, &stack.jwt, &format!("{RELEASE}/release"), json!({})).await;
    let published = wait_for_event(&stack, RELEASE, "publish").await;
    assert_eq!(published["action"], "svn.published", "{published}");
    assert_eq!(published["details"]["svn_revision"], 2, "{published}");

    // The repository holds exactly the voted bytes and the KEYS, committed as rm in one revision.
    let listed = svn.svn(&["list", &svn.url("release/tooling/0.2")]);
    assert_eq!(listed.lines().collect::<Vec<_>>(), FILES);
    for file in FILES {
        let output =
            Command::new("svn").args(["cat", &svn.url(&format!("release/tooling/0.2/{file}"))]).output().unwrap();
        assert_eq!(output.stdout, std::fs::read(local(file)).unwrap(), "{file}");
    }
    let keys = svn.svn(&["cat", &svn.url("release/tooling/KEYS")]);
    assert!(
        keys.contains("68FF2E20F02B070D73D416188DE8CC167FE2663A") || keys.contains("BEGIN PGP PUBLIC KEY BLOCK"),
        "{keys}"
    );
    let log = svn.svn(&["log", "-v", "-r", "2", &svn.url]);
    assert!(log.contains("| rm |"), "committed as the configured user: {log}");
    assert!(log.contains("Release tooling 0.2 (tooling/0.2)"), "{log}");
    assert!(log.contains("Vote: round 1, on revision 1, passed: binding +1: 3"), "{log}");
    assert!(log.contains("A /release/tooling/0.2/apache-test-0.2.tar.gz.asc"), "{log}");
    assert!(log.contains("A /release/tooling/KEYS"), "{log}");

    // Archived: the folder moves, its history with it.
    post(&stack, &stack.jwt, &format!("{RELEASE}/archive"), json!({})).await;
    let archived = wait_for_event(&stack, RELEASE, "archive").await;
    assert_eq!(archived["action"], "svn.archived", "{archived}");
    let log = svn.svn(&["log", "-v", "-r", "3", &svn.url]);
    assert!(log.contains("A /archive/tooling/0.2 (from /release/tooling/0.2:2)"), "{log}");
    assert!(log.contains("D /release/tooling/0.2"), "{log}");
    let head = svn.svn(&["info", "--show-item", "revision", &svn.url]);
    assert_eq!(head.trim(), "3", "one commit per step, none twice");
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_release_is_imported_from_dev_and_published_to_release_over_svn
);
