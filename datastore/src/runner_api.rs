//! `/api/runner/v1`: the runner protocol (RUNNER-PROTOCOL.md). Runners authenticate with their
//! own tokens; a task is theirs only while they hold its lease token.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::http::header::ContentType;
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, web};
use actix_web::{get, post};
use shared_models::runner::{
    ClaimRequest, ClaimResponse, LeaseRequest, LeaseResponse, LogRequest, ResultRequest, ResultResponse, TaskOrder,
    TaskStatus,
};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::secrets;
use crate::db::models::RunnerRow;
use crate::domain::tasks::{self, LeaseTerms, ReapCounts};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(claim).service(lease).service(log).service(result).service(blob).service(upload).service(keys);
}

/// The runner calling, from `Authorization: Bearer <runner token>`.
#[derive(Debug, Clone)]
pub struct RunnerPrincipal(pub RunnerRow);

impl FromRequest for RunnerPrincipal {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = AppResult<Self>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .map(str::to_owned);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let refused = || {
                AppError::unauthorized("This needs `Authorization: Bearer <runner token>` (datastore runner add NAME).")
            };
            let token = token.filter(|t| t.starts_with(secrets::RUNNER_TOKEN_PREFIX)).ok_or_else(refused)?;
            let state = state.ok_or_else(|| AppError::internal("application state missing"))?;
            let hash = secrets::hash(&token);
            let runner = state.db.run(move |c| tasks::runner_by_token(c, &hash)).await?;
            runner.map(RunnerPrincipal).ok_or_else(refused)
        })
    }
}

fn terms(state: &AppState) -> LeaseTerms {
    LeaseTerms {
        lease_ms: i64::try_from(state.config.lease_secs.saturating_mul(1000)).unwrap_or(60_000),
        deadline_ms: i64::try_from(state.config.task_deadline_secs.saturating_mul(1000)).unwrap_or(900_000),
    }
}

fn task_id(req: &HttpRequest) -> AppResult<i64> {
    req.match_info()
        .get("id")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| AppError::bad_request("invalid_task", "A task id is a number."))
}

/// Long-polls for work: answers as soon as tasks are claimed, or 204 after `wait_s`. If the
/// runner's connection closes while it waits, the server drops this handler: a claim under way
/// then rolls back, or gives back what it leased, so nothing is leased to nobody.
#[utoipa::path(tag = "runner", operation_id = "runner_claim", request_body = ClaimRequest, security(("runner" = [])),
    responses((status = 200, description = "Tasks leased to this runner", body = ClaimResponse),
        (status = 204, description = "Nothing to do within `wait_s`, or the datastore is stopping"),
        (status = 422, description = "`invalid_kinds`: none of the kinds is known", body = shared_models::ErrorBody),
        (status = 429, description = "Too many claims are waiting; retry after `Retry-After`", body = shared_models::ErrorBody)))]
