//! `/admin` (admins only): users and their flags, invitations, memberships, the import of
//! Apache's committee data, runner registration, and the tasks that need a hand (retry, cancel).
//! Each action calls the domain function the admin API calls.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use shared_models::api::{
    AsfImportCounts, AsfImportRequest, Committee, CreateUserRequest, Role, SetMembershipRequest, User,
};
use shared_models::runner::{Task, TaskStatus};
use shared_models::{Name, Uid};

use super::{Visitor, logged_in, page, see_other, to_login};
use crate::auth::session::CsrfForm;
use crate::auth::{Principal, Viewer, authz};
use crate::domain::page::Page;
use crate::domain::{directory, people, tasks, tokens};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

const HERE: &str = "/admin";
const USERS_PER_PAGE: u32 = 100;

#[derive(Serialize)]
struct AdminPage {
    user: Option<Visitor>,
    users: Vec<User>,
    total_users: u64,
    next: Option<String>,
    committees: Vec<Committee>,
    tasks: Vec<Task>,
    runners: Vec<shared_models::api::RunnerInfo>,
    roles: [&'static str; 3],
    notice: Option<String>,
    /// A secret made by the last action (an invitation link, a runner token): shown once.
    shown_once: Option<ShownOnce>,
    imported: Option<AsfImportCounts>,
}

#[derive(Serialize)]
struct ShownOnce {
    what: String,
    value: String,
}

#[derive(Debug, Deserialize)]
pub struct AdminQuery {
    offset: Option<u64>,
    done: Option<String>,
}

/// `GET /admin`.
pub async fn show(
    state: web::Data<AppState>,
    viewer: Viewer,
    query: web::Query<AdminQuery>,
) -> AppResult<HttpResponse> {
    let Some(principal) = logged_in(viewer) else { return Ok(to_login(HERE)) };
    authz::authorize_admin(&principal)?;
    let query = query.into_inner();
    let notice = query.done.as_deref().and_then(notice_of).map(str::to_owned);
    render(&state, principal, query.offset, notice, None, None).await
}

fn notice_of(done: &str) -> Option<&'static str> {
    Some(match done {
        "member" => "The foundation-member flag is changed.",
        "grant" => "The role is granted.",
        "cancel" => "The task is cancelled.",
        "disable" => "The runner is disabled: its token no longer works.",
        "enable" => "The runner is enabled again.",
        "retry" => "The task is queued again.",
        _ => return None,
    })
}

async fn render(
    state: &AppState,
    principal: Principal,
    offset: Option<u64>,
    notice: Option<String>,
    shown_once: Option<ShownOnce>,
    imported: Option<AsfImportCounts>,
) -> AppResult<HttpResponse> {
    let user = Visitor::of(Some(&principal));
    let (users, committees, tasks, runners) = state
        .db
        .run(move |c| -> AppResult<_> {
            let users = people::list(c, &principal, Page { limit: Some(USERS_PER_PAGE), offset }, "")?;
            let committees = directory::list_committees(c, Page { limit: Some(1000), offset: None })?.committees;
            let waiting = [TaskStatus::Failed, TaskStatus::Queued, TaskStatus::Leased];
            let tasks = tasks::list(c, Some(&principal), None, &waiting, Page { limit: Some(50), offset: None })?;
            let runners = tokens::runners(c, &principal)?.runners;
            Ok((users, committees, tasks.tasks, runners))
        })
        .await?;
    let next =
        users.page.next.as_ref().map(|_| format!("{HERE}?offset={}", users.page.offset + u64::from(USERS_PER_PAGE)));
    page(
        "admin.html",
        &AdminPage {
            user,
            total_users: users.page.total,
            users: users.users,
            next,
            committees,
            tasks,
            runners,
            roles: [Role::Committer.as_str(), Role::ReleaseManager.as_str(), Role::PmcMember.as_str()],
            notice,
            shown_once,
            imported,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct AdminForm {
    action: String,
    uid: Option<String>,
    name: Option<String>,
    email: Option<String>,
    committee: Option<String>,
    role: Option<String>,
    member: Option<String>,
    runner: Option<String>,
    task: Option<String>,
    committees_json: Option<String>,
    projects_json: Option<String>,
    podlings_json: Option<String>,
    groups_json: Option<String>,
}

fn field<'a>(value: &'a Option<String>, what: &str) -> AppResult<&'a str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| AppError::unprocessable("invalid_request", format!("The form names no {what}.")))
}

fn uid_of(form: &AdminForm) -> AppResult<Uid> {
    Uid::parse(field(&form.uid, "user")?).map_err(|e| AppError::unprocessable("invalid_request", e.to_string()))
}

/// One of Apache's data files pasted into the form: a JSON object, or nothing.
fn pasted(value: &Option<String>, what: &str) -> AppResult<Option<serde_json::Map<String, serde_json::Value>>> {
    let Some(text) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| AppError::unprocessable("invalid_request", format!("The {what} are not a JSON object: {e}")))
}

