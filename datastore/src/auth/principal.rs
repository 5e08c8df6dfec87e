//! The authenticated caller of a request: from `Authorization: Bearer <jwt>` (automation, the
//! API), or from the session cookie of a person logged in at the web pages (`session`).

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use shared_models::api::Role;
use shared_models::publishing::PublisherAction;

use super::jwt::{JwtError, TOKEN_HASH_PREFIX};
use super::session::{self, SessionAuth};
use crate::db::queries::auth as users;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// A person acting through the API.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub uid: String,
    pub is_admin: bool,
    /// The registered email address, if any (a key whose user id names it is the person's).
    pub email: Option<String>,
    /// (committee name, role) pairs.
    pub memberships: Vec<(String, Role)>,
    /// The personal access token the request's JWT was issued for.
    pub token_id: Option<i64>,
    /// The web session that authenticated the request, when a cookie did.
    pub session: Option<SessionAuth>,
    /// A foundation member (a flag admins set): reads every audit event.
    pub foundation_member: bool,
    /// A visitor's own account (made at `/signup`).
    pub visitor: bool,
    /// Set for a trusted publisher's token: the project's CI user, scoped to that project.
    pub publisher: Option<PublisherScope>,
}

/// What a trusted publisher's token may do (`authz::allowed_on_project`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherScope {
    pub project: String,
    /// What the trusts it matched grant, those deleted since left out.
    pub actions: Vec<PublisherAction>,
    /// The trusts it matched.
    pub trusts: Vec<i64>,
}

impl Principal {
    /// The principal of `user`, authenticated by a token or a session.
    pub fn of_user(
        user: crate::db::models::UserRow,
        memberships: Vec<(String, Role)>,
        token_id: Option<i64>,
        session: Option<SessionAuth>,
    ) -> Self {
        Self {
            user_id: user.id,
            uid: user.uid,
            is_admin: user.is_admin,
            email: user.email,
            memberships,
            token_id,
            session,
            foundation_member: user.foundation_member,
            visitor: user.visitor,
            publisher: None,
        }
    }

    /// The highest role held in `committee`.
    pub fn role_in(&self, committee: &str) -> Option<Role> {
        self.memberships.iter().filter(|(c, _)| c == committee).map(|(_, r)| *r).max()
    }

    /// How the principal appears in the audit log.
    pub fn actor(&self) -> &str {
        &self.uid
    }
}

pub(crate) fn bearer(req: &HttpRequest) -> AppResult<&str> {
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
        let state = req.app_data::<web::Data<AppState>>().cloned();
        if req.headers().get(actix_web::http::header::AUTHORIZATION).is_none()
            && let Some(secret) = session::secret_of(req)
        {
            let req = req.clone();
            return Box::pin(async move {
                let state = state.ok_or_else(|| AppError::internal("application state missing"))?;
                let principal = session::authenticate(&state, secret).await?.ok_or_else(|| {
                    AppError::unauthorized(
                        "Your session has ended; log in again (or send `Authorization: Bearer <jwt>`).",
                    )
                })?;
                if let Some(auth) = &principal.session
                    && session::is_write(req.method())
                {
                    session::require_csrf_header(&req, auth)?;
                }
                Ok(principal)
            });
        }
        let token = bearer(req).map(str::to_owned);
        let path = req.path().to_owned();
        Box::pin(async move {
            let principal = authenticate(token, state).await?;
            if principal.publisher.is_some() && !publisher_may_use(&path) {
                return Err(AppError::forbidden(format!(
                    "{} is a trusted publisher's token: it acts on its project's releases (/api/v1/releases/…, \
                     /api/v1/uploads/…) and nowhere else.",
                    principal.uid
                )));
            }
            Ok(principal)
        })
    }
}

/// Where a trusted publisher's token may act at all (what it may do there is `authz`'s): its
/// releases and their uploads. Tokens, keys, votes cast, committees and administration are a
/// person's.
fn publisher_may_use(path: &str) -> bool {
    let rest = path.strip_prefix("/api/v1").unwrap_or("");
    rest == "/releases" || rest.starts_with("/releases/") || rest == "/uploads" || rest.starts_with("/uploads/")
}

/// The caller of a public read: a person if the request carries credentials, else anonymous.
/// Credentials that are there but do not hold (an expired or forged JWT) are refused with 401,
/// never read as anonymous.
#[derive(Debug, Clone)]
pub struct Viewer(pub Option<Principal>);

impl Viewer {
    pub fn principal(&self) -> Option<&Principal> {
        self.0.as_ref()
    }
}

impl FromRequest for Viewer {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = AppResult<Self>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if req.headers().get(actix_web::http::header::AUTHORIZATION).is_none() {
            // A person at the web pages; a stale cookie reads as a visitor.
            let Some(secret) = session::secret_of(req) else {
                return Box::pin(async { Ok(Viewer(None)) });
            };
            if session::is_write(req.method()) {
                let principal = Principal::from_request(req, payload);
                return Box::pin(async move { principal.await.map(|p| Viewer(Some(p))) });
            }
            let state = req.app_data::<web::Data<AppState>>().cloned();
            return Box::pin(async move {
                let state = state.ok_or_else(|| AppError::internal("application state missing"))?;
                Ok(Viewer(session::authenticate(&state, secret).await?))
            });
        }
        let token = bearer(req).map(str::to_owned);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move { authenticate(token, state).await.map(|p| Viewer(Some(p))) })
    }
}

/// The principal of a bearer JWT: its signature, times and issuer hold, and the personal access
/// token it was issued for still exists (its id and the prefix of its hash both match, so a
/// deleted token never comes back to life through a new one). A trusted publisher's JWT holds
/// while one of the trusts it was issued under does.
async fn authenticate(token: AppResult<String>, state: Option<web::Data<AppState>>) -> AppResult<Principal> {
    let token = token?;
    let state = state.ok_or_else(|| AppError::internal("application state missing"))?;
    if let Some(claims) = state.jwt.verify_publisher(&token) {
        let claims = claims.map_err(|e| AppError::unauthorized(format!("The trusted publisher's token: {e}.")))?;
        let principal = state.db.run(move |conn| crate::domain::publishers::principal(conn, &claims)).await?;
        return principal.ok_or_else(|| {
            AppError::unauthorized("The trusts this token was issued under were deleted; exchange a new ID token.")
        });
    }
    let claims = state.jwt.verify(&token).map_err(|e| {
        let reason = match e {
            JwtError::Expired => "The JWT has expired; get a new one from POST /api/v1/jwt.",
            JwtError::NotYetValid => "The JWT is not valid yet (nbf is in the future).",
            JwtError::TooLong => "The JWT lives longer than this server allows; get a new one from POST /api/v1/jwt.",
            JwtError::Invalid(_) => "The JWT is not valid.",
        };
        AppError::unauthorized(reason)
    })?;
    let principal = state
        .db
        .run(move |conn| -> AppResult<_> {
            let Some((user, token_hash)) = users::jwt_subject(conn, &claims.sub, claims.tid)? else {
                return Ok(None);
            };
            if !token_hash.starts_with(&claims.tkh) || claims.tkh.len() < TOKEN_HASH_PREFIX {
                return Ok(None);
            }
            let memberships = users::memberships(conn, user.id)?;
            Ok(Some(Principal::of_user(user, memberships, Some(claims.tid), None)))
        })
        .await?;
    principal.ok_or_else(|| AppError::unauthorized("The JWT's user or token no longer exists."))
}
