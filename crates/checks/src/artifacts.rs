//! What each file of a release is (artifact, signature, checksum) and which checks it gets.
//! The datastore plans check tasks with this; the runner and the local CLI run the same plan.

use shared_models::runner::TaskKind;

/// The archive formats the `archive` checker reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    TarGz,
    TarBz2,
    TarXz,
    Zip,
}

/// Checksum files by extension, as a release manager would name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumKind {
    Sha512,
    Sha256,
    Sha1,
    Md5,
}

impl ChecksumKind {
    pub fn extension(self) -> &'static str {
        match self {
            ChecksumKind::Sha512 => ".sha512",
            ChecksumKind::Sha256 => ".sha256",
            ChecksumKind::Sha1 => ".sha1",
            ChecksumKind::Md5 => ".md5",
        }
    }
}

/// The role of one file in a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRole {
    /// A file that people download and use; it needs a signature and a checksum.
    Artifact,
    /// An ASCII-armored detached signature of `of`.
    Signature { of: String },
    /// A binary OpenPGP signature (`.sig`), which the release policy does not accept.
    BinarySignature { of: String },
    /// A checksum file of `of`.
    Checksum { of: String, kind: ChecksumKind },
    /// A file the release tree must not contain as an artifact (`KEYS`).
    Keys,
}

const CHECKSUM_EXTENSIONS: [(&str, ChecksumKind); 5] = [
    (".sha512", ChecksumKind::Sha512),
    (".sha256", ChecksumKind::Sha256),
    (".sha1", ChecksumKind::Sha1),
    (".sha", ChecksumKind::Sha1),
    (".md5", ChecksumKind::Md5),
];

/// Classifies a release path by its name.
pub fn classify(path: &str) -> FileRole {
    let name = file_name(path);
    if name == "KEYS" || name == "KEYS.txt" {
        return FileRole::Keys;
    }
    if let Some(of) = path.strip_suffix(".asc") {
        return FileRole::Signature { of: of.to_owned() };
    }
    if let Some(of) = path.strip_suffix(".sig") {
        return FileRole::BinarySignature { of: of.to_owned() };
    }
    for (extension, kind) in CHECKSUM_EXTENSIONS {
        if let Some(of) = path.strip_suffix(extension) {
            return FileRole::Checksum { of: of.to_owned(), kind };
        }
    }
    FileRole::Artifact
}

/// The last segment of a `/`-separated path.
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Every archive extension the checks read: its format, and whether it is Java packaging
/// (whose licence files live in `META-INF/`). No extension is a suffix of another.
pub const ARCHIVE_EXTENSIONS: [(&str, ArchiveFormat, bool); 11] = [
    (".tar.gz", ArchiveFormat::TarGz, false),
    (".tgz", ArchiveFormat::TarGz, false),
    (".tar.bz2", ArchiveFormat::TarBz2, false),
    (".tbz2", ArchiveFormat::TarBz2, false),
    (".tar.xz", ArchiveFormat::TarXz, false),
    (".txz", ArchiveFormat::TarXz, false),
    (".zip", ArchiveFormat::Zip, false),
    (".jar", ArchiveFormat::Zip, true),
    (".war", ArchiveFormat::Zip, true),
    (".ear", ArchiveFormat::Zip, true),
    (".nar", ArchiveFormat::Zip, true),
];

/// The entry of [`ARCHIVE_EXTENSIONS`] that ends `path`'s file name, in any case.
fn archive_extension(path: &str) -> Option<&'static (&'static str, ArchiveFormat, bool)> {
    let lower = file_name(path).to_ascii_lowercase();
    ARCHIVE_EXTENSIONS.iter().find(|(extension, _, _)| lower.ends_with(extension))
}

/// The archive format of an artifact, from its name.
pub fn archive_format(path: &str) -> Option<ArchiveFormat> {
    archive_extension(path).map(|(_, format, _)| *format)
}

/// The file name without its archive extension (`httpd-2.4.68.tar.gz` → `httpd-2.4.68`).
pub fn archive_base_name(path: &str) -> &str {
    let name = file_name(path);
    archive_extension(path).map_or(name, |(extension, _, _)| &name[..name.len() - extension.len()])
}

/// Whether an archive holds Java bytecode packaging (its licence files live in `META-INF/`).
pub fn is_java_archive(path: &str) -> bool {
    archive_extension(path).is_some_and(|(_, _, java)| *java)
}

/// Whether an archive is a source release (gets the `license` and `rat` checks): any archive that
/// is not a Java package and is not marked as a binary convenience build.
pub fn is_source_archive(path: &str) -> bool {
    if archive_format(path).is_none() || is_java_archive(path) {
        return false;
    }
    let base = archive_base_name(path).to_ascii_lowercase();
    !(base.ends_with("-bin") || base.contains("-bin-") || base.ends_with("-binary"))
}

