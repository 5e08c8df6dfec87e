//! The `hashing` checker: the digest in an artifact's `.sha512`/`.sha256` equals the artifact's,
//! whichever of the forms that real release tools write the checksum file is in.

use std::fs::File;

use shared_models::checks::CheckResult;

use crate::artifacts::{checker, file_name};
use crate::digest::{sha256_of, sha512_of};
use crate::report::{Input, Report};

/// A digest read from a checksum file, and the file name it was written for, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Lower-case hex.
    pub hex: String,
    pub name: Option<String>,
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Parses a checksum file (H1): a bare hex digest; the `sha512sum` form `<hex>  <name>` (also
/// `<hex> *<name>`); the BSD form `SHA512 (<name>) = <hex>`; GnuPG `--print-md` output
/// (`<name>: 1A2B3C4D 5E6F…`, upper case, grouped, possibly over several lines). Returns every
/// entry found, in order.
pub fn parse_checksum_file(text: &str) -> Vec<Expected> {
    let mut entries = Vec::new();
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    // GnuPG --print-md: "name: HEX HEX ..." continued on the following lines.
    if let Some((name, rest)) = lines.first().and_then(|l| l.split_once(": ")) {
        let mut hex: String = rest.split_whitespace().collect();
        let mut continued = true;
        for line in &lines[1..] {
            let grouped: String = line.split_whitespace().collect();
            if continued && is_hex(&grouped) {
                hex.push_str(&grouped);
            } else {
                continued = false;
            }
        }
        if is_hex(&hex) && matches!(hex.len(), 64 | 96 | 128) && !name.contains(' ') {
            return vec![Expected { hex: hex.to_ascii_lowercase(), name: Some(name.to_owned()) }];
        }
    }
    for line in lines {
        // BSD: "SHA512 (name) = hex"
        if let Some((left, hex)) = line.rsplit_once(" = ")
            && let (Some(open), true) = (left.find(" ("), left.ends_with(')'))
            && is_hex(hex.trim())
        {
            let name = &left[open + 2..left.len() - 1];
            entries.push(Expected { hex: hex.trim().to_ascii_lowercase(), name: Some(name.to_owned()) });
            continue;
        }
        let mut parts = line.splitn(2, char::is_whitespace);
        let first = parts.next().unwrap_or_default();
        if is_hex(first) {
            let name =
                parts.next().map(|n| n.trim_start().trim_start_matches('*').to_owned()).filter(|n| !n.is_empty());
            entries.push(Expected { hex: first.to_ascii_lowercase(), name });
        }
    }
    entries
}

/// Checks `checksum` (a `.sha512` or `.sha256`) against `artifact` (CHECKS.md H1–H3).
pub fn check(artifact: &Input, checksum: &Input) -> Vec<CheckResult> {
    let mut report = Report::new(checker::HASHING, &artifact.path);
    let text = match checksum.read_small(64 << 10) {
        Ok(Ok(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        Ok(Err(size)) => {
            report.failure("H1", format!("{} is {size} bytes: not a checksum file", checksum.path));
            return report.finish();
        }
        Err(e) => {
            report.error("H1", format!("cannot read {}: {e}", checksum.path));
            return report.finish();
        }
    };
    let artifact_name = file_name(&artifact.path);
    let entries = parse_checksum_file(&text);
    // With several entries, the one naming this artifact; with one, that one.
    let chosen = match entries.as_slice() {
        [] => None,
        [only] => Some(only),
        many => many.iter().find(|e| e.name.as_deref().map(file_name) == Some(artifact_name)),
    };
    let Some(expected) = chosen else {
        let first_line = text.lines().next().unwrap_or_default();
        report.failure(
            "H1",
            format!(
                "{} holds no digest for {artifact_name}: expected \"<hex>  {artifact_name}\", a bare digest, or \"SHA512 ({artifact_name}) = <hex>\"; found {:?}",
                checksum.path,
                first_line.chars().take(120).collect::<String>()
            ),
        );
        return report.finish();
    };
    let wanted = if checksum.path.ends_with(".sha256") { ("SHA-256", 64) } else { ("SHA-512", 128) };
    if expected.hex.len() != wanted.1 {
        report.failure(
            "H1",
            format!(
                "{} should hold a {} digest ({} hex digits) but holds {} hex digits",
                checksum.path,
                wanted.0,
                wanted.1,
                expected.hex.len()
            ),
        );
        return report.finish();
    }
    let file = match File::open(&artifact.file) {
        Ok(file) => file,
        Err(e) => {
            report.error("H1", format!("cannot read {}: {e}", artifact.path));
            return report.finish();
        }
    };
    let computed = if wanted.1 == 128 { sha512_of(file) } else { sha256_of(file) };
    let (actual, bytes) = match computed {
        Ok(done) => done,
        Err(e) => {
            report.error("H1", format!("cannot read {}: {e}", artifact.path));
            return report.finish();
        }
    };
    if let Some(name) = expected.name.as_deref().map(file_name)
        && name != artifact_name
    {
        report
            .warning(
                "H2",
                format!(
                    "{} names {name:?}, not {artifact_name:?} (a leftover from a release candidate's name?)",
                    checksum.path
                ),
            )
            .data("named", name);
    }
    if actual == expected.hex {
        report
            .success("H1", format!("the {} of {} matches {}", wanted.0, artifact.path, checksum.path))
            .data("digest", actual)
            .data("bytes", bytes);
    } else {
        report
            .failure(
                "H1",
                format!(
                    "the {} of {} does not match {}: expected {}, computed {}",
                    wanted.0, artifact.path, checksum.path, expected.hex, actual
                ),
            )
            .data("expected", expected.hex.clone())
            .data("actual", actual);
    }
    report.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA512_ABC: &str = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";

    #[test]
    fn parses_the_forms_release_tools_write() {
        let name = Some("abc.txt".to_owned());
        let sha = SHA512_ABC.to_owned();
        assert_eq!(parse_checksum_file(&format!("{SHA512_ABC}\n")), [Expected { hex: sha.clone(), name: None }]);
        assert_eq!(
            parse_checksum_file(&format!("{SHA512_ABC}  abc.txt\n")),
            [Expected { hex: sha.clone(), name: name.clone() }]
        );
        assert_eq!(
            parse_checksum_file(&format!("{SHA512_ABC} *abc.txt")),
            [Expected { hex: sha.clone(), name: name.clone() }]
        );
        assert_eq!(
            parse_checksum_file(&format!("SHA512 (abc.txt) = {}\n", SHA512_ABC.to_uppercase())),
            [Expected { hex: sha.clone(), name: name.clone() }]
        );
        let upper = SHA512_ABC.to_uppercase();
        let groups: Vec<&str> = (0..16).map(|i| &upper[i * 8..i * 8 + 8]).collect();
        let print_md = format!("abc.txt: {}\n         {}\n", groups[..8].join(" "), groups[8..].join(" "));
        assert_eq!(parse_checksum_file(&print_md), [Expected { hex: sha, name }]);
        assert!(parse_checksum_file("not a checksum").is_empty());
    }

    fn fixture(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> Input {
        let file = dir.path().join(name);
        std::fs::write(&file, content).unwrap();
        Input::new(name, file)
    }

    #[test]
    fn verdicts() {
        let dir = tempfile::tempdir().unwrap();
        let artifact = fixture(&dir, "abc.txt", b"abc");
        let rule_and_status = |results: Vec<CheckResult>| {
            results.iter().map(|r| (r.data.as_ref().unwrap()["rule"].to_string(), r.status)).collect::<Vec<_>>()
        };
        use shared_models::checks::CheckStatus::*;

        let good = fixture(&dir, "abc.txt.sha512", format!("{SHA512_ABC}  abc.txt\n").as_bytes());
        assert_eq!(rule_and_status(check(&artifact, &good)), [("\"H1\"".to_owned(), Success)]);

        let renamed = fixture(&dir, "abc.txt.sha512", format!("{SHA512_ABC}  abc-rc1.txt\n").as_bytes());
        assert_eq!(
            rule_and_status(check(&artifact, &renamed)),
            [("\"H2\"".to_owned(), Warning), ("\"H1\"".to_owned(), Success)]
        );

        let wrong = fixture(&dir, "abc.txt.sha512", format!("{}0  abc.txt\n", &SHA512_ABC[..127]).as_bytes());
        let results = check(&artifact, &wrong);
        assert_eq!(results[0].status, Failure);
        assert!(
            results[0].message.contains("expected") && results[0].message.contains("computed"),
            "{}",
            results[0].message
        );

        let short = fixture(
            &dir,
            "abc.txt.sha512",
            b"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  abc.txt",
        );
        assert!(check(&artifact, &short)[0].message.contains("64 hex digits"));
        let sha256 =
            fixture(&dir, "abc.txt.sha256", b"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(check(&artifact, &sha256)[0].status, Success);
        let garbage = fixture(&dir, "abc.txt.sha512", b"<html>oops</html>");
        assert_eq!(check(&artifact, &garbage)[0].status, Failure);
    }
}
