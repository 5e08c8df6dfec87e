//! Security advisories: a project's CVE records, linked to the releases they affect and those
//! that fix them (`docs/CVES.md`), and their export as OSV JSON for downstream scanners.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::PageInfo;

/// A CVE id: `CVE-`, the year, and a sequence number of at least four digits.
pub const CVE_ID_PATTERN: &str = "^CVE-[0-9]{4}-[0-9]{4,19}$";
/// A CVSS v3.0/v3.1 or v4.0 base vector, every base metric in order, as the OSV schema's
/// `CVSS_V3` and `CVSS_V4` scores are written: `CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H`.
pub const CVSS_PATTERN: &str = "^(CVSS:3\\.[01]/AV:[NALP]/AC:[LH]/PR:[NLH]/UI:[NR]/S:[UC]/C:[HLN]/I:[HLN]/A:[HLN]|CVSS:4\\.0/AV:[NALP]/AC:[LH]/AT:[NP]/PR:[NLH]/UI:[NPA]/VC:[HLN]/VI:[HLN]/VA:[HLN]/SC:[HLN]/SI:[HLN]/SA:[HLN])$";

/// The base metrics of each CVSS version, in their order, with the values each may take.
const CVSS_V3_BASE: [(&str, &str); 8] =
    [("AV", "NALP"), ("AC", "LH"), ("PR", "NLH"), ("UI", "NR"), ("S", "UC"), ("C", "HLN"), ("I", "HLN"), ("A", "HLN")];
const CVSS_V4_BASE: [(&str, &str); 11] = [
    ("AV", "NALP"),
    ("AC", "LH"),
    ("AT", "NP"),
    ("PR", "NLH"),
    ("UI", "NPA"),
    ("VC", "HLN"),
    ("VI", "HLN"),
    ("VA", "HLN"),
    ("SC", "HLN"),
    ("SI", "HLN"),
    ("SA", "HLN"),
];

/// Whether `vector` is a CVSS base vector ([`CVSS_PATTERN`]).
pub fn is_cvss_vector(vector: &str) -> bool {
    let (metrics, base): (&str, &[(&str, &str)]) = match vector.split_once('/') {
        Some(("CVSS:3.0" | "CVSS:3.1", rest)) => (rest, &CVSS_V3_BASE),
        Some(("CVSS:4.0", rest)) => (rest, &CVSS_V4_BASE),
        _ => return false,
    };
    let pairs: Vec<&str> = metrics.split('/').collect();
    pairs.len() == base.len()
        && pairs.iter().zip(base).all(|(pair, (metric, values))| {
            pair.split_once(':').is_some_and(|(m, v)| m == *metric && v.len() == 1 && values.contains(v))
        })
}

/// Whether `id` is a CVE id ([`CVE_ID_PATTERN`]).
pub fn is_cve_id(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("CVE-") else { return false };
    let Some((year, number)) = rest.split_once('-') else { return false };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    year.len() == 4 && digits(year) && (4..=19).contains(&number.len()) && digits(number)
}
/// A release's key: `project/version` or `project/product/version`.
pub const RELEASE_KEY_PATTERN: &str = "^[a-z][a-z0-9-]{0,63}(/[a-z][a-z0-9-]{0,63})?/[0-9][A-Za-z0-9.+_-]{0,63}$";

/// At most 200 release keys.
fn release_keys() -> utoipa::openapi::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::String).pattern(Some(RELEASE_KEY_PATTERN)))
        .max_items(Some(MAX_LINKED))
        .build()
}

/// Releases one record may name as affected, and as fixed.
pub const MAX_LINKED: usize = 200;

crate::named_enum! {
    /// How bad it is, on the Apache Security Team's scale.
    pub enum Severity as "severity" {
        Low = "low",
        Moderate = "moderate",
        Important = "important",
        Critical = "critical",
    }
}

