//! Planning the checks of a revision and queueing them as tasks for the runners.
//!
//! A check's identity is (checker, checker version, inputs hash, policy hash): the inputs hash
//! covers the path and bytes of every file the checker reads, plus the committee's keys for
//! signature checks. A check whose identity already has results, or a live task, is not queued
//! again, so unchanged files are never checked twice.

use std::collections::BTreeMap;

use std::collections::BTreeSet;

use checks::artifacts::{self, PlannedCheck};
use checks::digest::Sha256;
use serde_json::json;
use shared_models::api::{Phase, ProjectPolicy, StatusCounts};
use shared_models::checks::{CheckResult, ChecksReport};
use shared_models::runner::{TaskKind, TaskStatus};

use super::lifecycle;
use crate::db::models::{BlobRow, CheckResultRow, NewTask};
use crate::db::queries::events::{self, NewEvent};
use crate::db::queries::keys;
use crate::db::queries::releases::{self as rq, ReleaseContext};
use crate::db::queries::tasks::{self, Identity};
use crate::db::{DbConnection, now_ms};
use crate::error::{AppError, AppResult};

/// Attempts before a task that keeps losing its runner is failed.
pub const MAX_ATTEMPTS: i32 = 3;

/// A planned check with the hashes that identify its result.
#[derive(Debug, Clone)]
pub struct IdentifiedCheck {
    pub plan: PlannedCheck,
    pub inputs_hash: String,
    pub policy_hash: String,
}

/// The policy a release is under: the project's (defaults where it sets nothing), with its
/// product's and then its own vote fields over it.
pub fn policy_of(ctx: &ReleaseContext) -> AppResult<ProjectPolicy> {
    let project = super::directory::policy(&ctx.project)?;
    let product = super::directory::policy_override(ctx.product.policy_override.as_deref())?;
    let release = super::directory::policy_override(ctx.release.policy_override.as_deref())?;
    Ok(project.overridden(&product).overridden(&release))
}

/// The identity of the policy fields that checks read: changing the vote's fields (its length,
/// quorum, mode, list) must not send every check of every draft to run again.
fn policy_hash(policy: &ProjectPolicy) -> String {
    let mut hasher = Sha256::default();
    let checked = json!({
        "require_incubating_name": policy.require_incubating_name,
        "unknown_header_severity": policy.unknown_header_severity,
        "warn_on_rsa_below_4096": policy.warn_on_rsa_below_4096,
    });
    hasher.update(checked.to_string().as_bytes());
    hasher.finish_hex()
}

/// Where a release's source is: the project's repository and the release's tag in it.
#[derive(Debug, Clone)]
pub struct Source {
    pub repository: String,
    pub tag: String,
}

/// The repository and tag of T2 for `ctx` under `policy` (`{version}` in the tag replaced).
pub fn source_of(ctx: &ReleaseContext, policy: &ProjectPolicy) -> Source {
    Source {
        repository: policy.source_repository.clone().unwrap_or_default(),
        tag: policy.source_tag.replace("{version}", &ctx.release.version),
    }
}

/// What signature checks depend on besides the files: the committee's keys, packets and all
/// (a new self-signature, a revoked subkey), through the SHA-256 of each key's armored bytes.
fn keys_context(conn: &mut DbConnection, committee_id: i64) -> AppResult<String> {
    let mut hasher = Sha256::default();
    for (fingerprint, armored_sha256) in keys::digests_of_committee(conn, committee_id)? {
        hasher.update(format!("{fingerprint}:{armored_sha256}\n").as_bytes());
    }
    Ok(hasher.finish_hex())
}

/// Plans the checks of a manifest and computes their identities.
pub fn identify(
    conn: &mut DbConnection,
    ctx: &ReleaseContext,
    manifest: &BTreeMap<String, BlobRow>,
) -> AppResult<Vec<IdentifiedCheck>> {
    let paths: Vec<&str> = manifest.keys().map(String::as_str).collect();
    let policy = policy_of(ctx)?;
    let policy_hash = policy_hash(&policy);
    let mut keys_digest = None;
    let mut identified = Vec::new();
    for plan in artifacts::plan_for(&paths, &policy) {
        let mut hasher = Sha256::default();
        hasher.update(format!("{}\0{}\n", plan.checker, plan.checker_version).as_bytes());
        for input in &plan.inputs {
            let blob =
                manifest.get(input).ok_or_else(|| AppError::internal(format!("planned input {input} missing")))?;
            // The paths checker judges names only; the others read bytes.
            let content = if plan.checker == TaskKind::Paths { "" } else { blob.sha256.as_str() };
            hasher.update(format!("{input}\0{content}\n").as_bytes());
        }
        if plan.checker == TaskKind::Signature {
            if keys_digest.is_none() {
                keys_digest = Some(keys_context(conn, ctx.committee.id)?);
            }
            hasher.update(keys_digest.as_deref().unwrap_or_default().as_bytes());
        }
        if plan.checker == TaskKind::GitTag {
            // T2 depends on where the tag is and on what counts as generated.
            let source = source_of(ctx, &policy);
            hasher.update(json!([source.repository, source.tag, policy.generated_files]).to_string().as_bytes());
        }
        if matches!(plan.checker, TaskKind::Paths | TaskKind::License) {
            // Podling rules (P5, L4) depend on the committee.
            hasher.update(if ctx.committee.podling { b"podling" } else { b"tlp" });
        }
        identified.push(IdentifiedCheck { plan, inputs_hash: hasher.finish_hex(), policy_hash: policy_hash.clone() });
    }
    Ok(identified)
}