#[post("/claim")]
async fn claim(
    state: web::Data<AppState>,
    runner: RunnerPrincipal,
    body: web::Json<ClaimRequest>,
) -> AppResult<HttpResponse> {
    let Ok(_permit) = state.waiting_claims.clone().try_acquire_owned() else {
        return Ok(HttpResponse::TooManyRequests().insert_header(("Retry-After", "5")).json(
            shared_models::ErrorBody {
                error: "too_many_requests".to_owned(),
                message: "Too many runners are waiting for work; try again shortly.".to_owned(),
                details: None,
            },
        ));
    };
    let request = body.into_inner();
    tasks::known_kinds(&request.kinds)?; // refused before anything else, also when taking nothing
    if request.capacity == 0 {
        return Ok(HttpResponse::NoContent().finish());
    }
    let wait = Duration::from_secs(u64::from(request.wait_s.unwrap_or(25).min(60)));
    let deadline = tokio::time::Instant::now() + wait;
    let terms = terms(&state);
    {
        let (runner, version, kinds) = (runner.0.clone(), request.version.clone(), request.kinds.clone());
        let capacity = request.capacity;
        state.db.run(move |c| tasks::touch_runner(c, &runner, &version, &kinds, capacity)).await?;
    }
    let mut stopping = state.stopping.subscribe();
    loop {
        if *stopping.borrow() {
            // The datastore is stopping: the runner asks again, of a process that stays.
            return Ok(HttpResponse::NoContent().finish());
        }
        // Register interest before looking, so a task queued in between still wakes us.
        let notified = state.tasks_queued.notified();
        let (row, kinds, capacity) = (runner.0.clone(), request.kinds.clone(), request.capacity);
        let (handover, orders) = tokio::sync::oneshot::channel::<Vec<TaskOrder>>();
        state
            .db
            .run(move |c| {
                let orders = tasks::claim(c, &row, &kinds, capacity, terms, &|| handover.is_closed())?;
                if !orders.is_empty()
                    && let Err(orders) = handover.send(orders)
                {
                    tasks::unclaim(c, &orders)?;
                }
                Ok::<_, AppError>(())
            })
            .await?;
        let orders = orders.await.unwrap_or_default();
        if !orders.is_empty() {
            return Ok(HttpResponse::Ok().json(ClaimResponse { tasks: orders }));
        }
        // Other datastore processes queue tasks too: look again at least every second.
        let next = (tokio::time::Instant::now() + Duration::from_secs(1)).min(deadline);
        if tokio::time::Instant::now() >= deadline {
            return Ok(HttpResponse::NoContent().finish());
        }
        tokio::select! {
            _ = tokio::time::timeout_at(next, notified) => {}
            _ = stopping.changed() => {}
        }
    }
}

/// Renews this runner's own unexpired lease, with optional progress text.
#[utoipa::path(tag = "runner", operation_id = "runner_renew_lease", request_body = LeaseRequest,
    params(("id" = i64, Path, description = "The task id")), security(("runner" = [])),
    responses((status = 200, body = LeaseResponse),
        (status = 409, description = "`lease_lost`: the lease is not this runner's, or it ran out", body = shared_models::ErrorBody)))]
#[post("/tasks/{id}/lease")]
async fn lease(
    state: web::Data<AppState>,
    runner: RunnerPrincipal,
    req: HttpRequest,
    body: web::Json<LeaseRequest>,
) -> AppResult<web::Json<LeaseResponse>> {
    let id = task_id(&req)?;
    let terms = terms(&state);
    let (expires, cancel) = state
        .db
        .run(move |c| tasks::renew(c, &runner.0, id, &body.lease_token, body.progress.as_deref(), terms))
        .await?;
    Ok(web::Json(LeaseResponse { lease_expires_at: crate::db::to_time(expires), cancel }))
}

/// Appends one numbered entry to the task's log.
#[utoipa::path(tag = "runner", operation_id = "runner_append_log", request_body = LogRequest,
    params(("id" = i64, Path, description = "The task id")), security(("runner" = [])),
    responses((status = 204, description = "Stored, or a repeated `seq` ignored"),
        (status = 409, description = "`lease_lost`, or `log_gap` with `details.expected_seq`", body = shared_models::ErrorBody)))]
#[post("/tasks/{id}/log")]
async fn log(
    state: web::Data<AppState>,
    runner: RunnerPrincipal,
    req: HttpRequest,
    body: web::Json<LogRequest>,
) -> AppResult<HttpResponse> {
    let id = task_id(&req)?;
    state.db.run(move |c| tasks::append_log(c, &runner.0, id, &body.lease_token, body.seq, &body.text)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Reports the task's outcome: its results (`completed`) or why it could not run (`failed`).
#[utoipa::path(tag = "runner", operation_id = "runner_submit_result", request_body = ResultRequest,
    params(("id" = i64, Path, description = "The task id")), security(("runner" = [])),
    responses((status = 200, body = ResultResponse),
        (status = 409, description = "`lease_lost`: nothing was stored", body = shared_models::ErrorBody),
        (status = 422, description = "`no_results` or `invalid_result`", body = shared_models::ErrorBody)))]
