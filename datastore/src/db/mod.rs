//! The metadata database: one connection type over SQLite (embedded default) and PostgreSQL
//! (scale-out), a pool that picks the backend from the URL scheme, and embedded migrations.

pub mod models;
pub mod queries;
pub mod schema;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend. Queries written with the diesel DSL run on both; the few
/// statements that differ match on the variant.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl std::fmt::Debug for DbConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DbConnection::Postgres(_) => "DbConnection::Postgres",
            DbConnection::Sqlite(_) => "DbConnection::Sqlite",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported DATABASE_URL {0}: use sqlite://<path> or postgres://<user>@<host>/<db>")]
    UnsupportedUrl(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("database worker failed: {0}")]
    Worker(String),
}

/// Where a `DATABASE_URL` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseLocation {
    /// Parses `sqlite://<path>` (relative or absolute: `sqlite:///abs/path`), `sqlite:<path>`,
    /// `postgres://…` and `postgresql://…`. Any other scheme is an error naming only the scheme, so
    /// a mistyped URL never ends up in a log with its password, nor creates a stray file.
    pub fn parse(url: &str) -> Result<Self, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            if path.is_empty() {
                return Err(DbError::UnsupportedUrl("sqlite:// without a file path".to_owned()));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        let scheme = url.split_once(':').map_or("(no scheme)", |(s, _)| s);
        Err(DbError::UnsupportedUrl(format!("with scheme {scheme:?}")))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// The location for logs: the SQLite path, or the PostgreSQL host and database without credentials.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
            Self::Postgres(url) => {
                let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
                let host_and_db = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
                let without_query = host_and_db.split('?').next().unwrap_or(host_and_db);
                format!("postgres://{without_query}")
            }
        }
    }
}

/// Opens connections of the backend chosen by the URL scheme, with each backend's session settings.
#[derive(Debug)]
pub struct ConnectionManager {
    location: DatabaseLocation,
}

