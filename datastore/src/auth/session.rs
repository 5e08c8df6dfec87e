//! People at the web pages: passwords (argon2id), server-side sessions behind an HttpOnly
//! cookie, failed-login rate limits, and the CSRF token that every cookie-authenticated write
//! must carry. This is the one place those rules live; `principal` asks it for the session
//! source of a [`Principal`], and web forms are read only through [`CsrfForm`].

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{Method, StatusCode};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::de::DeserializeOwned;

use super::Principal;
use super::secrets;
use crate::db::DbConnection;
use crate::db::queries::{auth as users, sessions};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The session cookie. Behind https it is `__Host-` prefixed, so that no sibling subdomain
/// and no plain-http response can plant one (browsers accept such a cookie only when it is
/// Secure, for `/`, without a Domain).
pub const COOKIE: &str = "trl_session";
const SECURE_COOKIE: &str = "__Host-trl_session";
/// The cookie that carries the login form's CSRF token (double submit: before a login there
/// is no session to hold it). Without it, another site could log a browser into the
/// attacker's account and watch what its owner then does.
pub const LOGIN_COOKIE: &str = "trl_login";
const SECURE_LOGIN_COOKIE: &str = "__Host-trl_login";

/// Whether the site is served over https (its cookies are then Secure and `__Host-` named).
fn secure(state: &AppState) -> bool {
    state.config.public_url().starts_with("https://")
}
/// The form field, and the header for cookie-authenticated API calls, that carry the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Failed logins allowed within [`FAILURE_WINDOW`]: for one account from one address (the
/// guessing the limits are for), for one account from anywhere (many addresses), and from one
/// address for any account (one guesser trying many accounts). The first is tight; the account
/// limit is loose so that someone who knows a uid cannot lock its owner out with a few bad
/// passwords from elsewhere.
const MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS: usize = 5;
const MAX_FAILURES_PER_ACCOUNT: usize = 50;
const MAX_FAILURES_PER_ADDRESS: usize = 30;
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The window of the login limits, in milliseconds (sign-ups are counted in it too).
pub const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// How long a login waits for a password check to be free before it is told to come back.
const PERMIT_WAIT: Duration = Duration::from_secs(2);
/// A session's `last_seen_at` is written at most this often (each page view would otherwise
/// be a write).
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// Shortest password accepted by `datastore user passwd` (NIST SP 800-63B's minimum).
pub const MIN_PASSWORD_CHARS: usize = 8;
const MAX_PASSWORD_BYTES: usize = 1024;

/// How the request's principal was authenticated through a session.
#[derive(Clone)]
pub struct SessionAuth {
    pub id: i64,
    pub csrf: String,
}

impl std::fmt::Debug for SessionAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionAuth").field("id", &self.id).finish_non_exhaustive()
    }
}

/// The argon2id hash (PHC string) of a password, with the crate's default cost (19 MiB, two
/// passes), OWASP's recommended minimum.
pub fn hash_password(password: &str) -> AppResult<String> {
    check_password_rules(password)?;
    let salt = SaltString::encode_b64(&secrets::random_bytes::<16>()).map_err(AppError::internal)?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(AppError::internal)
}

pub fn check_password_rules(password: &str) -> AppResult<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AppError::unprocessable(
            "weak_password",
            format!("A password needs at least {MIN_PASSWORD_CHARS} characters."),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AppError::unprocessable(
            "invalid_password",
            format!("A password has at most {MAX_PASSWORD_BYTES} bytes."),
        ));
    }
    Ok(())
}

/// Whether `password` matches the stored hash. A hash that does not parse never matches.
fn password_matches(stored: &str, password: &str) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|hash| argon2::Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

/// A hash verified when the account does not exist or has no password, so that the answer
/// takes as long as for a real account and does not tell which uids exist.
static DECOY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("decoy password never used").unwrap_or_default());

/// The argon2id hash of a password chosen at a form (sign-up, an invitation), computed off the
/// async threads and counted among the password checks of [`login`]: at most one per core at
/// once, and a 503 after 2 s of waiting for one.
pub async fn hash_chosen_password(state: &AppState, password: String) -> AppResult<String> {
    let Some(permit) = password_permit(state).await else {
        return Err(AppError::unavailable(
            "Many passwords are being checked at this moment; try again in a few seconds.",
        )
        .retry_after(2));
    };
    let hashed = web::block(move || hash_password(&password)).await.map_err(AppError::internal)?;
    drop(permit);
    hashed
}

