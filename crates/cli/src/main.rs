//! `trel`: the Trusted Releases command line, for release managers at a terminal and for CI
//! jobs. See `trel --help` and docs/CLI.md.

#![allow(clippy::print_stdout, reason = "a command-line tool answers on standard output")]

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::{Args, CommandFactory, Parser, Subcommand};
use serde::{Deserialize, Serialize};
use shared_models::api::{
    AddKeysRequest, CastVoteRequest, CreateReleaseRequest, Release, ResolveRequest, RevokeRequest, StartVoteRequest,
    VoteOutcome, VoteStatus,
};
use shared_models::checks::ChecksReport;
use trel_client::{Client, Credentials, Failure};

const EXAMPLES: &str = "\
Examples:
  trel login --uid rjung                      # reads the token from standard input
  trel release create httpd 2.4.68
  trel upload httpd/2.4.68 dist/              # every file of dist/, resumably
  trel status httpd/2.4.68 --wait             # exit 1 if a check fails
  trel vote start httpd/2.4.68
  trel vote cast httpd/2.4.68 +1 --comment 'checked sigs and build'
  trel vote tally httpd/2.4.68                # exit 1 while the vote does not pass
  trel resolve httpd/2.4.68 passed
  trel release httpd/2.4.68                   # publish under /current/
  trel verify httpd-2.4.68.tar.gz             # were these bytes voted on and released?
  trel check dist/ --keys KEYS                # the server's checks, on this machine
  trel completions bash > ~/.local/share/bash-completion/completions/trel

In CI, set TREL_SERVER, TREL_UID and TREL_TOKEN instead of logging in; or, where the project
trusts the CI's identity (trusted publishing), exchange the job's ID token once and use the
token it gives: export TREL_JWT=$(trel exchange httpd) (the ID token in TREL_ID_TOKEN).

Exit codes: 0 done (or yes); 1 the answer is no (a check fails, the bytes are unknown);
2 the command line is wrong; 3 the credentials or rights are refused; 4 the datastore
refused the request or could not be reached.";

/// The Trusted Releases command line: create releases, upload their files (resumably), read
/// their checks, hold the vote, publish, revoke, manage signing keys, and verify files against
/// what was voted on and released.
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
    /// At a terminal the token is asked for with the echo off; otherwise it is read from
    /// standard input (or TREL_TOKEN).
    #[command(after_help = "Examples:\n  trel login --uid rjung\n  trel login --uid rjung < token.txt")]
    Login {
        /// Your user id.
        #[arg(long)]
        uid: String,
    },
    /// Exchange the CI job's OpenID Connect ID token (TREL_ID_TOKEN, else standard input) for a
    /// trusted publisher's token of PROJECT, and print it: set it as TREL_JWT for the next
    /// commands of the job. The project's PMC decides what it may do (docs/TRUSTED-PUBLISHING.md).
    #[command(
        after_help = "Examples:\n  export TREL_JWT=$(trel exchange httpd)\n  trel exchange httpd --json < id-token.txt"
    )]
    Exchange {
        project: String,
        /// The whole answer (expiry, actions, trusts matched) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Publish a release whose vote passed (`preview` → `current`, its files under /current/);
    /// `trel release create` starts one.
    #[command(
        after_help = "Examples:\n  trel release create httpd 2.4.68      # a new draft\n  trel release httpd/2.4.68             # publish it, once its vote passed"
    )]
    Release(ReleaseArgs),
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
    #[command(
        after_help = "Examples:\n  trel status httpd/2.4.68 --json | jq .checks.summary\n  trel status httpd/2.4.68 --wait --timeout 600   # in CI, after the upload"
    )]
    Status {
        release: String,
        /// The release and its check results as JSON.
        #[arg(long)]
        json: bool,
        /// Wait until every check of the latest revision has reported.
        #[arg(long)]
        wait: bool,
        /// With --wait: give up after this many seconds (exit 4).
        #[arg(long, default_value_t = 1800, requires = "wait")]
        timeout: u64,
    },
    /// Run the server's release checks on a folder here, before uploading it (the same code as
    /// `runner check`); exit 1 if a check fails.
    #[command(after_help = "Example:\n  trel check dist/ --keys KEYS")]
    Check(checks::local::CheckArgs),
    /// The vote on a release: start it, cast a ballot, read or record the tally.
    #[command(subcommand)]
    Vote(VoteCommand),
    /// End a vote whose time is up: `passed` moves the release to `preview`, `failed` back to
    /// `draft` (the next vote is a new round).
    #[command(
        after_help = "Examples:\n  trel resolve httpd/2.4.68 passed\n  trel resolve httpd/2.4.68 failed --reason 'the NOTICE file is wrong'"
    )]
    Resolve {
        release: String,
        /// `passed` or `failed`.
        outcome: VoteOutcome,
        /// Why (required when the vote is recorded by hand).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Revoke a published release: its files move under /revoked/ and the old URLs answer 410
    /// with the reason.
    #[command(after_help = "Example:\n  trel revoke httpd/2.4.67 --reason 'CVE-2026-1234: use 2.4.68'")]
    Revoke {
        release: String,
        /// Shown on the release page and in the 410 of its old URLs.
        #[arg(long)]
        reason: String,
    },
    /// Signing keys: add yours, list a committee's.
    #[command(subcommand)]
    Keys(KeysCommand),
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
    /// Print a shell's completion script for trel.
    #[command(
        after_help = "Examples:\n  trel completions bash > ~/.local/share/bash-completion/completions/trel\n  trel completions zsh > ~/.zfunc/_trel\n  trel completions fish > ~/.config/fish/completions/trel.fish"
    )]
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct ReleaseArgs {
    #[command(subcommand)]
    command: Option<ReleaseCommand>,
    /// The release to publish: `project/version` or `project/product/version`.
    #[arg(required = true)]
    release: Option<String>,
}

