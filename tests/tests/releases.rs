//! Real releases through the whole stack: upload, the runner's checks, the report.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::time::Duration;

use e2e::{Stack, StackOptions, lines_with};
use testkit::{Backend, fixture, httpd};

const SIGNER: &str = "65B2D44FE74BD5E3DE3AC3F082781DE46D5954FA";

async fn the_real_httpd_release_passes_and_a_changed_byte_fails(backend: Backend) {
    let Some(stack) = Stack::start(backend, StackOptions::default()).await else { return };
    stack.release("httpd", "2.4.68", false).await;
    let imported = stack.import_keys("httpd", std::fs::read(httpd("KEYS")).unwrap()).await;
    assert_eq!(imported.added, 41);
    let files = ["httpd-2.4.68.tar.gz", "httpd-2.4.68.tar.gz.asc", "httpd-2.4.68.tar.gz.sha512"];
    for file in files {
        stack.upload("httpd/2.4.68", file, std::fs::read(httpd(file)).unwrap()).await;
    }
    let report = stack.checks_done("httpd/2.4.68", Duration::from_secs(120)).await;
    let bad = lines_with(&report, &["failure", "error"]);
    assert!(bad.is_empty(), "the real httpd release must pass:\n{}", bad.join("\n"));
    for checker in ["paths", "hashing", "signature", "archive", "license", "rat"] {
        assert!(report.results.iter().any(|r| r.checker.as_str() == checker), "no result from {checker}");
    }
    let signature =
        report.results.iter().find(|r| r.checker.as_str() == "signature" && r.status.as_str() == "success").unwrap();
    assert_eq!(signature.data.as_ref().unwrap()["signer"], SIGNER);

    // The same files with one byte of the tarball changed: hashing and signature fail.
    stack.release("httpd", "2.4.68.1", false).await;
    let mut tampered = std::fs::read(httpd("httpd-2.4.68.tar.gz")).unwrap();
    tampered[4_000_000] ^= 0x20;
    stack.upload("httpd/2.4.68.1", "httpd-2.4.68.tar.gz", tampered).await;
    for file in &files[1..] {
        stack.upload("httpd/2.4.68.1", file, std::fs::read(httpd(file)).unwrap()).await;
    }
    let report = stack.checks_done("httpd/2.4.68.1", Duration::from_secs(120)).await;
    let failed: Vec<&str> =
        report.results.iter().filter(|r| r.status.as_str() == "failure").map(|r| r.checker.as_str()).collect();
    assert!(failed.contains(&"hashing") && failed.contains(&"signature"), "{:#?}", lines_with(&report, &["failure"]));
}

async fn the_atr_acceptance_fixture_passes(backend: Backend) {
    let Some(stack) = Stack::start(backend, StackOptions::default()).await else { return };
    stack.release("tooling", "0.2", false).await;
    let key = std::fs::read(fixture("atr-playwright/68FF2E20F02B070D73D416188DE8CC167FE2663A.asc")).unwrap();
    stack.import_keys("tooling", key).await;
    for file in ["apache-test-0.2.tar.gz", "apache-test-0.2.tar.gz.asc", "apache-test-0.2.tar.gz.sha512"] {
        stack
            .upload(
                "tooling/0.2",
                file,
                std::fs::read(fixture(&format!("atr-playwright/apache-test-0.2/{file}"))).unwrap(),
            )
            .await;
    }
    let report = stack.checks_done("tooling/0.2", Duration::from_secs(60)).await;
    let bad = lines_with(&report, &["failure", "error"]);
    assert!(bad.is_empty(), "the ATR fixture must pass as it does there:\n{}", bad.join("\n"));
    for checker in ["hashing", "signature", "license", "rat"] {
        assert!(
            report.results.iter().any(|r| r.checker.as_str() == checker && r.status.as_str() == "success"),
            "{checker}"
        );
    }
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    the_real_httpd_release_passes_and_a_changed_byte_fails,
    the_atr_acceptance_fixture_passes
);
