//! `distribution` tasks: fetch what a channel serves at a distribution record's URL and compare
//! it with the voted bytes (`docs/DISTRIBUTION.md`). The bytes' SHA-512 equal to a voted file's
//! is `verified`; so is a small `.sha512` file (a channel's published checksum) that names a
//! voted file's SHA-512. Anything else read is a `mismatch`; a channel that cannot be read is `unreachable`.
//! The network rules of webhooks hold: public addresses only unless allowed, and each redirect
//! (GitHub's release downloads redirect to a CDN) is checked again before it is followed.

use std::time::Duration;

use checks::digest::Sha512;
use futures_util::future::BoxFuture;
use serde_json::json;
use shared_models::checks::{CheckResult, CheckStatus};
use shared_models::runner::{DistributionOrder, TaskKind, VotedFile};

use super::webhook::checked_address;
use super::{Handler, Job, TaskError};

const TIMEOUT: Duration = Duration::from_secs(300);
const MAX_REDIRECTS: usize = 5;
/// A body this small is also read as a published checksum file.
const CHECKSUM_BYTES: usize = 4096;

#[derive(Debug)]
pub struct Distribution {
    pub allow_private: bool,
}

/// What a fetch found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `verified`, `mismatch` or `unreachable`.
    pub outcome: &'static str,
    pub detail: String,
    pub sha512: Option<String>,
    pub size: Option<u64>,
}

/// Whether a URL names an archive (a channel may repackage one: other bytes, the same files).
fn names_archive(url: &str) -> bool {
    checks::artifacts::archive_format(url_path(url)).is_some()
}

impl Distribution {
    /// Fetches `order.url` and compares what it serves with the voted files. With `keep`, the
    /// body of a URL that names an archive is also written there (up to twice the largest voted
    /// file and a mebibyte: a repackaging may compress otherwise), for [`Self::compare_trees`].
    pub async fn verify(&self, order: &DistributionOrder, keep: Option<&std::path::Path>) -> Outcome {
        let unreachable = |detail: String| Outcome { outcome: "unreachable", detail, sha512: None, size: None };
        let largest = order.files.iter().map(|f| f.size).max().unwrap_or(0);
        let keep = keep.filter(|_| names_archive(&order.url));
        let limit = if keep.is_some() { largest.saturating_mul(2).saturating_add(1 << 20) } else { largest };
        let mut kept = match keep {
            Some(path) => match tokio::fs::File::create(path).await {
                Ok(file) => Some(file),
                Err(e) => return unreachable(format!("cannot keep the body at {}: {e}", path.display())),
            },
            None => None,
        };
        let mut url = order.url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let (host, address) = match checked_address(&url, self.allow_private).await {
                Ok(found) => found,
                Err(e) => return unreachable(e),
            };
            let client = match reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                // A proxy would resolve the name itself, around the address checked above.
                .no_proxy()
                .timeout(TIMEOUT)
                .resolve(&host, address)
                .user_agent(concat!("trusted-releases-runner/", env!("CARGO_PKG_VERSION")))
                .build()
            {
                Ok(client) => client,
                Err(e) => return unreachable(format!("cannot make an HTTP client: {e}")),
            };
            let mut response = match client.get(&url).send().await {
                Ok(response) => response,
                Err(e) => return unreachable(format!("GET {url}: {e}")),
            };
            if response.status().is_redirection() {
                let next = response
                    .headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| reqwest::Url::parse(&url).ok().and_then(|base| base.join(l).ok()));
                match next {
                    Some(next) if matches!(next.scheme(), "http" | "https") => {
                        url = next.to_string();
                        continue;
                    }
                    _ => {
                        return unreachable(format!("GET {url}: HTTP {} without a usable Location", response.status()));
                    }
                }
            }
            if !response.status().is_success() {
                return unreachable(format!("GET {url}: HTTP {}", response.status()));
            }
            let mut hasher = Sha512::default();
            let mut size = 0u64;
            let mut head = Vec::new();
            loop {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        size += chunk.len() as u64;
                        if size > limit.max(CHECKSUM_BYTES as u64) {
                            return Outcome {
                                outcome: "mismatch",
                                detail: format!(
                                    "{url} serves more than {} bytes, more than any voted file{}",
                                    limit.max(CHECKSUM_BYTES as u64),
                                    if keep.is_some() { " could be repackaged into" } else { "" }
                                ),
                                sha512: None,
                                size: Some(size),
                            };
                        }
                        if head.len() < CHECKSUM_BYTES {
                            head.extend_from_slice(&chunk[..chunk.len().min(CHECKSUM_BYTES - head.len())]);
                        }
                        hasher.update(&chunk);
                        if let Some(file) = kept.as_mut() {
                            use tokio::io::AsyncWriteExt;
                            if let Err(e) = file.write_all(&chunk).await {
                                return unreachable(format!("cannot keep the body: {e}"));
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return unreachable(format!("GET {url}: {e}")),
                }
            }
            if let Some(file) = kept.as_mut() {
                use tokio::io::AsyncWriteExt;
                if let Err(e) = file.flush().await {
                    return unreachable(format!("cannot keep the body: {e}"));
                }
            }
            // The recorded URL names what was checked: the last hop of a redirect may be a
            // signed, short-lived CDN address that the record (which is public) must not keep.
            let checksum_file = url_path(&url).to_ascii_lowercase().ends_with(".sha512");
            return compare(&order.files, &order.url, checksum_file, hasher.finish_hex(), size, &head);
        }
        unreachable(format!("{} redirects and no file", MAX_REDIRECTS + 1))
    }
}

