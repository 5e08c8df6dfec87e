//! Chaos, bounded: four runners on PostgreSQL work through 301 tasks while one of them is
//! killed with SIGKILL and started again every few seconds. Every task completes exactly once,
//! no verdict is stored twice, and the attempts add up: each claim ended as a completion, or
//! as a lost or failed attempt that the audit log records.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use e2e::{Stack, StackOptions};
use testkit::{Backend, httpd};

/// Copies of the httpd tarball under names of their own (one blob, many check identities),
/// each with its `.sha512`: 75 × (hashing, archive, license, rat) + 1 paths = 301 tasks.
const COPIES: usize = 75;

#[derive(QueryableByName, Debug)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(conn).unwrap().n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runners_killed_at_random_lose_no_task_and_store_nothing_twice() {
    let Some(mut stack) = Stack::start(
        Backend::Postgres,
        // A lease of 6 s: a kill is still noticed within a few kills' time, and a runner starved of
        // CPU for 3 s on two busy cores (eight rat checks at once) is not taken for a dead one, which
        // at a task's third attempt would fail it as runner_lost.
        StackOptions { runners: 0, runner_capacity: 2, lease_secs: 6, ..StackOptions::default() },
    )
    .await
    else {
        return;
    };
    stack.release("chaos", "1.0", false).await;
    let tarball = std::fs::read(httpd("httpd-2.4.68.tar.gz")).unwrap();
    let sha512 = checks::digest::sha512_of(&tarball[..]).unwrap().0;
    let mut form = reqwest::multipart::Form::new().percent_encode_noop();
    for i in 0..COPIES {
        let name = format!("chaos-{i:03}.tar.gz");
        form = form.part(name.clone(), reqwest::multipart::Part::bytes(tarball.clone())).part(
            format!("{name}.sha512"),
            reqwest::multipart::Part::bytes(format!("{sha512}  {name}\n").into_bytes()),
        );
    }
    let response = stack
        .client
        .post(stack.url("/api/v1/releases/chaos/1.0/revisions"))
        .bearer_auth(&stack.jwt)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    for i in 0..4 {
        stack.add_runner(&format!("chaos-{i}"), 2).await;
    }

    // One runner dies every 2.5 s, at random, until every check has reported.
    let started = Instant::now();
    let mut kills = 0;
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    loop {
        let report: serde_json::Value = stack.get("/api/v1/releases/chaos/1.0/checks").await;
        if report["complete"] == true {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "the checks did not finish: {}", report["summary"]);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        stack.crash_and_restart_runner(usize::try_from(seed % 4).unwrap()).await;
        kills += 1;
    }
    let took = started.elapsed();

    let mut conn = PgConnection::establish(stack.database_url()).unwrap();
    let tasks = count(&mut conn, "SELECT COUNT(*) AS n FROM task");
    let completed = count(&mut conn, "SELECT COUNT(*) AS n FROM task WHERE status = 'completed'");
    let attempts = count(&mut conn, "SELECT COALESCE(SUM(attempt), 0) AS n FROM task");
    let event = |action: &str| format!("SELECT COUNT(*) AS n FROM event WHERE action = '{action}'");
    let requeued = count(&mut conn, &event("task.requeued"));
    let lost = count(&mut conn, &event("task.lost"));
    let attempt_failed = count(&mut conn, &event("task.attempt_failed"));
    let failed = count(&mut conn, &event("task.failed"));
    let duplicated = count(
        &mut conn,
        "SELECT COUNT(*) AS n FROM (SELECT inputs_hash, checker FROM check_result \
         GROUP BY inputs_hash, checker, checker_version, policy_hash HAVING COUNT(DISTINCT task_id) > 1) twice",
    );
    let results = count(&mut conn, "SELECT COUNT(*) AS n FROM check_result");
    eprintln!(
        "chaos: {tasks} tasks, {kills} runners killed in {took:?}; {attempts} attempts = {completed} completed + \
         {requeued} requeued and {lost} lost by the reaper + {attempt_failed} failed and retried + {failed} failed; \
         {results} results, {duplicated} checks with results from two tasks"
    );
    assert_eq!(tasks, 301);
    assert_eq!(completed, tasks, "every task completed (none failed for good)");
    assert_eq!(duplicated, 0, "no check's verdicts were stored by two tasks");
    assert_eq!(
        attempts,
        completed + requeued + lost + attempt_failed + failed,
        "every attempt ended as a completion or a recorded lost or failed attempt"
    );
    assert!(kills >= 3, "the runners were killed {kills} times only: the test proved little");
    assert!(requeued > 0, "no lease was lost to a killed runner: the test proved little");
    let report: shared_models::checks::ChecksReport =
        serde_json::from_value(stack.get("/api/v1/releases/chaos/1.0/checks").await).unwrap();
    for checker in ["hashing", "archive", "license", "rat"] {
        let files: std::collections::BTreeSet<&str> =
            report.results.iter().filter(|r| r.checker.as_str() == checker).map(|r| r.path.as_str()).collect();
        assert_eq!(files.len(), COPIES, "{checker} judged every copy once");
    }
    assert!(report.results.iter().all(|r| r.status.as_str() != "error"), "no check was lost for good");
}
