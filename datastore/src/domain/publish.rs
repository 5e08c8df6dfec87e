//! After the vote: the release (the voted bytes go out under `/current/`), archiving and
//! revocation. No operation here deletes a byte: a phase only changes which public tree shows
//! a release's files (`lifecycle::Stage`).

use std::collections::BTreeMap;

use serde_json::json;
use shared_models::api::Published;
use shared_models::checks::CheckStatus;

use super::lifecycle::{self, Transition};
use super::releases::revision_files;
use super::releases::{self, ReleaseRef};
use super::text;
use super::votes::manifest_digest;
use crate::auth::{Action, Principal, authz};
use crate::db::models::BlobRow;
use crate::db::queries::events::{self, NewEvent};
use crate::db::queries::releases::ReleaseContext;
use crate::db::queries::votes as q;
use crate::db::{DbConnection, to_time, write_transaction};
use crate::error::{AppError, AppResult};

/// Whether two manifests hold the same bytes, each as often, whatever their names: what a
/// preview may change (names) and what it may not (contents).
pub fn same_content(a: &[(String, BlobRow)], b: &[(String, BlobRow)]) -> bool {
    let count = |files: &[(String, BlobRow)]| {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for (_, blob) in files {
            *counts.entry(blob.sha512.clone()).or_default() += 1;
        }
        counts
    };
    count(a) == count(b)
}

/// `POST …/release`: publishes a preview's latest revision under `/current/` (where `latest`
/// then names it, if it is the newest), refusing (409 `content_changed`) if its bytes are not
/// exactly the voted ones.
pub fn release(conn: &mut DbConnection, principal: &Principal, release: &ReleaseRef) -> AppResult<ReleaseContext> {
    write_transaction(conn, |conn| {
        let ctx = releases::load_readable(conn, Some(principal), release)?;
        authz::authorize_release(principal, Action::Publish, &ctx)?;
        lifecycle::next(ctx.release.phase()?, Transition::Release)?;
        let voted_revision =
            ctx.release.vote_revision.ok_or_else(|| AppError::internal("a preview without a voted revision"))?;
        let voted = revision_files(conn, &ctx, voted_revision)?;
        let revision = ctx.release.revision;
        let files = revision_files(conn, &ctx, revision)?;
        if !same_content(&voted, &files) {
            return Err(AppError::conflict(
                "content_changed",
                format!(
                    "Revision {revision} of {release} does not hold exactly the bytes of the voted revision \
                     {voted_revision}; it cannot be released."
                ),
            ));
        }
        // Names may have changed in preview, where no check runs: the path rules (a signature and a
        // checksum beside every artifact, podling names, …) are checked again on what goes out.
        let names: Vec<String> = files.iter().map(|(path, _)| path.clone()).collect();
        let policy = super::checks::policy_of(&ctx)?;
        let mut path_results = checks::paths::check(&names, ctx.committee.podling || policy.require_incubating_name);
        super::waivers::apply(conn, &ctx, revision, &mut path_results)?;
        let broken: Vec<String> = path_results
            .iter()
            .filter(|r| r.status == CheckStatus::Failure)
            .map(|r| if r.path.is_empty() { r.message.clone() } else { format!("{}: {}", r.path, r.message) })
            .collect();
        if !broken.is_empty() {
            return Err(AppError::conflict(
                "paths_failed",
                format!("The names of revision {revision} of {release} break the path rules: {}.", broken[0]),
            )
            .with_details(json!({"failures": broken})));
        }
        let digest = manifest_digest(files.iter().map(|(p, b)| (p.as_str(), b)));
        if !q::publish(conn, ctx.release.id, revision, &digest)? {
            return Err(AppError::conflict("wrong_phase", format!("{release} changed while it was being released.")));
        }
        events::record(
            conn,
            NewEvent {
                actor: principal.actor(),
                action: "release.published",
                target: &ctx.key(),
                release_id: Some(ctx.release.id),
                details: json!({
                    "revision": revision,
                    "manifest_digest": digest,
                    "voted_revision": voted_revision,
                    "voted_manifest_digest": ctx.release.manifest_digest,
                    "files": files.len(),
                }),
            },
        )?;
        releases::load(conn, release)
    })
}

