//! Rows as diesel reads and writes them. These never leave the datastore: the API speaks in
//! `shared_models` types, converted in the layer above.

use diesel::prelude::*;
use shared_models::UnknownValue;
use shared_models::api::Phase;
use shared_models::checks::CheckStatus;
use shared_models::runner::{TaskKind, TaskStatus};

use super::schema::*;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = committee)]
pub struct CommitteeRow {
    pub id: i64,
    pub name: String,
    pub display_name: String,
    pub podling: bool,
    pub retired: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = project)]
pub struct ProjectRow {
    pub id: i64,
    pub name: String,
    pub committee_id: i64,
    pub display_name: String,
    pub policy: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = product)]
pub struct ProductRow {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub display_name: String,
    pub created_at: i64,
    /// Vote policy fields set for this product over the project's (a JSON object).
    pub policy_override: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub uid: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub is_admin: bool,
    pub password_hash: Option<String>,
    pub created_at: i64,
    pub foundation_member: bool,
    pub visitor: bool,
    pub consented_at: Option<i64>,
    pub consent_version: Option<String>,
    pub withdrawn_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = signing_key)]
pub struct SigningKeyRow {
    pub fingerprint: String,
    pub key_id: String,
    pub algorithm: String,
    pub bits: Option<i32>,
    pub key_created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked: bool,
    pub primary_uid: Option<String>,
    pub uids: String,
    pub armored: String,
    pub owner_id: Option<i64>,
    pub added_at: i64,
    pub updated_at: i64,
    /// SHA-256 of `armored`, hex: what check identities cover of the key.
    pub armored_sha256: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = release)]
pub struct ReleaseRow {
    pub id: i64,
    pub product_id: i64,
    pub version: String,
    pub phase: String,
    pub revision: i64,
    pub created_by: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub vote_policy: Option<String>,
    pub vote_revision: Option<i64>,
    pub vote_started_at: Option<i64>,
    pub vote_closes_at: Option<i64>,
    pub released_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
    /// The digest of the revision put to the vote (`domain::votes::manifest_digest`).
    pub manifest_digest: Option<String>,
    /// 0 before the first vote; each vote start begins the next round.
    pub vote_round: i64,
    pub vote_expedited_reason: Option<String>,
    pub vote_outcome: Option<String>,
    pub vote_resolved_at: Option<i64>,
    pub vote_resolution: Option<String>,
    pub published_revision: Option<i64>,
    pub published_digest: Option<String>,
    pub archived_at: Option<i64>,
    /// Vote policy fields set for this release over its product's and project's (JSON).
    pub policy_override: Option<String>,
    /// `podling` or `incubator` for the two stages of a podling's vote.
    pub vote_stage: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = revision)]
pub struct RevisionRow {
    pub id: i64,
    pub release_id: i64,
    pub seq: i64,
    pub created_by: Option<i64>,
    pub created_at: i64,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = blob)]
pub struct BlobRow {
    pub sha256: String,
    pub sha512: String,
    pub size: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = event)]
pub struct EventRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub release_id: Option<i64>,
    pub details: String,
    /// The event's place in the audit chain (1, 2, ...), the hash of the event before it and
    /// its own (`queries::events::event_hash`); `None` only for events written before the chain existed,
    /// until the datastore's start chains them.
    pub seq: Option<i64>,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_checkpoint)]
pub struct CheckpointRow {
    pub id: i64,
    pub seq: i64,
    pub hash: String,
    pub signed_at: i64,
    pub public_key: String,
    pub signature: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_token)]
pub struct ApiTokenRow {
    pub id: i64,
    pub user_id: i64,
    pub label: String,
    pub token_hash: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = runner)]
pub struct RunnerRow {
    pub id: i64,
    pub name: String,
    pub token_hash: String,
    pub capabilities: String,
    pub version: Option<String>,
    pub last_seen_at: Option<i64>,
    pub disabled: bool,
    pub created_at: i64,
    pub capacity: Option<i64>,
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = task)]
pub struct TaskRow {
    pub id: i64,
    pub kind: String,
    pub release_id: Option<i64>,
    pub revision_seq: Option<i64>,
    pub checker_version: Option<String>,
    pub path: String,
    pub args: String,
    pub inputs: String,
    pub inputs_hash: String,
    pub policy_hash: String,
    pub status: String,
    pub priority: i32,
    pub attempt: i32,
    pub max_attempts: i32,
    pub not_before: i64,
    pub runner_id: Option<i64>,
    pub lease_token: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub progress: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = task)]
pub struct NewTask {
    pub kind: String,
    pub release_id: Option<i64>,
    pub revision_seq: Option<i64>,
    pub checker_version: Option<String>,
    pub path: String,
    pub args: String,
    pub inputs: String,
    pub inputs_hash: String,
    pub policy_hash: String,
    pub status: String,
    pub priority: i32,
    pub max_attempts: i32,
    pub not_before: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = check_result)]
pub struct CheckResultRow {
    pub id: i64,
    pub task_id: Option<i64>,
    pub checker: String,
    pub checker_version: String,
    pub inputs_hash: String,
    pub policy_hash: String,
    /// The result's place among its check's results: unique per check identity.
    pub ordinal: i32,
    pub path: String,
    pub member: Option<String>,
    pub status: String,
    pub message: String,
    pub data: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = check_result)]
