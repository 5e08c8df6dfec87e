//! `datastore`: the Trusted Releases datastore server and its operations commands.

use clap::{Parser, Subcommand};
use datastore::auth::session;
use datastore::config::Config;
use datastore::db::queries::auth as users;
use datastore::domain::{audit, directory, tokens};
use datastore::state::AppState;
use shared_models::api::CreateUserRequest;
use shared_models::{Name, Uid};

/// The Trusted Releases datastore: metadata database, release file store, JSON API, runner
/// protocol and public downloads.
///
/// With no command it serves. Configuration comes from the environment (each option below
/// names its variable); operations commands print only the value asked for on stdout, so
/// scripts can capture it, and explain themselves on stderr.
#[derive(Debug, Parser)]
#[command(version, about, long_about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    config: Config,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default): migrates the database, then listens on DATASTORE_BIND.
    Serve,
    /// Apply pending database migrations and exit (the server also does this when it starts).
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage personal access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage runners.
    #[command(subcommand)]
    Runner(RunnerCommand),
    /// Copy the database, the blobs and the audit key into a new directory, while the server
    /// runs: a consistent snapshot laid out as a state directory (docs/OPERATIONS.md "Backups").
    /// SQLite is copied with VACUUM INTO; PostgreSQL with pg_dump, which must be installed.
    #[command(
        after_help = "Examples:\n  datastore backup /var/backups/trusted-releases/$(date +%F)\n  DATASTORE_STATE_DIR=/var/backups/trusted-releases/2026-12-02 datastore serve   # a restored copy"
    )]
    Backup {
        /// A new (or empty) directory.
        dir: std::path::PathBuf,
    },
    /// Check and sign the audit log (docs/AUDIT.md).
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain of every event and check every signed checkpoint against it.
    /// Prints the number of events and the head hash; on a mismatch, names the first event or
    /// checkpoint that does not match and exits with 1.
    Verify,
    /// Sign a checkpoint of the chain as it is now (the server also signs one every day) and
    /// print its head hash.
    Checkpoint,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user. Example: `datastore user add wave --admin --name "Dave Fisher"`.
    Add {
        /// The user id (an Apache id such as `wave`).
        uid: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// Full name.
        #[arg(long)]
        name: Option<String>,
        /// Email address.
        #[arg(long)]
        email: Option<String>,
    },
    /// Set the password a user logs in with at the web pages, and end their sessions.
    ///
    /// At a terminal it asks twice, without echo; otherwise it reads the first line of
    /// standard input, e.g. `datastore user passwd wave < secret-file`. At least 8 characters.
    Passwd {
        uid: String,
        /// Remove the password instead (the user can then log in only with tokens).
        #[arg(long)]
        clear: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a personal access token and print it (shown once; exchange it for a JWT with
    /// `POST /api/v1/jwt`).
    Create {
        uid: String,
        /// What the token is for.
        #[arg(long, default_value = "created on the command line")]
        label: String,
    },
}

#[derive(Debug, Subcommand)]
enum RunnerCommand {
    /// Register a runner and print its token (give it to the runner as RUNNER_TOKEN).
    Add {
        /// A name for the runner, e.g. `runner-1`.
        name: String,
    },
}

fn main() -> std::process::ExitCode {
    // OpenSSL initialised before libpq does, and without its exit handlers
    // (OPENSSL_INIT_NO_ATEXIT): a pool connection still in its TLS handshake to PostgreSQL when
    // the process exits would otherwise race libssl's cleanup and abort the process (SIGABRT)
    // after a clean stop.
    openssl::init();
    let cli = Cli::parse();
    shared_models::logging::init(cli.config.log_format);
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Prints a value asked for on stdout: the only thing a command writes there.
#[expect(clippy::print_stdout, reason = "the requested value is the command's output")]
fn output(value: &str) {
    println!("{value}");
}

fn run(mut cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    if !matches!(command, Command::Serve) {
        // One connection, so the pool never opens another on a background thread: one still
        // connecting (a TLS handshake to PostgreSQL) when the process exits races libssl's exit
        // handlers and can crash a command that has already printed its result.
        cli.config.db_pool_size = 1;
    }
    let state = AppState::initialise(cli.config)?;
    match command {
        Command::Serve => actix_web::rt::System::new().block_on(datastore::server::run(state)),
        Command::Migrate => {
            // `initialise` applied them; say so for the operator.
            tracing::info!(backend = state.db.backend().name(), "the database schema is up to date");
            Ok(())
        }
        Command::User(UserCommand::Add { uid, admin, name, email }) => {
            let request = CreateUserRequest { uid: Uid::parse(&uid)?, name, email, admin };
            let user = directory::create_user(&mut *state.db.conn()?, "system", &request)?;
            tracing::info!(uid = %user.uid, admin = user.admin, "user created");
            output(user.uid.as_str());
            Ok(())
        }
        Command::User(UserCommand::Passwd { uid, clear }) => {
            let password = if clear { None } else { Some(read_password(&uid)?) };
            let ended = session::set_password(&mut *state.db.conn()?, &uid, password.as_deref())?;
            tracing::info!(uid, sessions_ended = ended, cleared = clear, "password set");
            Ok(())
        }
        Command::Token(TokenCommand::Create { uid, label }) => {
            let mut conn = state.db.conn()?;
            let conn = &mut *conn;
            if users::find_user(conn, &uid)?.is_none() {
                anyhow::bail!("there is no user {uid}; create it with `datastore user add {uid}`");
            }
            let created = tokens::create_token(conn, "system", &uid, &label)?;
            tracing::info!(uid, id = created.id, "token created; it is shown once");
            output(&created.token);
            Ok(())
        }
        Command::Audit(AuditCommand::Verify) => {
            let trusted = audit::trusted_key(&state.config.state_dir)?;
            if trusted.is_none() {
                tracing::warn!(
                    "this state directory holds no audit key: checkpoints are checked against their own keys only"
                );
            }
            let verified = audit::verify(&mut *state.db.conn()?, trusted.as_deref())
                .map_err(|e| anyhow::anyhow!("the audit log does not verify: {e}"))?;
            tracing::info!(events = verified.events, checkpoints = verified.checkpoints, "the audit log verifies");
            output(&format!(
                "{} events, head {}, {} checkpoints verified",
                verified.events, verified.head, verified.checkpoints
            ));
            Ok(())
        }
        Command::Audit(AuditCommand::Checkpoint) => {
            let key = audit::signing_key(&state.config.state_dir)?;
            let checkpoint = audit::checkpoint(&mut *state.db.conn()?, &key)?;
            tracing::info!(events = checkpoint.seq, "audit checkpoint signed");
            output(&checkpoint.hash);
            Ok(())
        }
        Command::Backup { dir } => {
            let summary = datastore::backup::backup(&state, &dir)?;
            tracing::info!(dir = %dir.display(), blobs = summary.blobs, bytes = summary.blob_bytes, "backup written");
            output(&format!(
                "{}: the database ({}), {} blobs ({} bytes){}",
                dir.display(),
                summary.database.display(),
                summary.blobs,
                summary.blob_bytes,
                if summary.audit_key { ", the audit key" } else { "" }
            ));
            Ok(())
        }
        Command::Runner(RunnerCommand::Add { name }) => {
            let name = Name::parse(&name)?;
            let (id, token) = tokens::register_runner(&mut *state.db.conn()?, "system", &name)?;
            tracing::info!(name = %name, id, "runner registered; its token is shown once");
            output(&token);
            Ok(())
        }
    }
}

/// A new password: asked twice without echo at a terminal, else the first line of stdin.
fn read_password(uid: &str) -> anyhow::Result<String> {
    use shared_models::terminal::read_secret_line;
    let first = read_secret_line(&format!("New password for {uid}: "))?;
    session::check_password_rules(&first)?;
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Ok(first);
    }
    let second = read_secret_line("Again: ")?;
    anyhow::ensure!(first == second, "the two passwords differ; nothing was changed");
    Ok(first)
}
