//! Resumable uploads from the command line: each file goes up in a session of the datastore's
//! (`POST …/uploads`), in pieces from the confirmed offset. What session a file is in is kept
//! in the state directory, so an interrupted `trel upload` (a network failure, the process
//! killed) is run again and goes on from the last byte the server confirmed, never sending
//! again what it has. Several files go up at once, each with its progress bar and one for all.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow};
use futures_util::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use shared_models::api::{CreateUploadRequest, FileUploaded, UploadSession};

use trel_client::{Client, Failure};

/// Bytes sent per `PATCH`: what an interruption can cost at most.
pub const PIECE: usize = 8 << 20;
/// Attempts at one piece before giving up (with the offset asked again between them): with
/// the waits between them, longer than a datastore holds a session for a request that went
/// silent (60 s), so a rerun after a broken link outlasts the old request.
const ATTEMPTS: u32 = 9;
/// Files sent at once, at most (each holds a piece in memory).
pub const MAX_JOBS: usize = 16;

/// One local file and where it goes in the release.
#[derive(Debug, Clone)]
pub struct Planned {
    pub local: PathBuf,
    pub path: String,
}

/// What is remembered of a file's upload between runs.
#[derive(Debug, Serialize, Deserialize)]
struct Remembered {
    release: String,
    path: String,
    size: u64,
    sha512: String,
    session: String,
}

/// The files to upload: each file named as itself; a folder's files by their paths inside it.
pub fn plan(paths: &[PathBuf]) -> anyhow::Result<Vec<Planned>> {
    let mut planned = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| anyhow!(Failure::Usage(format!("cannot read {}: {e}", path.display()))))?;
        if meta.is_dir() {
            walk(path, path, &mut planned)?;
        } else {
            let name =
                path.file_name().and_then(|n| n.to_str()).ok_or_else(|| anyhow!("{} has no name", path.display()))?;
            planned.push(Planned { local: path.clone(), path: name.to_owned() });
        }
    }
    planned.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(twice) = planned.windows(2).find(|w| w[0].path == w[1].path) {
        return Err(anyhow!(Failure::Usage(format!(
            "{} and {} would both be {}: upload them in separate commands",
            twice[0].local.display(),
            twice[1].local.display(),
            twice[0].path
        ))));
    }
    Ok(planned)
}

fn walk(root: &Path, dir: &Path, planned: &mut Vec<Planned>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(root, &path, planned)?;
        } else if entry.file_type()?.is_file() {
            let inside = path.strip_prefix(root)?.to_str().ok_or_else(|| anyhow!("{} is not UTF-8", path.display()))?;
            planned.push(Planned { local: path.clone(), path: inside.replace(std::path::MAIN_SEPARATOR, "/") });
        }
    }
    Ok(())
}

/// Uploads `files` to `release` (`project/version`), `jobs` at a time; the files as stored.
pub async fn upload(
    client: &Client,
    state_dir: &Path,
    release: &str,
    files: Vec<Planned>,
    jobs: usize,
    progress: &MultiProgress,
) -> anyhow::Result<Vec<FileUploaded>> {
    let sizes: Vec<u64> =
        files.iter().map(|f| std::fs::metadata(&f.local).map(|m| m.len())).collect::<Result<_, _>>()?;
    let total = progress.add(ProgressBar::new(sizes.iter().sum()));
    total.set_style(style("{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}"));
    total.set_prefix("all files");
    let jobs = jobs.clamp(1, MAX_JOBS);
    let dir = state_dir.join("uploads");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot make {}", dir.display()))?;
    let results: Vec<anyhow::Result<FileUploaded>> = futures_util::stream::iter(files.into_iter().zip(sizes))
        .map(|(file, size)| {
            let bar = progress.insert_before(&total, ProgressBar::new(size));
            bar.set_style(style("{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {msg}"));
            bar.set_prefix(short(&file.path));
            let (dir, total) = (dir.clone(), total.clone());
            async move {
                let stored = one(client, &dir, release, &file, size, &bar, &total).await;
                match &stored {
                    Ok(_) => bar.finish_with_message("stored"),
                    Err(e) => bar.abandon_with_message(format!("failed: {e}")),
                }
                stored.with_context(|| format!("{} was not uploaded", file.local.display()))
            }
        })
        .buffer_unordered(jobs)
        .collect()
        .await;
    total.finish();
    results.into_iter().collect()
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
}

/// The last 12 characters of a path, for a bar's label.
fn short(path: &str) -> String {
    let chars: Vec<char> = path.chars().collect();
    chars[chars.len().saturating_sub(12)..].iter().collect()
}

/// Where a file's session is remembered: by release, path and the file's SHA-512, so that a
/// file rebuilt since (other bytes, whatever its size and time) starts a session of its own.
fn state_file(dir: &Path, release: &str, path: &str, sha512: &str) -> PathBuf {
    let mut digest = checks::digest::Sha256::default();
    digest.update(format!("{release}\0{path}\0{sha512}").as_bytes());
    dir.join(format!("{}.json", digest.finish_hex()))
}

