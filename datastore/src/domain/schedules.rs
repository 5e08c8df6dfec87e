//! The datastore's scheduled work, as data (`docs/OPERATIONS.md#scheduled-work`): each job is a
//! row of `schedule` with its interval (from the configuration), its next run and how its last
//! run went, shown on the runners page and at `GET /api/v1/schedules`. One loop per process
//! takes the jobs that are due, each run by exactly one process (a guarded update), and records
//! every run as an event (`schedule.ran`).
//!
//! - `distribution_recheck` queues a check of every distribution record not checked for
//!   `DATASTORE_DISTRIBUTION_RECHECK_SECS` (`domain::parity`);
//! - `osv_refresh` reads `DATASTORE_OSV_DIR` again (`domain::sbom::OsvDump`);
//! - `asf_refresh` reads Apache's public committee, project, podling and roster files from
//!   `DATASTORE_ASF_DATA` (a directory or a base URL) and imports them (`directory::import_asf_as`).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use shared_models::api::AsfImportRequest;
use shared_models::runner::{ScheduleList, ScheduledJob};

use crate::auth::{Principal, authz};
use crate::config::Config;
use crate::db::models::ScheduleRow;
use crate::db::queries::events;
use crate::db::queries::schedules as q;
use crate::db::{DbConnection, now_ms, to_time, write_transaction};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// How often the loop looks for due jobs.
const TICK: Duration = Duration::from_secs(2);
/// A job's first run after the datastore starts (not all at the same instant as the start).
const FIRST_RUN_MS: i64 = 5_000;
/// How long a run may take before another process may take the job again (a process that died
/// mid-run).
const RUN_LEASE_MS: i64 = 30 * 60_000;
/// After a failed run, the job is tried again this soon (or at its interval, if shorter).
const RETRY_MS: i64 = 5 * 60_000;
/// The largest ASF data file read.
const ASF_FILE_BYTES: usize = 64 << 20;
/// The ASF files, and the part of the import each fills.
const ASF_FILES: [&str; 6] = [
    "committees.json",
    "retired_committees.json",
    "podlings.json",
    "projects.json",
    "ldap_projects.json",
    "groups.json",
];

/// A job of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    DistributionRecheck,
    OsvRefresh,
    AsfRefresh,
}

impl Job {
    pub const ALL: [Job; 3] = [Job::AsfRefresh, Job::DistributionRecheck, Job::OsvRefresh];

    pub fn name(self) -> &'static str {
        match self {
            Job::DistributionRecheck => "distribution_recheck",
            Job::OsvRefresh => "osv_refresh",
            Job::AsfRefresh => "asf_refresh",
        }
    }

    fn parse(name: &str) -> Option<Job> {
        Self::ALL.into_iter().find(|j| j.name() == name)
    }

    fn description(self) -> &'static str {
        match self {
            Job::DistributionRecheck => {
                "Queues a check of every distribution record not checked for DATASTORE_DISTRIBUTION_RECHECK_SECS"
            }
            Job::OsvRefresh => "Reads the OSV data in DATASTORE_OSV_DIR again",
            Job::AsfRefresh => "Imports Apache's committees, projects, podlings and rosters from DATASTORE_ASF_DATA",
        }
    }

    /// Its interval in this configuration; 0 where it has nothing to do.
    fn interval_secs(self, config: &Config) -> u64 {
        match self {
            // Records due are looked for every quarter of the recheck interval (at most ten
            // minutes), so none waits much longer than the interval itself.
            Job::DistributionRecheck if config.distribution_recheck_secs > 0 => {
                (config.distribution_recheck_secs / 4).clamp(1, 600)
            }
            Job::OsvRefresh if config.osv_dir.is_some() => config.osv_refresh_secs,
            Job::AsfRefresh if config.asf_data.is_some() => config.asf_refresh_secs,
            _ => 0,
        }
    }
}

/// At start: every job, with its interval from `config`.
pub fn configure(conn: &mut DbConnection, config: &Config) -> AppResult<()> {
    write_transaction(conn, |c| {
        let now = now_ms();
        for job in Job::ALL {
            let interval = i64::try_from(job.interval_secs(config)).unwrap_or(i64::MAX);
            q::configure(c, job.name(), interval, FIRST_RUN_MS, now)?;
        }
        Ok(())
    })
}

