//! The stack under test: the real `datastore` and `runner` binaries as child processes on
//! loopback ports, on a fresh SQLite database or PostgreSQL schema, with the API client calls
//! the scenarios need.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use shared_models::api::{
    CreateCommitteeRequest, CreateProjectRequest, CreateReleaseRequest, CreateUserRequest, FileUploaded,
    KeyImportReport, Role, SetMembershipRequest,
};
use shared_models::checks::ChecksReport;
use shared_models::{Name, Uid, Version};
use testkit::{Backend, TestDatabase, eventually};

pub mod garage;
pub mod oidc;
pub mod webdriver;

/// The binaries under test, built once per test run (a no-op when `cargo test` built them).
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut build = Command::new(cargo);
        // Without what cargo set for this test (the package's name and folder, ...): build
        // scripts that watch those variables (ring's, cc's) would otherwise run again here, and
        // again in the next ordinary build, each time.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            let set_for_tests = ["CARGO_PKG_", "CARGO_BIN_", "CARGO_MANIFEST_", "CARGO_CRATE_", "CARGO_PRIMARY_"]
                .iter()
                .any(|prefix| name.starts_with(prefix))
                || ["CARGO_TARGET_TMPDIR", "CARGO_RUSTC_CURRENT_DIR", "OUT_DIR"].contains(&name.as_ref());
            if set_for_tests {
                build.env_remove(name.as_ref());
            }
        }
        let status = build
            .args(["build", "--quiet", "--bins", "-p", "datastore", "-p", "runner", "-p", "trel"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the datastore and runner binaries failed");
        // target/debug/deps/e2e-… → target/debug
        let exe = std::env::current_exe().expect("test binary path");
        exe.parent().and_then(Path::parent).expect("target directory").to_owned()
    });
    dir.join(name)
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A process that is killed when dropped.
#[derive(Debug)]
pub struct Process {
    pub child: Child,
    pub name: String,
}

impl Process {
    /// SIGKILL: the process gets no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (as `kill` spells it: `-STOP`, `-CONT`, `-TERM`) without waiting.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill {signal} {} failed", self.name);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How a stack's datastore is run: its commands all share the database, files and port.
#[derive(Debug)]
struct DatastoreLaunch {
    database_url: String,
    state: PathBuf,
    port: u16,
    lease_secs: u64,
    env: Vec<(String, String)>,
}

impl DatastoreLaunch {
    fn command(&self) -> Command {
        let mut cmd = Command::new(binary("datastore"));
        cmd.env("DATABASE_URL", &self.database_url)
            .env("DATASTORE_STATE_DIR", &self.state)
            .env("DATASTORE_BIND", format!("127.0.0.1:{}", self.port))
            .env("DATASTORE_LEASE_SECS", self.lease_secs.to_string())
            .env("RUST_LOG", std::env::var("E2E_LOG").unwrap_or_else(|_| "warn".to_owned()))
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs an operations command (`user add`, `token create`) and returns what it printed.
    fn cli(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "datastore {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Runs an operations command with `input` on its standard input.
    fn cli_with_input(&self, args: &[&str], input: &str) {
        use std::io::Write;
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "datastore {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn serve(&self) -> Process {
        let child = self.command().arg("serve").stdout(Stdio::null()).spawn().unwrap();
        Process { child, name: "datastore".into() }
    }
}

/// How a stack's runner is run, so that it can be started again after a crash.
#[derive(Debug, Clone)]
struct RunnerLaunch {
    name: String,
    token: String,
    port: u16,
    capacity: u32,
    work: PathBuf,
    env: Vec<(String, String)>,
}

impl RunnerLaunch {
    fn spawn(&self, datastore: &str) -> Process {
        let child = Command::new(binary("runner"))
            .env("RUNNER_DATASTORE_URL", datastore)
            .env("RUNNER_TOKEN", &self.token)
            .env("RUNNER_BIND", format!("127.0.0.1:{}", self.port))
            .env("RUNNER_CAPACITY", self.capacity.to_string())
            .env("RUNNER_WORK_DIR", &self.work)
            .env("RUNNER_NAME", &self.name)
            .env("RUNNER_MAX_LOAD", "1000")
            .env("RUST_LOG", std::env::var("E2E_LOG").unwrap_or_else(|_| "warn".to_owned()))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Process { child, name: self.name.clone() }
    }
}

/// Options of a stack.
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub runners: usize,
    pub runner_capacity: u32,
    pub lease_secs: u64,
    /// More configuration of the datastore and of the runners (`DATASTORE_MAIL_FROM`, ...).
    pub datastore_env: Vec<(String, String)>,
    pub runner_env: Vec<(String, String)>,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self { runners: 1, runner_capacity: 2, lease_secs: 20, datastore_env: Vec::new(), runner_env: Vec::new() }
    }
}

/// A running datastore with its runners.
#[derive(Debug)]
pub struct Stack {
    // Dropped in this order: processes first, then their files and database, then the lock.
    pub runners: Vec<Process>,
    pub datastore: Process,
    pub base: String,
    pub client: reqwest::Client,
    pub jwt: String,
    pub runner_status: Vec<String>,
    pub state: tempfile::TempDir,
    runner_launches: Vec<RunnerLaunch>,
    runner_env: Vec<(String, String)>,
    launch: DatastoreLaunch,
    db: TestDatabase,
    _serial: tokio::sync::MutexGuard<'static, ()>,
}

/// Stacks of one test binary run one at a time: each is several processes on two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Stack {
    /// A stack on `backend`, or `None` when PostgreSQL tests were explicitly skipped.
    pub async fn start(backend: Backend, options: StackOptions) -> Option<Stack> {
        let serial = SERIAL.lock().await;
        let db = TestDatabase::new(backend)?;
        let state = tempfile::tempdir().unwrap();
        let port = free_port();
        let launch = DatastoreLaunch {
            database_url: db.url.clone(),
            state: state.path().to_owned(),
            port,
            lease_secs: options.lease_secs,
            env: options.datastore_env.clone(),
        };
        launch.cli(&["user", "add", "root", "--admin"]);
        let token = launch.cli(&["token", "create", "root"]);
        let datastore = launch.serve();
        let base = format!("http://127.0.0.1:{port}");
        // No idle connections kept: the tests stop and kill the processes they talk to, and a
        // pooled connection the peer closed meanwhile (its keep-alive ran out while it was
        // SIGSTOPped) fails the next request with a transport error that tests nothing.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        wait_until_up(&client, &format!("{base}/healthz")).await;
        let jwt = trel_client::Client::new(&base, None).unwrap().jwt_for("root", &token).await.unwrap();
        let mut stack = Stack {
            base,
            client,
            jwt,
            state,
            datastore,
            launch,
            runners: Vec::new(),
            runner_status: Vec::new(),
            runner_launches: Vec::new(),
            runner_env: options.runner_env.clone(),
            db,
            _serial: serial,
        };
        for i in 0..options.runners {
            stack.add_runner(&format!("runner-{i}"), options.runner_capacity).await;
        }
        Some(stack)
    }

