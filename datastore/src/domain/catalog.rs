//! Distribution records (`docs/DISTRIBUTION.md`: where a release's bytes were also published,
//! by the PMC or trusted automation) and the public catalog of current releases: each with its
//! files, digests, signers, vote, CVEs and distributions, for mirrors and downstream tools.

use std::collections::HashMap;

use serde_json::json;
use shared_models::api::{PageInfo, Phase, VoteOutcome};
use shared_models::catalog::{
    Catalog, CatalogFile, CatalogRelease, Channel, Distribution, DistributionList, DistributionStatus, NewDistribution,
};

use super::page::Page;
use super::releases::{self, ReleaseRef};
use super::{advisories, lifecycle};
use crate::auth::{Action, Principal, authz};
use crate::db::models::DistributionRow;
use crate::db::queries::distributions as q;
use crate::db::queries::events::{self, NewEvent};
use crate::db::queries::releases::{self as rq, ReleaseContext};
use crate::db::{DbConnection, read_transaction, to_time, write_transaction};
use crate::error::{AppError, AppResult};
use crate::url;

/// The phases whose bytes may have gone elsewhere: voted and passed.
const DISTRIBUTABLE: [Phase; 3] = [Phase::Preview, Phase::Current, Phase::Archived];

pub(crate) fn view(row: DistributionRow, release: String) -> AppResult<Distribution> {
    Ok(Distribution {
        id: row.id,
        release,
        channel: Channel::parse(&row.channel)?,
        url: row.url,
        status: DistributionStatus::parse(&row.status)?,
        detail: row.detail,
        checked_at: row.checked_at.map(to_time),
        created_by: row.created_by,
        created_at: to_time(row.created_at),
    })
}

/// A distribution's address: an http(s) URL or the channel's coordinates, printable, without
/// white space, at most 500 characters (an index entry of at most 2000 bytes), and no other
/// URL scheme: a page or a catalog reader may make a link of it.
fn checked_url(value: &str) -> AppResult<&str> {
    let invalid = |why: &str| {
        AppError::unprocessable("invalid_request", format!("url {why}.")).with_details(json!({"field": "url"}))
    };
    if value.is_empty() || value.chars().count() > 500 {
        return Err(invalid("has 1 to 500 characters"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("has no white space or control characters"));
    }
    let lower = value.to_ascii_lowercase();
    let web = ["http://", "https://"].iter().any(|p| lower.len() > p.len() && lower.starts_with(p));
    let other_scheme = lower.split_once("://").is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
    });
    let script = ["javascript:", "data:", "file:", "vbscript:"].iter().any(|s| lower.starts_with(s));
    if !web && (other_scheme || script) {
        return Err(invalid("is an http or https URL, or the channel's coordinates"));
    }
    Ok(value)
}

/// `POST …/distributions` (the PMC, or a trusted publisher allowed to release).
pub fn record(
    conn: &mut DbConnection,
    principal: &Principal,
    release: &ReleaseRef,
    request: &NewDistribution,
) -> AppResult<Distribution> {
    let url = checked_url(&request.url)?;
    write_transaction(conn, |c| {
        let ctx = releases::load_readable(c, Some(principal), release)?;
        authz::authorize_release(principal, Action::RecordDistribution, &ctx)?;
        let phase = ctx.release.phase()?;
        if !DISTRIBUTABLE.contains(&phase) {
            return Err(lifecycle::wrong_phase(
                phase,
                "preview, current or archived",
                format!("{release} is in phase {phase}: only a release whose vote passed is distributed."),
            ));
        }
        let row = q::insert(c, ctx.release.id, request.channel.as_str(), url, principal.actor())?.ok_or_else(|| {
            AppError::conflict("duplicate", format!("{release} is recorded at {url} on {} already.", request.channel))
        })?;
        events::record(
            c,
            NewEvent {
                actor: principal.actor(),
                action: "distribution.recorded",
                target: &ctx.key(),
                release_id: Some(ctx.release.id),
                details: json!({"distribution": row.id, "channel": request.channel, "url": url}),
            },
        )?;
        // A web address is checked at once: does it serve the voted bytes?
        super::parity::queue(c, &ctx, &row, "recorded")?;
        view(row, ctx.key())
    })
}

/// `GET …/distributions`, as public as the release.
pub fn list(conn: &mut DbConnection, viewer: Option<&Principal>, release: &ReleaseRef) -> AppResult<DistributionList> {
    let ctx = releases::load_readable(conn, viewer, release)?;
    let distributions = q::of_releases(conn, &[ctx.release.id])?
        .into_iter()
        .map(|row| view(row, ctx.key()))
        .collect::<AppResult<_>>()?;
    Ok(DistributionList { distributions })
}

/// The record `id` and its release, for one who may record distributions of it: 404 for a
/// record of a release the caller cannot read, 403 for one they may read but not change.
pub(crate) fn changeable(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
) -> AppResult<(DistributionRow, ReleaseContext)> {
    let missing = || AppError::not_found(format!("There is no distribution record {id}."));
    let row = q::find(conn, id)?.ok_or_else(missing)?;
    let ctx = rq::context_by_id(conn, row.release_id)?;
    if !authz::may_read_release(Some(principal), &ctx.committee.name, &ctx.project.name, ctx.release.phase()?) {
        return Err(missing());
    }
    authz::authorize_release(principal, Action::RecordDistribution, &ctx)?;
    Ok((row, ctx))
}

