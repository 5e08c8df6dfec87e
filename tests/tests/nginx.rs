//! The shipped reverse-proxy configuration (`deploy/nginx/trusted-releases.conf`), run by Debian's
//! nginx in front of a real datastore, over TLS on loopback. Only the host-specific lines are
//! changed (ports, certificate, paths), each of which must be found exactly as shipped, so the
//! test fails when the file drifts. It checks what operators rely on: a 1 GiB upload streams
//! through without nginx buffering it, the datastore's headers and cache policy pass through,
//! nginx caches small files and sends large ones itself (X-Accel-Redirect) with `Range`, the
//! API is never cached, and plain http is sent to https.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use e2e::{Process, Stack, StackOptions, free_port, set_phase};
use serde_json::Value;
use testkit::Backend;

/// Debian's nginx, or `None` when told to skip (`TR_SKIP_NGINX=1`, announced). A missing nginx
/// is a failure: CI installs it.
fn nginx() -> Option<PathBuf> {
    if std::env::var("TR_SKIP_NGINX").is_ok_and(|v| v == "1") {
        testkit::announce_skip("the nginx test did not run because TR_SKIP_NGINX=1");
        return None;
    }
    let found = ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().map(PathBuf::from).find(|p| p.exists());
    Some(found.expect("nginx is not installed: apt-get install nginx (or set TR_SKIP_NGINX=1 to skip)"))
}

/// `text` with `from` replaced by `to`, which must occur exactly `times` times.
fn replace(text: &str, from: &str, to: &str, times: usize) -> String {
    assert_eq!(text.matches(from).count(), times, "deploy/nginx/trusted-releases.conf no longer has {from:?}");
    text.replace(from, to)
}

/// A self-signed certificate for 127.0.0.1: (certificate, key) in `dir`.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success(), "openssl could not make a certificate");
    (cert, key)
}

/// nginx running the shipped site in front of `upstream`, serving blobs from `blobs`.
struct Front {
    process: Process,
    https: u16,
    http: u16,
    body_temp: PathBuf,
    cert: PathBuf,
}

impl Drop for Front {
    /// SIGTERM, so the master stops its workers (a SIGKILLed master would leave them running).
    fn drop(&mut self) {
        self.process.signal("-TERM");
        let _ = self.process.child.wait();
    }
}

fn start_nginx(nginx: &Path, dir: &Path, upstream: &str, blobs: &Path) -> Front {
    let (cert, key) = certificate(dir);
    let (https, http) = (free_port(), free_port());
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/nginx/trusted-releases.conf")).unwrap();
    let cache = dir.join("cache");
    let site = replace(&shipped, "/var/cache/nginx/trusted-releases", cache.to_str().unwrap(), 1);
    let site = replace(&site, "listen 443 ssl http2;", &format!("listen 127.0.0.1:{https} ssl http2;"), 1);
    let site = replace(&site, "listen 80;", &format!("listen 127.0.0.1:{http};"), 1);
    let site = replace(&site, "/etc/letsencrypt/live/releases.example.org/fullchain.pem", cert.to_str().unwrap(), 1);
    let site = replace(&site, "/etc/letsencrypt/live/releases.example.org/privkey.pem", key.to_str().unwrap(), 1);
    let site = replace(&site, "http://127.0.0.1:8080", &format!("http://{upstream}"), 2);
    let site = replace(&site, "/var/lib/trusted-releases/blobs/", &format!("{}/", blobs.display()), 1);
    std::fs::write(dir.join("trusted-releases.conf"), site).unwrap();
    // The workers read the blob directory as the datastore's user, as the shipped file says.
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let d = dir.display();
    let body_temp = dir.join("client_body");
    std::fs::write(
        dir.join("nginx.conf"),
        format!(
            "daemon off; user {}; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {};\n  proxy_temp_path {d}/proxy;\n  \
             fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n  \
             include /etc/nginx/mime.types;\n  include {d}/trusted-releases.conf;\n}}\n",
            user.trim(),
            body_temp.display()
        ),
    )
    .unwrap();
    let checked =
        Command::new(nginx).arg("-t").arg("-c").arg(dir.join("nginx.conf")).arg("-p").arg(dir).output().unwrap();
    assert!(checked.status.success(), "nginx -t: {}", String::from_utf8_lossy(&checked.stderr));
    let child = Command::new(nginx)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-p")
        .arg(dir)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Front { process: Process { child, name: "nginx".into() }, https, http, body_temp, cert }
}

