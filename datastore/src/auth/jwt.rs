//! Short-lived JWTs (HS256) that automation gets in exchange for a personal access token.
//! The signing secret lives in the database, so every datastore process behind a proxy
//! accepts the tokens of the others.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

const ISSUER: &str = "trusted-releases";
/// Clock difference between datastore processes that is tolerated, in seconds.
const LEEWAY_S: i64 = 5;
/// Hex characters of the token's hash a JWT carries (64 bits: a token id that came back
/// would also need a hash with the same prefix).
pub const TOKEN_HASH_PREFIX: usize = 16;

/// What a JWT says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The personal access token it was issued for: deleting that token ends the JWT too.
    pub tid: i64,
    /// The first hex characters of that token's SHA-256, which no other token has: a token id
    /// reused after a delete does not revive the JWTs of the deleted token.
    pub tkh: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: String,
    /// A random id of this JWT, for logs and revocation lists.
    pub jti: String,
}

/// The audience of a trusted publisher's JWT, which a person's JWT never has.
pub const PUBLISHER_AUDIENCE: &str = "trusted-publisher";

/// What a trusted publisher's JWT says (issued by `POST /api/v1/trusted-publishing/exchange`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublisherClaims {
    /// The project's CI user (`ci:<project>`).
    pub sub: String,
    /// The project it acts on.
    pub prj: String,
    /// The trusts the ID token matched.
    pub pubs: Vec<i64>,
    /// What they granted.
    pub act: Vec<shared_models::publishing::PublisherAction>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
}

/// Why a JWT was refused.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("the JWT has expired")]
    Expired,
    #[error("the JWT is not valid yet")]
    NotYetValid,
    #[error("the JWT lives longer than this server issues them")]
    TooLong,
    #[error("the JWT is not valid: {0}")]
    Invalid(String),
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    lifetime: chrono::Duration,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys").field("lifetime", &self.lifetime).finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// Keys that issue JWTs of `lifetime`, and accept none that lives longer.
    pub fn new(secret: &[u8], lifetime: std::time::Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            lifetime: chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::minutes(15)),
        }
    }

    /// A JWT for `uid`, bound to the personal access token `token_id` whose hash is `token_hash`.
    pub fn issue(
        &self,
        uid: &str,
        token_id: i64,
        token_hash: &str,
    ) -> Result<(String, DateTime<Utc>), jsonwebtoken::errors::Error> {
        let now = Utc::now();
        let expires = now + self.lifetime;
        let claims = Claims {
            sub: uid.to_owned(),
            tid: token_id,
            tkh: token_hash.chars().take(TOKEN_HASH_PREFIX).collect(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires.timestamp(),
            iss: ISSUER.to_owned(),
            jti: hex::encode(super::secrets::random_bytes::<12>()),
        };
        let jwt = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((jwt, expires))
    }

    /// A trusted publisher's JWT for `project`, granted `actions` by the trusts `trusts`.
    pub fn issue_publisher(
        &self,
        project: &str,
        uid: &str,
        trusts: Vec<i64>,
        actions: Vec<shared_models::publishing::PublisherAction>,
    ) -> Result<(String, DateTime<Utc>), jsonwebtoken::errors::Error> {
        let now = Utc::now();
        let expires = now + self.lifetime;
        let claims = PublisherClaims {
            sub: uid.to_owned(),
            prj: project.to_owned(),
            pubs: trusts,
            act: actions,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires.timestamp(),
            iss: ISSUER.to_owned(),
            aud: PUBLISHER_AUDIENCE.to_owned(),
            jti: hex::encode(super::secrets::random_bytes::<12>()),
        };
        let jwt = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((jwt, expires))
    }

    /// `None` if `jwt` is not a trusted publisher's (it does not name their audience); else
    /// whether it holds, by the same rules as [`JwtKeys::verify`].
    pub fn verify_publisher(&self, jwt: &str) -> Option<Result<PublisherClaims, JwtError>> {
        #[derive(Deserialize)]
        struct Audience {
            aud: Option<serde_json::Value>,
        }
        // Only to route the token: what it says counts once its signature is checked below.
        let peeked = jsonwebtoken::dangerous::insecure_decode::<Audience>(jwt).ok()?;
        if peeked.claims.aud.as_ref().and_then(serde_json::Value::as_str) != Some(PUBLISHER_AUDIENCE) {
            return None;
        }
        let mut validation = Self::validation();
        validation.set_audience(&[PUBLISHER_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "sub", "iss", "aud"]);
        Some(self.checked::<PublisherClaims>(jwt, &validation))
    }

    /// What every JWT of this server is checked for: HS256, its issuer, `nbf` and `exp` with
    /// a little clock leeway.
    fn validation() -> Validation {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_S.unsigned_abs();
        validation.validate_nbf = true;
        validation.set_issuer(&[ISSUER]);
        validation
    }

    /// Decodes `jwt` under `validation`, then applies the checks every JWT of this server gets.
    fn checked<T: serde::de::DeserializeOwned + Lifetime>(
        &self,
        jwt: &str,
        validation: &Validation,
    ) -> Result<T, JwtError> {
        use jsonwebtoken::errors::ErrorKind;
        let claims = jsonwebtoken::decode::<T>(jwt, &self.decoding, validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => JwtError::Expired,
                ErrorKind::ImmatureSignature => JwtError::NotYetValid,
                _ => JwtError::Invalid(e.to_string()),
            })?
            .claims;
        let (iat, nbf, exp) = claims.times();
        let now = Utc::now().timestamp();
        if iat > now + LEEWAY_S {
            return Err(JwtError::NotYetValid);
        }
        if exp - iat.min(nbf) > self.lifetime.num_seconds() + LEEWAY_S {
            return Err(JwtError::TooLong);
        }
        Ok(claims)
    }

    /// Checks the signature, the issuer, `nbf` and `exp` (with a little clock leeway), and that
    /// the JWT lives no longer than this server issues them: a JWT signed with a leaked
    /// secret, or by a server configured otherwise, cannot grant itself a year.
    pub fn verify(&self, jwt: &str) -> Result<Claims, JwtError> {
        let mut validation = Self::validation();
        validation.set_required_spec_claims(&["exp", "nbf", "sub", "iss"]);
        self.checked::<Claims>(jwt, &validation)
    }
}

