//! Both services stop promptly on SIGTERM when idle, and exit 0: the datastore answers the
//! runner's waiting claim at once instead of waiting out its long poll, and the runner stops
//! claiming and leaves.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::time::{Duration, Instant};

use e2e::{Process, Stack, StackOptions};
use testkit::Backend;

/// Sends SIGTERM and returns how long the process took to exit, and its exit status.
fn terminate(process: &mut Process) -> (Duration, std::process::ExitStatus) {
    // Let a claim reach its long poll first.
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    process.signal("-TERM");
    loop {
        if let Some(status) = process.child.try_wait().unwrap() {
            return (started.elapsed(), status);
        }
        assert!(started.elapsed() < Duration::from_secs(40), "{} did not stop", process.name);
        std::thread::sleep(Duration::from_millis(5));
    }
}

async fn both_services_stop_within_a_second_when_idle(backend: Backend) {
    let Some(mut stack) = Stack::start(backend, StackOptions { runners: 2, ..StackOptions::default() }).await else {
        return;
    };
    let check = |process: &mut Process, when: &str| {
        let (took, status) = terminate(process);
        assert!(status.success(), "{} exits 0 {when}: {status}", process.name);
        assert!(took < Duration::from_secs(1), "{} took {took:?} to stop {when}", process.name);
        eprintln!("{} stopped in {took:?} {when}", process.name);
    };
    check(&mut stack.runners[0], "while waiting for work");
    check(&mut stack.datastore, "while a runner waits for work");
    check(&mut stack.runners[1], "while its datastore is gone");
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    both_services_stop_within_a_second_when_idle
);