/// `POST …/archive`: a current release is superseded; its files stay where they are.
pub fn archive(conn: &mut DbConnection, principal: &Principal, release: &ReleaseRef) -> AppResult<ReleaseContext> {
    write_transaction(conn, |conn| {
        let ctx = releases::load_readable(conn, Some(principal), release)?;
        authz::authorize(principal, Action::ManageReleasePhase, &ctx.committee.name)?;
        lifecycle::next(ctx.release.phase()?, Transition::Archive)?;
        if !q::archive(conn, ctx.release.id)? {
            return Err(AppError::conflict("wrong_phase", format!("{release} changed while it was being archived.")));
        }
        record(conn, principal, &ctx, "release.archived", json!({}))?;
        releases::load(conn, release)
    })
}

/// `POST …/revoke`: a released version must not be used. Its files move to `/revoked/`, its
/// old `/current/` URLs answer 410 with the reason.
pub fn revoke(
    conn: &mut DbConnection,
    principal: &Principal,
    release: &ReleaseRef,
    reason: &str,
) -> AppResult<ReleaseContext> {
    let reason = text::required("reason", reason, text::MAX_NAME)?;
    write_transaction(conn, |conn| {
        let ctx = releases::load_readable(conn, Some(principal), release)?;
        authz::authorize(principal, Action::ManageReleasePhase, &ctx.committee.name)?;
        let from = ctx.release.phase()?;
        lifecycle::next(from, Transition::Revoke)?;
        if !q::revoke(conn, ctx.release.id, &reason)? {
            return Err(AppError::conflict("wrong_phase", format!("{release} changed while it was being revoked.")));
        }
        record(conn, principal, &ctx, "release.revoked", json!({"reason": reason, "from": from}))?;
        releases::load(conn, release)
    })
}

fn record(
    conn: &mut DbConnection,
    principal: &Principal,
    ctx: &ReleaseContext,
    action: &str,
    details: serde_json::Value,
) -> AppResult<()> {
    events::record(
        conn,
        NewEvent { actor: principal.actor(), action, target: &ctx.key(), release_id: Some(ctx.release.id), details },
    )?;
    Ok(())
}

/// What a released release published, beside what was voted on.
pub fn published(conn: &mut DbConnection, ctx: &ReleaseContext) -> AppResult<Option<Published>> {
    let (Some(revision), Some(digest), Some(released_at)) =
        (ctx.release.published_revision, ctx.release.published_digest.clone(), ctx.release.released_at)
    else {
        return Ok(None);
    };
    let voted = match ctx.release.vote_revision {
        Some(seq) => revision_files(conn, ctx, seq)?,
        None => Vec::new(),
    };
    let files = revision_files(conn, ctx, revision)?;
    Ok(Some(Published {
        revision,
        manifest_digest: digest,
        released_at: to_time(released_at),
        content_matches_vote: !voted.is_empty() && same_content(&voted, &files),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, sha512: char) -> (String, BlobRow) {
        (
            path.to_owned(),
            BlobRow { sha256: "0".repeat(64), sha512: sha512.to_string().repeat(128), size: 1, created_at: 0 },
        )
    }

    #[test]
    fn only_names_may_differ() {
        let voted = [file("a.tar.gz", 'a'), file("a.tar.gz.asc", 'b')];
        assert!(same_content(&voted, &[file("dist/a.tar.gz", 'a'), file("dist/a.tar.gz.asc", 'b')]));
        assert!(!same_content(&voted, &[file("a.tar.gz", 'a'), file("a.tar.gz.asc", 'c')]), "changed bytes");
        assert!(!same_content(&voted, &[file("a.tar.gz", 'a')]), "a file left out");
        assert!(!same_content(&voted, &[file("a", 'a'), file("b", 'a'), file("c", 'b')]), "a file added twice");
    }
}
