//! Request and response bodies of `/api/v1`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::names::{Name, ReleasePath, Uid, Version};

crate::named_enum! {
    /// Where a release is in its life (`domain::lifecycle` in the datastore owns the moves
    /// between phases). Files are only ever added or changed in `draft`.
    pub enum Phase as "phase" {
        Draft = "draft",
        Candidate = "candidate",
        Preview = "preview",
        Current = "current",
        Archived = "archived",
        Revoked = "revoked",
    }
}

crate::named_enum! {
    /// A person's role in a committee. Each role includes the rights of those before it in
    /// `committer < release_manager < pmc_member`.
    pub enum Role as "role" {
        Committer = "committer",
        ReleaseManager = "release_manager",
        PmcMember = "pmc_member",
    }
}

crate::named_enum! {
    /// How a release's vote is held (`docs/LIFECYCLE.md`).
    pub enum VoteMode as "vote mode" {
        /// Binding ballots are cast here (`POST …/votes`).
        Platform = "platform",
        /// The vote is held on the mailing list and tallied from its thread.
        Mail = "mail",
        /// The release manager records the outcome, with a reason.
        Manual = "manual",
    }
}

crate::named_enum! {
    /// The stages of a podling's vote: its PPMC votes first, then the Incubator PMC.
    pub enum VoteStage as "vote stage" {
        /// Binding votes are the podling PPMC's.
        Podling = "podling",
        /// Binding votes are the Incubator PMC's; theirs from the podling stage carry over.
        Incubator = "incubator",
    }
}

crate::named_enum! {
    /// How a vote ended.
    pub enum VoteOutcome as "vote outcome" {
        Passed = "passed",
        Failed = "failed",
    }
}

// ---------------------------------------------------------------------------------------------
// Authentication

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateTokenRequest {
    /// What the token is for, shown in token lists ("CI on GitHub Actions").
    #[schema(
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
        min_length = 1,
        max_length = 200
    )]
    pub label: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    pub id: i64,
    /// The token itself. It is shown this once and stored only as a hash.
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    pub id: i64,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JwtRequest {
    pub uid: String,
    /// A personal access token of that user.
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JwtResponse {
    /// Send as `Authorization: Bearer <jwt>`.
    pub jwt: String,
    pub expires_at: DateTime<Utc>,
}

// ---------------------------------------------------------------------------------------------
// Directory

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Committee {
    pub name: Name,
    pub display_name: String,
    pub podling: bool,
    /// The names of its projects.
    pub projects: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CommitteeList {
    pub committees: Vec<Committee>,
    pub page: PageInfo,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Project {
    pub name: Name,
    pub committee: Name,
    pub display_name: String,
    pub podling: bool,
    /// Its products; the main product has the project's own name.
    pub products: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<Project>,
    pub page: PageInfo,
}

/// Where a list stops and how to get the next part of it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PageInfo {
    pub limit: u32,
    pub offset: u64,
    pub total: u64,
    /// The query string of the next page, if there is one (`?offset=100&limit=100`).
    pub next: Option<String>,
}

/// A project's release policy. A release copies it when its vote starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ProjectPolicy {
    /// Minimum length of a vote, in hours (release policy: 72; at most a year).
    #[schema(maximum = 8760)]
    #[serde(deserialize_with = "crate::whole::u32")]
    pub min_vote_hours: u32,
    /// Binding +1 votes needed for a release to pass (release policy: 3).
    #[schema(minimum = 1, maximum = 100)]
    #[serde(deserialize_with = "crate::whole::u32")]
    pub binding_plus_required: u32,
    /// The list where votes are held, e.g. `dev@httpd.apache.org`.
    #[schema(
        pattern = "^$|^[^@\\s\\u0000-\\u001f\\u007f-\\u009f]+@[^@\\s\\u0000-\\u001f\\u007f-\\u009f]+$",
        max_length = 254
    )]
    pub mailing_list: Option<String>,
    /// Whether artifact names must contain "incubating" (podlings; CHECKS.md P5).
    pub require_incubating_name: bool,
    /// Severity of a file without a recognisable licence header (CHECKS.md R1): `warning` or `failure`.
    #[schema(pattern = "^(warning|failure)$", example = "warning")]
    pub unknown_header_severity: String,
    /// Whether RSA keys of 2048-4095 bits only warn (CHECKS.md S4).
    pub warn_on_rsa_below_4096: bool,
    /// Where binding ballots come from: `platform`, `mail` or `manual`.
    pub vote_mode: VoteMode,
    /// Whether a vote resolves itself once its minimum time has passed and it passes (V1).
    pub auto_resolve: bool,
    /// The project's source repository, an `https://` URL git clones (no credentials): each
    /// source archive is compared with the tree of its release's tag (CHECKS T2). Unset or
    /// empty: no comparison.
    #[schema(
        pattern = "^$|^https://[^\\s@/\\u0000-\\u001f\\u007f-\\u009f]+(/[^\\s@\\u0000-\\u001f\\u007f-\\u009f]*)?$",
        max_length = 500
    )]
    pub source_repository: Option<String>,
    /// The tag of a release in that repository: `{version}` stands for the release's version
    /// (`v{version}`, `rel/{version}`).
    #[schema(
        pattern = "^[^-\\s\\u0000-\\u001f\\u007f-\\u009f][^\\s\\u0000-\\u001f\\u007f-\\u009f]*$",
        min_length = 1,
        max_length = 200,
        example = "v{version}"
    )]
    pub source_tag: String,
    /// Files a source archive may hold that its tag does not (made before the release, like
    /// `configure`): globs relative to the archive's top directory, at most 100.
    #[schema(max_items = 100)]
    pub generated_files: Vec<String>,
}