    /// Kills the datastore with SIGKILL, as a crash would, and starts it again on the same
    /// database, files and port. The JWT stays valid (its key is in the database).
    pub async fn crash_and_restart_datastore(&mut self) {
        self.datastore.kill();
        self.datastore = self.launch.serve();
        wait_until_up(&self.client, &format!("{}/healthz", self.base)).await;
    }

    /// A new personal access token of `uid`.
    pub fn token(&self, uid: &str) -> String {
        self.launch.cli(&["token", "create", uid])
    }

    /// Runs a `datastore` operations command on this stack's database and files, beside the
    /// running server, as an operator would; its output, or its exit code and standard error.
    pub fn operate(&self, args: &[&str]) -> Result<String, (Option<i32>, String)> {
        let out = self.launch.command().args(args).output().unwrap();
        if out.status.success() {
            Ok(String::from_utf8(out.stdout).unwrap().trim().to_owned())
        } else {
            Err((out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned()))
        }
    }

    /// Registers and starts one more runner; returns its index.
    pub async fn add_runner(&mut self, name: &str, capacity: u32) -> usize {
        let (_, created) = self.post("/api/v1/admin/runners", json!({"name": name})).await;
        let launch = RunnerLaunch {
            name: name.to_owned(),
            token: created["token"].as_str().unwrap().to_owned(),
            port: free_port(),
            capacity,
            work: self.state.path().join(format!("work-{name}")),
            env: self.runner_env.clone(),
        };
        let process = launch.spawn(&self.base);
        let status = format!("http://127.0.0.1:{}", launch.port);
        wait_until_up(&self.client, &format!("{status}/healthz")).await;
        self.runners.push(process);
        self.runner_status.push(status);
        self.runner_launches.push(launch);
        self.runners.len() - 1
    }

