//! OpenID Connect login for people (`DATASTORE_OIDC_ISSUER`): the authorization code flow with
//! PKCE (S256), a `state` and a `nonce`. `/login/oidc` sends the browser to the provider with a
//! short-lived cookie holding what the answer must match; `/login/oidc/callback` redeems the
//! code at the provider's token endpoint (the client's secret in HTTP Basic), checks the ID
//! token (`auth::oidc`: signature, issuer, times; here the audience, `azp` and the nonce), takes
//! the uid from its configured claim and starts the session of that existing account.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde::Deserialize;

use super::{local_path, see_other};
use crate::auth::oidc::Issuers;
use crate::auth::{secrets, session};
use crate::db::queries::auth as users;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

const COOKIE: &str = "trl_sso";
const SECURE_COOKIE: &str = "__Secure-trl_sso";
/// How long a login at the provider may take.
const PENDING_MINUTES: i64 = 10;

/// The OpenID Connect login of a deployment.
#[derive(Debug)]
pub struct SsoLogin {
    pub issuer: String,
    pub client_id: String,
    client_secret: String,
    pub uid_claim: String,
    /// "Log in with …".
    pub name: String,
    issuers: Issuers,
}

impl SsoLogin {
    /// The login the configuration asks for, if any; an incomplete configuration is an error.
    pub fn from_config(config: &crate::config::Config) -> anyhow::Result<Option<Self>> {
        let Some(issuer) = config.oidc_issuer.clone().filter(|i| !i.trim().is_empty()) else { return Ok(None) };
        let (Some(client_id), Some(client_secret)) = (config.oidc_client_id.clone(), config.oidc_client_secret.clone())
        else {
            anyhow::bail!(
                "DATASTORE_OIDC_ISSUER is set: DATASTORE_OIDC_CLIENT_ID and DATASTORE_OIDC_CLIENT_SECRET are needed too"
            );
        };
        let uid_claim = config.oidc_uid_claim.clone().filter(|c| !c.trim().is_empty()).ok_or_else(|| {
            anyhow::anyhow!(
                "DATASTORE_OIDC_ISSUER is set: DATASTORE_OIDC_UID_CLAIM must name the ID token's claim that holds \
                 the uid here, one the provider sets and never reassigns (`sub` when its subject is the uid, or a \
                 directory claim such as `uid`), never one people edit themselves (often `preferred_username` or \
                 `email`)"
            )
        })?;
        let refresh = std::time::Duration::from_secs(config.oidc_keys_refresh_secs);
        let issuers = Issuers::new(std::slice::from_ref(&issuer), refresh)?;
        Ok(Some(Self { issuer, client_id, client_secret, uid_claim, name: config.oidc_name.clone(), issuers }))
    }
}

fn secure(state: &AppState) -> bool {
    state.config.public_url().starts_with("https://")
}

fn redirect_uri(state: &AppState) -> String {
    format!("{}/login/oidc/callback", state.config.public_url())
}

fn configured(state: &AppState) -> AppResult<&SsoLogin> {
    state
        .sso
        .as_deref()
        .ok_or_else(|| AppError::not_found("This server has no single sign-on; log in with a password at /login."))
}

/// The pending login: what the provider's answer must match, and where to go after it. Lax, so
/// that it comes back on the provider's redirect; for the callback only.
fn pending_cookie(state: &AppState, value: String) -> Cookie<'static> {
    let name = if secure(state) { SECURE_COOKIE } else { COOKIE };
    Cookie::build(name, value)
        .path("/login/oidc")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(state))
        .max_age(actix_web::cookie::time::Duration::minutes(PENDING_MINUTES))
        .finish()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Debug, Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

/// `GET /login/oidc`: off to the provider.
pub async fn start(state: web::Data<AppState>, query: web::Query<StartQuery>) -> AppResult<HttpResponse> {
    let sso = configured(&state)?;
    let discovery = sso.issuers.discovery(&sso.issuer).await.map_err(unavailable)?;
    let endpoint = discovery
        .authorization_endpoint
        .ok_or_else(|| unavailable(format!("{} names no authorization endpoint", sso.issuer)))?;
    let (state_value, nonce, verifier) =
        (b64(&secrets::random_bytes::<16>()), b64(&secrets::random_bytes::<16>()), b64(&secrets::random_bytes::<32>()));
    let challenge = b64(&openssl::sha::sha256(verifier.as_bytes()));
    let next = query.into_inner().next.filter(|n| local_path(n)).unwrap_or_else(|| "/".to_owned());
    let enc = crate::url::encode_query_value;
    let location = format!(
        "{endpoint}{}response_type=code&client_id={}&redirect_uri={}&scope=openid%20profile%20email&state={state_value}\
         &nonce={nonce}&code_challenge={challenge}&code_challenge_method=S256",
        if endpoint.contains('?') { '&' } else { '?' },
        enc(&sso.client_id),
        enc(&redirect_uri(&state)),
    );
    let pending = format!("{state_value}.{nonce}.{verifier}.{}", b64(next.as_bytes()));
    let mut response = see_other(&location);
    response.add_cookie(&pending_cookie(&state, pending)).map_err(AppError::internal)?;
    Ok(response)
}

fn unavailable(e: impl std::fmt::Display) -> AppError {
    AppError::new(
        actix_web::http::StatusCode::BAD_GATEWAY,
        "issuer_unreachable",
        format!("The single sign-on provider cannot be used now ({e}); try again, or log in with a password."),
    )
}

fn refused(why: impl std::fmt::Display) -> AppError {
    AppError::unauthorized(format!("The single sign-on did not log you in: {why}. Start again at /login."))
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: String,
}