/// The files a source archive usually holds that its tag does not: what Autotools generate.
pub const DEFAULT_GENERATED_FILES: [&str; 6] =
    ["configure", "aclocal.m4", "config.h.in", "**/Makefile.in", "build-aux/**", "m4/**"];

impl Default for ProjectPolicy {
    fn default() -> Self {
        Self {
            min_vote_hours: 72,
            binding_plus_required: 3,
            mailing_list: None,
            require_incubating_name: false,
            unknown_header_severity: "warning".to_owned(),
            warn_on_rsa_below_4096: true,
            vote_mode: VoteMode::Platform,
            auto_resolve: false,
            source_repository: None,
            source_tag: "{version}".to_owned(),
            generated_files: DEFAULT_GENERATED_FILES.iter().map(|g| (*g).to_owned()).collect(),
        }
    }
}

/// Vote policy set for one product or one release over the project's
/// (`PUT /api/v1/projects/{p}/products/{product}/policy`, `PUT /api/v1/releases/{p}/{v}/policy`).
/// Absent fields are inherited: release over product over project. The check fields
/// (`require_incubating_name`, `unknown_header_severity`, `warn_on_rsa_below_4096`) are the
/// committee's and are set on the project only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, try_from = "serde_json::Map<String, serde_json::Value>")]
pub struct PolicyOverride {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::whole::optional_u32")]
    #[schema(maximum = 8760)]
    pub min_vote_hours: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::whole::optional_u32")]
    #[schema(minimum = 1, maximum = 100)]
    pub binding_plus_required: Option<u32>,
    /// An address, or `""` for no list (no vote mails) at this level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        pattern = "^$|^[^@\\s\\u0000-\\u001f\\u007f-\\u009f]+@[^@\\s\\u0000-\\u001f\\u007f-\\u009f]+$",
        max_length = 254
    )]
    pub mailing_list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vote_mode: Option<VoteMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_resolve: Option<bool>,
}

/// The fields of a [`PolicyOverride`], read from a JSON object only (serde's derived structs
/// would also take an array, `[null, null]`, as the fields in order).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideFields {
    #[serde(default, deserialize_with = "crate::whole::optional_u32")]
    min_vote_hours: Option<u32>,
    #[serde(default, deserialize_with = "crate::whole::optional_u32")]
    binding_plus_required: Option<u32>,
    #[serde(default)]
    mailing_list: Option<String>,
    #[serde(default)]
    vote_mode: Option<VoteMode>,
    #[serde(default)]
    auto_resolve: Option<bool>,
}

