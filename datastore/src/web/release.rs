//! `/releases/{project}/[{product}/]{version}`: the release page, which adapts to the phase
//! and to who is looking (what they may do here, and only that), and the forms it posts to
//! itself: cast a ballot, start the vote, resolve it.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use shared_models::ReleasePath;
use shared_models::api::StatusCounts;
use shared_models::api::{
    CastVoteRequest, CreateWaiverRequest, Event, Phase, Release, RevisionSummary, StartVoteRequest, VoteOutcome,
    VoteStatus, WaiverScope,
};
use shared_models::checks::{CheckResult, CheckStatus, ChecksReport};
use shared_models::runner::TaskKind;

use super::{Visitor, human_size, page, see_other};
use crate::auth::session::CsrfForm;
use crate::auth::{Action, Principal, Viewer, authz};
use crate::domain::page::Page;
use crate::domain::releases::{self, Change, ReleaseRef};
use crate::domain::{checks, publish, votes, waivers};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The page of a release.
pub fn url(project: &str, product: &str, version: &str) -> String {
    if product == project {
        crate::url::path(&["releases", project, version], false)
    } else {
        crate::url::path(&["releases", project, product, version], false)
    }
}

fn url_of(release: &ReleaseRef) -> String {
    url(&release.project, release.product_name(), &release.version)
}

/// The release under `/api/v1` (the product form only for a product of its own).
fn api_of(release: &ReleaseRef) -> String {
    let product = release.product_name();
    if product == release.project.as_str() {
        crate::url::path(&["api", "v1", "releases", &release.project, &release.version], false)
    } else {
        crate::url::path(&["api", "v1", "releases", &release.project, product, &release.version], false)
    }
}

/// A run of results of one checker on one file with the same status and rule: shown as one
/// collapsible group (httpd's 643 header warnings are one line until opened).
#[derive(Debug, Serialize)]
struct ResultGroup {
    status: CheckStatus,
    rule: String,
    count: usize,
    /// Opened at first: failures and errors, unless there are very many of them.
    open: bool,
    results: Vec<ResultView>,
}

