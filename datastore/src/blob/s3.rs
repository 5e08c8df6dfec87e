//! Blobs in an S3-compatible bucket (`DATASTORE_BLOB_URL=s3://bucket/prefix`): the object
//! `<prefix>/aa/bb/<sha256>` holds the blob `<sha256>`. Credentials, region and endpoint come
//! from the usual variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP` for a plain-HTTP endpoint on a private network).
//!
//! An upload is staged and hashed in a local file as with the local store; `commit` then sends
//! it, in one `PUT` up to [`PART`] bytes and as a multipart upload of [`PART`]-sized parts, a
//! few at once, above that. An object appears whole or not at all (S3 completes a multipart
//! upload atomically), and the database row is written after `commit` returns, so a crash
//! leaves no row without bytes; the parts of a multipart upload a crash interrupted stay
//! invisible until the bucket's lifecycle rule for incomplete uploads removes them.
//!
//! Every request is signed with SigV4 over the SHA-256 of its body (no `UNSIGNED-PAYLOAD`), so
//! the server refuses a part damaged on the way. At most [`SENDS_AT_ONCE`] blobs are sent at
//! once by the process, which bounds the memory the parts in flight take.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, RetryConfig, WriteMultipart};

use super::{BlobReader, BlobStore, Source, Staged, Staging, blocking, read_at, relative_name};

/// The size of one part of a multipart upload, and the largest blob sent in one `PUT`. S3 takes
/// at most 10,000 parts: 160 GiB.
pub const PART: usize = 16 * 1024 * 1024;
/// Parts in flight at once, per upload.
const PARTS_AT_ONCE: usize = 4;
/// Blobs sent at once, by the whole process: with [`PARTS_AT_ONCE`] (and the part being read),
/// at most 4 × 5 × 16 MiB = 320 MiB of parts are in memory whatever the number of uploads;
/// a commit beyond these waits its turn.
const SENDS_AT_ONCE: usize = 4;

/// An S3-compatible bucket.
#[derive(Debug)]
pub struct S3BlobStore {
    store: Arc<dyn ObjectStore>,
    /// The key prefix, without a trailing `/`; empty for the bucket's root.
    prefix: String,
    staging: Staging,
    sends: tokio::sync::Semaphore,
}

/// An object store failure as an I/O error: `NotFound` stays `NotFound`; anything else is the
/// bucket failing ([`super::Unreachable`], a 503 for the client, its details only in the log).
pub(super) fn io_error(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e.to_string()),
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            io::Error::other(super::Unreachable(format!(
                "the bucket refuses these credentials ({e}); the datastore needs s3:GetObject, s3:PutObject, \
                 s3:AbortMultipartUpload and s3:ListBucket on it (without ListBucket, S3 answers a HEAD of a \
                 missing object with 403 instead of 404, and every new file fails)"
            )))
        }
        other => io::Error::other(super::Unreachable(other.to_string())),
    }
}

impl S3BlobStore {
    /// The store `url` names (`s3://bucket` or `s3://bucket/prefix`), configured from the
    /// environment's `AWS_*` variables; staging under `state_dir/tmp`. Nothing is sent yet:
    /// `/readyz` tells whether the bucket answers.
    pub fn open(url: &str, state_dir: &Path) -> anyhow::Result<Self> {
        let parsed = reqwest::Url::parse(url).map_err(|e| anyhow::anyhow!("DATASTORE_BLOB_URL {url}: {e}"))?;
        anyhow::ensure!(parsed.scheme() == "s3", "DATASTORE_BLOB_URL {url}: the scheme must be s3://");
        let bucket = parsed.host_str().filter(|b| !b.is_empty());
        let bucket =
            bucket.ok_or_else(|| anyhow::anyhow!("DATASTORE_BLOB_URL {url}: no bucket (s3://bucket/prefix)"))?;
        anyhow::ensure!(
            parsed.query().is_none() && parsed.fragment().is_none() && parsed.username().is_empty(),
            "DATASTORE_BLOB_URL {url}: only s3://bucket/prefix; credentials go in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        );
        let prefix = parsed.path().trim_matches('/').to_owned();
        anyhow::ensure!(
            prefix.is_empty()
                || prefix.split('/').all(|segment| !segment.is_empty() && segment != "." && segment != ".."),
            "DATASTORE_BLOB_URL {url}: the prefix has an empty, . or .. segment"
        );
        let retry = RetryConfig { max_retries: 3, retry_timeout: Duration::from_secs(30), ..RetryConfig::default() };
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            // (The client's options, `AWS_ALLOW_HTTP` among them, are those of the environment:
            // `with_client_options` would replace them. Its timeouts: 5 s to connect, 30 s a request.)
            .with_retry(retry)
            .build()
            .map_err(|e| anyhow::anyhow!("DATASTORE_BLOB_URL {url}: {e}"))?;
        let staging = Staging::open(state_dir)?;
        Ok(Self { store: Arc::new(store), prefix, staging, sends: tokio::sync::Semaphore::new(SENDS_AT_ONCE) })
    }

    fn object(&self, sha256: &str) -> io::Result<ObjectPath> {
        let name = relative_name(sha256)?;
        let key = if self.prefix.is_empty() { name } else { format!("{}/{name}", self.prefix) };
        ObjectPath::parse(key).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
    }

    async fn size(&self, path: &ObjectPath) -> io::Result<Option<u64>> {
        match self.store.head(path).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(io_error(e)),
        }
    }