impl TryFrom<serde_json::Map<String, serde_json::Value>> for PolicyOverride {
    type Error = serde_json::Error;

    fn try_from(object: serde_json::Map<String, serde_json::Value>) -> Result<Self, Self::Error> {
        let f: OverrideFields = serde_json::from_value(serde_json::Value::Object(object))?;
        Ok(Self {
            min_vote_hours: f.min_vote_hours,
            binding_plus_required: f.binding_plus_required,
            mailing_list: f.mailing_list,
            vote_mode: f.vote_mode,
            auto_resolve: f.auto_resolve,
        })
    }
}

impl ProjectPolicy {
    /// This policy with `over`'s fields in place of its own.
    pub fn overridden(mut self, over: &PolicyOverride) -> Self {
        if let Some(hours) = over.min_vote_hours {
            self.min_vote_hours = hours;
        }
        if let Some(required) = over.binding_plus_required {
            self.binding_plus_required = required;
        }
        if let Some(list) = &over.mailing_list {
            self.mailing_list = (!list.is_empty()).then(|| list.clone());
        }
        if let Some(mode) = over.vote_mode {
            self.vote_mode = mode;
        }
        if let Some(auto) = over.auto_resolve {
            self.auto_resolve = auto;
        }
        self
    }
}

/// A product's or a release's policy: what it sets, and the policy in effect.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EffectivePolicy {
    /// The fields set at this level.
    #[serde(rename = "override")]
    pub overrides: PolicyOverride,
    /// The project's policy with the product's (and the release's) fields over it.
    pub effective: ProjectPolicy,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReleaseSummary {
    pub project: Name,
    pub product: Name,
    pub version: Version,
    pub phase: Phase,
    /// The latest revision number (0 is the empty revision a release starts with).
    pub revision: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReleaseList {
    pub releases: Vec<ReleaseSummary>,
    pub page: PageInfo,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Release {
    pub project: Name,
    pub product: Name,
    pub version: Version,
    pub phase: Phase,
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    pub committee: Name,
    pub podling: bool,
    /// Set when the release was revoked.
    pub revoked_reason: Option<String>,
    /// Where the files can be downloaded in the current phase, if they are public.
    pub download_url: Option<String>,
    /// The vote, once one has started (the latest round).
    pub vote: Option<VoteSummary>,
    /// What was published under `/current/`, once released.
    pub published: Option<Published>,
}

/// A release's vote as it stands: what is voted on, the policy it runs under, the outcome.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VoteSummary {
    /// 1 for the first vote; a failed vote sends the release back to draft, and the next is round 2.
    /// A podling's Incubator stage is a round of its own, after the podling's.
    pub round: i64,
    /// For a podling: `podling` (its PPMC votes) or `incubator` (the Incubator PMC votes).
    pub stage: Option<VoteStage>,
    /// The frozen revision.
    pub revision: i64,
    /// Hex SHA-256 of the frozen revision's manifest (`docs/LIFECYCLE.md` says how to recompute it).
    pub manifest_digest: String,
    pub mode: VoteMode,
    pub min_vote_hours: u32,
    pub binding_plus_required: u32,
    pub opened_at: DateTime<Utc>,
    /// The vote may be resolved as passed from this time on.
    pub closes_at: DateTime<Utc>,
    /// Why the vote is shorter than the policy's minimum (a security release), if it is.
    pub expedited_reason: Option<String>,
    /// Set once resolved.
    pub outcome: Option<VoteOutcome>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The resolver's reason (required in `manual` mode).
    pub resolution: Option<String>,
}

/// What a release published, beside what was voted on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Published {
    pub revision: i64,
    pub manifest_digest: String,
    pub released_at: DateTime<Utc>,
    /// Whether the published files hold exactly the voted bytes (the same sha512s, each as
    /// often); only names may differ.
    pub content_matches_vote: bool,
}

