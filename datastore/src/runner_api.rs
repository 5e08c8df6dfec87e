//! `/api/runner/v1`: the runner protocol (RUNNER-PROTOCOL.md). Runners authenticate with their
//! own tokens; a task is theirs only while they hold its lease token.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::http::header::ContentType;
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, web};
use shared_models::runner::{
    ClaimRequest, ClaimResponse, LeaseRequest, LeaseResponse, LogRequest, ResultRequest, ResultResponse, TaskOrder,
    TaskStatus,
};

use crate::auth::secrets;
use crate::db::models::RunnerRow;
use crate::domain::tasks::{self, LeaseTerms, ReapCounts};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/claim").post(claim))
        .service(web::resource("/tasks/{id}/lease").post(lease))
        .service(web::resource("/tasks/{id}/log").post(log))
        .service(web::resource("/tasks/{id}/result").post(result))
        .service(web::resource("/blobs/{sha256}").get(blob))
        .service(web::resource("/committees/{committee}/KEYS").get(keys));
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
    if request.capacity == 0 {
        return Ok(HttpResponse::NoContent().finish());
    }
    let wait = Duration::from_secs(u64::from(request.wait_s.unwrap_or(25).min(60)));
    let deadline = tokio::time::Instant::now() + wait;
    let terms = terms(&state);
    {
        let (runner, version, kinds) = (runner.0.clone(), request.version.clone(), request.kinds.clone());
        state.db.run(move |c| tasks::touch_runner(c, &runner, &version, &kinds)).await?;
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
async fn blob(state: web::Data<AppState>, runner: RunnerPrincipal, req: HttpRequest) -> AppResult<HttpResponse> {
    let sha256 = req.match_info().get("sha256").unwrap_or_default().to_owned();
    if !checks::digest::is_sha256_hex(&sha256) {
        return Err(AppError::bad_request("invalid_digest", "A blob is named by its SHA-256 in lower-case hex."));
    }
    let wanted = sha256.clone();
    let row = state.db.run(move |c| tasks::blob_for_runner(c, &runner.0, &wanted)).await?;
    let store = state.blobs.clone();
    let reader = web::block(move || store.open_blob(&sha256))
        .await
        .map_err(AppError::internal)?
        .map_err(|e| AppError::internal(format!("blob unreadable: {e}")))?;
    Ok(crate::download::serve(&req, crate::download::Body::File(reader), &row, "no-store"))
}

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
pub async fn reaper(state: AppState) {
    let every = Duration::from_secs((state.config.lease_secs / 4).clamp(1, 15));
    loop {
        let db = state.db.clone();
        match db.run(tasks::reap).await {
            Ok(counts) if counts == ReapCounts::default() => {}
            Ok(counts) => {
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
