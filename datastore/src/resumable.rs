//! Resumable uploads, the bytes' side (the database's is `domain::uploads`). Each session's
//! bytes wait in `<state dir>/uploads/<id>`; a `PATCH` appends from the confirmed offset,
//! hashing (SHA-256 and SHA-512) as the bytes arrive, so the commit never reads the file again.
//! The running digests live in this process; after a restart, the first `PATCH` or the commit
//! hashes the confirmed bytes once and goes on. Bytes past the confirmed offset (written before
//! a crash, never confirmed) are cut off before anything is appended.
//!
//! The bytes a broken connection did deliver are kept and confirmed: that is the point of the
//! protocol. One `PATCH` at a time appends to a session; a second gets 409.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use checks::digest::{Sha256, Sha512};
use futures_util::{Stream, StreamExt};
use tokio::sync::OwnedMutexGuard;

use crate::blob::{BlobMeta, BlobStore, Staged};
use crate::error::{AppError, AppResult};

/// The running digests of a session's first `offset` bytes.
#[derive(Debug)]
pub struct Digests {
    offset: u64,
    sha256: Sha256,
    sha512: Sha512,
}

impl Digests {
    fn new() -> Self {
        Self { offset: 0, sha256: Sha256::default(), sha512: Sha512::default() }
    }

    fn update(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        self.sha512.update(bytes);
        self.offset += bytes.len() as u64;
    }
}

/// What one session holds in this process: its digests, once known.
pub type Live = Option<Digests>;

/// The sessions' files, and the digests and lock of each.
#[derive(Debug)]
pub struct Sessions {
    dir: PathBuf,
    live: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Live>>>>,
}

fn worker_failed(e: tokio::task::JoinError) -> AppError {
    AppError::internal(format!("an upload worker failed: {e}"))
}

fn stored(e: io::Error) -> AppError {
    crate::blob::failure("storing an upload's bytes", &e)
}