// ---------------------------------------------------------------------------------------------
// Releases, files and revisions

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateReleaseRequest {
    pub project: Name,
    /// Defaults to the project's main product (named like the project).
    pub product: Option<Name>,
    pub version: Version,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FileUploaded {
    pub revision: i64,
    pub path: ReleasePath,
    pub size: u64,
    pub sha256: String,
    pub sha512: String,
}

/// `POST …/uploads`: a resumable upload of one file of a draft, of `size` bytes, to `path`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUploadRequest {
    /// The file's path, taken in Unicode NFC (as `PUT …/files/{path}` takes it).
    #[serde(deserialize_with = "ReleasePath::deserialize_normalised")]
    pub path: ReleasePath,
    #[serde(deserialize_with = "crate::whole::u64")]
    pub size: u64,
    /// The SHA-512 of the whole file, if the client knows it: a commit of other bytes is
    /// refused (409 `digest_mismatch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9a-fA-F]{128}$")]
    pub sha512: Option<String>,
}

/// A resumable upload (`/api/v1/uploads/{id}`): `offset` bytes of `size` are stored and
/// confirmed; the next `PATCH` sends the bytes from `offset` on. Only its creator uses it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UploadSession {
    pub id: String,
    /// The release, `project/version` or `project/product/version`.
    pub release: String,
    pub path: ReleasePath,
    pub size: u64,
    pub offset: u64,
    pub created_at: DateTime<Utc>,
    /// When it is removed, with its bytes, unless another byte arrives before.
    pub expires_at: DateTime<Utc>,
    /// Where to `PATCH` the bytes, `HEAD` the offset, `POST …/commit` and `DELETE`.
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileEntry {
    pub path: ReleasePath,
    pub size: u64,
    pub sha256: String,
    pub sha512: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FileList {
    pub revision: i64,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RevisionCreated {
    pub revision: i64,
    /// The files that this revision added or replaced, in upload order.
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RevisionSummary {
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// What changed, in a few words ("upload httpd-2.4.68.tar.gz").
    pub description: String,
    pub file_count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RevisionList {
    pub revisions: Vec<RevisionSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RevisionManifest {
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub description: String,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Who did it: a user id, `runner:<name>`, or `system`.
    pub actor: String,
    /// What happened, as a stable dotted code: `release.created`, `revision.created`, ...
    pub action: String,
    /// What it happened to, e.g. `httpd/2.4.68`.
    pub target: String,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventList {
    pub events: Vec<Event>,
    pub page: PageInfo,
}

// ---------------------------------------------------------------------------------------------
// The vote and what follows it

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartVoteRequest {
    /// The revision to put to the vote: the latest (the default); naming an older one is refused.
    #[serde(default, deserialize_with = "crate::whole::optional_i64")]
    pub revision: Option<i64>,
    /// How long the vote runs, in hours (default and minimum: the policy's `min_vote_hours`;
    /// less needs `expedited_reason`).
    #[schema(minimum = 1, maximum = 8760)]
    #[serde(default, deserialize_with = "crate::whole::optional_u32")]
    pub duration_hours: Option<u32>,
    /// Why this vote is shorter than the policy's minimum (for example a security release).
    #[schema(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$", max_length = 200)]
    pub expedited_reason: Option<String>,
}

/// `POST …/vote/fetch`: a runner fetches the vote thread and the datastore tallies it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchThreadRequest {
    /// The thread as an mbox (or an archive's JSON); default: the server's
    /// `DATASTORE_MAIL_ARCHIVE_URL` for the announcement's Message-ID.
    #[schema(
        max_length = 2000,
        pattern = "^https?://[^/?#@:\\\\\\s\\u0000-\\u001f\\u007f-\\u009f]+(:[0-9]{1,5})?([/?#][^\\\\\\s\\u0000-\\u001f\\u007f-\\u009f]*)?$"
    )]
    pub url: Option<String>,
}

/// `POST …/import/svn`: a runner reads a candidate's folder of the dist repository, and its
/// files become a new revision of the draft.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SvnImportRequest {
    /// The folder, `dev/<project>/…` (e.g. `dev/tooling/0.3-rc1`), relative to the repository's
    /// root.
    #[schema(min_length = 5, max_length = 300, example = "dev/tooling/0.3-rc1")]
    pub folder: String,
}

/// Work queued for a runner.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskQueued {
    /// The task (`GET /api/v1/tasks/{id}`).
    pub task: i64,
}

/// A ballot as cast.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CastVoteRequest {
    /// +1, 0 or -1.
    #[schema(minimum = -1, maximum = 1)]
    #[serde(deserialize_with = "crate::whole::i32")]
    pub value: i32,
    #[schema(pattern = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$", max_length = 2000)]
    pub comment: Option<String>,
    /// An armored detached OpenPGP signature over the ballot's text
    /// (`GET …/votes/ballot-text?value=…`), by one of the voter's registered keys.
    #[schema(max_length = 16384)]
    pub signature: Option<String>,
}