pub struct NewCheckResult {
    pub task_id: Option<i64>,
    pub checker: String,
    pub checker_version: String,
    pub inputs_hash: String,
    pub policy_hash: String,
    /// The result's place among its check's results: unique per check identity.
    pub ordinal: i32,
    pub path: String,
    pub member: Option<String>,
    pub status: String,
    pub message: String,
    pub data: Option<String>,
    pub created_at: i64,
}

/// An audited waiver: `failure`s of `checker` (and `rule`, if set) on paths matching
/// `path_glob` are shown as `waived` within its scope (the project; one release, if
/// `release_id` is set; one revision of it, if `revision_seq` is set too).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = waiver)]
pub struct WaiverRow {
    pub id: i64,
    pub project_id: i64,
    pub checker: String,
    pub path_glob: String,
    pub reason: String,
    pub author_id: Option<i64>,
    pub release_id: Option<i64>,
    pub revision_seq: Option<i64>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub rule: Option<String>,
}

/// A ballot as stored: every ballot is kept; a person's latest of a round counts.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = vote)]
pub struct VoteRow {
    pub id: i64,
    pub release_id: i64,
    pub revision_seq: i64,
    pub voter_id: Option<i64>,
    pub voter: String,
    pub value: i32,
    pub binding: bool,
    pub comment: Option<String>,
    pub source: String,
    pub created_at: i64,
    pub round: i64,
    /// An armored OpenPGP signature over the ballot's text (`domain::votes::ballot_text`).
    pub signature: Option<String>,
    /// The fingerprint of the voter's key that made it.
    pub signed_by: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = vote)]
pub struct NewVote {
    pub release_id: i64,
    pub revision_seq: i64,
    pub voter_id: Option<i64>,
    pub voter: String,
    pub value: i32,
    pub binding: bool,
    pub comment: Option<String>,
    pub source: String,
    pub created_at: i64,
    pub round: i64,
    pub signature: Option<String>,
    pub signed_by: Option<String>,
}

// Typed views of the TEXT columns that hold enumerations: an unknown value is an error (the
// database holds something this version does not know), never read as a default.

impl ReleaseRow {
    pub fn phase(&self) -> Result<Phase, UnknownValue> {
        Phase::parse(&self.phase)
    }
}

impl TaskRow {
    pub fn kind(&self) -> Result<TaskKind, UnknownValue> {
        TaskKind::parse(&self.kind)
    }

    pub fn status(&self) -> Result<TaskStatus, UnknownValue> {
        TaskStatus::parse(&self.status)
    }
}

impl CheckResultRow {
    pub fn checker(&self) -> Result<TaskKind, UnknownValue> {
        TaskKind::parse(&self.checker)
    }

    pub fn status(&self) -> Result<CheckStatus, UnknownValue> {
        CheckStatus::parse(&self.status)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mail_template)]
pub struct MailTemplateRow {
    pub project_id: i64,
    pub kind: String,
    pub subject: String,
    pub body: String,
    pub updated_by: String,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook)]
pub struct WebhookRow {
    pub id: i64,
    pub project_id: i64,
    pub url: String,
    /// A JSON array of event actions.
    pub events: String,
    pub secret: String,
    pub created_by: String,
    pub created_at: i64,
    /// The place in the audit chain of its `webhook.created` event.
    pub created_seq: i64,
    pub deleted_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = delivery)]
pub struct DeliveryRow {
    pub id: i64,
    pub dedupe: String,
    pub kind: String,
    pub event_seq: i64,
    pub action: String,
    pub webhook_id: Option<i64>,
    pub release_id: Option<i64>,
    pub task_id: i64,
    pub recipient: String,
    pub subject: String,
    pub message_id: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = delivery)]
pub struct NewDelivery {
    pub dedupe: String,
    pub kind: String,
    pub event_seq: i64,
    pub action: String,
    pub webhook_id: Option<i64>,
    pub release_id: Option<i64>,
    pub task_id: i64,
    pub recipient: String,
    pub subject: String,
    pub message_id: String,
    pub created_at: i64,
}

/// A CI identity a project trusts (`domain::publishers`).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = trusted_publisher)]
pub struct TrustedPublisherRow {
    pub id: i64,
    pub project_id: i64,
    pub issuer: String,
    pub audience: String,
    /// A JSON object: claim name -> glob.
    pub claims: String,
    /// A JSON array of `PublisherAction`s.
    pub actions: String,
    pub created_by: String,
    pub created_at: i64,
    pub deleted_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = upload_session)]
pub struct UploadSessionRow {
    pub id: String,
    pub release_id: i64,
    pub user_id: i64,
    pub path: String,
    pub size: i64,
    pub expected_sha512: Option<String>,
    pub received: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A CVE record of a project (`docs/CVES.md`); embargoed until `published_at` has passed.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cve)]
pub struct CveRow {
    pub id: i64,
    pub name: String,
    pub project_id: i64,
    pub title: String,
    pub description: Option<String>,
    pub severity: Option<String>,
    pub cvss_vector: Option<String>,
    pub advisory_url: Option<String>,
    pub published_at: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Where a release was distributed, and what a check of the channel last found.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = distribution)]
pub struct DistributionRow {
    pub id: i64,
    pub release_id: i64,
    pub channel: String,
    pub url: String,
    pub status: String,
    pub detail: Option<String>,
    pub checked_at: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A job the datastore runs on a clock.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = schedule)]
pub struct ScheduleRow {
    pub name: String,
    pub interval_secs: i64,
    pub next_run_at: i64,
    pub last_started_at: Option<i64>,
    pub last_finished_at: Option<i64>,
    pub last_outcome: Option<String>,
    pub last_detail: Option<String>,
    pub runs: i64,
}
