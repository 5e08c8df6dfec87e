//! What every checker produces: results with a status, the rule of CHECKS.md in `data.rule`,
//! and a message that says what was expected, what was found, and where.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde_json::{Map, Value, json};
use shared_models::checks::{CheckResult, CheckStatus};
use shared_models::runner::TaskKind;

use crate::artifacts::checker::Checker;

/// A release file as a checker sees it: its path in the release and where its bytes are.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: String,
    pub file: PathBuf,
}

impl Input {
    pub fn new(path: impl Into<String>, file: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), file: file.into() }
    }

    /// The whole file if it holds at most `limit` bytes, or `Err(its size)`: a hostile
    /// multi-gigabyte "signature" is refused by its size, never read into memory.
    pub fn read_small(&self, limit: u64) -> std::io::Result<Result<Vec<u8>, u64>> {
        use std::io::Read as _;
        let file = std::fs::File::open(&self.file)?;
        let size = file.metadata()?.len();
        if size > limit {
            return Ok(Err(size));
        }
        let mut bytes = Vec::new();
        // One byte more than allowed tells a file that grew since its size was read.
        file.take(limit + 1).read_to_end(&mut bytes)?;
        Ok(if bytes.len() as u64 > limit { Err(bytes.len() as u64) } else { Ok(bytes) })
    }
}

/// Bounds on the work of one check: archives are hostile until read to the end.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Total uncompressed bytes of all members of one archive.
    pub max_total_bytes: u64,
    /// Members (files, directories, links) of one archive.
    pub max_members: u64,
    /// Uncompressed / compressed size of one member, checked once a member passes
    /// `ratio_floor_bytes` (small files of repeated bytes compress well legitimately).
    pub max_ratio: u64,
    pub ratio_floor_bytes: u64,
    /// When the check must give up (the task's deadline).
    pub deadline: Option<Instant>,
    /// Set from outside to stop the check at once (the runner lost its lease).
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_total_bytes: 8 << 30,
            max_members: 200_000,
            max_ratio: 1_000,
            ratio_floor_bytes: 16 << 20,
            deadline: None,
            cancel: None,
        }
    }
}

impl Limits {
    /// Whether the check must stop now: the deadline has passed, or it was cancelled.
    pub fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
            || self.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

/// Collects the results of one checker on one file.
#[derive(Debug)]
pub struct Report {
    checker: TaskKind,
    version: &'static str,
    path: String,
    results: Vec<CheckResult>,
}

impl Report {
    /// A report of `checker` (one of `artifacts::checker`) about `path`.
    pub fn new(checker: Checker, path: impl Into<String>) -> Self {
        Self { checker: checker.kind, version: checker.version, path: path.into(), results: Vec::new() }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Adds a result; the returned handle adds the member and extra data.
    pub fn add(&mut self, status: CheckStatus, rule: &str, message: impl Into<String>) -> ResultHandle<'_> {
        self.results.push(CheckResult {
            checker: self.checker,
            checker_version: self.version.to_owned(),
            path: self.path.clone(),
            member: None,
            status,
            message: message.into(),
            data: Some(json!({ "rule": rule })),
        });
        let last = self.results.len() - 1;
        ResultHandle { result: &mut self.results[last] }
    }

    pub fn success(&mut self, rule: &str, message: impl Into<String>) -> ResultHandle<'_> {
        self.add(CheckStatus::Success, rule, message)
    }

    pub fn warning(&mut self, rule: &str, message: impl Into<String>) -> ResultHandle<'_> {
        self.add(CheckStatus::Warning, rule, message)
    }

    pub fn failure(&mut self, rule: &str, message: impl Into<String>) -> ResultHandle<'_> {
        self.add(CheckStatus::Failure, rule, message)
    }

    /// The check could not run (an unreadable input, an I/O error): retried, then shown.
    pub fn error(&mut self, rule: &str, message: impl Into<String>) -> ResultHandle<'_> {
        self.add(CheckStatus::Error, rule, message)
    }

    /// Whether any result so far is a failure or an error.
    pub fn has_problems(&self) -> bool {
        self.results.iter().any(|r| matches!(r.status, CheckStatus::Failure | CheckStatus::Error))
    }

    pub fn results(&self) -> &[CheckResult] {
        &self.results
    }

    pub fn finish(self) -> Vec<CheckResult> {
        self.results
    }
}

/// Adds details to the result just added.
#[derive(Debug)]
pub struct ResultHandle<'a> {
    result: &'a mut CheckResult,
}

impl ResultHandle<'_> {
    /// The archive member the result is about.
    pub fn member(self, member: impl Into<String>) -> Self {
        self.result.member = Some(member.into());
        self
    }

    /// One more structured fact (`data.<key>`).
    pub fn data(self, key: &str, value: impl Into<Value>) -> Self {
        let data = self.result.data.get_or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(map) = data {
            map.insert(key.to_owned(), value.into());
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_carry_checker_rule_member_and_data() {
        let mut report = Report::new(crate::artifacts::checker::ARCHIVE, "a.tar.gz");
        report.failure("A2", "escapes the root").member("../etc/passwd").data("limit", 3);
        assert!(report.has_problems());
        let results = report.finish();
        assert_eq!(results[0].checker, TaskKind::Archive);
        assert_eq!(results[0].member.as_deref(), Some("../etc/passwd"));
        assert_eq!(results[0].data, Some(json!({"rule": "A2", "limit": 3})));
    }
}