/// One person's ballot: the latest they cast in this round.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Ballot {
    pub voter: String,
    pub value: i32,
    /// Decided from the voter's membership when the ballot was cast (a PMC member's is binding).
    pub binding: bool,
    pub comment: Option<String>,
    pub cast_at: DateTime<Utc>,
    /// `platform`, `mail` or `manual`.
    pub source: String,
    /// How many ballots this person cast in this round (the latest counts).
    pub ballots_cast: u32,
    /// The fingerprint of the voter's key that signed this ballot's text, if it was signed.
    pub signed_by: Option<String>,
}

/// The counts of a vote (CHECKS.md V1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Tally {
    pub binding_plus: u32,
    pub binding_zero: u32,
    pub binding_minus: u32,
    pub non_binding_plus: u32,
    pub non_binding_zero: u32,
    pub non_binding_minus: u32,
}

/// `GET …/votes`: the ballots that count, the tally, and whether the vote passes now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VoteStatus {
    #[serde(flatten)]
    pub vote: VoteSummary,
    pub votes: Vec<Ballot>,
    pub tally: Tally,
    /// V1: at least `binding_plus_required` binding +1 and more binding +1 than binding -1.
    pub passes: bool,
    /// Whether the minimum time has passed.
    pub closed: bool,
    /// Seconds until `closes_at` (0 once it has passed).
    pub seconds_left: u64,
}

/// `POST …/vote/tally`: a vote thread read as CHECKS.md V3 says, and the vote it makes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MailTally {
    /// The vote after the thread's ballots were recorded (as `GET …/votes`).
    pub tally: Tally,
    pub passes: bool,
    /// Every mail that held a vote, in thread order.
    pub counted: Vec<CountedMail>,
    /// Mails that held no vote, and why.
    pub skipped: Vec<SkippedMail>,
    /// Ballots this call recorded (a thread tallied again records only what changed).
    pub recorded: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CountedMail {
    pub message_id: String,
    /// The sender's address, in lower case.
    pub sender: String,
    /// The user registered with that address; `null` for an unmatched sender (non-binding).
    pub uid: Option<String>,
    pub value: i32,
    pub binding: bool,
    /// The line the vote was read from.
    pub line: String,
    /// False when a later mail of the same sender replaced this vote.
    pub counts: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SkippedMail {
    pub message_id: String,
    pub sender: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    pub outcome: VoteOutcome,
    /// Why; required in `manual` mode.
    #[schema(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$", max_length = 200)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// A file, or a folder (every file under it moves). Put into Unicode NFC first.
    #[serde(deserialize_with = "ReleasePath::deserialize_normalised")]
    pub from: ReleasePath,
    #[serde(deserialize_with = "ReleasePath::deserialize_normalised")]
    pub to: ReleasePath,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Shown on the release page and in the 410 of its old URLs.
    #[schema(
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
        min_length = 1,
        max_length = 200
    )]
    pub reason: String,
}

/// `GET /api/v1/audit/checkpoint`: the datastore's signed statement of the audit chain's length
/// and head. Anyone may check the signature: Ed25519 over `statement`, with `public_key`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditCheckpoint {
    /// How many events the chain held.
    pub events: i64,
    /// The hash of its last event (hex SHA-256).
    pub head: String,
    pub signed_at: DateTime<Utc>,
    /// The signed text: `trusted-releases audit checkpoint`, the count and the head, one per line.
    pub statement: String,
    /// Raw Ed25519 public key, hex.
    pub public_key: String,
    /// Ed25519 signature of `statement`, hex.
    pub signature: String,
}