/// One of the password checks that may run at once (one per core), waited for at most
/// `PERMIT_WAIT`; `None` when none came free in that time.
async fn password_permit(state: &AppState) -> Option<tokio::sync::OwnedSemaphorePermit> {
    tokio::time::timeout(PERMIT_WAIT, state.password_checks.clone().acquire_owned()).await.ok()?.ok()
}

/// Sets (or with `None` removes) a user's password and ends their sessions.
pub fn set_password(conn: &mut DbConnection, uid: &str, password: Option<&str>) -> AppResult<usize> {
    let user = users::find_user(conn, uid)?.ok_or_else(|| AppError::not_found(format!("There is no user {uid}.")))?;
    let hash = password.map(hash_password).transpose()?;
    sessions::set_password(conn, user.id, hash.as_deref())?;
    Ok(sessions::revoke_sessions_of(conn, user.id)?)
}

/// The address a request came from: the peer, or behind a proxy on loopback (deploy/nginx) the
/// address that proxy appended to `X-Forwarded-For`. Anything earlier in that header was
/// written by the client and is not believed.
pub fn client_address(req: &HttpRequest) -> String {
    let peer = req.peer_addr().map(|a| a.ip());
    if peer.is_some_and(|ip| ip.is_loopback())
        && let Some(last) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .filter(|v| v.parse::<std::net::IpAddr>().is_ok())
    {
        return last.to_owned();
    }
    peer.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

/// A new session: the cookie's secret, shown to the browser only.
#[expect(missing_debug_implementations, reason = "holds the session secret")]
pub struct NewSession {
    pub secret: String,
    pub user_id: i64,
}

/// Logs a person in: the rate limits, the password, then a fresh session (a new secret at
/// every login, so a session fixed by someone else before it never becomes theirs).
///
/// The attempt is recorded as a failure before the password is checked and forgotten when it
/// holds, so that guesses sent in parallel count as well; at most one verification per core
/// runs at once.
pub async fn login(state: &AppState, uid: String, password: String, address: String) -> AppResult<NewSession> {
    if uid.is_empty() || uid.len() > 64 || password.len() > MAX_PASSWORD_BYTES {
        return Err(wrong_credentials());
    }
    let window_ms = i64::try_from(FAILURE_WINDOW.as_millis()).unwrap_or(i64::MAX);
    let (lookup_uid, lookup_address, address_of_login) = (uid.clone(), address.clone(), address.clone());
    let (attempt, stored) = state
        .db
        .run(move |c| {
            crate::db::write_transaction(c, |c| -> AppResult<_> {
                sessions::lock_account(c, &lookup_uid)?;
                let since = crate::db::now_ms() - window_ms;
                let failures = sessions::failures_since(c, &lookup_uid, &lookup_address, since)?;
                for (times, limit) in [
                    (&failures.pair, MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS),
                    (&failures.account, MAX_FAILURES_PER_ACCOUNT),
                    (&failures.address, MAX_FAILURES_PER_ADDRESS),
                ] {
                    if times.len() >= limit {
                        let oldest = times[times.len() - limit];
                        let wait_ms = (oldest + window_ms - crate::db::now_ms()).max(1000);
                        return Err(too_many_attempts(u64::try_from(wait_ms / 1000).unwrap_or(1).max(1)));
                    }
                }
                let attempt = sessions::record_attempt(c, &lookup_uid, &lookup_address)?;
                Ok((attempt, users::find_user(c, &lookup_uid)?))
            })
        })
        .await?;
    // Only attempts within the limits wait for a check, and not for long; one that gives up
    // was never checked, and is not counted.
    let Some(permit) = password_permit(state).await else {
        state.db.run(move |c| sessions::forget_attempt(c, attempt).map_err(AppError::from)).await?;
        return Err(AppError::unavailable("Many logins are being checked at this moment; try again in a few seconds.")
            .retry_after(2));
    };
    let hash = stored.as_ref().and_then(|u| u.password_hash.clone());
    let candidate = password;
    let matches = web::block(move || match hash {
        Some(hash) => password_matches(&hash, &candidate),
        None => {
            password_matches(&DECOY_HASH, &candidate);
            false
        }
    })
    .await
    .map_err(AppError::internal)?;
    drop(permit);
    let Some(user) = stored.filter(|_| matches) else {
        return Err(wrong_credentials());
    };
    let since = crate::db::now_ms() - window_ms;
    state.db.run(move |c| sessions::forget_failures(c, attempt, &uid, &address, since).map_err(AppError::from)).await?;
    let new = start(state, user.id, address_of_login).await?;
    tracing::info!(user_id = new.user_id, "logged in");
    Ok(new)
}

/// A new session for `user_id` (at a login, or right after a visitor signed up): a fresh
/// secret, and a CSRF token of its own.
pub async fn start(state: &AppState, user_id: i64, address: String) -> AppResult<NewSession> {
    let secret = secrets::generate("");
    let (secret_hash, csrf) = (secrets::hash(&secret), secrets::generate(""));
    state
        .db
        .run(move |c| sessions::insert_session(c, user_id, &secret_hash, &csrf, &address).map_err(AppError::from))
        .await?;
    Ok(NewSession { secret, user_id })
}

fn wrong_credentials() -> AppError {
    AppError::unauthorized("The user id or the password is wrong.")
}

fn too_many_attempts(retry_after_secs: u64) -> AppError {
    AppError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!("Too many failed logins; try again in {} minutes.", retry_after_secs.div_ceil(60)),
    )
    .retry_after(retry_after_secs)
}