/// `POST /api/v1/projects/{p}/cves`, and `PUT /api/v1/projects/{p}/cves/{id}` (the whole record again).
/// Until `published` has passed the record is embargoed: only the project's PMC and the admins
/// see it, and it is in no export.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CveRequest {
    /// `CVE-2026-12345`; on `PUT`, the id in the URL.
    #[schema(pattern = "^CVE-[0-9]{4}-[0-9]{4,19}$", example = "CVE-2026-12345")]
    pub id: String,
    /// One line, at most 200 characters.
    #[schema(
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
        min_length = 1,
        max_length = 200
    )]
    pub title: String,
    /// What it is and what to do, in several lines if need be (at most 20,000 characters).
    #[serde(default)]
    #[schema(max_length = 20000, pattern = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$")]
    pub description: Option<String>,
    #[serde(default)]
    pub severity: Option<Severity>,
    /// A CVSS v3.x or v4.0 vector.
    #[serde(default)]
    #[schema(
        pattern = "^(CVSS:3\\.[01]/AV:[NALP]/AC:[LH]/PR:[NLH]/UI:[NR]/S:[UC]/C:[HLN]/I:[HLN]/A:[HLN]|CVSS:4\\.0/AV:[NALP]/AC:[LH]/AT:[NP]/PR:[NLH]/UI:[NPA]/VC:[HLN]/VI:[HLN]/VA:[HLN]/SC:[HLN]/SI:[HLN]/SA:[HLN])$"
    )]
    pub cvss_vector: Option<String>,
    /// The public advisory (an https URL).
    #[serde(default)]
    #[schema(pattern = "^https://[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$", max_length = 2000)]
    pub advisory_url: Option<String>,
    /// When it is (or was) made public; absent: embargoed until a later `PUT` sets it.
    #[serde(default)]
    pub published: Option<DateTime<Utc>>,
    /// Releases of the project it affects, as `project/version` (or `project/product/version`);
    /// one the project does not have is 404.
    #[serde(default)]
    #[schema(schema_with = release_keys)]
    pub affected: Vec<String>,
    /// Releases of the project that fix it (none of those it affects).
    #[serde(default)]
    #[schema(schema_with = release_keys)]
    pub fixed: Vec<String>,
}

/// A CVE record as stored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Cve {
    pub id: String,
    pub project: String,
    pub title: String,
    pub description: Option<String>,
    pub severity: Option<Severity>,
    pub cvss_vector: Option<String>,
    pub advisory_url: Option<String>,
    pub published: Option<DateTime<Utc>>,
    /// Not public yet (no `published`, or one still to come).
    pub embargoed: bool,
    /// The releases it affects and those that fix it, as far as you may read them.
    pub affected: Vec<String>,
    pub fixed: Vec<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A project's CVE records, the latest recorded first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CveList {
    pub cves: Vec<Cve>,
    pub page: PageInfo,
}

/// `GET /api/v1/projects/{p}/osv`: the project's public records, each an OSV document
/// (<https://ossf.github.io/osv-schema/>), in the shape of osv.dev's own answers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OsvExport {
    pub vulns: Vec<OsvRecord>,
}

/// One OSV document. Apache source releases belong to no package ecosystem, so `affected`
/// names the project's product and its versions in `database_specific` and `versions`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OsvRecord {
    pub schema_version: String,
    pub id: String,
    pub modified: DateTime<Utc>,
    pub published: DateTime<Utc>,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<OsvSeverity>,
    pub affected: Vec<OsvAffected>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<OsvReference>,
    /// `{"project", "severity"?}`: the project and its severity rating.
    pub database_specific: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OsvSeverity {
    /// `CVSS_V3` or `CVSS_V4`.
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

/// The versions of one product it affects, and those that fix it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OsvAffected {
    pub versions: Vec<String>,
    /// `{"project", "product", "fixed": [versions]}`.
    pub database_specific: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OsvReference {
    /// `ADVISORY` for the advisory, `PACKAGE` for a fixed release's downloads.
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grammar's hand-written checks accept exactly what the documented patterns do.
    fn agrees(pattern: &str, check: fn(&str) -> bool, good: &[&str], bad: &[&str]) {
        let regex = regex::Regex::new(pattern).expect("the documented pattern compiles");
        for value in good {
            assert!(check(value) && regex.is_match(value), "{value} is accepted");
        }
        for value in bad {
            assert!(!check(value) && !regex.is_match(value), "{value} is refused");
        }
    }

    #[test]
    fn cve_ids_follow_their_grammar() {
        agrees(
            CVE_ID_PATTERN,
            is_cve_id,
            &["CVE-2026-1234", "CVE-1999-0001", "CVE-2026-1234567890123456789"],
            &["CVE-2026-123", "cve-2026-1234", "CVE-26-1234", "CVE-2026-12a4", "CVE-2026-1234-", "GHSA-2026-1234", ""],
        );
    }

    #[test]
    fn cvss_vectors_are_whole_v3_or_v4_base_vectors() {
        agrees(
            CVSS_PATTERN,
            is_cvss_vector,
            &[
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "CVSS:3.0/AV:L/AC:H/PR:L/UI:R/S:C/C:L/I:N/A:N",
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            ],
            &[
                "CVSS:2.0/AV:N",
                "AV:N/AC:L",
                "CVSS:3.1/",
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
                "CVSS:3.1/AC:L/AV:N/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P",
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H",
            ],
        );
    }
}
