//! Known vulnerabilities of SBOM components, from an OSV data dump the operator provides: a
//! directory of OSV JSON documents (as <https://osv.dev> publishes them per ecosystem), read
//! into an index by package, and matched against package URLs. No network.
//!
//! Matching follows the OSV schema: a version is affected when the record lists it in
//! `versions`, or when a `SEMVER` or `ECOSYSTEM` range has an `introduced` event at or below it
//! with no `fixed` (or `last_affected`) event between. Versions are ordered by [`compare`], one
//! ordering for every ecosystem (numbers numerically, pre-release tags before the release);
//! `GIT` ranges name commits, not versions, and are not used.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

/// The largest OSV document read (real ones are a few KiB; some reach a few hundred).
const MAX_RECORD_BYTES: u64 = 4 << 20;

/// A package URL (`pkg:type/namespace/name@version?qualifiers#subpath`), decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub version: Option<String>,
}

impl Purl {
    pub fn parse(text: &str) -> Option<Purl> {
        let rest = text.strip_prefix("pkg:")?;
        let rest = rest.split('#').next()?.split('?').next()?;
        let (path, version) = match rest.rsplit_once('@') {
            // An `@` in the namespace is percent-encoded (`%40scope`), so the last one is the version's.
            Some((path, version)) if !path.is_empty() => (path, Some(decode(version))),
            _ => (rest, None),
        };
        let mut segments = path.trim_matches('/').split('/');
        let kind = segments.next()?.to_ascii_lowercase();
        let parts: Vec<String> = segments.map(decode).collect();
        let (name, namespace) = parts.split_last()?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        let namespace = (!namespace.is_empty()).then(|| namespace.join("/"));
        Some(Purl { kind, namespace, name: name.clone(), version })
    }

