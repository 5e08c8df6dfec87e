//! Streaming an upload into the blob store while computing SHA-256 and SHA-512 in one pass.
//!
//! Chunks from the network are gathered into 256 KiB buffers and handed to two blocking
//! threads: one writes the staging file and computes SHA-256, the other computes SHA-512 (the
//! slower digest), so an upload uses two cores and costs little more than SHA-512 alone. The
//! bounded channels give back-pressure: memory stays flat whatever the size of the upload.

use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;

use bytes::Bytes;
use checks::digest::{Sha256, Sha512};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::blob::{BlobMeta, BlobStore, Staged};

/// Bytes gathered before they are handed to the hashing and writing threads (as the chunks
/// the network delivered, without copying them).
const BATCH: usize = 1 << 20;
/// Batches in flight per thread; with `BATCH` this bounds the memory of one upload to ~16 MiB.
const QUEUE: usize = 8;
/// Bytes written between two flushes of the staging file. Flushing as the upload goes, on a
/// thread of its own, leaves little for the final fsync; dropping the flushed pages from the
/// page cache keeps a large upload from evicting everything else (and, on VMs, from touching
/// fresh memory for every page).
const WRITEBACK_EVERY: u64 = 64 << 20;

/// Writes back the first `len` bytes of `file` and drops them from the page cache.
fn flush_and_forget(file: &File, len: u64) -> io::Result<()> {
    file.sync_data()?;
    forget(file, len)
}

/// Drops the first `len` bytes of `file` (all of it for 0) from the page cache: written back
/// already, they would only crowd out what readers use.
fn forget(file: &File, len: u64) -> io::Result<()> {
    let len = std::num::NonZeroU64::new(len);
    rustix::fs::fadvise(file, 0, len, rustix::fs::Advice::DontNeed).map_err(io::Error::from)
}

/// Network chunks, shared (not copied) between the threads.
type Batch = Vec<Bytes>;

fn batch_len(batch: &Batch) -> usize {
    batch.iter().map(Bytes::len).sum()
}

/// Writes a batch with as few system calls as the kernel allows.
fn write_batch(file: &mut File, batch: &Batch) -> io::Result<()> {
    let mut slices: Vec<io::IoSlice<'_>> = batch.iter().map(|b| io::IoSlice::new(b)).collect();
    let mut slices = slices.as_mut_slice();
    while !slices.is_empty() {
        let written = file.write_vectored(slices)?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        io::IoSlice::advance_slices(&mut slices, written);
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the upload is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("storing the upload failed: {0}")]
    Io(#[from] io::Error),
}

/// One upload in progress. Dropping it abandons the upload and deletes its staging file.
#[derive(Debug)]
pub struct Ingest {
    store: Arc<dyn BlobStore>,
    staged: Staged,
    limit: u64,
    size: u64,
    pending: Batch,
    pending_len: usize,
    to_writer: mpsc::Sender<Batch>,
    to_sha512: mpsc::Sender<Batch>,
    writer: JoinHandle<io::Result<(File, String)>>,
    sha512: JoinHandle<String>,
    flusher: JoinHandle<()>,
}

impl Ingest {
    /// Starts an upload of at most `limit` bytes.
    pub fn start(store: Arc<dyn BlobStore>, limit: u64) -> io::Result<Self> {
        let mut staged = store.stage()?;
        let mut file = staged.take_file().ok_or_else(|| io::Error::other("staging file missing"))?;
        let (to_writer, mut writer_rx) = mpsc::channel::<Batch>(QUEUE);
        let (to_sha512, mut sha512_rx) = mpsc::channel::<Batch>(QUEUE);
        let flusher_file = file.try_clone()?;
        let (to_flusher, mut flusher_rx) = mpsc::channel::<u64>(1);
        let flusher = tokio::task::spawn_blocking(move || {
            while let Some(written) = flusher_rx.blocking_recv() {
                if let Err(e) = flush_and_forget(&flusher_file, written) {
                    tracing::warn!(error = %e, "early writeback of an upload failed; the final fsync will tell");
                }
            }
        });
        let writer = tokio::task::spawn_blocking(move || {
            let mut sha256 = Sha256::default();
            let (mut written, mut flushed) = (0u64, 0u64);
            while let Some(batch) = writer_rx.blocking_recv() {
                batch.iter().for_each(|chunk| sha256.update(chunk));
                write_batch(&mut file, &batch)?;
                written += batch_len(&batch) as u64;
                if written - flushed >= WRITEBACK_EVERY && to_flusher.try_send(written).is_ok() {
                    flushed = written;
                }
            }
            Ok((file, sha256.finish_hex()))
        });
        let sha512 = tokio::task::spawn_blocking(move || {
            let mut sha512 = Sha512::default();
            while let Some(batch) = sha512_rx.blocking_recv() {
                batch.iter().for_each(|chunk| sha512.update(chunk));
            }
            sha512.finish_hex()
        });
        Ok(Self {
            store,
            staged,
            limit,
            size: 0,
            pending: Vec::new(),
            pending_len: 0,
            to_writer,
            to_sha512,
            writer,
            sha512,
            flusher,
        })
    }

    /// Adds the next chunk of the upload.
    pub async fn push(&mut self, chunk: Bytes) -> Result<(), IngestError> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(IngestError::TooLarge { limit: self.limit });
        }
        self.pending_len += chunk.len();
        self.pending.push(chunk);
        if self.pending_len >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), IngestError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        self.pending_len = 0;
        let closed = || io::Error::other("an upload worker stopped early");
        self.to_sha512.send(batch.clone()).await.map_err(|_| closed())?;
        self.to_writer.send(batch).await.map_err(|_| closed())?;
        Ok(())
    }

    /// Completes the upload: waits for both digests. The bytes stay in the staging file until
    /// [`Received::publish`], so a request that fails later stores nothing.
    pub async fn finish(mut self) -> Result<Received, IngestError> {
        self.flush().await?;
        let Self { store, mut staged, size, to_writer, to_sha512, writer, sha512, flusher, .. } = self;
        drop(to_writer);
        drop(to_sha512);
        let (file, sha256) = writer.await.map_err(worker_failed)??;
        // The writer is done, so the flusher's channel is closed; no sync outlives the upload.
        flusher.await.map_err(worker_failed)?;
        let sha512 = sha512.await.map_err(worker_failed)?;
        staged.restore(file);
        Ok(Received { store, staged, meta: BlobMeta { sha256, sha512, size } })
    }
}

fn worker_failed(e: tokio::task::JoinError) -> io::Error {
    io::Error::other(format!("upload worker failed: {e}"))
}

/// A completely received and hashed upload, not yet visible in the store.
#[derive(Debug)]
pub struct Received {
    store: Arc<dyn BlobStore>,
    staged: Staged,
    meta: BlobMeta,
}

impl Received {
    pub fn meta(&self) -> &BlobMeta {
        &self.meta
    }

    /// Makes the bytes durable and publishes the blob, or discards the copy if identical bytes
    /// are already stored. The database row is written by the caller after this returns.
    pub async fn publish(self) -> Result<BlobMeta, IngestError> {
        let Self { store, mut staged, meta } = self;
        let sha256 = meta.sha256.clone();
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            let started = std::time::Instant::now();
            let fresh = !store.contains(&sha256)?;
            if fresh {
                let file = staged.file()?;
                file.sync_all()?;
                forget(file, 0)?;
            }
            store.commit(staged, &sha256)?;
            tracing::debug!(sha256, fresh, ms = started.elapsed().as_millis(), "blob published");
            Ok(())
        })
        .await
        .map_err(worker_failed)??;
        Ok(meta)
    }
}