#[derive(Debug, Serialize)]
struct ResultView {
    member: Option<String>,
    message: String,
    /// A unified diff the check attached (a LICENSE that differs from the reference), shown as one.
    diff: Option<String>,
    /// The rest of the result's data, as JSON.
    data: Option<String>,
    /// The waiver that covers a waived result: who made it, why, and how far it reaches.
    waiver: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
struct CheckerGroup {
    checker: TaskKind,
    worst: CheckStatus,
    groups: Vec<ResultGroup>,
}

#[derive(Debug, Serialize)]
struct FileChecks {
    path: String,
    worst: CheckStatus,
    checkers: Vec<CheckerGroup>,
}

#[derive(Debug, Serialize)]
struct ChecksView {
    revision: i64,
    complete: bool,
    summary: StatusCounts,
    files: Vec<FileChecks>,
}

/// Results listed in a group before it is collapsed by default.
const OPEN_GROUP_LIMIT: usize = 20;

/// Worst first: what blocks a vote, then what a voter should read, then the rest.
fn severity(status: CheckStatus) -> u8 {
    match status {
        CheckStatus::Failure => 0,
        CheckStatus::Error => 1,
        CheckStatus::Warning => 2,
        CheckStatus::Waived => 3,
        CheckStatus::Success => 4,
    }
}

fn view(result: CheckResult) -> (String, ResultView) {
    let mut data = result.data.unwrap_or(serde_json::Value::Null);
    let rule = data.get("rule").and_then(|r| r.as_str()).unwrap_or("").to_owned();
    let (mut diff, mut waiver) = (None, None);
    if let Some(object) = data.as_object_mut() {
        object.remove("rule");
        diff = object.remove("diff").and_then(|d| d.as_str().map(str::to_owned));
        waiver = object.remove("waiver");
    }
    let data = match &data {
        serde_json::Value::Null => None,
        serde_json::Value::Object(o) if o.is_empty() => None,
        other => serde_json::to_string_pretty(other).ok(),
    };
    (rule, ResultView { member: result.member, message: result.message, diff, data, waiver })
}

/// The checks report grouped as a reader wants it: by file, then checker, then status and
/// rule; failures first at every level.
fn group_checks(report: ChecksReport) -> ChecksView {
    type Key = (u8, String);
    let mut by_file: BTreeMap<String, BTreeMap<TaskKind, BTreeMap<Key, Vec<ResultView>>>> = BTreeMap::new();
    for result in report.results {
        let (path, checker, status) = (result.path.clone(), result.checker, result.status);
        let (rule, view) = view(result);
        by_file
            .entry(path)
            .or_default()
            .entry(checker)
            .or_default()
            .entry((severity(status), rule))
            .or_default()
            .push(view);
    }
    let status_of = |rank: u8| {
        [CheckStatus::Failure, CheckStatus::Error, CheckStatus::Warning, CheckStatus::Waived, CheckStatus::Success]
            [usize::from(rank.min(4))]
    };
    let mut files: Vec<FileChecks> = by_file
        .into_iter()
        .map(|(path, checkers)| {
            let mut checkers: Vec<CheckerGroup> = checkers
                .into_iter()
                .map(|(checker, groups)| {
                    let groups: Vec<ResultGroup> = groups
                        .into_iter()
                        .map(|((rank, rule), results)| {
                            let status = status_of(rank);
                            ResultGroup {
                                status,
                                rule,
                                count: results.len(),
                                open: rank <= 1 && results.len() <= OPEN_GROUP_LIMIT,
                                results,
                            }
                        })
                        .collect();
                    let worst = groups.first().map_or(CheckStatus::Success, |g| g.status);
                    CheckerGroup { checker, worst, groups }
                })
                .collect();
            checkers.sort_by_key(|c| severity(c.worst));
            let worst = checkers.first().map_or(CheckStatus::Success, |c| c.worst);
            FileChecks { path, worst, checkers }
        })
        .collect();
    files.sort_by_key(|f| severity(f.worst));
    ChecksView { revision: report.revision, complete: report.complete, summary: report.summary, files }
}

#[derive(Debug, Serialize)]
struct FileRow {
    path: String,
    size: u64,
    human_size: String,
    sha512: String,
    href: Option<String>,
}

/// What this person may do here now; the page offers exactly these.
#[derive(Debug, Default, Serialize)]
struct Actions {
    cast: bool,
    start_vote: bool,
    resolve: bool,
    /// Upload, move, delete and restore (a draft, for its committee).
    compose: bool,
    /// Rename files: while composing, and in a preview for those who manage its phases.
    rename: bool,
    /// Release a preview; archive or revoke what was released.
    release: bool,
    archive: bool,
    revoke: bool,
    /// Waive checks' failures, and withdraw waivers (a draft, for those who manage its phases).
    waive: bool,
    /// Where to log in to do more, for a visitor.
    login: Option<String>,
}

/// A revision as the compose panel lists it, with what it changed.
#[derive(Debug, Serialize)]
struct RevisionView {
    #[serde(flatten)]
    summary: RevisionSummary,
    diff: Option<releases::RevisionDiff>,
}

/// Revisions the page lists, with their differences (the API has every revision).
const DIFFS_SHOWN: i64 = 20;

#[derive(Debug, Serialize)]
struct ReleasePage {
    user: Option<Visitor>,
    url: String,
    /// This release under `/api/v1`, for the upload script.
    api: String,
    /// Its events in the audit log.
    audit: String,
    /// Newest first; for those who may compose a draft.
    revisions: Vec<RevisionView>,
    /// The announcement a preview's release would send, for those who may release it.
    announcement: Option<crate::domain::outbox::AnnouncementPreview>,
    release: Release,
    files: Vec<FileRow>,
    checks: ChecksView,
    /// The two revisions asked for with `?from=&to=`, compared.
    comparison: Option<Comparison>,
    /// The waivers that apply to this release: who made each, and why.
    waivers: Vec<shared_models::api::Waiver>,
    /// The checkers a waiver may name.
    checkers: Vec<&'static str>,
    /// The CVE records that name this release, as the reader may see them, and whether it
    /// fixes each (else it is affected).
    cves: Vec<(shared_models::advisories::Cve, bool)>,
    /// Where the release was distributed besides this server.
    distributions: Vec<shared_models::catalog::Distribution>,
    vote: Option<VoteStatus>,
    /// This person's own ballot in the open vote.
    my_ballot: Option<i32>,
    /// Whether a ballot this person casts would be binding.
    binding: bool,
    hours_left: u64,
    minutes_left: u64,
    events: Vec<Event>,
    more_events: bool,
    actions: Actions,
    notice: Option<&'static str>,
}

/// Events shown on the page, newest last (the API pages through all of them).
const EVENTS_SHOWN: u32 = 50;

#[derive(Debug, Deserialize)]
pub struct ShowQuery {
    done: Option<String>,
    /// Two revisions to compare (`?from=2&to=5`).
    from: Option<i64>,
    to: Option<i64>,
}

/// Two revisions side by side: what changed from one to the other.
#[derive(Debug, Serialize)]
struct Comparison {
    from: i64,
    to: i64,
    diff: releases::RevisionDiff,
}

/// What a form did, said on the page it came back to (a fixed sentence per action, never
/// text from the URL).
fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "vote" => Some("Your vote is recorded."),
        "start_vote" => Some("The vote has started."),
        "resolve" => Some("The vote is resolved."),
        "delete" => Some("The file is deleted, in a new revision."),
        "move" => Some("The file is renamed, in a new revision."),
        "restore" => Some("The older revision is restored, as a new revision."),
        "upload" => Some("The files are uploaded; their checks are running."),
        "release" => Some("Released: the files are public under /current/, and the announcement is on its way."),
        "archive" => Some("Archived: a newer release supersedes it; its files stay where they are."),
        "revoke" => Some("Revoked: its files moved to /revoked/, and its old URLs say why."),
        "waive" => Some("The waiver is made: the failures it covers no longer block the vote."),
        "unwaive" => Some("The waiver is withdrawn."),
        _ => None,
    }
}

