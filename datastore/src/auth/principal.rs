//! The authenticated caller of a request, from `Authorization: Bearer <jwt>`.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use shared_models::api::Role;

use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// A person acting through the API.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub uid: String,
    pub is_admin: bool,
    /// (committee name, role) pairs.
    pub memberships: Vec<(String, Role)>,
    /// The personal access token the request's JWT was issued for.
    pub token_id: Option<i64>,
}

impl Principal {
    /// The highest role held in `committee`.
    pub fn role_in(&self, committee: &str) -> Option<Role> {
        self.memberships.iter().filter(|(c, _)| c == committee).map(|(_, r)| *r).max()
    }

    /// How the principal appears in the audit log.
    pub fn actor(&self) -> &str {
        &self.uid
    }
}

fn bearer(req: &HttpRequest) -> AppResult<&str> {
    let header = req.headers().get(actix_web::http::header::AUTHORIZATION).ok_or_else(|| {
        AppError::unauthorized("This needs `Authorization: Bearer <jwt>`; get a JWT from POST /api/v1/jwt.")
    })?;
    let value = header.to_str().map_err(|_| AppError::unauthorized("The Authorization header is not ASCII."))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AppError::unauthorized("The Authorization header must be `Bearer <jwt>`."));
    }
    Ok(token.trim())
}

impl FromRequest for Principal {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = AppResult<Self>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let token = bearer(req).map(str::to_owned);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let token = token?;
            let state = state.ok_or_else(|| AppError::internal("application state missing"))?;
            let claims = state.jwt.verify(&token).map_err(|e| {
                let reason = match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                        "The JWT has expired; get a new one from POST /api/v1/jwt."
                    }
                    _ => "The JWT is not valid.",
                };
                AppError::unauthorized(reason)
            })?;
            let principal = state
                .db
                .run(move |conn| -> AppResult<_> {
                    Ok(crate::db::queries::auth::principal_for_jwt(conn, &claims.sub, claims.tid)?)
                })
                .await?;
            principal.ok_or_else(|| AppError::unauthorized("The JWT's user or token no longer exists."))
        })
    }
}
