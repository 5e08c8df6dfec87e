//! Streaming an upload into the blob store while computing SHA-256 and SHA-512 in one pass.
//!
//! Chunks from the network are gathered into 4 MiB batches and shared, without copying, with
//! three stages that run side by side: one computes SHA-512 (the slowest step, and the bound on
//! an upload's speed), one computes SHA-256, and one writes the staging file. Each stage works
//! on a batch in a blocking thread that it holds only for that batch: a slow client holds no
//! thread while its next bytes are on their way. The bounded channels give back-pressure:
//! memory stays flat whatever the size of the upload.
//!
//! The staging file is written with direct I/O where the filesystem allows it (see
//! [`StagingWriter`]). Passing an upload through the page cache costs CPU (copying, dirty-page
//! tracking, writeback, eviction) that the hashing threads need, and gains little: the bytes
//! are read again only when the checks or a download fetch them, and a large upload would
//! otherwise push everything else out of the cache (ADR 0007).

use std::fs::File;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use checks::digest::{Sha256, Sha512};
use rustix::fs::OFlags;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::blob::{BlobMeta, BlobStore, Staged};

/// Bytes gathered before they are handed to the threads (as the chunks the network delivered,
/// without copying them). Large batches mean few thread wake-ups: on two cores, 4 MiB batches
/// made a 1 GiB upload ~5% faster than 1 MiB ones (`just bench-store`).
const BATCH: usize = 4 << 20;
/// Batches queued per thread. The threads share the batches, so one upload holds at most about
/// `(QUEUE + 2) * BATCH` bytes (queued, being hashed, being gathered).
const QUEUE: usize = 3;
/// The staging file is written in blocks of this size.
const BLOCK: usize = 1 << 20;
/// Direct I/O needs buffers, offsets and lengths aligned to the device's logical block size,
/// which is at most the page size on the machines we run on.
const ALIGN: usize = 4096;
/// With buffered writes (no direct I/O), bytes written between two flushes of the staging file:
/// flushing as the upload goes leaves little for the final fsync.
const WRITEBACK_EVERY: u64 = 64 << 20;

/// Drops the first `len` bytes of `file` (all of it for 0) from the page cache: written back
/// already, they would only crowd out what readers use.
fn forget(file: &File, len: u64) -> io::Result<()> {
    let len = std::num::NonZeroU64::new(len);
    rustix::fs::fadvise(file, 0, len, rustix::fs::Advice::DontNeed).map_err(io::Error::from)
}

/// Network chunks, shared (not copied) between the threads.
type Batch = Vec<Bytes>;

/// Writes the staging file in aligned blocks, with direct I/O (`O_DIRECT`) where the filesystem
/// supports it and buffered writes, flushed as they go, where it does not (tmpfs before Linux
/// 6.6, some network and FUSE filesystems). Direct writes are synchronous, one block at a time;
/// the hashing threads go on meanwhile. The bytes short of the alignment at the end are always
/// written buffered. Durability comes from the fsync before the blob is published.
struct StagingWriter {
    file: File,
    /// `BLOCK + ALIGN` bytes: the block is the aligned window starting at `start`.
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    offset: u64,
    direct: bool,
    flushed: u64,
}

impl std::fmt::Debug for StagingWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagingWriter")
            .field("offset", &self.offset)
            .field("filled", &self.filled)
            .field("direct", &self.direct)
            .finish_non_exhaustive()
    }
}

impl StagingWriter {
    /// A writer for `file`, with direct I/O if `direct` is asked for and the filesystem allows it.
    fn new(file: File, direct: bool) -> Self {
        let buf = vec![0u8; BLOCK + ALIGN];
        let start = buf.as_ptr().align_offset(ALIGN);
        let direct = direct
            && match set_direct(&file, true) {
                Ok(()) => true,
                Err(e) => {
                    warn_buffered(&e);
                    false
                }
            };
        Self { file, buf, start, filled: 0, offset: 0, direct, flushed: 0 }
    }

    /// Goes on with buffered writes. What was written directly needs no writeback.
    fn go_buffered(&mut self) -> io::Result<()> {
        set_direct(&self.file, false)?;
        self.direct = false;
        self.flushed = self.offset;
        Ok(())
    }

