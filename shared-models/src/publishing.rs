//! Trusted publishing (`docs/TRUSTED-PUBLISHING.md`): a project's PMC trusts a CI identity, and
//! a job of that CI exchanges its OpenID Connect ID token for a short-lived token that does
//! some of a release manager's work on the project's releases, and nothing else.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

crate::named_enum! {
    /// What a trusted publisher may do on its project's releases.
    pub enum PublisherAction as "publisher action" {
        /// Create releases, and upload, move and delete the files of drafts.
        Compose = "compose",
        /// Start a draft's vote.
        VoteStart = "vote_start",
        /// Resolve a vote that has a result, and publish the voted bytes.
        Release = "release",
    }
}

/// `POST /api/v1/projects/{p}/trusted-publishers`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTrustedPublisher {
    /// The OpenID Connect issuer (`iss`), one of those this server's operator allows
    /// (`DATASTORE_TRUSTED_ISSUERS`), e.g. `https://token.actions.githubusercontent.com`.
    #[schema(min_length = 8, max_length = 500)]
    pub issuer: String,
    /// The audience (`aud`) the ID token must be issued for.
    #[schema(min_length = 1, max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub audience: String,
    /// Claims the ID token must carry, each with a value matching the glob given (`*`, `?`,
    /// `[…]`; a value without them must be equal), e.g. `{"repository": "apache/httpd",
    /// "ref": "refs/tags/v*", "environment": "release"}`. At least one; a value that is not a
    /// well-formed glob must be equal.
    #[schema(schema_with = claims_schema)]
    pub claims: BTreeMap<String, String>,
    /// What a token exchanged under this trust may do.
    #[schema(min_items = 1, max_items = 3)]
    pub actions: Vec<PublisherAction>,
}

/// 1 to 16 claims: names of A-Z a-z 0-9 _ . : - (not `iss`, `aud`, `exp`, `iat`, `nbf`,
/// `jti`), values of 1 to 500 printable characters, not only `*`.
fn claims_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .min_properties(Some(1))
        .max_properties(Some(16))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^(?!(iss|aud|exp|iat|nbf|jti)$)[A-Za-z0-9_.:-]{1,64}$")),
        ))
        .additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(500))
                .pattern(Some("^(?!\\**$)[^\\u0000-\\u001f\\u007f-\\u009f]+$")),
        ))
        .build()
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrustedPublisher {
    pub id: i64,
    pub project: String,
    pub issuer: String,
    pub audience: String,
    pub claims: BTreeMap<String, String>,
    pub actions: Vec<PublisherAction>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrustedPublisherList {
    pub trusted_publishers: Vec<TrustedPublisher>,
    /// The uid the project's CI acts as, in the audit log and on its releases.
    pub acts_as: String,
}

/// `POST /api/v1/trusted-publishing/exchange`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRequest {
    /// The CI job's OpenID Connect ID token (a signed JWT).
    #[schema(min_length = 1, max_length = 16384)]
    pub token: String,
    /// The project whose trusts the token is matched against.
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z][a-z0-9-]*$")]
    pub project: String,
}

/// The answer to an exchange: a bearer token for `/api/v1`, scoped to one project.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExchangeResponse {
    /// Send it as `Authorization: Bearer <jwt>`.
    pub jwt: String,
    pub expires_at: DateTime<Utc>,
    pub project: String,
    /// The uid the token acts as (`ci:<project>`).
    pub uid: String,
    /// The trusts the ID token matched.
    pub trusted_publishers: Vec<i64>,
    pub actions: Vec<PublisherAction>,
}
