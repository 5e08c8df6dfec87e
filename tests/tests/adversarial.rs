//! Hostile archives through the whole stack: each gives a named failure of the `archive`
//! checker, in bounded time and memory, and the runner goes on working.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::time::{Duration, Instant};

use e2e::{Stack, StackOptions};
use testkit::Backend;
use testkit::archives::{Entry, gzip, million_members, one_member_bomb, tar_bytes, zip_bytes};

/// (file name, bytes, rule expected to fail, a word the failure must name).
fn hostile_archives(dir: &std::path::Path) -> Vec<(String, Vec<u8>, &'static str, &'static str)> {
    let tar = |root: &str, extra: Entry<'_>| {
        let readme = format!("{root}/README");
        gzip(&tar_bytes(&[Entry::Dir(root), Entry::File(&readme, b"hello"), extra]))
    };
    let members = dir.join("members.tar.gz");
    million_members(&members, "evil-members-1.0");
    let mut bad_crc = zip_bytes(
        &[("evil-crc-1.0/data.txt", b"this member's bytes will not match its CRC")],
        zip::CompressionMethod::Stored,
    );
    let at = bad_crc.windows(4).position(|w| w == b"byte").unwrap();
    bad_crc[at] ^= 0x20;
    let whole = tar("evil-truncated-1.0", Entry::File("evil-truncated-1.0/more", &[7u8; 20_000]));
    vec![
        (
            "evil-traversal-1.0.tar.gz".into(),
            tar("evil-traversal-1.0", Entry::File("evil-traversal-1.0/../../x", b"x")),
            "A2",
            "..",
        ),
        (
            "evil-absolute-1.0.tar.gz".into(),
            tar("evil-absolute-1.0", Entry::File("/etc/cron.d/evil", b"x")),
            "A2",
            "absolute",
        ),
        (
            "evil-symlink-1.0.tar.gz".into(),
            tar("evil-symlink-1.0", Entry::Symlink("evil-symlink-1.0/link", "../../../etc/passwd")),
            "A2",
            "link",
        ),
        (
            "evil-hardlink-1.0.tar.gz".into(),
            tar("evil-hardlink-1.0", Entry::HardLink("evil-hardlink-1.0/h", "evil-hardlink-1.0/README")),
            "A2",
            "hard link",
        ),
        ("evil-bomb-1.0.tar.gz".into(), one_member_bomb("evil-bomb-1.0", 10 << 30), "A3", "max_"),
        ("evil-members-1.0.tar.gz".into(), std::fs::read(&members).unwrap(), "A3", "members"),
        ("evil-truncated-1.0.tar.gz".into(), whole[..whole.len() * 2 / 3].to_vec(), "A1", "truncated"),
        ("evil-crc-1.0.zip".into(), bad_crc, "A1", "CRC"),
    ]
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).unwrap().parse().unwrap()
}

async fn every_hostile_archive_fails_by_name(backend: Backend) {
    let Some(stack) = Stack::start(backend, StackOptions::default()).await else {
        return;
    };
    stack.release("evil", "1.0", false).await;
    let dir = tempfile::tempdir().unwrap();
    let archives = hostile_archives(dir.path());
    for (name, bytes, _, _) in &archives {
        stack.upload("evil/1.0", name, bytes.clone()).await;
    }
    let started = Instant::now();
    let report = stack.checks_done("evil/1.0", Duration::from_secs(180)).await;
    let took = started.elapsed();
    for (name, _, rule, word) in &archives {
        let failure = report
            .results
            .iter()
            .find(|r| {
                r.checker.as_str() == "archive"
                    && &r.path == name
                    && r.status.as_str() == "failure"
                    && r.data.as_ref().and_then(|d| d["rule"].as_str()) == Some(rule)
            })
            .unwrap_or_else(|| {
                panic!(
                    "{name}: no {rule} failure in {:#?}",
                    report.results.iter().filter(|r| &r.path == name).collect::<Vec<_>>()
                )
            });
        let said =
            format!("{} {}", failure.message, failure.data.as_ref().map(ToString::to_string).unwrap_or_default());
        assert!(said.contains(word), "{name}: the failure should name {word:?}: {said}");
    }
    let peak = peak_rss_kib(stack.runners[0].child.id());
    eprintln!("hostile archives: all checks done in {took:?}; runner peak RSS {} MiB", peak / 1024);
    assert!(peak < 400 * 1024, "the runner's memory stayed bounded: peak {peak} KiB");
    let status: serde_json::Value =
        stack.client.get(format!("{}/status", stack.runner_status[0])).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["totals"]["failed"], 0, "every hostile archive got a verdict, none crashed a task: {status}");
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    every_hostile_archive_fails_by_name
);
