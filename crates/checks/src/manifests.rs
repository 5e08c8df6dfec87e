//! A CycloneDX SBOM made from the dependency manifests a source archive holds (`docs/SBOM.md`):
//! `Cargo.lock`, `package-lock.json` / `npm-shrinkwrap.json`, `pom.xml` (its declared
//! dependencies), `requirements.txt`, `poetry.lock`, `pyproject.toml` (pinned dependencies) and
//! `go.sum`, each dependency a component with its package URL. Lock files name exact versions;
//! a manifest that only constrains one (`requests>=2`) gives a component without a version,
//! which the `sbom` check's NTIA scoring then reports. Manifests of vendored code
//! (`node_modules/`, `vendor/`, `target/`) are not the project's and are left out.
//!
//! Every input is hostile: the archive is read by the walker under the task's limits, each
//! manifest up to [`MANIFEST_BYTES`], at most [`MAX_MANIFESTS`] of them, and a manifest that does
//! not parse is named in `skipped`, never fatal.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::ops::ControlFlow;

use serde_json::{Value, json};

use crate::archive::{self, MemberKind};
use crate::report::{Input, Limits};

/// The most read of one manifest.
pub const MANIFEST_BYTES: u64 = 16 << 20;
/// The most manifests read from one archive.
pub const MAX_MANIFESTS: usize = 200;
/// The most bytes of manifests read from one archive, in all.
pub const TOTAL_BYTES: u64 = 64 << 20;
/// The most components one SBOM lists.
pub const MAX_COMPONENTS: usize = 100_000;

/// One dependency found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dependency {
    /// The package URL's type: `cargo`, `npm`, `maven`, `pypi`, `golang`.
    pub ecosystem: &'static str,
    /// Maven's group, npm's scope (without `@`), Go's module path before its last segment.
    pub namespace: Option<String>,
    pub name: String,
    pub version: Option<String>,
}

impl Dependency {
    fn new(ecosystem: &'static str, namespace: Option<String>, name: &str, version: Option<&str>) -> Self {
        let version = version.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        Self { ecosystem, namespace, name: name.trim().to_owned(), version }
    }

    /// `pkg:type/namespace/name@version`, each part percent-encoded (purl-spec).
    pub fn purl(&self) -> String {
        let mut purl = format!("pkg:{}/", self.ecosystem);
        if let Some(namespace) = &self.namespace {
            for segment in namespace.split('/') {
                purl.push_str(&encode(segment));
                purl.push('/');
            }
        }
        purl.push_str(&encode(&self.name));
        if let Some(version) = &self.version {
            purl.push('@');
            purl.push_str(&encode(version));
        }
        purl
    }
}

/// What a purl part keeps as it is (purl-spec): unreserved characters and `+`.
const PURL_KEPT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'+');

/// Percent-encodes what a purl part may not hold as it is.
fn encode(part: &str) -> String {
    percent_encoding::utf8_percent_encode(part, PURL_KEPT).to_string()
}

/// What [`generate`] made.
#[derive(Debug, Clone)]
pub struct Generated {
    pub document: Value,
    /// The manifests read, by their paths in the archive.
    pub manifests: Vec<String>,
    pub components: usize,
    /// Manifests that could not be read, each with why.
    pub skipped: Vec<String>,
}

/// A manifest's reader: its dependencies, or why it cannot be read.
type Parser = fn(&str) -> Result<Vec<Dependency>, String>;

/// The manifest kind of an archive member's file name, if it is one.
fn manifest_kind(name: &str) -> Option<Parser> {
    Some(match name {
        "Cargo.lock" => cargo_lock,
        "package-lock.json" | "npm-shrinkwrap.json" => npm_lock,
        "pom.xml" => pom,
        "requirements.txt" => requirements,
        "poetry.lock" => poetry_lock,
        "pyproject.toml" => pyproject,
        "go.sum" => go_sum,
        _ => return None,
    })
}

/// Whether a member's path is inside vendored or built code.
fn vendored(path: &str) -> bool {
    path.split('/').any(|segment| matches!(segment, "node_modules" | "vendor" | "target" | ".git"))
}