    fn write(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let n = bytes.len().min(BLOCK - self.filled);
            let at = self.start + self.filled;
            self.buf[at..at + n].copy_from_slice(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
            if self.filled == BLOCK {
                self.write_block(BLOCK)?;
            }
        }
        Ok(())
    }

    /// Writes the first `len` bytes of the block at the current offset.
    fn write_block(&mut self, len: usize) -> io::Result<()> {
        let block = &self.buf[self.start..self.start + len];
        match pwrite_all(&self.file, block, self.offset) {
            Err(e) if self.direct && refuses_direct(&e, self.offset) => {
                // Accepted by fcntl, refused at the write (a device with larger sectors, a
                // filesystem that only pretends): the block is written again, buffered.
                warn_buffered(&e);
                self.go_buffered()?;
                let block = &self.buf[self.start..self.start + len];
                pwrite_all(&self.file, block, self.offset)?;
            }
            result => result?,
        }
        self.offset += len as u64;
        self.buf.copy_within(self.start + len..self.start + self.filled, self.start);
        self.filled -= len;
        if !self.direct && self.offset - self.flushed >= WRITEBACK_EVERY {
            self.file.sync_data()?;
            forget(&self.file, self.offset)?;
            self.flushed = self.offset;
        }
        Ok(())
    }

    /// Writes what is left and hands the file back.
    fn finish(mut self) -> io::Result<File> {
        let whole = self.filled / ALIGN * ALIGN;
        if whole > 0 {
            self.write_block(whole)?;
        }
        if self.filled > 0 {
            if self.direct {
                self.go_buffered()?;
            }
            self.write_block(self.filled)?;
        }
        Ok(self.file)
    }
}

/// Whether a failed direct write means the filesystem does not do direct I/O (so the block is
/// worth writing again, buffered), rather than a failure that buffered writes would meet too.
/// `EINVAL` (alignment) always; at the first write, anything but running out of space.
fn refuses_direct(e: &io::Error, offset: u64) -> bool {
    use rustix::io::Errno;
    let errno = e.raw_os_error().map(Errno::from_raw_os_error);
    errno == Some(Errno::INVAL) || (offset == 0 && !matches!(errno, Some(Errno::NOSPC | Errno::DQUOT | Errno::FBIG)))
}

/// Says once per process that uploads go through the page cache, and why.
fn warn_buffered(e: &io::Error) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            error = %e,
            "the staging directory's filesystem refuses direct I/O: uploads are written through the page cache, \
             which costs CPU (see ADR 0007)"
        );
    });
}

fn set_direct(file: &File, on: bool) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(file)?;
    let flags = if on { flags | OFlags::DIRECT } else { flags - OFlags::DIRECT };
    Ok(rustix::fs::fcntl_setfl(file, flags)?)
}