    /// Kills runner `index` with SIGKILL (its tasks in flight are lost until their leases run
    /// out) and starts it again, the same runner with the same token.
    pub async fn crash_and_restart_runner(&mut self, index: usize) {
        self.runners[index].kill();
        self.runners[index] = self.runner_launches[index].spawn(&self.base);
        wait_until_up(&self.client, &format!("{}/healthz", self.runner_status[index])).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self.client.post(self.url(path)).bearer_auth(&self.jwt).json(&body).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> Value {
        self.client.get(self.url(path)).bearer_auth(&self.jwt).send().await.unwrap().json().await.unwrap()
    }

    /// The typed API client (`trel-client`), as the administrator.
    pub fn api(&self) -> trel_client::Client {
        self.api_as(&self.jwt)
    }

    /// The typed API client, sending `jwt`.
    pub fn api_as(&self, jwt: &str) -> trel_client::Client {
        trel_client::Client::with_jwt(&self.base, jwt).unwrap()
    }

    /// A committee and a project of the same name (unless they exist), and a draft release of it.
    pub async fn release(&self, project: &str, version: &str, podling: bool) {
        let api = self.api();
        let name = Name::parse(project).unwrap();
        let committee = CreateCommitteeRequest { name: name.clone(), display_name: project.to_owned(), podling };
        match api.create_committee(&committee).await {
            Ok(_) => {
                let request = CreateProjectRequest {
                    name: name.clone(),
                    committee: name.clone(),
                    display_name: project.to_owned(),
                };
                api.create_project(&request).await.unwrap();
            }
            Err(e) if trel_client::Failure::status_of(&e) == Some(reqwest::StatusCode::CONFLICT) => {}
            Err(e) => panic!("cannot create the committee {project}: {e:#}"),
        }
        let request = CreateReleaseRequest { project: name, product: None, version: Version::parse(version).unwrap() };
        api.create_release(&request).await.unwrap();
    }

    /// A person with `role` in `committee` (and a display name), and a JWT for them.
    pub async fn person(&self, uid: &str, committee: &str, role: &str) -> String {
        self.person_with_email(uid, None, committee, role).await
    }

    /// Like [`Stack::person`], with a registered email address (a key naming it is theirs).
    pub async fn person_with_email(&self, uid: &str, email: Option<&str>, committee: &str, role: &str) -> String {
        let api = self.api();
        let user = CreateUserRequest {
            uid: Uid::parse(uid).unwrap(),
            name: Some(format!("Person {uid}")),
            email: email.map(str::to_owned),
            admin: false,
        };
        api.create_user(&user).await.unwrap();
        let membership = SetMembershipRequest {
            uid: user.uid,
            committee: Name::parse(committee).unwrap(),
            role: Role::parse(role).unwrap(),
        };
        api.set_membership(&membership).await.unwrap();
        let token = self.launch.cli(&["token", "create", uid]);
        api.jwt_for(uid, &token).await.unwrap()
    }

    /// Sets a person's web password with `datastore user passwd`, as an operator does.
    pub fn password(&self, uid: &str, password: &str) {
        self.launch.cli_with_input(&["user", "passwd", uid], &format!("{password}\n"));
    }

    /// Imports a KEYS file into a committee.
    pub async fn import_keys(&self, committee: &str, keys: Vec<u8>) -> KeyImportReport {
        self.api().import_keys(committee, keys.into()).await.unwrap()
    }

    /// Uploads a file to `project/version`.
    pub async fn upload(&self, release: &str, path: &str, bytes: Vec<u8>) -> FileUploaded {
        self.api().put_file(release, path, bytes.into()).await.unwrap_or_else(|e| panic!("upload of {path}: {e:#}"))
    }

    /// Waits until every check of the release's latest revision has reported.
    pub async fn checks_done(&self, release: &str, timeout: Duration) -> ChecksReport {
        let api = self.api();
        eventually(&format!("the checks of {release} finish"), timeout, Duration::from_millis(100), || async {
            let report = api.checks(release).await.map_err(|e| format!("{e:#}"))?;
            if report.complete { Ok(report) } else { Err(format!("{report:#?}")) }
        })
        .await
    }

    /// Runs SQL against the stack's database through a connection of the test's own.
    pub fn database_url(&self) -> &str {
        &self.db.url
    }
}

/// Every file under `dir` (recursively), with its size.
pub fn files_in(dir: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                out.push((entry.file_name().to_string_lossy().into_owned(), entry.metadata().unwrap().len()));
            }
        }
    }
    out
}