#[post("/tasks/{id}/result")]
async fn result(
    state: web::Data<AppState>,
    runner: RunnerPrincipal,
    req: HttpRequest,
    body: web::Json<ResultRequest>,
) -> AppResult<web::Json<ResultResponse>> {
    let id = task_id(&req)?;
    let response = state.db.run(move |c| tasks::submit(c, &runner.0, id, &body)).await?;
    if response.accepted && response.status == TaskStatus::Queued {
        state.wake_runners();
    }
    Ok(web::Json(response))
}

/// The bytes of a blob, for a runner that holds a lease on a task reading it.
#[utoipa::path(tag = "runner", operation_id = "runner_blob",
    params(("sha256" = String, Path, description = "The blob's SHA-256, lower-case hex", pattern = "^[0-9a-f]{64}$")),
    security(("runner" = [])),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The requested range", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 403, description = "No live lease of this runner reads this blob", body = shared_models::ErrorBody),
        (status = 416, description = "The range is outside the blob")))]
#[get("/blobs/{sha256}")]
async fn blob(state: web::Data<AppState>, runner: RunnerPrincipal, req: HttpRequest) -> AppResult<HttpResponse> {
    let sha256 = req.match_info().get("sha256").unwrap_or_default().to_owned();
    if !checks::digest::is_sha256_hex(&sha256) {
        return Err(AppError::bad_request("invalid_digest", "A blob is named by its SHA-256 in lower-case hex."));
    }
    let wanted = sha256.clone();
    let row = state.db.run(move |c| tasks::blob_for_runner(c, &runner.0, &wanted)).await?;
    let reader =
        state.blobs.open_blob(&sha256).await.map_err(|e| crate::blob::failure("reading a blob for a runner", &e))?;
    Ok(crate::download::serve(&req, crate::download::Body::File(reader), &row, "no-store"))
}

/// Stores a file a task made or fetched (an svn import's files), for the revision its result
/// makes: the body's bytes, hashed by the datastore, under the task's live lease
/// (`X-Lease-Token`). Only tasks whose result can make a revision may upload.
#[utoipa::path(tag = "runner", operation_id = "runner_upload_blob",
    params(("id" = i64, Path, description = "The task id"),
        ("X-Lease-Token" = String, Header, description = "The task's lease token")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    security(("runner" = [])),
    responses((status = 201, body = shared_models::runner::BlobStored),
        (status = 403, description = "The task's kind makes no files", body = shared_models::ErrorBody),
        (status = 409, description = "`lease_lost`: this runner does not hold the task now", body = shared_models::ErrorBody),
        (status = 413, description = "Over the upload limit; nothing was stored", body = shared_models::ErrorBody)))]
#[post("/tasks/{id}/blobs")]
async fn upload(
    state: web::Data<AppState>,
    runner: RunnerPrincipal,
    req: HttpRequest,
    body: web::Payload,
) -> AppResult<HttpResponse> {
    let id = task_id(&req)?;
    let token = req.headers().get("x-lease-token").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let runner_id = runner.0.id;
    let held = {
        let token = token.clone();
        state.db.run(move |c| tasks::held_for_upload(c, runner_id, id, &token)).await?
    };
    let _slot = crate::api::files::upload_slot(&state)?;
    let limit = state.config.max_upload_bytes;
    if crate::api::files::content_length(&req).is_some_and(|n| n > limit) {
        return Err(crate::api::files::ingest_error(crate::ingest::IngestError::TooLarge { limit }));
    }
    let received = crate::api::files::receive(&state, body, limit).await?;
    let meta = crate::api::files::publish(&state, received).await?;
    let stored = meta.clone();
    // The lease is checked again: a runner that lost it while sending records nothing.
    state.db.run(move |c| tasks::record_upload(c, runner_id, held, &token, &stored)).await?;
    Ok(HttpResponse::Created().json(shared_models::runner::BlobStored {
        sha256: meta.sha256,
        sha512: meta.sha512,
        size: meta.size,
    }))
}

