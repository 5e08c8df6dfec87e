//! A real S3-compatible server for the tests: Garage (`cargo install garage --locked`, which
//! `.ci/run` does once per machine), one node on loopback with a bucket and a key that may
//! read and write it. Garage is AGPL: it runs as a separate program, never linked.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{Process, free_port};

/// The access key the tests import (Garage's format: `GK` and 24 hex digits).
pub const KEY_ID: &str = "GK0123456789abcdef01234567";
pub const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
pub const REGION: &str = "garage";

/// A running single-node Garage with one bucket.
#[derive(Debug)]
pub struct Garage {
    process: Option<Process>,
    /// Whether the bucket and key are made (a restart then waits for the bucket).
    made: bool,
    config: PathBuf,
    pub endpoint: String,
    pub bucket: String,
    _dir: tempfile::TempDir,
}

/// The Garage release the tests run (and install when it is missing).
pub const VERSION: &str = "2.5.0";

/// The `garage` program: `GARAGE_BIN`, or on the `PATH` or in `~/.cargo/bin`. When there is
/// none, it is built with `cargo install` (once: about 8 minutes and 1.4 GB of memory), as
/// `.ci/run` does; `TR_SKIP_S3=1` skips the S3 tests instead, announced loudly.
fn program() -> Option<PathBuf> {
    static FOUND: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    if std::env::var("TR_SKIP_S3").is_ok_and(|v| v == "1") {
        testkit::announce_skip("this S3 test did not run because TR_SKIP_S3=1");
        return None;
    }
    Some(FOUND.get_or_init(find_or_install).clone())
}

fn find_or_install() -> PathBuf {
    if let Ok(bin) = std::env::var("GARAGE_BIN") {
        return bin.into();
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let find = || {
        let candidates = std::env::var("PATH").unwrap_or_default();
        std::env::split_paths(&candidates)
            .chain([Path::new(&home).join(".cargo/bin")])
            .map(|dir| dir.join("garage"))
            .find(|path| path.is_file())
    };
    if let Some(found) = find() {
        return found;
    }
    eprintln!("Garage is not installed: cargo install garage --locked --version {VERSION} (once, ~8 minutes)");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["install", "garage", "--locked", "--version", VERSION])
        .current_dir(std::env::temp_dir())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo install garage failed (or set TR_SKIP_S3=1 to skip the S3 tests)");
    find().expect("cargo install put garage in ~/.cargo/bin")
}

impl Garage {
    /// Starts Garage on free loopback ports, lays out its one node, and makes `bucket` with
    /// [`KEY_ID`] allowed to read and write it; `None` only when the tests are told to skip.
    pub fn start(bucket: &str) -> Option<Self> {
        program()?;
        let dir = tempfile::tempdir().unwrap();
        let (rpc, s3, admin) = (free_port(), free_port(), free_port());
        let config = dir.path().join("garage.toml");
        let secret: String = rand_bytes().iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(
            &config,
            format!(
                "metadata_dir = \"{meta}\"\ndata_dir = \"{data}\"\ndb_engine = \"sqlite\"\nreplication_factor = 1\n\
                 rpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{secret}\"\n\
                 [s3_api]\ns3_region = \"{REGION}\"\napi_bind_addr = \"127.0.0.1:{s3}\"\nroot_domain = \".s3.garage.localhost\"\n\
                 [admin]\napi_bind_addr = \"127.0.0.1:{admin}\"\n",
                meta = dir.path().join("meta").display(),
                data = dir.path().join("data").display(),
            ),
        )
        .unwrap();
        let mut garage = Self {
            process: None,
            made: false,
            config,
            endpoint: format!("http://127.0.0.1:{s3}"),
            bucket: bucket.to_owned(),
            _dir: dir,
        };
        garage.resume();
        garage.until_answered(&["status"]);
        let node = garage.run(&["node", "id", "-q"]);
        let node = node.split('@').next().unwrap().trim().to_owned();
        garage.run(&["layout", "assign", "-z", "dc1", "-c", "10G", &node]);
        garage.run(&["layout", "apply", "--version", "1"]);
        garage.until_answered(&["bucket", "create", bucket]);
        garage.run(&["key", "import", "--yes", "-n", "tests", KEY_ID, SECRET]);
        garage.run(&["bucket", "allow", "--read", "--write", "--owner", bucket, "--key", KEY_ID]);
        garage.made = true;
        Some(garage)
    }

    /// Stops the server (SIGKILL): the bucket stops answering.
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts the server (again) on its data, and waits until it serves the bucket.
    pub fn resume(&mut self) {
        let bin = program().expect("garage was found when it started");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log()).unwrap();
        let child = Command::new(&bin)
            .arg("-c")
            .arg(&self.config)
            .arg("server")
            .env("RUST_LOG", "garage=warn")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        self.process = Some(Process { child, name: "garage".into() });
        if self.made {
            self.until_answered(&["bucket", "info", &self.bucket]);
        }
    }

    fn log(&self) -> PathBuf {
        self._dir.path().join("garage.log")
    }

    /// The datastore's configuration for this bucket, under `prefix`.
    pub fn datastore_env(&self, prefix: &str) -> Vec<(String, String)> {
        vec![
            ("DATASTORE_BLOB_URL".into(), format!("s3://{}/{prefix}", self.bucket)),
            ("AWS_ACCESS_KEY_ID".into(), KEY_ID.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), SECRET.into()),
            ("AWS_REGION".into(), REGION.into()),
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("AWS_ALLOW_HTTP".into(), "true".into()),
        ]
    }

    fn command(&self, args: &[&str]) -> std::process::Output {
        let bin = program().expect("garage was found when it started");
        Command::new(bin).arg("-c").arg(&self.config).args(args).output().unwrap()
    }

    /// Runs `garage ARGS`, which must succeed; what it printed.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.command(args);
        assert!(
            out.status.success(),
            "garage {args:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `garage ARGS` until it succeeds (the server starting, the layout spreading), for
    /// at most 30 s.
    fn until_answered(&self, args: &[&str]) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.command(args);
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "garage {args:?} kept failing: {}; the server's log: {}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(self.log()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    openssl::rand::rand_bytes(&mut bytes).unwrap();
    bytes
}
