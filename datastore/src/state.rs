//! What every request handler shares.

use std::sync::Arc;

use crate::auth::jwt::JwtKeys;
use crate::blob::{BlobStore, LocalBlobStore, s3::S3BlobStore};
use crate::config::Config;
use crate::db::Db;

#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub blobs: Arc<dyn BlobStore>,
    pub jwt: JwtKeys,
    /// Woken whenever tasks are queued, so waiting claims answer at once.
    pub tasks_queued: Arc<tokio::sync::Notify>,
    /// Runner claims that may wait for work at once, in the whole process (every HTTP worker
    /// shares it); past it, runners are told to back off (429) before the database feels it.
    pub waiting_claims: Arc<tokio::sync::Semaphore>,
    /// Becomes `true` when the server begins to stop: waiting claims answer at once, so that
    /// the graceful stop does not wait out their long polls.
    pub stopping: Arc<tokio::sync::watch::Sender<bool>>,
    /// Uploads being received now, at most `max_uploads`.
    pub uploads: Arc<tokio::sync::Semaphore>,
    /// Password verifications running now, at most one per core: each takes 19 MiB and a core
    /// for tens of milliseconds, so a flood of logins waits its turn (503) instead of taking
    /// the machine's memory.
    pub password_checks: Arc<tokio::sync::Semaphore>,
    /// What the outbox dispatcher puts in mails and webhook bodies.
    pub outbound: Arc<crate::domain::outbox::Settings>,
    /// The process's metrics, for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The bytes of resumable uploads, and what this process knows of each.
    pub upload_sessions: Arc<crate::resumable::Sessions>,
    /// The OpenID Connect issuers trusted publishing accepts, and their cached keys.
    pub issuers: Arc<crate::auth::oidc::Issuers>,
    /// The OpenID Connect login of people, if configured.
    pub sso: Option<Arc<crate::web::sso::SsoLogin>>,
    /// The public documents (catalog, OSV exports) built lately.
    pub documents: Arc<crate::api::Documents>,
    /// The operator's OSV data (`DATASTORE_OSV_DIR`), read when first needed.
    pub osv: Arc<crate::domain::sbom::OsvDump>,
    /// SBOMs read and compared at once (`GET …/sbom`): each may hold two documents of up to
    /// 64 MiB parsed, so a flood of requests waits its turn (503) instead of taking the memory.
    pub sbom_reads: Arc<tokio::sync::Semaphore>,
}

/// How many `GET …/sbom` are worked on at once.
pub const MAX_SBOM_READS: usize = 2;

/// How many runner claims may wait for work at once.
pub const MAX_WAITING_CLAIMS: usize = 64;

impl AppState {
    /// Tasks may have been queued: runners waiting in a claim look now instead of at their next
    /// once-a-second look. A wake-up that finds nothing costs one claim query per waiting runner.
    pub fn wake_runners(&self) {
        self.tasks_queued.notify_waiters();
    }

    /// Connects to the database, applies migrations, opens the blob store (removing leftovers of
    /// interrupted uploads) and loads the JWT secret.
    pub fn initialise(config: Config) -> anyhow::Result<Self> {
        use anyhow::Context;
        crate::private::dir(&config.state_dir)
            .with_context(|| format!("cannot create the state directory {}", config.state_dir.display()))?;
        let db = Db::connect(&config.database_url(), config.db_pool_size)?;
        let applied = db.migrate()?;
        if !applied.is_empty() {
            tracing::info!(backend = db.backend().name(), migrations = ?applied, "applied database migrations");
        }
        let blobs = open_blob_store(&config)?;
        let secret = crate::db::queries::auth::jwt_secret(&mut *db.conn()?)?;
        let backfilled = crate::domain::keys::backfill_digests(&mut *db.conn()?).map_err(|e| anyhow::anyhow!("{e}"))?;
        if backfilled > 0 {
            tracing::info!(keys = backfilled, "recorded the digests of stored signing keys");
        }
        let chained = crate::domain::audit::backfill(&mut *db.conn()?).map_err(|e| anyhow::anyhow!("{e}"))?;
        if chained > 0 {
            tracing::info!(events = chained, "put the events written before the audit chain into it");
        }
        let jwt = JwtKeys::new(&secret, config.jwt_lifetime());
        let max_uploads = config.max_uploads.max(1);
        let config_osv_dir = config.osv_dir.clone();
        let mut outbound = crate::domain::outbox::Settings::new(config.public_url(), config.mail_from.clone())
            .map_err(|e| anyhow::anyhow!("DATASTORE_MAIL_FROM: {e}"))?;
        outbound.svn_dist = config.svn_dist;
        let issuers = crate::auth::oidc::Issuers::new(
            &config.trusted_issuers,
            std::time::Duration::from_secs(config.oidc_keys_refresh_secs),
        )
        .context("cannot make the HTTP client that fetches the OpenID issuers' keys")?;
        let sso = crate::web::sso::SsoLogin::from_config(&config)?.map(Arc::new);
        Ok(Self {
            sso,
            issuers: Arc::new(issuers),
            outbound: Arc::new(outbound),
            metrics: Arc::new(crate::metrics::Metrics::new()),
            upload_sessions: Arc::new(crate::resumable::Sessions::open(&config.state_dir).with_context(|| {
                format!("cannot open the upload sessions' folder in {}", config.state_dir.display())
            })?),
            config: Arc::new(config),
            db,
            blobs,
            jwt,
            tasks_queued: Arc::new(tokio::sync::Notify::new()),
            waiting_claims: Arc::new(tokio::sync::Semaphore::new(MAX_WAITING_CLAIMS)),
            stopping: Arc::new(tokio::sync::watch::Sender::new(false)),
            uploads: Arc::new(tokio::sync::Semaphore::new(max_uploads)),
            password_checks: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            )),
            documents: Arc::default(),
            osv: Arc::new(crate::domain::sbom::OsvDump::new(config_osv_dir)),
            sbom_reads: Arc::new(tokio::sync::Semaphore::new(MAX_SBOM_READS)),
        })
    }
}

/// The blob store `DATASTORE_BLOB_URL` names: the state directory's by default.
fn open_blob_store(config: &Config) -> anyhow::Result<Arc<dyn BlobStore>> {
    use anyhow::Context;
    match config.blob_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        None => {
            let store = LocalBlobStore::open(&config.state_dir)
                .with_context(|| format!("cannot open the blob store in {}", config.state_dir.display()))?;
            Ok(Arc::new(store))
        }
        Some(url) => {
            anyhow::ensure!(
                config.accel_redirect.is_none(),
                "DATASTORE_ACCEL_REDIRECT hands nginx files of the local blob directory, and with \
                 DATASTORE_BLOB_URL={url} there is none: unset one of them"
            );
            let store = S3BlobStore::open(url, &config.state_dir)?;
            tracing::info!(url, "release files are stored in an S3-compatible bucket");
            Ok(Arc::new(store))
        }
    }
}