    /// Sends the file at `path` (`len` bytes) as the object `to`.
    async fn send(&self, file: Arc<std::fs::File>, len: u64, to: &ObjectPath) -> io::Result<()> {
        if len <= PART as u64 {
            let bytes = blocking(move || read_exactly(&file, 0, len)).await?;
            self.store.put(to, bytes.into()).await.map_err(io_error)?;
            return Ok(());
        }
        let upload = self.store.put_multipart(to).await.map_err(io_error)?;
        let mut parts = WriteMultipart::new_with_chunk_size(upload, PART);
        let sent = async {
            let mut offset = 0;
            while offset < len {
                let want = (len - offset).min(PART as u64);
                let part = {
                    let file = file.clone();
                    blocking(move || read_exactly(&file, offset, want)).await?
                };
                parts.wait_for_capacity(PARTS_AT_ONCE).await.map_err(io_error)?;
                offset += part.len() as u64;
                parts.put(part);
            }
            Ok::<_, io::Error>(())
        }
        .await;
        match sent {
            Ok(()) => parts.finish().await.map(drop).map_err(io_error),
            Err(e) => {
                if let Err(abort) = parts.abort().await {
                    tracing::warn!(object = %to, error = %abort, "cannot abort a failed multipart upload");
                }
                Err(e)
            }
        }
    }
}

/// `want` bytes of `file` from `offset`: a short file is an error.
fn read_exactly(file: &std::fs::File, offset: u64, want: u64) -> io::Result<bytes::Bytes> {
    let want = usize::try_from(want).map_err(io::Error::other)?;
    let mut chunks = Vec::new();
    let mut got = 0;
    while got < want {
        let chunk = read_at(file, want - got, offset + got as u64)?;
        got += chunk.len();
        chunks.push(chunk);
    }
    Ok(if chunks.len() == 1 { chunks.remove(0) } else { bytes::Bytes::from(chunks.concat()) })
}

impl BlobStore for S3BlobStore {
    fn stage(&self) -> io::Result<Staged> {
        self.staging.stage()
    }

    fn head<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, io::Result<Option<u64>>> {
        Box::pin(async move { self.size(&self.object(sha256)?).await })
    }

    fn commit<'a>(&'a self, mut staged: Staged, sha256: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let to = self.object(sha256)?;
            drop(staged.take_file());
            let path = staged.path().to_owned();
            let file = blocking(move || std::fs::File::open(path)).await?;
            let len = file.metadata()?.len();
            match self.size(&to).await? {
                // Identical bytes are stored once; `staged` is deleted on drop.
                Some(stored) if stored == len => return Ok(()),
                Some(stored) => {
                    tracing::warn!(object = %to, stored, len, "an object of another size under this digest; sending it again")
                }
                None => {}
            }
            let _turn = self.sends.acquire().await.map_err(io::Error::other)?;
            let started = std::time::Instant::now();
            self.send(Arc::new(file), len, &to).await?;
            tracing::debug!(object = %to, len, ms = started.elapsed().as_millis(), "blob sent to the bucket");
            Ok(())
        })
    }

    fn open_blob<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, io::Result<BlobReader>> {
        Box::pin(async move {
            let path = self.object(sha256)?;
            let len = self
                .size(&path)
                .await?
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no object {path}")))?;
            Ok(BlobReader { len, source: Source::Object { store: self.store.clone(), path } })
        })
    }

    /// A staging file can be made, and the bucket answers with these credentials (the probe
    /// object need not exist).
    fn check(&self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            self.stage().map(drop)?;
            let probe = self.object(&"0".repeat(64))?;
            self.size(&probe).await.map(drop)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_an_optional_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let store = S3BlobStore::open("s3://releases/trusted/blobs/", dir.path()).unwrap();
        assert_eq!(store.prefix, "trusted/blobs");
        let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(store.object(sha).unwrap().as_ref(), format!("trusted/blobs/ba/78/{sha}"));
        assert_eq!(
            S3BlobStore::open("s3://releases", dir.path()).unwrap().object(sha).unwrap().as_ref(),
            &format!("ba/78/{sha}")
        );
        for bad in ["https://releases/x", "s3:///x", "s3://key:secret@releases", "s3://releases/a//b", "s3://b?x=1"] {
            assert!(S3BlobStore::open(bad, dir.path()).is_err(), "{bad}");
        }
        assert_eq!(store.object("../x").unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
