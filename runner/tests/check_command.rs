//! `runner check DIR`: the server's checks on a local folder, with its exit status.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::process::Command;

fn httpd_release(dir: &std::path::Path, tamper: bool) {
    for file in ["httpd-2.4.68.tar.gz", "httpd-2.4.68.tar.gz.asc", "httpd-2.4.68.tar.gz.sha512"] {
        let mut bytes = std::fs::read(testkit::httpd(file)).unwrap();
        if tamper && file.ends_with(".tar.gz") {
            bytes[1_000_000] ^= 0x01;
        }
        std::fs::write(dir.join(file), bytes).unwrap();
    }
}

fn run(dir: &std::path::Path, json: bool) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runner"));
    command.arg("check").arg(dir).arg("--keys").arg(testkit::httpd("KEYS"));
    if json {
        command.arg("--json");
    }
    let out = command.output().unwrap();
    (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap())
}

#[test]
fn the_real_httpd_release_passes_locally() {
    let dir = tempfile::tempdir().unwrap();
    httpd_release(dir.path(), false);
    let (code, report) = run(dir.path(), false);
    assert_eq!(code, 0, "{report}");
    assert!(
        report.contains("good signature") && report.contains("65B2D44FE74BD5E3DE3AC3F082781DE46D5954FA"),
        "{report}"
    );
    assert!(!report.lines().any(|l| l.starts_with("FAIL") || l.starts_with("ERR")), "{report}");
    let summary = report.lines().rev().find(|l| l.contains(" success")).expect("a summary line");
    assert!(!summary.contains("failure") && !summary.contains("error"), "{summary}");
}

#[test]
fn a_changed_byte_fails_locally_with_the_server_s_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    httpd_release(dir.path(), true);
    let (code, report) = run(dir.path(), true);
    assert_eq!(code, 1);
    let results: Vec<shared_models::checks::CheckResult> = serde_json::from_str(&report).unwrap();
    let failed: Vec<(&str, &str)> = results
        .iter()
        .filter(|r| r.status.as_str() == "failure")
        .map(|r| (r.checker.as_str(), r.data.as_ref().and_then(|d| d["rule"].as_str()).unwrap_or("")))
        .collect();
    assert!(failed.contains(&("hashing", "H1")) && failed.contains(&("signature", "S1")), "{failed:?}");
}

#[test]
fn a_missing_folder_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_runner")).args(["check", "/nonexistent/dist"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/dist"));
}

/// httpd has 643 files without a licence header: a release manager at a terminal sees a few
/// and a count, and all of them with `--verbose`.
#[test]
fn many_results_of_one_rule_are_counted_not_listed() {
    let dir = tempfile::tempdir().unwrap();
    httpd_release(dir.path(), false);
    let (_, report) = run(dir.path(), false);
    let header_warnings =
        report.lines().filter(|l| l.starts_with("warn") && l.contains(" rat ") && l.contains(" R1 ")).count();
    assert_eq!(header_warnings, 5, "{report}");
    assert!(report.contains("… and 638 more warning rat R1 results"), "{report}");
    assert!(report.lines().count() < 100, "{} lines", report.lines().count());
    let out = Command::new(env!("CARGO_BIN_EXE_runner"))
        .arg("check")
        .arg(dir.path())
        .arg("--keys")
        .arg(testkit::httpd("KEYS"))
        .arg("--verbose")
        .output()
        .unwrap();
    let verbose = String::from_utf8(out.stdout).unwrap();
    let all = verbose.lines().filter(|l| l.starts_with("warn") && l.contains(" rat ") && l.contains(" R1 ")).count();
    assert_eq!(all, 643);
}
