//! Check results, as the runner reports them and the API shows them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::StatusCounts;

/// The verdict of one check on one file (or one member of an archive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Success,
    /// Shown to voters; does not block the vote.
    Warning,
    /// Blocks the vote unless an audited waiver covers it.
    Failure,
    /// The check itself could not run; it is retried, then shown.
    Error,
    /// A failure covered by a waiver.
    Waived,
}

impl CheckStatus {
    pub const ALL: [CheckStatus; 5] =
        [CheckStatus::Success, CheckStatus::Warning, CheckStatus::Failure, CheckStatus::Error, CheckStatus::Waived];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Success => "success",
            CheckStatus::Warning => "warning",
            CheckStatus::Failure => "failure",
            CheckStatus::Error => "error",
            CheckStatus::Waived => "waived",
        }
    }

    pub fn parse(value: &str) -> Option<CheckStatus> {
        CheckStatus::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckResult {
    /// `paths`, `hashing`, `signature`, `archive`, `license` or `rat`.
    pub checker: String,
    pub checker_version: String,
    /// The release file the result is about.
    pub path: String,
    /// The member inside an archive, when the result is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    pub status: CheckStatus,
    /// What was expected, what was found, and where.
    pub message: String,
    /// Structured facts; `data.rule` names the rule of CHECKS.md (e.g. `"H1"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// `GET /api/v1/releases/{p}/{v}/checks`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChecksReport {
    pub revision: i64,
    /// True when every planned check of this revision has a result.
    pub complete: bool,
    pub summary: StatusCounts,
    pub results: Vec<CheckResult>,
}