impl Sessions {
    /// The sessions under `state_dir`, their folder made (private) if needed.
    pub fn open(state_dir: &Path) -> io::Result<Self> {
        let dir = state_dir.join("uploads");
        crate::private::dir(&dir)?;
        Ok(Self { dir, live: Mutex::default() })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<Live>>>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The session's lock, unless another request holds it (409).
    pub fn lock(&self, id: &str) -> AppResult<OwnedMutexGuard<Live>> {
        let slot = self.live().entry(id.to_owned()).or_default().clone();
        slot.try_lock_owned().map_err(|_| {
            AppError::conflict(
                "upload_busy",
                format!("Another request is sending bytes of upload {id} now; wait for it."),
            )
        })
    }

    /// Forgets a session and removes its bytes (deleted, expired, or committed already).
    pub fn remove(&self, id: &str) {
        self.live().remove(id);
        match std::fs::remove_file(self.path(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                tracing::warn!(upload = id, error = %e, "cannot remove an upload's bytes");
            }
            _ => {}
        }
    }

    /// The names of the files in the sessions' folder now. Listed before the database is asked
    /// which sessions exist, so that a session opened in between is never taken for an orphan.
    pub fn files(&self) -> io::Result<Vec<String>> {
        std::fs::read_dir(&self.dir)?.map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned())).collect()
    }

    /// Removes those of `files` whose session the database does not have; returns how many.
    pub fn remove_orphans(&self, files: Vec<String>, known: &HashSet<String>) -> usize {
        let orphans: Vec<String> = files.into_iter().filter(|name| !known.contains(name)).collect();
        for name in &orphans {
            self.remove(name);
        }
        orphans.len()
    }

    /// Appends what `body` sends to session `id`, whose confirmed offset is `offset`, up to
    /// `size` bytes in all. Returns the new offset, and why it stopped short if it did: the
    /// bytes that did arrive are on disk, synced, and counted.
    pub async fn append<S, E>(
        &self,
        id: &str,
        live: &mut Live,
        offset: u64,
        size: u64,
        mut body: S,
        idle: Duration,
    ) -> AppResult<(u64, Option<AppError>)>
    where
        S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = self.path(id);
        let known = live.take().filter(|d| d.offset == offset);
        let session = id.to_owned();
        let (file, digests) = tokio::task::spawn_blocking(move || -> AppResult<(File, Digests)> {
            // The file exists once bytes were confirmed: it is never made again, empty, then.
            let file = OpenOptions::new().read(true).write(true).create(offset == 0).truncate(false).open(&path);
            let file = match file {
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(lost(&session)),
                other => other.map_err(stored)?,
            };
            exclusive(&file, &session)?;
            if file.metadata().map_err(stored)?.len() < offset {
                return Err(lost(&session));
            }
            // Bytes past the confirmed offset were never confirmed: they go.
            file.set_len(offset).map_err(stored)?;
            let digests = match known {
                Some(digests) => digests,
                None => rehash(&file, offset).map_err(stored)?,
            };
            Ok((file, digests))
        })
        .await
        .map_err(worker_failed)??;

        let (sender, mut receiver) = tokio::sync::mpsc::channel::<bytes::Bytes>(8);
        let writer = tokio::task::spawn_blocking(move || -> (Digests, io::Result<()>) {
            let mut digests = digests;
            while let Some(chunk) = receiver.blocking_recv() {
                if let Err(e) = file.write_all_at(&chunk, digests.offset) {
                    return (digests, Err(e));
                }
                digests.update(&chunk);
            }
            let synced = file.sync_data();
            (digests, synced)
        });
        let mut stopped = None;
        let mut sent = offset;
        loop {
            let Ok(next) = tokio::time::timeout(idle, body.next()).await else {
                stopped = Some(AppError::new(
                    actix_web::http::StatusCode::REQUEST_TIMEOUT,
                    "upload_stalled",
                    format!(
                        "No byte arrived for {} s; the bytes before are kept: resume from Upload-Offset.",
                        idle.as_secs()
                    ),
                ));
                break;
            };
            let Some(chunk) = next else { break };
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    stopped = Some(AppError::bad_request(
                        "upload_interrupted",
                        format!(
                            "The body stopped before its end ({e}); the bytes before are kept: resume from Upload-Offset."
                        ),
                    ));
                    break;
                }
            };
            if sent + chunk.len() as u64 > size {
                stopped = Some(AppError::too_large(format!(
                    "The upload was declared as {size} bytes and more were sent; the first {sent} are kept."
                )));
                break;
            }
            sent += chunk.len() as u64;
            if sender.send(chunk).await.is_err() {
                break; // the writer stopped: its error is below
            }
        }
        drop(sender);
        let (digests, written) = writer.await.map_err(worker_failed)?;
        written.map_err(stored)?;
        let reached = digests.offset;
        *live = Some(digests);
        Ok((reached, stopped))
    }

    /// Publishes a complete session's bytes as a blob: the digests are those computed while
    /// they arrived (or of one read of the file, after a restart). The blob store commits a
    /// second name of the session's file (a hard link in its staging; a copy where the staging
    /// is on another file system), so that a commit that fails (a bucket that does not answer)
    /// leaves the session's bytes in place for the next try; the session's own name goes once
    /// the blob is stored. The session's lock is held until then.
    pub async fn publish(
        &self,
        id: &str,
        live: &mut Live,
        size: u64,
        blobs: Arc<dyn BlobStore>,
    ) -> AppResult<BlobMeta> {
        let path = self.path(id);
        let known = live.take().filter(|d| d.offset == size);
        let session = id.to_owned();
        let store = blobs.clone();
        let (staged, meta, locked) = tokio::task::spawn_blocking(move || -> AppResult<(Staged, BlobMeta, File)> {
            // An empty file had no PATCH, so no file yet.
            let file = OpenOptions::new().read(true).write(true).create(size == 0).truncate(false).open(&path);
            let mut file = match file {
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(lost(&session)),
                other => other.map_err(stored)?,
            };
            exclusive(&file, &session)?;
            if file.metadata().map_err(stored)?.len() != size {
                return Err(lost(&session));
            }
            let digests = match known {
                Some(digests) => digests,
                None => rehash(&file, size).map_err(stored)?,
            };
            let meta = BlobMeta { sha256: digests.sha256.finish_hex(), sha512: digests.sha512.finish_hex(), size };
            file.sync_all().map_err(stored)?;
            let mut staged = store.stage().map_err(stored)?;
            std::fs::remove_file(staged.path()).map_err(stored)?;
            if let Err(e) = std::fs::hard_link(&path, staged.path()) {
                // Another file system than the staging's: a copy, so that the session keeps its bytes.
                tracing::warn!(upload = session, error = %e, "cannot link an upload's file into the staging; copying it");
                let mut copy = OpenOptions::new().write(true).create_new(true).open(staged.path()).map_err(stored)?;
                file.seek(io::SeekFrom::Start(0)).map_err(stored)?;
                if io::copy(&mut file, &mut copy).map_err(stored)? != size {
                    return Err(lost(&session));
                }
                copy.sync_all().map_err(stored)?;
                staged.restore(copy);
            }
            Ok((staged, meta, file))
        })
        .await
        .map_err(worker_failed)??;
        blobs.commit(staged, &meta.sha256).await.map_err(stored)?;
        if let Err(e) = std::fs::remove_file(self.path(id))
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(upload = id, error = %e, "cannot remove a published upload's file (the sweep will)");
        }
        drop(locked);
        Ok(meta)
    }
}

/// The session's bytes are not (all) on disk any more, whatever the database says: a lost
/// state directory, a crash of the file system. Nothing of it can be trusted.
fn lost(id: &str) -> AppError {
    tracing::error!(upload = id, "an upload's confirmed bytes are missing from its file");
    AppError::conflict(
        "upload_lost",
        format!("The bytes of upload {id} are gone from this server; delete it and upload the file again."),
    )
}

/// An exclusive lock on a session's file, for as long as it is open: one request at a time
/// appends or publishes, in this process and in any other sharing the state directory.
fn exclusive(file: &File, id: &str) -> AppResult<()> {
    match crate::blob::try_lock(file) {
        Ok(true) => Ok(()),
        Ok(false) => Err(AppError::conflict(
            "upload_busy",
            format!("Another request is sending bytes of upload {id} now; wait for it."),
        )),
        Err(e) => Err(stored(e)),
    }
}

/// The digests of the first `len` bytes of `file`.
fn rehash(file: &File, len: u64) -> io::Result<Digests> {
    let mut digests = Digests::new();
    let mut reader = io::BufReader::with_capacity(1 << 20, file).take(len);
    let mut buffer = vec![0; 1 << 20];
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        digests.update(&buffer[..n]);
    }
    if digests.offset != len {
        return Err(io::Error::other(format!(
            "the upload's file holds {} bytes, not the {len} confirmed",
            digests.offset
        )));
    }
    Ok(digests)
}
