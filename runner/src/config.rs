//! Configuration: every variable the runner reads, in one place, with its default. The same
//! struct is the command line (`runner --help` lists each variable).

pub use shared_models::logging::LogFormat;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// The datastore to take work from.
    #[arg(long, env = "RUNNER_DATASTORE_URL", default_value = "http://127.0.0.1:8080")]
    pub datastore_url: String,

    /// This runner's token (`datastore runner add NAME` prints one).
    #[arg(long, env = "RUNNER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Address of the status endpoint (`/status`, `/metrics`, `/healthz`).
    #[arg(long, env = "RUNNER_BIND", default_value = "127.0.0.1:8081")]
    pub bind: String,

    /// Tasks run at once. Default: the number of cores.
    #[arg(long, env = "RUNNER_CAPACITY")]
    pub capacity: Option<u32>,

    /// Where downloaded artifacts are kept while a task runs. Default: a new temporary directory.
    #[arg(long, env = "RUNNER_WORK_DIR")]
    pub work_dir: Option<PathBuf>,

    /// The name shown in the datastore and on the status page. Default: the host name.
    #[arg(long, env = "RUNNER_NAME")]
    pub name: Option<String>,

    /// No new work while the one-minute load average is above this. Default: 1.5 × cores.
    #[arg(long, env = "RUNNER_MAX_LOAD")]
    pub max_load: Option<f64>,

    /// On SIGTERM, how long running tasks may take to finish before they are abandoned.
    #[arg(long, env = "RUNNER_GRACE_SECS", default_value_t = 30)]
    pub grace_secs: u64,

    /// Largest total of uncompressed bytes read from one archive.
    #[arg(long, env = "RUNNER_MAX_ARCHIVE_BYTES", default_value_t = 8 << 30)]
    pub max_archive_bytes: u64,

    /// Most members read from one archive.
    #[arg(long, env = "RUNNER_MAX_ARCHIVE_MEMBERS", default_value_t = 200_000)]
    pub max_archive_members: u64,

    /// Highest compression ratio of one archive member (past 16 MiB), as bombs have.
    #[arg(long, env = "RUNNER_MAX_COMPRESSION_RATIO", default_value_t = 1_000)]
    pub max_compression_ratio: u64,

    /// The SMTP server mail tasks are sent through: `smtp://host:port` (plain; add
    /// `?tls=required` for STARTTLS), `smtps://host:port` (TLS), credentials as
    /// `smtp://user:password@host`. Only runners with it claim mail tasks.
    #[arg(long, env = "RUNNER_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// A file holding the SMTP password (instead of putting it in RUNNER_SMTP_URL).
    #[arg(long, env = "RUNNER_SMTP_PASSWORD_FILE")]
    pub smtp_password_file: Option<PathBuf>,

    /// Whether this runner delivers webhooks.
    #[arg(long, env = "RUNNER_WEBHOOKS", default_value_t = true, action = clap::ArgAction::Set)]
    pub webhooks: bool,

    /// Let webhooks, vote-thread fetches and distribution checks reach loopback, private and
    /// link-local addresses (the runner's own network). Off by default: those URLs are chosen
    /// by projects, not by the operator.
    #[arg(long, env = "RUNNER_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,

    /// The root URL of the dist repository that svn tasks commit to and import from (Apache's
    /// is `https://dist.apache.org/repos/dist`), e.g. `svn://127.0.0.1/dist` or
    /// `file:///srv/svn/dist`. Only runners with it claim svn tasks; the `svn` and `svnmucc`
    /// clients must be installed (Debian's `subversion`).
    #[arg(long, env = "RUNNER_SVN_URL")]
    pub svn_url: Option<String>,

    /// The user svn tasks commit as.
    #[arg(long, env = "RUNNER_SVN_USERNAME")]
    pub svn_username: Option<String>,

    /// A file holding that user's password.
    #[arg(long, env = "RUNNER_SVN_PASSWORD_FILE")]
    pub svn_password_file: Option<PathBuf>,

    /// Log format: `text` or `json`. Levels come from `RUST_LOG` (default `info`).
    #[arg(long, env = "RUNNER_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}

impl Config {
    pub fn capacity(&self) -> u32 {
        self.capacity
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| u32::try_from(n.get()).unwrap_or(2)))
            .max(1)
    }

    pub fn max_load(&self) -> f64 {
        self.max_load.unwrap_or_else(|| 1.5 * std::thread::available_parallelism().map_or(2.0, |n| n.get() as f64))
    }

    pub fn name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "runner".to_owned())
        })
    }

    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.grace_secs)
    }

    pub fn datastore_url(&self) -> &str {
        self.datastore_url.trim_end_matches('/')
    }

    pub fn limits(&self) -> checks::Limits {
        checks::Limits {
            max_total_bytes: self.max_archive_bytes,
            max_members: self.max_archive_members,
            max_ratio: self.max_compression_ratio,
            ..checks::Limits::default()
        }
    }
}