fn actions(principal: Option<&Principal>, release: &Release, vote: Option<&VoteStatus>, here: &str) -> Actions {
    let Some(principal) = principal.filter(|p| p.session.is_some()) else {
        return Actions {
            login: Some(format!("/login?next={}", crate::url::encode_query_value(here))),
            ..Actions::default()
        };
    };
    let vote_open = vote.is_some_and(|v| v.vote.outcome.is_none()) && release.phase == Phase::Candidate;
    let manages = authz::allowed(principal, Action::ManageReleasePhase, &release.committee);
    Actions {
        cast: vote_open,
        start_vote: release.phase == Phase::Draft && manages,
        resolve: vote_open && manages,
        compose: release.phase == Phase::Draft && authz::allowed(principal, Action::ComposeRelease, &release.committee),
        rename: match release.phase {
            Phase::Draft => authz::allowed(principal, Action::ComposeRelease, &release.committee),
            Phase::Preview => manages,
            _ => false,
        },
        release: release.phase == Phase::Preview && manages,
        archive: release.phase == Phase::Current && manages,
        revoke: matches!(release.phase, Phase::Current | Phase::Archived) && manages,
        waive: release.phase == Phase::Draft && manages,
        login: None,
    }
}

/// `GET` the release page.
pub async fn show(
    state: web::Data<AppState>,
    viewer: Viewer,
    release: ReleaseRef,
    query: web::Query<ShowQuery>,
) -> AppResult<HttpResponse> {
    let here = url_of(&release);
    let api = api_of(&release);
    let audit = format!("/audit?release={}", crate::url::encode_query_value(&release.to_string()));
    let public_url = state.config.public_url();
    let principal = viewer.0.clone();
    let outbound = state.outbound.clone();
    let back_here = here.clone();
    let asked = query.from.zip(query.to);
    let (detail, files, report, waivers, vote, events, revisions, announcement, binding, actions, comparison, security) =
        state
            .db
            .run(move |c| -> AppResult<_> {
                crate::db::read_transaction(c, |c| {
                    let viewer = principal.as_ref();
                    let ctx = releases::load_readable(c, viewer, &release)?;
                    let detail = releases::detail(c, &ctx, &public_url)?;
                    let download = releases::download_path(&ctx);
                    let manifest = releases::manifest(c, &ctx, None)?;
                    let files = manifest
                        .files
                        .into_iter()
                        .map(|f| {
                            let href = download.as_ref().map(|dir| {
                                let segments: Vec<&str> = f.path.split('/').collect();
                                format!("{}{}", dir.trim_end_matches('/'), crate::url::path(&segments, false))
                            });
                            FileRow {
                                human_size: human_size(f.size),
                                path: f.path.to_string(),
                                size: f.size,
                                sha512: f.sha512,
                                href,
                            }
                        })
                        .collect::<Vec<_>>();
                    let report = checks::report(c, &ctx)?;
                    let waivers = waivers::list(c, viewer, &release)?.waivers;
                    let key = ctx.key();
                    let cves = crate::domain::advisories::naming_release(c, viewer, &ctx)?;
                    let fixing = cves.into_iter().map(|cve| {
                        let fixes = cve.fixed.contains(&key);
                        (cve, fixes)
                    });
                    let security = (fixing.collect(), crate::domain::catalog::list(c, viewer, &release)?.distributions);
                    let comparison = match asked {
                        Some((from, to)) => Some(Comparison { from, to, diff: releases::compare(c, &ctx, from, to)? }),
                        None => None,
                    };
                    let vote = if detail.vote.is_some() { Some(votes::status(c, viewer, &release)?) } else { None };
                    let events = releases::events(c, &ctx, Page { limit: Some(EVENTS_SHOWN), offset: None })?;
                    let actions = actions(viewer, &detail, vote.as_ref(), &back_here);
                    let revisions = if actions.compose {
                        let mut diffs = releases::recent_diffs(c, &ctx, DIFFS_SHOWN)?.into_iter();
                        let mut all = releases::revisions(c, &ctx)?;
                        all.reverse();
                        all.into_iter()
                            .take(usize::try_from(DIFFS_SHOWN).unwrap_or(20))
                            .map(|summary| {
                                let diff = diffs.next().filter(|(seq, _)| *seq == summary.revision).map(|(_, d)| d);
                                RevisionView { summary, diff }
                            })
                            .filter(|r| r.summary.revision > 0)
                            .collect()
                    } else {
                        Vec::new()
                    };
                    let announcement = match viewer {
                        Some(p) if actions.release => {
                            Some(crate::domain::outbox::announcement_preview(c, &outbound, &ctx, p)?)
                        }
                        _ => None,
                    };
                    let binding = match (&vote, viewer) {
                        (Some(status), Some(p)) => votes::would_bind(&ctx, &status.vote, p),
                        _ => false,
                    };
                    Ok((
                        detail,
                        files,
                        report,
                        waivers,
                        vote,
                        events,
                        revisions,
                        announcement,
                        binding,
                        actions,
                        comparison,
                        security,
                    ))
                })
            })
            .await?;
    let seconds_left = vote.as_ref().map_or(0, |v| v.seconds_left);
    let my_ballot =
        viewer.principal().and_then(|p| vote.as_ref()?.votes.iter().find(|b| b.voter == p.uid).map(|b| b.value));
    let context = ReleasePage {
        user: Visitor::of(viewer.principal()),
        actions,
        url: here,
        api,
        audit,
        revisions,
        announcement,
        release: detail,
        files,
        checks: group_checks(report),
        comparison,
        waivers,
        checkers: TaskKind::ALL.iter().map(|k| k.as_str()).collect(),
        cves: security.0,
        distributions: security.1,
        my_ballot,
        binding,
        hours_left: seconds_left / 3600,
        minutes_left: (seconds_left % 3600) / 60,
        vote,
        more_events: events.page.next.is_some(),
        events: events.events,
        notice: notice(query.done.as_deref()),
    };
    page("release.html", &context)
}

