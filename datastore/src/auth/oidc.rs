//! OpenID Connect ID tokens from the issuers this server's operator allows: their discovery
//! document and key set, fetched over HTTP and cached (fetched again after an hour, or at
//! once, within a rate limit, when a token names a key the cached set lacks: a rotation), and
//! the checks of signature, issuer, audience and times. Trusted publishing (CI jobs) and the
//! OpenID Connect login of people (`web::sso`) use it.
//!
//! Only asymmetric signatures count: a token signed with `none` or an HMAC (whose key would be
//! in the public key set) is refused, whatever the key set holds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Clock difference with the issuer that is tolerated, in seconds.
const LEEWAY_S: u64 = 5;
/// A cached key set is fetched again after this long.
const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);
/// Largest discovery document or key set read.
const MAX_DOCUMENT: usize = 256 << 10;
const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Why an ID token was refused.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the token is not a signed JWT")]
    Malformed,
    #[error("the token is signed with {0:?}; only asymmetric signatures (RS*, PS*, ES*, EdDSA) are accepted")]
    Algorithm(Algorithm),
    #[error("the issuer {0:?} is not one this server trusts (DATASTORE_TRUSTED_ISSUERS)")]
    UntrustedIssuer(String),
    #[error("the issuer's keys could not be fetched: {0}")]
    Unreachable(String),
    #[error("the issuer has no key {0:?} (even after fetching its keys again)")]
    UnknownKey(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is not valid: {0}")]
    Invalid(String),
}

/// What an issuer says of itself (the fields used here).
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
}

/// An ID token whose signature, issuer and times hold; its audience is the caller's to check.
#[derive(Debug, Clone)]
pub struct IdToken {
    pub issuer: String,
    /// `aud`, as a list.
    pub audiences: Vec<String>,
    pub expires_at: i64,
    /// Every claim, as the issuer wrote it.
    pub claims: Map<String, Value>,
}

struct Cached {
    discovery: Discovery,
    keys: JwkSet,
    fetched: Instant,
}

/// The issuers an operator allows, and their cached key sets.
pub struct Issuers {
    allowed: Vec<String>,
    http: reqwest::Client,
    cache: Mutex<HashMap<String, Cached>>,
    refresh_min: Duration,
}

impl std::fmt::Debug for Issuers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuers").field("allowed", &self.allowed).finish_non_exhaustive()
    }
}