/// Queues every check of a new revision of a draft whose result is not known yet; returns the
/// task ids. Releases past `draft` are frozen: nothing is queued for them.
pub fn enqueue(
    conn: &mut DbConnection,
    ctx: &ReleaseContext,
    seq: i64,
    manifest: &BTreeMap<String, BlobRow>,
) -> AppResult<Vec<i64>> {
    if !lifecycle::runs_checks(ctx.release.phase()?) {
        return Ok(Vec::new());
    }
    let policy = policy_of(ctx)?;
    let now = now_ms();
    let mut queued = Vec::new();
    for check in identify(conn, ctx, manifest)? {
        let inputs: Vec<serde_json::Value> = check
            .plan
            .inputs
            .iter()
            .filter_map(|path| manifest.get(path).map(|b| (path, b)))
            .map(|(path, blob)| json!({"path": path, "sha256": blob.sha256, "sha512": blob.sha512, "size": blob.size}))
            .collect();
        let task = NewTask {
            kind: check.plan.checker.as_str().to_owned(),
            release_id: Some(ctx.release.id),
            revision_seq: Some(seq),
            checker_version: Some(check.plan.checker_version.to_owned()),
            path: check.plan.path.clone(),
            args: {
                let mut args =
                    json!({"committee": ctx.committee.name, "podling": ctx.committee.podling, "policy": policy});
                if check.plan.checker == TaskKind::GitTag {
                    let source = source_of(ctx, &policy);
                    args["repository"] = json!(source.repository);
                    args["tag"] = json!(source.tag);
                    args["generated"] = json!(policy.generated_files);
                }
                args.to_string()
            },
            inputs: serde_json::Value::Array(inputs).to_string(),
            inputs_hash: check.inputs_hash,
            policy_hash: check.policy_hash,
            status: TaskStatus::Queued.as_str().to_owned(),
            priority: 0,
            max_attempts: MAX_ATTEMPTS,
            not_before: now,
            created_at: now,
        };
        if let Some(id) = tasks::enqueue_unless_known(conn, &task)? {
            queued.push(id);
        }
    }
    Ok(queued)
}

/// `GET /api/v1/releases/{p}/{v}/checks`: the plan of the latest revision joined with the
/// stored results, by check identity. A check shows its verdicts; without verdicts, a check
/// that is queued or running is pending (the report is not complete), and one that is not
/// shows its `error`s (it could not run, and is run again when asked).
pub fn report(conn: &mut DbConnection, ctx: &ReleaseContext) -> AppResult<ChecksReport> {
    let manifest = super::releases::latest_manifest(conn, ctx)?;
    let planned = identify(conn, ctx, &manifest)?;
    let hashes: Vec<String> = planned.iter().map(|c| c.inputs_hash.clone()).collect();
    let mut stored: BTreeMap<Identity, Vec<CheckResultRow>> = BTreeMap::new();
    for row in tasks::results_for(conn, &hashes)? {
        stored.entry(Identity::of_result(&row)).or_default().push(row);
    }
    let identities: Vec<Identity> = planned
        .iter()
        .map(|check| Identity {
            checker: check.plan.checker.as_str().to_owned(),
            checker_version: check.plan.checker_version.to_owned(),
            inputs_hash: check.inputs_hash.clone(),
            policy_hash: check.policy_hash.clone(),
        })
        .collect();
    let has_verdict = |identity: &Identity| -> AppResult<bool> {
        let rows = stored.get(identity).map(Vec::as_slice).unwrap_or_default();
        for row in rows {
            if row.status()?.is_verdict() {
                return Ok(true);
            }
        }
        Ok(false)
    };
    // Which checks without a verdict are still to run (looked up only for those).
    let mut pending_hashes = Vec::new();
    for identity in &identities {
        if !has_verdict(identity)? {
            pending_hashes.push(identity.inputs_hash.clone());
        }
    }
    let live: BTreeSet<Identity> = if pending_hashes.is_empty() {
        BTreeSet::new()
    } else {
        tasks::live_identities(conn, &pending_hashes)?.into_iter().collect()
    };
    let mut complete = true;
    let mut results = Vec::new();
    // A frozen release is never checked again: a tag check its policy asks for only now (a
    // repository set after the vote started) was never queued, and is not waited for.
    let frozen = !lifecycle::runs_checks(ctx.release.phase()?);
    for identity in &identities {
        let rows = stored.get(identity).map(Vec::as_slice).unwrap_or_default();
        let mut mine = Vec::with_capacity(rows.len());
        for row in rows {
            mine.push((row, row.status()?));
        }
        let has_verdict = mine.iter().any(|(_, status)| status.is_verdict());
        if frozen && mine.is_empty() && !live.contains(identity) && identity.checker == TaskKind::GitTag.as_str() {
            continue;
        }
        if !has_verdict && (live.contains(identity) || mine.is_empty()) {
            complete = false;
            continue;
        }
        for (row, status) in mine.into_iter().filter(|(_, status)| status.is_verdict() || !has_verdict) {
            results.push(CheckResult {
                checker: row.checker()?,
                checker_version: row.checker_version.clone(),
                path: row.path.clone(),
                member: row.member.clone(),
                status,
                message: row.message.clone(),
                data: row.data.as_deref().map(serde_json::from_str).transpose().map_err(AppError::internal)?,
            });
        }
    }
    super::waivers::apply(conn, ctx, ctx.release.revision, &mut results)?;
    let mut summary = StatusCounts::new();
    for result in &results {
        *summary.entry(result.status.as_str().to_owned()).or_default() += 1;
    }
    Ok(ChecksReport { revision: ctx.release.revision, complete, summary, results })
}