/// Reads the manifests of `input` and makes a CycloneDX 1.6 document describing `subject`
/// (name and version) and its dependencies. `timestamp` (RFC 3339) and `serial` (a UUID) are the
/// caller's, so the same inputs make the same document.
pub fn generate(
    input: &Input,
    subject: (&str, &str),
    timestamp: &str,
    serial: &str,
    limits: &Limits,
) -> Result<Generated, String> {
    let mut found: Vec<(String, Result<Vec<Dependency>, String>)> = Vec::new();
    let mut left_out = 0usize;
    let mut read_in_all = 0u64;
    let walked = archive::walk(input, limits, |member, reader| {
        if limits.expired() {
            return ControlFlow::Break(());
        }
        if member.kind != MemberKind::File || member.is_apple_double() || vendored(&member.path) {
            return ControlFlow::Continue(());
        }
        let Some(parse) = manifest_kind(member.name()) else { return ControlFlow::Continue(()) };
        if found.len() >= MAX_MANIFESTS || read_in_all + member.size > TOTAL_BYTES {
            left_out += 1;
            return ControlFlow::Continue(());
        }
        read_in_all += member.size.min(MANIFEST_BYTES);
        let mut bytes = Vec::new();
        let read = reader.take(MANIFEST_BYTES + 1).read_to_end(&mut bytes);
        let parsed = match (read, String::from_utf8(bytes)) {
            (Err(e), _) => Err(format!("cannot be read: {e}")),
            (Ok(n), _) if n as u64 > MANIFEST_BYTES => Err(format!("is larger than {MANIFEST_BYTES} bytes")),
            (Ok(_), Err(_)) => Err("is not UTF-8".to_owned()),
            (Ok(_), Ok(text)) => parse(&text),
        };
        found.push((member.path.clone(), parsed));
        ControlFlow::Continue(())
    });
    let walked = walked.map_err(|e| format!("{} cannot be read to its end: {e}", input.path))?;
    if !walked.complete || limits.expired() {
        return Err(format!("{} was not read to its end: the task's time ran out", input.path));
    }
    let mut manifests = Vec::new();
    let mut skipped = Vec::new();
    if left_out > 0 {
        skipped.push(format!(
            "{left_out} more manifest(s) past the first {MAX_MANIFESTS} or {TOTAL_BYTES} bytes were not read"
        ));
    }
    let mut dependencies: BTreeSet<Dependency> = BTreeSet::new();
    for (path, parsed) in found {
        match parsed {
            Ok(list) => {
                dependencies.extend(list);
                manifests.push(path);
            }
            Err(why) => skipped.push(format!("{path} {why}")),
        }
    }
    if dependencies.len() > MAX_COMPONENTS {
        return Err(format!("the manifests name {} dependencies, more than {MAX_COMPONENTS}", dependencies.len()));
    }
    let (name, version) = subject;
    let components: Vec<Value> = dependencies
        .iter()
        .map(|d| {
            let mut component = json!({"type": "library", "bom-ref": d.purl(), "name": d.name, "purl": d.purl()});
            if let Some(namespace) = d.namespace.as_ref().filter(|_| d.ecosystem == "maven") {
                component["group"] = json!(namespace);
            }
            if let Some(version) = &d.version {
                component["version"] = json!(version);
            }
            component
        })
        .collect();
    let root = format!("{name}@{version}");
    let document = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{serial}"),
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": {"components": [{"type": "application", "name": "trusted-releases",
                "version": env!("CARGO_PKG_VERSION")}]},
            "component": {"type": "application", "bom-ref": root, "name": name, "version": version},
            "properties": manifests.iter().map(|m| json!({"name": "trusted-releases:manifest", "value": m})).collect::<Vec<_>>(),
        },
        "components": components,
        "dependencies": [{"ref": root, "dependsOn": dependencies.iter().map(Dependency::purl).collect::<Vec<_>>()}],
    });
    Ok(Generated { document, components: dependencies.len(), manifests, skipped })
}

/// The `key = "value"` of a TOML line (the plain strings lock files write).
fn toml_string<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = line.trim().strip_prefix(key)?.trim_start().strip_prefix('=')?.trim();
    rest.strip_prefix('"')?.strip_suffix('"')
}

