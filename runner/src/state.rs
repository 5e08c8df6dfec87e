//! What the runner is doing, for its status page and metrics: tasks in flight and totals.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Instant;

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;

/// One task being worked on.
#[derive(Debug, Clone, Serialize)]
pub struct InFlight {
    pub id: i64,
    pub kind: shared_models::runner::TaskKind,
    pub release: String,
    pub path: String,
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub lease_expires_at: DateTime<Utc>,
    pub stage: String,
}

#[derive(Debug)]
pub struct RunnerState {
    pub name: String,
    pub version: &'static str,
    pub capacity: u32,
    pub started: Instant,
    pub started_at: DateTime<Utc>,
    pub draining: AtomicBool,
    in_flight: Mutex<BTreeMap<i64, InFlight>>,
    pub totals: Totals,
}

/// The runner's counters and gauges, registered once for `/metrics`; the status page reads the
/// same values.
#[derive(Debug, Default)]
pub struct Totals {
    pub completed: Counter,
    pub failed: Counter,
    pub lost: Counter,
    pub claims: Counter,
    pub in_flight: Gauge,
    pub capacity: Gauge,
    pub uptime_seconds: Gauge,
    pub load_average: Gauge<f64, AtomicU64>,
    pub last_contact: Gauge,
}

impl Totals {
    /// A registry that exposes these metrics under the `runner_` prefix.
    pub fn registry(&self) -> Registry {
        let mut registry = Registry::with_prefix("runner");
        let counters = [
            ("tasks_completed", "Tasks completed and reported", &self.completed),
            ("tasks_failed", "Tasks that could not run, reported as failed", &self.failed),
            ("tasks_lost", "Tasks stopped because the lease was lost or cancelled", &self.lost),
            ("claims", "Claims that returned work", &self.claims),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
        let gauges = [
            ("tasks_in_flight", "Tasks running now", &self.in_flight),
            ("capacity", "Tasks this runner runs at once", &self.capacity),
            ("uptime_seconds", "Seconds since the runner started", &self.uptime_seconds),
            (
                "last_contact_timestamp_seconds",
                "When the datastore last answered (Unix time; 0: never)",
                &self.last_contact,
            ),
        ];
        for (name, help, gauge) in gauges {
            registry.register(name, help, gauge.clone());
        }
        registry.register("load_average", "One-minute load average of the host", self.load_average.clone());
        registry
    }
}

impl RunnerState {
    pub fn new(name: String, capacity: u32) -> Self {
        Self {
            name,
            version: env!("CARGO_PKG_VERSION"),
            capacity,
            started: Instant::now(),
            started_at: Utc::now(),
            draining: AtomicBool::new(false),
            in_flight: Mutex::default(),
            totals: Totals::default(),
        }
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, InFlight>> {
        // A panic while holding this lock leaves plain data behind: keep using it.
        self.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn start(&self, task: InFlight) {
        self.tasks().insert(task.id, task);
    }

    pub fn update(&self, id: i64, change: impl FnOnce(&mut InFlight)) {
        if let Some(task) = self.tasks().get_mut(&id) {
            change(task);
        }
    }

    pub fn finish(&self, id: i64) {
        self.tasks().remove(&id);
    }

    pub fn in_flight(&self) -> Vec<InFlight> {
        self.tasks().values().cloned().collect()
    }

    pub fn busy(&self) -> u32 {
        u32::try_from(self.tasks().len()).unwrap_or(u32::MAX)
    }
}

/// The one-minute load average, if the system tells it.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}