/// Records `checks.completed` (once per revision) when the latest revision of a draft has
/// every check's result; called when a check task ends for good and when a revision queues
/// nothing. The caller holds the release's row lock (a check's report and the reaper take it,
/// a new revision has it): of two last checks that end at once, the second waits for the first
/// to commit and is the one that sees nothing left to run.
pub fn note_if_complete(conn: &mut DbConnection, release_id: i64) -> AppResult<()> {
    if tasks::live_checks_of_release(conn, release_id)? {
        return Ok(());
    }
    let ctx = rq::context_by_id(conn, release_id)?;
    if !lifecycle::runs_checks(ctx.release.phase()?) {
        return Ok(());
    }
    let revision = ctx.release.revision;
    if revision == 0 || events::has_revision_event(conn, release_id, "checks.completed", revision)? {
        return Ok(());
    }
    let report = report(conn, &ctx)?;
    if !report.complete {
        return Ok(());
    }
    events::record(
        conn,
        NewEvent {
            actor: "system",
            action: "checks.completed",
            target: &ctx.key(),
            release_id: Some(release_id),
            details: json!({"revision": revision, "summary": report.summary}),
        },
    )?;
    Ok(())
}

/// Queues what changed for every draft of a committee (or of one of its projects) after its
/// keys or policy changed; returns the ids of the new tasks. Candidates and later are frozen.
pub fn refresh(conn: &mut DbConnection, committee_id: i64, project_id: Option<i64>) -> AppResult<Vec<i64>> {
    let mut queued = Vec::new();
    let phases: Vec<&str> = Phase::ALL.into_iter().filter(|p| lifecycle::runs_checks(*p)).map(Phase::as_str).collect();
    for release_id in rq::open_release_ids(conn, committee_id, project_id, &phases)? {
        let ctx = rq::context_by_id(conn, release_id)?;
        let manifest = super::releases::latest_manifest(conn, &ctx)?;
        queued.extend(enqueue(conn, &ctx, ctx.release.revision, &manifest)?);
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_fields_checks_read_make_their_identity() {
        let policy = ProjectPolicy::default();
        let voting = ProjectPolicy {
            min_vote_hours: 96,
            binding_plus_required: 5,
            mailing_list: Some("dev@httpd.apache.org".into()),
            vote_mode: shared_models::api::VoteMode::Mail,
            auto_resolve: true,
            ..ProjectPolicy::default()
        };
        assert_eq!(policy_hash(&policy), policy_hash(&voting), "the vote's fields do not re-run checks");
        let stricter = ProjectPolicy { unknown_header_severity: "failure".into(), ..ProjectPolicy::default() };
        assert_ne!(policy_hash(&policy), policy_hash(&stricter));
        let podling = ProjectPolicy { require_incubating_name: true, ..ProjectPolicy::default() };
        assert_ne!(policy_hash(&policy), policy_hash(&podling));
        let rsa = ProjectPolicy { warn_on_rsa_below_4096: false, ..ProjectPolicy::default() };
        assert_ne!(policy_hash(&policy), policy_hash(&rsa));
    }
}
