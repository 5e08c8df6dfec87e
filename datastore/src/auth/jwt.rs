//! Short-lived JWTs (HS256) that automation gets in exchange for a personal access token.
//! The signing secret lives in the database, so every datastore process behind a proxy
//! accepts the tokens of the others.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

const ISSUER: &str = "trusted-releases";

/// What a JWT says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The personal access token it was issued for: deleting that token ends the JWT too.
    pub tid: i64,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
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
    pub fn new(secret: &[u8], lifetime: std::time::Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            lifetime: chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::minutes(15)),
        }
    }

    pub fn issue(&self, uid: &str, token_id: i64) -> Result<(String, DateTime<Utc>), jsonwebtoken::errors::Error> {
        let now = Utc::now();
        let expires = now + self.lifetime;
        let claims = Claims {
            sub: uid.to_owned(),
            tid: token_id,
            iat: now.timestamp(),
            exp: expires.timestamp(),
            iss: ISSUER.to_owned(),
        };
        let jwt = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((jwt, expires))
    }

    /// Checks the signature, the issuer and the expiry (with five seconds of clock leeway).
    pub fn verify(&self, jwt: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        Ok(jsonwebtoken::decode::<Claims>(jwt, &self.decoding, &validation)?.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_tampered_ones_do_not() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef", std::time::Duration::from_secs(600));
        let (jwt, expires) = keys.issue("wave", 7).unwrap();
        let claims = keys.verify(&jwt).unwrap();
        assert_eq!((claims.sub.as_str(), claims.tid), ("wave", 7));
        assert_eq!(claims.exp, expires.timestamp());

        let other = JwtKeys::new(b"another secret of thirty-two byt", std::time::Duration::from_secs(600));
        assert!(other.verify(&jwt).is_err(), "a JWT signed with another secret is refused");
        let mut tampered = jwt.clone();
        tampered.push('x');
        assert!(keys.verify(&tampered).is_err());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef", std::time::Duration::from_secs(0));
        let issued = Utc::now().timestamp() - 600;
        let claims = Claims { sub: "wave".into(), tid: 1, iat: issued, exp: issued + 60, iss: ISSUER.into() };
        let jwt = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap();
        let err = keys.verify(&jwt).unwrap_err();
        assert!(matches!(err.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature), "{err:?}");
    }
}