/// One check to run: a checker, the file it is about, and every release file whose bytes it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCheck {
    pub checker: TaskKind,
    pub checker_version: &'static str,
    /// The file the check is about; empty for `paths`, which judges the release as a whole.
    pub path: String,
    /// The release files the checker reads, the subject first.
    pub inputs: Vec<String>,
}

/// Names and versions of the checkers. A version changes whenever a checker's verdicts can
/// change, so results of an older version are never reused.
pub mod checker {
    use shared_models::runner::TaskKind;

    /// A checker: the task kind that runs it, and its version.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Checker {
        pub kind: TaskKind,
        pub version: &'static str,
    }

    pub const PATHS: Checker = Checker { kind: TaskKind::Paths, version: "1" };
    pub const HASHING: Checker = Checker { kind: TaskKind::Hashing, version: "1" };
    pub const SIGNATURE: Checker = Checker { kind: TaskKind::Signature, version: "1" };
    pub const ARCHIVE: Checker = Checker { kind: TaskKind::Archive, version: "2" };
    pub const LICENSE: Checker = Checker { kind: TaskKind::License, version: "2" };
    pub const RAT: Checker = Checker { kind: TaskKind::Rat, version: "2" };
    pub const SBOM: Checker = Checker { kind: TaskKind::Sbom, version: "1" };
    pub const TREES: Checker = Checker { kind: TaskKind::Trees, version: "2" };
    pub const GIT_TAG: Checker = Checker { kind: TaskKind::GitTag, version: "2" };

    pub const ALL: [Checker; 9] = [PATHS, HASHING, SIGNATURE, ARCHIVE, LICENSE, RAT, SBOM, TREES, GIT_TAG];

    /// The checker a task kind runs, if it is a check.
    pub fn of(kind: TaskKind) -> Option<Checker> {
        ALL.into_iter().find(|c| c.kind == kind)
    }
}

/// Plans every check of a revision from its file paths: one `paths` check for the whole
/// release, then per artifact `hashing` (one per `.sha512`/`.sha256`), `signature` (with its
/// `.asc`), `archive` (archives), `license` and `rat` (source archives), `sbom` (CycloneDX
/// JSON); then `trees` per source shipped in several archive formats. Deterministic: the same
/// paths always give the same plan, in the same order.
pub fn plan<S: AsRef<str>>(paths: &[S]) -> Vec<PlannedCheck> {
    let mut sorted: Vec<&str> = paths.iter().map(AsRef::as_ref).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let present = |p: &str| sorted.binary_search(&p).is_ok();

    let single = |checker: checker::Checker, path: &str| PlannedCheck {
        checker: checker.kind,
        checker_version: checker.version,
        path: path.to_owned(),
        inputs: vec![path.to_owned()],
    };

    let mut checks = vec![PlannedCheck {
        checker: checker::PATHS.kind,
        checker_version: checker::PATHS.version,
        path: String::new(),
        inputs: sorted.iter().map(|p| (*p).to_owned()).collect(),
    }];
    for path in sorted.iter().copied().filter(|p| classify(p) == FileRole::Artifact) {
        for kind in [ChecksumKind::Sha512, ChecksumKind::Sha256] {
            let sum = format!("{path}{}", kind.extension());
            if present(&sum) {
                checks.push(PlannedCheck { inputs: vec![path.to_owned(), sum], ..single(checker::HASHING, path) });
            }
        }
        let asc = format!("{path}.asc");
        if present(&asc) {
            checks.push(PlannedCheck { inputs: vec![path.to_owned(), asc], ..single(checker::SIGNATURE, path) });
        }
        if archive_format(path).is_some() {
            checks.push(single(checker::ARCHIVE, path));
            if is_source_archive(path) || is_java_archive(path) {
                checks.push(single(checker::LICENSE, path));
            }
            if is_source_archive(path) {
                checks.push(single(checker::RAT, path));
            }
        }
        if crate::sbom::is_sbom(path) {
            checks.push(single(checker::SBOM, path));
        }
    }
    for group in crate::trees::groups(&sorted) {
        checks.push(PlannedCheck {
            inputs: group.iter().map(|p| (*p).to_owned()).collect(),
            ..single(checker::TREES, group[0])
        });
    }
    checks
}

