//! The runner protocol (`/api/runner/v1`, RUNNER-PROTOCOL.md): claim, lease, fence.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::checks::CheckResult;

crate::named_enum! {
    /// What a task does. Each kind has one handler in the runner; a runner claims only the kinds
    /// it has handlers for.
    pub enum TaskKind as "task kind" {
        /// CHECKS.md P1-P6: the release's file names.
        Paths = "paths",
        /// H1-H3: an artifact against its `.sha512`/`.sha256`.
        Hashing = "hashing",
        /// S1-S6: an artifact against its `.asc` and the committee's KEYS.
        Signature = "signature",
        /// A1-A4: an archive read to its end, safely.
        Archive = "archive",
        /// L1-L4: LICENSE, NOTICE and DISCLAIMER of a source archive.
        License = "license",
        /// R1-R5: the licence headers of a source archive's files.
        Rat = "rat",
        /// B1: a CycloneDX SBOM against its schema and the NTIA minimum elements.
        Sbom = "sbom",
        /// T1: the source archives of one release in several formats hold the same tree.
        Trees = "trees",
        /// T2: a source archive against the tree of its release's tag in the project's repository.
        GitTag = "git_tag",
        /// One mail of a vote or a release, sent over SMTP (only by runners with `RUNNER_SMTP_URL`).
        Mail = "mail",
        /// One webhook delivery: a signed JSON POST to a project's receiver.
        Webhook = "webhook",
        /// Fetch a mail vote's thread from the list archive, for the datastore to tally.
        VoteThread = "vote_thread",
        /// Fetch what a distribution channel serves and compare it with the voted bytes.
        Distribution = "distribution",
        /// Commit a released revision into the dist repository over SVN (only by runners with
        /// `RUNNER_SVN_URL`).
        SvnPublish = "svn_publish",
        /// Move a release's folder of the dist repository to its archive location.
        SvnArchive = "svn_archive",
        /// Read a candidate's folder of the dist repository, for a new revision of a draft.
        SvnImport = "svn_import",
        /// Make a CycloneDX SBOM from a source archive's dependency manifests, for a new
        /// revision of a draft.
        SbomGenerate = "sbom_generate",
    }
}

impl TaskKind {
    /// Whether tasks of this kind are release checks, whose results are check results.
    pub fn is_check(self) -> bool {
        matches!(
            self,
            TaskKind::Paths
                | TaskKind::Hashing
                | TaskKind::Signature
                | TaskKind::Archive
                | TaskKind::License
                | TaskKind::Rat
                | TaskKind::Sbom
                | TaskKind::Trees
                | TaskKind::GitTag
        )
    }
}

