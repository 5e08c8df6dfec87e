//! Audited waivers: a release manager accepts a check's failure on some paths, with a reason
//! everyone sees. A waived failure shows as `waived` (with who and why in `data.waiver`) and
//! no longer blocks the vote. Rules CHECKS.md marks (fixed) are never waived.

use globset::{Glob, GlobBuilder, GlobMatcher};
use serde_json::json;
use shared_models::api::{CreateWaiverRequest, Phase, Waiver, WaiverList, WaiverScope};
use shared_models::checks::{CheckResult, CheckStatus};
use shared_models::runner::TaskKind;

use super::lifecycle;
use super::releases::{self, ReleaseRef};
use super::text;
use crate::auth::{Action, Principal, authz};
use crate::db::models::WaiverRow;
use crate::db::queries::events::{self, NewEvent};
use crate::db::queries::releases::ReleaseContext;
use crate::db::queries::waivers as q;
use crate::db::{DbConnection, to_time, write_transaction};
use crate::error::{AppError, AppResult};

/// The rules CHECKS.md marks (fixed): a missing `.asc` (P1) and category X licences (R2).
pub const FIXED_RULES: [&str; 2] = ["P1", "R2"];

fn matcher(glob: &str) -> Result<GlobMatcher, globset::Error> {
    GlobBuilder::new(glob).literal_separator(true).build().map(|g: Glob| g.compile_matcher())
}

fn invalid(field: &str, message: String) -> AppError {
    AppError::unprocessable("invalid_request", message).with_details(json!({"field": field}))
}

fn scope_of(row: &WaiverRow) -> WaiverScope {
    match (row.release_id, row.revision_seq) {
        (None, _) => WaiverScope::Project,
        (Some(_), None) => WaiverScope::Release,
        (Some(_), Some(_)) => WaiverScope::Revision,
    }
}

fn view(row: &WaiverRow, author: Option<String>, release: Option<String>) -> AppResult<Waiver> {
    Ok(Waiver {
        id: row.id,
        checker: TaskKind::parse(&row.checker)?,
        rule: row.rule.clone(),
        path_glob: row.path_glob.clone(),
        reason: row.reason.clone(),
        author: author.unwrap_or_else(|| "unknown".to_owned()),
        scope: scope_of(row),
        release: row.release_id.and(release),
        revision: row.revision_seq,
        created_at: to_time(row.created_at),
    })
}

/// The moment whose waivers count for a release: now for a draft; the start of its vote once
/// it has one, so that a waiver made or ended later (on another draft of the project, say)
/// never changes what voters are voting on.
fn as_of(ctx: &ReleaseContext) -> i64 {
    match ctx.release.phase() {
        Ok(Phase::Draft) | Err(_) => i64::MAX,
        Ok(_) => ctx.release.vote_started_at.unwrap_or(i64::MAX),
    }
}

/// `POST …/waivers`, on a draft, by those who manage its releases.
pub fn create(
    conn: &mut DbConnection,
    principal: &Principal,
    release: &ReleaseRef,
    request: &CreateWaiverRequest,
) -> AppResult<Waiver> {
    let reason = text::required("reason", &request.reason, text::MAX_NAME)?;
    let glob = text::required("path_glob", &request.path_glob, 255)?;
    matcher(&glob).map_err(|e| invalid("path_glob", format!("path_glob is not a glob: {e}.")))?;
    if let Some(rule) = &request.rule {
        let well_formed = rule.len() <= 3
            && rule.starts_with(|c: char| c.is_ascii_uppercase())
            && rule.len() > 1
            && rule[1..].bytes().all(|b| b.is_ascii_digit());
        if !well_formed {
            return Err(invalid("rule", format!("rule {rule:?} is not a rule of CHECKS.md (such as L3).")));
        }
        if FIXED_RULES.contains(&rule.as_str()) {
            return Err(AppError::unprocessable(
                "unwaivable_rule",
                format!("{rule} is marked (fixed) in the release checks: its failures cannot be waived."),
            ));
        }
    }
    write_transaction(conn, |conn| {
        let ctx = releases::load_readable(conn, Some(principal), release)?;
        authz::authorize(principal, Action::ManageReleasePhase, &ctx.committee.name)?;
        let phase = ctx.release.phase()?;
        if phase != Phase::Draft {
            return Err(lifecycle::wrong_phase(
                phase,
                Phase::Draft.as_str(),
                format!(
                    "Waivers are made while composing; {release} is in phase {phase}, and voters see what they voted on."
                ),
            ));
        }
        let (release_id, revision_seq) = match request.scope {
            WaiverScope::Project => (None, None),
            WaiverScope::Release => (Some(ctx.release.id), None),
            WaiverScope::Revision => (Some(ctx.release.id), Some(ctx.release.revision)),
        };
        let id = q::insert(
            conn,
            &q::NewWaiver {
                project_id: ctx.project.id,
                checker: request.checker.as_str(),
                rule: request.rule.as_deref(),
                path_glob: &glob,
                reason: &reason,
                author_id: principal.user_id,
                release_id,
                revision_seq,
            },
        )?;
        events::record(
            conn,
            NewEvent {
                actor: principal.actor(),
                action: "waiver.created",
                target: &ctx.key(),
                release_id: Some(ctx.release.id),
                details: json!({
                    "waiver": id, "checker": request.checker, "rule": request.rule, "path_glob": glob,
                    "reason": reason, "scope": request.scope, "revision": revision_seq,
                }),
            },
        )?;
        let (row, author) = q::find(conn, id)?.ok_or_else(|| AppError::internal("a waiver vanished"))?;
        view(&row, author, Some(ctx.key()))
    })
}

