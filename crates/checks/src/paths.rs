//! The `paths` checker: names and companions of the files of a release (CHECKS.md P1–P6),
//! judged from the list of paths alone.

use shared_models::checks::CheckResult;

use crate::artifacts::{ChecksumKind, FileRole, archive_format, checker, classify, file_name};
use crate::report::Report;

/// Extensions of distribution packages that are not archives the `archive` checker reads.
const PACKAGE_EXTENSIONS: [&str; 12] =
    [".whl", ".gem", ".nupkg", ".rpm", ".deb", ".msi", ".exe", ".dmg", ".pkg", ".crate", ".pom", ".egg"];

/// Whether a file is something people install or build from (and so must be signed and
/// summed), as opposed to release notes or a README next to it.
pub fn is_distribution_artifact(path: &str) -> bool {
    let lower = file_name(path).to_ascii_lowercase();
    archive_format(path).is_some() || PACKAGE_EXTENSIONS.iter().any(|e| lower.ends_with(e))
}

/// Whether a name carries a release-candidate marker such as `-rc1` or `-RC2`.
fn has_rc_marker(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.match_indices("rc").any(|(i, _)| {
        let before = lower[..i].chars().last();
        let digits = lower[i + 2..].chars().take_while(char::is_ascii_digit).count();
        matches!(before, Some('-' | '_' | '.')) && digits > 0
    })
}

/// Checks the paths of a release. `podling` enables P5 ("incubating" in every artifact name).
pub fn check(paths: &[String], podling: bool) -> Vec<CheckResult> {
    let mut report = Report::new(checker::PATHS, "");
    let present = |p: &str| paths.iter().any(|q| q == p);
    let mut artifacts = 0;
    for path in paths {
        let name = file_name(path);
        let in_metadata = path.split('/').next().is_some_and(|first| first == ".atr");
        if !in_metadata && path.split('/').any(|segment| segment.starts_with('.')) {
            report.failure("P4", format!("{path} is a hidden file; releases hold no dotfiles")).member(path.clone());
        }
        match classify(path) {
            FileRole::Keys => {
                report
                    .failure("P4", format!("{path}: the KEYS file is published by the committee, not inside a release"))
                    .member(path.clone());
            }
            FileRole::BinarySignature { .. } => {
                report
                    .failure(
                        "P1",
                        format!(
                            "{path} is a binary signature; publish an ASCII-armored {path}.asc instead (gpg --armor)"
                        ),
                    )
                    .member(path.clone());
            }
            FileRole::Signature { of } | FileRole::Checksum { of, .. } if !present(&of) => {
                report
                    .failure("P3", format!("{path} belongs to {of}, which is not in the release"))
                    .member(path.clone());
            }
            FileRole::Checksum { kind: ChecksumKind::Md5, .. } => {
                report
                    .failure("P2", format!("{path}: MD5 checksums are not accepted; publish .sha512"))
                    .member(path.clone());
            }
            FileRole::Checksum { kind: ChecksumKind::Sha1, .. } => {
                report
                    .warning("P2", format!("{path}: SHA-1 checksums are deprecated; publish .sha512"))
                    .member(path.clone());
            }
            FileRole::Artifact => {
                let distribution = is_distribution_artifact(path);
                artifacts += usize::from(distribution);
                let needs = |missing: bool, rule: &str, what: String, report: &mut Report| {
                    if !missing {
                        return;
                    }
                    if distribution {
                        report.failure(rule, what).member(path.clone());
                    } else {
                        report.warning(rule, what).member(path.clone());
                    }
                };
                needs(
                    !present(&format!("{path}.asc")),
                    "P1",
                    format!("{path} has no signature {path}.asc"),
                    &mut report,
                );
                let summed = present(&format!("{path}.sha512")) || present(&format!("{path}.sha256"));
                needs(!summed, "P2", format!("{path} has no checksum {path}.sha512 (or .sha256)"), &mut report);
                if podling && distribution && !name.to_ascii_lowercase().contains("incubating") {
                    report
                        .failure("P5", format!("{path}: a podling's artifact names must contain \"incubating\""))
                        .member(path.clone());
                }
            }
            _ => {}
        }
        if has_rc_marker(name) {
            report
                .warning(
                    "P6",
                    format!("{path} carries a release-candidate marker; the voted files are published unchanged, so name them as final"),
                )
                .member(path.clone());
        }
    }
    if !report.has_problems() {
        report.success(
            "P1",
            format!("{} file(s), {artifacts} artifact(s): each artifact signed and summed", paths.len()),
        );
    }
    report.finish()
}

#[cfg(test)]
mod tests {
    use shared_models::checks::CheckStatus::{self, *};

    use super::*;

    fn verdicts(paths: &[&str], podling: bool) -> Vec<(String, CheckStatus)> {
        let paths: Vec<String> = paths.iter().map(|p| (*p).to_owned()).collect();
        check(&paths, podling)
            .into_iter()
            .map(|r| (r.data.unwrap()["rule"].as_str().unwrap().to_owned(), r.status))
            .collect()
    }

    #[test]
    fn a_complete_release_passes() {
        let release = ["httpd-2.4.68.tar.gz", "httpd-2.4.68.tar.gz.asc", "httpd-2.4.68.tar.gz.sha512"];
        assert_eq!(verdicts(&release, false), [("P1".to_owned(), Success)]);
    }

    #[test]
    fn each_rule_has_its_failure() {
        let v = verdicts(
            &["a.tar.gz", "a.tar.gz.sig", "b.zip.asc", "a.tar.gz.md5", "KEYS", "x.zip", "x.zip.asc", "x.zip.sha1"],
            false,
        );
        for (rule, status) in [("P1", Failure), ("P2", Failure), ("P3", Failure), ("P4", Failure), ("P2", Warning)] {
            assert!(v.contains(&(rule.to_owned(), status)), "{rule} {status:?} in {v:?}");
        }
    }

    #[test]
    fn podlings_need_incubating_and_rc_names_warn() {
        let v =
            verdicts(&["amoro-0.7.0-src.tar.gz", "amoro-0.7.0-src.tar.gz.asc", "amoro-0.7.0-src.tar.gz.sha512"], true);
        assert_eq!(v, [("P5".to_owned(), Failure)]);
        let v = verdicts(&["x-1.0-rc2.zip", "x-1.0-rc2.zip.asc", "x-1.0-rc2.zip.sha512"], false);
        assert!(v.contains(&("P6".to_owned(), Warning)));
        assert!(!has_rc_marker("source.zip") && !has_rc_marker("arc4.zip") && has_rc_marker("x-RC10.zip"));
    }

    #[test]
    fn documents_next_to_artifacts_only_warn() {
        let v = verdicts(&["README.txt", "a.zip", "a.zip.asc", "a.zip.sha512"], false);
        assert_eq!(v, [("P1".to_owned(), Warning), ("P2".to_owned(), Warning), ("P1".to_owned(), Success)]);
    }
}