/// `POST /admin`: one action, for admins only. Actions that make a secret answer with the
/// page holding it (shown once); the others go back to the page.
pub async fn act(state: web::Data<AppState>, form: CsrfForm<AdminForm>) -> AppResult<HttpResponse> {
    let CsrfForm { principal, form } = form;
    authz::authorize_admin(&principal)?;
    let by = principal.clone();
    match form.action.as_str() {
        "invite" => {
            let uid = uid_of(&form)?;
            let request = CreateUserRequest {
                uid: uid.clone(),
                name: form.name.clone().filter(|n| !n.trim().is_empty()),
                email: form.email.clone().filter(|e| !e.trim().is_empty()),
                admin: false,
            };
            let secret = state
                .db
                .run(move |c| -> AppResult<String> {
                    if crate::db::queries::auth::find_user(c, uid.as_str())?.is_none() {
                        directory::create_user(c, by.actor(), &request)?;
                    }
                    people::invite(c, &by, uid.as_str())
                })
                .await?;
            let link = format!("{}/invitations/{secret}", state.config.public_url());
            let what =
                format!("The invitation link for {}, valid for 7 days", form.uid.as_deref().unwrap_or("").trim());
            render(&state, principal, None, None, Some(ShownOnce { what, value: link }), None).await
        }
        "member" => {
            let uid = uid_of(&form)?;
            let member = form.member.as_deref() == Some("true");
            state.db.run(move |c| people::set_foundation_member(c, &by, uid.as_str(), member)).await?;
            Ok(see_other(&format!("{HERE}?done=member")))
        }
        "grant" => {
            let role = match field(&form.role, "role")? {
                "committer" => Role::Committer,
                "release_manager" => Role::ReleaseManager,
                "pmc_member" => Role::PmcMember,
                other => {
                    return Err(AppError::unprocessable("invalid_request", format!("There is no role {other:?}.")));
                }
            };
            let committee = Name::parse(field(&form.committee, "committee")?)
                .map_err(|e| AppError::unprocessable("invalid_request", e.to_string()))?;
            let request = SetMembershipRequest { uid: uid_of(&form)?, committee, role };
            state.db.run(move |c| directory::set_membership(c, &by, &request)).await?;
            Ok(see_other(&format!("{HERE}?done=grant")))
        }
        "import" => {
            let request = AsfImportRequest {
                committees: pasted(&form.committees_json, "committees")?,
                projects: pasted(&form.projects_json, "projects")?,
                podlings: pasted(&form.podlings_json, "podlings")?,
                groups: pasted(&form.groups_json, "rosters")?,
                ..AsfImportRequest::default()
            };
            let counts = state.db.run(move |c| directory::import_asf(c, &by, &request)).await?;
            render(&state, principal, None, Some("Apache's data are imported.".to_owned()), None, Some(counts)).await
        }
        "runner" => {
            let name = field(&form.runner, "runner")?.to_owned();
            let shown = name.clone();
            let (_, token) = state.db.run(move |c| tokens::register_runner_as(c, &by, &name)).await?;
            let what = format!("The token of the runner {shown} (its RUNNER_TOKEN)");
            render(&state, principal, None, None, Some(ShownOnce { what, value: token }), None).await
        }
        action @ ("disable" | "enable") => {
            let name = field(&form.runner, "runner")?.to_owned();
            let disabled = action == "disable";
            state.db.run(move |c| tokens::set_runner_disabled(c, &by, &name, disabled)).await?;
            Ok(see_other(&format!("{HERE}?done={action}")))
        }
        "new_token" => {
            let name = field(&form.runner, "runner")?.to_owned();
            let shown = name.clone();
            let token = state.db.run(move |c| tokens::replace_runner_token(c, &by, &name)).await?;
            let what = format!("The new token of the runner {shown} (its old one no longer works)");
            render(&state, principal, None, None, Some(ShownOnce { what, value: token }), None).await
        }
        action @ ("cancel" | "retry") => {
            let id = field(&form.task, "task")?
                .parse::<i64>()
                .map_err(|_| AppError::unprocessable("invalid_request", "A task is named by its number."))?;
            let retry = action == "retry";
            state
                .db
                .run(move |c| if retry { tasks::retry(c, by.actor(), id) } else { tasks::cancel(c, by.actor(), id) })
                .await?;
            if retry {
                state.wake_runners();
            }
            Ok(see_other(&format!("{HERE}?done={action}")))
        }
        other => Err(super::no_such_action(other)),
    }
}
