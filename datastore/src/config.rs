//! Configuration: every variable the datastore reads, in one place, with its default.
//! The same struct is the command line (`datastore --help` lists each variable).

pub use shared_models::logging::LogFormat;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Metadata database: `sqlite://<path>` or `postgres://user@host/db`. Default:
    /// `sqlite://<state dir>/datastore.db`.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// Directory for blobs, temporary uploads and the SQLite database.
    #[arg(long, env = "DATASTORE_STATE_DIR", default_value = "./state", global = true)]
    pub state_dir: PathBuf,

    /// Address and port to listen on.
    #[arg(long, env = "DATASTORE_BIND", default_value = "127.0.0.1:8080", global = true)]
    pub bind: String,

    /// The public URL of this server, used in links and mails. Default: `http://<bind>`.
    #[arg(long, env = "DATASTORE_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// The sender of the vote and release mails (`From:`), e.g. `Trusted Releases
    /// <releases@example.org>`. Without it no mail is made; runners send them
    /// (`RUNNER_SMTP_URL`).
    #[arg(long, env = "DATASTORE_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,

    /// Where a runner fetches a mail vote's thread (`POST …/vote/fetch` without a url): a URL
    /// with `{message_id}` for the announcement's Message-ID, e.g. an archive's mbox export of
    /// a thread.
    #[arg(long, env = "DATASTORE_MAIL_ARCHIVE_URL", global = true)]
    pub mail_archive_url: Option<String>,

    /// Where release file bytes live: unset for `<state dir>/blobs/`, or an S3-compatible
    /// bucket, `s3://bucket` or `s3://bucket/prefix`, with the usual `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL` (and `AWS_ALLOW_HTTP=true` for
    /// a plain-HTTP endpoint). Staging stays under the state dir either way.
    #[arg(long, env = "DATASTORE_BLOB_URL", global = true)]
    pub blob_url: Option<String>,

    /// With nginx in front: the prefix of its `internal` location that serves the blob
    /// directory (`<state dir>/blobs/`), e.g. `/_blobs/`. Files over 64 KiB are then handed to
    /// nginx (`X-Accel-Redirect`) on requests that ask for it (`X-Sendfile-Type:
    /// X-Accel-Redirect`); see deploy/nginx/trusted-releases.conf.
    #[arg(long, env = "DATASTORE_ACCEL_REDIRECT", global = true)]
    pub accel_redirect: Option<String>,

    /// Largest accepted upload, in bytes (per file).
    #[arg(long, env = "DATASTORE_MAX_UPLOAD_BYTES", default_value_t = 8 << 30, global = true)]
    pub max_upload_bytes: u64,

    /// Largest total of the files of one multipart revision (`POST …/revisions`), in bytes.
    #[arg(long, env = "DATASTORE_MAX_REVISION_BYTES", default_value_t = 32 << 30, global = true)]
    pub max_revision_bytes: u64,

    /// Most files one multipart revision (`POST …/revisions`) may add.
    #[arg(long, env = "DATASTORE_MAX_REVISION_FILES", default_value_t = 1000, global = true)]
    pub max_revision_files: usize,

    /// Uploads (PUTs and multipart revisions) received at once; more are told to come back
    /// (503 with `Retry-After`). Each holds up to ~20 MiB of buffers while it streams.
    #[arg(long, env = "DATASTORE_MAX_UPLOADS", default_value_t = 64, global = true)]
    pub max_uploads: usize,

    /// An upload during which no byte arrives for this many seconds is cut off (408), and
    /// nothing of it is kept.
    #[arg(long, env = "DATASTORE_UPLOAD_IDLE_SECS", default_value_t = 60, global = true)]
    pub upload_idle_secs: u64,

    /// A resumable upload session (`POST …/uploads`) that receives nothing for this many
    /// seconds is removed with its bytes.
    #[arg(long, env = "DATASTORE_UPLOAD_SESSION_IDLE_SECS", default_value_t = 86_400, global = true)]
    pub upload_session_idle_secs: u64,

    /// Lifetime of the JWTs issued by POST /api/v1/jwt, in seconds (at most 1800).
    #[arg(long, env = "DATASTORE_JWT_LIFETIME_SECS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..=1800), global = true)]
    pub jwt_lifetime_secs: u64,

    /// A web session ends after this many seconds without a request, in seconds.
    #[arg(long, env = "DATASTORE_SESSION_IDLE_SECS", default_value_t = 8 * 3600, global = true)]
    pub session_idle_secs: u64,

    /// A web session ends this many seconds after its login, however active.
    #[arg(long, env = "DATASTORE_SESSION_MAX_SECS", default_value_t = 7 * 24 * 3600, global = true)]
    pub session_max_secs: u64,

    /// Whether visitors may make their own account at /signup (to cast non-binding votes,
    /// after consenting to the personal data kept). `false`: accounts come from admins only.
    #[arg(long, env = "DATASTORE_VISITOR_SIGNUP", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub visitor_signup: bool,

    /// The bearer token Prometheus sends to scrape `/metrics` (admins may read it too). Unset:
    /// admins only.
    #[arg(long, env = "DATASTORE_METRICS_TOKEN", global = true, hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// The OpenID Connect issuers whose ID tokens trusted publishing accepts (comma-separated
    /// `iss` URLs): a project's PMC may trust only identities of these. An issuer must serve
    /// its discovery document at `<issuer>/.well-known/openid-configuration`.
    #[arg(
        long,
        env = "DATASTORE_TRUSTED_ISSUERS",
        value_delimiter = ',',
        default_value = "https://token.actions.githubusercontent.com",
        global = true
    )]
    pub trusted_issuers: Vec<String>,

    /// An ID token signed with a key its issuer's cached key set lacks (a key rotation) makes
    /// the datastore fetch the key set again, at most once per this many seconds per issuer.
    /// Key sets are fetched again after an hour in any case.
    #[arg(long, env = "DATASTORE_OIDC_KEYS_REFRESH_SECS", default_value_t = 60, global = true)]
    pub oidc_keys_refresh_secs: u64,

    /// Publish released releases to the dist repository over SVN (`docs/SVN.md`): a release
    /// is committed to `release/<project>/[<product>/]<version>/` with its committee's KEYS,
    /// and moved to `archive/…` when it is archived, by runners with `RUNNER_SVN_URL` (which
    /// names the repository). Off by default.
    #[arg(long, env = "DATASTORE_SVN_DIST", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub svn_dist: bool,

    /// Distribution records are checked again (does the channel still serve the voted bytes?)
    /// once this many seconds have passed since their last check; 0 turns the schedule off.
    #[arg(long, env = "DATASTORE_DISTRIBUTION_RECHECK_SECS", default_value_t = 86_400, global = true)]
    pub distribution_recheck_secs: u64,

    /// A directory of OSV JSON documents (for example osv.dev's per-ecosystem `all.zip`,
    /// unzipped): the known vulnerabilities `GET …/sbom` lists for a release's components. Read
    /// again when the directory changes and at least every ten minutes; no network is used.
    #[arg(long, env = "DATASTORE_OSV_DIR", global = true)]
    pub osv_dir: Option<PathBuf>,

    /// How often the scheduled job `osv_refresh` reads the OSV directory again, in seconds (0:
    /// never; requests still read it when it changes).
    #[arg(long, env = "DATASTORE_OSV_REFRESH_SECS", default_value_t = 600, global = true)]
    pub osv_refresh_secs: u64,

    /// Apache's public committee, project, podling and roster data, read by the scheduled job
    /// `asf_refresh`: a directory, or an `https://` (or `http://`) base URL, holding
    /// `committees.json`, `retired_committees.json`, `podlings.json`, `projects.json`,
    /// `ldap_projects.json` and `groups.json` (Whimsy's and projects.apache.org's formats; a
    /// file that is absent is left out).
    #[arg(long, env = "DATASTORE_ASF_DATA", global = true)]
    pub asf_data: Option<String>,

    /// How often `asf_refresh` runs, in seconds (0: never).
    #[arg(long, env = "DATASTORE_ASF_REFRESH_SECS", default_value_t = 86_400, global = true)]
    pub asf_refresh_secs: u64,

    /// OpenID Connect login for people (optional): the issuer of the deployment's identity
    /// provider. With it, the login page offers single sign-on (the authorization code flow
    /// with PKCE); the client is registered there with the redirect URI
    /// `<public URL>/login/oidc/callback`.
    #[arg(long, env = "DATASTORE_OIDC_ISSUER", global = true)]
    pub oidc_issuer: Option<String>,

    /// The datastore's client id at the OpenID provider.
    #[arg(long, env = "DATASTORE_OIDC_CLIENT_ID", global = true)]
    pub oidc_client_id: Option<String>,

    /// The client's secret (sent to the token endpoint with HTTP Basic authentication).
    #[arg(long, env = "DATASTORE_OIDC_CLIENT_SECRET", global = true, hide_env_values = true)]
    pub oidc_client_secret: Option<String>,

    /// The ID token's claim that holds the person's uid here (needed with an issuer; no default):
    /// one the provider sets and never reassigns, such as `sub` when its subject is the uid or a
    /// directory claim like `uid`, never one people edit themselves (`preferred_username` or
    /// `email` at many providers). The account must exist and have been made by an admin (or
    /// imported from Apache's data); no account is made at login, and visitors' are refused.
    #[arg(long, env = "DATASTORE_OIDC_UID_CLAIM", global = true)]
    pub oidc_uid_claim: Option<String>,

    /// What the login page calls the provider ("Log in with …").
    #[arg(long, env = "DATASTORE_OIDC_NAME", default_value = "single sign-on", global = true)]
    pub oidc_name: String,

    /// Database connections in the pool.
    #[arg(long, env = "DATASTORE_DB_POOL_SIZE", default_value_t = 16, global = true)]
    pub db_pool_size: u32,

    /// HTTP worker threads. Default: one per core.
    #[arg(long, env = "DATASTORE_WORKERS", global = true)]
    pub workers: Option<usize>,

    /// How long a runner's lease on a task lasts without renewal, in seconds.
    #[arg(long, env = "DATASTORE_LEASE_SECS", default_value_t = 60, global = true)]
    pub lease_secs: u64,

    /// How long a runner may work on one task before giving up, in seconds.
    #[arg(long, env = "DATASTORE_TASK_DEADLINE_SECS", default_value_t = 900, global = true)]
    pub task_deadline_secs: u64,

    /// Log format: `text` for people, `json` for log collectors. Levels come from `RUST_LOG`
    /// (default `info`).
    #[arg(long, env = "DATASTORE_LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: LogFormat,
}

