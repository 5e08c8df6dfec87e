//! The shipped deploy files, run by the programs they are for. The systemd units pass
//! `systemd-analyze verify` without a warning (every directive known, the binaries found).
//! The reverse-proxy sites, `deploy/nginx/trusted-releases.conf` in Debian's nginx and
//! `deploy/httpd/trusted-releases.conf` in Debian's Apache httpd, each in front of a real
//! datastore over TLS on loopback. Only the host-specific lines are changed (ports,
//! certificate, paths), each of which must be found exactly as shipped, so a test fails when
//! its file drifts. They check what operators rely on: a 1 GiB upload streams through, the
//! datastore's headers and cache policy pass through, small downloads are cached, large ones
//! are served by `Range`, conditional requests are 304s, the API is never cached, and plain
//! http is sent to https. Behind nginx, nginx sends large files itself (X-Accel-Redirect) and
//! writes no request-body file.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use e2e::{BIG, Big, Process, Stack, StackOptions, free_port, set_phase};
use serde_json::Value;
use testkit::Backend;

/// A proxy's program, or `None` when told to skip (`TR_SKIP_<NAME>=1`, announced). A missing
/// program is a failure: CI installs it.
fn program(name: &str, package: &str, candidates: &[&str]) -> Option<PathBuf> {
    let skip = format!("TR_SKIP_{}", name.to_uppercase());
    if std::env::var(&skip).is_ok_and(|v| v == "1") {
        testkit::announce_skip(&format!("the {name} test did not run because {skip}=1"));
        return None;
    }
    let found = candidates.iter().map(PathBuf::from).find(|p| p.exists());
    Some(
        found.unwrap_or_else(|| panic!("{name} is not installed: apt-get install {package} (or set {skip}=1 to skip)")),
    )
}

/// `text` with `from` replaced by `to`, which must occur exactly `times` times.
fn replace(text: &str, from: &str, to: &str, times: usize) -> String {
    assert_eq!(text.matches(from).count(), times, "the shipped site no longer has {from:?}");
    text.replace(from, to)
}

fn shipped(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)).unwrap()
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

/// The user the datastore runs as, whom the proxies' workers run as (to read its blobs).
fn user() -> String {
    String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap().trim().to_owned()
}

/// A proxy running a shipped site in front of the stack's datastore.
struct Front {
    process: Process,
    https: u16,
    http: u16,
    error_log: PathBuf,
    client: reqwest::Client,
}

impl Drop for Front {
    /// SIGTERM, so the master stops its workers (a SIGKILLed master would leave them running).
    fn drop(&mut self) {
        self.process.signal("-TERM");
        let _ = self.process.child.wait();
    }
}

impl Front {
    fn base(&self) -> String {
        format!("https://127.0.0.1:{}", self.https)
    }

    /// Waits until it answers over TLS.
    async fn up(&self) {
        let url = format!("{}/healthz", self.base());
        let name = self.process.name.clone();
        testkit::eventually(&format!("{name} answers"), Duration::from_secs(30), Duration::from_millis(50), || async {
            self.client.get(&url).send().await.map(drop).map_err(|e| {
                let log = std::fs::read_to_string(&self.error_log).unwrap_or_default();
                format!("{e:?}; {name}'s error log: {log}")
            })
        })
        .await;
    }
}