/// The `[[package]]` tables of a lock file (Cargo's, Poetry's): their name, version and source.
fn toml_packages(text: &str) -> Vec<BTreeMap<&'static str, String>> {
    let mut packages = Vec::new();
    let mut current: Option<BTreeMap<&'static str, String>> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            packages.extend(current.take());
            if trimmed == "[[package]]" {
                current = Some(BTreeMap::new());
            }
            continue;
        }
        if let Some(package) = current.as_mut() {
            for key in ["name", "version", "source"] {
                if let Some(value) = toml_string(trimmed, key) {
                    package.insert(key, value.to_owned());
                }
            }
        }
    }
    packages.extend(current);
    packages
}

/// `Cargo.lock`: the packages from a registry or git (the workspace's own have no source).
pub fn cargo_lock(text: &str) -> Result<Vec<Dependency>, String> {
    if !text.contains("[[package]]") {
        return Err("holds no [[package]]".to_owned());
    }
    Ok(toml_packages(text)
        .into_iter()
        .filter(|p| p.contains_key("source"))
        .filter_map(|p| Some(Dependency::new("cargo", None, p.get("name")?, p.get("version").map(String::as_str))))
        .collect())
}

/// `poetry.lock`: every locked package.
pub fn poetry_lock(text: &str) -> Result<Vec<Dependency>, String> {
    if !text.contains("[[package]]") {
        return Err("holds no [[package]]".to_owned());
    }
    Ok(toml_packages(text)
        .into_iter()
        .filter_map(|p| Some(pypi(p.get("name")?, p.get("version").map(String::as_str))))
        .collect())
}

/// A PyPI package, its name normalised (PEP 503).
fn pypi(name: &str, version: Option<&str>) -> Dependency {
    let normal: String =
        name.trim().to_ascii_lowercase().split(['_', '.', '-']).filter(|s| !s.is_empty()).collect::<Vec<_>>().join("-");
    Dependency::new("pypi", None, &normal, version)
}

/// One requirement (`name[extra]==1.0 ; marker`): the name, and the version if pinned with `==`.
fn requirement(spec: &str) -> Option<Dependency> {
    let spec = spec.split(';').next()?.split('#').next()?.trim();
    if spec.is_empty() || spec.starts_with(['-', '.', '/']) || spec.contains("://") {
        return None; // an option (-r, -e, --hash), a local path or a URL
    }
    let end = spec.find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c))).unwrap_or(spec.len());
    let name = &spec[..end];
    if name.is_empty() {
        return None;
    }
    let rest = spec[end..].trim_start();
    let rest = if rest.starts_with('[') { rest.split_once(']').map_or("", |(_, r)| r).trim_start() } else { rest };
    let pinned = rest.strip_prefix("===").or_else(|| rest.strip_prefix("=="));
    let version = pinned.map(|v| v.trim_start().split([',', ' ']).next().unwrap_or("").trim());
    Some(pypi(name, version.filter(|v| !v.contains('*'))))
}

/// `requirements.txt`: one requirement per line.
pub fn requirements(text: &str) -> Result<Vec<Dependency>, String> {
    Ok(text.lines().filter_map(requirement).collect())
}

/// `pyproject.toml`: the strings of `[project] dependencies = [...]`.
pub fn pyproject(text: &str) -> Result<Vec<Dependency>, String> {
    let mut in_project = false;
    let mut collecting = false;
    let mut found = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') && !collecting {
            in_project = trimmed == "[project]";
            continue;
        }
        if in_project && !collecting && trimmed.starts_with("dependencies") {
            let Some((_, rest)) = trimmed.split_once('=') else { continue };
            collecting = rest.trim().starts_with('[');
            found.extend(quoted(rest).filter_map(requirement));
            if unquoted(rest).contains(']') {
                collecting = false;
            }
            continue;
        }
        if collecting {
            found.extend(quoted(trimmed).filter_map(requirement));
            if unquoted(trimmed).contains(']') {
                collecting = false;
            }
        }
    }
    Ok(found)
}