impl Config {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.state_dir.join("datastore.db").display()))
    }

    pub fn public_url(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.bind)).trim_end_matches('/').to_owned()
    }

    pub fn jwt_lifetime(&self) -> Duration {
        Duration::from_secs(self.jwt_lifetime_secs)
    }

    /// A configuration for tests: everything under `state_dir`, on `database_url`.
    pub fn for_tests(state_dir: PathBuf, database_url: String) -> Self {
        Self {
            database_url: Some(database_url),
            state_dir,
            bind: "127.0.0.1:0".to_owned(),
            public_url: Some("http://datastore.test".to_owned()),
            mail_from: Some("Trusted Releases <releases@datastore.test>".to_owned()),
            mail_archive_url: Some("https://lists.example.org/thread.mbox?id={message_id}".to_owned()),
            accel_redirect: None,
            blob_url: None,
            max_upload_bytes: 64 << 20,
            max_revision_bytes: 128 << 20,
            max_revision_files: 100,
            max_uploads: 64,
            upload_idle_secs: 60,
            upload_session_idle_secs: 3_600,
            jwt_lifetime_secs: 900,
            session_idle_secs: 8 * 3600,
            session_max_secs: 7 * 24 * 3600,
            visitor_signup: true,
            metrics_token: None,
            trusted_issuers: vec!["https://ci.datastore.test".to_owned()],
            osv_dir: None,
            osv_refresh_secs: 600,
            asf_data: None,
            asf_refresh_secs: 86_400,
            distribution_recheck_secs: 86_400,
            svn_dist: false,
            oidc_issuer: None,
            oidc_client_id: None,
            oidc_client_secret: None,
            oidc_uid_claim: None,
            oidc_name: "single sign-on".to_owned(),
            oidc_keys_refresh_secs: 0,
            db_pool_size: 4,
            workers: Some(1),
            lease_secs: 60,
            task_deadline_secs: 900,
            log_format: LogFormat::Text,
        }
    }
}
