//! The content-addressed blob store: release file bytes, named by their SHA-256.
//!
//! An upload is written to a private staging file; only a complete, hashed and fsynced file is
//! renamed to `blobs/<aa>/<bb>/<sha256>`, and the database row is written after that. A crash at
//! any moment therefore leaves no visible partial blob and no row without bytes.
//!
//! Several processes may share one store (datastores behind a balancer, and the `datastore`
//! operations commands beside a running server): each stages in a directory of its own,
//! `tmp/<pid>-<random>`, which it holds an advisory lock (`flock`) on while the store is open.
//! A process that opens the store removes the staging directories whose lock is free, those of
//! processes that crashed, and never touches one that is in use ([`Staging::open`]).
//!
//! The store is async and storage-neutral ([`BlobStore`]: stage, commit, head, open for a range
//! stream): the blobs live in a local directory ([`LocalBlobStore`], the default) or in an
//! S3-compatible bucket ([`s3::S3BlobStore`], `DATASTORE_BLOB_URL=s3://bucket/prefix`). Staging
//! is a local file either way: the content address is known only once the last byte is hashed.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

pub mod s3;

/// The digests and size of a blob, computed in the same pass that stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    pub sha256: String,
    pub sha512: String,
    pub size: u64,
}

/// A blob store that does not answer now (a bucket that is down, refuses the credentials or
/// times out), as the source of an [`io::Error`]: the client gets 503 and comes back later.
#[derive(Debug)]
pub struct Unreachable(pub String);

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the blob store does not answer: {}", self.0)
    }
}

impl std::error::Error for Unreachable {}

/// A failure of the blob store as the client sees it: 503 with `Retry-After` when the store
/// does not answer, else 500; the cause (endpoint, bucket, key) goes to the log only.
pub fn failure(doing: &str, e: &io::Error) -> crate::error::AppError {
    if e.get_ref().is_some_and(|inner| inner.is::<Unreachable>()) {
        tracing::error!(error = %e, "{doing}");
        crate::error::AppError::unavailable("The file store does not answer now; nothing was lost, try again shortly.")
            .retry_after(30)
    } else {
        crate::error::AppError::internal(format!("{doing}: {e}"))
    }
}

/// Where blobs live: a local directory or an S3-compatible bucket. Every name is a SHA-256 in
/// lower-case hex; anything else is refused with `InvalidInput`.
pub trait BlobStore: Send + Sync + fmt::Debug {
    /// A new private staging file for an upload (always local).
    fn stage(&self) -> io::Result<Staged>;

    /// The size of the blob `sha256`, if it is stored.
    fn head<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, io::Result<Option<u64>>>;

    /// Publishes a complete staging file as the blob `sha256`. The caller has hashed and
    /// fsynced it. If the blob is already stored, the staging file is simply discarded; it is
    /// deleted in every case.
    fn commit<'a>(&'a self, staged: Staged, sha256: &'a str) -> BoxFuture<'a, io::Result<()>>;

    /// Opens the blob `sha256` for reading (`NotFound` if it is not stored).
    fn open_blob<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, io::Result<BlobReader>>;

    /// Whether the store takes files now (for `/readyz`).
    fn check(&self) -> BoxFuture<'_, io::Result<()>>;

    /// The directory the blobs are files in (`aa/bb/<sha256>`), for nginx's `X-Accel-Redirect`
    /// and for backups; `None` where they are not local files.
    fn local_dir(&self) -> Option<&Path> {
        None
    }
}

/// Whether `sha256` may name a blob: 64 lower-case hex characters, so that a name can never
/// step outside the store.
fn checked(sha256: &str) -> io::Result<&str> {
    if checks::digest::is_sha256_hex(sha256) {
        Ok(sha256)
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, "not a SHA-256 digest"))
    }
}

/// Where a blob lives below the store's root: `aa/bb/<sha256>`.
fn relative_name(sha256: &str) -> io::Result<String> {
    let sha256 = checked(sha256)?;
    Ok(format!("{}/{}/{sha256}", &sha256[0..2], &sha256[2..4]))
}

/// A staging file. Dropping it without committing deletes it.
#[derive(Debug)]
pub struct Staged {
    file: Option<File>,
    path: PathBuf,
}

impl Staged {
    /// A staging file at `path`, open for writing; for [`BlobStore::stage`] implementations.
    pub fn new(file: File, path: PathBuf) -> Self {
        Self { file: Some(file), path }
    }

    pub fn file(&mut self) -> io::Result<&mut File> {
        self.file.as_mut().ok_or_else(|| io::Error::other("the staging file is already closed"))
    }

    /// Moves the file handle out, for a writer thread; hand it back with [`Staged::restore`].
    pub fn take_file(&mut self) -> Option<File> {
        self.file.take()
    }