/// [`plan`], and with a source repository in the project's policy, one `git_tag` check per
/// source archive (T2: its tree against the release's tag).
pub fn plan_for<S: AsRef<str>>(paths: &[S], policy: &shared_models::api::ProjectPolicy) -> Vec<PlannedCheck> {
    let mut checks = plan(paths);
    if policy.source_repository.as_deref().is_some_and(|r| !r.is_empty()) {
        // The source archives are those `plan` gave a `rat` check, in its order.
        let tags: Vec<PlannedCheck> = checks
            .iter()
            .filter(|c| c.checker == checker::RAT.kind)
            .map(|c| PlannedCheck {
                checker: checker::GIT_TAG.kind,
                checker_version: checker::GIT_TAG.version,
                ..c.clone()
            })
            .collect();
        checks.extend(tags);
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_repository_adds_a_tag_check_per_source_archive() {
        let paths = ["x-1.0-src.tar.gz", "x-1.0-src.zip", "x-1.0-bin.tar.gz", "x-1.0-src.tar.gz.asc"];
        let mut policy = shared_models::api::ProjectPolicy::default();
        assert_eq!(plan_for(&paths, &policy), plan(&paths), "no repository, no tag check");
        policy.source_repository = Some("https://github.com/apache/x".into());
        let tags: Vec<String> =
            plan_for(&paths, &policy).into_iter().filter(|c| c.checker == TaskKind::GitTag).map(|c| c.path).collect();
        assert_eq!(tags, ["x-1.0-src.tar.gz", "x-1.0-src.zip"]);
    }

    #[test]
    fn classifies_by_name() {
        assert_eq!(classify("a/httpd-2.4.68.tar.gz"), FileRole::Artifact);
        assert_eq!(classify("x.tar.gz.asc"), FileRole::Signature { of: "x.tar.gz".into() });
        assert_eq!(classify("x.tar.gz.sig"), FileRole::BinarySignature { of: "x.tar.gz".into() });
        assert_eq!(classify("x.zip.sha512"), FileRole::Checksum { of: "x.zip".into(), kind: ChecksumKind::Sha512 });
        assert_eq!(classify("x.zip.sha"), FileRole::Checksum { of: "x.zip".into(), kind: ChecksumKind::Sha1 });
        assert_eq!(classify("sub/KEYS"), FileRole::Keys);
    }

    #[test]
    fn archive_names() {
        assert_eq!(archive_format("a.TGZ"), Some(ArchiveFormat::TarGz));
        assert_eq!(archive_format("a.tar.xz"), Some(ArchiveFormat::TarXz));
        assert_eq!(archive_format("a.war"), Some(ArchiveFormat::Zip));
        assert_eq!(archive_format("a.txt"), None);
        assert_eq!(archive_base_name("d/httpd-2.4.68.tar.gz"), "httpd-2.4.68");
        assert!(is_source_archive("httpd-2.4.68.tar.gz"));
        assert!(!is_source_archive("tomcat-11-bin.zip"));
        assert!(!is_source_archive("commons-io-2.16.jar"));
    }

    #[test]
    fn plans_the_httpd_release() {
        let plan = plan(&["httpd-2.4.68.tar.gz.sha512", "httpd-2.4.68.tar.gz", "httpd-2.4.68.tar.gz.asc"]);
        let summary: Vec<(&str, &str)> = plan.iter().map(|c| (c.checker.as_str(), c.path.as_str())).collect();
        assert_eq!(
            summary,
            [
                ("paths", ""),
                ("hashing", "httpd-2.4.68.tar.gz"),
                ("signature", "httpd-2.4.68.tar.gz"),
                ("archive", "httpd-2.4.68.tar.gz"),
                ("license", "httpd-2.4.68.tar.gz"),
                ("rat", "httpd-2.4.68.tar.gz"),
            ]
        );
        assert_eq!(plan[2].inputs, ["httpd-2.4.68.tar.gz", "httpd-2.4.68.tar.gz.asc"]);
        assert_eq!(plan[0].inputs.len(), 3);
    }

    #[test]
    fn plans_sboms_and_one_tree_comparison_per_source_in_several_formats() {
        let plan = plan(&["x-1.0-src.zip", "x-1.0-src.tar.gz", "x-1.0.cdx.json", "x-1.0-bin.zip", "x-1.0-bin.tar.gz"]);
        let sboms: Vec<&str> = plan.iter().filter(|c| c.checker == TaskKind::Sbom).map(|c| c.path.as_str()).collect();
        assert_eq!(sboms, ["x-1.0.cdx.json"]);
        let trees: Vec<&PlannedCheck> = plan.iter().filter(|c| c.checker == TaskKind::Trees).collect();
        assert_eq!(trees.len(), 1, "binary builds are not compared: {trees:?}");
        assert_eq!(trees[0].path, "x-1.0-src.tar.gz");
        assert_eq!(trees[0].inputs, ["x-1.0-src.tar.gz", "x-1.0-src.zip"]);
    }

    #[test]
    fn plans_nothing_per_file_for_orphans() {
        let plan = plan(&["lonely.tar.gz.asc", "notes.txt"]);
        assert_eq!(plan.iter().map(|c| c.checker).collect::<Vec<_>>(), [TaskKind::Paths]);
    }
}