/// A line without its double-quoted strings (a `]` in `"requests[socks]"` ends no array).
fn unquoted(line: &str) -> String {
    line.split('"').step_by(2).collect()
}

/// The double-quoted strings of a line.
fn quoted(line: &str) -> impl Iterator<Item = &str> {
    line.split('"').skip(1).step_by(2)
}

/// `package-lock.json` / `npm-shrinkwrap.json`, lockfile version 1 (`dependencies`) or 2 and 3
/// (`packages`, keyed by `node_modules/…` paths; the root package `""` is the project itself).
pub fn npm_lock(text: &str) -> Result<Vec<Dependency>, String> {
    let document: Value = serde_json::from_str(text).map_err(|e| format!("is not JSON ({e})"))?;
    let mut found = Vec::new();
    let npm = |full: &str, version: Option<&str>| {
        let (scope, name) = match full.strip_prefix('@').and_then(|s| s.split_once('/')) {
            Some((scope, name)) => (Some(scope.to_owned()), name),
            None => (None, full),
        };
        Dependency::new("npm", scope.map(|s| format!("@{s}")), name, version)
    };
    if let Some(packages) = document.get("packages").and_then(Value::as_object) {
        for (path, package) in packages {
            let Some(at) = path.rfind("node_modules/") else { continue };
            if package.get("link").and_then(Value::as_bool) == Some(true) {
                continue; // a workspace member, the project's own
            }
            let name = package.get("name").and_then(Value::as_str).unwrap_or(&path[at + "node_modules/".len()..]);
            found.push(npm(name, package.get("version").and_then(Value::as_str)));
        }
    } else if let Some(dependencies) = document.get("dependencies").and_then(Value::as_object) {
        let mut stack: Vec<(&String, &Value)> = dependencies.iter().collect();
        while let Some((name, entry)) = stack.pop() {
            found.push(npm(name, entry.get("version").and_then(Value::as_str)));
            if let Some(nested) = entry.get("dependencies").and_then(Value::as_object) {
                stack.extend(nested.iter());
            }
        }
    } else {
        return Err("has neither packages nor dependencies".to_owned());
    }
    Ok(found)
}

/// `go.sum`: each module and version whose code was used (a `/go.mod` line only records a
/// module file Go read while choosing versions, not code that was built).
pub fn go_sum(text: &str) -> Result<Vec<Dependency>, String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(module), Some(version)) = (words.next(), words.next()) else { continue };
        if version.ends_with("/go.mod") {
            continue;
        }
        let (namespace, name) = match module.rsplit_once('/') {
            Some((namespace, name)) => (Some(namespace.to_owned()), name),
            None => (None, module),
        };
        found.insert(Dependency::new("golang", namespace, name, Some(version)));
    }
    Ok(found.into_iter().collect())
}

/// How deep a POM may nest (a real one nests about eight deep).
const POM_DEPTH: usize = 64;
/// The longest value a `${…}` substitution may make.
const POM_VALUE: usize = 1024;

/// The text of a predefined or character entity (`amp`, `#38`, `#x26`).
fn entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

