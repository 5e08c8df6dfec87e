//! CHECKS.md B1: an uploaded CycloneDX JSON SBOM is validated against the official schema of
//! the version it declares, then scored against the NTIA minimum elements.
//!
//! The schemas (1.4 to 1.7, with the SPDX licence list, JSF signature and cryptography
//! definitions they reference) are compiled into the binary, so validation never reaches the
//! network. An invalid document is a `failure`; each missing minimum element is a `warning`.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::Value;

use crate::artifacts::{checker, file_name};
use crate::report::{Input, Report};

/// The largest SBOM read: real ones of large projects reach a few MB.
pub const MAX_BYTES: u64 = 64 << 20;

/// How many schema errors one result lists (the count says how many there were).
const ERRORS_SHOWN: usize = 10;

/// How many component names a per-component warning lists.
const NAMES_SHOWN: usize = 5;

/// Whether a release file is a CycloneDX JSON SBOM, by its name: `*.cdx.json` or `bom.json`.
pub fn is_sbom(path: &str) -> bool {
    let name = file_name(path).to_ascii_lowercase();
    name.ends_with(".cdx.json") || name == "bom.json"
}

const BASE: &str = "http://cyclonedx.org/schema/";

/// The schemas, by the file name their `$id` and references use.
const SCHEMAS: [(&str, &str); 7] = [
    ("bom-1.4.schema.json", include_str!("cyclonedx/bom-1.4.schema.json")),
    ("bom-1.5.schema.json", include_str!("cyclonedx/bom-1.5.schema.json")),
    ("bom-1.6.schema.json", include_str!("cyclonedx/bom-1.6.schema.json")),
    ("bom-1.7.schema.json", include_str!("cyclonedx/bom-1.7.schema.json")),
    ("spdx.schema.json", include_str!("cyclonedx/spdx.schema.json")),
    ("jsf-0.82.schema.json", include_str!("cyclonedx/jsf-0.82.schema.json")),
    ("cryptography-defs.schema.json", include_str!("cyclonedx/cryptography-defs.schema.json")),
];

/// The spec versions validated, newest last.
pub const VERSIONS: [&str; 4] = ["1.4", "1.5", "1.6", "1.7"];

/// Versions that exist but that this checker does not validate (their JSON schemas differ in
/// ways real tools no longer produce): a warning, not a failure.
const OLDER_VERSIONS: [&str; 4] = ["1.0", "1.1", "1.2", "1.3"];

struct Validators {
    schemas: boon::Schemas,
    indices: Vec<(&'static str, boon::SchemaIndex)>,
}

/// The compiled schemas, built on first use (about 0.1 s) and shared by every check after.
fn validators() -> &'static Result<Validators, String> {
    static VALIDATORS: OnceLock<Result<Validators, String>> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        let mut compiler = boon::Compiler::new();
        for (name, text) in SCHEMAS {
            let json: Value = serde_json::from_str(text).map_err(|e| format!("{name}: {e}"))?;
            compiler.add_resource(&format!("{BASE}{name}"), json).map_err(|e| format!("{name}: {e}"))?;
        }
        let mut schemas = boon::Schemas::new();
        let mut indices = Vec::new();
        for version in VERSIONS {
            let url = format!("{BASE}bom-{version}.schema.json");
            let index = compiler.compile(&url, &mut schemas).map_err(|e| format!("{url}: {e:#}"))?;
            indices.push((version, index));
        }
        Ok(Validators { schemas, indices })
    })
}

/// One schema violation: where in the document, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// A JSON pointer into the document (`/components/3/type`); empty for the root.
    pub at: String,
    pub message: String,
}

/// Validates `document` against the schema of CycloneDX `version` (one of [`VERSIONS`]).
/// `Ok(violations)`, empty when valid; `Err` when the version is unknown or the schemas
/// could not be compiled.
pub fn validate(document: &Value, version: &str) -> Result<Vec<Violation>, String> {
    let validators = validators().as_ref().map_err(Clone::clone)?;
    let Some((_, index)) = validators.indices.iter().find(|(v, _)| *v == version) else {
        return Err(format!("CycloneDX {version} is not one of the versions validated ({})", VERSIONS.join(", ")));
    };
    let Err(error) = validators.schemas.validate(document, *index) else {
        return Ok(Vec::new());
    };
    let mut violations = Vec::new();
    leaves(&error, &mut violations);
    violations.dedup();
    Ok(violations)
}

