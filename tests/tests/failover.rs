//! Runners die and stall: a task leased to a runner killed with SIGKILL is leased again and
//! completed by another, its results stored once; a runner that wakes after its lease moved on
//! has its late result refused (409) and says so on its status page.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::time::Duration;

use e2e::{Stack, StackOptions};
use serde_json::Value;
use testkit::Backend;

/// 512 MiB of pseudo-random bytes (incompressible, quick to make), and its SHA-512 line.
fn big_artifact() -> (Vec<u8>, Vec<u8>) {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut bytes = Vec::with_capacity(512 << 20);
    while bytes.len() < 512 << 20 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    let (sha512, _) = checks::digest::sha512_of(&bytes[..]).unwrap();
    (bytes, format!("{sha512}  big-1.0.bin\n").into_bytes())
}

async fn hashing_task(stack: &Stack) -> Value {
    let tasks = stack.get("/api/v1/tasks?release=big/1.0").await;
    tasks["tasks"].as_array().unwrap().iter().find(|t| t["kind"] == "hashing").cloned().unwrap_or(Value::Null)
}

/// Waits until the hashing task is leased to runner `name`.
async fn leased_to(stack: &Stack, name: &str) -> Value {
    testkit::eventually(
        &format!("the hashing task leased to {name}"),
        Duration::from_secs(60),
        Duration::from_millis(10),
        || async {
            let task = hashing_task(stack).await;
            if task["status"] == "leased" && task["runner"] == name { Ok(task) } else { Err(task.to_string()) }
        },
    )
    .await
}

async fn setup(backend: Backend) -> Option<Stack> {
    let stack = Stack::start(
        backend,
        StackOptions { runners: 0, runner_capacity: 1, lease_secs: 3, ..StackOptions::default() },
    )
    .await?;
    stack.release("big", "1.0", false).await;
    let (artifact, sum) = big_artifact();
    stack.upload("big/1.0", "big-1.0.bin", artifact).await;
    stack.upload("big/1.0", "big-1.0.bin.sha512", sum).await;
    Some(stack)
}

fn hashing_results(report: &shared_models::checks::ChecksReport) -> usize {
    report.results.iter().filter(|r| r.checker.as_str() == "hashing").count()
}

async fn a_killed_runner_s_task_is_finished_by_another(backend: Backend) {
    let Some(mut stack) = setup(backend).await else { return };
    let first = stack.add_runner("doomed", 1).await;
    leased_to(&stack, "doomed").await;
    stack.runners[first].signal("-STOP"); // frozen mid-task, then killed outright
    stack.runners[first].kill();
    stack.add_runner("rescuer", 1).await;
    let report = stack.checks_done("big/1.0", Duration::from_secs(90)).await;
    let task = hashing_task(&stack).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(task["attempt"], 2, "leased again after the first runner died: {task}");
    assert_eq!(task["runner"], "rescuer");
    assert_eq!(hashing_results(&report), 1, "the results appear once: {:#?}", report.results);
    assert!(
        report.results.iter().all(|r| r.status.as_str() == "success" || r.checker.as_str() == "paths"),
        "{:#?}",
        report.results
    );
}

async fn a_stale_runner_s_late_result_is_refused(backend: Backend) {
    let Some(mut stack) = setup(backend).await else { return };
    let sleeper = stack.add_runner("sleeper", 1).await;
    let status_url = format!("{}/status", stack.runner_status[sleeper]);
    leased_to(&stack, "sleeper").await;
    let before: Value = stack.client.get(&status_url).send().await.unwrap().json().await.unwrap();
    stack.runners[sleeper].signal("-STOP");
    stack.add_runner("rescuer", 1).await;
    let report = stack.checks_done("big/1.0", Duration::from_secs(90)).await;
    assert_eq!(hashing_task(&stack).await["runner"], "rescuer");
    // The sleeper wakes up with a stale lease: its first contact about the task (a renewal or
    // its result) is refused with 409, and it gives the task up without storing anything.
    stack.runners[sleeper].signal("-CONT");
    let status = testkit::eventually(
        "the stale runner gives its task up",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || async {
            let status: Value = stack.client.get(&status_url).send().await.unwrap().json().await.unwrap();
            if status["totals"]["lost"] == 1 { Ok(status) } else { Err(status.to_string()) }
        },
    )
    .await;
    assert!(status["in_flight"].as_array().unwrap().is_empty(), "{status}");
    assert_eq!(status["totals"]["completed"], before["totals"]["completed"], "the stale task is not counted done");
    let after = stack.checks_done("big/1.0", Duration::from_secs(5)).await;
    assert_eq!(hashing_results(&after), hashing_results(&report), "the late result was not stored");
    assert_eq!(hashing_results(&after), 1);
}

testkit::on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_killed_runner_s_task_is_finished_by_another,
    a_stale_runner_s_late_result_is_refused
);