/// `GET /login/oidc/callback`: the provider's answer; a session, and on to where the person
/// was going.
pub async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<CallbackQuery>,
) -> AppResult<HttpResponse> {
    let sso = configured(&state)?;
    let query = query.into_inner();
    let pending = req
        .cookie(if secure(&state) { SECURE_COOKIE } else { COOKIE })
        .ok_or_else(|| refused("this browser started no login here in the last 10 minutes (or blocks cookies)"))?;
    let parts: Vec<&str> = pending.value().split('.').collect();
    let [expected_state, nonce, verifier, next] = parts[..] else {
        return Err(refused("the login's cookie is damaged"));
    };
    if [expected_state, nonce, verifier].iter().any(|part| part.len() < 16) {
        return Err(refused("the login's cookie is damaged"));
    }
    let presented = query.state.as_deref().unwrap_or_default();
    if !bool::from(subtle::ConstantTimeEq::ct_eq(presented.as_bytes(), expected_state.as_bytes())) {
        return Err(refused("the answer is not for the login this browser started"));
    }
    if let Some(error) = query.error {
        let detail = query.error_description.map(|d| format!(": {d}")).unwrap_or_default();
        return Err(refused(format!("the provider said {error}{detail}")));
    }
    let code = query.code.ok_or_else(|| refused("the provider's answer has no code"))?;
    let discovery = sso.issuers.discovery(&sso.issuer).await.map_err(unavailable)?;
    let token_endpoint =
        discovery.token_endpoint.ok_or_else(|| unavailable(format!("{} names no token endpoint", sso.issuer)))?;
    let answer = sso
        .issuers
        .http()
        .post(&token_endpoint)
        .basic_auth(
            crate::url::encode_query_value(&sso.client_id),
            Some(crate::url::encode_query_value(&sso.client_secret)),
        )
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri(&state).as_str()),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .map_err(unavailable)?;
    if !answer.status().is_success() {
        let status = answer.status();
        let body = answer.text().await.unwrap_or_default();
        tracing::warn!(%status, body = %body.chars().take(500).collect::<String>(), "the token endpoint refused a code");
        return Err(refused(format!("the provider refused the code ({status})")));
    }
    let TokenAnswer { id_token } = answer.json().await.map_err(|e| refused(format!("the provider's answer: {e}")))?;
    let token = sso.issuers.verify(&id_token).await.map_err(|e| refused(format!("its ID token: {e}")))?;
    if !token.audiences.contains(&sso.client_id) {
        return Err(refused("its ID token is for another client"));
    }
    let azp = token.claims.get("azp");
    if (token.audiences.len() > 1 || azp.is_some()) && azp.and_then(|a| a.as_str()) != Some(sso.client_id.as_str()) {
        return Err(refused("its ID token was issued to another client (azp)"));
    }
    if token.claims.get("nonce").and_then(|n| n.as_str()) != Some(nonce) {
        return Err(refused("its ID token is not for this login (nonce)"));
    }
    let uid = token
        .claims
        .get(&sso.uid_claim)
        .and_then(|u| u.as_str())
        .ok_or_else(|| refused(format!("its ID token has no {} claim", sso.uid_claim)))?
        .to_owned();
    let found = {
        let uid = uid.clone();
        state.db.run(move |c| users::find_user(c, &uid).map_err(AppError::from)).await?
    };
    let user = found.filter(|_| shared_models::Uid::parse(&uid).is_ok()).ok_or_else(|| {
        AppError::forbidden(format!(
            "You signed in at the provider as {uid}, but this server has no account {uid}; an admin makes accounts."
        ))
    })?;
    // Only accounts an admin made: a visitor chose its own uid at sign-up, so the provider's
    // person of that name is not the one who made it; a withdrawn account is closed.
    if user.visitor || user.withdrawn_at.is_some() {
        tracing::warn!(
            uid,
            issuer = sso.issuer,
            visitor = user.visitor,
            "single sign-on refused for an account not made by an admin"
        );
        return Err(AppError::forbidden(format!(
            "You signed in at the provider as {uid}, but the account {uid} here is a visitor's or closed, and single \
             sign-on opens only accounts an admin made; log in with its password, or ask an admin."
        )));
    }
    let new = session::start(&state, user.id, session::client_address(&req)).await?;
    tracing::info!(uid, issuer = sso.issuer, "logged in by single sign-on");
    let next = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(next)
        .ok()
        .and_then(|n| String::from_utf8(n).ok())
        .filter(|n| local_path(n))
        .unwrap_or_else(|| "/".to_owned());
    let mut response = super::account::logged_in_to(&req, &state, &new, &next).await?;
    let mut forget = pending_cookie(&state, String::new());
    forget.make_removal();
    response.add_cookie(&forget).map_err(AppError::internal)?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::SsoLogin;

    #[test]
    fn an_issuer_without_a_uid_claim_is_refused_at_start() {
        let mut config = crate::config::Config::for_tests("/nonexistent".into(), "sqlite://:memory:".into());
        config.oidc_issuer = Some("https://sso.example.org".to_owned());
        config.oidc_client_id = Some("web".to_owned());
        config.oidc_client_secret = Some("secret".to_owned());
        let error = SsoLogin::from_config(&config).expect_err("no claim, no login").to_string();
        assert!(error.contains("DATASTORE_OIDC_UID_CLAIM"), "{error}");
        config.oidc_uid_claim = Some("uid".to_owned());
        let login = SsoLogin::from_config(&config).expect("a complete configuration").expect("a login");
        assert_eq!(login.uid_claim, "uid");
    }
}