/// The release page's forms. Every field is text: a form sends text, and each action parses
/// what it needs with the reason it refuses.
#[derive(Debug, Deserialize)]
pub struct ReleaseForm {
    action: String,
    value: Option<String>,
    comment: Option<String>,
    outcome: Option<String>,
    reason: Option<String>,
    duration_hours: Option<String>,
    path: Option<String>,
    to: Option<String>,
    revision: Option<String>,
    checker: Option<String>,
    rule: Option<String>,
    path_glob: Option<String>,
    scope: Option<String>,
    waiver: Option<String>,
}

/// A release path from a form field, as the API reads one (NFC, the path grammar).
fn form_path(value: Option<&str>, field: &str) -> AppResult<ReleasePath> {
    let value = value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| AppError::unprocessable("invalid_request", format!("The form needs the file's {field}.")))?;
    Ok(ReleasePath::normalise(value)?)
}

/// What a form asks for, read from its text fields. Blank comments and reasons are left to
/// the domain, which reads blank as none and bounds them as the API's.
enum Act {
    Vote(CastVoteRequest),
    StartVote(StartVoteRequest),
    Resolve(VoteOutcome, Option<String>),
    Release,
    Archive,
    Revoke(String),
    Change(Change, String),
    Restore(i64),
    Waive(CreateWaiverRequest),
    Unwaive(i64),
}