/// `pom.xml`: the dependencies the project declares (`project/dependencies/dependency`), their
/// versions resolved from `properties`, `${project.version}`, `${project.groupId}` (the
/// parent's when the project has none) and `dependencyManagement`; a version that stays a
/// `${…}` is left out. Plugins' dependencies and a dependency's `exclusions` are not read as
/// dependencies. Nesting deeper than [`POM_DEPTH`] is refused.
pub fn pom(text: &str) -> Result<Vec<Dependency>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut text_of: String = String::new();
    let mut properties: BTreeMap<String, String> = BTreeMap::new();
    let mut declared: Vec<BTreeMap<String, String>> = Vec::new();
    let mut managed: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut current: Option<BTreeMap<String, String>> = None;
    let mut root: Option<String> = None;
    let is = |path: &[String], want: &[&str]| path.len() == want.len() && path.iter().zip(want).all(|(a, b)| a == b);
    loop {
        match reader.read_event().map_err(|e| format!("is not XML ({e})"))? {
            Event::Start(e) => {
                if path.len() >= POM_DEPTH {
                    return Err(format!("nests deeper than {POM_DEPTH} elements"));
                }
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                root.get_or_insert_with(|| name.clone());
                path.push(name);
                text_of.clear();
                if is(&path, &["project", "dependencies", "dependency"])
                    || is(&path, &["project", "dependencyManagement", "dependencies", "dependency"])
                {
                    current = Some(BTreeMap::new());
                }
            }
            Event::Text(t) => text_of.push_str(&t.decode().map_err(|e| format!("is not XML ({e})"))?),
            Event::CData(t) => text_of.push_str(&String::from_utf8_lossy(&t)),
            Event::GeneralRef(r) => {
                let name = String::from_utf8_lossy(&r).into_owned();
                text_of.push(entity(&name).ok_or_else(|| format!("is not XML (an unknown entity &{name};)"))?);
            }
            Event::End(_) => {
                let value = std::mem::take(&mut text_of).trim().to_owned();
                let names: Vec<&str> = path.iter().map(String::as_str).collect();
                match names[..] {
                    ["project", "properties", key] => {
                        properties.insert(key.to_owned(), value);
                    }
                    ["project", field @ ("version" | "groupId" | "artifactId")] => {
                        properties.insert(format!("project.{field}"), value);
                    }
                    ["project", "parent", field @ ("version" | "groupId")] => {
                        properties.entry(format!("project.{field}")).or_insert(value);
                    }
                    // A field of the dependency itself, not of its exclusions.
                    ["project", "dependencies", "dependency", field]
                    | ["project", "dependencyManagement", "dependencies", "dependency", field] => {
                        if let Some(d) = current.as_mut() {
                            d.insert(field.to_owned(), value);
                        }
                    }
                    ["project", "dependencies", "dependency"] => declared.extend(current.take()),
                    ["project", "dependencyManagement", "dependencies", "dependency"] => {
                        if let Some(d) = current.take()
                            && let (Some(g), Some(a), Some(v)) =
                                (d.get("groupId"), d.get("artifactId"), d.get("version"))
                        {
                            managed.insert((g.clone(), a.clone()), v.clone());
                        }
                    }
                    _ => {}
                }
                path.pop();
            }
            Event::Empty(e) if path.is_empty() => {
                root = Some(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                break;
            }
            Event::Eof if !path.is_empty() => return Err(format!("is not XML (<{}> is not closed)", path.join("/"))),
            Event::Eof => break,
            _ => {}
        }
    }
    if root.as_deref() != Some("project") {
        return Err("is not a Maven project".to_owned());
    }
    let resolve = |value: &str| -> Option<String> {
        let mut out = value.to_owned();
        for _ in 0..8 {
            let Some(start) = out.find("${") else { return Some(out) };
            let end = out[start..].find('}')? + start;
            let replacement = properties.get(&out[start + 2..end])?;
            if out.len() + replacement.len() > POM_VALUE {
                return None;
            }
            out.replace_range(start..=end, replacement);
        }
        None
    };
    Ok(declared
        .into_iter()
        .filter_map(|d| {
            let group = resolve(d.get("groupId")?)?;
            let artifact = resolve(d.get("artifactId")?)?;
            let version = d
                .get("version")
                .cloned()
                .or_else(|| managed.get(&(d.get("groupId")?.clone(), d.get("artifactId")?.clone())).cloned())
                .and_then(|v| resolve(&v));
            Some(Dependency::new("maven", Some(group), &artifact, version.as_deref()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purls(found: &[Dependency]) -> Vec<String> {
        let mut purls: Vec<String> = found.iter().map(Dependency::purl).collect();
        purls.sort();
        purls
    }

    #[test]
    fn lock_files_give_exact_versions_and_the_project_is_not_its_own_dependency() {
        let cargo = "version = 3\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [\n \"serde\",\n]\n\n\
                     [[package]]\nname = \"serde\"\nversion = \"1.0.200\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"ab\"\n";
        assert_eq!(purls(&cargo_lock(cargo).unwrap()), ["pkg:cargo/serde@1.0.200"]);
        let npm3 = r#"{"lockfileVersion": 3, "packages": {"": {"name": "app"}, "node_modules/@types/node": {"version": "20.1.0"},
            "node_modules/a/node_modules/b": {"version": "2.0.0"}, "node_modules/ws": {"link": true}}}"#;
        assert_eq!(purls(&npm_lock(npm3).unwrap()), ["pkg:npm/%40types/node@20.1.0", "pkg:npm/b@2.0.0"]);
        let npm1 = r#"{"lockfileVersion": 1, "dependencies": {"a": {"version": "1.0.0", "dependencies": {"b": {"version": "0.1.0"}}}}}"#;
        assert_eq!(purls(&npm_lock(npm1).unwrap()), ["pkg:npm/a@1.0.0", "pkg:npm/b@0.1.0"]);
        let poetry = "[[package]]\nname = \"Requests_OAuthlib\"\nversion = \"1.3.1\"\n\n[package.dependencies]\noauthlib = \">=3.0.0\"\n";
        assert_eq!(purls(&poetry_lock(poetry).unwrap()), ["pkg:pypi/requests-oauthlib@1.3.1"]);
        let go = "golang.org/x/text v0.14.0 h1:abc=\ngolang.org/x/text v0.14.0/go.mod h1:def=\n\
                  golang.org/x/old v0.1.0/go.mod h1:only=\nrsc.io/quote v1.5.2 h1:x=\n";
        assert_eq!(
            purls(&go_sum(go).unwrap()),
            ["pkg:golang/golang.org/x/text@v0.14.0", "pkg:golang/rsc.io/quote@v1.5.2"]
        );
        assert!(npm_lock("{").unwrap_err().contains("not JSON"));
        assert!(cargo_lock("nothing").is_err());
    }

    #[test]
    fn python_requirements_keep_only_pinned_versions() {
        let text = "# pinned\nrequests[socks]==2.31.0 ; python_version >= '3.8'\nflask>=2\n-r other.txt\n\
                    git+https://example.org/x.git\nzope.interface==6.*\nidna == 3.7\nsix===1.16.0\n./local/pkg\n";
        let found = requirements(text).unwrap();
        let want = [
            "pkg:pypi/flask",
            "pkg:pypi/idna@3.7",
            "pkg:pypi/requests@2.31.0",
            "pkg:pypi/six@1.16.0",
            "pkg:pypi/zope-interface",
        ];
        assert_eq!(purls(&found), want);
        let pyproject_text = "[build-system]\nrequires = [\"hatchling\"]\n\n[project]\nname = \"app\"\ndependencies = [\n  \"httpx[http2]==0.27.0\",\n  \"rich\",\n]\n";
        assert_eq!(
            purls(&pyproject(pyproject_text).unwrap()),
            ["pkg:pypi/httpx@0.27.0", "pkg:pypi/rich"],
            "extras end no array"
        );
    }

    #[test]
    fn a_pom_resolves_properties_and_managed_versions() {
        let text = r#"<?xml version="1.0"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <groupId>org.example</groupId><artifactId>app</artifactId><version>1.4.0</version>
  <properties><jackson.version>2.17.1</jackson.version></properties>
  <dependencyManagement><dependencies>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>2.0.13</version></dependency>
  </dependencies></dependencyManagement>
  <dependencies>
    <dependency><groupId>com.fasterxml.jackson.core</groupId><artifactId>jackson-databind</artifactId><version>${jackson.version}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId></dependency>
    <dependency><groupId>${project.groupId}</groupId><artifactId>app-core</artifactId><version>${project.version}</version>
      <exclusions><exclusion><groupId>commons-logging</groupId><artifactId>commons-logging</artifactId></exclusion></exclusions></dependency>
    <dependency><groupId>org.example</groupId><artifactId>a&amp;b</artifactId><version><![CDATA[1.0]]></version></dependency>
    <dependency><groupId>org.unknown</groupId><artifactId>x</artifactId><version>${nowhere}</version></dependency>
  </dependencies>
  <build><plugins><plugin><dependencies><dependency><groupId>p</groupId><artifactId>q</artifactId><version>1</version></dependency></dependencies></plugin></plugins></build>
</project>"#;
        assert_eq!(
            purls(&pom(text).unwrap()),
            [
                "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.17.1",
                "pkg:maven/org.example/a%26b@1.0",
                "pkg:maven/org.example/app-core@1.4.0",
                "pkg:maven/org.slf4j/slf4j-api@2.0.13",
                "pkg:maven/org.unknown/x",
            ]
        );
        assert!(pom("<project><dependencies>").unwrap_err().contains("is not closed"));
        let deep = format!("<project>{}{}</project>", "<a>".repeat(100_000), "</a>".repeat(100_000));
        assert!(pom(&deep).unwrap_err().contains("nests deeper than 64"), "nesting is bounded");
        let doubling = format!(
            "<project><properties><p0>xx</p0>{}</properties><dependencies><dependency><groupId>g</groupId>\
             <artifactId>a</artifactId><version>${{p30}}</version></dependency></dependencies></project>",
            (1..=30).map(|i| format!("<p{i}>${{p{}}}${{p{}}}</p{i}>", i - 1, i - 1)).collect::<String>()
        );
        assert_eq!(
            purls(&pom(&doubling).unwrap()),
            ["pkg:maven/g/a"],
            "a value that would grow without end is left out"
        );
        assert!(pom("<notmaven/>").unwrap_err().contains("not a Maven project"));
    }

    #[test]
    fn an_archive_becomes_a_valid_cyclonedx_document() {
        use testkit::archives::{Entry, gzip, tar_bytes};
        let dir = tempfile::tempdir().unwrap();
        let entries = [
            Entry::File(
                "app-1.0/Cargo.lock",
                b"[[package]]\nname = \"log\"\nversion = \"0.4.21\"\nsource = \"registry+x\"\n",
            ),
            Entry::File(
                "app-1.0/web/package-lock.json",
                br#"{"packages": {"node_modules/left-pad": {"version": "1.3.0"}}}"#,
            ),
            Entry::File(
                "app-1.0/web/node_modules/x/package-lock.json",
                br#"{"packages": {"node_modules/evil": {"version": "6.6.6"}}}"#,
            ),
            Entry::File("app-1.0/py/requirements.txt", b"attrs==23.2.0\n"),
            Entry::File("app-1.0/broken/pom.xml", b"<project><dependencies><dependency>"),
            Entry::File("app-1.0/README", b"not a manifest"),
        ];
        let path = dir.path().join("app-1.0-src.tar.gz");
        std::fs::write(&path, gzip(&tar_bytes(&entries))).unwrap();
        let input = Input::new("app-1.0-src.tar.gz", path);
        let made = generate(
            &input,
            ("app", "1.0"),
            "2026-12-04T00:00:00Z",
            "6f1c2a4e-0000-4000-8000-000000000001",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(made.components, 3, "{:#}", made.document);
        assert_eq!(
            made.manifests,
            ["app-1.0/Cargo.lock", "app-1.0/web/package-lock.json", "app-1.0/py/requirements.txt"]
        );
        assert_eq!(made.skipped.len(), 1, "{:?}", made.skipped);
        assert!(made.skipped[0].starts_with("app-1.0/broken/pom.xml is not XML"), "{:?}", made.skipped);
        let purls: Vec<&str> =
            made.document["components"].as_array().unwrap().iter().map(|c| c["purl"].as_str().unwrap()).collect();
        assert_eq!(
            purls,
            ["pkg:cargo/log@0.4.21", "pkg:npm/left-pad@1.3.0", "pkg:pypi/attrs@23.2.0"],
            "no vendored manifest"
        );
        // The platform's own B1 check takes it: valid against the CycloneDX 1.6 schema.
        let file = dir.path().join("app-1.0-src.cdx.json");
        std::fs::write(&file, serde_json::to_vec_pretty(&made.document).unwrap()).unwrap();
        let results = crate::sbom::check(&Input::new("app-1.0-src.cdx.json", file));
        assert!(results.iter().all(|r| r.status != shared_models::checks::CheckStatus::Failure), "{results:#?}");
        assert!(results.iter().any(|r| r.message.contains("1.6")), "{results:#?}");
    }
}