/// A client that trusts the test's certificate and follows no redirects.
fn client_trusting(cert: &Path) -> reqwest::Client {
    let cert = reqwest::Certificate::from_pem(&std::fs::read(cert).unwrap()).unwrap();
    reqwest::Client::builder().add_root_certificate(cert).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn start_nginx(nginx: &Path, dir: &Path, upstream: &str, blobs: &Path) -> Front {
    let (cert, key) = certificate(dir);
    let (https, http) = (free_port(), free_port());
    let site = shipped("deploy/nginx/trusted-releases.conf");
    let cache = dir.join("cache");
    let site = replace(&site, "/var/cache/nginx/trusted-releases", cache.to_str().unwrap(), 1);
    let site = replace(&site, "listen 443 ssl http2;", &format!("listen 127.0.0.1:{https} ssl http2;"), 1);
    let site = replace(&site, "listen 80;", &format!("listen 127.0.0.1:{http};"), 1);
    let site = replace(&site, "/etc/letsencrypt/live/releases.example.org/fullchain.pem", cert.to_str().unwrap(), 1);
    let site = replace(&site, "/etc/letsencrypt/live/releases.example.org/privkey.pem", key.to_str().unwrap(), 1);
    let site = replace(&site, "http://127.0.0.1:8080", &format!("http://{upstream}"), 2);
    let site = replace(&site, "/var/lib/trusted-releases/blobs/", &format!("{}/", blobs.display()), 1);
    std::fs::write(dir.join("trusted-releases.conf"), site).unwrap();
    // The workers read the blob directory as the datastore's user, as the shipped file says.
    let d = dir.display();
    std::fs::write(
        dir.join("nginx.conf"),
        format!(
            "daemon off; user {}; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/client_body;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; \
             scgi_temp_path {d}/scgi;\n  include /etc/nginx/mime.types;\n  include {d}/trusted-releases.conf;\n}}\n",
            user()
        ),
    )
    .unwrap();
    let conf = dir.join("nginx.conf");
    let checked = Command::new(nginx).arg("-t").arg("-c").arg(&conf).arg("-p").arg(dir).output().unwrap();
    assert!(checked.status.success(), "nginx -t: {}", String::from_utf8_lossy(&checked.stderr));
    let child = Command::new(nginx).arg("-c").arg(&conf).arg("-p").arg(dir).stderr(Stdio::null()).spawn().unwrap();
    let process = Process { child, name: "nginx".into() };
    Front { process, https, http, error_log: dir.join("error.log"), client: client_trusting(&cert) }
}

fn start_httpd(httpd: &Path, dir: &Path, upstream: &str) -> Front {
    let (cert, key) = certificate(dir);
    let (https, http) = (free_port(), free_port());
    let site = shipped("deploy/httpd/trusted-releases.conf");
    let cache = dir.join("cache");
    std::fs::create_dir(&cache).unwrap();
    let site = replace(&site, "<VirtualHost *:443>", &format!("<VirtualHost 127.0.0.1:{https}>"), 1);
    let site = replace(&site, "<VirtualHost *:80>", &format!("<VirtualHost 127.0.0.1:{http}>"), 1);
    let site = replace(&site, "/etc/letsencrypt/live/releases.example.org/fullchain.pem", cert.to_str().unwrap(), 1);
    let site = replace(&site, "/etc/letsencrypt/live/releases.example.org/privkey.pem", key.to_str().unwrap(), 1);
    let site = replace(&site, "http://127.0.0.1:8080/", &format!("http://{upstream}/"), 2);
    let site = replace(&site, "/var/cache/apache2/trusted-releases", cache.to_str().unwrap(), 1);
    std::fs::write(dir.join("trusted-releases.conf"), site).unwrap();
    let d = dir.display();
    let modules = ["mpm_event", "authz_core", "socache_shmcb", "ssl", "proxy", "proxy_http", "headers", "alias"];
    let load: String = modules
        .iter()
        .chain(&["cache", "cache_disk"])
        .map(|m| format!("LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so\n"))
        .collect();
    // Run as root (as CI does), httpd's children take another user: they must write the cache.
    if user() == "root" {
        Command::new("chown").args(["www-data:www-data"]).arg(&cache).status().unwrap();
    }
    std::fs::write(
        dir.join("httpd.conf"),
        format!(
            "ServerRoot {d}\nServerName 127.0.0.1\nPidFile {d}/httpd.pid\nDefaultRuntimeDir {d}\nMutex file:{d}\n\
             ErrorLog {d}/error.log\nLogLevel warn\nListen 127.0.0.1:{https}\nListen 127.0.0.1:{http}\n{load}\
             User www-data\nGroup www-data\nSSLSessionCache shmcb:{d}/ssl_scache(512000)\n\
             Include {d}/trusted-releases.conf\n"
        ),
    )
    .unwrap();
    let conf = dir.join("httpd.conf");
    let checked = Command::new(httpd).arg("-t").arg("-f").arg(&conf).output().unwrap();
    assert!(checked.status.success(), "httpd -t: {}", String::from_utf8_lossy(&checked.stderr));
    let child = Command::new(httpd).arg("-f").arg(&conf).arg("-DFOREGROUND").stderr(Stdio::null()).spawn().unwrap();
    let process = Process { child, name: "httpd".into() };
    Front { process, https, http, error_log: dir.join("error.log"), client: client_trusting(&cert) }
}

/// Streams the 1 GiB file up through `front`; returns what the datastore stored.
async fn upload_big(front: &Front, jwt: &str, big: &Big) -> Value {
    let url = format!("{}/api/v1/releases/big/1.0/files/big-1.0.bin", front.base());
    let (uploaded, took) = big.put(&front.client, &url, jwt).await;
    eprintln!(
        "1 GiB through {} (TLS) to the datastore in {took:.1?}: {:.0} MiB/s",
        front.process.name,
        1024.0 / took.as_secs_f64()
    );
    uploaded
}

const README: &[u8] = b"Read me: this file is small enough for the proxy's cache.\n";

/// What both proxies must do once the big file is stored: the README, the API, then the
/// downloads of a candidate; `cache_status` names the proxy's cache header.
async fn passes_through(front: &Front, stack: &Stack, big: &Big, sha256: &str, cache_status: &str) {
    let (client, base) = (&front.client, front.base());
    let response =
        client.put(format!("{base}/api/v1/releases/big/1.0/files/README")).bearer_auth(&stack.jwt).body(README).send();
    assert_eq!(response.await.unwrap().status(), 201);

    // The API passes through, uncached, with the site's headers.
    let api = client.get(format!("{base}/api/v1/releases/big/1.0")).bearer_auth(&stack.jwt).send().await.unwrap();
    assert_eq!(api.status(), 200);
    assert_eq!(api.headers()["strict-transport-security"], "max-age=31536000");
    assert!(api.headers().get(cache_status).is_none(), "the API is never cached");
    let anonymous = client.get(format!("{base}/api/v1/releases/big/1.0/files")).send().await.unwrap();
    assert_eq!(anonymous.status(), 404, "a draft stays hidden behind the proxy");
    set_phase(stack.database_url(), "big", "1.0", "candidate", None);

    // A small file: the datastore's cache policy, then the proxy's cache, then a cheap 304.
    let url = format!("{base}/candidate/big/1.0/README");
    let first = client.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let headers = first.headers().clone();
    assert_eq!(headers["cache-control"], "public, max-age=60", "a candidate's cache policy");
    assert!(headers[cache_status].to_str().unwrap().contains("MISS"), "{headers:?}");
    assert_eq!(headers["content-security-policy"], "sandbox");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["strict-transport-security"], "max-age=31536000");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(first.bytes().await.unwrap(), README);
    let second = client.get(&url).send().await.unwrap();
    let hit = second.headers()[cache_status].to_str().unwrap().to_owned();
    assert!(hit.contains("HIT"), "the second reader is served by the proxy's cache: {hit}");
    assert_eq!(second.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(second.bytes().await.unwrap(), README);
    let unchanged = client.get(&url).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(unchanged.status(), 304);

    // A conditional request first (`*` matches anything): a 304 for it, and none for the next
    // reader, who gets the file (a 304 kept by the cache would be served to everyone).
    let response = client.put(format!("{base}/api/v1/releases/big/1.0/files/NOTICE")).bearer_auth(&stack.jwt);
    set_phase(stack.database_url(), "big", "1.0", "draft", None);
    assert_eq!(response.body(README).send().await.unwrap().status(), 201);
    set_phase(stack.database_url(), "big", "1.0", "candidate", None);
    let url = format!("{base}/candidate/big/1.0/NOTICE");
    for (conditional, expected) in [(true, 304), (false, 200), (true, 304), (false, 200)] {
        let request = client.get(&url);
        let request = if conditional { request.header("If-None-Match", "*") } else { request };
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), expected, "If-None-Match: * {conditional}");
        if !conditional {
            assert_eq!(response.bytes().await.unwrap(), README);
        }
    }
    let url = format!("{base}/candidate/big/1.0/big-1.0.bin");
    let star = client.get(&url).header("If-None-Match", "*").send().await.unwrap();
    assert_eq!(star.status(), 304);

    // The large file by range, with the datastore's headers.
    let (from, len) = (BIG / 2 - 100, 4096);
    let part = client.get(&url).header("Range", format!("bytes={from}-{}", from + len - 1)).send().await.unwrap();
    assert_eq!(part.status(), 206);
    let headers = part.headers().clone();
    assert_eq!(headers["content-range"], format!("bytes {from}-{}/{BIG}", from + len - 1).as_str());
    assert_eq!(headers["etag"], format!("\"{sha256}\"").as_str(), "the ETag is the file's SHA-256, not the proxy's");
    assert!(headers["digest"].to_str().unwrap().starts_with("sha-256="), "{headers:?}");
    assert_eq!(headers["cache-control"], "public, max-age=60");
    assert_eq!(headers["content-security-policy"], "sandbox");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["strict-transport-security"], "max-age=31536000");
    assert!(headers.get("x-accel-redirect").is_none(), "the blob's location stays inside");
    assert_eq!(part.bytes().await.unwrap(), big.bytes(from, len), "the range holds those bytes");
    let unchanged = client.get(&url).header("If-None-Match", format!("\"{sha256}\"")).send().await.unwrap();
    assert_eq!(unchanged.status(), 304, "a conditional request for the large file is a 304");
}

