//! What the runner is doing, for its status page and metrics: tasks in flight and totals.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};
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
    pub completed: AtomicU64,
    pub failed: AtomicU64,
    pub lost: AtomicU64,
    pub claims: AtomicU64,
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
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            claims: AtomicU64::new(0),
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

    pub fn count(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The one-minute load average, if the system tells it.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}