crate::named_enum! {
    /// Where a waiver applies.
    pub enum WaiverScope as "waiver scope" {
        /// The release's latest revision only.
        Revision = "revision",
        /// Every revision of the release, present and future.
        Release = "release",
        /// Every release of the project.
        Project = "project",
    }
}

/// `POST …/waivers`: failures of a checker (and rule) on matching paths are shown as `waived`,
/// with who and why; they no longer block the vote. CHECKS.md rules marked (fixed) cannot be
/// waived.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWaiverRequest {
    pub checker: crate::runner::TaskKind,
    /// A rule of CHECKS.md (`L3`); absent: every rule of the checker but the fixed ones.
    #[schema(pattern = "^[A-Z][0-9]{1,2}$")]
    pub rule: Option<String>,
    /// Release paths it covers, as a glob (`*` within a folder, `**` across folders).
    #[schema(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$", min_length = 1, max_length = 255)]
    pub path_glob: String,
    #[schema(
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
        min_length = 1,
        max_length = 200
    )]
    pub reason: String,
    pub scope: WaiverScope,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Waiver {
    pub id: i64,
    pub checker: crate::runner::TaskKind,
    pub rule: Option<String>,
    pub path_glob: String,
    pub reason: String,
    /// Who made it.
    pub author: String,
    pub scope: WaiverScope,
    /// The release it is limited to (scopes `release` and `revision`).
    pub release: Option<String>,
    /// The revision it is limited to (scope `revision`).
    pub revision: Option<i64>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WaiverList {
    pub waivers: Vec<Waiver>,
}

// ---------------------------------------------------------------------------------------------
// Signing keys

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AddKeysRequest {
    /// One or more ASCII-armored OpenPGP public keys, your own: each needs a user id with your
    /// registered email address, or `ownership_signature`.
    pub armored: String,
    /// Committees whose KEYS the keys join; you must be a member of each.
    #[serde(default)]
    pub committees: Vec<Name>,
    /// A detached signature (`gpg --armor --detach-sign`) over the text of
    /// `GET /api/v1/keys/ownership-statement?fingerprint=<fingerprint>`, made with the key (or
    /// its signing subkey): proof that you hold it, for a key whose user ids do not name your
    /// registered address.
    #[serde(default)]
    pub ownership_signature: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SkippedKey {
    /// Why the key was not imported, for a person to read.
    pub reason: String,
    /// Stable code: `legacy_v3_key`, `unparseable`, `no_key_material`, ...
    pub code: String,
    /// Which armor block of the input (1-based).
    pub block: usize,
    /// The fingerprint or key id, when it could be read.
    pub key: Option<String>,
    /// The user id, when it could be read.
    pub uid: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyImportReport {
    /// How many keys were new.
    pub added: u64,
    /// How many known keys gained packets (a new user id, a newer self-signature, a
    /// revocation). Packets are merged, never replaced: nothing a key said is ever dropped.
    pub updated: u64,
    /// How many known keys were sent again with nothing new.
    #[serde(default)]
    pub unchanged: u64,
    /// The keys that were not imported, each with its reason.
    pub skipped: Vec<SkippedKey>,
    /// Fingerprints of every key added, updated or unchanged (all of them are in the KEYS of
    /// the committees the request named).
    pub fingerprints: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyInfo {
    pub fingerprint: String,
    /// `rsa`, `dsa`, `ed25519`, `ecdsa`, ...
    pub algorithm: String,
    pub bits: Option<u32>,
    pub created: DateTime<Utc>,
    pub expires: Option<DateTime<Utc>>,
    pub revoked: bool,
    pub uids: Vec<String>,
    pub owner: Option<String>,
    pub committees: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyInfo>,
}

crate::named_enum! {
    /// How bad a KEYS lint finding is: a `blocking` one stops a vote from starting (a key that
    /// signed the release would stop verifying before the vote closes).
    pub enum KeyFindingSeverity as "key finding severity" {
        Warning = "warning",
        Blocking = "blocking",
    }
}

crate::named_enum! {
    /// What a KEYS lint finding is about.
    pub enum KeyFindingCode as "key finding code" {
        /// The key expires within the vote window or within 30 days.
        ExpiresSoon = "expires_soon",
        Expired = "expired",
        Revoked = "revoked",
        /// RSA below 4096 bits, or DSA.
        Weak = "weak",
        /// A signing subkey expired, or no key or subkey can sign any more.
        SubkeyExpired = "subkey_expired",
        SubkeyRevoked = "subkey_revoked",
        /// No user id of the key is a project member's registered address.
        NoMemberUid = "no_member_uid",
        /// The same key twice in KEYS.
        Duplicate = "duplicate",
        /// Two keys share a 64-bit key id.
        KeyIdCollision = "key_id_collision",
    }
}

/// One thing wrong with one key of a committee's KEYS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyFinding {
    /// The key's fingerprint (upper-case hex).
    pub fingerprint: String,
    pub code: KeyFindingCode,
    pub severity: KeyFindingSeverity,
    pub message: String,
}

/// `GET /api/v1/committees/{c}/keys/lint`: what is wrong with a committee's signing keys, so a
/// release manager learns it before voters do.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeysLint {
    pub committee: String,
    /// Keys examined.
    pub keys: u32,
    /// Blocking findings first.
    pub findings: Vec<KeyFinding>,
}

// ---------------------------------------------------------------------------------------------
// Admin

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateCommitteeRequest {
    pub name: Name,
    #[schema(
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
        min_length = 1,
        max_length = 200
    )]
    pub display_name: String,
    #[serde(default)]
    pub podling: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateProjectRequest {
    pub name: Name,
    pub committee: Name,
    #[schema(
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
        min_length = 1,
        max_length = 200
    )]
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateProductRequest {
    pub name: Name,
    #[schema(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$", max_length = 200)]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    pub uid: Uid,
    #[schema(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$", max_length = 200)]
    pub name: Option<String>,
    #[schema(
        pattern = "^$|^[^@\\s\\u0000-\\u001f\\u007f-\\u009f]+@[^@\\s\\u0000-\\u001f\\u007f-\\u009f]+$",
        max_length = 254
    )]
    pub email: Option<String>,
    #[serde(default)]
    pub admin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub uid: Uid,
    pub name: Option<String>,
    pub email: Option<String>,
    pub admin: bool,
    /// A member of the foundation (set by admins): reads every audit event.
    #[serde(default)]
    pub foundation_member: bool,
    /// A visitor's own account (made at `/signup`): ballots are non-binding.
    #[serde(default)]
    pub visitor: bool,
    pub memberships: Vec<Membership>,
}

