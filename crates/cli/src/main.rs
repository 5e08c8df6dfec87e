//! `trel`: the Trusted Releases command line, for release managers at a terminal and for CI
//! jobs. See `trel --help` and docs/CLI.md.

#![allow(clippy::print_stdout, reason = "a command-line tool answers on standard output")]

use std::io::{BufRead, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};
use shared_models::api::CreateReleaseRequest;
use trel::client::{Client, Credentials, Failure};

const EXAMPLES: &str = "\
Examples:
  trel login --uid rjung                      # reads the token from standard input
  trel release create httpd 2.4.68
  trel upload httpd/2.4.68 dist/              # every file of dist/, resumably
  trel status httpd/2.4.68                    # exit 1 while a check fails
  trel verify httpd-2.4.68.tar.gz             # were these bytes voted on and released?

In CI, set TREL_SERVER, TREL_UID and TREL_TOKEN instead of logging in.

Exit codes: 0 done (or yes); 1 the answer is no (a check fails, the bytes are unknown);
2 the command line is wrong; 3 the credentials or rights are refused; 4 the datastore
refused the request or could not be reached.";

/// The Trusted Releases command line: create releases, upload their files (resumably), read
/// their checks, and verify files against what was voted on and released.
#[derive(Debug, Parser)]
#[command(name = "trel", version, after_help = EXAMPLES)]
struct Cli {
    /// The datastore's URL.
    #[arg(long, env = "TREL_SERVER", default_value = "http://127.0.0.1:8080", global = true)]
    server: String,
    /// Where the credentials are kept (mode 0600). Default: `$XDG_CONFIG_HOME/trel/credentials.json`.
    #[arg(long, env = "TREL_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Where unfinished uploads are remembered. Default: `$XDG_STATE_HOME/trel`.
    #[arg(long, env = "TREL_STATE_DIR", global = true)]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Keep a personal access token (made at /tokens) for the next commands; it is checked first.
    #[command(after_help = "Example:\n  trel login --uid rjung < token.txt")]
    Login {
        /// Your user id.
        #[arg(long)]
        uid: String,
    },
    /// Releases.
    #[command(subcommand)]
    Release(ReleaseCommand),
    /// Upload files to a draft: several at once, each resumable. Run it again after an
    /// interruption and it goes on from the last byte the datastore holds.
    #[command(
        after_help = "Examples:\n  trel upload httpd/2.4.68 httpd-2.4.68.tar.gz httpd-2.4.68.tar.gz.asc\n  trel upload httpd/2.4.68 dist/ --jobs 4"
    )]
    Upload {
        /// `project/version` or `project/product/version`.
        release: String,
        /// Files, or folders whose files go up under their paths inside them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Files sent at once.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
    },
    /// A release's phase and its checks, in short; exit 1 while a check fails.
    #[command(after_help = "Example:\n  trel status httpd/2.4.68 --json | jq .checks.summary")]
    Status {
        release: String,
        /// The release and its check results as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Were these exact bytes voted on and released, and who signed them? Hashes each file
    /// here and asks the datastore; exit 1 if one is unknown to it (with --released, also if
    /// no release published it).
    #[command(
        after_help = "Examples:\n  trel verify apache-tomcat-11.0.1.tar.gz\n  trel verify --released dist/*.tar.gz"
    )]
    Verify {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Exit 1 unless every file is in a published release.
        #[arg(long)]
        released: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ReleaseCommand {
    /// Start a release (a draft) of a project.
    #[command(after_help = "Example:\n  trel release create httpd 2.4.68")]
    Create {
        project: String,
        version: String,
        /// A product of the project other than its main one.
        #[arg(long)]
        product: Option<String>,
    },
}

/// The kept credentials.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    server: String,
    uid: String,
    token: String,
}

fn home_dir(variable: &str, under_home: &str) -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(variable).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .ok_or_else(|| anyhow!("HOME is not set: name the place with --config or --state-dir"))?;
    Ok(PathBuf::from(home).join(under_home))
}

fn config_path(cli: &Cli) -> anyhow::Result<PathBuf> {
    match &cli.config {
        Some(path) => Ok(path.clone()),
        None => Ok(home_dir("XDG_CONFIG_HOME", ".config")?.join("trel").join("credentials.json")),
    }
}

fn state_dir(cli: &Cli) -> anyhow::Result<PathBuf> {
    match &cli.state_dir {
        Some(path) => Ok(path.clone()),
        None => Ok(home_dir("XDG_STATE_HOME", ".local/state")?.join("trel")),
    }
}

/// The credentials: TREL_UID and TREL_TOKEN, else those `trel login` kept for this server.
fn credentials(cli: &Cli) -> anyhow::Result<Option<Credentials>> {
    if let (Ok(uid), Ok(token)) = (std::env::var("TREL_UID"), std::env::var("TREL_TOKEN")) {
        return Ok(Some(Credentials { uid, token }));
    }
    let path = config_path(cli)?;
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    let stored: Stored = serde_json::from_str(&text).with_context(|| format!("{} does not parse", path.display()))?;
    if stored.server.trim_end_matches('/') != cli.server.trim_end_matches('/') {
        return Ok(None);
    }
    Ok(Some(Credentials { uid: stored.uid, token: stored.token }))
}

