//! The HTTP application: routes, middleware (request ids and logs, JSON errors on the API)
//! and the server process.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, Next, from_fn};
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, HttpServer, ResponseError, web};
use tracing::Instrument;

use crate::error::AppError;
use crate::state::AppState;

/// Everything the datastore serves, for `HttpServer` and for in-process tests.
pub fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(state)
            .app_data(web::PayloadConfig::new(crate::api::TEXT_LIMIT))
            // Web forms: an armored key with its signatures is far over actix's 16 KiB default.
            .app_data(web::FormConfig::default().limit(crate::web::FORM_LIMIT))
            .service(
                web::scope("/api")
                    .wrap(ErrorHandlers::new().default_handler(json_errors))
                    .wrap(from_fn(api_cache_policy))
                    .configure(crate::api::configure),
            )
            .configure(crate::download::configure)
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(crate::metrics::show))
            .configure(crate::web::configure);
    }
}

/// Builds the application with its middleware.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new().wrap(from_fn(request_log)).configure(configure(state)).default_service(web::to(not_found))
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, AppError> {
    let error = AppError::not_found(format!("There is nothing at {}.", req.path()));
    Err(if crate::web::wants_html(&req) { error.as_html() } else { error })
}

/// `GET /healthz`: 200 when the database answers, 503 otherwise.
async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let ping = state
        .db
        .run(|c| {
            use diesel::connection::SimpleConnection;
            c.batch_execute("SELECT 1").map_err(crate::db::DbError::from)
        })
        .await;
    match ping {
        Ok(()) => HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(serde_json::json!({
            "status": "ok", "database": state.db.backend().name(), "version": env!("CARGO_PKG_VERSION"),
        })),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({"status": "unavailable", "database": e.to_string()}))
        }
    }
}

/// `GET /readyz`: 200 when this process can serve: the database answers and the blob store
/// takes a file (one staged and discarded); 503 naming what cannot, for a load balancer to
/// send requests elsewhere meanwhile.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = state
        .db
        .run(|c| {
            use diesel::connection::SimpleConnection;
            c.batch_execute("SELECT 1").map_err(crate::db::DbError::from)
        })
        .await
        .err()
        .map(|e| e.to_string());
    let blob_store = state.blobs.check().await.err().map(|e| format!("the blob store takes no file: {e}"));
    // The causes (addresses, bucket names) are for the operator's log, not for anyone who asks.
    let check = |failure: &Option<String>| if failure.is_some() { "failing (the cause is in the log)" } else { "ok" };
    let body = serde_json::json!({
        "status": if database.is_none() && blob_store.is_none() { "ready" } else { "unavailable" },
        "database": check(&database),
        "blob_store": check(&blob_store),
    });
    let mut response = if database.is_none() && blob_store.is_none() {
        HttpResponse::Ok()
    } else {
        tracing::warn!(?database, ?blob_store, "not ready");
        HttpResponse::ServiceUnavailable()
    };
    response.insert_header((header::CACHE_CONTROL, "no-store")).json(body)
}

/// A request path as the log shows it: an invitation link's secret is left out (whoever reads
/// the log could otherwise set that account's password).
fn logged_path(path: &str) -> &str {
    if path.starts_with("/invitations/") { "/invitations/…" } else { path }
}

/// One span per request with a request id (also sent back as `X-Request-Id`), and one log line
/// when it ends: method, path, status, duration.
async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = hex::encode(crate::auth::secrets::random_bytes::<6>());
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", id = %id, method = %req.method(), path = %logged_path(req.path()));
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().clone();
    async move {
        let mut response = next.call(req).await?;
        let status = response.status().as_u16();
        let elapsed = started.elapsed();
        if let Some(state) = state {
            state.metrics.request(response.request().match_pattern().as_deref(), method.as_str(), status, elapsed);
        }
        let ms = elapsed.as_secs_f64() * 1000.0;
        if status >= 500 {
            tracing::error!(status, ms, "request failed");
        } else {
            tracing::info!(status, ms, "request");
        }
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(header::HeaderName::from_static("x-request-id"), value);
        }
        Ok(response)
    }
    .instrument(span)
    .await
}

/// The id of a request, as its log lines and its `X-Request-Id` name it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// How long an anonymous read of the public API may be cached (by browsers and the CDN).
const API_PUBLIC_MAX_AGE: &str = "public, max-age=60";

/// Gives every API response a deliberate `Cache-Control` unless its handler chose one: what a
/// request with credentials gets is that person's (`private, no-store`), as is everything that
/// is not a successful read; a successful anonymous read is public for a minute, and varies by
/// `Authorization` (a member sees drafts an anonymous reader does not).
async fn api_cache_policy(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // A session cookie authenticates too (auth/session.rs): what it reads is that person's.
    let authenticated =
        req.headers().contains_key(header::AUTHORIZATION) || crate::auth::session::secret_of(req.request()).is_some();
    let read = matches!(*req.method(), actix_web::http::Method::GET | actix_web::http::Method::HEAD);
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    if !headers.contains_key(header::CACHE_CONTROL) {
        let policy = if authenticated {
            "private, no-store"
        } else if read && response.status().is_success() {
            API_PUBLIC_MAX_AGE
        } else {
            "no-store"
        };
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
        if policy == API_PUBLIC_MAX_AGE {
            headers.append(header::VARY, HeaderValue::from_static("Authorization, Cookie"));
        }
    }
    Ok(response)
}