async fn the_shipped_nginx_site_fronts_the_datastore(backend: Backend) {
    let Some(nginx) = program("nginx", "nginx", &["/usr/sbin/nginx", "/usr/bin/nginx"]) else { return };
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
    front.up().await;

    // Plain http is sent to https, path and all.
    let plain = front.client.get(format!("http://127.0.0.1:{}/releases/big/1.0", front.http)).send().await.unwrap();
    assert_eq!(plain.status(), 301);
    assert_eq!(plain.headers()["location"], "https://127.0.0.1/releases/big/1.0");

    // 1 GiB streamed up: nothing lands in nginx's request-body files meanwhile.
    let big = Big::generate();
    let buffered = Arc::new(AtomicUsize::new(0));
    let watch = {
        let (buffered, body_temp) = (buffered.clone(), dir.path().join("client_body"));
        tokio::spawn(async move {
            loop {
                buffered.fetch_max(e2e::files_in(&body_temp).len(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let uploaded = upload_big(&front, &stack.jwt, &big).await;
    watch.abort();
    assert_eq!(buffered.load(Ordering::Relaxed), 0, "nginx buffered the upload to disk");
    let sha256 = uploaded["sha256"].as_str().unwrap();
    passes_through(&front, &stack, &big, sha256, "x-cache-status").await;
    let internal = front.client.get(format!("{}/_blobs/{}/{}/{sha256}", front.base(), &sha256[..2], &sha256[2..4]));
    assert_eq!(internal.send().await.unwrap().status(), 404, "the blob directory is not reachable from outside");
}

#[test]
fn the_systemd_units_verify() {
    let dir = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    for (file, instance) in
        [("trusted-releases-datastore.service", None), ("trusted-releases-runner@.service", Some("runner@1"))]
    {
        let unit = shipped(&format!("deploy/systemd/{file}"));
        let unit = replace(&unit, "/usr/local/bin/datastore", e2e::binary("datastore").to_str().unwrap(), {
            if instance.is_none() { 3 } else { 0 }
        });
        let unit = replace(&unit, "/usr/local/bin/runner", e2e::binary("runner").to_str().unwrap(), {
            if instance.is_none() { 0 } else { 1 }
        });
        let name = instance.map_or(file.to_owned(), |i| format!("trusted-releases-{i}.service"));
        std::fs::write(dir.path().join(&name), unit).unwrap();
        units.push(dir.path().join(name));
    }
    let analyze = program("systemd", "systemd", &["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]);
    let Some(analyze) = analyze else { return };
    let out = Command::new(analyze).arg("verify").args(&units).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "systemd-analyze verify: {said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_nginx_site_fronts_the_datastore_sqlite() {
    the_shipped_nginx_site_fronts_the_datastore(Backend::Sqlite).await;
}

async fn the_shipped_httpd_site_fronts_the_datastore(backend: Backend) {
    let Some(httpd) = program("httpd", "apache2", &["/usr/sbin/apache2", "/usr/sbin/httpd"]) else { return };
    let Some(stack) = Stack::start(backend, StackOptions { runners: 0, ..StackOptions::default() }).await else {
        return;
    };
    stack.release("big", "1.0", false).await;
    let dir = tempfile::tempdir().unwrap();
    let upstream = stack.base.trim_start_matches("http://").to_owned();
    let front = start_httpd(&httpd, dir.path(), &upstream);
    front.up().await;

    let plain = front.client.get(format!("http://127.0.0.1:{}/releases/big/1.0", front.http)).send().await.unwrap();
    assert_eq!(plain.status(), 301);
    assert_eq!(plain.headers()["location"], "https://releases.example.org/releases/big/1.0");
    let big = Big::generate();
    let uploaded = upload_big(&front, &stack.jwt, &big).await;
    passes_through(&front, &stack, &big, uploaded["sha256"].as_str().unwrap(), "x-cache").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_httpd_site_fronts_the_datastore_sqlite() {
    the_shipped_httpd_site_fronts_the_datastore(Backend::Sqlite).await;
}