    pub fn restore(&mut self, file: File) {
        self.file = Some(file);
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty()
            && let Err(e) = fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove a staging file");
        }
    }
}

/// A stored blob, open for reading: its size, and a source of byte ranges.
pub struct BlobReader {
    len: u64,
    source: Source,
}

enum Source {
    File(Arc<File>),
    Object { store: Arc<dyn object_store::ObjectStore>, path: object_store::path::Path },
}

impl fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            Source::File(_) => "file".to_owned(),
            Source::Object { path, .. } => format!("object {path}"),
        };
        f.debug_struct("BlobReader").field("len", &self.len).field("source", &source).finish()
    }
}

/// Bytes per read when streaming a file.
const CHUNK: usize = 512 * 1024;

impl BlobReader {
    fn file(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Self { len, source: Source::File(Arc::new(file)) })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `count` bytes from `start` (within the blob), a chunk at a time.
    ///
    /// From a file, each chunk is read on a blocking thread held only for that read (a slow
    /// client holds no thread), a few chunks ahead of the consumer, into fresh memory that
    /// becomes the `Bytes` sent on without another copy. From an object, one ranged `GET`.
    pub fn stream(self, start: u64, count: u64) -> BoxStream<'static, io::Result<Bytes>> {
        use futures_util::{StreamExt, TryStreamExt};
        if count == 0 {
            return futures_util::stream::empty().boxed();
        }
        match self.source {
            Source::File(file) => file_stream(file, start, count).boxed(),
            Source::Object { store, path } => futures_util::stream::once(async move {
                let options =
                    object_store::GetOptions { range: Some((start..start + count).into()), ..Default::default() };
                let got = store.get_opts(&path, options).await.map_err(s3::io_error)?;
                Ok::<_, io::Error>(got.into_stream().map_err(s3::io_error))
            })
            .try_flatten()
            .boxed(),
        }
    }

    /// All the bytes, for a small blob.
    pub async fn read_all(self) -> io::Result<Bytes> {
        use futures_util::TryStreamExt;
        let len = usize::try_from(self.len).map_err(io::Error::other)?;
        match self.source {
            Source::File(file) => tokio::task::spawn_blocking(move || {
                let mut bytes = Vec::with_capacity(len);
                while bytes.len() < len {
                    let at = bytes.len() as u64;
                    match rustix::io::pread(&*file, rustix::buffer::spare_capacity(&mut bytes), at) {
                        Ok(0) => return Err(short()),
                        Ok(_) | Err(rustix::io::Errno::INTR) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(Bytes::from(bytes))
            })
            .await
            .map_err(io::Error::other)?,
            Source::Object { .. } => {
                let mut bytes = Vec::with_capacity(len);
                let mut stream = self.stream(0, len as u64);
                while let Some(chunk) = stream.try_next().await? {
                    bytes.extend_from_slice(&chunk);
                }
                if bytes.len() != len {
                    return Err(short());
                }
                Ok(Bytes::from(bytes))
            }
        }
    }
}

fn short() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "blob shorter than recorded")
}

fn file_stream(file: Arc<File>, start: u64, count: u64) -> impl futures_util::Stream<Item = io::Result<Bytes>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
    tokio::spawn(async move {
        let (mut offset, end) = (start, start + count);
        while offset < end {
            let want = usize::try_from(end - offset).map_or(CHUNK, |r| r.min(CHUNK));
            let file = file.clone();
            let read = tokio::task::spawn_blocking(move || read_at(&file, want, offset)).await;
            let item = read.unwrap_or_else(|e| Err(io::Error::other(format!("a read failed: {e}"))));
            if let Ok(bytes) = &item {
                offset += bytes.len() as u64;
            }
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                return; // the consumer went away, or the read failed
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}

/// Up to `want` bytes of `file` at `offset`, into a buffer of their own.
fn read_at(file: &File, want: usize, offset: u64) -> io::Result<Bytes> {
    let mut buf = Vec::with_capacity(want);
    loop {
        match rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buf), offset) {
            Ok(0) => return Err(short()),
            Ok(_) => return Ok(Bytes::from(buf)),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(io::Error::from(e)),
        }
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| io::Error::other(format!("a file operation failed: {e}")))?
}

/// This process's staging directory `<root>/tmp/<pid>-<random>`, open and locked while it is
/// in use: the lock tells other processes to leave it alone.
#[derive(Debug)]
pub struct Staging {
    tmp: PathBuf,
    _held: File,
}

impl Drop for Staging {
    /// Removes the staging directory if it is empty (a sweep removes it otherwise).
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.tmp);
    }
}