/// The path of a URL, without its query and fragment.
fn url_path(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// Compares what `url` served (its SHA-512, size and first bytes) with the voted files; a
/// `checksum_file` (a `.sha512` URL) may instead name a voted file's SHA-512.
fn compare(files: &[VotedFile], url: &str, checksum_file: bool, sha512: String, size: u64, head: &[u8]) -> Outcome {
    if let Some(file) = files.iter().find(|f| f.sha512.eq_ignore_ascii_case(&sha512) && f.size == size) {
        return Outcome {
            outcome: "verified",
            detail: format!("{url} serves the voted bytes of {}", file.path),
            sha512: Some(sha512),
            size: Some(size),
        };
    }
    if checksum_file && head.len() as u64 == size && size as usize <= CHECKSUM_BYTES {
        let text = String::from_utf8_lossy(head);
        let named = text
            .split(|c: char| !c.is_ascii_hexdigit())
            .filter(|word| word.len() == 128)
            .find_map(|word| files.iter().find(|f| f.sha512.eq_ignore_ascii_case(word)));
        if let Some(file) = named {
            return Outcome {
                outcome: "verified",
                detail: format!("{url} publishes the SHA-512 of the voted {}", file.path),
                sha512: Some(sha512),
                size: Some(size),
            };
        }
    }
    Outcome {
        outcome: "mismatch",
        detail: format!("{url} serves {size} bytes with SHA-512 {}…, which are none of the voted files", &sha512[..16]),
        sha512: Some(sha512),
        size: Some(size),
    }
}

impl Distribution {
    /// What served a `mismatch` at `served` may still be: a repackaging of one of the voted
    /// archives (the task's inputs), holding the same files. Its outcome when it is, and `None`
    /// when it is not, with the closest difference in `found`'s detail.
    pub async fn compare_trees(
        &self,
        job: &Job<'_>,
        served: &std::path::Path,
        found: &mut Outcome,
    ) -> Result<(), TaskError> {
        if job.order.inputs.is_empty() {
            return Ok(());
        }
        (job.stage)("comparing the served archive's files with the voted archives'".to_owned());
        // The bytes are not the voted ones whatever happens next: a comparison that cannot be
        // made leaves the mismatch standing, and says why.
        let voted = match super::check::download_inputs(job).await {
            Ok(voted) => voted,
            Err(TaskError::Stopped) => return Err(TaskError::Stopped),
            Err(TaskError::Failed(why)) => {
                found.detail = format!("{}; its files were not compared ({why})", found.detail);
                return Ok(());
            }
        };
        let url = job.order.args.get("url").and_then(|u| u.as_str()).unwrap_or_default().to_owned();
        let served = checks::Input::new(url_path(&url).rsplit('/').next().unwrap_or("served").to_owned(), served);
        let limits = job.limits.clone();
        let compared = tokio::task::spawn_blocking(move || {
            voted.iter().map(|v| (v.path.clone(), checks::trees::repackaged(&served, v, &limits))).collect::<Vec<_>>()
        })
        .await;
        let Ok(compared) = compared else {
            found.detail = format!("{}; its files were not compared (the comparison crashed)", found.detail);
            return Ok(());
        };
        let mut closest: Option<String> = None;
        for (path, outcome) in compared {
            match outcome {
                Ok(checks::trees::Repackaged::Same { files }) => {
                    found.outcome = "verified";
                    found.detail =
                        format!("{url} serves a repackaging of the voted {path}: other bytes, the same {files} files");
                    return Ok(());
                }
                Ok(checks::trees::Repackaged::Differs { paths, total }) => {
                    let listed = paths.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ");
                    let more = total - paths.len();
                    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
                    closest.get_or_insert(format!("against {path}, these differ: {listed}{more}"));
                }
                Err(why) => {
                    closest.get_or_insert(why);
                }
            }
        }
        if let Some(closest) = closest {
            found.detail = format!("{}; it is not a repackaging of a voted archive either ({closest})", found.detail);
        }
        Ok(())
    }
}

impl Handler for Distribution {
    fn run<'a>(&'a self, job: Job<'a>) -> BoxFuture<'a, Result<Vec<CheckResult>, TaskError>> {
        Box::pin(async move {
            let order: DistributionOrder = serde_json::from_value(job.order.args.clone())
                .map_err(|e| TaskError::Failed(format!("the distribution task's order does not parse: {e}")))?;
            (job.stage)(format!("fetching {}", order.url));
            tokio::fs::create_dir_all(job.dir)
                .await
                .map_err(|e| TaskError::Failed(format!("cannot create {}: {e}", job.dir.display())))?;
            let served = job.dir.join("served");
            let keep = (!job.order.inputs.is_empty()).then_some(served.as_path());
            let mut found = self.verify(&order, keep).await;
            if found.outcome == "mismatch"
                && keep.is_some()
                && tokio::fs::metadata(&served).await.is_ok_and(|m| Some(m.len()) == found.size)
            {
                self.compare_trees(&job, &served, &mut found).await?;
            }
            tracing::info!(url = %order.url, outcome = found.outcome, detail = %found.detail, "distribution checked");
            let status = match found.outcome {
                "verified" => CheckStatus::Success,
                "mismatch" => CheckStatus::Failure,
                _ => CheckStatus::Warning,
            };
            Ok(vec![CheckResult {
                checker: TaskKind::Distribution,
                checker_version: String::new(),
                path: String::new(),
                member: None,
                status,
                message: found.detail.clone(),
                data: Some(json!({
                    "distribution": order.distribution, "url": order.url, "outcome": found.outcome,
                    "detail": found.detail, "sha512": found.sha512, "size": found.size
                })),
            }])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn sha512(bytes: &[u8]) -> String {
        let mut hasher = Sha512::default();
        hasher.update(bytes);
        hasher.finish_hex()
    }

    /// A loopback HTTP server answering each request by its path.
    async fn serve(routes: Vec<(&'static str, String, Vec<u8>)>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                let mut request = vec![0u8; 4096];
                let n = socket.read(&mut request).await.unwrap_or(0);
                let line = String::from_utf8_lossy(&request[..n]).lines().next().unwrap_or("").to_owned();
                let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
                let response = match routes.iter().find(|(p, _, _)| *p == path) {
                    Some((_, head, body)) => {
                        let mut bytes =
                            format!("{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
                                .into_bytes();
                        bytes.extend_from_slice(body);
                        bytes
                    }
                    None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                };
                let _ = socket.write_all(&response).await;
            }
        });
        base
    }

    #[tokio::test]
    async fn the_voted_bytes_their_checksum_an_altered_copy_and_a_missing_file() {
        let voted = b"the voted tarball".to_vec();
        let files = vec![VotedFile { path: "x-1.0.tar.gz".into(), sha512: sha512(&voted), size: voted.len() as u64 }];
        let ok = "HTTP/1.1 200 OK".to_owned();
        let base = serve(vec![
            ("/good", ok.clone(), voted.clone()),
            ("/altered", ok.clone(), b"the voted tarbalL".to_vec()),
            ("/x.sha512", ok.clone(), format!("{}  x-1.0.tar.gz\n", sha512(&voted)).into_bytes()),
            ("/moved", "HTTP/1.1 302 Found\r\nLocation: /good".to_owned(), Vec::new()),
        ])
        .await;
        let runner = Distribution { allow_private: true };
        let order =
            |path: &str| DistributionOrder { distribution: 1, url: format!("{base}{path}"), files: files.clone() };
        let good = runner.verify(&order("/good"), None).await;
        assert_eq!(good.outcome, "verified", "{good:?}");
        assert!(good.detail.contains("serves the voted bytes of x-1.0.tar.gz"), "{good:?}");
        let moved = runner.verify(&order("/moved"), None).await;
        assert_eq!(moved.outcome, "verified", "a redirect is followed");
        assert!(moved.detail.starts_with(&format!("{base}/moved serves")), "the recorded URL is named: {moved:?}");
        let checksum = runner.verify(&order("/x.sha512"), None).await;
        assert_eq!(checksum.outcome, "verified", "{checksum:?}");
        assert!(checksum.detail.contains("publishes the SHA-512"), "{checksum:?}");
        let altered = runner.verify(&order("/altered"), None).await;
        assert_eq!((altered.outcome, altered.size), ("mismatch", Some(voted.len() as u64)), "{altered:?}");
        let missing = runner.verify(&order("/gone"), None).await;
        assert_eq!(missing.outcome, "unreachable");
        assert!(missing.detail.contains("HTTP 404"), "{missing:?}");

        // Without leave, the runner does not reach its own network.
        let private = Distribution { allow_private: false }.verify(&order("/good"), None).await;
        assert_eq!(private.outcome, "unreachable");
        assert!(private.detail.contains("not a public address"), "{private:?}");
    }

    #[test]
    fn only_a_checksum_file_read_whole_may_name_the_digest() {
        let files = vec![VotedFile { path: "x".into(), sha512: "ab".repeat(64), size: 10 }];
        let head = format!("{}\n", "ab".repeat(64));
        let found = compare(&files, "u.sha512", true, sha512(head.as_bytes()), head.len() as u64, head.as_bytes());
        assert_eq!(found.outcome, "verified");
        let cut = compare(&files, "u.sha512", true, "00".repeat(64), 5000, head.as_bytes());
        assert_eq!(cut.outcome, "mismatch", "only a body read whole counts as a checksum file");
        let page = compare(&files, "u.html", false, sha512(head.as_bytes()), head.len() as u64, head.as_bytes());
        assert_eq!(page.outcome, "mismatch", "a page that quotes the digest is not the file");
    }
}