#[derive(Debug, Subcommand)]
enum VoteCommand {
    /// Freeze the latest revision and open the vote (its checks must be complete, with no
    /// failure that is not waived).
    #[command(
        after_help = "Examples:\n  trel vote start httpd/2.4.68\n  trel vote start httpd/2.4.68 --hours 24 --expedited 'fixes CVE-2026-1234'"
    )]
    Start {
        release: String,
        /// How long the vote runs (default and minimum: the project's policy, usually 72).
        #[arg(long)]
        hours: Option<u32>,
        /// Why the vote is shorter than the policy's minimum (a security release).
        #[arg(long)]
        expedited: Option<String>,
    },
    /// Cast your ballot: +1, 0 or -1 (a later ballot replaces your earlier one).
    #[command(
        after_help = "Examples:\n  trel vote cast httpd/2.4.68 +1 --comment 'sigs, sums and build ok'\n  trel vote text httpd/2.4.68 +1 | gpg --armor --detach-sign > ballot.asc\n  trel vote cast httpd/2.4.68 +1 --signature ballot.asc"
    )]
    Cast {
        release: String,
        /// +1, 0 or -1.
        #[arg(allow_negative_numbers = true, value_parser = ballot_value)]
        value: i32,
        #[arg(long)]
        comment: Option<String>,
        /// An armored detached signature over the ballot's text (`trel vote text`), by one of
        /// your registered keys.
        #[arg(long)]
        signature: Option<PathBuf>,
    },
    /// Print the text a signed ballot covers, to sign it.
    #[command(after_help = "Example:\n  trel vote text httpd/2.4.68 +1 | gpg --armor --detach-sign > ballot.asc")]
    Text {
        release: String,
        #[arg(allow_negative_numbers = true, value_parser = ballot_value)]
        value: i32,
    },
    /// The tally as it stands (exit 1 while the vote does not pass); with --mbox, first record
    /// the ballots of the list's vote thread.
    #[command(
        after_help = "Examples:\n  trel vote tally httpd/2.4.68\n  trel vote tally httpd/2.4.68 --mbox vote-thread.mbox"
    )]
    Tally {
        release: String,
        /// The vote thread as an mbox file (a vote held on the mailing list).
        #[arg(long)]
        mbox: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Add your OpenPGP public keys (ASCII-armored files) and put them in committees' KEYS.
    /// Each key needs a user id with your registered email address, or --ownership-signature.
    #[command(
        after_help = "Example:\n  gpg --armor --export rjung@apache.org > me.asc\n  trel keys add me.asc --committee httpd"
    )]
    Add {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A committee whose KEYS the keys join (repeat for more).
        #[arg(long = "committee")]
        committees: Vec<String>,
        /// A detached signature, made with the key, over the text of
        /// /api/v1/keys/ownership-statement?fingerprint=… (for a key that does not name your address).
        #[arg(long)]
        ownership_signature: Option<PathBuf>,
    },
    /// A committee's keys.
    #[command(after_help = "Example:\n  trel keys list httpd")]
    List {
        committee: String,
        #[arg(long)]
        json: bool,
    },
}

fn cannot_read(path: &Path, error: &std::io::Error) -> anyhow::Error {
    anyhow!(Failure::Usage(format!("cannot read {}: {error}", path.display())))
}

/// A text file the command line names (a key, a signature): a usage error if it cannot be read.
fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| cannot_read(path, &e))
}

