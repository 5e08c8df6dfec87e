//! `/projects/{project}`: a project, its releases by phase, and its release policy.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use shared_models::Name;
use shared_models::api::{Phase, Project, ProjectPolicy, ReleaseSummary};

use super::{Visitor, page};
use crate::auth::Viewer;
use crate::domain::directory;
use crate::domain::page::Page;
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
    let (project, policy, list) = state
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
            Ok((project, policy, list))
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
    page("project.html", &ProjectPage { user, project, policy, phases, more })
}