    /// `pkg:type/namespace/name`, the identity of a package across its versions.
    pub fn without_version(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("pkg:{}/{namespace}/{}", self.kind, self.name),
            None => format!("pkg:{}/{}", self.kind, self.name),
        }
    }

    /// The OSV ecosystem and package name this package URL names, for the ecosystems whose
    /// naming is known.
    pub fn osv_package(&self) -> Option<(&'static str, String)> {
        let joined = |sep: &str| match &self.namespace {
            Some(namespace) => format!("{namespace}{sep}{}", self.name),
            None => self.name.clone(),
        };
        Some(match self.kind.as_str() {
            "maven" => ("Maven", joined(":")),
            "npm" => ("npm", joined("/")),
            "pypi" => ("PyPI", self.name.to_ascii_lowercase().replace('_', "-")),
            "cargo" => ("crates.io", self.name.clone()),
            "golang" => ("Go", joined("/")),
            "gem" => ("RubyGems", self.name.clone()),
            "nuget" => ("NuGet", self.name.clone()),
            "composer" => ("Packagist", joined("/")),
            "hex" => ("Hex", self.name.clone()),
            "pub" => ("Pub", self.name.clone()),
            _ => return None,
        })
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Orders two versions of one package: split into runs of digits and of other characters
/// (separators `.`, `-`, `_`, `~` end runs), numbers compared as numbers, words as text;
/// where one version runs out, a following word (`1.0-rc1` after `1.0`) makes the longer one
/// the lower (a pre-release), a following number makes it the higher (`1.0.1` after `1.0`)
/// unless every following part is zero (`1.10` is `1.10.0`). Build metadata (`+…`) is ignored.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ta, tb) = (tokens(a), tokens(b));
    for i in 0..ta.len().max(tb.len()) {
        match (ta.get(i), tb.get(i)) {
            (Some(x), Some(y)) => {
                let order = match (x, y) {
                    (Token::Number(x), Token::Number(y)) => x.cmp(y),
                    (Token::Word(x), Token::Word(y)) => x.cmp(y),
                    (Token::Number(_), Token::Word(_)) => Ordering::Greater,
                    (Token::Word(_), Token::Number(_)) => Ordering::Less,
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
            // `1.10` is `1.10.0`: only the rest beyond zeros decides.
            (Some(Token::Number(_)), None) if zeros(&ta[i..]) => return Ordering::Equal,
            (None, Some(Token::Number(_))) if zeros(&tb[i..]) => return Ordering::Equal,
            (Some(Token::Word(_)), None) => return Ordering::Less,
            (Some(Token::Number(_)), None) => return Ordering::Greater,
            (None, Some(Token::Word(_))) => return Ordering::Greater,
            (None, Some(Token::Number(_))) => return Ordering::Less,
            (None, None) => break,
        }
    }
    Ordering::Equal
}

fn zeros(rest: &[Token]) -> bool {
    rest.iter().all(|t| *t == Token::Number(0))
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Number(u128),
    Word(String),
}

fn tokens(version: &str) -> Vec<Token> {
    let version = version.trim().trim_start_matches(['v', 'V']);
    // Build metadata (`1.0.0+20260101`) does not order versions (SemVer 2.0, item 10).
    let version = version.split('+').next().unwrap_or(version);
    let mut out = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, out: &mut Vec<Token>| {
        if current.is_empty() {
            return;
        }
        let token = match current.parse::<u128>() {
            Ok(n) => Token::Number(n),
            Err(_) => Token::Word(current.to_ascii_lowercase()),
        };
        out.push(token);
        current.clear();
    };
    for c in version.chars() {
        if matches!(c, '.' | '-' | '+' | '_' | '~') {
            flush(&mut current, &mut out);
        } else {
            if current.chars().next().is_some_and(|p| p.is_ascii_digit() != c.is_ascii_digit()) {
                flush(&mut current, &mut out);
            }
            current.push(c);
        }
    }
    flush(&mut current, &mut out);
    out
}

/// What one OSV record says about one package.
#[derive(Debug, Clone)]
struct Affected {
    id: String,
    aliases: Vec<String>,
    summary: Option<String>,
    versions: Vec<String>,
    /// `(event, version)` of the SEMVER and ECOSYSTEM ranges, each range on its own.
    ranges: Vec<Vec<(String, String)>>,
}

impl Affected {
    fn affects(&self, version: &str) -> bool {
        if self.versions.iter().any(|v| v == version) {
            return true;
        }
        self.ranges.iter().any(|events| range_affects(events, version))
    }

    fn fixed(&self) -> Vec<String> {
        let mut fixed: Vec<String> =
            self.ranges.iter().flatten().filter(|(event, _)| event == "fixed").map(|(_, v)| v.clone()).collect();
        fixed.sort_by(|a, b| compare(a, b));
        fixed.dedup();
        fixed
    }
}

/// Whether `version` falls in one OSV range: after some `introduced` (inclusive) and before the
/// first `fixed` (exclusive) or up to the first `last_affected` (inclusive) past it.
fn range_affects(events: &[(String, String)], version: &str) -> bool {
    let mut sorted: Vec<&(String, String)> = events.iter().collect();
    let key = |v: &str| if v == "0" { None } else { Some(v.to_owned()) };
    sorted.sort_by(|(_, a), (_, b)| match (key(a), key(b)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => compare(&a, &b),
    });
    let mut affected = false;
    for (event, at) in sorted {
        let reached = at == "0" || compare(version, at) != Ordering::Less;
        match event.as_str() {
            "introduced" if reached => affected = true,
            "fixed" if reached => affected = false,
            "last_affected" if reached && compare(version, at) == Ordering::Greater => affected = false,
            _ => {}
        }
    }
    affected
}

pub use shared_models::sbom::KnownVulnerability as Finding;

/// OSV records by ecosystem and package name (lower case).
#[derive(Debug, Default)]
pub struct Index {
    by_package: HashMap<(String, String), Vec<Affected>>,
    /// Documents read.
    pub records: usize,
    /// Files that were not OSV JSON, and why (the first few).
    pub skipped: Vec<String>,
    pub skipped_count: usize,
}

impl Index {
    /// Reads every `*.json` file under `dir` (recursively). Unreadable or malformed documents are
    /// counted and skipped, never fatal: one bad file must not hide every other advisory.
    pub fn load(dir: &Path) -> std::io::Result<Index> {
        let mut index = Index::default();
        let mut stack = vec![dir.to_owned()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let kind = entry.file_type()?;
                let path = entry.path();
                if kind.is_dir() {
                    stack.push(path);
                } else if kind.is_file() && path.extension().is_some_and(|e| e == "json") {
                    let input = crate::report::Input::new(path.display().to_string(), &path);
                    let outcome = match input.read_small(MAX_RECORD_BYTES) {
                        Ok(Ok(bytes)) => serde_json::from_slice::<Value>(&bytes).map_err(|e| e.to_string()),
                        Ok(Err(size)) => Err(format!("{size} bytes, more than {MAX_RECORD_BYTES}")),
                        Err(e) => Err(e.to_string()),
                    };
                    match outcome.and_then(|record| index.add(&record)) {
                        Ok(()) => index.records += 1,
                        Err(why) => {
                            index.skipped_count += 1;
                            if index.skipped.len() < 10 {
                                index.skipped.push(format!("{}: {why}", path.display()));
                            }
                        }
                    }
                }
            }
        }
        Ok(index)
    }

    /// Adds one OSV document.
    pub fn add(&mut self, record: &Value) -> Result<(), String> {
        let id = record.get("id").and_then(Value::as_str).ok_or("no `id`: not an OSV record")?;
        if record.get("withdrawn").and_then(Value::as_str).is_some() {
            return Ok(());
        }
        let strings = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array).into_iter().flatten().filter_map(|x| x.as_str().map(str::to_owned)).collect()
        };
        for affected in record.get("affected").and_then(Value::as_array).into_iter().flatten() {
            let package = affected.get("package");
            let field = |k: &str| package.and_then(|p| p.get(k)).and_then(Value::as_str);
            let (Some(ecosystem), Some(name)) = (field("ecosystem"), field("name")) else { continue };
            // `Debian:12` and the like: the ecosystem before its release.
            let ecosystem = ecosystem.split(':').next().unwrap_or(ecosystem);
            let name = if ecosystem == "PyPI" { name.to_ascii_lowercase().replace('_', "-") } else { name.to_owned() };
            let ranges = affected
                .get("ranges")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|r| matches!(r.get("type").and_then(Value::as_str), Some("SEMVER" | "ECOSYSTEM")))
                .map(|r| {
                    r.get("events")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_object)
                        .flat_map(|e| e.iter())
                        .filter_map(|(event, v)| v.as_str().map(|v| (event.clone(), v.to_owned())))
                        .collect()
                })
                .collect();
            self.by_package.entry((ecosystem.to_owned(), name.to_ascii_lowercase())).or_default().push(Affected {
                id: id.to_owned(),
                aliases: strings(record.get("aliases")),
                summary: record.get("summary").and_then(Value::as_str).map(str::to_owned),
                versions: strings(affected.get("versions")),
                ranges,
            });
        }
        Ok(())
    }

    /// The known vulnerabilities of the package `purl` (which must name a version).
    pub fn lookup(&self, purl: &str) -> Vec<Finding> {
        let Some(parsed) = Purl::parse(purl) else { return Vec::new() };
        let (Some(version), Some((ecosystem, name))) = (parsed.version.as_deref(), parsed.osv_package()) else {
            return Vec::new();
        };
        let mut found: Vec<Finding> = self
            .by_package
            .get(&(ecosystem.to_owned(), name.to_ascii_lowercase()))
            .into_iter()
            .flatten()
            .filter(|a| a.affects(version))
            .map(|a| Finding {
                id: a.id.clone(),
                aliases: a.aliases.clone(),
                summary: a.summary.clone(),
                purl: purl.to_owned(),
                version: version.to_owned(),
                fixed: a.fixed(),
            })
            .collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        found.dedup_by(|a, b| a.id == b.id);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn package_urls() {
        let purl = Purl::parse("pkg:maven/org.apache.commons/commons-text@1.9?type=jar").unwrap();
        assert_eq!(purl.osv_package(), Some(("Maven", "org.apache.commons:commons-text".to_owned())));
        assert_eq!(purl.without_version(), "pkg:maven/org.apache.commons/commons-text");
        assert_eq!(purl.version.as_deref(), Some("1.9"));
        let npm = Purl::parse("pkg:npm/%40babel/core@7.0.0").unwrap();
        assert_eq!(npm.osv_package(), Some(("npm", "@babel/core".to_owned())));
        assert_eq!(Purl::parse("pkg:pypi/Django_Rest@3.0").unwrap().osv_package().unwrap().1, "django-rest");
        assert_eq!(
            Purl::parse("pkg:golang/github.com/gin-gonic/gin@v1.9.0").unwrap().osv_package().unwrap().1,
            "github.com/gin-gonic/gin"
        );
        assert!(Purl::parse("maven/x@1").is_none());
        assert!(Purl::parse("pkg:").is_none());
        assert_eq!(decode("a%2"), "a%2", "a cut escape stays as it is");
    }

    #[test]
    fn versions_order_as_people_read_them() {
        use Ordering::*;
        for (a, b, order) in [
            ("1.10", "1.9", Greater),
            ("1.0", "1.0.1", Less),
            ("1.0-rc1", "1.0", Less),
            ("1.0.0-alpha", "1.0.0-beta", Less),
            ("v2.0", "2.0", Equal),
            ("2.0.0", "2.0.0", Equal),
            ("1.2.3.Final", "1.2.3", Less),
            ("1.10", "1.10.0", Equal),
            ("1.10.0.1", "1.10", Greater),
            ("1.0.0+build.5", "1.0.0", Equal),
        ] {
            assert_eq!(compare(a, b), order, "{a} vs {b}");
        }
    }

    fn text4shell() -> Value {
        json!({
            "id": "GHSA-599f-7c49-w659", "aliases": ["CVE-2022-42889"], "summary": "Arbitrary code execution in Apache Commons Text",
            "affected": [{
                "package": {"ecosystem": "Maven", "name": "org.apache.commons:commons-text"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.5"}, {"fixed": "1.10.0"}]}]
            }]
        })
    }

    #[test]
    fn ranges_and_version_lists_match() {
        let mut index = Index::default();
        index.add(&text4shell()).unwrap();
        index
            .add(&json!({"id": "PYSEC-1", "affected": [{"package": {"ecosystem": "PyPI", "name": "Django"}, "versions": ["3.0"]}]}))
            .unwrap();
        index
            .add(&json!({"id": "GHSA-last", "affected": [{"package": {"ecosystem": "npm", "name": "left"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"last_affected": "1.2.0"}]}]}]}))
            .unwrap();
        let hit = index.lookup("pkg:maven/org.apache.commons/commons-text@1.9");
        assert_eq!(hit.len(), 1);
        assert_eq!((hit[0].id.as_str(), hit[0].fixed.clone()), ("GHSA-599f-7c49-w659", vec!["1.10.0".to_owned()]));
        assert_eq!(hit[0].aliases, ["CVE-2022-42889"]);
        assert!(index.lookup("pkg:maven/org.apache.commons/commons-text@1.10.0").is_empty(), "fixed");
        assert!(index.lookup("pkg:maven/org.apache.commons/commons-text@1.4").is_empty(), "before introduced");
        assert!(index.lookup("pkg:maven/org.apache.commons/commons-text").is_empty(), "no version: nothing to match");
        assert_eq!(index.lookup("pkg:pypi/django@3.0").len(), 1);
        assert!(index.lookup("pkg:pypi/django@3.0.1").is_empty());
        assert_eq!(index.lookup("pkg:npm/left@1.2.0").len(), 1, "last_affected is inclusive");
        assert!(index.lookup("pkg:npm/left@1.2.1").is_empty());
    }

    #[test]
    fn a_dump_with_bad_files_loads_the_good_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("Maven")).unwrap();
        std::fs::write(dir.path().join("Maven/GHSA-599f-7c49-w659.json"), text4shell().to_string()).unwrap();
        std::fs::write(dir.path().join("broken.json"), b"{ nope").unwrap();
        std::fs::write(dir.path().join("other.json"), b"{\"no\": \"id\"}").unwrap();
        std::fs::write(dir.path().join("README.txt"), b"not json").unwrap();
        let index = Index::load(dir.path()).unwrap();
        assert_eq!((index.records, index.skipped_count), (1, 2), "{:?}", index.skipped);
        assert_eq!(index.lookup("pkg:maven/org.apache.commons/commons-text@1.9").len(), 1);
    }
}
