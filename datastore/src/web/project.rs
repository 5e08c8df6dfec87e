//! `/projects/{project}`: a project, its releases by phase, and its release policy; its
//! committers start a release here, and its PMC changes the policy.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use shared_models::Name;
use shared_models::api::{Phase, Project, ProjectPolicy, ReleaseSummary, VoteMode};

use super::{Visitor, page, see_other};
use crate::auth::session::CsrfForm;
use crate::auth::{Action, Viewer, authz};
use crate::domain::page::Page;
use crate::domain::{directory, mail, releases, waivers};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

#[derive(Serialize)]
struct ProjectPage {
    user: Option<Visitor>,
    project: Project,
    policy: ProjectPolicy,
    /// Releases grouped by phase, in lifecycle order; phases without releases are left out.
    phases: Vec<PhaseGroup>,
    more: Option<String>,
    /// What this person may do here: start a release (committers), change the policy (the PMC).
    may_start: bool,
    may_edit_policy: bool,
    /// Whether this person may withdraw the project's waivers (its release managers and PMC).
    may_waive: bool,
    /// The waivers that apply to every release of the project, for those who read its drafts
    /// (a waiver is made on a draft, and may speak of it); others see each release's own.
    waivers: Vec<shared_models::api::Waiver>,
    may_read_waivers: bool,
    notice: Option<&'static str>,
    /// The mails of a release's life (vote, result, announcement): the project's own, or the
    /// platform's default.
    templates: Vec<shared_models::outbound::MailTemplate>,
    /// The project's CVE records, newest first (the embargoed ones for its PMC only).
    cves: Vec<shared_models::advisories::Cve>,
    more_cves: bool,
}

#[derive(Serialize)]
struct PhaseGroup {
    phase: Phase,
    releases: Vec<ReleaseLink>,
}

#[derive(Serialize)]
struct ReleaseLink {
    #[serde(flatten)]
    release: ReleaseSummary,
    url: String,
}

#[derive(Debug, Deserialize)]
pub struct ProjectQuery {
    offset: Option<u64>,
    done: Option<String>,
}

/// How many releases one page of a project lists.
const RELEASES_PER_PAGE: u32 = 200;

pub async fn show(
    state: web::Data<AppState>,
    viewer: Viewer,
    name: web::Path<String>,
    query: web::Query<ProjectQuery>,
) -> AppResult<HttpResponse> {
    let name = Name::parse(&name).map_err(|_| AppError::not_found(format!("There is no project {name}.")))?;
    let user = Visitor::of(viewer.principal());
    let offset = query.offset;
    let notice = match query.done.as_deref() {
        Some("policy") => Some("The release policy is changed."),
        Some("template") => Some("The mail template is changed; the next mail of its kind uses it."),
        Some("reset_template") => Some("The mail template is the platform's default again."),
        Some("unwaive") => Some("The waiver is withdrawn: the failures it covered block votes again."),
        _ => None,
    };
    let person = super::logged_in(viewer.clone());
    let (project, policy, list, templates, waivers, cves) = state
        .db
        .run(move |c| -> AppResult<_> {
            let (row, _) = directory::find_project(c, &name)?;
            let policy = directory::policy(&row)?;
            let project = directory::project(c, &name)?;
            let list = directory::project_releases(
                c,
                viewer.principal(),
                &name,
                Page { limit: Some(RELEASES_PER_PAGE), offset },
            )?;
            let templates = mail::list(c, &name)?.templates;
            let waivers = waivers::project_wide(c, row.id)?.waivers;
            let cves = crate::domain::advisories::list(c, viewer.principal(), &name, Page::default())?;
            Ok((project, policy, list, templates, waivers, cves))
        })
        .await?;
    let more = list
        .page
        .next
        .as_ref()
        .map(|_| format!("/projects/{}?offset={}", project.name, list.page.offset + u64::from(list.page.limit)));
    let mut phases: Vec<PhaseGroup> = Vec::new();
    for release in list.releases {
        let url = super::release::url(&release.project, &release.product, &release.version);
        let link = ReleaseLink { release, url };
        match phases.iter_mut().find(|g| g.phase == link.release.phase) {
            Some(group) => group.releases.push(link),
            None => phases.push(PhaseGroup { phase: link.release.phase, releases: vec![link] }),
        }
    }
    phases.sort_by_key(|g| g.phase);
    let may = |action| person.as_ref().is_some_and(|p| authz::allowed(p, action, project.committee.as_str()));
    let (may_start, may_edit_policy) = (may(Action::ComposeRelease), may(Action::EditPolicy));
    let may_waive = may(Action::ManageReleasePhase);
    let may_read_waivers = may(Action::ReadDraft);
    let waivers = if may_read_waivers { waivers } else { Vec::new() };
    let context = ProjectPage {
        user,
        project,
        policy,
        phases,
        more,
        may_start,
        may_edit_policy,
        may_waive,
        waivers,
        may_read_waivers,
        notice,
        templates,
        more_cves: cves.page.next.is_some(),
        cves: cves.cves,
    };
    page("project.html", &context)
}

