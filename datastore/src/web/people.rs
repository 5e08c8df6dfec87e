//! `/signup` (a visitor's own account, after consent), `/account` (what is kept about you, and
//! withdrawing a visitor's consent) and `/invitations/{secret}` (choosing a password from an
//! admin's invitation). ADR 0014.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use shared_models::api::User;

use super::account::tokened_page;
use super::{Visitor, logged_in, page, see_other, to_login};
use crate::auth::Viewer;
use crate::auth::session::{self, CsrfForm};
use crate::db::queries::sessions;
use crate::domain::people;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Sign-up attempts from one address in the login limits' window (15 minutes), whether they
/// made an account or not: each costs a password hash.
const MAX_SIGNUPS_PER_ADDRESS: usize = 10;
/// How sign-ups are counted among the attempts of [`sessions`]: a name no uid can have.
const SIGNUP_ATTEMPT: &str = "+signup";

#[derive(Serialize, Default)]
struct SignUpPage {
    user: Option<Visitor>,
    consent: &'static [&'static str],
    uid: String,
    name: String,
    email: String,
    error: Option<String>,
    field: Option<String>,
    csrf: String,
    open: bool,
}

/// `GET /signup`: the consent, and the form.
pub async fn signup_form(state: web::Data<AppState>, viewer: Viewer) -> AppResult<HttpResponse> {
    if logged_in(viewer).is_some() {
        return Ok(see_other("/account"));
    }
    let csrf = crate::auth::secrets::generate("");
    let context = SignUpPage {
        consent: people::CONSENT_TEXT,
        csrf: csrf.clone(),
        open: state.config.visitor_signup,
        ..SignUpPage::default()
    };
    tokened_page(&state, "signup.html", &context, &csrf)
}

#[derive(Deserialize)]
pub struct SignUpForm {
    uid: String,
    name: String,
    email: String,
    password: String,
    password2: String,
    consent: Option<String>,
    csrf: Option<String>,
}

/// `POST /signup`: the account, logged in at once; or the form again, saying what to fix.
pub async fn signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SignUpForm>,
) -> AppResult<HttpResponse> {
    let SignUpForm { uid, name, email, password, password2, consent, csrf } = form.into_inner();
    session::require_login_token(&req, csrf.as_deref())?;
    if !state.config.visitor_signup {
        return Err(AppError::forbidden("This server does not take sign-ups; an admin can invite you."));
    }
    let address = session::client_address(&req);
    let again = |error: AppError| {
        let field = error.details.as_ref().and_then(|d| d["field"].as_str()).map(str::to_owned);
        let context = SignUpPage {
            user: None,
            consent: people::CONSENT_TEXT,
            uid: uid.clone(),
            name: name.clone(),
            email: email.clone(),
            error: Some(error.message.clone()),
            field,
            csrf: csrf.clone().unwrap_or_default(),
            open: true,
        };
        let mut response = tokened_page(&state, "signup.html", &context, &context.csrf)?;
        *response.status_mut() = error.status;
        Ok::<_, AppError>(response)
    };
    if password != password2 {
        return again(
            AppError::unprocessable("invalid_request", "The two passwords differ.")
                .with_details(serde_json::json!({"field": "password"})),
        );
    }
    // Every attempt is counted before its password is hashed, so that failing ones are too.
    let from = address.clone();
    state
        .db
        .run(move |c| {
            crate::db::write_transaction(c, |c| {
                let since = crate::db::now_ms() - session::FAILURE_WINDOW_MS;
                let earlier = sessions::failures_since(c, SIGNUP_ATTEMPT, &from, since)?;
                if earlier.pair.len() >= MAX_SIGNUPS_PER_ADDRESS {
                    return Err(AppError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "too_many_signups",
                        "Too many sign-ups came from your address; try again in 15 minutes.",
                    )
                    .retry_after(15 * 60));
                }
                sessions::record_attempt(c, SIGNUP_ATTEMPT, &from)?;
                Ok(())
            })
        })
        .await?;
    if let Err(error) = session::check_password_rules(&password) {
        return again(error.with_details(serde_json::json!({"field": "password"})));
    }
    let password_hash = session::hash_chosen_password(&state, password).await?;
    let request = people::SignUp {
        uid: uid.trim().to_owned(),
        name: name.clone(),
        email: email.clone(),
        password_hash,
        consent: consent.is_some(),
    };
    let user = match state.db.run(move |c| people::sign_up(c, &request)).await {
        Ok(user) => user,
        Err(error) if error.status.is_client_error() => return again(error),
        Err(error) => return Err(error),
    };
    let new = session::start(&state, user.id, address).await?;
    super::account::logged_in_to(&req, &state, &new, "/account?done=signup").await
}