/// A committee's KEYS file, for the signature checks.
#[utoipa::path(tag = "runner", operation_id = "runner_committee_keys",
    params(("committee" = shared_models::Name, Path)), security(("runner" = [])),
    responses((status = 200, content_type = "text/plain", body = String)))]
#[get("/committees/{committee}/KEYS")]
async fn keys(
    state: web::Data<AppState>,
    _runner: RunnerPrincipal,
    committee: web::Path<String>,
) -> AppResult<HttpResponse> {
    let name = crate::api::url_name(shared_models::Name::parse(&committee))?;
    let text = state.db.run(move |c| crate::domain::keys::committee_keys_file(c, &name)).await?;
    Ok(HttpResponse::Ok().content_type(ContentType::plaintext()).body(text))
}

/// Runs the reaper every few seconds until the process ends.
/// Signs an audit checkpoint when the last is a day old (or there is none), checking hourly.
pub async fn checkpoints(state: AppState) {
    const DAY_MS: i64 = 24 * 3_600_000;
    loop {
        let db = state.db.clone();
        let state_dir = state.config.state_dir.clone();
        let signed = db
            .run(move |c| {
                let last = crate::db::queries::events::latest_checkpoint(c)?;
                if last.is_some_and(|l| crate::db::now_ms() - l.signed_at < DAY_MS) {
                    return Ok::<_, crate::error::AppError>(None);
                }
                let key = crate::domain::audit::signing_key(&state_dir)?;
                crate::domain::audit::checkpoint(c, &key).map(Some)
            })
            .await;
        match signed {
            Ok(Some(checkpoint)) => {
                tracing::info!(events = checkpoint.seq, hash = %checkpoint.hash, "audit checkpoint signed")
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "the audit checkpoint could not be signed; trying again in an hour"),
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// Resolves the votes whose policy asks for it, once a minute.
pub async fn vote_closer(state: AppState) {
    loop {
        match state.db.run(crate::domain::votes::auto_resolve).await {
            Ok(resolved) if resolved.is_empty() => {}
            Ok(resolved) => {
                tracing::info!(releases = ?resolved, "votes resolved automatically");
                crate::download::phases_changed();
            }
            Err(e) => tracing::warn!(error = %e, "resolving votes automatically failed; trying again"),
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}

/// Makes the mails and webhook deliveries of new events (`domain::outbox`), every second, and
/// wakes the runners waiting for work when it made some.
pub async fn outbox(state: AppState) {
    loop {
        let settings = state.outbound.clone();
        match state.db.run(move |c| crate::domain::outbox::dispatch(c, &settings)).await {
            Ok(made) if made.mails + made.webhooks > 0 => {
                tracing::info!(
                    events = made.events,
                    mails = made.mails,
                    webhooks = made.webhooks,
                    "outbox: deliveries queued"
                );
                state.wake_runners();
                continue; // there may be more
            }
            Ok(made) if made.events > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "outbox: dispatching events failed; trying again"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub async fn reaper(state: AppState) {
    let every = Duration::from_secs((state.config.lease_secs / 4).clamp(1, 15));
    loop {
        let db = state.db.clone();
        match db.run(tasks::reap).await {
            Ok(counts) if counts == ReapCounts::default() => {}
            Ok(counts) => {
                state.metrics.reaped(counts.requeued, counts.failed);
                tracing::info!(requeued = counts.requeued, failed = counts.failed, "reaper handled expired leases");
                if counts.requeued > 0 {
                    state.wake_runners();
                }
            }
            Err(e) => tracing::warn!(error = %e, "reaper failed; trying again"),
        }
        tokio::time::sleep(every).await;
    }
}