fn view(row: ScheduleRow) -> ScheduledJob {
    let description = Job::parse(&row.name).map(Job::description).unwrap_or_default().to_owned();
    let on = row.interval_secs > 0;
    ScheduledJob {
        description,
        interval_secs: u64::try_from(row.interval_secs).unwrap_or(0),
        next_run_at: on.then(|| to_time(row.next_run_at)),
        last_started_at: row.last_started_at.map(to_time),
        last_finished_at: row.last_finished_at.map(to_time),
        last_outcome: row.last_outcome,
        last_detail: row.last_detail,
        runs: u64::try_from(row.runs).unwrap_or(0),
        running: row.last_started_at.is_some_and(|s| row.last_finished_at.is_none_or(|f| s > f)),
        name: row.name,
    }
}

/// `GET /api/v1/schedules` (admins).
pub fn list(conn: &mut DbConnection, principal: &Principal) -> AppResult<ScheduleList> {
    authz::authorize_admin(principal)?;
    Ok(ScheduleList { jobs: q::list(conn)?.into_iter().map(view).collect() })
}

/// `POST /api/v1/schedules/{name}/run` (admins): the job runs within seconds.
pub fn run_now(conn: &mut DbConnection, principal: &Principal, name: &str) -> AppResult<ScheduledJob> {
    authz::authorize_admin(principal)?;
    let row = q::find(conn, name)?.ok_or_else(|| AppError::not_found(format!("There is no scheduled job {name}.")))?;
    if row.interval_secs == 0 {
        return Err(AppError::conflict(
            "job_off",
            format!("{name} is off in this configuration: {}.", Job::parse(name).map(Job::description).unwrap_or("")),
        ));
    }
    q::run_now(conn, name, now_ms())?;
    events::record_unscoped(conn, principal.actor(), "schedule.run_requested", name, json!({}))?;
    Ok(view(q::find(conn, name)?.ok_or_else(|| AppError::internal("the job went away"))?))
}

/// Runs every due job this process takes; how many ran.
pub async fn pass(state: &AppState) -> AppResult<usize> {
    let due = state.db.run(|c| Ok::<_, AppError>(q::due(c, now_ms())?)).await?;
    let mut ran = 0;
    for row in due {
        let Some(job) = Job::parse(&row.name) else { continue };
        if job.interval_secs(&state.config) == 0 {
            continue; // this process lacks the job's configuration: one that has it runs it
        }
        let taken = {
            let row = row.clone();
            state.db.run(move |c| Ok::<_, AppError>(q::take(c, &row, now_ms(), RUN_LEASE_MS)?)).await?
        };
        if !taken {
            continue; // another process took it
        }
        let started = Instant::now();
        let outcome = run(state, job).await;
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (status, detail) = match &outcome {
            Ok(detail) => ("success", detail.clone()),
            Err(why) => ("failure", why.clone()),
        };
        match &outcome {
            Ok(detail) => tracing::info!(job = job.name(), ms, %detail, "scheduled job ran"),
            Err(why) => tracing::warn!(job = job.name(), ms, error = %why, "scheduled job failed"),
        }
        let detail: String = detail.chars().take(2000).collect();
        let interval_ms = i64::try_from(job.interval_secs(&state.config)).unwrap_or(i64::MAX).saturating_mul(1000);
        let wait_ms = if outcome.is_ok() { interval_ms } else { interval_ms.min(RETRY_MS) };
        state
            .db
            .run(move |c| {
                write_transaction(c, |c| {
                    let now = now_ms();
                    q::finish(c, job.name(), status, &detail, now, now.saturating_add(wait_ms))?;
                    let details = json!({"outcome": status, "detail": detail, "ms": ms});
                    events::record_unscoped(c, "system", "schedule.ran", job.name(), details)?;
                    Ok::<_, AppError>(())
                })
            })
            .await?;
        ran += 1;
    }
    Ok(ran)
}