/// SQLite settings applied to every connection: foreign keys are off by default in SQLite, and a
/// writer waits for the lock instead of failing at once.
const SQLITE_SESSION: &str = "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 15000; PRAGMA synchronous = NORMAL;";

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        use diesel::r2d2::Error as E;
        match &self.location {
            DatabaseLocation::Sqlite(path) => {
                let path = path.to_str().ok_or_else(|| {
                    E::ConnectionError(ConnectionError::InvalidConnectionUrl(
                        "the SQLite path is not valid UTF-8".to_owned(),
                    ))
                })?;
                let mut conn = SqliteConnection::establish(path).map_err(E::ConnectionError)?;
                conn.batch_execute(SQLITE_SESSION).map_err(E::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
            DatabaseLocation::Postgres(url) => {
                let conn = PgConnection::establish(url).map_err(E::ConnectionError)?;
                Ok(DbConnection::Postgres(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1").map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
}

pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// The database handle shared by the whole process: a connection pool, its backend, and the
/// threads that run database work for async code ([`Db::run`]).
#[derive(Clone, Debug)]
pub struct Db {
    pool: r2d2::Pool<ConnectionManager>,
    backend: Backend,
    workers: Arc<Workers>,
}

/// Database work waiting for a thread.
type Job = Box<dyn FnOnce() + Send>;

/// Threads of their own for database work (at most one per connection of the pool): uploads, downloads
/// and anything else on tokio's shared blocking pool can never keep a query from running.
struct Workers {
    queue: std::sync::mpsc::Sender<Job>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Workers")
    }
}

impl Workers {
    fn start(threads: u32) -> std::io::Result<Self> {
        let (queue, jobs) = std::sync::mpsc::channel::<Job>();
        let jobs = Arc::new(std::sync::Mutex::new(jobs));
        for n in 0..threads.max(1) {
            let jobs = jobs.clone();
            std::thread::Builder::new().name(format!("db-{n}")).spawn(move || {
                loop {
                    // The lock is held only to take the next job, never while running it.
                    let next = match jobs.lock() {
                        Ok(jobs) => jobs.recv(),
                        Err(_) => return,
                    };
                    match next {
                        Ok(job) => job(),
                        Err(_) => return, // every `Db` is gone
                    }
                }
            })?;
        }
        Ok(Self { queue })
    }

    fn submit(&self, job: Job) -> Result<(), DbError> {
        self.queue.send(job).map_err(|_| DbError::Worker("the database threads have stopped".to_owned()))
    }
}

impl Db {
    /// Connects to `url` (see [`DatabaseLocation::parse`]) with at most `pool_size` connections.
    /// For SQLite the file (mode 0600: it holds the JWT secret and token hashes; SQLite gives
    /// its `-wal` and `-shm` files the same mode) and its directory (0700) are created, and
    /// the database is switched to WAL.
    pub fn connect(url: &str, pool_size: u32) -> Result<Self, DbError> {
        let location = DatabaseLocation::parse(url)?;
        let backend = location.backend();
        if let DatabaseLocation::Sqlite(path) = &location
            && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        {
            crate::private::dir(dir)
                .map_err(|e| DbError::Connect(format!("cannot create the directory {}: {e}", dir.display())))?;
        }
        if let DatabaseLocation::Sqlite(path) = &location {
            crate::private::file(path)
                .map_err(|e| DbError::Connect(format!("cannot create the database {}: {e}", path.display())))?;
        }
        let redacted = location.redacted();
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            .min_idle(Some(1))
            // A SQLite file does not go away under a connection; a PostgreSQL server may.
            .test_on_check_out(backend == Backend::Postgres)
            .connection_timeout(Duration::from_secs(15))
            .build(ConnectionManager { location })
            .map_err(|e| DbError::Connect(format!("{redacted}: {e}")))?;
        // SQLite's work is all CPU in this process: more threads than twice the cores only
        // switch between each other. PostgreSQL's waits on the network: one per connection.
        let threads = match backend {
            Backend::Sqlite => {
                let cores = std::thread::available_parallelism().map_or(2, |n| u32::try_from(n.get()).unwrap_or(2));
                pool_size.min(cores.saturating_mul(2)).max(2)
            }
            Backend::Postgres => pool_size,
        };
        let workers =
            Workers::start(threads).map_err(|e| DbError::Connect(format!("cannot start the database threads: {e}")))?;
        let db = Self { pool, backend, workers: Arc::new(workers) };
        if backend == Backend::Sqlite {
            // WAL lets readers go on while one writer writes; the mode is stored in the file.
            db.conn()?.batch_execute("PRAGMA journal_mode = WAL;")?;
        }
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool's connections now: open, and idle among them.
    pub fn pool_state(&self) -> r2d2::State {
        self.pool.state()
    }

    /// The most connections the pool opens.
    pub fn pool_max_size(&self) -> u32 {
        self.pool.max_size()
    }

    /// A connection from the pool, for blocking code (CLI commands, blocking threads).
    pub fn conn(&self) -> Result<PooledConnection, DbError> {
        Ok(self.pool.get()?)
    }

    /// Applies the pending migrations of this backend; returns the names of those applied.
    pub fn migrate(&self) -> Result<Vec<String>, DbError> {
        let mut conn = self.conn()?;
        let migrations = match &*conn {
            DbConnection::Sqlite(_) => SQLITE_MIGRATIONS,
            DbConnection::Postgres(_) => POSTGRES_MIGRATIONS,
        };
        let applied = match &mut *conn {
            DbConnection::Sqlite(c) => c.run_pending_migrations(migrations),
            DbConnection::Postgres(c) => c.run_pending_migrations(migrations),
        }
        .map_err(|e| DbError::Migration(e.to_string()))?;
        Ok(applied.iter().map(ToString::to_string).collect())
    }

    /// Runs blocking database work on the database's own threads, so that request handlers
    /// never block the async workers and nothing else can take those threads. The work runs in
    /// the caller's tracing span (its logs carry the request id). A panic in it is an error.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.workers.submit(Box::new(move || {
            let result = span.in_scope(|| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let mut conn = pool.get().map_err(DbError::from)?;
                    work(&mut conn)
                }))
            });
            let result = result.unwrap_or_else(|_| {
                tracing::error!("database work panicked");
                Err(E::from(DbError::Worker("the database work panicked".to_owned())))
            });
            let _ = done.send(result); // the caller may have gone away
        }))?;
        outcome.await.map_err(|_| E::from(DbError::Worker("the database work was dropped".to_owned())))?
    }
}

/// Runs `work` in a transaction that writes. On SQLite the write lock is taken first (a no-op
/// UPDATE): a deferred transaction that reads first and writes later fails at once with
/// SQLITE_BUSY when another writer committed meanwhile, instead of waiting its turn. On
/// PostgreSQL this is an ordinary transaction.
pub fn write_transaction<T, E>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    conn.transaction(|conn| {
        if let DbConnection::Sqlite(sqlite) = conn {
            sqlite.batch_execute("UPDATE server_secret SET name = name WHERE 0")?;
        }
        work(conn)
    })
}

/// Runs reads in one transaction: they see one state of the database (a report built of many
/// queries is consistent), and SQLite takes its read lock once instead of once per query.
pub fn read_transaction<T, E>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    conn.transaction(work)
}

/// Milliseconds since the Unix epoch, the unit of every time column.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A time column as a UTC time.
pub fn to_time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_database_urls() {
        assert_eq!(
            DatabaseLocation::parse("sqlite://./state/datastore.db").unwrap(),
            DatabaseLocation::Sqlite("./state/datastore.db".into())
        );
        assert_eq!(
            DatabaseLocation::parse("sqlite:///var/lib/tr/db.sqlite").unwrap(),
            DatabaseLocation::Sqlite("/var/lib/tr/db.sqlite".into())
        );
        assert_eq!(DatabaseLocation::parse("postgresql://h/db").unwrap().backend(), Backend::Postgres);
        let err = DatabaseLocation::parse("postgress://me:secret@h/db").unwrap_err().to_string();
        assert!(err.contains("\"postgress\"") && !err.contains("secret"), "{err}");
    }

    #[test]
    fn redacts_credentials() {
        let location = DatabaseLocation::parse("postgres://me:secret@db.example:5432/tr?sslmode=require").unwrap();
        assert_eq!(location.redacted(), "postgres://db.example:5432/tr");
    }
}