/// `DELETE /api/v1/distributions/{id}`: a record made by mistake (the audit log keeps it).
pub fn remove(conn: &mut DbConnection, principal: &Principal, id: i64) -> AppResult<()> {
    write_transaction(conn, |c| {
        let (row, ctx) = changeable(c, principal, id)?;
        q::delete(c, id)?;
        events::record(
            c,
            NewEvent {
                actor: principal.actor(),
                action: "distribution.removed",
                target: &ctx.key(),
                release_id: Some(ctx.release.id),
                details: json!({"distribution": id, "channel": row.channel, "url": row.url}),
            },
        )?;
        Ok(())
    })
}

/// `GET /api/v1/catalog`: a page of the current releases, the latest released first.
pub fn catalog(conn: &mut DbConnection, page: Page, public_url: &str) -> AppResult<Catalog> {
    read_transaction(conn, |c| page_of(c, page, public_url))
}

fn page_of(c: &mut DbConnection, page: Page, public_url: &str) -> AppResult<Catalog> {
    let (limit, offset) = page.sql();
    let (ids, total) = rq::ids_in_phase(c, Phase::Current.as_str(), limit, offset)?;
    let mut cves = advisories::of_releases(c, &ids)?;
    let mut distributions: HashMap<i64, Vec<DistributionRow>> = HashMap::new();
    for row in q::of_releases(c, &ids)? {
        distributions.entry(row.release_id).or_default().push(row);
    }
    let mut releases = Vec::with_capacity(ids.len());
    for id in ids {
        let ctx = rq::context_by_id(c, id)?;
        let named = cves.remove(&id).unwrap_or_default();
        let distributions = distributions.remove(&id).unwrap_or_default();
        releases.push(entry(c, &ctx, public_url, named, distributions)?);
    }
    Ok(Catalog { releases, page: page.info(total, "") })
}

/// The most releases `/current/catalog.json` holds.
const MAX_WHOLE: usize = 100_000;

/// `/current/catalog.json`: every current release (up to [`MAX_WHOLE`]) in one document, read
/// in one transaction.
pub fn whole(conn: &mut DbConnection, public_url: &str) -> AppResult<Catalog> {
    read_transaction(conn, |c| {
        let mut releases = Vec::new();
        loop {
            let offset = u64::try_from(releases.len()).unwrap_or(u64::MAX);
            let part = page_of(c, Page { limit: Some(super::page::MAX_LIMIT), offset: Some(offset) }, public_url)?;
            let done = part.page.next.is_none() || part.releases.is_empty() || releases.len() >= MAX_WHOLE;
            releases.extend(part.releases);
            if done {
                break;
            }
        }
        let total = u64::try_from(releases.len()).unwrap_or_default();
        let limit = u32::try_from(releases.len()).unwrap_or(u32::MAX);
        Ok(Catalog { page: PageInfo { limit, offset: 0, total, next: None }, releases })
    })
}

fn entry(
    conn: &mut DbConnection,
    ctx: &ReleaseContext,
    public_url: &str,
    cves: advisories::Named,
    distributions: Vec<DistributionRow>,
) -> AppResult<CatalogRelease> {
    let folder = format!("{public_url}{}", releases::download_path(ctx).unwrap_or_default());
    // The signers of these bytes: what the signature checks of this revision verified (a key
    // that signed an earlier draft's file of the same name is not one of them).
    let mut signers: HashMap<String, Vec<String>> = HashMap::new();
    let verified = super::checks::report(conn, ctx)?.results.into_iter().filter(|r| {
        r.checker == shared_models::runner::TaskKind::Signature
            && r.status == shared_models::checks::CheckStatus::Success
    });
    for result in verified {
        if let Some(signer) = result.data.as_ref().and_then(|d| d.get("signer")).and_then(|s| s.as_str()) {
            let known = signers.entry(result.path.clone()).or_default();
            if !known.iter().any(|k| k == signer) {
                known.push(signer.to_owned());
            }
        }
    }
    let revision = rq::find_revision(conn, ctx.release.id, ctx.release.revision)?
        .ok_or_else(|| AppError::internal(format!("{} has no revision {}", ctx.key(), ctx.release.revision)))?;
    let files = rq::revision_files(conn, revision.0.id)?
        .into_iter()
        .map(|(path, blob)| CatalogFile {
            url: format!("{folder}{}", url::path(&path.split('/').collect::<Vec<_>>(), false).trim_start_matches('/')),
            signers: signers.remove(&path).unwrap_or_default(),
            size: u64::try_from(blob.size).unwrap_or_default(),
            sha256: blob.sha256,
            sha512: blob.sha512,
            path,
        })
        .collect();
    Ok(CatalogRelease {
        release: ctx.key(),
        project: ctx.project.name.clone(),
        product: ctx.product.name.clone(),
        version: ctx.release.version.clone(),
        revision: ctx.release.revision,
        released_at: ctx.release.released_at.map(to_time),
        manifest_digest: ctx.release.manifest_digest.clone(),
        vote_outcome: ctx.release.vote_outcome.as_deref().map(VoteOutcome::parse).transpose()?,
        url: folder,
        files,
        cves_fixed: cves.fixed,
        cves_affecting: cves.affecting,
        distributions: distributions.into_iter().map(|row| view(row, ctx.key())).collect::<AppResult<_>>()?,
    })
}