/// The 1 GiB file, a MiB at a time: each MiB differs (its index in its first bytes).
const MIB: usize = 1 << 20;
const BIG: usize = 1024 * MIB;

fn mib(block: &[u8], index: usize) -> Vec<u8> {
    let mut piece = block.to_vec();
    piece[..8].copy_from_slice(&(index as u64).to_le_bytes());
    piece
}

fn big_bytes(block: &[u8], from: usize, len: usize) -> Vec<u8> {
    let byte = |at: usize| match at % MIB {
        within @ 0..8 => ((at / MIB) as u64).to_le_bytes()[within],
        within => block[within],
    };
    (from..from + len).map(byte).collect()
}

async fn the_shipped_nginx_config_fronts_the_datastore(backend: Backend) {
    let Some(nginx) = nginx() else { return };
    let options = StackOptions {
        runners: 0,
        datastore_env: vec![("DATASTORE_ACCEL_REDIRECT".into(), "/_blobs/".into())],
        ..StackOptions::default()
    };
    let Some(stack) = Stack::start(backend, options).await else { return };
    stack.release("big", "1.0", false).await;
    let dir = tempfile::tempdir().unwrap();
    let upstream = stack.base.trim_start_matches("http://").to_owned();
    let front = start_nginx(&nginx, dir.path(), &upstream, &stack.state.path().join("blobs"));
    let cert = reqwest::Certificate::from_pem(&std::fs::read(&front.cert).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(cert)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("https://127.0.0.1:{}", front.https);
    let up = testkit::eventually("nginx answers", Duration::from_secs(30), Duration::from_millis(50), || async {
        let answer = client.get(format!("{base}/healthz")).send().await;
        answer.map(drop).map_err(|e| {
            let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
            format!("{e:?}; nginx's error log: {log}")
        })
    });
    up.await;

    // Plain http is sent to https, path and all.
    let plain = client.get(format!("http://127.0.0.1:{}/releases/big/1.0", front.http)).send().await.unwrap();
    assert_eq!(plain.status(), 301);
    assert_eq!(plain.headers()["location"], "https://127.0.0.1/releases/big/1.0");

    // 1 GiB streamed up through nginx: nothing lands in its request-body files meanwhile.
    let block: Vec<u8> = (0..MIB).map(|i| ((i as u64).wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut hasher = openssl::sha::Sha512::new();
    for index in 0..BIG / MIB {
        hasher.update(&mib(&block, index));
    }
    let sha512 = hex::encode(hasher.finish());
    let buffered = Arc::new(AtomicUsize::new(0));
    let watch = {
        let (buffered, body_temp) = (buffered.clone(), front.body_temp.clone());
        tokio::spawn(async move {
            loop {
                let files = e2e::files_in(&body_temp).len();
                buffered.fetch_max(files, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let pieces = {
        let block = block.clone();
        futures_util::stream::iter((0..BIG / MIB).map(move |index| Ok::<_, std::io::Error>(mib(&block, index))))
    };
    let started = std::time::Instant::now();
    let uploaded = client
        .put(format!("{base}/api/v1/releases/big/1.0/files/big-1.0.bin"))
        .bearer_auth(&stack.jwt)
        .header("Content-Length", BIG.to_string())
        .body(reqwest::Body::wrap_stream(pieces))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    watch.abort();
    assert_eq!(uploaded.status(), 201, "{}", uploaded.text().await.unwrap());
    let uploaded: Value = uploaded.json().await.unwrap();
    assert_eq!(uploaded["size"], BIG as u64, "{uploaded}");
    assert_eq!(uploaded["sha512"], sha512.as_str(), "the bytes that arrived are the bytes sent");
    assert_eq!(buffered.load(Ordering::Relaxed), 0, "nginx buffered the upload to disk");
    eprintln!("1 GiB through nginx (TLS) to the datastore in {took:.1?}: {:.0} MiB/s", 1024.0 / took.as_secs_f64());
    let sha256 = uploaded["sha256"].as_str().unwrap().to_owned();
    let readme = b"Read me: this file is small enough for nginx's cache.\n".to_vec();
    let response = client
        .put(format!("{base}/api/v1/releases/big/1.0/files/README"))
        .bearer_auth(&stack.jwt)
        .body(readme.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    // The API passes through, uncached, with the site's headers.
    let api = client.get(format!("{base}/api/v1/releases/big/1.0")).bearer_auth(&stack.jwt).send().await.unwrap();
    assert_eq!(api.status(), 200);
    assert_eq!(api.headers()["strict-transport-security"], "max-age=31536000");
    assert!(api.headers().get("x-cache-status").is_none(), "the API is never cached");
    let anonymous = client.get(format!("{base}/api/v1/releases/big/1.0/files")).send().await.unwrap();
    assert_eq!(anonymous.status(), 404, "a draft stays hidden behind the proxy");
    set_phase(stack.database_url(), "big", "1.0", "candidate", None);

    // A small file: the datastore's cache policy, then nginx's cache, then a cheap 304.
    let url = format!("{base}/candidate/big/1.0/README");
    let first = client.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let headers = first.headers().clone();
    assert_eq!(headers["cache-control"], "public, max-age=60", "a candidate's cache policy");
    assert_eq!(headers["x-cache-status"], "MISS");
    assert_eq!(headers["content-security-policy"], "sandbox");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["strict-transport-security"], "max-age=31536000");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(first.bytes().await.unwrap(), readme);
    let second = client.get(&url).send().await.unwrap();
    assert_eq!(second.headers()["x-cache-status"], "HIT", "the second reader is served by nginx's cache");
    assert_eq!(second.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(second.bytes().await.unwrap(), readme);
    let unchanged = client.get(&url).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(unchanged.status(), 304);

    // The large file: nginx sends it from the blob directory, by range, with the datastore's headers.
    let url = format!("{base}/candidate/big/1.0/big-1.0.bin");
    let (from, len) = (BIG / 2 - 100, 4096);
    let part = client.get(&url).header("Range", format!("bytes={from}-{}", from + len - 1)).send().await.unwrap();
    assert_eq!(part.status(), 206);
    let headers = part.headers().clone();
    assert_eq!(headers["content-range"], format!("bytes {from}-{}/{BIG}", from + len - 1).as_str());
    assert_eq!(headers["etag"], format!("\"{sha256}\"").as_str(), "the ETag is the file's SHA-256, not nginx's");
    assert!(headers["digest"].to_str().unwrap().starts_with("sha-256="), "{headers:?}");
    assert_eq!(headers["cache-control"], "public, max-age=60");
    assert_eq!(headers["content-security-policy"], "sandbox");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["strict-transport-security"], "max-age=31536000");
    assert!(headers.get("x-accel-redirect").is_none(), "the blob's location stays inside");
    assert_eq!(part.bytes().await.unwrap(), big_bytes(&block, from, len), "the range holds those bytes");
    let unchanged = client.get(&url).header("If-None-Match", format!("\"{sha256}\"")).send().await.unwrap();
    assert_eq!(unchanged.status(), 304, "conditional requests are answered by the datastore");
    let internal = client.get(format!("{base}/_blobs/{}/{}/{sha256}", &sha256[..2], &sha256[2..4])).send().await;
    assert_eq!(internal.unwrap().status(), 404, "the blob directory is not reachable from outside");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_nginx_config_fronts_the_datastore_sqlite() {
    the_shipped_nginx_config_fronts_the_datastore(Backend::Sqlite).await;
}