/// The times of a JWT's claims.
trait Lifetime {
    /// `iat`, `nbf`, `exp`.
    fn times(&self) -> (i64, i64, i64);
}

impl Lifetime for Claims {
    fn times(&self) -> (i64, i64, i64) {
        (self.iat, self.nbf, self.exp)
    }
}

impl Lifetime for PublisherClaims {
    fn times(&self) -> (i64, i64, i64) {
        (self.iat, self.nbf, self.exp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn signed(keys: &JwtKeys, change: impl FnOnce(&mut Claims)) -> String {
        let now = Utc::now().timestamp();
        let mut claims = Claims {
            sub: "wave".into(),
            tid: 1,
            tkh: "0123456789abcdef".into(),
            iat: now,
            nbf: now,
            exp: now + 60,
            iss: ISSUER.into(),
            jti: "x".into(),
        };
        change(&mut claims);
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap()
    }

    #[test]
    fn issued_tokens_verify_and_tampered_ones_do_not() {
        let keys = JwtKeys::new(SECRET, std::time::Duration::from_secs(600));
        let (jwt, expires) = keys.issue("wave", 7, &"ab".repeat(32)).unwrap();
        let claims = keys.verify(&jwt).unwrap();
        assert_eq!((claims.sub.as_str(), claims.tid, claims.tkh.as_str()), ("wave", 7, "abababababababab"));
        assert_eq!(claims.exp, expires.timestamp());
        let (again, _) = keys.issue("wave", 7, &"ab".repeat(32)).unwrap();
        assert_ne!(keys.verify(&again).unwrap().jti, claims.jti, "every JWT has its own id");

        let other = JwtKeys::new(b"another secret of thirty-two byt", std::time::Duration::from_secs(600));
        assert!(other.verify(&jwt).is_err(), "a JWT signed with another secret is refused");
        let mut tampered = jwt.clone();
        tampered.push('x');
        assert!(keys.verify(&tampered).is_err());
    }

    #[test]
    fn expired_early_and_overlong_tokens_are_refused() {
        let keys = JwtKeys::new(SECRET, std::time::Duration::from_secs(900));
        let now = Utc::now().timestamp();
        let expired = signed(&keys, |c| {
            c.iat = now - 600;
            c.nbf = now - 600;
            c.exp = now - 540;
        });
        assert!(matches!(keys.verify(&expired), Err(JwtError::Expired)));
        let early = signed(&keys, |c| c.nbf = now + 120);
        assert!(matches!(keys.verify(&early), Err(JwtError::NotYetValid)));
        let from_the_future = signed(&keys, |c| {
            c.iat = now + 120;
            c.nbf = now - 1;
        });
        assert!(matches!(keys.verify(&from_the_future), Err(JwtError::NotYetValid)));
        let year = signed(&keys, |c| c.exp = now + 365 * 86_400);
        assert!(matches!(keys.verify(&year), Err(JwtError::TooLong)), "a good signature does not buy a year");
        let no_nbf = {
            #[derive(Serialize)]
            struct Old<'a> {
                sub: &'a str,
                tid: i64,
                tkh: &'a str,
                iat: i64,
                exp: i64,
                iss: &'a str,
                jti: &'a str,
            }
            let claims =
                Old { sub: "wave", tid: 1, tkh: "0123456789abcdef", iat: now, exp: now + 60, iss: ISSUER, jti: "x" };
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap()
        };
        assert!(keys.verify(&no_nbf).is_err(), "nbf is required");
        assert!(keys.verify(&signed(&keys, |_| {})).is_ok());
    }
}
