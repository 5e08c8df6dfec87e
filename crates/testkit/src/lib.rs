//! Test helpers: the shared fixtures, and a fresh database per test on SQLite or on the real
//! PostgreSQL server.
//!
//! PostgreSQL tests never skip silently. They use `TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); if the server cannot be reached the test
//! fails, unless `TR_SKIP_POSTGRES=1` asks to skip, and then the skip is printed loudly.

#![allow(clippy::expect_used, reason = "test helpers: a failure is a test failure")]

use std::path::PathBuf;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

pub mod archives;
pub mod pgp;

/// The repository's `tests/fixtures` folder: real releases and data the tests read (see its README).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// A file or folder of `tests/fixtures`.
pub fn fixture(relative: &str) -> PathBuf {
    let root = fixtures_dir();
    let path = root.join(relative);
    assert!(path.exists(), "fixture {} is missing (looked in {})", relative, root.display());
    path
}

/// The real httpd 2.4.68 release: tarball, signature, checksum, KEYS.
pub fn httpd(file: &str) -> PathBuf {
    fixture(&format!("real/httpd-2.4.68/{file}"))
}

/// The backends every database test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 6];
    #[expect(clippy::expect_used, reason = "tests cannot go on without randomness")]
    getrandom::fill(&mut bytes).expect("random bytes");
    hex::encode(bytes)
}

/// A database of its own for one test; removed when dropped.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    /// The SQLite file's directory, or `None` for PostgreSQL.
    _dir: Option<tempfile::TempDir>,
    schema: Option<(String, String)>,
}

/// Says on the terminal, past the test harness's output capture, that a test was skipped: a skip
/// must be seen even when the test "passes". CI fails when this banner appears in its log.
pub fn announce_skip(why: &str) {
    use std::io::Write as _;
    // Writing to the stream itself, not through `eprintln!`, which the harness captures.
    let _ = writeln!(std::io::stderr().lock(), "\n*** SKIPPED: {why} ***\n");
}

impl TestDatabase {
    /// A fresh database on `backend`, or `None` when PostgreSQL was explicitly skipped.
    pub fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                #[expect(clippy::expect_used, reason = "a test without a temp dir cannot run")]
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                Some(Self { url, backend, _dir: Some(dir), schema: None })
            }
            Backend::Postgres => Self::postgres(),
        }
    }

    fn postgres() -> Option<Self> {
        if std::env::var("TR_SKIP_POSTGRES").is_ok_and(|v| v == "1") {
            announce_skip("this PostgreSQL test did not run because TR_SKIP_POSTGRES=1");
            return None;
        }
        let base = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let mut admin = PgConnection::establish(&base).unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {base}: {e}\n\
                 Start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start), point \
                 TEST_POSTGRES_URL at another server, or set TR_SKIP_POSTGRES=1 to skip these tests."
            )
        });
        let schema = format!("t_{}", random_suffix());
        admin
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .unwrap_or_else(|e| panic!("cannot create schema {schema}: {e}"));
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-csearch_path%3D{schema}");
        Some(Self { url, backend: Backend::Postgres, _dir: None, schema: Some((base, schema)) })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((base, schema)) = &self.schema
            && let Ok(mut admin) = PgConnection::establish(base)
        {
            let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

/// Polls `probe` every `every` until it returns `Ok`, and returns that value. After `timeout`
/// the test fails, saying what was awaited (`what`, such as "the upload reaches staging") and
/// what the last probe saw (its `Err`).
pub async fn eventually<T, F, Fut>(
    what: &str,
    timeout: std::time::Duration,
    every: std::time::Duration,
    mut probe: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(seen) => {
                assert!(std::time::Instant::now() < deadline, "expected {what} within {timeout:?}; last seen: {seen}")
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// Defines `mod <name> { sqlite, postgres }` tests that run the async scenario `<name>(Backend)`
/// once per backend. The tests are `#[actix_web::test]`s unless a test attribute comes first:
/// `on_both_backends!(#[tokio::test(flavor = "multi_thread")] scenario_a, scenario_b);`.
#[macro_export]
macro_rules! on_both_backends {
    (#[$test:meta] $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[$test]
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await;
                }

                #[$test]
                async fn postgres() {
                    super::$name($crate::Backend::Postgres).await;
                }
            }
        )*
    };
    ($($name:ident),* $(,)?) => {
        $crate::on_both_backends!(#[actix_web::test] $($name),*);
    };
}