/// Writes the credentials to a new file of mode 0600 beside `path`, then renames it there: no
/// moment holds a half-written file, or the token in a file others may read.
fn keep(path: &Path, stored: &Stored) -> anyhow::Result<()> {
    let dir = path.parent().ok_or_else(|| anyhow!("{} is not a file's path", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
    let fresh = dir.join(format!(".credentials-{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&fresh);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&fresh)
        .with_context(|| format!("cannot write {}", fresh.display()))?;
    file.write_all(&serde_json::to_vec_pretty(stored)?)?;
    file.sync_all()?;
    std::fs::rename(&fresh, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Login { uid } => {
            let token = match std::env::var("TREL_TOKEN") {
                Ok(token) => token,
                Err(_) => {
                    eprintln!(
                        "Paste the token (made at {}/tokens), then press Enter:",
                        cli.server.trim_end_matches('/')
                    );
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line.trim().to_owned()
                }
            };
            if token.is_empty() {
                return Err(anyhow!(Failure::Auth("no token was given".into())));
            }
            let client = Client::new(&cli.server, Some(Credentials { uid: uid.clone(), token: token.clone() }))?;
            client.login().await?;
            let path = config_path(&cli)?;
            keep(&path, &Stored { server: cli.server.clone(), uid: uid.clone(), token })?;
            println!("Logged in to {} as {uid}; the token is kept in {} (mode 0600).", cli.server, path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Release(ReleaseCommand::Create { project, version, product }) => {
            let client = Client::new(&cli.server, credentials(&cli)?)?;
            let name =
                |n: &str| shared_models::Name::parse(n).map_err(|e| anyhow!(Failure::Usage(format!("{n}: {e}"))));
            let request = CreateReleaseRequest {
                project: name(project)?,
                product: product.as_deref().map(name).transpose()?,
                version: shared_models::Version::parse(version)
                    .map_err(|e| anyhow!(Failure::Usage(format!("{version}: {e}"))))?,
            };
            let release = client.create_release(&request).await?;
            println!(
                "{}/{} {} is a {} now; upload its files with `trel upload`.",
                release.project,
                release.version,
                if release.product == release.project { String::new() } else { format!("({})", release.product) },
                release.phase
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Upload { release, paths, jobs } => {
            let client = Client::new(&cli.server, credentials(&cli)?)?;
            let files = trel::upload::plan(paths)?;
            if files.is_empty() {
                return Err(anyhow!(Failure::Usage(format!("there is no file to upload in {paths:?}"))));
            }
            let progress = indicatif::MultiProgress::new();
            let stored = trel::upload::upload(&client, &state_dir(&cli)?, release, files, *jobs, &progress).await?;
            let revision = stored.iter().map(|f| f.revision).max().unwrap_or_default();
            println!(
                "{} files stored in {release}, up to revision {revision}; its checks are running (`trel status {release}`).",
                stored.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { release, json } => {
            let client = Client::new(&cli.server, credentials(&cli)?)?;
            let (about, checks) = (client.release(release).await?, client.checks(release).await?);
            let failing =
                checks.summary.get("failure").copied().unwrap_or(0) + checks.summary.get("error").copied().unwrap_or(0);
            if *json {
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({"release": about, "checks": checks}))?);
            } else {
                let counts: Vec<String> = checks.summary.iter().map(|(status, n)| format!("{n} {status}")).collect();
                println!(
                    "{release}: {} at revision {}; checks {}: {}",
                    about.phase,
                    about.revision,
                    if checks.complete { "complete" } else { "running" },
                    if counts.is_empty() { "none yet".to_owned() } else { counts.join(", ") }
                );
                for result in checks.results.iter().filter(|r| matches!(r.status.as_str(), "failure" | "error")) {
                    println!(
                        "  {} {} {}: {}",
                        result.status.as_str(),
                        result.checker.as_str(),
                        result.path,
                        result.message
                    );
                }
            }
            Ok(if failing > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Command::Verify { files, released, json } => {
            let client = Client::new(&cli.server, credentials(&cli)?)?;
            let mut unknown = 0;
            let mut answers = Vec::new();
            for file in files {
                let opened = std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
                let (sha512, _) = checks::digest::sha512_of(opened)?;
                let verification = client.verify(&sha512).await?;
                if !verification.known || (*released && !verification.found.iter().any(|f| f.published)) {
                    unknown += 1;
                }
                if !*json {
                    println!(
                        "{}: {}",
                        file.display(),
                        if verification.known {
                            "known"
                        } else {
                            "unknown to the datastore (no release you may read holds these bytes)"
                        }
                    );
                    for found in &verification.found {
                        let vote = match (found.voted, &found.vote_outcome) {
                            (true, Some(outcome)) => format!(", voted on: {outcome:?}"),
                            (true, None) => ", under vote".to_owned(),
                            _ => String::new(),
                        };
                        let signers = if found.signers.is_empty() {
                            "no verified signature".to_owned()
                        } else {
                            format!("signed by {}", found.signers.join(", "))
                        };
                        println!(
                            "  {} revision {} ({}{}{}), {}, {signers}",
                            found.release,
                            found.revision,
                            found.phase,
                            vote,
                            if found.published { ", released" } else { "" },
                            found.path
                        );
                        if let Some(url) = &found.url {
                            println!("    {url}");
                        }
                    }
                }
                answers.push(serde_json::json!({"file": file, "verification": verification}));
            }
            if *json {
                println!("{}", serde_json::to_string_pretty(&answers)?);
            }
            Ok(if unknown > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("trel: {e:#}");
            match e.downcast_ref::<Failure>() {
                Some(Failure::Auth(_)) => ExitCode::from(3),
                Some(Failure::Usage(_)) => ExitCode::from(2),
                _ => ExitCode::from(4),
            }
        }
    }
}
