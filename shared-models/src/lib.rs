//! Wire types of the Trusted Releases HTTP contract (`../shared/design/API.md`), shared by the
//! datastore, the runner and clients. Serde and OpenAPI derives only: no database, no HTTP server.
//! The optional `logging` feature adds the one log set-up both services share.

pub mod api;
pub mod checks;
#[cfg(feature = "logging")]
pub mod logging;
pub mod names;
pub mod runner;

pub use names::{Name, NameError, ReleasePath, Uid, Version};

/// The body of every error response: a stable code that clients switch on, and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable `snake_case` code, e.g. `wrong_phase`, `not_found`, `payload_too_large`.
    #[schema(example = "wrong_phase")]
    pub error: String,
    /// What went wrong and, where possible, what to do about it.
    pub message: String,
    /// Extra machine-readable facts for some errors (for example the skipped keys of a KEYS import).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}
