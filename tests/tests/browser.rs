//! The pages people read, loaded in a real headless Chromium: the project directory, download
//! listings, the page of a revoked release, the API reference, errors, and a runner's status.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::time::Duration;

use e2e::{Stack, StackOptions, browser_dom, set_phase};
use testkit::{Backend, httpd};

async fn pages_render_in_a_browser(backend: Backend) {
    let Some(stack) = Stack::start(backend, StackOptions::default()).await else { return };
    stack.release("httpd", "2.4.68", false).await;
    stack.import_keys("httpd", std::fs::read(httpd("KEYS")).unwrap()).await;
    for file in ["httpd-2.4.68.tar.gz", "httpd-2.4.68.tar.gz.asc", "httpd-2.4.68.tar.gz.sha512"] {
        stack.upload("httpd/2.4.68", file, std::fs::read(httpd(file)).unwrap()).await;
    }
    stack.checks_done("httpd/2.4.68", Duration::from_secs(120)).await;
    let Some(home) = browser_dom(&stack.url("/")) else { return };
    assert!(home.contains("<h1>Projects</h1>") && home.contains("httpd"), "{home}");
    let none = browser_dom(&stack.url("/?q=zzz")).unwrap();
    assert!(none.contains("No project matches"), "{none}");

    set_phase(stack.database_url(), "httpd", "2.4.68", "current", None);
    let listing = browser_dom(&stack.url("/current/httpd/2.4.68/")).unwrap();
    assert!(listing.contains("Index of /current/httpd/2.4.68/"), "{listing}");
    assert!(listing.contains("href=\"httpd-2.4.68.tar.gz\"") && listing.contains("10.1 MB"), "{listing}");
    let versions = browser_dom(&stack.url("/current/httpd/")).unwrap();
    assert!(versions.contains("href=\"latest/\"") && versions.contains("href=\"2.4.68/\""), "{versions}");

    set_phase(stack.database_url(), "httpd", "2.4.68", "revoked", Some("CVE-2099-0001: remote code execution"));
    let gone = browser_dom(&stack.url("/current/httpd/2.4.68/httpd-2.4.68.tar.gz")).unwrap();
    assert!(gone.contains("410 Gone") && gone.contains("CVE-2099-0001"), "{gone}");
    assert!(gone.contains("href=\"/revoked/httpd/2.4.68/httpd-2.4.68.tar.gz\""), "{gone}");

    let docs = browser_dom(&stack.url("/api/docs")).unwrap();
    assert!(
        docs.contains("/api/v1/releases/{project}/{version}/files/{path}") && docs.contains("schema-ChecksReport"),
        "the API reference"
    );
    let missing = browser_dom(&stack.url("/no/such/page")).unwrap();
    assert!(missing.contains("404 Not Found"), "{missing}");

    let status = browser_dom(&format!("{}/status", stack.runner_status[0])).unwrap();
    assert!(status.contains("Runner runner-0") && status.contains("Completed"), "{status}");
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    pages_render_in_a_browser
);