/// The cookie that carries a session to the browser: HttpOnly, SameSite=Lax, Secure when the
/// public URL is https, for the whole site, for the session's absolute lifetime.
pub fn cookie(state: &AppState, secret: &str) -> Cookie<'static> {
    let name = if secure(state) { SECURE_COOKIE } else { COOKIE };
    let mut cookie = Cookie::build(name, secret.to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(state))
        .finish();
    if let Ok(max_age) = i64::try_from(state.config.session_max_secs) {
        cookie.set_max_age(actix_web::cookie::time::Duration::seconds(max_age));
    }
    cookie
}

/// A cookie that makes the browser forget its session.
pub fn removal_cookie(state: &AppState) -> Cookie<'static> {
    let mut cookie = cookie(state, "");
    cookie.make_removal();
    cookie
}

/// The token cookie of the forms posted before there is a session (login, sign-up, accepting
/// an invitation): HttpOnly, SameSite=Strict, one hour, `__Host-` named behind https.
pub fn login_cookie(state: &AppState, token: &str) -> Cookie<'static> {
    let name = if secure(state) { SECURE_LOGIN_COOKIE } else { LOGIN_COOKIE };
    Cookie::build(name, token.to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(state))
        .max_age(actix_web::cookie::time::Duration::hours(1))
        .finish()
}

/// Refuses a login whose form token is not the one in its cookie.
pub fn require_login_token(req: &HttpRequest, presented: Option<&str>) -> AppResult<()> {
    let https = req.app_data::<web::Data<AppState>>().is_some_and(|s| secure(s));
    let name = if https { SECURE_LOGIN_COOKIE } else { LOGIN_COOKIE };
    let expected = req.cookie(name).map(|c| c.value().to_owned()).filter(|v| !v.is_empty());
    let holds = expected.is_some_and(|csrf| csrf_holds(&SessionAuth { id: 0, csrf }, presented));
    if holds { Ok(()) } else { Err(csrf_refused()) }
}

/// Ends the session a request carries, if it is live.
pub async fn logout(state: &AppState, session: &SessionAuth) -> AppResult<()> {
    let id = session.id;
    state.db.run(move |c| sessions::revoke_session(c, id).map_err(AppError::from)).await?;
    Ok(())
}

/// Ends the session whose cookie holds `secret` (the one a browser had before it logged in
/// again), if it is live.
pub async fn end(state: &AppState, secret: String) -> AppResult<()> {
    let secret_hash = secrets::hash(&secret);
    state.db.run(move |c| sessions::revoke_by_secret(c, &secret_hash).map_err(AppError::from)).await?;
    Ok(())
}

