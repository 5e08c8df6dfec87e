//! `/keys`: a person's own signing keys, and adding one (armored, checked on submit with the
//! same reasons as the API: `domain::keys`); `/committees/{c}`: a committee, its projects, the
//! keys of its KEYS file and, for its members, what the KEYS lint finds wrong with them.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use shared_models::Name;
use shared_models::api::{Committee, KeyImportReport, KeyInfo, KeysLint};

use super::{Visitor, logged_in, page, to_login};
use crate::auth::session::CsrfForm;
use crate::auth::{Action, Principal, Viewer, authz};
use crate::domain::{directory, keys};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

const HERE: &str = "/keys";

#[derive(Serialize)]
struct KeysPage {
    user: Option<Visitor>,
    keys: Vec<KeyInfo>,
    /// The committees whose KEYS this person may add a key to.
    committees: Vec<String>,
    /// What the last submission did.
    report: Option<KeyImportReport>,
    /// The submitted key, kept in the form when nothing was added.
    armored: String,
    /// Why nothing could be read from the submission.
    error: Option<String>,
    /// The files these keys signed, with a link to each release.
    signed: Vec<SignedLink>,
}

#[derive(Serialize)]
struct SignedLink {
    #[serde(flatten)]
    file: keys::SignedFile,
    url: String,
}

/// The committees where `principal` may add keys (admins: their memberships too, as any
/// committee can be typed into the API).
fn key_committees(principal: &Principal) -> Vec<String> {
    let mut names: Vec<String> = principal
        .memberships
        .iter()
        .map(|(c, _)| c.clone())
        .filter(|c| authz::allowed(principal, Action::AddCommitteeKey, c))
        .collect();
    names.dedup();
    names
}

async fn render(
    state: &AppState,
    principal: Principal,
    report: Option<KeyImportReport>,
    armored: String,
    error: Option<String>,
) -> AppResult<HttpResponse> {
    let user = Visitor::of(Some(&principal));
    let committees = key_committees(&principal);
    let (keys, signed) = state
        .db
        .run(move |c| -> AppResult<_> { Ok((keys::keys_of(c, &principal)?, keys::signed_by_keys_of(c, &principal)?)) })
        .await?;
    let signed = signed
        .into_iter()
        .map(|file| SignedLink { url: super::release::url(&file.project, &file.product, &file.version), file })
        .collect();
    page("keys.html", &KeysPage { user, keys, committees, report, armored, error, signed })
}

pub async fn show(state: web::Data<AppState>, viewer: Viewer) -> AppResult<HttpResponse> {
    match logged_in(viewer) {
        Some(principal) => render(&state, principal, None, String::new(), None).await,
        None => Ok(to_login(HERE)),
    }
}

#[derive(Debug, Deserialize)]
pub struct AddKeyForm {
    armored: String,
    committee: Option<String>,
}

/// `POST /keys`: adds the key, then shows the page with what happened to each key in it.
/// A key that cannot be used stays in the form with the checks library's reason.
pub async fn add(state: web::Data<AppState>, form: CsrfForm<AddKeyForm>) -> AppResult<HttpResponse> {
    let CsrfForm { principal, form } = form;
    let committees = match form.committee.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(name) => vec![Name::parse(name)?],
        None => Vec::new(),
    };
    let armored = form.armored;
    let adder = principal.clone();
    let submitted = armored.clone();
    let outcome = state.db.run(move |c| keys::add_keys(c, &adder, &submitted, &committees, None)).await;
    match outcome {
        Ok(report) => {
            let keep = if report.added + report.updated + report.unchanged == 0 { armored } else { String::new() };
            render(&state, principal, Some(report), keep, None).await
        }
        // A key that does not parse at all: the page, with the reason, and the text kept.
        Err(error) if error.status == actix_web::http::StatusCode::UNPROCESSABLE_ENTITY => {
            let skipped = error
                .details
                .as_ref()
                .and_then(|d| d.get("skipped"))
                .and_then(|s| serde_json::from_value(s.clone()).ok())
                .unwrap_or_default();
            let report = KeyImportReport { added: 0, updated: 0, unchanged: 0, skipped, fingerprints: Vec::new() };
            let mut response = render(&state, principal, Some(report), armored, Some(error.message)).await?;
            *response.status_mut() = error.status;
            Ok(response)
        }
        Err(error) => Err(error),
    }
}

#[derive(Serialize)]
struct CommitteePage {
    user: Option<Visitor>,
    committee: Committee,
    keys: Vec<KeyInfo>,
    /// The KEYS lint, for the committee's members only.
    lint: Option<KeysLint>,
}

/// `GET /committees/{c}`.
pub async fn committee(state: web::Data<AppState>, viewer: Viewer, name: web::Path<String>) -> AppResult<HttpResponse> {
    let name = Name::parse(&name).map_err(|_| AppError::not_found(format!("There is no committee {name}.")))?;
    let user = Visitor::of(viewer.principal());
    let principal = viewer.principal().filter(|p| authz::allowed(p, Action::LintKeys, name.as_str())).cloned();
    let (committee, keys, lint) = state
        .db
        .run(move |c| -> AppResult<_> {
            let lint = principal.map(|p| keys::lint_committee(c, &p, &name)).transpose()?;
            Ok((directory::committee(c, &name)?, keys::committee_keys(c, &name)?, lint))
        })
        .await?;
    page("committee.html", &CommitteePage { user, committee, keys, lint })
}
