//! A release's SBOM as data (`GET /api/v1/releases/{p}/{v}/sbom`): its components, what changed
//! since the previous release's SBOM, and the known vulnerabilities of its components.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One component of a CycloneDX SBOM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SbomComponent {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Its package URL (`pkg:maven/org.apache.commons/commons-text@1.10.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    /// SPDX ids, licence names or expressions, as the document gives them.
    #[serde(default)]
    pub licenses: Vec<String>,
}

/// A component whose versions or licences differ between two SBOMs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SbomChange {
    /// What makes it the same component in both: its package URL without the version, or its
    /// group and name.
    pub identity: String,
    pub name: String,
    pub from: Vec<String>,
    pub to: Vec<String>,
}

/// What changed since the previous release's SBOM.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SbomDiff {
    pub added: Vec<SbomComponent>,
    pub removed: Vec<SbomComponent>,
    pub version_changed: Vec<SbomChange>,
    pub license_changed: Vec<SbomChange>,
}

/// A known vulnerability of one component, from the operator's OSV data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KnownVulnerability {
    /// The OSV id (`GHSA-…`, `CVE-…`, `PYSEC-…`).
    pub id: String,
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The component's package URL, as the SBOM gives it.
    pub purl: String,
    pub version: String,
    /// The versions that fix it, lowest first (empty: no fix is known).
    pub fixed: Vec<String>,
}

/// Which file of which release an SBOM is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SbomFile {
    /// `project/version` or `project/product/version`.
    pub release: String,
    pub revision: i64,
    pub path: String,
    pub sha256: String,
}

/// The OSV data the vulnerabilities come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OsvData {
    /// Whether the operator configured a dump (`DATASTORE_OSV_DIR`); without one, no
    /// vulnerability is ever listed.
    pub configured: bool,
    /// OSV records read.
    pub records: u64,
    /// When the dump was read (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loaded_at: Option<String>,
}

/// `GET /api/v1/releases/{p}/{v}/sbom`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReleaseSbom {
    pub file: SbomFile,
    /// The document's `specVersion`.
    pub spec_version: String,
    pub components: Vec<SbomComponent>,
    /// The SBOM of the release before this one (the newest earlier release of the same product
    /// whose vote passed and that has one), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<SbomFile>,
    /// What changed since `previous`; absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<SbomDiff>,
    pub vulnerabilities: Vec<KnownVulnerability>,
    pub osv: OsvData,
}

/// `POST …/sbom/generate`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateSbomRequest {
    /// A source archive of the draft's latest revision.
    #[schema(min_length = 1, max_length = 1024, example = "apache-tooling-0.2-src.tar.gz")]
    pub file: String,
}
