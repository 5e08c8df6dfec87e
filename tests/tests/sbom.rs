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

/// A release manager asks for an SBOM of the source archive: the runner reads its manifests,
/// the SBOM arrives as a file of a new revision, and the new revision's `sbom` check takes it.
async fn the_runner_makes_an_sbom_from_the_manifests_as_a_new_revision(backend: Backend) {
    let Some(stack) = Stack::start(backend, StackOptions::default()).await else {
        return;
    };
    stack.release("app", "2.0", false).await;
    let tar = gzip(&tar_bytes(&[
        Entry::File(
            "app-2.0-src/Cargo.lock",
            b"version = 3\n\n[[package]]\nname = \"app\"\nversion = \"2.0.0\"\n\n[[package]]\nname = \"serde\"\n\
              version = \"1.0.210\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n",
        ),
        Entry::File("app-2.0-src/ui/package-lock.json", br#"{"lockfileVersion": 3, "packages": {"": {}, "node_modules/@babel/core": {"version": "7.24.0"}}}"#),
        Entry::File("app-2.0-src/pom.xml", b"<project><dependencies><dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>2.0.13</version></dependency></dependencies></project>"),
        Entry::File("app-2.0-src/go.sum", b"golang.org/x/net v0.25.0 h1:x=\ngolang.org/x/net v0.25.0/go.mod h1:y=\n"),
        Entry::File("app-2.0-src/requirements.txt", b"urllib3==2.2.1\n"),
    ]));
    stack.upload("app/2.0", "app-2.0-src.tar.gz", tar).await;
    stack.checks_done("app/2.0", Duration::from_secs(120)).await;
    let (status, queued) =
        stack.post("/api/v1/releases/app/2.0/sbom/generate", json!({"file": "app-2.0-src.tar.gz"})).await;
    assert_eq!(status, 202, "{queued}");
    let generated =
        testkit::eventually("the SBOM is made", Duration::from_secs(90), Duration::from_millis(200), || async {
            let events = stack.get("/api/v1/releases/app/2.0/events?limit=1000").await;
            let found = events["events"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["action"] == "sbom.generated" || e["action"] == "sbom.generate_failed")
                .cloned();
            found.ok_or_else(|| "not yet".to_owned())
        })
        .await;
    assert_eq!(generated["action"], "sbom.generated", "{generated}");
    assert_eq!(generated["details"]["revision"], 2);
    assert_eq!(generated["details"]["components"], 5, "{generated}");
    let files = stack.get("/api/v1/releases/app/2.0/files").await;
    let names: Vec<&str> = files["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(names, ["app-2.0-src.cdx.json", "app-2.0-src.tar.gz"], "{files}");
    let report = stack.checks_done("app/2.0", Duration::from_secs(120)).await;
    let sbom: Vec<_> = report.results.iter().filter(|r| r.checker.as_str() == "sbom").collect();
    assert_eq!(sbom[0].status.as_str(), "success", "{sbom:#?}");
    assert_eq!(sbom[0].message, "valid CycloneDX 1.6", "the platform's own check takes what it made");
    let shown = stack.get("/api/v1/releases/app/2.0/sbom").await;
    let purls: Vec<&str> = shown["components"].as_array().unwrap().iter().filter_map(|c| c["purl"].as_str()).collect();
    for purl in [
        "pkg:cargo/serde@1.0.210",
        "pkg:npm/%40babel/core@7.24.0",
        "pkg:maven/org.slf4j/slf4j-api@2.0.13",
        "pkg:golang/golang.org/x/net@v0.25.0",
        "pkg:pypi/urllib3@2.2.1",
    ] {
        assert!(purls.contains(&purl), "{purl} in {purls:?}");
    }
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    the_runner_checks_sboms_and_compares_archive_twins
);

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    the_runner_makes_an_sbom_from_the_manifests_as_a_new_revision
);
