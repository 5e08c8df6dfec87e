//! The `sbom` and `trees` checks through the whole stack: a real runner downloads a CycloneDX SBOM
//! and a source shipped as `.tar.gz` and `.zip`, and the datastore shows the verdicts and the
//! SBOM as data.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::time::Duration;

use e2e::{Stack, StackOptions};
use serde_json::json;
use testkit::Backend;
use testkit::archives::{Entry, gzip, tar_bytes, zip_bytes};

async fn the_runner_checks_sboms_and_compares_archive_twins(backend: Backend) {
    let Some(stack) = Stack::start(backend, StackOptions::default()).await else {
        return;
    };
    stack.release("app", "1.0", false).await;
    let tar = gzip(&tar_bytes(&[
        Entry::Dir("app-1.0-src"),
        Entry::File("app-1.0-src/README", b"app\n"),
        Entry::File("app-1.0-src/src/main.c", b"int main(void) { return 0; }\n"),
    ]));
    // The zip was built from a tree someone edited afterwards.
    let zip = zip_bytes(
        &[("app-1.0-src/README", b"app\n"), ("app-1.0-src/src/main.c", b"int main(void) { return 1; }\n")],
        zip::CompressionMethod::Deflated,
    );
    let sbom = json!({
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "metadata": {"timestamp": "2026-12-01T00:00:00Z", "component": {"type": "application", "name": "app", "version": "1.0"}},
        "components": [{"type": "library", "name": "zlib", "version": "1.3.1", "purl": "pkg:generic/zlib@1.3.1"}]
    });
    stack.upload("app/1.0", "app-1.0-src.tar.gz", tar).await;
    stack.upload("app/1.0", "app-1.0-src.zip", zip).await;
    stack.upload("app/1.0", "app-1.0.cdx.json", serde_json::to_vec(&sbom).unwrap()).await;
    let report = stack.checks_done("app/1.0", Duration::from_secs(120)).await;

    let of = |checker: &str| -> Vec<&shared_models::checks::CheckResult> {
        report.results.iter().filter(|r| r.checker.as_str() == checker).collect()
    };
    let trees = of("trees");
    assert_eq!(trees.len(), 1, "{trees:#?}");
    assert_eq!(trees[0].status.as_str(), "failure");
    assert_eq!(trees[0].path, "app-1.0-src.tar.gz");
    assert!(trees[0].message.contains("content differs") && trees[0].message.contains("`src/main.c`"), "{trees:#?}");

    let sbom_results = of("sbom");
    assert_eq!(sbom_results[0].status.as_str(), "success", "{sbom_results:#?}");
    assert_eq!(sbom_results[0].message, "valid CycloneDX 1.5");
    let warnings: Vec<&str> =
        sbom_results.iter().filter(|r| r.status.as_str() == "warning").map(|r| r.message.as_str()).collect();
    for element in ["NTIA author", "NTIA dependency relationship", "NTIA supplier"] {
        assert!(warnings.iter().any(|w| w.starts_with(element)), "no {element} warning in {warnings:?}");
    }

    let shown = stack.get("/api/v1/releases/app/1.0/sbom").await;
    assert_eq!(shown["spec_version"], "1.5", "{shown}");
    assert_eq!(shown["components"].as_array().unwrap().len(), 2, "{shown}");
    assert_eq!(shown["osv"]["configured"], false);
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    the_runner_checks_sboms_and_compares_archive_twins
);
