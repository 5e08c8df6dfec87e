//! The typed client of the datastore's runner protocol. Network errors, 5xx and 429 are retried
//! with exponential backoff and full jitter; any other 4xx is final (and 409 means the lease is
//! lost: the task must stop).

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use shared_models::runner::{
    BlobStored, ClaimRequest, ClaimResponse, LeaseRequest, LeaseResponse, LogRequest, ResultRequest, ResultResponse,
    TaskInput, TaskOrder,
};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the lease is lost (409 lease_lost): another runner has the task, or it expired")]
    LeaseLost,
    #[error("the datastore refused the request: {status} {body}")]
    Refused { status: StatusCode, body: String },
    #[error("the datastore cannot be reached: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("the datastore kept failing: {0}")]
    GaveUp(String),
    #[error("writing a download failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the blob {expected} arrived with SHA-256 {actual} ({bytes} bytes): corrupted in transit")]
    Digest { expected: String, actual: String, bytes: u64 },
}

/// How often to try a call that fails in a retryable way.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Retry {
    /// For results and lease renewals: worth a few tries within a lease's lifetime.
    pub const SOON: Retry = Retry { attempts: 6, base: Duration::from_millis(250), cap: Duration::from_secs(8) };

    /// Full jitter: a random wait in [0, min(cap, base × 2^attempt)].
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.base.saturating_mul(1u32 << attempt.min(16)).min(self.cap);
        let mut bytes = [0u8; 4];
        let fraction = match getrandom::fill(&mut bytes) {
            Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
            Err(_) => 0.5,
        };
        ceiling.mul_f64(fraction)
    }
}

/// A connection to one datastore, with this runner's token.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    last_contact: Arc<Mutex<Option<DateTime<Utc>>>>,
}