/// A page of users (admins only).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    pub users: Vec<User>,
    pub page: PageInfo,
}

/// An invitation: the link (shown once) with which its user chooses a password.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Invitation {
    pub url: String,
}

/// A change to a user's flags (admins only); fields left out stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub foundation_member: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Membership {
    pub committee: Name,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SetMembershipRequest {
    pub uid: Uid,
    pub committee: Name,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateRunnerRequest {
    pub name: Name,
}

/// A change to a runner (admins only): `disabled` stops its token at once (the tasks it held
/// are queued again when their leases run out); `false` lets it claim again.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRunnerRequest {
    pub disabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunnerCreated {
    pub id: i64,
    pub name: Name,
    /// The runner's token, shown this once and stored only as a hash. Give it to the runner as
    /// `RUNNER_TOKEN`.
    pub token: String,
}

/// A registered runner, as operators watch it (`GET /api/v1/admin/runners`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunnerInfo {
    pub id: i64,
    pub name: String,
    /// The version it reported at its last claim.
    pub version: Option<String>,
    /// The task kinds it claims.
    pub kinds: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub disabled: bool,
    /// Tasks it holds a lease on now.
    pub running: u64,
    /// How many tasks it asked for at its last claim (its capacity).
    #[serde(default)]
    pub capacity: Option<u32>,
    /// Tasks it finished, in all: completed, and failed.
    #[serde(default)]
    pub completed: u64,
    #[serde(default)]
    pub failed: u64,
    /// What it works on now.
    #[serde(default)]
    pub current: Vec<RunningTask>,
}