/// Gives every API error the JSON envelope, including those actix produces itself (405, 413
/// from body limits, 404 of unmatched routes).
fn json_errors<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    if content_type_is(&res, "application/json") {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let code = status_code_name(status);
    let message = default_message(&res);
    let allow = res.headers().get(header::ALLOW).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (req, _) = res.into_parts();
    let error = AppError { allow, ..AppError::new(status, code, message) };
    let body: HttpResponse<BoxBody> = error.error_response();
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, body).map_into_right_body()))
}

/// The error handler of the web pages' scopes: every error is a page, whatever produced it
/// (a handler's [`AppError`], or actix itself: a body limit, a malformed form), naming the
/// request id for a server error and offering a login for a 401.
pub fn html_errors<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(html_error_page)
}

fn html_error_page<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    if content_type_is(&res, "text/html") {
        // A page that answers with an error status itself (the login form after a wrong password).
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let error = res
        .response()
        .error()
        .and_then(|e| e.as_error::<AppError>())
        .cloned()
        .unwrap_or_else(|| AppError::new(status, status_code_name(status), default_message(&res)));
    let context = crate::web::ErrorContext {
        request_id: res.request().extensions().get::<RequestId>().map(|r| r.0.clone()),
        path: Some(match res.request().query_string() {
            "" => res.request().path().to_owned(),
            query => format!("{}?{query}", res.request().path()),
        }),
    };
    let page = crate::web::error_page_for(status, error.code, &error.message, error.location(), &context);
    let (req, response) = res.into_parts();
    let mut html = HttpResponse::build(status);
    for name in [header::ALLOW, header::RETRY_AFTER, header::SET_COOKIE] {
        for value in response.headers().get_all(&name) {
            html.append_header((name.clone(), value.clone()));
        }
    }
    let html =
        html.insert_header((header::CACHE_CONTROL, "no-store")).content_type("text/html; charset=utf-8").body(page);
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, html).map_into_right_body()))
}

fn content_type_is<B>(res: &ServiceResponse<B>, kind: &str) -> bool {
    res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with(kind))
}

/// The sentence of an error that actix made itself (no handler wrote one).
fn default_message<B>(res: &ServiceResponse<B>) -> String {
    let status = res.status();
    match status.as_u16() {
        405 => format!("{} is not allowed on {}.", res.request().method(), res.request().path()),
        413 => "The request body is larger than this endpoint accepts.".to_owned(),
        _ => status.canonical_reason().unwrap_or("Error").to_owned(),
    }
}

/// The `error` code of a status that no handler named.
fn status_code_name(status: actix_web::http::StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "unprocessable",
        429 => "too_many_requests",
        503 => "unavailable",
        _ => "internal_error",
    }
}

/// How long SIGTERM waits for requests in flight before it closes their connections.
const SHUTDOWN_GRACE_SECS: u64 = 30;

/// A server for `state` on `bind`, not started yet; also what the in-process tests run.
///
/// - `TCP_NODELAY` on every connection: a response's headers and body leave in separate
///   writes, and with Nagle's algorithm the second waits for the client's delayed ACK (~40 ms
///   per request on a kept-alive connection).
/// - No half-closed connections: a client that closes its side has gone away, and its request
///   is dropped (a waiting runner claim then leases nothing).
pub fn listen(
    state: AppState,
    bind: &str,
    workers: usize,
    handle_signals: bool,
) -> anyhow::Result<actix_web::dev::Server> {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || app(data.clone()))
        .workers(workers)
        .shutdown_timeout(SHUTDOWN_GRACE_SECS)
        .h1_allow_half_closed(false)
        .on_connect(|connection, _| {
            if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>()
                && let Err(e) = tcp.set_nodelay(true)
            {
                tracing::warn!(error = %e, "cannot set TCP_NODELAY");
            }
        });
    let server = if handle_signals { server } else { server.disable_signals() };
    let server = server.bind(bind).map_err(|e| anyhow::anyhow!("cannot listen on {bind}: {e}"))?;
    for address in server.addrs() {
        tracing::info!(%address, workers, "datastore listening");
    }
    Ok(server.run())
}

/// Runs the server until SIGINT/SIGTERM; then it stops accepting, answers waiting runner
/// claims at once, and finishes the requests in flight (up to 30 s).
pub async fn run(state: AppState) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let bind = state.config.bind.clone();
    let workers = state.config.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    tracing::info!(public_url = %state.config.public_url(), "datastore starting");
    actix_web::rt::spawn(crate::runner_api::reaper(state.clone()));
    {
        let config = state.config.clone();
        state.db.run(move |c| crate::domain::schedules::configure(c, &config)).await?;
    }
    actix_web::rt::spawn(crate::domain::schedules::scheduler(state.clone()));
    actix_web::rt::spawn(crate::runner_api::checkpoints(state.clone()));
    actix_web::rt::spawn(crate::runner_api::vote_closer(state.clone()));
    actix_web::rt::spawn(crate::runner_api::outbox(state.clone()));
    actix_web::rt::spawn(crate::api::uploads::sweeper(state.clone()));
    let stopping = state.stopping.clone();
    let server = listen(state, &bind, workers, false)?;
    let handle = server.handle();
    let (mut terminate, mut interrupt) = (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?);
    actix_web::rt::spawn(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "stopping: finishing the requests in flight");
        stopping.send_replace(true);
        handle.stop(true).await;
    });
    server.await?;
    tracing::info!("datastore stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_invitation_s_secret_is_never_logged() {
        assert_eq!(super::logged_path("/invitations/inv_s3cret"), "/invitations/…");
        assert_eq!(super::logged_path("/releases/httpd/2.4.68"), "/releases/httpd/2.4.68");
    }
}
