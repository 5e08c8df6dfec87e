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
//! processes that crashed, and never touches one that is in use ([`LocalBlobStore::open`]).

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The digests and size of a blob, computed in the same pass that stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    pub sha256: String,
    pub sha512: String,
    pub size: u64,
}

/// Where blobs live. The local directory is the default; an S3-compatible store implements the
/// same trait (staging stays a local file, `commit` uploads it).
pub trait BlobStore: Send + Sync + fmt::Debug {
    /// A new private staging file for an upload.
    fn stage(&self) -> io::Result<Staged>;

    /// Whether the blob `sha256` is stored.
    fn contains(&self, sha256: &str) -> io::Result<bool>;

    /// Publishes a complete staging file as the blob `sha256`. The caller has hashed and
    /// fsynced it. If the blob is already stored, the staging file is simply discarded.
    fn commit(&self, staged: Staged, sha256: &str) -> io::Result<()>;

    /// Opens the blob `sha256` for reading.
    fn open_blob(&self, sha256: &str) -> io::Result<BlobReader>;
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

/// A stored blob, open for reading.
#[derive(Debug)]
pub struct BlobReader {
    file: File,
    len: u64,
}

impl BlobReader {
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn into_file(self) -> File {
        self.file
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}

impl Seek for BlobReader {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

/// Blobs in a local directory: `<root>/blobs/<aa>/<bb>/<sha256>`, staging in this process's
/// `<root>/tmp/<pid>-<random>`.
#[derive(Debug)]
pub struct LocalBlobStore {
    blobs: PathBuf,
    tmp: PathBuf,
    /// The staging directory, open and locked while the store is: the lock tells other
    /// processes it is in use.
    _held: File,
}

impl Drop for LocalBlobStore {
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

impl LocalBlobStore {
    /// Opens (creating if needed) the store under `root` with a staging directory of this
    /// process's, and removes what uploads interrupted by a crash left: the staging directories
    /// no process holds, and loose staging files (where versions before per-process staging
    /// put them; stop those before starting this one on the same store).
    pub fn open(root: &Path) -> io::Result<Self> {
        let blobs = root.join("blobs");
        let staging = root.join("tmp");
        fs::create_dir_all(&blobs)?;
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
            let mut random = [0u8; 8];
            getrandom::fill(&mut random).map_err(|e| io::Error::other(e.to_string()))?;
            let tmp = staging.join(format!("{}-{}", std::process::id(), hex::encode(random)));
            fs::create_dir(&tmp)?;
            // Another process's sweep may lock and remove it before this one holds it: then
            // try another.
            let held = match File::open(&tmp) {
                Ok(held) => held,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if try_lock(&held)? && still_there(&tmp, &held)? {
                return Ok(Self { blobs, tmp, _held: held });
            }
        }
    }

    /// The final location of a blob. `sha256` must be 64 lower-case hex characters: anything
    /// else is refused, so a name can never step outside the store.
    fn blob_path(&self, sha256: &str) -> io::Result<PathBuf> {
        if !checks::digest::is_sha256_hex(sha256) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a SHA-256 digest"));
        }
        Ok(self.blobs.join(&sha256[0..2]).join(&sha256[2..4]).join(sha256))
    }
}

impl BlobStore for LocalBlobStore {
    fn stage(&self) -> io::Result<Staged> {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|e| io::Error::other(e.to_string()))?;
        let path = self.tmp.join(format!("upload-{}", hex::encode(random)));
        let file = fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
        Ok(Staged::new(file, path))
    }

    fn contains(&self, sha256: &str) -> io::Result<bool> {
        self.blob_path(sha256)?.try_exists()
    }

    fn commit(&self, mut staged: Staged, sha256: &str) -> io::Result<()> {
        let target = self.blob_path(sha256)?;
        drop(staged.file.take());
        if target.try_exists()? {
            return Ok(()); // identical bytes are stored once; `staged` is deleted on drop
        }
        let dir = target.parent().ok_or_else(|| io::Error::other("blob path without a parent"))?;
        fs::create_dir_all(dir)?;
        fs::rename(&staged.path, &target)?;
        staged.path = PathBuf::new(); // nothing left to delete
        // The rename is durable only once the directory entry is on disk.
        File::open(dir)?.sync_all()?;
        Ok(())
    }

    fn open_blob(&self, sha256: &str) -> io::Result<BlobReader> {
        let file = File::open(self.blob_path(sha256)?)?;
        let len = file.metadata()?.len();
        Ok(BlobReader { file, len })
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

    #[test]
    fn commit_names_the_blob_by_hash_and_stores_identical_bytes_once() {
        let root = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(root.path()).unwrap();
        let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        for _ in 0..2 {
            let mut staged = store.stage().unwrap();
            staged.file().unwrap().write_all(b"abc").unwrap();
            store.commit(staged, sha).unwrap();
        }
        let mut content = String::new();
        store.open_blob(sha).unwrap().read_to_string(&mut content).unwrap();
        assert_eq!(content, "abc");
        assert!(root.path().join("blobs/ba/78").join(sha).exists());
        assert_eq!(fs::read_dir(&store.tmp).unwrap().count(), 0, "no staging file is left");
    }

    #[test]
    fn refuses_names_that_are_not_digests() {
        let root = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(root.path()).unwrap();
        let err = store.open_blob("../../etc/passwd").unwrap_err();
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
    #[test]
    fn opening_the_store_again_leaves_uploads_in_flight_alone() {
        let root = tempfile::tempdir().unwrap();
        let serving = LocalBlobStore::open(root.path()).unwrap();
        let mut staged = serving.stage().unwrap();
        staged.file().unwrap().write_all(b"abc").unwrap();
        let other = LocalBlobStore::open(root.path()).unwrap();
        assert!(staged.path().exists(), "the staging file of an upload in flight is kept");
        assert_ne!(serving.tmp, other.tmp, "each process stages in a directory of its own");
        staged.file().unwrap().sync_all().unwrap();
        let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        serving.commit(staged, sha).unwrap();
        let mut read = String::new();
        other.open_blob(sha).unwrap().read_to_string(&mut read).unwrap();
        assert_eq!(read, "abc", "and the other process reads what it committed");
        let left = serving.tmp.join("upload-left-by-a-crash");
        fs::write(&left, b"partial").unwrap();
        drop(serving);
        assert!(left.exists(), "a directory with a file in it stays until a sweep");
        let _third = LocalBlobStore::open(root.path()).unwrap();
        assert!(!left.exists(), "the sweep removed the directory no process holds");
        assert_eq!(fs::read_dir(root.path().join("tmp")).unwrap().count(), 2, "those of the open stores stay");
    }
}