/// `+1`, `1`, `0`, `-0` or `-1`.
fn ballot_value(text: &str) -> Result<i32, String> {
    match text.trim() {
        "+1" | "1" => Ok(1),
        "0" | "+0" | "-0" => Ok(0),
        "-1" => Ok(-1),
        other => Err(format!("{other:?} is not a ballot: write +1, 0 or -1")),
    }
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
    let set = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    if let (Some(uid), Some(token)) = (set("TREL_UID"), set("TREL_TOKEN")) {
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

/// A client of the datastore `cli` names: sending TREL_JWT if set (a trusted publisher's token
/// from `trel exchange`), else with the credentials it finds.
fn client(cli: &Cli) -> anyhow::Result<Client> {
    if let Some(jwt) = std::env::var("TREL_JWT").ok().filter(|jwt| !jwt.trim().is_empty()) {
        return Client::with_jwt(&cli.server, jwt.trim());
    }
    Client::new(&cli.server, credentials(cli)?)
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
            let token = match std::env::var("TREL_TOKEN").ok().filter(|token| !token.is_empty()) {
                Some(token) => token,
                None => shared_models::terminal::read_secret_line(&format!(
                    "Paste the token made at {}/tokens (it is not shown), then press Enter: ",
                    cli.server.trim_end_matches('/')
                ))?
                .trim()
                .to_owned(),
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
        Command::Exchange { project, json } => {
            let token = match std::env::var("TREL_ID_TOKEN").ok().filter(|token| !token.trim().is_empty()) {
                Some(token) => token,
                None => {
                    let mut text = String::new();
                    std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut text)
                        .context("cannot read the ID token from standard input")?;
                    text
                }
            };
            let token = token.trim();
            if token.is_empty() {
                return Err(anyhow!(Failure::Usage("no ID token: set TREL_ID_TOKEN or pipe it in".into())));
            }
            let answer = Client::new(&cli.server, None)?.exchange_id_token(token, project).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                println!("{}", answer.jwt);
                let actions: Vec<&str> = answer.actions.iter().map(|a| a.as_str()).collect();
                eprintln!(
                    "A token of {} for {} until {} ({}).",
                    answer.uid,
                    answer.project,
                    answer.expires_at.to_rfc3339(),
                    actions.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Release(ReleaseArgs { command: None, release }) => {
            let release = release.as_deref().ok_or_else(|| anyhow!(Failure::Usage("name the release".into())))?;
            let client = client(&cli)?;
            let published = client.publish(release).await?;
            print_release(release, &published);
            Ok(ExitCode::SUCCESS)
        }
        Command::Release(ReleaseArgs {
            command: Some(ReleaseCommand::Create { project, version, product }), ..
        }) => {
            let client = client(&cli)?;
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
            let client = client(&cli)?;
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
        Command::Status { release, json, wait, timeout } => {
            let client = client(&cli)?;
            let about = client.release(release).await?;
            let checks = if *wait {
                wait_for_checks(&client, release, Duration::from_secs(*timeout)).await?
            } else {
                client.checks(release).await?
            };
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
        Command::Check(args) => {
            let (report, failed) = checks::local::check(args, checks::Limits::default())
                .map_err(|e| anyhow!(Failure::Usage(format!("{e:#}"))))?;
            println!("{report}");
            Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Command::Vote(command) => vote(&cli, command).await,
        Command::Resolve { release, outcome, reason } => {
            let client = client(&cli)?;
            let request = ResolveRequest { outcome: *outcome, reason: reason.clone() };
            print_release(release, &client.resolve(release, &request).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Revoke { release, reason } => {
            let client = client(&cli)?;
            print_release(release, &client.revoke(release, &RevokeRequest { reason: reason.clone() }).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(KeysCommand::Add { files, committees, ownership_signature }) => {
            let client = client(&cli)?;
            let mut armored = String::new();
            for file in files {
                armored.push_str(&read_text(file)?);
                armored.push('\n');
            }
            let committees = committees
                .iter()
                .map(|c| shared_models::Name::parse(c).map_err(|e| anyhow!(Failure::Usage(format!("{c}: {e}")))))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let ownership_signature = ownership_signature.as_deref().map(read_text).transpose()?;
            let report = client.add_keys(&AddKeysRequest { armored, committees, ownership_signature }).await?;
            println!(
                "{} added, {} updated, {} unchanged: {}",
                report.added,
                report.updated,
                report.unchanged,
                report.fingerprints.join(", ")
            );
            for skipped in &report.skipped {
                println!("  skipped block {} ({}): {}", skipped.block, skipped.code, skipped.reason);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(KeysCommand::List { committee, json }) => {
            let client = client(&cli)?;
            let list = client.committee_keys(committee).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for key in &list.keys {
                    let state = match (key.revoked, key.expires) {
                        (true, _) => " (revoked)".to_owned(),
                        (false, Some(expires)) if expires < chrono::Utc::now() => " (expired)".to_owned(),
                        (false, Some(expires)) => format!(" (expires {})", expires.date_naive()),
                        (false, None) => String::new(),
                    };
                    let size = key.bits.map(|b| format!("{b} ")).unwrap_or_default();
                    println!("{} {size}{}{state}", key.fingerprint, key.algorithm);
                    for uid in &key.uids {
                        println!("    {uid}");
                    }
                }
                println!("{}: {} keys", committee, list.keys.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "trel", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { files, released, json } => {
            let client = client(&cli)?;
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

async fn vote(cli: &Cli, command: &VoteCommand) -> anyhow::Result<ExitCode> {
    let client = client(cli)?;
    match command {
        VoteCommand::Start { release, hours, expedited } => {
            let request =
                StartVoteRequest { revision: None, duration_hours: *hours, expedited_reason: expedited.clone() };
            let status = client.start_vote(release, &request).await?;
            println!(
                "The vote on {release} is open: round {}, revision {} (manifest {}), until {} at the earliest.",
                status.vote.round, status.vote.revision, status.vote.manifest_digest, status.vote.closes_at
            );
            Ok(ExitCode::SUCCESS)
        }
        VoteCommand::Cast { release, value, comment, signature } => {
            let signature = signature.as_deref().map(read_text).transpose()?;
            let request = CastVoteRequest { value: *value, comment: comment.clone(), signature };
            let ballot = client.cast_vote(release, &request).await?;
            println!(
                "{} cast {:+} on {release} ({}{}).",
                ballot.voter,
                ballot.value,
                if ballot.binding { "binding" } else { "not binding" },
                ballot.signed_by.as_ref().map(|f| format!(", signed by {f}")).unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        VoteCommand::Text { release, value } => {
            print!("{}", client.ballot_text(release, *value).await?);
            Ok(ExitCode::SUCCESS)
        }
        VoteCommand::Tally { release, mbox, json } => {
            if let Some(path) = mbox {
                let thread = std::fs::read(path).map_err(|e| cannot_read(path, &e))?;
                let tally = client.tally_mail(release, thread).await?;
                if !*json {
                    println!(
                        "The thread held {} votes ({} skipped mails); {} ballots recorded.",
                        tally.counted.len(),
                        tally.skipped.len(),
                        tally.recorded
                    );
                }
            }
            let status = client.votes(release).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print_tally(release, &status);
            }
            Ok(if status.passes { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}

fn print_tally(release: &str, status: &VoteStatus) {
    let t = &status.tally;
    println!(
        "{release}, round {}: binding {} +1, {} 0, {} -1; not binding {} +1, {} 0, {} -1. {}{}",
        status.vote.round,
        t.binding_plus,
        t.binding_zero,
        t.binding_minus,
        t.non_binding_plus,
        t.non_binding_zero,
        t.non_binding_minus,
        if status.passes { "It passes" } else { "It does not pass" },
        if status.closed {
            "; its time is up.".to_owned()
        } else {
            format!("; it may be resolved in {} min.", status.seconds_left.div_ceil(60))
        }
    );
    for ballot in &status.votes {
        println!(
            "  {:+} {}{}{}",
            ballot.value,
            ballot.voter,
            if ballot.binding { " (binding)" } else { "" },
            ballot.comment.as_ref().map(|c| format!(": {c}")).unwrap_or_default()
        );
    }
}

fn print_release(release: &str, about: &Release) {
    let mut line = format!("{release} is {} now", about.phase);
    if let Some(url) = &about.download_url {
        line.push_str(&format!("; its files are at {url}"));
    }
    if let Some(published) = &about.published {
        line.push_str(&format!(
            " (revision {}, {})",
            published.revision,
            if published.content_matches_vote { "the voted bytes" } else { "NOT the voted bytes" }
        ));
    }
    println!("{line}.");
}

/// Polls the checks until the latest revision's have all reported, showing how many have.
async fn wait_for_checks(client: &Client, release: &str, timeout: Duration) -> anyhow::Result<ChecksReport> {
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    let deadline = std::time::Instant::now() + timeout;
    loop {
        // A datastore restarting or a connection that drops costs a poll, not the wait.
        let report = match client.checks(release).await {
            Ok(report) => report,
            Err(e)
                if std::time::Instant::now() < deadline
                    && match e.downcast_ref::<Failure>() {
                        Some(Failure::Network(_)) => true,
                        Some(Failure::Api { status, .. }) => status.is_server_error(),
                        _ => false,
                    } =>
            {
                spinner.set_message(format!("{release}: {e:#}; asking again…"));
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        if report.complete {
            spinner.finish_and_clear();
            return Ok(report);
        }
        spinner.set_message(format!("{release}: {} results so far, checks running…", report.results.len()));
        spinner.tick();
        if std::time::Instant::now() >= deadline {
            spinner.finish_and_clear();
            return Err(anyhow!(Failure::Network(format!(
                "the checks of {release} did not finish within {} s",
                timeout.as_secs()
            ))));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
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