impl Issuers {
    /// Issuers `allowed` (exact `iss` values), whose keys are fetched again for an unknown key
    /// id at most once per `refresh_min`.
    pub fn new(allowed: &[String], refresh_min: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("trusted-releases-datastore/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let allowed = allowed.iter().map(|i| i.trim().to_owned()).filter(|i| !i.is_empty()).collect();
        Ok(Self { allowed, http, cache: Mutex::new(HashMap::new()), refresh_min })
    }

    /// Whether `issuer` is one of those allowed.
    pub fn allows(&self, issuer: &str) -> bool {
        self.allowed.iter().any(|i| i == issuer)
    }

    pub fn allowed(&self) -> &[String] {
        &self.allowed
    }

    /// What `issuer` (one of those allowed) says of itself, fetched if it is not cached.
    pub async fn discovery(&self, issuer: &str) -> Result<Discovery, OidcError> {
        if !self.allows(issuer) {
            return Err(OidcError::UntrustedIssuer(issuer.to_owned()));
        }
        let cached = || {
            let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            cache.get(issuer).filter(|c| c.fetched.elapsed() <= KEYS_MAX_AGE).map(|c| c.discovery.clone())
        };
        if let Some(discovery) = cached() {
            return Ok(discovery);
        }
        self.fetch(issuer).await?;
        let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(issuer).map(|c| c.discovery.clone()).ok_or_else(|| OidcError::Unreachable(issuer.to_owned()))
    }

    /// The issuer a token names, unverified: which key set to check it with.
    pub fn issuer_of(token: &str) -> Result<String, OidcError> {
        #[derive(Deserialize)]
        struct Issuer {
            iss: String,
        }
        jsonwebtoken::dangerous::insecure_decode::<Issuer>(token)
            .map(|t| t.claims.iss)
            .map_err(|_| OidcError::Malformed)
    }

    /// Checks `token`: an allowed issuer, an asymmetric signature by one of the issuer's keys,
    /// `exp` (required), `nbf` and `iat` (if present) with a little leeway.
    pub async fn verify(&self, token: &str) -> Result<IdToken, OidcError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| OidcError::Malformed)?;
        if !ASYMMETRIC.contains(&header.alg) {
            return Err(OidcError::Algorithm(header.alg));
        }
        let issuer = Self::issuer_of(token)?;
        if !self.allows(&issuer) {
            return Err(OidcError::UntrustedIssuer(issuer));
        }
        let kid = header.kid.clone().unwrap_or_default();
        let jwk = match self.cached_key(&issuer, &kid, false) {
            Some(jwk) => jwk,
            None => {
                self.fetch(&issuer).await?;
                self.cached_key(&issuer, &kid, true).ok_or_else(|| OidcError::UnknownKey(kid.clone()))?
            }
        };
        if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
            return Err(OidcError::Algorithm(header.alg));
        }
        if let Some(declared) = jwk.common.key_algorithm
            && format!("{declared:?}") != format!("{:?}", header.alg)
        {
            return Err(OidcError::Invalid(format!("the key {kid:?} is for {declared:?}, not {:?}", header.alg)));
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| OidcError::Invalid(format!("the issuer's key: {e}")))?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_S;
        validation.validate_nbf = true;
        validation.validate_aud = false; // the caller's: each use expects its own audience
        validation.set_issuer(&[issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::ExpiredSignature => OidcError::Expired,
                    ErrorKind::ImmatureSignature => OidcError::NotYetValid,
                    _ => OidcError::Invalid(e.to_string()),
                }
            })?
            .claims;
        let now = chrono::Utc::now().timestamp();
        if claims.get("iat").and_then(Value::as_i64).is_some_and(|iat| iat > now + LEEWAY_S as i64) {
            return Err(OidcError::NotYetValid);
        }
        let audiences = match claims.get("aud") {
            Some(Value::String(one)) => vec![one.clone()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        let expires_at = claims.get("exp").and_then(Value::as_i64).unwrap_or(now);
        Ok(IdToken { issuer, audiences, expires_at, claims })
    }

    /// The cached key `kid` of `issuer` (the only key, when the token names none); `None` when
    /// the cache lacks it, or (unless `after_fetch`) holds a key set older than an hour.
    fn cached_key(&self, issuer: &str, kid: &str, after_fetch: bool) -> Option<Jwk> {
        let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let cached = cache.get(issuer).filter(|c| after_fetch || c.fetched.elapsed() <= KEYS_MAX_AGE)?;
        if kid.is_empty() {
            return (cached.keys.keys.len() == 1).then(|| cached.keys.keys[0].clone());
        }
        cached.keys.find(kid).cloned()
    }

    /// Fetches `issuer`'s discovery document and key set into the cache (unless it was
    /// fetched less than `refresh_min` ago).
    async fn fetch(&self, issuer: &str) -> Result<(), OidcError> {
        {
            let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if cache.get(issuer).is_some_and(|c| c.fetched.elapsed() < self.refresh_min) {
                return Ok(());
            }
        }
        let discovery_url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let discovery: Discovery = self.document(&discovery_url).await?;
        if discovery.issuer != issuer {
            return Err(OidcError::Unreachable(format!(
                "{discovery_url} names the issuer {:?}, not {issuer:?}",
                discovery.issuer
            )));
        }
        let keys: JwkSet = self.document(&discovery.jwks_uri).await?;
        tracing::info!(issuer, keys = keys.keys.len(), "fetched the issuer's signing keys");
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.insert(issuer.to_owned(), Cached { discovery, keys, fetched: Instant::now() });
        Ok(())
    }

    /// The HTTP client the issuers are fetched with (10 s timeout, no redirects).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    async fn document<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let unreachable = |e: String| OidcError::Unreachable(format!("{url}: {e}"));
        let mut response = self.http.get(url).send().await.map_err(|e| unreachable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unreachable(format!("HTTP {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| unreachable(e.to_string()))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOCUMENT {
                return Err(unreachable(format!("larger than {MAX_DOCUMENT} bytes")));
            }
        }
        serde_json::from_slice(&body).map_err(|e| unreachable(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsigned(alg: &str, claims: Value) -> String {
        use base64::Engine;
        let encode = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.c2lnbmF0dXJl", encode(serde_json::json!({"alg": alg, "typ": "JWT"})), encode(claims))
    }

    /// Refused before any key is fetched: nothing here reaches a network.
    #[actix_web::test]
    async fn symmetric_unsigned_and_foreign_tokens_are_refused_before_any_fetch() {
        let issuers = Issuers::new(&["https://ci.example".to_owned()], Duration::ZERO).unwrap();
        let claims = serde_json::json!({"iss": "https://ci.example", "exp": 4_000_000_000_i64});
        for alg in ["HS256", "HS512"] {
            let refused = issuers.verify(&unsigned(alg, claims.clone())).await.unwrap_err();
            assert!(matches!(refused, OidcError::Algorithm(_)), "{alg}: {refused}");
        }
        for token in [unsigned("none", claims.clone()), "a.b".to_owned(), String::new()] {
            let refused = issuers.verify(&token).await.unwrap_err();
            assert!(matches!(refused, OidcError::Malformed), "{token:?}: {refused}");
        }
        let foreign = unsigned("RS256", serde_json::json!({"iss": "https://evil.example", "exp": 4_000_000_000_i64}));
        let refused = issuers.verify(&foreign).await.unwrap_err();
        assert!(matches!(refused, OidcError::UntrustedIssuer(ref i) if i == "https://evil.example"), "{refused}");
        assert!(issuers.allows("https://ci.example") && !issuers.allows("https://ci.example/"));
    }
}
