//! `/metrics`: the datastore's numbers for Prometheus, in the OpenMetrics text format, from
//! `prometheus-client`. Requests (by route pattern, method and status, and their latency to
//! the response head), upload bytes, the reaper's work, and, read from the database at each
//! scrape, the task queue by kind and status, its oldest queued task, and the connection pool.
//!
//! Who may scrape: whoever sends `DATASTORE_METRICS_TOKEN` as a bearer token (Prometheus's
//! `authorization` setting), and admins. The numbers say how busy each committee's releases
//! are, so they are not public.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::auth::{Viewer, authz};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route's pattern (`/api/v1/releases/{project}/{version}`), never the path itself, so
    /// the number of series stays bounded; `unmatched` for paths no route serves.
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    kind: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReaperLabels {
    /// `requeued` (the lease ran out and the task waits again) or `failed` (`runner_lost`).
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    /// `open` or `idle`.
    state: &'static str,
}

/// The datastore's metrics, registered once; the process shares them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    upload_bytes: Counter,
    reaped: Family<ReaperLabels, Counter>,
    queue: Family<QueueLabels, Gauge>,
    oldest_queued: Gauge<f64, AtomicU64>,
    pool: Family<PoolLabels, Gauge>,
    pool_size: Gauge,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s: page renders and API calls at the low end, uploads at the high.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("datastore");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        let upload_bytes = Counter::default();
        let reaped = Family::<ReaperLabels, Counter>::default();
        let queue = Family::<QueueLabels, Gauge>::default();
        let oldest_queued = Gauge::<f64, AtomicU64>::default();
        let pool = Family::<PoolLabels, Gauge>::default();
        let pool_size = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route pattern, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its response head, by route pattern and method",
            latency.clone(),
        );
        registry.register("upload_bytes", "Bytes of uploaded files received and stored", upload_bytes.clone());
        registry.register(
            "reaped_leases",
            "Task leases that ran out before their runner finished, by what the reaper did",
            reaped.clone(),
        );
        registry.register("tasks", "Tasks in the queue's table, by kind and status", queue.clone());
        registry.register(
            "oldest_queued_task_age_seconds",
            "How long the oldest queued task has waited (0: none waits)",
            oldest_queued.clone(),
        );
        registry.register("db_pool_connections", "Database connections of the pool, open and idle", pool.clone());
        registry.register("db_pool_max_connections", "The pool's largest number of connections", pool_size.clone());
        Self { registry, requests, latency, upload_bytes, reaped, queue, oldest_queued, pool, pool_size }
    }

    /// One answered request. The method is one of the standard ones or `other` (a client may
    /// send any token as a method; none becomes a series of its own).
    pub fn request(&self, route: Option<&str>, method: &str, status: u16, elapsed: Duration) {
        let route = route.unwrap_or("unmatched").to_owned();
        let known = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
        let method = known.iter().find(|m| **m == method).map_or("other", |m| *m).to_owned();
        self.latency
            .get_or_create(&RouteLabels { route: route.clone(), method: method.clone() })
            .observe(elapsed.as_secs_f64());
        self.requests.get_or_create(&RequestLabels { route, method, status }).inc();
    }

    /// The bytes of one stored upload.
    pub fn uploaded(&self, bytes: u64) {
        self.upload_bytes.inc_by(bytes);
    }

    /// What one pass of the reaper did.
    pub fn reaped(&self, requeued: usize, failed: usize) {
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        self.reaped.get_or_create(&ReaperLabels { outcome: "requeued" }).inc_by(count(requeued));
        self.reaped.get_or_create(&ReaperLabels { outcome: "failed" }).inc_by(count(failed));
    }

    /// The metrics as text, after reading the queue and the pool as they are now.
    async fn scrape(&self, state: &AppState) -> AppResult<String> {
        let (counts, oldest) = state
            .db
            .run(|c| {
                let counts = crate::db::queries::tasks::counts_by_kind_and_status(c)?;
                let (_, oldest, _) = crate::db::queries::auth::queue_overview(c, crate::db::now_ms(), 0)?;
                Ok::<_, AppError>((counts, oldest))
            })
            .await?;
        // Series of kinds and statuses that no longer occur go, rather than stay at their last value.
        self.queue.clear();
        for (kind, status, count) in counts {
            self.queue.get_or_create(&QueueLabels { kind, status }).set(count);
        }
        let waited = oldest.map_or(0, |created| crate::db::now_ms().saturating_sub(created));
        #[expect(clippy::cast_precision_loss, reason = "milliseconds of waiting fit an f64 exactly for 285 000 years")]
        self.oldest_queued.set(waited as f64 / 1000.0);
        let pool = state.db.pool_state();
        self.pool.get_or_create(&PoolLabels { state: "open" }).set(i64::from(pool.connections));
        self.pool.get_or_create(&PoolLabels { state: "idle" }).set(i64::from(pool.idle_connections));
        self.pool_size.set(i64::from(state.db.pool_max_size()));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).map_err(AppError::internal)?;
        Ok(out)
    }
}

/// Whether the request carries the configured metrics token.
fn has_metrics_token(req: &HttpRequest, state: &AppState) -> bool {
    let Some(expected) = state.config.metrics_token.as_deref().filter(|t| !t.is_empty()) else { return false };
    let sent = crate::auth::principal::bearer(req).ok();
    sent.is_some_and(|sent| subtle::ConstantTimeEq::ct_eq(sent.as_bytes(), expected.as_bytes()).into())
}

/// `GET /metrics`: for the metrics token, or an admin.
pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    if !has_metrics_token(&req, &state) {
        let viewer = Viewer::extract(&req).await?;
        let principal = viewer.principal().ok_or_else(|| {
            AppError::unauthorized("The metrics are for the metrics token (DATASTORE_METRICS_TOKEN) or an admin.")
        })?;
        authz::authorize_admin(principal)?;
    }
    let text = state.metrics.scrape(&state).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text))
}
