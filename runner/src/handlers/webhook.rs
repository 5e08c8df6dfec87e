//! `webhook` tasks: one signed POST of a JSON body the datastore made and signed. A 2xx answer
//! is a delivery; anything else fails the attempt (the datastore retries with backoff).
//!
//! The URL is a project's choice, so by default it may not reach the runner's own network:
//! every address the host resolves to must be public, and the connection goes to the address
//! that was checked (no second lookup to rebind). Redirects are not followed.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::future::BoxFuture;
use shared_models::checks::CheckResult;
use shared_models::runner::WebhookOrder;

use super::{Handler, Job, TaskError};

/// How long one delivery may take.
const TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug)]
pub struct Webhook {
    pub allow_private: bool,
}

/// Whether `ip` is on the public internet (not loopback, private, link-local, shared or
/// reserved, including IPv4 inside IPv6).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
                || (a == 198 && (18..20).contains(&b)) // benchmarking (RFC 2544)
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            // IPv4 inside IPv6: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64
            // (64:ff9b::a.b.c.d) and 6to4 (2002:AABB:CCDD::): the IPv4 address decides.
            let embedded =
                |hi: u16, lo: u16| IpAddr::V4(std::net::Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
            if let Some(v4) = v6.to_ipv4() {
                return !v6.is_loopback() && !v6.is_unspecified() && is_public(IpAddr::V4(v4));
            }
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return is_public(embedded(segments[6], segments[7]));
            }
            if segments[0] == 0x2002 {
                return is_public(embedded(segments[1], segments[2]));
            }
            let first = segments[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || first == 0x2001 && segments[1] == 0x0db8) // documentation
        }
    }
}

/// The host and port of an `http(s)://` URL, as the HTTP client itself parses it (so the
/// address checked is the one it connects to), without credentials.
fn host_port(url: &str) -> Result<(String, u16), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{url:?} is not an http(s) URL"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("the URL carries credentials".to_owned());
    }
    let host = parsed.host_str().ok_or("the URL has no host")?.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = parsed.port_or_known_default().ok_or("the URL has no port")?;
    Ok((host, port))
}

/// The address to connect to for `url`: the first its host resolves to, after checking that
/// every one is public (unless `allow_private`). Connect to it (`reqwest`'s `resolve`), so that
/// a second lookup cannot rebind the name to a private address.
pub async fn checked_address(url: &str, allow_private: bool) -> Result<(String, SocketAddr), String> {
    let (host, port) = host_port(url)?;
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let first = *addresses.first().ok_or_else(|| format!("{host} has no address"))?;
    if !allow_private && let Some(private) = addresses.iter().find(|a| !is_public(a.ip())) {
        return Err(format!(
            "{host} resolves to {}, which is not a public address: runners do not reach their own network \
             (RUNNER_WEBHOOK_ALLOW_PRIVATE)",
            private.ip()
        ));
    }
    Ok((host, first))
}

impl Webhook {
    async fn deliver(&self, order: &WebhookOrder) -> Result<(), String> {
        let (host, address) = checked_address(&order.url, self.allow_private).await?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .resolve(&host, address)
            .user_agent(concat!("trusted-releases-webhook/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        let response = client
            .post(&order.url)
            .header("Content-Type", "application/json")
            .header("X-TRL-Event", &order.event)
            .header("X-TRL-Delivery", &order.delivery_id)
            .header("X-TRL-Signature", &order.signature)
            .body(order.body.clone())
            .send()
            .await
            .map_err(|e| format!("POST {}: {e}", order.url))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // The start of the answer only: a hostile receiver may send without end.
        let mut response = response;
        let mut head = Vec::new();
        while head.len() < 1024 {
            match response.chunk().await {
                Ok(Some(chunk)) => head.extend_from_slice(&chunk),
                _ => break,
            }
        }
        let excerpt: String = String::from_utf8_lossy(&head).chars().take(200).collect();
        Err(format!("HTTP {status}: {excerpt}"))
    }
}

impl Handler for Webhook {
    fn run<'a>(&'a self, job: Job<'a>) -> BoxFuture<'a, Result<Vec<CheckResult>, TaskError>> {
        Box::pin(async move {
            let order: WebhookOrder = serde_json::from_value(job.order.args.clone())
                .map_err(|e| TaskError::Failed(format!("the webhook task's order does not parse: {e}")))?;
            (job.stage)(format!("delivering {} ({})", order.delivery_id, order.event));
            self.deliver(&order).await.map_err(TaskError::Failed)?;
            tracing::info!(delivery = %order.delivery_id, event = %order.event, url = %order.url, "webhook delivered");
            Ok(Vec::new())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["151.101.2.132", "8.8.8.8", "2a04:4e42::644", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn hosts_and_ports_are_read_from_the_url() {
        assert_eq!(host_port("https://ci.example.org/hook").unwrap(), ("ci.example.org".to_owned(), 443));
        assert_eq!(host_port("http://127.0.0.1:9000/x?y").unwrap(), ("127.0.0.1".to_owned(), 9000));
        assert!(host_port("http://u:p@127.0.0.1:9000/").is_err(), "no credentials");
        assert_eq!(
            host_port("http://169.254.169.254\\@attacker.example/").unwrap().0,
            "169.254.169.254",
            "the host is the one the client would connect to"
        );
        assert_eq!(host_port("http://[::1]:81/").unwrap(), ("::1".to_owned(), 81));
        assert!(host_port("ftp://example.org/").is_err());
        assert!(host_port("http://example.org:http/").is_err());
    }

    #[tokio::test]
    async fn loopback_is_refused_unless_allowed() {
        let refused = checked_address("http://localhost:9/", false).await.unwrap_err();
        assert!(refused.contains("not a public address"), "{refused}");
        assert!(checked_address("http://127.0.0.1:9/", true).await.is_ok());
    }
}