/// A task a runner holds a lease on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunningTask {
    pub id: i64,
    pub kind: String,
    /// `project/version` (or `project/product/version`), for a release's task.
    pub release: Option<String>,
    /// The file it reads (empty for a whole-release task).
    pub path: String,
}

/// The task queue as operators watch it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct QueueInfo {
    /// Tasks waiting for a runner.
    pub queued: u64,
    /// When the oldest of them was made.
    pub oldest_queued_at: Option<DateTime<Utc>>,
    /// Tasks finished in each of the last 24 hours, oldest hour first.
    pub finished_per_hour: Vec<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunnerList {
    pub runners: Vec<RunnerInfo>,
    #[serde(default)]
    pub queue: QueueInfo,
}

/// The public Apache data files, each optional, exactly as Apache publishes them
/// (committee-info `committees.json`, `retired_committees.json`, `podlings.json`,
/// `projects.json`, `ldap_projects.json`, `groups.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct AsfImportRequest {
    #[schema(value_type = Option<Object>)]
    pub committees: Option<serde_json::Map<String, serde_json::Value>>,
    #[schema(value_type = Option<Object>)]
    pub retired_committees: Option<serde_json::Map<String, serde_json::Value>>,
    #[schema(value_type = Option<Object>)]
    pub podlings: Option<serde_json::Map<String, serde_json::Value>>,
    #[schema(value_type = Option<Object>)]
    pub projects: Option<serde_json::Map<String, serde_json::Value>>,
    #[schema(value_type = Option<Object>)]
    pub ldap_projects: Option<serde_json::Map<String, serde_json::Value>>,
    #[schema(value_type = Option<Object>)]
    pub groups: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AsfImportCounts {
    pub committees: u64,
    pub projects: u64,
    pub users: u64,
    pub memberships: u64,
    /// Entries that were not imported, each with the reason.
    pub skipped: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Downloads

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DirectoryListing {
    /// The URL path of this directory, ending in `/`.
    pub path: String,
    pub entries: Vec<DirectoryEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DirectoryEntry {
    pub name: String,
    /// `file` or `dir`.
    #[serde(rename = "type")]
    pub kind: String,
    pub size: Option<u64>,
    pub sha256: Option<String>,
}

/// Counts by status, e.g. `{"success": 12, "warning": 1}`.
pub type StatusCounts = BTreeMap<String, u64>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_override_is_an_object_of_known_fields() {
        let read = |json: &str| serde_json::from_str::<PolicyOverride>(json);
        assert_eq!(read("{}").unwrap(), PolicyOverride::default());
        let set = read(r#"{"min_vote_hours": 96.0, "mailing_list": ""}"#).unwrap();
        assert_eq!((set.min_vote_hours, set.mailing_list.as_deref()), (Some(96), Some("")));
        assert!(read("[null, null]").is_err(), "an array is not the fields in order");
        assert!(read(r#"{"require_incubating_name": true}"#).is_err(), "check fields are the project's");
        assert!(read(r#"{"min_vote_hours": -1}"#).is_err());
    }
}

/// `GET /api/v1/verify/sha512/{hex}`: where these exact bytes are, and what was decided about them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Verification {
    pub sha512: String,
    /// False: no release revision you may read holds these bytes.
    pub known: bool,
    pub size: Option<u64>,
    pub sha256: Option<String>,
    /// Every release revision holding them (newest release first), as far as you may read.
    pub found: Vec<VerifiedFile>,
}

/// One file of one release revision with the bytes asked about.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VerifiedFile {
    /// `project/version` (or `project/product/version`).
    pub release: String,
    pub phase: Phase,
    pub revision: i64,
    pub path: String,
    /// Whether this revision is the one put to the release's (latest) vote, and how it ended.
    pub voted: bool,
    pub vote_outcome: Option<VoteOutcome>,
    /// The digest of the revision voted on.
    pub manifest_digest: Option<String>,
    /// Whether this revision is the one published under `/current/`.
    pub published: bool,
    /// Fingerprints of the keys whose signatures over this file the checks verified.
    pub signers: Vec<String>,
    /// Where the file is downloaded now, if it is public.
    pub url: Option<String>,
}