crate::named_enum! {
    /// Where a task is: `queued` → `leased` → `completed` | `failed`, or `cancelled` by an admin.
    /// A lost lease or a failed attempt returns a leased task to `queued`.
    pub enum TaskStatus as "task status" {
        Queued = "queued",
        Leased = "leased",
        Completed = "completed",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

/// `POST /api/runner/v1/claim`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClaimRequest {
    /// The runner's name (informational; the token identifies it).
    pub runner: String,
    pub version: String,
    /// Task kinds this runner can do (see [`TaskKind`]). Kinds the datastore does not know are
    /// ignored, so a newer runner works with an older datastore; a claim naming none that it
    /// knows is refused (422 `invalid_kinds`).
    #[schema(min_items = 1, max_items = 64)]
    pub kinds: Vec<String>,
    /// How many tasks it takes now (at most; 0 answers 204 at once).
    #[serde(deserialize_with = "crate::whole::u32")]
    pub capacity: u32,
    /// Longest wait for work, in seconds (default 25, at most 60).
    #[serde(default, deserialize_with = "optional_wait")]
    #[schema(minimum = 0, maximum = 60)]
    pub wait_s: Option<u32>,
}

/// `wait_s`: absent, `null`, or a whole number of seconds up to 60.
fn optional_wait<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    struct Seconds(#[serde(deserialize_with = "crate::whole::u32")] u32);
    match Option::<Seconds>::deserialize(deserializer)? {
        Some(Seconds(s)) if s > 60 => Err(serde::de::Error::custom(format!("wait_s is {s}; the most is 60"))),
        wait => Ok(wait.map(|Seconds(s)| s)),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClaimResponse {
    pub tasks: Vec<TaskOrder>,
}

/// Everything a runner needs to do one task.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskOrder {
    pub id: i64,
    pub kind: TaskKind,
    /// 1 for the first attempt.
    pub attempt: i32,
    /// Proves this runner holds the task; sent with every call about it.
    pub lease_token: String,
    pub lease_expires_at: DateTime<Utc>,
    /// Renew the lease this often (a third of its length).
    pub renew_every_s: u64,
    /// Give up by then.
    pub deadline: DateTime<Utc>,
    pub release: TaskRelease,
    pub inputs: Vec<TaskInput>,
    #[schema(value_type = Object)]
    pub args: serde_json::Value,
    #[schema(value_type = Object)]
    pub policy: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskRelease {
    pub project: String,
    pub product: String,
    pub version: String,
    pub revision: i64,
}

/// A release file a task reads, fetched by its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TaskInput {
    pub path: String,
    pub sha256: String,
    pub sha512: String,
    pub size: u64,
}

/// `POST /api/runner/v1/tasks/{id}/lease`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LeaseRequest {
    pub lease_token: String,
    /// A short note on how far the task got ("read 120 of 3119 files").
    #[serde(default)]
    pub progress: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LeaseResponse {
    pub lease_expires_at: DateTime<Utc>,
    /// Stop the task: an administrator cancelled it.
    pub cancel: bool,
}

/// `POST /api/runner/v1/tasks/{id}/log`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LogRequest {
    pub lease_token: String,
    /// 0, 1, 2, ... per task; a repeated number is ignored, a gap is refused.
    #[serde(deserialize_with = "crate::whole::i32")]
    #[schema(minimum = 0)]
    pub seq: i32,
    pub text: String,
}

/// The outcome of a task as a runner reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskOutcome {
    /// The work ran; `results` hold its verdicts (which may be failures of the checked files).
    Completed,
    /// The work could not run (a download failed, a limit was hit before any verdict); retried.
    Failed,
}

/// `POST /api/runner/v1/tasks/{id}/result`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ResultRequest {
    pub lease_token: String,
    pub status: TaskOutcome,
    #[serde(default)]
    pub results: Vec<CheckResult>,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ResultResponse {
    /// Whether this call stored the result (false: the same result had been stored before).
    pub accepted: bool,
    /// The task's status now.
    pub status: TaskStatus,
}

/// A task as the API shows it (`GET /api/v1/tasks`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Task {
    pub id: i64,
    pub kind: TaskKind,
    pub status: TaskStatus,
    pub attempt: i32,
    pub max_attempts: i32,
    /// The release and revision that asked for it.
    pub release: Option<String>,
    pub revision: Option<i64>,
    /// The file the task is about (empty for a whole-release check).
    pub path: String,
    pub runner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub not_before: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub progress: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskList {
    pub tasks: Vec<Task>,
    pub page: crate::api::PageInfo,
}

/// The `args` of a `mail` task: one message, rendered by the datastore, sent as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MailOrder {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    /// `<…@…>`: the same on every attempt, so a list archive that got it once sees a duplicate.
    pub message_id: String,
    /// The vote announcement a result mail answers.
    #[serde(default)]
    pub in_reply_to: Option<String>,
}

/// The `args` of a `webhook` task: one signed POST.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookOrder {
    pub url: String,
    /// `X-TRL-Delivery`: the same on every attempt.
    pub delivery_id: String,
    /// `X-TRL-Event`: the event's action.
    pub event: String,
    /// The JSON body, exactly as signed.
    pub body: String,
    /// `X-TRL-Signature`: `sha256=<hex of HMAC-SHA256(secret, body)>`.
    pub signature: String,
}

/// One voted file, as a `distribution` task compares with what a channel serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VotedFile {
    pub path: String,
    pub sha512: String,
    pub size: u64,
}

/// The `args` of a `distribution` task. The runner answers with one result whose
/// `data.outcome` is `verified`, `mismatch` or `unreachable` (a channel that cannot be read is
/// an outcome of the verification, not a failed task), `data.detail` a sentence, and, when it
/// read bytes, `data.sha512` and `data.size`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DistributionOrder {
    /// The distribution record.
    pub distribution: i64,
    pub url: String,
    /// The files of the voted revision.
    pub files: Vec<VotedFile>,
}