/// The innermost errors of a validation error tree: the ones that say what is wrong.
fn leaves(error: &boon::ValidationError<'_, '_>, into: &mut Vec<Violation>) {
    if error.causes.is_empty() {
        into.push(Violation { at: error.instance_location.to_string(), message: error.kind.to_string() });
    }
    for cause in &error.causes {
        leaves(cause, into);
    }
}

/// Runs the `sbom` check on one file.
pub fn check(input: &Input) -> Vec<shared_models::checks::CheckResult> {
    let mut report = Report::new(checker::SBOM, &input.path);
    let bytes = match input.read_small(MAX_BYTES) {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(size)) => {
            report.failure("B1", format!("the SBOM is {size} bytes; at most {MAX_BYTES} are read")).data("size", size);
            return report.finish();
        }
        Err(e) => {
            report.error("B1", format!("cannot read the SBOM: {e}"));
            return report.finish();
        }
    };
    let document: Value = match serde_json::from_slice(&bytes) {
        Ok(document) => document,
        Err(e) => {
            report.failure("B1", format!("not a JSON document: {e}"));
            return report.finish();
        }
    };
    if document.get("bomFormat").and_then(Value::as_str) != Some("CycloneDX") {
        report.failure("B1", "not a CycloneDX document: `bomFormat` must be \"CycloneDX\"");
        return report.finish();
    }
    let Some(version) = document.get("specVersion").and_then(Value::as_str) else {
        report.failure("B1", "the document names no `specVersion`, so no schema can judge it");
        return report.finish();
    };
    if OLDER_VERSIONS.contains(&version) {
        report
            .warning(
                "B1",
                format!(
                    "CycloneDX {version} is older than the versions validated ({}); the document was not validated",
                    VERSIONS.join(", ")
                ),
            )
            .data("spec_version", version);
    } else {
        match validate(&document, version) {
            Ok(violations) if violations.is_empty() => {
                report.success("B1", format!("valid CycloneDX {version}")).data("spec_version", version);
            }
            Ok(violations) => {
                let shown: Vec<String> = violations
                    .iter()
                    .take(ERRORS_SHOWN)
                    .map(|v| format!("at {}: {}", if v.at.is_empty() { "/" } else { &v.at }, v.message))
                    .collect();
                let more = violations.len().saturating_sub(ERRORS_SHOWN);
                let tail = if more > 0 { format!("; and {more} more") } else { String::new() };
                report
                    .failure(
                        "B1",
                        format!(
                            "not valid CycloneDX {version} ({} error(s)): {}{tail}",
                            violations.len(),
                            shown.join("; ")
                        ),
                    )
                    .data("spec_version", version)
                    .data("errors", violations.len());
                return report.finish();
            }
            Err(e) => {
                report.failure("B1", e).data("spec_version", version);
                return report.finish();
            }
        }
    }
    score_ntia(&document, &mut report);
    report.finish()
}