/// One run of `job`: what it did, or why it could not.
async fn run(state: &AppState, job: Job) -> Result<String, String> {
    match job {
        Job::DistributionRecheck => {
            let every_secs = state.config.distribution_recheck_secs;
            let every_ms = i64::try_from(every_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
            let queued = state.db.run(move |c| super::parity::recheck_due(c, every_ms)).await.map_err(|e| e.message)?;
            if queued > 0 {
                state.wake_runners();
            }
            Ok(format!("queued {queued} distribution checks (records not checked for {every_secs} s)"))
        }
        Job::OsvRefresh => {
            let osv = state.osv.clone();
            let (records, skipped) = tokio::task::spawn_blocking(move || osv.refresh())
                .await
                .map_err(|e| format!("reading the OSV data crashed: {e}"))??;
            Ok(format!("read {records} OSV records ({skipped} files skipped)"))
        }
        Job::AsfRefresh => {
            let source = state.config.asf_data.clone().ok_or("DATASTORE_ASF_DATA is not set")?;
            let (request, absent) = read_asf(&source).await?;
            let counts = state
                .db
                .run(move |c| super::directory::import_asf_as(c, "system", &request))
                .await
                .map_err(|e| e.message)?;
            let mut detail = format!(
                "{} committees, {} projects, {} users, {} memberships from {source}",
                counts.committees, counts.projects, counts.users, counts.memberships
            );
            if !counts.skipped.is_empty() {
                detail.push_str(&format!("; {} entries skipped (first: {})", counts.skipped.len(), counts.skipped[0]));
            }
            if !absent.is_empty() {
                detail.push_str(&format!("; absent: {}", absent.join(", ")));
            }
            Ok(detail)
        }
    }
}

/// The ASF files under `source` (a directory or a base URL) as an import, and the files that
/// are not there. A file that is there and not a JSON object fails the run: nothing is imported.
async fn read_asf(source: &str) -> Result<(AsfImportRequest, Vec<&'static str>), String> {
    let remote = source.starts_with("https://") || source.starts_with("http://");
    // The files grant committee roles: only over TLS (plain HTTP to a loopback mirror, for
    // tests and an operator's own sync), and no redirect to anywhere else.
    let loopback = ["http://127.0.0.1:", "http://127.0.0.1/", "http://[::1]", "http://localhost:", "http://localhost/"];
    if source.starts_with("http://") && !loopback.iter().any(|l| source.starts_with(l)) {
        return Err(format!("{source}: the ASF data grants roles, so it is read over https:// only"));
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .user_agent(concat!("trusted-releases-datastore/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let mut parts: Vec<Option<Map<String, Value>>> = Vec::with_capacity(ASF_FILES.len());
    let mut absent = Vec::new();
    for name in ASF_FILES {
        let bytes = if remote {
            fetch(&client, &format!("{}/{name}", source.trim_end_matches('/'))).await?
        } else {
            let path = std::path::Path::new(source).join(name);
            match tokio::fs::read(&path).await {
                Ok(bytes) if bytes.len() > ASF_FILE_BYTES => {
                    return Err(format!("{} is larger than {ASF_FILE_BYTES} bytes", path.display()));
                }
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
            }
        };
        let Some(bytes) = bytes else {
            absent.push(name);
            parts.push(None);
            continue;
        };
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => parts.push(Some(map)),
            Ok(_) => return Err(format!("{name} is not a JSON object; nothing was imported")),
            Err(e) => return Err(format!("{name} is not JSON ({e}); nothing was imported")),
        }
    }
    if absent.len() == ASF_FILES.len() {
        return Err(format!("none of {} is in {source}", ASF_FILES.join(", ")));
    }
    let mut parts = parts.into_iter();
    let mut next = || parts.next().flatten();
    let request = AsfImportRequest {
        committees: next(),
        retired_committees: next(),
        podlings: next(),
        projects: next(),
        ldap_projects: next(),
        groups: next(),
    };
    Ok((request, absent))
}

/// The body of `url` (at most [`ASF_FILE_BYTES`]); `None` for a 404.
async fn fetch(client: &reqwest::Client, url: &str) -> Result<Option<Vec<u8>>, String> {
    let response = client.get(url).send().await.map_err(|e| format!("GET {url}: {e}"))?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if response.status().is_redirection() {
        return Err(format!(
            "GET {url}: HTTP {}, a redirect, which is not followed: give the final URL",
            response.status()
        ));
    }
    if !response.status().is_success() {
        return Err(format!("GET {url}: HTTP {}", response.status()));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("GET {url}: {e}"))?;
        if body.len() + chunk.len() > ASF_FILE_BYTES {
            return Err(format!("GET {url}: more than {ASF_FILE_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// The loop: looks for due jobs every [`TICK`] until the process ends.
pub async fn scheduler(state: AppState) {
    loop {
        tokio::time::sleep(TICK).await;
        if let Err(e) = pass(&state).await {
            tracing::warn!(error = %e, "the schedule failed; trying again");
        }
    }
}
