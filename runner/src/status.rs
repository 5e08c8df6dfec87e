//! The runner's own small HTTP server for operators: `/status` (JSON, or HTML for people),
//! `/metrics` (Prometheus text) and `/healthz`.

use std::fmt::Write as _;
use std::sync::Arc;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::json;

use crate::client::Client;
use crate::state::{RunnerState, load_average};

#[derive(Clone)]
struct Shared {
    state: Arc<RunnerState>,
    client: Client,
    datastore: String,
}

fn snapshot(shared: &Shared) -> serde_json::Value {
    let state = &shared.state;
    json!({
        "runner": state.name,
        "version": state.version,
        "started_at": state.started_at,
        "uptime_s": state.started.elapsed().as_secs(),
        "datastore": shared.datastore,
        "capacity": state.capacity,
        "busy": state.busy(),
        "draining": state.draining.load(std::sync::atomic::Ordering::Relaxed),
        "load": load_average(),
        "in_flight": state.in_flight(),
        "totals": {
            "completed": RunnerState::count(&state.completed),
            "failed": RunnerState::count(&state.failed),
            "lost": RunnerState::count(&state.lost),
            "claims": RunnerState::count(&state.claims),
        },
        "last_contact": shared.client.last_contact(),
    })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

async fn status(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let wants_html = req.headers().get("accept").and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if !wants_html {
        return HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(snapshot(&shared));
    }
    let state = &shared.state;
    let mut rows = String::new();
    for task in state.in_flight() {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}s</td><td>{}</td></tr>",
            task.id,
            escape(task.kind.as_str()),
            escape(&task.release),
            escape(&task.path),
            escape(&task.stage),
            (chrono::Utc::now() - task.started_at).num_seconds(),
            task.lease_expires_at.format("%H:%M:%S"),
        );
    }
    if rows.is_empty() {
        rows.push_str("<tr><td colspan=7>Idle: waiting for work.</td></tr>");
    }
    let contact = shared.client.last_contact().map_or_else(|| "never".to_owned(), |t| t.to_rfc3339());
    let html = format!(
        "<!doctype html><html lang=en><meta charset=utf-8><meta http-equiv=refresh content=5>\
         <title>Runner {name}</title><style>body{{font:15px system-ui,sans-serif;margin:2rem;color:#1d232a}}\
         table{{border-collapse:collapse}}td,th{{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:left}}</style>\
         <h1>Runner {name}</h1><p>Version {version} · up {uptime}s · datastore {datastore} · last contact {contact}</p>\
         <p>Capacity {capacity}, busy {busy}{draining} · load {load}</p>\
         <p>Completed {completed} · failed {failed} · lost {lost}</p>\
         <table><tr><th>Task</th><th>Kind</th><th>Release</th><th>File</th><th>Doing</th><th>Elapsed</th><th>Lease until</th></tr>{rows}</table>\
         <p><a href=/metrics>metrics</a> · <a href=/status>JSON</a> (Accept: application/json)</p></html>",
        name = escape(&state.name),
        version = state.version,
        uptime = state.started.elapsed().as_secs(),
        datastore = escape(&shared.datastore),
        capacity = state.capacity,
        busy = state.busy(),
        draining = if state.draining.load(std::sync::atomic::Ordering::Relaxed) { " (draining: stopping)" } else { "" },
        load = load_average().map_or_else(|| "?".to_owned(), |l| format!("{l:.2}")),
        completed = RunnerState::count(&state.completed),
        failed = RunnerState::count(&state.failed),
        lost = RunnerState::count(&state.lost),
    );
    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).content_type("text/html; charset=utf-8").body(html)
}

async fn metrics(shared: web::Data<Shared>) -> HttpResponse {
    let state = &shared.state;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n");
    };
    metric("runner_capacity", "gauge", "Tasks this runner runs at once.", state.capacity.to_string());
    metric("runner_tasks_in_flight", "gauge", "Tasks running now.", state.busy().to_string());
    metric(
        "runner_tasks_completed_total",
        "counter",
        "Tasks completed and reported.",
        RunnerState::count(&state.completed).to_string(),
    );
    metric(
        "runner_tasks_failed_total",
        "counter",
        "Tasks that could not run, reported as failed.",
        RunnerState::count(&state.failed).to_string(),
    );
    metric(
        "runner_tasks_lost_total",
        "counter",
        "Tasks stopped because the lease was lost or cancelled.",
        RunnerState::count(&state.lost).to_string(),
    );
    metric(
        "runner_claims_total",
        "counter",
        "Claims that returned work.",
        RunnerState::count(&state.claims).to_string(),
    );
    metric(
        "runner_uptime_seconds",
        "gauge",
        "Seconds since the runner started.",
        state.started.elapsed().as_secs().to_string(),
    );
    if let Some(load) = load_average() {
        metric("runner_load_average", "gauge", "One-minute load average of the host.", format!("{load}"));
    }
    if let Some(contact) = shared.client.last_contact() {
        metric(
            "runner_last_contact_timestamp_seconds",
            "gauge",
            "When the datastore last answered.",
            contact.timestamp().to_string(),
        );
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(out)
}

async fn healthz(shared: web::Data<Shared>) -> HttpResponse {
    let draining = shared.state.draining.load(std::sync::atomic::Ordering::Relaxed);
    let body = json!({"status": if draining { "draining" } else { "ok" }});
    if draining { HttpResponse::ServiceUnavailable().json(body) } else { HttpResponse::Ok().json(body) }
}

/// Serves the status endpoints on `bind` until the process ends.
pub fn serve(
    bind: &str,
    state: Arc<RunnerState>,
    client: Client,
    datastore: String,
) -> std::io::Result<actix_web::dev::Server> {
    let shared = web::Data::new(Shared { state, client, datastore });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .route("/status", web::get().to(status))
            .route("/metrics", web::get().to(metrics))
            .route("/healthz", web::get().to(healthz))
            .route(
                "/",
                web::get().to(|| async { HttpResponse::Found().insert_header(("Location", "/status")).finish() }),
            )
    })
    .workers(1)
    .disable_signals()
    // Status reads are idempotent: a browser's kept-alive connection must not hold up a stop.
    .shutdown_timeout(1)
    .bind(bind)?;
    for address in server.addrs() {
        tracing::info!(%address, "status endpoint listening");
    }
    Ok(server.run())
}