/// The NTIA minimum elements (The Minimum Elements For a Software Bill of Materials, 2021), as
/// CycloneDX carries them. A warning names each one missing, with the components that lack it.
fn score_ntia(document: &Value, report: &mut Report) {
    let metadata = document.get("metadata");
    let text = |value: Option<&Value>| value.and_then(Value::as_str).is_some_and(|s| !s.trim().is_empty());
    let non_empty = |value: Option<&Value>| value.and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    let mut missing = Vec::new();

    if !text(metadata.and_then(|m| m.get("timestamp"))) {
        missing.push("timestamp");
        report.warning("B1", "NTIA timestamp: `metadata.timestamp` is missing").data("element", "timestamp");
    }
    let authored = non_empty(metadata.and_then(|m| m.get("authors")))
        || metadata.and_then(|m| m.get("manufacturer")).is_some_and(Value::is_object)
        || metadata.and_then(|m| m.get("manufacture")).is_some_and(Value::is_object);
    if !authored {
        missing.push("author");
        report
            .warning("B1", "NTIA author of the SBOM data: `metadata.authors` is missing or empty")
            .data("element", "author");
    }
    if !non_empty(document.get("dependencies")) {
        missing.push("dependency relationship");
        report
            .warning("B1", "NTIA dependency relationship: the document has no `dependencies`")
            .data("element", "dependency relationship");
    }

    let mut components = Vec::new();
    components.extend(metadata.and_then(|m| m.get("component")));
    collect_components(document.get("components"), &mut components);
    // The document's own supplier (`metadata.supplier`) supplies its primary component.
    let primary = metadata.and_then(|m| m.get("component"));
    let bom_supplier = text(metadata.and_then(|m| m.get("supplier")).and_then(|s| s.get("name")));
    let supplied = |c: &Value| {
        text(c.get("supplier").and_then(|s| s.get("name")))
            || bom_supplier && primary.is_some_and(|p| std::ptr::eq(p, c))
    };
    let per_component: [(&str, &str, &ComponentTest<'_>); 4] = [
        ("supplier", "`supplier.name`", &supplied),
        ("name", "`name`", &|c: &Value| text(c.get("name"))),
        ("version", "`version`", &|c: &Value| text(c.get("version"))),
        ("unique identifier", "a `purl`, `cpe` or `swid`", &|c: &Value| {
            text(c.get("purl")) || text(c.get("cpe")) || c.get("swid").is_some_and(Value::is_object)
        }),
    ];
    for (element, field, has) in per_component {
        let lacking: Vec<&Value> = components.iter().copied().filter(|c| !has(c)).collect();
        if lacking.is_empty() {
            continue;
        }
        missing.push(element);
        let names: BTreeSet<&str> =
            lacking.iter().map(|c| c.get("name").and_then(Value::as_str).unwrap_or("(unnamed)")).collect();
        let shown: Vec<&str> = names.iter().copied().take(NAMES_SHOWN).collect();
        let more = names.len().saturating_sub(NAMES_SHOWN);
        let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
        report
            .warning(
                "B1",
                format!(
                    "NTIA {element}: {} of {} component(s) have no {field}: {}{tail}",
                    lacking.len(),
                    components.len(),
                    shown.join(", ")
                ),
            )
            .data("element", element)
            .data("components", lacking.len());
    }
    if components.is_empty() {
        missing.push("components");
        report.warning("B1", "NTIA: the document lists no components").data("element", "components");
    }
    if missing.is_empty() {
        report
            .success("B1", format!("every NTIA minimum element is present ({} component(s))", components.len()))
            .data("components", components.len());
    }
}

/// Whether a component has one NTIA element.
type ComponentTest<'a> = dyn Fn(&Value) -> bool + 'a;

/// Every component, nested ones too, depth first.
fn collect_components<'a>(list: Option<&'a Value>, into: &mut Vec<&'a Value>) {
    for component in list.and_then(Value::as_array).into_iter().flatten() {
        into.push(component);
        collect_components(component.get("components"), into);
    }
}

pub use shared_models::sbom::{SbomChange as Change, SbomComponent as Component, SbomDiff as Diff};

/// What makes two components of two SBOMs "the same component": the package URL without its
/// version, qualifiers and subpath; else the group and name.
pub fn identity(component: &Component) -> String {
    match component.purl.as_deref().and_then(crate::osv::Purl::parse) {
        Some(purl) => purl.without_version(),
        None => match &component.group {
            Some(group) => format!("{group}/{}", component.name),
            None => component.name.clone(),
        },
    }
}