impl Act {
    fn read(form: ReleaseForm) -> AppResult<Self> {
        let invalid = |message: &str| AppError::unprocessable("invalid_request", message.to_owned());
        Ok(match form.action.as_str() {
            "vote" => {
                let value = match form.value.as_deref() {
                    Some("1" | "+1") => 1,
                    Some("0") => 0,
                    Some("-1") => -1,
                    _ => return Err(invalid("Choose +1, 0 or -1.")),
                };
                Act::Vote(CastVoteRequest { value, comment: form.comment, signature: None })
            }
            "start_vote" => {
                let hours = form.duration_hours.as_deref().map(str::trim).filter(|h| !h.is_empty());
                let duration_hours = hours
                    .map(|h| h.parse::<u32>().map_err(|_| invalid("The vote's length is a whole number of hours.")))
                    .transpose()?;
                let revision = form.revision.as_deref().map(str::trim).filter(|r| !r.is_empty());
                let revision = revision
                    .map(|r| r.parse::<i64>().map_err(|_| invalid("A revision is a whole number.")))
                    .transpose()?;
                Act::StartVote(StartVoteRequest { duration_hours, revision, ..StartVoteRequest::default() })
            }
            "resolve" => {
                let outcome = match form.outcome.as_deref() {
                    Some("passed") => VoteOutcome::Passed,
                    Some("failed") => VoteOutcome::Failed,
                    _ => return Err(invalid("Choose whether the vote passed or failed.")),
                };
                Act::Resolve(outcome, form.reason)
            }
            "release" => Act::Release,
            "archive" => Act::Archive,
            "revoke" => Act::Revoke(form.reason.unwrap_or_default()),
            "delete" => {
                let path = form_path(form.path.as_deref(), "name")?;
                Act::Change(Change::Delete { path: path.clone() }, format!("delete {path}"))
            }
            "move" => {
                let from = form_path(form.path.as_deref(), "name")?;
                let to = form_path(form.to.as_deref(), "new name")?;
                let description = format!("move {from} to {to}");
                Act::Change(Change::Move { from, to }, description)
            }
            "restore" => {
                let seq = form.revision.as_deref().and_then(|r| r.trim().parse::<i64>().ok());
                Act::Restore(seq.ok_or_else(|| invalid("Which revision? The form names none."))?)
            }
            "waive" => {
                let checker = form.checker.as_deref().and_then(|c| TaskKind::parse(c).ok());
                let scope = form.scope.as_deref().unwrap_or("release");
                Act::Waive(CreateWaiverRequest {
                    checker: checker.ok_or_else(|| invalid("Which checker? Choose one of the list."))?,
                    rule: form.rule.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()),
                    path_glob: form.path_glob.unwrap_or_default(),
                    reason: form.reason.unwrap_or_default(),
                    scope: WaiverScope::parse(scope)
                        .map_err(|_| invalid("A waiver covers a revision, the release or the project."))?,
                })
            }
            "unwaive" => {
                let id = form.waiver.as_deref().and_then(|w| w.trim().parse::<i64>().ok());
                Act::Unwaive(id.ok_or_else(|| invalid("Which waiver? The form names none."))?)
            }
            other => return Err(super::no_such_action(other)),
        })
    }
}

