//! The runner's own small HTTP server for operators: `/status` (JSON, or HTML for people),
//! `/metrics` (Prometheus text) and `/healthz`.

use std::sync::{Arc, LazyLock};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::json;

use crate::client::Client;
use crate::state::{InFlight, RunnerState, load_average};

#[derive(Debug)]
struct Shared {
    state: Arc<RunnerState>,
    registry: prometheus_client::registry::Registry,
    client: Client,
    datastore: String,
}

fn snapshot(shared: &Shared) -> serde_json::Value {
    let state = &shared.state;
    let totals = &state.totals;
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
            "completed": totals.completed.get(),
            "failed": totals.failed.get(),
            "lost": totals.lost.get(),
            "claims": totals.claims.get(),
        },
        "last_contact": shared.client.last_contact(),
    })
}

static TEMPLATES: LazyLock<tera::Tera> = LazyLock::new(|| {
    let mut tera = tera::Tera::default();
    // Compiled into the binary and rendered by the tests: a broken template is a build defect.
    #[expect(clippy::expect_used, reason = "the template is compiled in and tested")]
    tera.add_raw_template("status.html", include_str!("../templates/status.html")).expect("the status template parses");
    tera.set_escape_fn(|text| html_escape::encode_quoted_attribute(text).into_owned());
    tera
});

/// The status page for people: the snapshot, with times as text.
fn status_page(snapshot: &serde_json::Value, in_flight: &[InFlight]) -> Result<String, tera::Error> {
    let now = chrono::Utc::now();
    let tasks: Vec<serde_json::Value> = in_flight
        .iter()
        .map(|task| {
            json!({
                "id": task.id,
                "kind": task.kind.as_str(),
                "release": task.release,
                "path": task.path,
                "stage": task.stage,
                "elapsed_s": (now - task.started_at).num_seconds(),
                "lease_until": task.lease_expires_at.format("%H:%M:%S").to_string(),
            })
        })
        .collect();
    let mut context = tera::Context::from_value(snapshot.clone())?;
    context.insert("in_flight", &tasks);
    let contact = snapshot["last_contact"].as_str().unwrap_or("never");
    context.insert("last_contact_text", contact);
    let load = snapshot["load"].as_f64().map_or_else(|| "?".to_owned(), |l| format!("{l:.2}"));
    context.insert("load_text", &load);
    TEMPLATES.render("status.html", &context)
}

async fn status(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let wants_html = req.headers().get("accept").and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    let snapshot = snapshot(&shared);
    if !wants_html {
        return HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(snapshot);
    }
    match status_page(&snapshot, &shared.state.in_flight()) {
        Ok(html) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(error) => {
            tracing::error!(error = ?error, "rendering the status page");
            HttpResponse::InternalServerError()
                .body("the status page could not be rendered; /status with Accept: application/json has the same data")
        }
    }
}

/// The metrics in the OpenMetrics text format, which Prometheus reads.
fn metrics_text(shared: &Shared) -> String {
    let state = &shared.state;
    let totals = &state.totals;
    totals.in_flight.set(i64::from(state.busy()));
    totals.capacity.set(i64::from(state.capacity));
    totals.uptime_seconds.set(i64::try_from(state.started.elapsed().as_secs()).unwrap_or(i64::MAX));
    totals.load_average.set(load_average().unwrap_or(f64::NAN));
    totals.last_contact.set(shared.client.last_contact().map_or(0, |t| t.timestamp()));
    let mut out = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut out, &shared.registry) {
        tracing::error!(%error, "encoding the metrics");
    }
    out
}

async fn metrics(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(metrics_text(&shared))
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
    let registry = state.totals.registry();
    let shared = web::Data::new(Shared { state, registry, client, datastore });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(name: &str) -> Shared {
        let state = Arc::new(RunnerState::new(name.to_owned(), 3));
        let client = Client::new("http://127.0.0.1:9", "token").unwrap();
        Shared { registry: state.totals.registry(), state, client, datastore: "http://127.0.0.1:9".to_owned() }
    }

    #[test]
    fn the_page_escapes_what_tasks_and_names_carry() {
        let shared = shared("<b>r&1</b>");
        shared.state.start(InFlight {
            id: 7,
            kind: shared_models::runner::TaskKind::Rat,
            release: "p/1.0".to_owned(),
            path: "a<script>alert(1)</script>\".tar.gz".to_owned(),
            attempt: 1,
            started_at: chrono::Utc::now(),
            lease_expires_at: chrono::Utc::now(),
            stage: "scanning".to_owned(),
        });
        let page = status_page(&snapshot(&shared), &shared.state.in_flight()).expect("renders");
        assert!(page.contains("Runner &lt;b&gt;r&amp;1&lt;/b&gt;"), "{page}");
        assert!(!page.contains("<script>") && page.contains("a&lt;script&gt;"), "{page}");
        assert!(page.contains("<td>rat</td>") && page.contains("scanning"), "{page}");
        assert!(page.contains("last contact never") && !page.contains("Idle"), "{page}");

        shared.state.finish(7);
        let idle = status_page(&snapshot(&shared), &shared.state.in_flight()).expect("renders");
        assert!(idle.contains("Idle: waiting for work."), "{idle}");
    }

    #[test]
    fn metrics_are_openmetrics_with_the_totals() {
        let shared = shared("r1");
        shared.state.totals.completed.inc();
        shared.state.totals.completed.inc();
        shared.state.totals.claims.inc();
        let text = metrics_text(&shared);
        let value = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
                .unwrap_or_else(|| panic!("{name} in {text}"))
        };
        assert_eq!(value("runner_tasks_completed_total"), "2");
        assert_eq!(value("runner_claims_total"), "1");
        assert_eq!(value("runner_tasks_failed_total"), "0");
        assert_eq!(value("runner_capacity"), "3");
        assert_eq!(value("runner_tasks_in_flight"), "0");
        assert_eq!(value("runner_last_contact_timestamp_seconds"), "0");
        assert!(text.contains("# TYPE runner_tasks_completed counter"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