/// The DOM of `url` after a real headless Chromium loaded it, or `None` when browser tests were
/// explicitly skipped (`TR_SKIP_BROWSER=1`, announced loudly). A missing browser is a failure.
pub fn browser_dom(url: &str) -> Option<String> {
    if std::env::var("TR_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        testkit::announce_skip("this browser test did not run because TR_SKIP_BROWSER=1");
        return None;
    }
    let chromium =
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| Path::new(p).exists()).unwrap_or_else(
            || panic!("Chromium is not installed: apt-get install chromium (or set TR_SKIP_BROWSER=1 to skip)"),
        );
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", url])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium failed on {url}");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Sets a release's phase in the database (the lifecycle API is later work).
pub fn set_phase(database_url: &str, project: &str, version: &str, phase: &str, reason: Option<&str>) {
    let quote = |s: &str| s.replace('\'', "''");
    let sql = format!(
        "UPDATE release SET phase = '{}', revoked_reason = {} WHERE version = '{}' AND product_id IN \
         (SELECT p.id FROM product p JOIN project j ON p.project_id = j.id WHERE j.name = '{}')",
        quote(phase),
        reason.map_or("NULL".to_owned(), |r| format!("'{}'", quote(r))),
        quote(version),
        quote(project)
    );
    run_sql(database_url, &sql);
}

/// Runs `sql` on the stack's database through a connection of the test's own (for what no
/// API does, such as letting a vote's 72 hours pass).
pub fn run_sql(database_url: &str, sql: &str) {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, PgConnection, SqliteConnection};
    match database_url.strip_prefix("sqlite://") {
        Some(path) => SqliteConnection::establish(path).unwrap().batch_execute(sql).unwrap(),
        None => PgConnection::establish(database_url).unwrap().batch_execute(sql).unwrap(),
    }
}

/// Waits until `url` answers (any status), for at most 30 s.
pub async fn wait_until_up(client: &reqwest::Client, url: &str) {
    eventually(&format!("{url} comes up"), Duration::from_secs(30), Duration::from_millis(50), || async {
        client.get(url).send().await.map(drop).map_err(|e| e.to_string())
    })
    .await
}

/// The results of a report with the given status, as "checker path [member]: message" lines.
pub fn lines_with(report: &ChecksReport, statuses: &[&str]) -> Vec<String> {
    report
        .results
        .iter()
        .filter(|r| statuses.contains(&r.status.as_str()))
        .map(|r| format!("{} {} {}: {}", r.checker, r.path, r.member.clone().unwrap_or_default(), r.message))
        .collect()
}

/// A 1 GiB file that is not all zeros, a MiB at a time: each MiB differs (its index in its first bytes).
pub const MIB: usize = 1 << 20;
pub const BIG: usize = 1024 * MIB;

#[derive(Clone)]
pub struct Big {
    block: Arc<[u8]>,
    pub sha512: String,
}

impl std::fmt::Debug for Big {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Big").field("size", &BIG).field("sha512", &self.sha512).finish()
    }
}

impl Big {
    /// The file, and its SHA-512 (hashing it takes a few seconds).
    pub fn generate() -> Self {
        let block: Arc<[u8]> = (0..MIB).map(|i| ((i as u64).wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let mut big = Self { block, sha512: String::new() };
        let mut hasher = openssl::sha::Sha512::new();
        for index in 0..BIG / MIB {
            hasher.update(&big.mib(index));
        }
        big.sha512 = hex::encode(hasher.finish());
        big
    }

    pub fn mib(&self, index: usize) -> Vec<u8> {
        let mut piece = self.block.to_vec();
        piece[..8].copy_from_slice(&(index as u64).to_le_bytes());
        piece
    }

    /// The whole file as a request body, made a MiB at a time as it is sent.
    pub fn body(&self) -> reqwest::Body {
        let big = self.clone(); // the stream outlives this borrow
        let pieces =
            futures_util::stream::iter((0..BIG / MIB).map(move |index| Ok::<_, std::io::Error>(big.mib(index))));
        reqwest::Body::wrap_stream(pieces)
    }

    /// PUTs the whole file to `url` as `jwt`'s; what the datastore says it stored (checked to be
    /// these bytes), and how long it took.
    pub async fn put(&self, client: &reqwest::Client, url: &str, jwt: &str) -> (serde_json::Value, Duration) {
        let started = std::time::Instant::now();
        let uploaded = client
            .put(url)
            .bearer_auth(jwt)
            .header("Content-Length", BIG.to_string())
            .body(self.body())
            .send()
            .await
            .unwrap();
        let took = started.elapsed();
        assert_eq!(uploaded.status(), 201, "{}", uploaded.text().await.unwrap());
        let uploaded: serde_json::Value = uploaded.json().await.unwrap();
        assert_eq!(uploaded["size"], BIG as u64, "{uploaded}");
        assert_eq!(uploaded["sha512"], self.sha512.as_str(), "the bytes stored are the bytes sent");
        (uploaded, took)
    }

    /// `len` bytes of the file from `from`.
    pub fn bytes(&self, from: usize, len: usize) -> Vec<u8> {
        let byte = |at: usize| match at % MIB {
            within @ 0..8 => ((at / MIB) as u64).to_le_bytes()[within],
            within => self.block[within],
        };
        (from..from + len).map(byte).collect()
    }
}