fn retryable(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

impl Client {
    pub fn new(base: &str, token: &str) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("trusted-releases-runner/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(90))
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            last_contact: Arc::default(),
        })
    }

    /// When the datastore last answered (any status).
    pub fn last_contact(&self) -> Option<DateTime<Utc>> {
        self.last_contact.lock().ok().and_then(|c| *c)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/runner/v1{path}", self.base)
    }

    /// Sends the request `build` makes, retrying what is worth retrying.
    async fn send(&self, retry: Retry, build: impl Fn() -> RequestBuilder) -> Result<Response, ClientError> {
        let mut last = String::new();
        for attempt in 0..retry.attempts {
            if attempt > 0 {
                tokio::time::sleep(retry.delay(attempt)).await;
            }
            match build().bearer_auth(&self.token).send().await {
                Ok(response) => {
                    if let Ok(mut contact) = self.last_contact.lock() {
                        *contact = Some(Utc::now());
                    }
                    let status = response.status();
                    if status == StatusCode::CONFLICT {
                        // Only `lease_lost` means the task is not this runner's any more; any
                        // other conflict (a log gap, say) is a refusal like the other 4xx.
                        let body = response.text().await.unwrap_or_default();
                        let code = serde_json::from_str::<shared_models::ErrorBody>(&body).ok().map(|e| e.error);
                        if code.as_deref() == Some("lease_lost") {
                            return Err(ClientError::LeaseLost);
                        }
                        return Err(ClientError::Refused { status, body: body.chars().take(500).collect() });
                    }
                    if retryable(status) {
                        if let Some(wait) = response
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<u64>().ok())
                        {
                            tokio::time::sleep(Duration::from_secs(wait.min(60))).await;
                        }
                        last = format!("{status}");
                        tracing::warn!(%status, attempt, "datastore answered with a retryable status");
                        continue;
                    }
                    if status.is_client_error() {
                        let body = response.text().await.unwrap_or_default();
                        return Err(ClientError::Refused { status, body: body.chars().take(500).collect() });
                    }
                    return Ok(response);
                }
                Err(e) if e.is_builder() => return Err(e.into()),
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "datastore not reachable");
                    last = e.to_string();
                }
            }
        }
        Err(ClientError::GaveUp(last))
    }

    async fn json<T: DeserializeOwned>(response: Response) -> Result<T, ClientError> {
        Ok(response.json().await?)
    }

    /// Long-polls for up to `capacity` tasks; an empty list when there was no work.
    pub async fn claim(&self, request: &ClaimRequest) -> Result<Vec<TaskOrder>, ClientError> {
        let wait = Duration::from_secs(u64::from(request.wait_s.unwrap_or(25)) + 15);
        let retry = Retry { attempts: 1, ..Retry::SOON };
        let response = self.send(retry, || self.http.post(self.url("/claim")).timeout(wait).json(request)).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(Vec::new());
        }
        Ok(Self::json::<ClaimResponse>(response).await?.tasks)
    }

    pub async fn renew(
        &self,
        id: i64,
        lease_token: &str,
        progress: Option<String>,
    ) -> Result<LeaseResponse, ClientError> {
        let body = LeaseRequest { lease_token: lease_token.to_owned(), progress };
        let response =
            self.send(Retry::SOON, || self.http.post(self.url(&format!("/tasks/{id}/lease"))).json(&body)).await?;
        Self::json(response).await
    }

    pub async fn log(&self, id: i64, lease_token: &str, seq: i32, text: &str) -> Result<(), ClientError> {
        let body = LogRequest { lease_token: lease_token.to_owned(), seq, text: text.to_owned() };
        self.send(Retry::SOON, || self.http.post(self.url(&format!("/tasks/{id}/log"))).json(&body)).await?;
        Ok(())
    }

    pub async fn submit(&self, id: i64, request: &ResultRequest) -> Result<ResultResponse, ClientError> {
        let response =
            self.send(Retry::SOON, || self.http.post(self.url(&format!("/tasks/{id}/result"))).json(request)).await?;
        Self::json(response).await
    }

    /// The committee's KEYS file.
    pub async fn keys(&self, committee: &str) -> Result<Vec<u8>, ClientError> {
        let response =
            self.send(Retry::SOON, || self.http.get(self.url(&format!("/committees/{committee}/KEYS")))).await?;
        Ok(response.bytes().await?.to_vec())
    }

    /// Downloads a task input to `destination`, verifying its SHA-256 and size; a corrupted or
    /// cut-off transfer is tried again, then reported.
    pub async fn download(&self, input: &TaskInput, destination: &Path) -> Result<(), ClientError> {
        let mut outcome = Err(ClientError::GaveUp("no attempt".to_owned()));
        for attempt in 0..3 {
            if attempt > 0 {
                tokio::time::sleep(Retry::SOON.delay(attempt)).await;
            }
            outcome = self.download_once(input, destination).await;
            match &outcome {
                Ok(()) | Err(ClientError::Refused { .. } | ClientError::LeaseLost) => break,
                Err(e) => tracing::warn!(sha256 = %input.sha256, error = %e, attempt, "download failed"),
            }
        }
        outcome
    }

    /// Uploads a file a task made or fetched (for a new revision) under the task's lease; what
    /// the datastore stored, checked against the file's own SHA-256.
    pub async fn upload_blob(&self, id: i64, lease_token: &str, file: &Path) -> Result<BlobStored, ClientError> {
        let local = file.to_owned();
        let (sha256, size) =
            tokio::task::spawn_blocking(move || checks::digest::sha256_of(std::fs::File::open(local)?))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))??;
        let url = self.url(&format!("/tasks/{id}/blobs"));
        let response = self
            .send(Retry::SOON, || {
                // Each attempt reads the file again from its start.
                let body = match std::fs::File::open(file) {
                    Ok(opened) => reqwest::Body::from(tokio::fs::File::from_std(opened)),
                    Err(_) => reqwest::Body::from(Vec::new()),
                };
                self.http
                    .post(&url)
                    .header("X-Lease-Token", lease_token)
                    .header(reqwest::header::CONTENT_LENGTH, size)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(body)
            })
            .await?;
        let stored: BlobStored = Self::json(response).await?;
        if stored.sha256 != sha256 || stored.size != size {
            return Err(ClientError::Digest { expected: sha256, actual: stored.sha256, bytes: stored.size });
        }
        Ok(stored)
    }

    async fn download_once(&self, input: &TaskInput, destination: &Path) -> Result<(), ClientError> {
        let response = self.send(Retry::SOON, || self.http.get(self.url(&format!("/blobs/{}", input.sha256)))).await?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(16);
        let path = destination.to_owned();
        // Hashing and writing happen off the async threads.
        let writer = tokio::task::spawn_blocking(move || -> std::io::Result<(String, u64)> {
            let mut file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
            let mut hasher = checks::digest::Sha256::default();
            let mut bytes = 0u64;
            while let Some(chunk) = rx.blocking_recv() {
                hasher.update(&chunk);
                file.write_all(&chunk)?;
                bytes += chunk.len() as u64;
            }
            file.flush()?;
            Ok((hasher.finish_hex(), bytes))
        });
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            if tx.send(chunk?).await.is_err() {
                break;
            }
        }
        drop(tx);
        let (actual, bytes) = writer.await.map_err(|e| std::io::Error::other(e.to_string()))??;
        if actual != input.sha256 || bytes != input.size {
            return Err(ClientError::Digest { expected: input.sha256.clone(), actual, bytes });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_has_full_jitter_under_a_growing_cap() {
        let retry = Retry { attempts: 5, base: Duration::from_millis(100), cap: Duration::from_secs(1) };
        for attempt in 0..10 {
            let ceiling = Duration::from_millis(100).saturating_mul(1 << attempt).min(Duration::from_secs(1));
            for _ in 0..20 {
                assert!(retry.delay(attempt) <= ceiling);
            }
        }
        let spread: std::collections::HashSet<u128> = (0..20).map(|_| retry.delay(3).as_micros()).collect();
        assert!(spread.len() > 10, "delays are random, not a fixed schedule");
    }

    #[test]
    fn only_server_errors_and_429_are_retried() {
        assert!(retryable(StatusCode::BAD_GATEWAY) && retryable(StatusCode::TOO_MANY_REQUESTS));
        assert!(
            !retryable(StatusCode::FORBIDDEN) && !retryable(StatusCode::NOT_FOUND) && !retryable(StatusCode::CONFLICT)
        );
    }
}