/// Takes the exclusive lock (`flock`) of `file` (or directory) open as `file`, if no other
/// open file description holds it: `false` when one does. It lasts as long as `file` is open.
pub(crate) fn try_lock(file: &File) -> io::Result<bool> {
    match rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Whether `path` still names the directory open as `dir` (a sweep may have removed it).
fn still_there(path: &Path, dir: &File) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let held = dir.metadata()?;
    match fs::metadata(path) {
        Ok(named) => Ok(named.ino() == held.ino() && named.dev() == held.dev()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

impl Staging {
    /// Opens (creating if needed) `<root>/tmp` with a staging directory of this process's, and
    /// removes what uploads interrupted by a crash left: the staging directories no process
    /// holds, and loose staging files (where versions before per-process staging put them;
    /// stop those before starting this one on the same store).
    pub fn open(root: &Path) -> io::Result<Self> {
        let staging = root.join("tmp");
        fs::create_dir_all(&staging)?;
        let mut removed = 0usize;
        // What cannot be removed is logged and left: it never stops this process from starting.
        for entry in fs::read_dir(&staging)? {
            let entry = entry?;
            let path = entry.path();
            let swept = entry.file_type().and_then(|kind| {
                if kind.is_file() {
                    fs::remove_file(&path).map(|()| 1)
                } else if kind.is_dir() {
                    let dir = File::open(&path)?;
                    // Free: its process is gone (a lock dies with its process). The directory
                    // is removed while the lock is held, so its owner cannot have taken it.
                    if try_lock(&dir)? && still_there(&path, &dir)? {
                        let files = fs::read_dir(&path)?.count();
                        fs::remove_dir_all(&path).map(|()| files)
                    } else {
                        Ok(0)
                    }
                } else {
                    Ok(0) // a symbolic link or another kind: not ours, never followed
                }
            });
            match swept {
                Ok(n) => removed += n,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {} // another process swept it
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot remove leftover staging"),
            }
        }
        if removed > 0 {
            tracing::info!(removed, dir = %staging.display(), "removed staging files of interrupted uploads");
        }
        loop {
            let tmp = staging.join(format!("{}-{}", std::process::id(), random_hex::<8>()?));
            fs::create_dir(&tmp)?;
            // Another process's sweep may lock and remove it before this one holds it: then
            // try another.
            let held = match File::open(&tmp) {
                Ok(held) => held,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if try_lock(&held)? && still_there(&tmp, &held)? {
                return Ok(Self { tmp, _held: held });
            }
        }
    }

    /// A new staging file.
    pub fn stage(&self) -> io::Result<Staged> {
        let path = self.tmp.join(format!("upload-{}", random_hex::<16>()?));
        let file = fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
        Ok(Staged::new(file, path))
    }
}

fn random_hex<const N: usize>() -> io::Result<String> {
    let mut random = [0u8; N];
    getrandom::fill(&mut random).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(hex::encode(random))
}

/// Blobs in a local directory: `<root>/blobs/<aa>/<bb>/<sha256>`, staging in this process's
/// `<root>/tmp/<pid>-<random>`.
#[derive(Debug)]
pub struct LocalBlobStore {
    blobs: PathBuf,
    staging: Staging,
}

impl LocalBlobStore {
    /// Opens (creating if needed) the store under `root`; see [`Staging::open`].
    pub fn open(root: &Path) -> io::Result<Self> {
        let blobs = root.join("blobs");
        fs::create_dir_all(&blobs)?;
        Ok(Self { blobs, staging: Staging::open(root)? })
    }

    fn blob_path(&self, sha256: &str) -> io::Result<PathBuf> {
        Ok(self.blobs.join(relative_name(sha256)?))
    }
}

/// Renames a staged file to `target` (once), durably.
fn rename_into_place(mut staged: Staged, target: &Path) -> io::Result<()> {
    drop(staged.file.take());
    if target.try_exists()? {
        return Ok(()); // identical bytes are stored once; `staged` is deleted on drop
    }
    let dir = target.parent().ok_or_else(|| io::Error::other("blob path without a parent"))?;
    fs::create_dir_all(dir)?;
    fs::rename(&staged.path, target)?;
    staged.path = PathBuf::new(); // nothing left to delete
    // The rename is durable only once the directory entry is on disk.
    File::open(dir)?.sync_all()
}

/// The size of the file at `path`, if there is one.
fn file_size(path: &Path) -> io::Result<Option<u64>> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(meta.len())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl BlobStore for LocalBlobStore {
    fn stage(&self) -> io::Result<Staged> {
        self.staging.stage()
    }

    fn head<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, io::Result<Option<u64>>> {
        Box::pin(async move {
            let path = self.blob_path(sha256)?;
            blocking(move || file_size(&path)).await
        })
    }

    fn commit<'a>(&'a self, staged: Staged, sha256: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let target = self.blob_path(sha256)?;
            blocking(move || rename_into_place(staged, &target)).await
        })
    }

    fn open_blob<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, io::Result<BlobReader>> {
        Box::pin(async move {
            let path = self.blob_path(sha256)?;
            blocking(move || BlobReader::file(File::open(path)?)).await
        })
    }

    fn check(&self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move { self.stage().map(drop) })
    }

    fn local_dir(&self) -> Option<&Path> {
        Some(&self.blobs)
    }
}
#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn staging_is_invisible_until_commit_and_removed_on_drop() {
        let root = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(root.path()).unwrap();
        let mut staged = store.stage().unwrap();
        staged.file().unwrap().write_all(b"abc").unwrap();
        let staging_path = staged.path().to_owned();
        assert!(staging_path.exists());
        drop(staged);
        assert!(!staging_path.exists(), "an abandoned upload leaves nothing behind");
        assert_eq!(fs::read_dir(root.path().join("blobs")).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn commit_names_the_blob_by_hash_and_stores_identical_bytes_once() {
        let root = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(root.path()).unwrap();
        let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        for _ in 0..2 {
            let mut staged = store.stage().unwrap();
            staged.file().unwrap().write_all(b"abc").unwrap();
            store.commit(staged, sha).await.unwrap();
        }
        assert_eq!(store.open_blob(sha).await.unwrap().read_all().await.unwrap(), "abc");
        assert_eq!(store.head(sha).await.unwrap(), Some(3));
        assert!(root.path().join("blobs/ba/78").join(sha).exists());
        assert_eq!(fs::read_dir(&store.staging.tmp).unwrap().count(), 0, "no staging file is left");
    }

    #[tokio::test]
    async fn refuses_names_that_are_not_digests() {
        let root = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(root.path()).unwrap();
        let err = store.open_blob("../../etc/passwd").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let err = store.head("AB").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn start_removes_leftover_staging_files() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("tmp/4242-dead")).unwrap();
        fs::write(root.path().join("tmp/4242-dead/upload-1"), b"partial").unwrap();
        fs::write(root.path().join("tmp/upload-dead"), b"partial, in the layout of earlier versions").unwrap();
        LocalBlobStore::open(root.path()).unwrap();
        assert!(!root.path().join("tmp/4242-dead").exists(), "no process holds it");
        assert!(!root.path().join("tmp/upload-dead").exists());
    }

    /// A second process opening the store (an operator's `datastore token create` beside the
    /// server, or a second datastore) leaves the first one's uploads alone.
    #[tokio::test]
    async fn opening_the_store_again_leaves_uploads_in_flight_alone() {
        let root = tempfile::tempdir().unwrap();
        let serving = LocalBlobStore::open(root.path()).unwrap();
        let mut staged = serving.stage().unwrap();
        staged.file().unwrap().write_all(b"abc").unwrap();
        let other = LocalBlobStore::open(root.path()).unwrap();
        assert!(staged.path().exists(), "the staging file of an upload in flight is kept");
        assert_ne!(serving.staging.tmp, other.staging.tmp, "each process stages in a directory of its own");
        staged.file().unwrap().sync_all().unwrap();
        let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        serving.commit(staged, sha).await.unwrap();
        let read = other.open_blob(sha).await.unwrap().read_all().await.unwrap();
        assert_eq!(read, "abc", "and the other process reads what it committed");
        let left = serving.staging.tmp.join("upload-left-by-a-crash");
        fs::write(&left, b"partial").unwrap();
        drop(serving);
        assert!(left.exists(), "a directory with a file in it stays until a sweep");
        let _third = LocalBlobStore::open(root.path()).unwrap();
        assert!(!left.exists(), "the sweep removed the directory no process holds");
        assert_eq!(fs::read_dir(root.path().join("tmp")).unwrap().count(), 2, "those of the open stores stay");
    }

    #[tokio::test]
    async fn a_range_streams_exactly_its_bytes() {
        use futures_util::TryStreamExt;
        let root = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(root.path()).unwrap();
        let bytes: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| (i % 251) as u8).collect();
        let sha = hex::encode(openssl::sha::sha256(&bytes));
        let mut staged = store.stage().unwrap();
        staged.file().unwrap().write_all(&bytes).unwrap();
        store.commit(staged, &sha).await.unwrap();
        for (start, count) in [(0, bytes.len()), (1, CHUNK), (CHUNK - 1, 2 * CHUNK + 3), (bytes.len() - 1, 1), (5, 0)] {
            let reader = store.open_blob(&sha).await.unwrap();
            assert_eq!(reader.len(), bytes.len() as u64);
            let chunks: Vec<Bytes> = reader.stream(start as u64, count as u64).try_collect().await.unwrap();
            assert_eq!(chunks.concat(), &bytes[start..start + count], "{start}+{count}");
        }
        assert_eq!(store.open_blob(&"0".repeat(64)).await.unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(store.head(&"0".repeat(64)).await.unwrap(), None);
    }
}
