//! The content-addressed blob store: release file bytes, named by their SHA-256.
//!
//! An upload is written to a private staging file; only a complete, hashed and fsynced file is
//! renamed to `blobs/<aa>/<bb>/<sha256>`, and the database row is written after that. A crash at
//! any moment therefore leaves no visible partial blob and no row without bytes; staging files
//! left by a crash are removed at start ([`LocalBlobStore::open`]).

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

/// Blobs in a local directory: `<root>/blobs/<aa>/<bb>/<sha256>`, staging in `<root>/tmp`.
#[derive(Debug)]
pub struct LocalBlobStore {
    blobs: PathBuf,
    tmp: PathBuf,
}

impl LocalBlobStore {
    /// Opens (creating if needed) the store under `root`, and removes staging files left by a
    /// process that died mid-upload.
    pub fn open(root: &Path) -> io::Result<Self> {
        let blobs = root.join("blobs");
        let tmp = root.join("tmp");
        fs::create_dir_all(&blobs)?;
        fs::create_dir_all(&tmp)?;
        let mut removed = 0usize;
        for entry in fs::read_dir(&tmp)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        if removed > 0 {
            tracing::info!(removed, dir = %tmp.display(), "removed staging files of interrupted uploads");
        }
        Ok(Self { blobs, tmp })
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
        assert_eq!(fs::read_dir(root.path().join("tmp")).unwrap().count(), 0);
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
        fs::create_dir_all(root.path().join("tmp")).unwrap();
        fs::write(root.path().join("tmp/upload-dead"), b"partial").unwrap();
        LocalBlobStore::open(root.path()).unwrap();
        assert!(!root.path().join("tmp/upload-dead").exists());
    }
}
