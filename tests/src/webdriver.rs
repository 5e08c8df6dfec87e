//! A real headless Chromium driven through ChromeDriver, as a person uses the pages: it opens
//! URLs, types into fields, clicks buttons and reads what the page then shows.
//!
//! The W3C WebDriver protocol is JSON over HTTP, and the few commands the tests need are a
//! handful of requests with the reqwest client the tests already have; the WebDriver crates
//! (fantoccini, thirtyfour) would add a second TLS stack (aws-lc, built with cmake) and ICU
//! to every test build. docs/adr/0013-web-sessions.md.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::{Process, free_port};

/// The key WebDriver reserves for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session; the browser and its driver end when it is dropped.
#[derive(Debug)]
pub struct Browser {
    client: reqwest::Client,
    session: String,
    _driver: Process,
    _profile: tempfile::TempDir,
}

/// An element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// A headless Chromium, or `None` when browser tests were explicitly skipped
    /// (`TR_SKIP_BROWSER=1`, announced loudly). A missing browser or driver is a failure.
    pub async fn start() -> Option<Self> {
        if std::env::var("TR_SKIP_BROWSER").is_ok_and(|v| v == "1") {
            testkit::announce_skip("this browser test did not run because TR_SKIP_BROWSER=1");
            return None;
        }
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or_else(|| panic!("Chromium is not installed: apt-get install chromium (or TR_SKIP_BROWSER=1)"));
        let chromedriver = ["/usr/bin/chromedriver"].into_iter().find(|p| Path::new(p).exists()).unwrap_or_else(|| {
            panic!("ChromeDriver is not installed: apt-get install chromium-driver (or TR_SKIP_BROWSER=1)")
        });
        let port = free_port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let driver = Process { child, name: "chromedriver".into() };
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        crate::wait_until_up(&client, &format!("{base}/status")).await;
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1600",
                         "--no-first-run", "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", format!("--user-data-dir={}", profile.path().display())],
            },
        }}});
        let answer: Value =
            client.post(format!("{base}/session")).json(&capabilities).send().await.unwrap().json().await.unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("ChromeDriver did not start a session: {answer}"))
            .to_owned();
        Some(Self { client, session: format!("{base}/session/{session}"), _driver: driver, _profile: profile })
    }

    /// One WebDriver command; its whole answer, an error included.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    /// One WebDriver command that must succeed; its value.
    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let answer = self.call(method, path, body).await;
        if let Some(error) = answer["value"]["error"].as_str() {
            panic!("WebDriver {path}: {error}: {}", answer["value"]["message"]);
        }
        answer["value"].clone()
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    pub async fn url(&self) -> String {
        self.command(reqwest::Method::GET, "/url", None).await.as_str().unwrap().to_owned()
    }

    /// The page as the browser now holds it.
    pub async fn source(&self) -> String {
        self.command(reqwest::Method::GET, "/source", None).await.as_str().unwrap().to_owned()
    }

    /// The first element matching a CSS selector; fails the test when there is none.
    pub async fn find(&self, css: &str) -> Element {
        match self.try_find(css).await {
            Some(element) => element,
            None => panic!("no element matches {css:?} at {}: {}", self.url().await, self.source().await),
        }
    }

    pub async fn try_find(&self, css: &str) -> Option<Element> {
        let body = json!({"using": "css selector", "value": css});
        let answer = self.call(reqwest::Method::POST, "/element", Some(body)).await;
        answer["value"][ELEMENT].as_str().map(|id| Element(id.to_owned()))
    }

    /// Fills in the sign-up page (`/signup`, already open) for a visitor, gives consent and sends it.
    pub async fn sign_up(&self, uid: &str, name: &str, email: &str, password: &str) {
        self.type_into("#uid", uid).await;
        self.type_into("#name", name).await;
        self.type_into("#email", email).await;
        self.type_into("#password", password).await;
        self.type_into("#password2", password).await;
        self.click("#consent").await;
        self.submit("#signup").await;
    }

    /// Types `text` into a field, as keystrokes.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.command(reqwest::Method::POST, &format!("/element/{}/value", element.0), Some(json!({"text": text})))
            .await;
    }

    /// Clicks an element that does not leave the page (a radio button, a checkbox).
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.command(reqwest::Method::POST, &format!("/element/{}/click", element.0), Some(json!({}))).await;
    }

    /// Clicks a button that submits its form or a link, and waits until the next page has
    /// loaded: the page is marked before the click, and the wait ends on a complete page
    /// without the mark (a click may return before the navigation it starts has begun).
    pub async fn submit(&self, css: &str) {
        self.mark_page().await;
        self.click(css).await;
        self.wait_for_new_page(css, Duration::from_secs(30)).await;
    }

    /// Marks the page, so that [`Browser::wait_for_new_page`] can tell when another has loaded.
    pub async fn mark_page(&self) {
        self.script("window.__before_submit = true;").await;
    }

    /// Waits until a page without the mark has loaded (after clicking `what`).
    pub async fn wait_for_new_page(&self, what: &str, timeout: Duration) {
        let loaded = "return window.__before_submit === undefined && document.readyState === 'complete';";
        let deadline = std::time::Instant::now() + timeout;
        while self.script(loaded).await != Value::Bool(true) {
            assert!(std::time::Instant::now() < deadline, "no new page loaded after clicking {what:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The text a person sees in an element.
    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.command(reqwest::Method::GET, &format!("/element/{}/text", element.0), None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The browser's cookies for the current page, as WebDriver reports them (name, value,
    /// httpOnly, sameSite, ...).
    pub async fn cookies(&self) -> Vec<Value> {
        self.command(reqwest::Method::GET, "/cookie", None).await.as_array().cloned().unwrap_or_default()
    }

    /// Forgets the cookies of the current page's host (as a person clearing them would; on
    /// loopback every port shares them).
    pub async fn delete_cookies(&self) {
        self.command(reqwest::Method::DELETE, "/cookie", None).await;
    }

    /// Saves the whole page (PNG) as a desktop shows it (1280 px wide) and as a phone does
    /// (390 px), as `<name>-1280.png` and `<name>-390.png` under `target/screenshots/` (or
    /// `$TR_SCREENSHOTS`): for people to look at the pages a test went through.
    pub async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let dir = std::env::var("TR_SCREENSHOTS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots"));
        std::fs::create_dir_all(&dir).unwrap();
        for width in [1280, 390] {
            self.resize(width, 900).await;
            let height = self.script("return Math.min(document.documentElement.scrollHeight, 6000);").await;
            self.resize(width, height.as_u64().unwrap_or(900)).await;
            let png = self.command(reqwest::Method::GET, "/screenshot", None).await;
            let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
            std::fs::write(dir.join(format!("{name}-{width}.png")), bytes).unwrap();
        }
        self.resize(1280, 1600).await;
    }

    /// Makes the window `width` × `height` CSS pixels.
    pub async fn resize(&self, width: u64, height: u64) {
        self.command(reqwest::Method::POST, "/window/rect", Some(json!({"width": width, "height": height}))).await;
    }

    /// Slows what the page sends to `bytes_per_second` (`None`: full speed again), as on a slow
    /// uplink, so that a long upload can be watched while it runs.
    pub async fn throttle_uploads(&self, bytes_per_second: Option<u64>) {
        let conditions = match bytes_per_second {
            Some(rate) => json!({"offline": false, "latency": 0, "download_throughput": -1, "upload_throughput": rate}),
            None => json!({"offline": false, "latency": 0, "download_throughput": -1, "upload_throughput": -1}),
        };
        self.command(
            reqwest::Method::POST,
            "/chromium/network_conditions",
            Some(json!({"network_conditions": conditions})),
        )
        .await;
    }

    /// Waits until `script` (returning a boolean) is true in the page, for at most `timeout`.
    pub async fn wait_for(&self, what: &str, timeout: Duration, script: &str) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.script(script).await.as_bool() == Some(true) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "waited {timeout:?} for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs a script in the page and returns its result.
    pub async fn script(&self, script: &str) -> Value {
        self.command(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await
    }
}

impl Drop for Browser {
    /// Ends the session, which closes Chromium (killing only the driver would leave the
    /// browser running), then the driver is killed. Blocking on purpose: a drop cannot await,
    /// and this must happen even when a test panics.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let Some((address, path)) = self.session.strip_prefix("http://").and_then(|rest| rest.split_once('/')) else {
            return;
        };
        if let Ok(mut stream) = std::net::TcpStream::connect(address) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request =
                format!("DELETE /{path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
    }
}