/// The session this file was going up in, if the server still has it as it was.
async fn resumable(client: &Client, state: &Path, path: &str, size: u64) -> anyhow::Result<Option<UploadSession>> {
    let Ok(text) = std::fs::read_to_string(state) else { return Ok(None) };
    let Ok(remembered) = serde_json::from_str::<Remembered>(&text) else { return Ok(None) };
    let session = client.upload(&remembered.session).await?;
    Ok(session.filter(|s| s.size == size && s.path.as_str() == path))
}

async fn one(
    client: &Client,
    dir: &Path,
    release: &str,
    file: &Planned,
    size: u64,
    bar: &ProgressBar,
    total: &ProgressBar,
) -> anyhow::Result<FileUploaded> {
    // The file's digest first: it names the session to resume, and the datastore refuses a
    // commit of other bytes (a file that changes while it is sent).
    bar.set_message("hashing");
    let local = file.local.clone();
    let (sha512, hashed) = tokio::task::spawn_blocking(move || checks::digest::sha512_of(std::fs::File::open(local)?))
        .await
        .map_err(|e| anyhow!("hashing failed: {e}"))??;
    if hashed != size {
        return Err(anyhow!("{} changed while it was read", file.local.display()));
    }
    bar.set_message("");
    let state = state_file(dir, release, &file.path, &sha512);
    let session = match resumable(client, &state, &file.path, size).await? {
        Some(session) => {
            if session.offset > 0 {
                // On standard error, bars or none (println on a hidden bar would print nothing).
                bar.suspend(|| eprintln!("{}: resuming at byte {} of {size}", file.path, session.offset));
            }
            session
        }
        None => {
            let request = CreateUploadRequest {
                path: shared_models::ReleasePath::parse(&file.path)
                    .map_err(|e| anyhow!(Failure::Usage(format!("{}: {e}", file.path))))?,
                size,
                sha512: Some(sha512.clone()),
            };
            let session = client.open_upload(release, &request).await?;
            let remembered = Remembered {
                release: release.to_owned(),
                path: file.path.clone(),
                size,
                sha512: sha512.clone(),
                session: session.id.clone(),
            };
            std::fs::write(&state, serde_json::to_vec(&remembered)?)
                .with_context(|| format!("cannot write {}", state.display()))?;
            session
        }
    };
    let mut offset = session.offset;
    bar.set_position(offset);
    total.inc(offset);
    let mut local = std::fs::File::open(&file.local)?;
    let mut failures = 0;
    while offset < size {
        let length = usize::try_from((size - offset).min(PIECE as u64))?;
        let mut piece = vec![0; length];
        local.seek(SeekFrom::Start(offset))?;
        local.read_exact(&mut piece).with_context(|| format!("{} changed while it was read", file.local.display()))?;
        match client.append(&session.id, offset, bytes::Bytes::from(piece)).await {
            // The offset must move forward, by no more than was sent.
            Ok(reached) if reached <= offset || reached > offset + length as u64 => {
                return Err(anyhow!(Failure::Network(format!(
                    "the datastore answered the offset {reached} to {length} bytes sent from {offset}"
                ))));
            }
            Ok(reached) => {
                total.inc(reached.saturating_sub(offset));
                offset = reached;
                bar.set_position(offset);
                failures = 0;
            }
            Err(e) if failures + 1 < ATTEMPTS && retryable(&e) => {
                failures += 1;
                bar.set_message(format!("retrying ({e})"));
                tokio::time::sleep(Duration::from_secs(1 << failures.min(4))).await;
                // What the server holds now decides where to go on from.
                if let Some(now) = client.upload(&session.id).await.ok().flatten() {
                    total.inc(now.offset.saturating_sub(offset));
                    offset = now.offset;
                    bar.set_position(offset);
                }
            }
            Err(e) => return Err(e),
        }
    }
    let stored = client.commit_upload(&session.id);
    let stored = stored.await;
    // Committed, or refused for good (other bytes, the release left draft): nothing to resume.
    if stored.is_ok() || !stored.as_ref().err().is_some_and(retryable) {
        let _ = std::fs::remove_file(&state);
    }
    let stored = stored?;
    if stored.sha512 != sha512 {
        return Err(anyhow!(Failure::Network(format!(
            "the datastore stored {} with the SHA-512 {}, not the {sha512} of the file here",
            file.path, stored.sha512
        ))));
    }
    Ok(stored)
}

/// Whether sending again may help: the network, the server's 5xx, or an offset that moved.
fn retryable(e: &anyhow::Error) -> bool {
    match e.downcast_ref::<Failure>() {
        Some(Failure::Network(_)) => true,
        Some(Failure::Api { status, body }) => {
            status.is_server_error() || body.error == "offset_mismatch" || body.error == "upload_busy"
        }
        _ => false,
    }
}