fn pwrite_all(file: &File, mut bytes: &[u8], mut offset: u64) -> io::Result<()> {
    while !bytes.is_empty() {
        match rustix::io::pwrite(file, bytes, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                bytes = &bytes[n..];
                offset += n as u64;
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
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
    to_sha256: mpsc::Sender<Batch>,
    to_sha512: mpsc::Sender<Batch>,
    /// Until it is awaited: for the end of the upload, or for the error that stopped it.
    writer: Option<JoinHandle<io::Result<StagingWriter>>>,
    sha256: JoinHandle<io::Result<Sha256>>,
    sha512: JoinHandle<io::Result<Sha512>>,
}

impl Ingest {
    /// Starts an upload of at most `limit` bytes.
    pub fn start(store: Arc<dyn BlobStore>, limit: u64) -> io::Result<Self> {
        let mut staged = store.stage()?;
        let file = staged.take_file().ok_or_else(|| io::Error::other("staging file missing"))?;
        // The tail of the file is written by `finish`, only for an upload that completes.
        let (to_writer, writer) =
            stage(StagingWriter::new(file, true), |out, batch| batch.iter().try_for_each(|chunk| out.write(chunk)));
        let (to_sha256, sha256) = stage(Sha256::default(), |digest, batch| {
            batch.iter().for_each(|chunk| digest.update(chunk));
            Ok(())
        });
        let (to_sha512, sha512) = stage(Sha512::default(), |digest, batch| {
            batch.iter().for_each(|chunk| digest.update(chunk));
            Ok(())
        });
        Ok(Self {
            store,
            staged,
            limit,
            size: 0,
            pending: Vec::new(),
            pending_len: 0,
            to_writer,
            to_sha256,
            to_sha512,
            writer: Some(writer),
            sha256,
            sha512,
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
        // The digest threads cannot fail short of a panic; the writer can (a full disk, say).
        let closed = || io::Error::other("an upload digest thread stopped early");
        self.to_sha512.send(batch.clone()).await.map_err(|_| closed())?;
        self.to_sha256.send(batch.clone()).await.map_err(|_| closed())?;
        if self.to_writer.send(batch).await.is_err() {
            return Err(self.writer_failure().await);
        }
        Ok(())
    }

    /// Why the writer stopped before the end of the upload.
    async fn writer_failure(&mut self) -> IngestError {
        let Some(writer) = self.writer.take() else {
            return writer_gone().into();
        };
        match writer.await {
            Ok(Err(e)) => e.into(),
            Ok(Ok(_)) => writer_gone().into(),
            Err(e) => worker_failed(e).into(),
        }
    }

    /// Completes the upload: waits for both digests. The bytes stay in the staging file until
    /// [`Received::publish`], so a request that fails later stores nothing.
    pub async fn finish(mut self) -> Result<Received, IngestError> {
        self.flush().await?;
        let Self { store, mut staged, size, to_writer, to_sha256, to_sha512, writer, sha256, sha512, .. } = self;
        drop((to_writer, to_sha256, to_sha512));
        let writer = writer.ok_or_else(writer_gone)?;
        let out = writer.await.map_err(worker_failed)??;
        let file = tokio::task::spawn_blocking(move || out.finish()).await.map_err(worker_failed)??;
        let sha256 = sha256.await.map_err(worker_failed)??.finish_hex();
        let sha512 = sha512.await.map_err(worker_failed)??.finish_hex();
        staged.restore(file);
        Ok(Received { store, staged, meta: BlobMeta { sha256, sha512, size } })
    }
}

/// One stage of an upload (a digest, the staging writer): it takes every batch sent to it, in
/// order, and `work`s on it with `state` in a blocking thread held only for that batch; after
/// the last batch it hands the state back (or the first error).
fn stage<S: Send + 'static>(
    state: S,
    work: fn(&mut S, &Batch) -> io::Result<()>,
) -> (mpsc::Sender<Batch>, JoinHandle<io::Result<S>>) {
    let (tx, mut rx) = mpsc::channel::<Batch>(QUEUE);
    let task = tokio::spawn(async move {
        let mut state = state;
        while let Some(batch) = rx.recv().await {
            state = tokio::task::spawn_blocking(move || {
                work(&mut state, &batch)?;
                Ok::<_, io::Error>(state)
            })
            .await
            .map_err(worker_failed)??;
        }
        Ok(state)
    });
    (tx, task)
}

fn writer_gone() -> io::Error {
    io::Error::other("the staging writer stopped early")
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
        let started = std::time::Instant::now();
        let fresh = store.head(&meta.sha256).await?.is_none();
        if fresh {
            staged = tokio::task::spawn_blocking(move || -> io::Result<Staged> {
                let file = staged.file()?;
                file.sync_all()?;
                forget(file, 0)?;
                Ok(staged)
            })
            .await
            .map_err(worker_failed)??;
        }
        store.commit(staged, &meta.sha256).await?;
        tracing::debug!(sha256 = meta.sha256, fresh, ms = started.elapsed().as_millis(), "blob published");
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Read;

    use super::*;

    /// Writes `chunks` through a staging writer and returns what the file holds, and whether
    /// direct I/O was used to the end.
    fn staged(chunks: &[&[u8]], direct: bool) -> (Vec<u8>, bool) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("staging");
        let mut out = StagingWriter::new(File::create(&path).unwrap(), direct);
        for chunk in chunks {
            out.write(chunk).unwrap();
        }
        let was_direct = out.direct;
        out.finish().unwrap().sync_all().unwrap();
        let mut content = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut content).unwrap();
        (content, was_direct)
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 4093) as u8).collect()
    }

    #[test]
    fn staging_writes_exactly_the_bytes_in_both_modes() {
        // Sizes around the alignment and the block, a few blocks plus a ragged tail, nothing.
        let sizes = [0, 1, ALIGN - 1, ALIGN, ALIGN + 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + ALIGN + 17];
        for direct in [true, false] {
            for size in sizes {
                let bytes = pattern(size);
                // Uneven network-sized chunks, so blocks fill across chunk boundaries.
                let chunks: Vec<&[u8]> = bytes.chunks(8191).collect();
                let (content, _) = staged(&chunks, direct);
                assert_eq!(content.len(), size, "size {size}, direct {direct}");
                assert!(content == bytes, "the staged bytes differ (size {size}, direct {direct})");
            }
        }
    }

    #[test]
    fn staging_stays_direct_where_the_filesystem_allows_it() {
        let probe = tempfile::tempfile().unwrap();
        let supported = set_direct(&probe, true).is_ok();
        let (_, direct) = staged(&[&pattern(2 * BLOCK + 5)], true);
        // On a disk filesystem (ext4 here and in CI) the whole upload goes direct; on one that
        // refuses `O_DIRECT` the writer falls back instead of failing.
        assert_eq!(direct, supported, "direct I/O supported: {supported}, used to the end: {direct}");
        let (_, direct) = staged(&[&pattern(BLOCK)], false);
        assert!(!direct, "direct I/O was used although it was not asked for");
    }

    #[test]
    fn a_direct_write_refused_at_write_time_is_written_again_buffered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("staging");
        let mut out = StagingWriter::new(File::create(&path).unwrap(), true);
        if !out.direct {
            return; // no direct I/O here at all: the fallback at open is what the other tests see
        }
        out.start += 1; // a misaligned block: the kernel refuses the first direct write (EINVAL)
        let bytes = pattern(BLOCK + 3 * ALIGN + 5);
        out.write(&bytes).unwrap();
        assert!(!out.direct, "the writer went on buffered");
        let file = out.finish().unwrap();
        file.sync_all().unwrap();
        assert!(fs::read(&path).unwrap() == bytes, "the block refused direct was written again, whole");
    }

    /// Staging files that cannot be written: every write fails with EBADF.
    #[derive(Debug)]
    struct ReadOnlyStaging(tempfile::TempDir);

    use futures_util::future::BoxFuture;

    impl BlobStore for ReadOnlyStaging {
        fn stage(&self) -> io::Result<Staged> {
            let path = self.0.path().join("upload");
            File::create(&path)?;
            Ok(Staged::new(File::open(&path)?, path))
        }
        fn head<'a>(&'a self, _: &'a str) -> BoxFuture<'a, io::Result<Option<u64>>> {
            Box::pin(async { Ok(None) })
        }
        fn commit<'a>(&'a self, _: Staged, _: &'a str) -> BoxFuture<'a, io::Result<()>> {
            Box::pin(async { Err(io::Error::other("nothing is committed in this test")) })
        }
        fn open_blob<'a>(&'a self, _: &'a str) -> BoxFuture<'a, io::Result<crate::blob::BlobReader>> {
            Box::pin(async { Err(io::ErrorKind::NotFound.into()) })
        }
        fn check(&self) -> BoxFuture<'_, io::Result<()>> {
            Box::pin(async { Ok(()) })
        }
    }

    #[actix_web::test]
    async fn a_failed_write_fails_the_upload_with_its_reason_and_leaves_nothing() {
        let store = Arc::new(ReadOnlyStaging(tempfile::tempdir().unwrap()));
        let staging = store.0.path().join("upload");
        let mut ingest = Ingest::start(store.clone(), u64::MAX).unwrap();
        let mut outcome = Ok(());
        for _ in 0..4 {
            outcome = ingest.push(Bytes::from(vec![7u8; BATCH])).await;
            if outcome.is_err() {
                break;
            }
        }
        let error = match outcome {
            Err(e) => {
                drop(ingest); // the request handler gives the upload up
                e
            }
            Ok(()) => ingest.finish().await.expect_err("an upload whose bytes cannot be written fails"),
        };
        assert!(error.to_string().contains("Bad file descriptor"), "the reason is kept: {error}");
        assert!(!staging.exists(), "the staging file is deleted");
    }
}
