//! Check results, as the runner reports them and the API shows them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::StatusCounts;
use crate::runner::TaskKind;

crate::named_enum! {
    /// The verdict of one check on one file (or one member of an archive).
    pub enum CheckStatus as "check status" {
        Success = "success",
        /// Shown to voters; does not block the vote.
        Warning = "warning",
        /// Blocks the vote unless an audited waiver covers it.
        Failure = "failure",
        /// The check itself could not run; it is retried, then shown.
        Error = "error",
        /// A failure covered by a waiver.
        Waived = "waived",
    }
}

impl CheckStatus {
    /// Whether a result with this status is a verdict on the checked bytes, reusable by every
    /// later revision with the same inputs. `error` is not: the check could not run, and runs
    /// again when asked.
    pub fn is_verdict(self) -> bool {
        matches!(self, CheckStatus::Success | CheckStatus::Warning | CheckStatus::Failure)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckResult {
    /// The checker: `paths`, `hashing`, `signature`, `archive`, `license` or `rat`.
    pub checker: TaskKind,
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