/// `POST` to the release page: do what the form's `action` says, through the same domain
/// functions as the API, then show the page again (303, so a reload does not repeat it).
pub async fn act(
    state: web::Data<AppState>,
    release: ReleaseRef,
    form: CsrfForm<ReleaseForm>,
) -> AppResult<HttpResponse> {
    let CsrfForm { principal, form } = form;
    let done = format!("{}?done={}", url_of(&release), form.action);
    let act = Act::read(form)?;
    // Whether checks were queued for a new revision.
    let queued = state
        .db
        .run(move |c| -> AppResult<bool> {
            let (principal, release) = (&principal, &release);
            match act {
                Act::Vote(request) => votes::cast(c, principal, release, &request).map(|_| false),
                Act::StartVote(request) => votes::start(c, principal, release, &request).map(|_| false),
                Act::Resolve(outcome, reason) => {
                    votes::resolve(c, principal, release, outcome, reason.as_deref()).map(|_| false)
                }
                Act::Release => publish::release(c, principal, release).map(|_| false),
                Act::Archive => publish::archive(c, principal, release).map(|_| false),
                Act::Revoke(reason) => publish::revoke(c, principal, release, &reason).map(|_| false),
                Act::Change(change, description) => {
                    releases::commit_revision(c, principal, release, &[change], &description)
                        .map(|r| !r.tasks.is_empty())
                }
                Act::Restore(seq) => releases::restore(c, principal, release, seq).map(|r| !r.tasks.is_empty()),
                Act::Waive(request) => waivers::create(c, principal, release, &request).map(|_| false),
                Act::Unwaive(id) => waivers::revoke(c, principal, id).map(|_| false),
            }
        })
        .await?;
    if queued {
        state.wake_runners();
    }
    // As the API's handlers do: a vote started or resolved, a release, a revocation or a
    // rename can change what download URLs name.
    crate::download::phases_changed();
    Ok(see_other(&done))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(path: &str, status: CheckStatus, rule: &str, message: &str) -> CheckResult {
        CheckResult {
            checker: TaskKind::License,
            checker_version: "1".to_owned(),
            path: path.to_owned(),
            member: None,
            status,
            message: message.to_owned(),
            data: Some(serde_json::json!({"rule": rule})),
        }
    }

    #[test]
    fn checks_group_by_file_and_rule_with_failures_first() {
        let mut results: Vec<CheckResult> =
            (0..643).map(|i| result("b.tar.gz", CheckStatus::Warning, "R3", &format!("header {i}"))).collect();
        results.push(result("a.tar.gz", CheckStatus::Success, "L1", "fine"));
        results.push(result("b.tar.gz", CheckStatus::Failure, "L3", "NOTICE is missing"));
        let report = ChecksReport { revision: 1, complete: true, summary: StatusCounts::default(), results };
        let view = group_checks(report);
        assert_eq!(view.files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["b.tar.gz", "a.tar.gz"]);
        let groups = &view.files[0].checkers[0].groups;
        assert_eq!(groups.len(), 2, "one group per status and rule");
        assert_eq!((groups[0].status, groups[0].rule.as_str(), groups[0].open), (CheckStatus::Failure, "L3", true));
        assert_eq!((groups[1].status, groups[1].count, groups[1].open), (CheckStatus::Warning, 643, false));
    }

    #[test]
    fn notices_come_from_a_fixed_table() {
        assert_eq!(notice(Some("vote")), Some("Your vote is recorded."));
        assert_eq!(notice(Some("<script>")), None);
    }

    #[test]
    fn release_urls_encode_their_segments() {
        assert_eq!(url("tooling", "tooling", "1.0-rc1"), "/releases/tooling/1.0-rc1");
        assert_eq!(url("tooling", "cli", "1.0"), "/releases/tooling/cli/1.0");
    }
}