#[derive(Serialize)]
struct AccountPage {
    user: Option<Visitor>,
    account: User,
    consent: &'static [&'static str],
    consent_version: &'static str,
    notice: Option<&'static str>,
}

#[derive(Debug, Deserialize)]
pub struct AccountQuery {
    done: Option<String>,
}

/// `GET /account`: what the server keeps about you, your roles, and (for a visitor) the way to
/// withdraw.
pub async fn account(
    state: web::Data<AppState>,
    viewer: Viewer,
    query: web::Query<AccountQuery>,
) -> AppResult<HttpResponse> {
    let Some(principal) = logged_in(viewer) else { return Ok(to_login("/account")) };
    let notice = match query.done.as_deref() {
        Some("signup") => Some("Welcome: your account is made, and you are logged in."),
        _ => None,
    };
    let user = Visitor::of(Some(&principal));
    let uid = principal.uid.clone();
    let account = state.db.run(move |c| people::show(c, &uid)).await?;
    page(
        "account.html",
        &AccountPage { user, account, consent: people::CONSENT_TEXT, consent_version: people::CONSENT_VERSION, notice },
    )
}

#[derive(Debug, Deserialize)]
pub struct AccountForm {
    action: String,
    confirm: Option<String>,
}

/// `POST /account`: `withdraw` (with the box ticked) removes a visitor's data and logs them out.
pub async fn account_act(state: web::Data<AppState>, form: CsrfForm<AccountForm>) -> AppResult<HttpResponse> {
    let CsrfForm { principal, form } = form;
    match form.action.as_str() {
        "withdraw" => {
            if form.confirm.is_none() {
                return Err(AppError::unprocessable(
                    "confirmation_required",
                    "Tick the box to confirm: withdrawing cannot be undone.",
                ));
            }
            state.db.run(move |c| people::withdraw(c, &principal)).await?;
            let mut response = see_other("/?done=withdrawn");
            response.add_cookie(&session::removal_cookie(&state)).map_err(AppError::internal)?;
            Ok(response)
        }
        other => Err(super::no_such_action(other)),
    }
}

#[derive(Serialize)]
struct InvitationPage {
    user: Option<Visitor>,
    uid: String,
    secret: String,
    error: Option<String>,
    csrf: String,
}

/// `GET /invitations/{secret}`: the form to choose a password, if the link is still good.
pub async fn invitation(state: web::Data<AppState>, secret: web::Path<String>) -> AppResult<HttpResponse> {
    let secret = secret.into_inner();
    let lookup = secret.clone();
    let invited = state.db.run(move |c| people::invitation(c, &lookup)).await?;
    let csrf = crate::auth::secrets::generate("");
    let context = InvitationPage { user: None, uid: invited.uid, secret, error: None, csrf: csrf.clone() };
    tokened_page(&state, "invitation.html", &context, &csrf)
}

#[derive(Deserialize)]
pub struct InvitationForm {
    password: String,
    password2: String,
    csrf: Option<String>,
}

/// `POST /invitations/{secret}`: the password is set; on to the login.
pub async fn accept_invitation(
    req: HttpRequest,
    state: web::Data<AppState>,
    secret: web::Path<String>,
    form: web::Form<InvitationForm>,
) -> AppResult<HttpResponse> {
    let InvitationForm { password, password2, csrf } = form.into_inner();
    session::require_login_token(&req, csrf.as_deref())?;
    let secret = secret.into_inner();
    let lookup = secret.clone();
    let invited = state.db.run(move |c| people::invitation(c, &lookup)).await?;
    let refused = |message: String, status: StatusCode| {
        let token = csrf.clone().unwrap_or_default();
        let context = InvitationPage {
            user: None,
            uid: invited.uid.clone(),
            secret: secret.clone(),
            error: Some(message),
            csrf: token,
        };
        let mut response = tokened_page(&state, "invitation.html", &context, &context.csrf)?;
        *response.status_mut() = status;
        Ok::<_, AppError>(response)
    };
    if password != password2 {
        return refused("The two passwords differ.".to_owned(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    if let Err(error) = session::check_password_rules(&password) {
        return refused(error.message, error.status);
    }
    let hash = session::hash_chosen_password(&state, password).await?;
    let used = secret.clone();
    let user = state.db.run(move |c| people::accept_invitation(c, &used, &hash)).await?;
    Ok(see_other(&format!("/login?next=/account&uid={}", crate::url::encode_query_value(&user.uid))))
}
