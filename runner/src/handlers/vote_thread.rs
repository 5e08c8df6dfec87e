//! `vote_thread` tasks: fetch a mail vote's thread from the list archive and hand it to the
//! datastore, which tallies it (CHECKS.md V3). The archive answers with an mbox, or with JSON
//! in the shape of Apache PonyMail's thread view (`{"emails": [{"from", "subject",
//! "message-id", "in-reply-to"?, "references"?, "body"}]}`), which is turned into one. The
//! same network rules as webhooks apply: public addresses only, unless allowed; no redirects.

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use shared_models::checks::{CheckResult, CheckStatus};
use shared_models::runner::{TaskKind, VoteThreadOrder};

use super::webhook::checked_address;
use super::{Handler, Job, TaskError};

/// The largest thread read (the datastore reads at most as much).
const MAX_BYTES: usize = 16 << 20;
const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct VoteThread {
    pub allow_private: bool,
}

/// An archive's JSON thread as an mbox that the datastore's reader takes.
pub fn json_to_mbox(json: &str) -> Result<String, String> {
    let value: Value = serde_json::from_str(json).map_err(|e| format!("the archive's answer is not JSON: {e}"))?;
    let emails = value.get("emails").and_then(Value::as_array).ok_or("the archive's JSON has no `emails` list")?;
    let mut mbox = String::new();
    for (n, email) in emails.iter().enumerate() {
        let field = |name: &str| email.get(name).and_then(Value::as_str).unwrap_or("");
        // A header value is one line: a line break would start another header.
        let header = |name: &str| field(name).replace(['\r', '\n'], " ");
        if field("from").is_empty() {
            return Err(format!("email {} of the archive's JSON has no `from`", n + 1));
        }
        mbox.push_str("From archive Thu Jan  1 00:00:00 1970\n");
        mbox.push_str(&format!(
            "From: {}\nSubject: {}\nMessage-ID: {}\n",
            header("from"),
            header("subject"),
            header("message-id")
        ));
        for (name, key) in [("In-Reply-To", "in-reply-to"), ("References", "references")] {
            if !field(key).is_empty() {
                mbox.push_str(&format!("{name}: {}\n", header(key)));
            }
        }
        mbox.push_str("Content-Type: text/plain; charset=utf-8\n\n");
        for line in field("body").lines() {
            if line.starts_with("From ") || line.starts_with(">From ") {
                mbox.push('>');
            }
            mbox.push_str(line);
            mbox.push('\n');
        }
        mbox.push('\n');
    }
    Ok(mbox)
}

impl VoteThread {
    async fn fetch(&self, url: &str) -> Result<String, String> {
        let (host, address) = checked_address(url, self.allow_private).await?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .resolve(&host, address)
            .user_agent(concat!("trusted-releases-runner/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        let mut response = client.get(url).send().await.map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", response.status()));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("GET {url}: {e}"))? {
            if bytes.len() + chunk.len() > MAX_BYTES {
                return Err(format!("the thread at {url} is larger than {} MiB", MAX_BYTES >> 20));
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if text.trim_start().starts_with('{') { json_to_mbox(&text) } else { Ok(text) }
    }
}

impl Handler for VoteThread {
    fn run<'a>(&'a self, job: Job<'a>) -> BoxFuture<'a, Result<Vec<CheckResult>, TaskError>> {
        Box::pin(async move {
            let order: VoteThreadOrder = serde_json::from_value(job.order.args.clone())
                .map_err(|e| TaskError::Failed(format!("the vote_thread task's order does not parse: {e}")))?;
            (job.stage)(format!("fetching {}", order.url));
            let mbox = self.fetch(&order.url).await.map_err(TaskError::Failed)?;
            tracing::info!(url = %order.url, bytes = mbox.len(), "vote thread fetched");
            Ok(vec![CheckResult {
                checker: TaskKind::VoteThread,
                checker_version: String::new(),
                path: String::new(),
                member: None,
                status: CheckStatus::Success,
                message: format!("fetched {} bytes from {}", mbox.len(), order.url),
                data: Some(json!({"mbox": mbox, "url": order.url})),
            }])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_json_becomes_an_mbox_without_header_injection() {
        let json = r#"{"emails": [
            {"from": "Alice <alice@apache.org>", "subject": "[VOTE] Release X 1.0", "message-id": "<a@x>", "body": "Vote!"},
            {"from": "Bob <bob@apache.org>", "subject": "Re: [VOTE] Release X 1.0\nBcc: x@y", "message-id": "<b@x>",
             "in-reply-to": "<a@x>", "body": "+1\nFrom here on\n"}
        ]}"#;
        let mbox = json_to_mbox(json).unwrap();
        assert!(mbox.contains("Subject: Re: [VOTE] Release X 1.0 Bcc: x@y\n"), "{mbox}");
        assert!(mbox.contains("In-Reply-To: <a@x>\n"));
        assert!(mbox.contains("\n+1\n>From here on\n"), "body lines that look like envelopes are escaped: {mbox}");
        assert_eq!(mbox.matches("From archive ").count(), 2);
        assert!(json_to_mbox(r#"{"thread": {}}"#).is_err());
        assert!(json_to_mbox(r#"{"emails": [{"subject": "x"}]}"#).is_err());
    }

    #[tokio::test]
    async fn a_thread_is_fetched_over_http_and_private_addresses_are_refused_unless_allowed() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/thread.mbox", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await.unwrap();
            let body = "From a@b Mon Dec  1 10:00:00 2026\nFrom: a@b\n\n+1\n";
            let response =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            socket.write_all(response.as_bytes()).await.unwrap();
        });
        let refused = VoteThread { allow_private: false }.fetch(&url).await.unwrap_err();
        assert!(refused.contains("not a public address"), "{refused}");
        let mbox = VoteThread { allow_private: true }.fetch(&url).await.unwrap();
        assert!(mbox.ends_with("\n+1\n"), "{mbox}");
    }
}