/// The `args` of a `vote_thread` task. The runner answers with one `success` result whose
/// `data.mbox` is the thread as an mbox (an archive's JSON is turned into one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VoteThreadOrder {
    pub url: String,
    /// The vote round the thread is for (a later round is not tallied with it).
    pub round: i64,
    /// The announcement's Message-ID, when the platform sent it: only its thread counts.
    #[serde(default)]
    pub root: Option<String>,
    /// Who asked for it: the tally is theirs.
    pub requested_by: String,
}

/// The `args` of an `svn_publish` task: the task's inputs (the released revision's files, by
/// their release paths) go into `folder` of the runner's dist repository in one commit, and the
/// committee's KEYS to `keys_path`. The runner answers with one result: `success` with
/// `data.revision` (its commit, or the earlier one whose folder holds exactly these files), or
/// `failure` when the folder holds other files (nothing is changed then).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SvnPublishOrder {
    /// `release/<project>/[<product>/]<version>`, relative to the repository's root.
    pub folder: String,
    /// The committee whose KEYS file is published beside the release.
    pub committee: String,
    /// `release/<project>/KEYS`.
    pub keys_path: String,
    /// The commit message: names the release, its revision and its vote.
    pub message: String,
}

/// The `args` of an `svn_archive` task: `from` moves to `to` (an archived release), or is
/// removed when `to` is absent (a revoked one), in one commit. The runner answers with one
/// result: `success` with `data.revision` (or without one when an earlier attempt did it, or
/// there was nothing to remove), `failure` when both folders are there. A move whose `from` is
/// not there yet (its publication still on its way) fails the attempt, which is tried again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SvnArchiveOrder {
    pub from: String,
    #[serde(default)]
    pub to: Option<String>,
    pub message: String,
}

/// The `args` of an `svn_import` task: the files under `folder` (`dev/<project>/…`) of the dist
/// repository, uploaded to the datastore (`POST /api/runner/v1/tasks/{id}/blobs`) and named in
/// one `success` result whose `data.files` lists `{path, sha256, sha512, size}` (paths relative
/// to `folder`); the datastore makes them a new revision of the draft. A folder past the limits,
/// or holding a name that cannot be a release path, is a `failure` result naming why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SvnImportOrder {
    pub folder: String,
    /// Most files taken.
    pub max_files: u64,
    /// Most bytes in all.
    pub max_bytes: u64,
    /// Who asked: the revision is theirs.
    pub requested_by: String,
}

/// The `args` of an `sbom_generate` task: the task's one input is the source archive; the
/// runner uploads the SBOM it makes (`POST /api/runner/v1/tasks/{id}/blobs`) and answers with
/// one `success` result whose `data.files` names it at `output` (with `data.components` and
/// `data.manifests`), or a `failure` when the archive holds no manifest it reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SbomGenerateOrder {
    /// The release path the SBOM gets: the archive's name with `.cdx.json` for its extension.
    pub output: String,
    /// The software the SBOM describes (`metadata.component`): the project and the version.
    pub name: String,
    pub version: String,
    /// At most this many uploads (one).
    pub max_files: u64,
    pub max_bytes: u64,
    /// Who asked: the revision is theirs.
    pub requested_by: String,
}

/// One file a runner made or fetched for a new revision, uploaded before its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProducedFile {
    pub path: String,
    pub sha256: String,
    pub sha512: String,
    pub size: u64,
}

/// `POST /api/runner/v1/tasks/{id}/blobs`: what the datastore stored, by its own hashing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BlobStored {
    pub sha256: String,
    pub sha512: String,
    pub size: u64,
}

/// One job of the datastore's schedule (`GET /api/v1/schedules`): what it does, how often, and
/// how its last run went.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduledJob {
    /// `distribution_recheck`, `osv_refresh` or `asf_refresh`.
    pub name: String,
    pub description: String,
    /// 0: the job is off (its configuration is missing, or its interval set to 0).
    pub interval_secs: u64,
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_started_at: Option<DateTime<Utc>>,
    pub last_finished_at: Option<DateTime<Utc>>,
    /// `success` or `failure`.
    pub last_outcome: Option<String>,
    /// What the last run did, or why it failed.
    pub last_detail: Option<String>,
    pub runs: u64,
    /// A run started and has not finished (or its process died: it is taken again after
    /// half an hour).
    pub running: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduleList {
    pub jobs: Vec<ScheduledJob>,
}