/// Every component of a CycloneDX document (`metadata.component` first, nested ones too),
/// without duplicates.
pub fn components(document: &Value) -> Vec<Component> {
    let mut all = Vec::new();
    all.extend(document.get("metadata").and_then(|m| m.get("component")));
    collect_components(document.get("components"), &mut all);
    let text = |c: &Value, key: &str| c.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut seen = BTreeSet::new();
    all.into_iter()
        .filter_map(|c| {
            let name = text(c, "name")?;
            let licenses = c
                .get("licenses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|l| {
                    let license = l.get("license");
                    license
                        .and_then(|x| x.get("id").or_else(|| x.get("name")))
                        .or_else(|| l.get("expression"))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .collect();
            let component = Component {
                name,
                group: text(c, "group"),
                version: text(c, "version"),
                purl: text(c, "purl"),
                licenses,
            };
            seen.insert((identity(&component), component.version.clone())).then_some(component)
        })
        .collect()
}

/// Compares two component lists by [`Component::identity`]. A component present in several
/// versions on one side is compared by its set of versions.
pub fn diff(previous: &[Component], current: &[Component]) -> Diff {
    use std::collections::BTreeMap;
    let group = |list: &[Component]| {
        let mut by: BTreeMap<String, Vec<Component>> = BTreeMap::new();
        for component in list {
            by.entry(identity(component)).or_default().push(component.clone());
        }
        by
    };
    let (before, after) = (group(previous), group(current));
    let mut diff = Diff::default();
    for (identity, now) in &after {
        let Some(then) = before.get(identity) else {
            diff.added.extend(now.iter().cloned());
            continue;
        };
        let versions = |list: &[Component]| -> Vec<String> {
            let set: BTreeSet<String> = list.iter().filter_map(|c| c.version.clone()).collect();
            set.into_iter().collect()
        };
        let licences = |list: &[Component]| -> Vec<String> {
            let set: BTreeSet<String> = list.iter().flat_map(|c| c.licenses.iter().cloned()).collect();
            set.into_iter().collect()
        };
        let name = now[0].name.clone();
        if versions(then) != versions(now) {
            diff.version_changed.push(Change {
                identity: identity.clone(),
                name: name.clone(),
                from: versions(then),
                to: versions(now),
            });
        }
        if licences(then) != licences(now) {
            diff.license_changed.push(Change {
                identity: identity.clone(),
                name,
                from: licences(then),
                to: licences(now),
            });
        }
    }
    for (identity, then) in &before {
        if !after.contains_key(identity) {
            diff.removed.extend(then.iter().cloned());
        }
    }
    diff
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared_models::checks::CheckStatus;

    fn run(document: &Value) -> Vec<(CheckStatus, String)> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bom.json");
        std::fs::write(&file, serde_json::to_vec(document).unwrap()).unwrap();
        check(&Input::new("app-1.0.cdx.json", file)).into_iter().map(|r| (r.status, r.message)).collect()
    }

    fn complete() -> Value {
        json!({
            "bomFormat": "CycloneDX",
            "specVersion": "1.6",
            "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
            "version": 1,
            "metadata": {
                "timestamp": "2026-11-30T12:00:00Z",
                "authors": [{"name": "Release Manager"}],
                "component": {
                    "type": "application", "bom-ref": "app", "name": "app", "version": "1.0",
                    "supplier": {"name": "The Apache Software Foundation"},
                    "purl": "pkg:maven/org.apache/app@1.0"
                }
            },
            "components": [{
                "type": "library", "bom-ref": "lib", "name": "commons-io", "version": "2.16.1",
                "supplier": {"name": "The Apache Software Foundation"},
                "purl": "pkg:maven/commons-io/commons-io@2.16.1"
            }],
            "dependencies": [{"ref": "app", "dependsOn": ["lib"]}, {"ref": "lib"}]
        })
    }

    #[test]
    fn recognises_sbom_names() {
        assert!(is_sbom("dist/app-1.0.cdx.json"));
        assert!(is_sbom("APP.CDX.JSON"));
        assert!(is_sbom("sub/bom.json"));
        assert!(!is_sbom("sbom.json.asc"));
        assert!(!is_sbom("notabom.json"));
    }

    #[test]
    fn a_complete_document_passes_both_parts() {
        let results = run(&complete());
        assert_eq!(results.len(), 2, "{results:?}");
        assert!(results.iter().all(|(s, _)| *s == CheckStatus::Success), "{results:?}");
        assert_eq!(results[0].1, "valid CycloneDX 1.6");
        assert!(results[1].1.contains("2 component(s)"), "{results:?}");
    }

    #[test]
    fn each_missing_minimum_element_is_one_warning() {
        let mut document = complete();
        document["metadata"].as_object_mut().unwrap().remove("timestamp");
        document["metadata"].as_object_mut().unwrap().remove("authors");
        document.as_object_mut().unwrap().remove("dependencies");
        let component = document["components"][0].as_object_mut().unwrap();
        component.remove("supplier");
        component.remove("purl");
        component.remove("version");
        let results = run(&document);
        assert_eq!(results[0], (CheckStatus::Success, "valid CycloneDX 1.6".into()));
        let warnings: Vec<&str> =
            results.iter().filter(|(s, _)| *s == CheckStatus::Warning).map(|(_, m)| m.as_str()).collect();
        assert_eq!(warnings.len(), 6, "{warnings:?}");
        for expected in [
            "NTIA timestamp",
            "NTIA author",
            "NTIA dependency relationship",
            "NTIA supplier: 1 of 2 component(s) have no `supplier.name`: commons-io",
            "NTIA version: 1 of 2",
            "NTIA unique identifier: 1 of 2",
        ] {
            assert!(warnings.iter().any(|w| w.starts_with(expected)), "no {expected:?} in {warnings:?}");
        }
        assert!(!results.iter().any(|(s, _)| *s == CheckStatus::Failure), "{results:?}");
    }

    #[test]
    fn an_invalid_document_fails_and_says_where() {
        let mut document = complete();
        document["components"][0]["type"] = json!("spaceship");
        let results = run(&document);
        assert_eq!(results.len(), 1, "no NTIA score for an invalid document: {results:?}");
        assert_eq!(results[0].0, CheckStatus::Failure);
        assert!(results[0].1.starts_with("not valid CycloneDX 1.6"), "{}", results[0].1);
        assert!(results[0].1.contains("/components/0/type"), "{}", results[0].1);
    }

    #[test]
    fn what_is_not_a_cyclonedx_document_fails() {
        for (document, expected) in [
            (json!({"spdxVersion": "SPDX-2.3"}), "not a CycloneDX document"),
            (json!({"bomFormat": "CycloneDX"}), "names no `specVersion`"),
            (json!({"bomFormat": "CycloneDX", "specVersion": "9.9"}), "CycloneDX 9.9 is not one of"),
        ] {
            let results = run(&document);
            assert_eq!(results.len(), 1, "{results:?}");
            assert_eq!(results[0].0, CheckStatus::Failure, "{results:?}");
            assert!(results[0].1.contains(expected), "{results:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bom.json");
        std::fs::write(&file, b"{\"bomFormat\": \"CycloneDX\", ").unwrap();
        let results = check(&Input::new("bom.json", file));
        assert_eq!(results[0].status, CheckStatus::Failure);
        assert!(results[0].message.starts_with("not a JSON document"), "{}", results[0].message);
    }

    #[test]
    fn an_older_version_is_a_warning_and_still_scored() {
        let mut document = complete();
        document["specVersion"] = json!("1.3");
        let results = run(&document);
        assert_eq!(results[0].0, CheckStatus::Warning, "{results:?}");
        assert!(results[0].1.contains("was not validated"), "{results:?}");
        assert_eq!(results[1].0, CheckStatus::Success, "{results:?}");
    }

    /// The specification's own test documents: every `valid-*` passes its version's schema and
    /// every `invalid-*` fails it.
    #[test]
    fn agrees_with_the_specification_test_suite() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cyclonedx");
        let mut seen = (0, 0);
        for version in VERSIONS {
            let mut files: Vec<_> = std::fs::read_dir(root.join(version)).unwrap().map(|e| e.unwrap().path()).collect();
            files.sort();
            for file in files {
                let name = file.file_stem().unwrap().to_string_lossy().into_owned();
                let document: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
                let violations = validate(&document, version).unwrap();
                if name.starts_with("valid-") {
                    assert!(violations.is_empty(), "{version}/{name} is valid but: {violations:?}");
                    seen.0 += 1;
                } else {
                    assert!(!violations.is_empty(), "{version}/{name} is invalid but passed");
                    seen.1 += 1;
                }
            }
        }
        assert!(seen.0 > 150 && seen.1 > 40, "too few documents: {seen:?}");
    }

    #[test]
    fn components_and_their_diff() {
        let previous = complete();
        let mut current = complete();
        current["components"][0]["version"] = json!("2.17.0");
        current["components"][0]["purl"] = json!("pkg:maven/commons-io/commons-io@2.17.0");
        current["components"][0]["licenses"] = json!([{"license": {"id": "Apache-2.0"}}]);
        current["components"].as_array_mut().unwrap().push(json!({
            "type": "library", "name": "jackson-core", "group": "com.fasterxml.jackson.core", "version": "2.18.0"
        }));
        let (before, after) = (components(&previous), components(&current));
        assert_eq!(before.len(), 2);
        assert_eq!(identity(&after[1]), "pkg:maven/commons-io/commons-io");
        assert_eq!(identity(&after[2]), "com.fasterxml.jackson.core/jackson-core");
        let diff = diff(&before, &after);
        assert_eq!(diff.added.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["jackson-core"]);
        assert!(diff.removed.is_empty());
        assert_eq!(diff.version_changed.len(), 1);
        assert_eq!(
            (diff.version_changed[0].from.clone(), diff.version_changed[0].to.clone()),
            (vec!["2.16.1".to_owned()], vec!["2.17.0".to_owned()])
        );
        assert_eq!(diff.license_changed[0].to, ["Apache-2.0"]);
        let back = super::diff(&after, &before);
        assert_eq!(back.removed.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["jackson-core"]);
    }
}
