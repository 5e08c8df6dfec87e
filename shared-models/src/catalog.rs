//! Where released bytes went (distribution records, `docs/DISTRIBUTION.md`), and the public
//! catalog of current releases that mirrors and downstream tools read as one document.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::{PageInfo, VoteOutcome};

crate::named_enum! {
    /// Where a release was distributed besides this server's download tree.
    pub enum Channel as "channel" {
        MavenCentral = "maven_central",
        Pypi = "pypi",
        Npm = "npm",
        DockerHub = "docker_hub",
        ArtifactHub = "artifact_hub",
        GithubReleases = "github_releases",
        Other = "other",
    }
}

crate::named_enum! {
    /// What is known of a distribution: only that someone recorded it, or what a check of the
    /// channel found.
    pub enum DistributionStatus as "distribution status" {
        Recorded = "recorded",
        Verified = "verified",
        Mismatch = "mismatch",
        Unreachable = "unreachable",
    }
}

/// `POST /api/v1/releases/{p}/{v}/distributions`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDistribution {
    pub channel: Channel,
    /// Where the channel serves it: an http(s) URL, or the channel's coordinates
    /// (`org.apache.commons:commons-lang3:3.18.0`); no white space, at most 500 characters, no
    /// other URL scheme (`ftp://`, `javascript:`, `data:`, `file:`).
    #[schema(
        pattern = "^(?![A-Za-z][A-Za-z0-9+.-]*://)(?![Jj][Aa][Vv][Aa][Ss][Cc][Rr][Ii][Pp][Tt]:|[Dd][Aa][Tt][Aa]:|[Ff][Ii][Ll][Ee]:|[Vv][Bb][Ss][Cc][Rr][Ii][Pp][Tt]:)[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$|^[Hh][Tt][Tt][Pp][Ss]?://[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$",
        min_length = 1,
        max_length = 500
    )]
    pub url: String,
}

/// A record of where a release was distributed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Distribution {
    pub id: i64,
    /// `project/version` (or `project/product/version`).
    pub release: String,
    pub channel: Channel,
    pub url: String,
    pub status: DistributionStatus,
    /// What the last check of the channel found, in a sentence.
    pub detail: Option<String>,
    pub checked_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DistributionList {
    pub distributions: Vec<Distribution>,
}

/// `GET /api/v1/catalog`: every current release, newest release first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Catalog {
    pub releases: Vec<CatalogRelease>,
    pub page: PageInfo,
}

/// One current release: exactly the bytes that were voted on and published, and what is known
/// about them since.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CatalogRelease {
    /// `project/version` (or `project/product/version`).
    pub release: String,
    pub project: String,
    pub product: String,
    pub version: String,
    pub revision: i64,
    pub released_at: Option<DateTime<Utc>>,
    /// The hex SHA-256 over the voted revision's files (`API.md`).
    pub manifest_digest: Option<String>,
    pub vote_outcome: Option<VoteOutcome>,
    /// The download folder's URL.
    pub url: String,
    pub files: Vec<CatalogFile>,
    /// Public CVE records naming this release.
    pub cves_fixed: Vec<String>,
    pub cves_affecting: Vec<String>,
    pub distributions: Vec<Distribution>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CatalogFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub sha512: String,
    pub url: String,
    /// Fingerprints of the keys whose signatures over this file the checks verified.
    pub signers: Vec<String>,
}
