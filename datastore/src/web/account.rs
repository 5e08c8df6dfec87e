//! `/login` and `/logout`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::{Visitor, local_path, page, see_other};
use crate::auth::Viewer;
use crate::auth::session::{self, CsrfForm};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    /// The uid to fill in (after accepting an invitation).
    uid: Option<String>,
}

#[derive(Serialize)]
struct LoginPage {
    user: Option<Visitor>,
    next: String,
    uid: String,
    error: Option<String>,
    /// The single sign-on, where there is one ("Log in with …").
    sso: Option<SsoLink>,
    /// The login form's CSRF token, also in its cookie (there is no session yet to hold it).
    csrf: String,
}

/// The login page, with a fresh token in the form and in its cookie unless one is given.
fn login_page(state: &AppState, page_context: LoginPage) -> AppResult<HttpResponse> {
    tokened_page(state, "login.html", &page_context, &page_context.csrf)
}

/// A page whose form is posted before there is a session (login, sign-up, an invitation): its
/// token `csrf` goes in the form and in the double-submit cookie.
pub(super) fn tokened_page(
    state: &AppState,
    template: &str,
    context: &impl Serialize,
    csrf: &str,
) -> AppResult<HttpResponse> {
    let mut response = page(template, context)?;
    response.add_cookie(&session::login_cookie(state, csrf)).map_err(AppError::internal)?;
    Ok(response)
}

#[derive(Serialize)]
struct SsoLink {
    name: String,
    href: String,
}

/// The login page's link to the single sign-on, back to `next` after it.
fn sso_link(state: &AppState, next: &str) -> Option<SsoLink> {
    state.sso.as_ref().map(|sso| SsoLink {
        name: sso.name.clone(),
        href: format!("/login/oidc?next={}", crate::url::encode_query_value(next)),
    })
}

/// Where to go after logging in: `next` if it is a path on this site, else the front page.
fn next_or_front(next: Option<String>) -> String {
    next.filter(|n| local_path(n)).unwrap_or_else(|| "/".to_owned())
}

/// `GET /login`: the form (or, for someone already logged in, where they were going).
pub async fn login_form(
    state: web::Data<AppState>,
    viewer: Viewer,
    query: web::Query<LoginQuery>,
) -> AppResult<HttpResponse> {
    let LoginQuery { next, uid } = query.into_inner();
    let next = next_or_front(next);
    if viewer.principal().is_some_and(|p| p.session.is_some()) {
        return Ok(see_other(&next));
    }
    let csrf = crate::auth::secrets::generate("");
    let uid = uid.filter(|u| shared_models::Uid::parse(u).is_ok()).unwrap_or_default();
    let sso = sso_link(&state, &next);
    login_page(&state, LoginPage { user: None, next, uid, error: None, sso, csrf })
}

#[derive(Deserialize)]
pub struct LoginForm {
    uid: String,
    password: String,
    next: Option<String>,
    csrf: Option<String>,
}

/// `POST /login`: a new session, and back to where the person was going. A wrong password
/// shows the form again (401) with the uid kept; too many show how long to wait (429).
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> AppResult<HttpResponse> {
    let LoginForm { uid, password, next, csrf } = form.into_inner();
    session::require_login_token(&req, csrf.as_deref())?;
    let csrf = csrf.unwrap_or_default();
    let next = next_or_front(next);
    let uid = uid.trim().to_owned();
    match session::login(&state, uid.clone(), password, session::client_address(&req)).await {
        Ok(new) => logged_in_to(&req, &state, &new, &next).await,
        Err(error) if error.status == actix_web::http::StatusCode::UNAUTHORIZED => {
            let sso = sso_link(&state, &next);
            let context = LoginPage { user: None, next, uid, error: Some(error.message.clone()), sso, csrf };
            let mut response = login_page(&state, context)?;
            *response.status_mut() = error.status;
            Ok(response)
        }
        Err(error) => Err(error),
    }
}

/// The answer to a form that logged someone in (a login, a sign-up): the new session's cookie,
/// the form token's cookie forgotten, and on to `location`. A browser that had a session,
/// perhaps someone else's, ends it.
pub(super) async fn logged_in_to(
    req: &HttpRequest,
    state: &AppState,
    new: &session::NewSession,
    location: &str,
) -> AppResult<HttpResponse> {
    if let Some(previous) = session::secret_of(req) {
        session::end(state, previous).await?;
    }
    let mut forget = session::login_cookie(state, "");
    forget.make_removal();
    Ok(HttpResponse::SeeOther()
        .cookie(session::cookie(state, &new.secret))
        .cookie(forget)
        .insert_header((actix_web::http::header::LOCATION, location))
        .finish())
}

#[derive(Debug, Deserialize)]
pub struct Nothing {}

/// `POST /logout`: the session ends on the server, and the browser forgets its cookie.
pub async fn logout(state: web::Data<AppState>, form: CsrfForm<Nothing>) -> AppResult<HttpResponse> {
    let auth = form.principal.session.as_ref().ok_or_else(|| AppError::internal("a form without a session"))?;
    session::logout(&state, auth).await?;
    let mut response = see_other("/");
    response.add_cookie(&session::removal_cookie(&state)).map_err(AppError::internal)?;
    Ok(response)
}