/// The live waivers that apply to a release's latest revision.
pub fn list(conn: &mut DbConnection, viewer: Option<&Principal>, release: &ReleaseRef) -> AppResult<WaiverList> {
    let ctx = releases::load_readable(conn, viewer, release)?;
    let waivers = q::applicable(conn, ctx.project.id, ctx.release.id, ctx.release.revision, as_of(&ctx))?
        .into_iter()
        .map(|(row, author)| view(&row, author, Some(ctx.key())))
        .collect::<AppResult<Vec<_>>>()?;
    Ok(WaiverList { waivers })
}

/// The live waivers of project `project_id` that apply to all its releases (public, as the
/// project is: they name no release).
pub fn project_wide(conn: &mut DbConnection, project_id: i64) -> AppResult<WaiverList> {
    let waivers = q::project_wide(conn, project_id)?
        .into_iter()
        .map(|(row, author)| view(&row, author, None))
        .collect::<AppResult<Vec<_>>>()?;
    Ok(WaiverList { waivers })
}

/// `DELETE /api/v1/waivers/{id}`: the waiver ends (it stays in the record); failures it
/// covered block again.
pub fn revoke(conn: &mut DbConnection, principal: &Principal, id: i64) -> AppResult<()> {
    write_transaction(conn, |conn| {
        let (row, _) = q::find(conn, id)?.ok_or_else(|| AppError::not_found(format!("There is no waiver {id}.")))?;
        let committee = q::committee_of_project(conn, row.project_id)?;
        if !authz::allowed(principal, Action::ReadDraft, &committee) {
            return Err(AppError::not_found(format!("There is no waiver {id}.")));
        }
        authz::authorize(principal, Action::ManageReleasePhase, &committee)?;
        if !q::revoke(conn, id)? {
            return Err(AppError::not_found(format!("The waiver {id} has ended already.")));
        }
        let target = match row.release_id {
            Some(release_id) => crate::db::queries::releases::context_by_id(conn, release_id)?.key(),
            None => format!("waiver {id}"),
        };
        events::record(
            conn,
            NewEvent {
                actor: principal.actor(),
                action: "waiver.revoked",
                target: &target,
                release_id: row.release_id,
                details: json!({"waiver": id, "checker": row.checker, "rule": row.rule, "path_glob": row.path_glob}),
            },
        )?;
        Ok(())
    })
}

/// Marks the failures of revision `seq` that a live waiver covers as `waived`, naming the
/// waiver, its author and reason in `data.waiver`.
pub fn apply(conn: &mut DbConnection, ctx: &ReleaseContext, seq: i64, results: &mut [CheckResult]) -> AppResult<()> {
    if !results.iter().any(|r| r.status == CheckStatus::Failure) {
        return Ok(());
    }
    let waivers: Vec<(WaiverRow, Option<String>, GlobMatcher)> =
        q::applicable(conn, ctx.project.id, ctx.release.id, seq, as_of(ctx))?
            .into_iter()
            .filter_map(|(row, author)| matcher(&row.path_glob).ok().map(|m| (row, author, m)))
            .collect();
    for result in results.iter_mut().filter(|r| r.status == CheckStatus::Failure) {
        let rule = result.data.as_ref().and_then(|d| d.get("rule")).and_then(|r| r.as_str()).map(str::to_owned);
        if rule.as_deref().is_some_and(|r| FIXED_RULES.contains(&r)) {
            continue;
        }
        let covering = waivers.iter().find(|(row, _, glob)| {
            row.checker == result.checker.as_str()
                && row.rule.as_ref().is_none_or(|r| Some(r) == rule.as_ref())
                && glob.is_match(&result.path)
        });
        if let Some((row, author, _)) = covering {
            result.status = CheckStatus::Waived;
            let note = json!({"id": row.id, "by": author, "reason": row.reason, "scope": scope_of(row)});
            match result.data.as_mut().and_then(|d| d.as_object_mut()) {
                Some(data) => {
                    data.insert("waiver".to_owned(), note);
                }
                None => result.data = Some(json!({"waiver": note})),
            }
        }
    }
    Ok(())
}