/// The principal of a request's session cookie, `None` when there is no cookie or the session
/// has ended (expired, revoked, or logged out). Never an error for a stale cookie: the pages
/// then show the visitor's view and offer a login.
pub async fn authenticate(state: &AppState, secret: String) -> AppResult<Option<Principal>> {
    let config = &state.config;
    let now = crate::db::now_ms();
    let max_ms = i64::try_from(config.session_max_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let idle_ms = i64::try_from(config.session_idle_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let touch_ms = i64::try_from(TOUCH_EVERY.as_millis()).unwrap_or(i64::MAX);
    let secret_hash = secrets::hash(&secret);
    state
        .db
        .run(move |c| -> AppResult<Option<Principal>> {
            let Some(session) =
                sessions::live_session(c, &secret_hash, now.saturating_sub(max_ms), now.saturating_sub(idle_ms))?
            else {
                return Ok(None);
            };
            if now - session.last_seen_at > touch_ms {
                sessions::touch_session(c, session.id)?;
            }
            let memberships = users::memberships(c, session.user.id)?;
            let auth = SessionAuth { id: session.id, csrf: session.csrf_token };
            Ok(Some(Principal::of_user(session.user, memberships, None, Some(auth))))
        })
        .await
}

/// The session secret of a request, if it carries the cookie (under the name this site sets).
pub fn secret_of(req: &HttpRequest) -> Option<String> {
    let https = req.app_data::<web::Data<AppState>>().is_some_and(|s| secure(s));
    let name = if https { SECURE_COOKIE } else { COOKIE };
    req.cookie(name).map(|c| c.value().to_owned()).filter(|v| !v.is_empty() && v.len() <= 128)
}

/// Whether a method changes something (and so needs the CSRF token when a cookie authenticates it).
pub fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Compares a presented CSRF token with the session's, in constant time.
pub fn csrf_holds(session: &SessionAuth, presented: Option<&str>) -> bool {
    use subtle::ConstantTimeEq;
    presented.is_some_and(|p| p.len() == session.csrf.len() && bool::from(p.as_bytes().ct_eq(session.csrf.as_bytes())))
}

fn csrf_refused() -> AppError {
    AppError::new(
        StatusCode::FORBIDDEN,
        "csrf_failed",
        "The form's security token is missing or out of date (it protects you from other sites \
         submitting forms in your name). Go back, reload the page and submit it again.",
    )
}

/// Refuses a cookie-authenticated write through the API without the session's token in
/// `X-CSRF-Token`.
pub fn require_csrf_header(req: &HttpRequest, session: &SessionAuth) -> AppResult<()> {
    let presented = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    if csrf_holds(session, presented) { Ok(()) } else { Err(csrf_refused()) }
}

/// A form posted from a page by a logged-in person: the session's principal and the form's
/// fields, read only once the form's CSRF token matched the session's. The only way the web
/// pages read a form.
#[derive(Debug)]
pub struct CsrfForm<T> {
    pub principal: Principal,
    pub form: T,
}

#[derive(serde::Deserialize)]
struct WithToken<T> {
    csrf: Option<String>,
    #[serde(flatten)]
    form: T,
}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = AppResult<Self>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let secret = secret_of(req);
        let body = web::Form::<WithToken<T>>::from_request(req, payload);
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal("application state missing"))?;
            let principal = match secret {
                Some(secret) => authenticate(&state, secret).await?,
                None => None,
            };
            let principal = principal.ok_or_else(|| {
                AppError::unauthorized("Log in first: your session has ended or you are not logged in.")
            })?;
            let body = body.await.map_err(|e| {
                if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::too_large("The form is larger than this page accepts (2 MiB).")
                } else {
                    AppError::bad_request("invalid_form", format!("The form is not valid: {e}"))
                }
            })?;
            let WithToken { csrf, form } = body.into_inner();
            let session = principal.session.as_ref().ok_or_else(csrf_refused)?;
            if !csrf_holds(session, csrf.as_deref()) {
                return Err(csrf_refused());
            }
            Ok(CsrfForm { principal, form })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(password_matches(&hash, "correct horse battery"));
        assert!(!password_matches(&hash, "correct horse batterY"));
        assert!(!password_matches("not a hash", "correct horse battery"));
        assert_ne!(hash, hash_password("correct horse battery").unwrap(), "salted");
    }

    #[test]
    fn short_passwords_are_refused() {
        assert_eq!(hash_password("seven77").unwrap_err().code, "weak_password");
        assert_eq!(hash_password(&"x".repeat(2000)).unwrap_err().code, "invalid_password");
    }

    #[test]
    fn csrf_tokens_compare_exactly() {
        let session = SessionAuth { id: 1, csrf: "abc123".to_owned() };
        assert!(csrf_holds(&session, Some("abc123")));
        assert!(!csrf_holds(&session, Some("abc124")));
        assert!(!csrf_holds(&session, Some("abc12")));
        assert!(!csrf_holds(&session, Some("")));
        assert!(!csrf_holds(&session, None));
    }
}