/// The project page's forms: `start` (a new release: `version`, `product`) and `policy` (the
/// vote's length and the binding +1s it needs). Every field is text, parsed here.
#[derive(Debug, Deserialize)]
pub struct ProjectForm {
    action: String,
    version: Option<String>,
    product: Option<String>,
    min_vote_hours: Option<String>,
    binding_plus_required: Option<String>,
    mailing_list: Option<String>,
    vote_mode: Option<String>,
    unknown_header_severity: Option<String>,
    /// Checkboxes: `on` when ticked, absent when not.
    require_incubating_name: Option<String>,
    warn_on_rsa_below_4096: Option<String>,
    auto_resolve: Option<String>,
    /// T2: the repository, the tag template and the generated files (one glob per line).
    source_repository: Option<String>,
    source_tag: Option<String>,
    generated_files: Option<String>,
    kind: Option<String>,
    subject: Option<String>,
    body: Option<String>,
    waiver: Option<String>,
}

/// `POST /projects/{project}`: through the API's domain functions, then to the new release's
/// page, or back to the project.
pub async fn act(
    state: web::Data<AppState>,
    name: web::Path<String>,
    form: CsrfForm<ProjectForm>,
) -> AppResult<HttpResponse> {
    let CsrfForm { principal, form } = form;
    let name = Name::parse(&name).map_err(|_| AppError::not_found(format!("There is no project {name}.")))?;
    let invalid = |message: String| AppError::unprocessable("invalid_request", message);
    match form.action.as_str() {
        "start" => {
            let version = form.version.as_deref().map(str::trim).unwrap_or_default();
            let version = shared_models::Version::parse(version).map_err(|e| invalid(format!("The version {e}.")))?;
            let product = match form.product.as_deref().map(str::trim).filter(|p| !p.is_empty() && *p != name.as_str())
            {
                Some(p) => Some(Name::parse(p).map_err(|e| invalid(format!("The product {e}.")))?),
                None => None,
            };
            let ctx = state.db.run(move |c| releases::create(c, &principal, &name, product.as_ref(), &version)).await?;
            let summary = (ctx.project.name.clone(), ctx.product.name.clone(), ctx.release.version.clone());
            Ok(see_other(&super::release::url(&summary.0, &summary.1, &summary.2)))
        }
        "policy" => {
            let number = |value: Option<&str>, what: &str| {
                value
                    .map(str::trim)
                    .unwrap_or_default()
                    .parse::<u32>()
                    .map_err(|_| invalid(format!("The {what} is a whole number.")))
            };
            // The form holds the whole policy, so what is saved is exactly what the PMC member saw
            // and changed (no other field is read back and kept behind their back).
            let checked = |value: &Option<String>| value.as_deref() == Some("on");
            let policy = ProjectPolicy {
                min_vote_hours: number(form.min_vote_hours.as_deref(), "vote's minimum length")?,
                binding_plus_required: number(form.binding_plus_required.as_deref(), "number of binding +1 votes")?,
                mailing_list: form.mailing_list.map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()),
                require_incubating_name: checked(&form.require_incubating_name),
                unknown_header_severity: form.unknown_header_severity.unwrap_or_default(),
                warn_on_rsa_below_4096: checked(&form.warn_on_rsa_below_4096),
                vote_mode: VoteMode::parse(form.vote_mode.as_deref().unwrap_or_default())
                    .map_err(|_| invalid("A vote is held on the platform, by mail, or recorded by hand.".to_owned()))?,
                auto_resolve: checked(&form.auto_resolve),
                source_repository: form.source_repository.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()),
                // An empty tag field means the default; an emptied list of globs means none.
                source_tag: form
                    .source_tag
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| ProjectPolicy::default().source_tag),
                generated_files: match form.generated_files {
                    Some(lines) => lines.lines().map(str::trim).filter(|g| !g.is_empty()).map(str::to_owned).collect(),
                    None => ProjectPolicy::default().generated_files,
                },
            };
            let back = format!("/projects/{name}?done=policy");
            state.db.run(move |c| directory::set_policy(c, &principal, &name, &policy)).await?;
            Ok(see_other(&back))
        }
        action @ ("template" | "reset_template") => {
            let kind = form.kind.as_deref().and_then(|k| shared_models::outbound::MailKind::parse(k).ok());
            let kind = kind
                .ok_or_else(|| invalid("Which mail? The form names none of vote, result and announce.".to_owned()))?;
            let back = format!("/projects/{name}?done={action}");
            let update = shared_models::outbound::MailTemplateUpdate {
                subject: form.subject.unwrap_or_default(),
                body: form.body.unwrap_or_default().replace("\r\n", "\n"),
            };
            let reset = action == "reset_template";
            state
                .db
                .run(move |c| {
                    if reset {
                        mail::reset(c, &principal, &name, kind)
                    } else {
                        mail::set(c, &principal, &name, kind, &update).map(drop)
                    }
                })
                .await?;
            Ok(see_other(&back))
        }
        "unwaive" => {
            let id = form.waiver.as_deref().and_then(|w| w.trim().parse::<i64>().ok());
            let id = id.ok_or_else(|| invalid("Which waiver? The form names none.".to_owned()))?;
            let back = format!("/projects/{name}?done=unwaive#waivers");
            // A waiver of another project is not withdrawn from this page.
            state
                .db
                .run(move |c| {
                    let (row, _) = directory::find_project(c, &name)?;
                    if !waivers::project_wide(c, row.id)?.waivers.iter().any(|w| w.id == id) {
                        return Err(AppError::not_found(format!("{name} has no live project-wide waiver {id}.")));
                    }
                    waivers::revoke(c, &principal, id)
                })
                .await?;
            Ok(see_other(&back))
        }
        other => Err(super::no_such_action(other)),
    }
}
