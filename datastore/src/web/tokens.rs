//! `/tokens`: a person's personal access tokens for automation: create one (shown once, with a
//! copy button), see when each was last used, revoke.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use shared_models::api::{TokenCreated, TokenInfo};

use super::{Visitor, logged_in, page, see_other, to_login};
use crate::auth::Viewer;
use crate::auth::session::CsrfForm;
use crate::domain::tokens;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

const HERE: &str = "/tokens";

#[derive(Serialize)]
struct TokensPage {
    user: Option<Visitor>,
    tokens: Vec<TokenInfo>,
    /// The token just created: shown this once, never again.
    created: Option<TokenCreated>,
    label: Option<String>,
    notice: Option<&'static str>,
}

#[derive(Debug, Deserialize)]
pub struct TokensQuery {
    done: Option<String>,
}

pub async fn show(
    state: web::Data<AppState>,
    viewer: Viewer,
    query: web::Query<TokensQuery>,
) -> AppResult<HttpResponse> {
    let Some(principal) = logged_in(viewer) else { return Ok(to_login(HERE)) };
    let notice = match query.done.as_deref() {
        Some("revoke") => Some("The token is revoked: it and the JWTs issued for it no longer work."),
        _ => None,
    };
    let user = Visitor::of(Some(&principal));
    let tokens = state.db.run(move |c| tokens::list_tokens(c, &principal)).await?;
    page("tokens.html", &TokensPage { user, tokens, created: None, label: None, notice })
}

#[derive(Debug, Deserialize)]
pub struct TokensForm {
    action: String,
    label: Option<String>,
    id: Option<String>,
}

/// `POST /tokens`: `create` answers with the page itself, holding the new token (a redirect
/// would have to carry the secret in its URL); `revoke` goes back to the list.
pub async fn act(state: web::Data<AppState>, form: CsrfForm<TokensForm>) -> AppResult<HttpResponse> {
    let CsrfForm { principal, form } = form;
    match form.action.as_str() {
        "create" => {
            let label = form.label.unwrap_or_default();
            let user = Visitor::of(Some(&principal));
            let shown_label = label.trim().to_owned();
            let (created, tokens) = state
                .db
                .run(move |c| -> AppResult<_> {
                    let created = tokens::create_token(c, principal.actor(), &principal.uid, label.trim())?;
                    Ok((created, tokens::list_tokens(c, &principal)?))
                })
                .await?;
            let mut response = page(
                "tokens.html",
                &TokensPage { user, tokens, created: Some(created), label: Some(shown_label), notice: None },
            )?;
            *response.status_mut() = actix_web::http::StatusCode::CREATED;
            Ok(response)
        }
        "revoke" => {
            let id = form
                .id
                .as_deref()
                .and_then(|id| id.parse::<i64>().ok())
                .ok_or_else(|| AppError::unprocessable("invalid_request", "Which token? The form names none."))?;
            state.db.run(move |c| tokens::delete_token(c, &principal, id)).await?;
            Ok(see_other(&format!("{HERE}?done=revoke")))
        }
        other => Err(super::no_such_action(other)),
    }
}
