//! The `trees` checker. T1: when a release ships the same source in several archive formats
//! (`x-1.0-src.tar.gz` and `x-1.0-src.zip`), every one holds the same tree, so a voter who
//! checked one has checked them all.
//!
//! Each archive is read to its end with the safe walker; the trees are compared below their
//! single top-level directory (which may be named differently), file by file: files only in one
//! archive and files whose bytes differ are failures. A file that differs only in line endings
//! (a zip built with CRLF for Windows users, as Maven's assembly plugin can) is a warning, and
//! so is a symlink that the other archive stores as a file naming the same target.
//! Directories are not compared: zip tools often omit entries for them.

use std::collections::BTreeMap;
use std::io::Read;
use std::ops::ControlFlow;

use shared_models::checks::CheckResult;

use crate::archive::{self, MemberKind};
use crate::artifacts::{self, checker};
use crate::digest::Sha256;
use crate::report::{Input, Limits, Report};

/// Paths listed per difference before the rest are only counted.
const LISTED: usize = 20;

/// What one member holds, for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    File {
        sha256: String,
        lf_sha256: String,
        size: u64,
    },
    Symlink {
        target: String,
    },
    /// Hard links and special files: compared by kind only.
    Other(MemberKind),
}

/// One archive's tree: member path (below the common top-level directory) → entry.
#[derive(Debug, Default)]
struct Tree {
    entries: BTreeMap<String, Entry>,
    /// Paths stored more than once: extractors differ on which copy wins, so two archives can
    /// compare equal here and extract differently.
    duplicates: Vec<String>,
    /// Members left out of `entries`: an unsafe path (the archive check reports those of
    /// release files), or AppleDouble metadata (`._name`).
    skipped: Vec<String>,
}

/// Fails `path`'s result for members stored twice in it (`rule` T1 or T2).
fn report_duplicates(report: &mut Report, rule: &'static str, path: &str, tree: &Tree) {
    let paths: Vec<&str> = tree.duplicates.iter().map(String::as_str).collect();
    let what = format!("members that `{path}` stores more than once (extractors differ on which copy wins)");
    report_paths(report, Difference { rule, failure: true, paths: &paths, what, about: ("archive", path) });
}

/// Source archives grouped for T1: archives in the same directory with the same base name in
/// different formats. Each group has at least two members, sorted, `.tar.gz` first when present.
pub fn groups<'a>(paths: &[&'a str]) -> Vec<Vec<&'a str>> {
    let mut by_base: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for path in paths.iter().copied().filter(|p| artifacts::is_source_archive(p)) {
        let dir = path.rfind('/').map_or("", |i| &path[..i]);
        by_base.entry((dir, artifacts::archive_base_name(path))).or_default().push(path);
    }
    by_base
        .into_values()
        .filter(|group| group.len() > 1)
        .map(|mut group| {
            group.sort_by_key(|p| (!p.to_ascii_lowercase().ends_with(".tar.gz"), p.to_owned()));
            group
        })
        .collect()
}

/// Runs T1 on `inputs` (the archives of one group, the subject first).
pub fn check(inputs: &[Input], limits: &Limits) -> Vec<CheckResult> {
    let Some(subject) = inputs.first() else { return Vec::new() };
    let mut report = Report::new(checker::TREES, &subject.path);
    let mut trees = Vec::new();
    for input in inputs {
        match read_tree(input, limits) {
            Ok(tree) => trees.push(tree),
            Err(error) if error.is_release_problem() => {
                // The archive check reports the fault itself; here it only stops the comparison.
                report
                    .warning("T1", format!("`{}` was not compared: it does not read to the end ({error})", input.path))
                    .data("other", input.path.clone());
                return report.finish();
            }
            Err(error) => {
                report
                    .error("T1", format!("could not read `{}`: {error}", input.path))
                    .data("other", input.path.clone());
                return report.finish();
            }
        }
    }
    for (input, tree) in inputs.iter().zip(&trees) {
        report_duplicates(&mut report, "T1", &input.path, tree);
    }
    let base = &trees[0];
    for (input, tree) in inputs.iter().zip(&trees).skip(1) {
        compare(&mut report, &subject.path, base, &input.path, tree);
    }
    report.finish()
}

/// How an archive a channel serves compares with a voted one, below their top-level
/// directories: the same files, byte for byte (a repackaging), or the paths that differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repackaged {
    /// The same tree: `files` files, links and others.
    Same { files: usize },
    /// Paths only in one, or with other contents (at most 10 of each, and how many in all).
    Differs { paths: Vec<String>, total: usize },
}

/// Compares the tree of `served` (what a distribution channel serves) with `voted`'s. Line
/// endings count: a channel that rewrites them does not serve the voted files. An archive that
/// does not read, or stores a member twice, is an `Err`.
pub fn repackaged(served: &Input, voted: &Input, limits: &Limits) -> Result<Repackaged, String> {
    let read = |input: &Input| {
        let tree =
            read_tree(input, limits).map_err(|e| format!("`{}` does not read as an archive: {e}", input.path))?;
        if let Some(twice) = tree.duplicates.first() {
            return Err(format!("`{}` stores `{twice}` more than once", input.path));
        }
        Ok(tree)
    };
    let (theirs, ours) = (read(served)?, read(voted)?);
    if ours.entries.is_empty() {
        return Err(format!("`{}` holds no file to compare with", voted.path));
    }
    // What a served archive holds beyond its files (an unsafe path, `._` metadata) is no part of
    // the voted release, whatever its files are.
    let mut paths: Vec<String> = theirs
        .skipped
        .iter()
        .filter(|p| !ours.skipped.contains(p))
        .map(|p| format!("{p} (not a plain member)"))
        .collect();
    for (path, entry) in &ours.entries {
        if theirs.entries.get(path) != Some(entry) {
            paths.push(path.clone());
        }
    }
    paths.extend(theirs.entries.keys().filter(|p| !ours.entries.contains_key(*p)).cloned());
    if paths.is_empty() {
        return Ok(Repackaged::Same { files: ours.entries.len() });
    }
    let total = paths.len();
    paths.truncate(LISTED);
    Ok(Repackaged::Differs { paths, total })
}

fn read_tree(input: &Input, limits: &Limits) -> Result<Tree, archive::ArchiveError> {
    let mut tree = Tree::default();
    let mut buffer = vec![0u8; 64 << 10];
    archive::walk(input, limits, |member, reader| {
        if member.path_problem.is_some() || member.path.is_empty() || member.is_apple_double() {
            if tree.skipped.len() < LISTED {
                tree.skipped.push(if member.path.is_empty() { member.raw_path.clone() } else { member.path.clone() });
            }
            return ControlFlow::Continue(());
        }
        let entry = match member.kind {
            MemberKind::Dir => return ControlFlow::Continue(()),
            MemberKind::Symlink => Entry::Symlink { target: member.link_target.clone().unwrap_or_default() },
            MemberKind::File => match hash(reader, &mut buffer) {
                Ok(entry) => entry,
                // The walker reports the read error itself once the visitor returns.
                Err(_) => return ControlFlow::Continue(()),
            },
            kind => Entry::Other(kind),
        };
        if tree.entries.insert(member.path.clone(), entry).is_some() && tree.duplicates.len() < LISTED * 10 {
            tree.duplicates.push(member.path.clone());
        }
        ControlFlow::Continue(())
    })?;
    tree.strip_top_level();
    Ok(tree)
}

/// The SHA-256 of a file's bytes and of the same bytes with every CRLF as LF.
fn hash(reader: &mut dyn Read, buffer: &mut [u8]) -> std::io::Result<Entry> {
    let (mut raw, mut lf) = (Sha256::default(), Sha256::default());
    let mut size = 0u64;
    // A CR at the end of one chunk: written once the next byte shows whether an LF follows.
    let mut pending_cr = false;
    let mut binary = false;
    loop {
        let n = reader.read(buffer)?;
        if n == 0 {
            break;
        }
        let chunk = &buffer[..n];
        size += n as u64;
        raw.update(chunk);
        binary |= chunk.contains(&0);
        let mut start = 0;
        if pending_cr {
            if chunk[0] != b'\n' {
                lf.update(b"\r");
            }
            pending_cr = false;
        }
        for i in memchr_all(chunk, b'\r') {
            if i + 1 == chunk.len() {
                lf.update(&chunk[start..i]);
                start = chunk.len();
                pending_cr = true;
            } else if chunk[i + 1] == b'\n' {
                lf.update(&chunk[start..i]);
                start = i + 1;
            }
        }
        lf.update(&chunk[start..]);
    }
    if pending_cr {
        lf.update(b"\r");
    }
    let sha256 = raw.finish_hex();
    // Line endings are a text file's: a binary file (one with a NUL byte) compares whole.
    let lf_sha256 = if binary { sha256.clone() } else { lf.finish_hex() };
    Ok(Entry::File { sha256, lf_sha256, size })
}

fn memchr_all(haystack: &[u8], needle: u8) -> impl Iterator<Item = usize> + '_ {
    haystack.iter().enumerate().filter(move |(_, b)| **b == needle).map(|(i, _)| i)
}

impl Tree {
    /// Drops the single top-level directory every entry sits in, if there is one, so that
    /// `x-1.0/` in one archive and `x-1.0-src/` in another compare equal.
    fn strip_top_level(&mut self) {
        let first = |p: &str| p.split_once('/').map(|(top, _)| top.to_owned());
        let Some(top) = self.entries.keys().next().and_then(|p| first(p)) else { return };
        if !self.entries.keys().all(|p| first(p).as_deref() == Some(top.as_str())) {
            return;
        }
        let prefix = top.len() + 1;
        self.entries =
            std::mem::take(&mut self.entries).into_iter().map(|(p, e)| (p[prefix..].to_owned(), e)).collect();
    }
}

/// One class of difference between two trees, as one result.
struct Difference<'a> {
    rule: &'static str,
    failure: bool,
    paths: &'a [&'a str],
    what: String,
    /// What the tree was compared with, as `data.<key>`: the other archive, or the tag.
    about: (&'static str, &'a str),
}

/// Adds one result for `difference` (none when no path differs): the count, the first
/// [`LISTED`] paths in the message and in `data.paths`.
fn report_paths(report: &mut Report, difference: Difference<'_>) {
    let Difference { rule, failure, paths, what, about } = difference;
    if paths.is_empty() {
        return;
    }
    let mut shown: Vec<String> = paths.iter().take(LISTED).map(|p| format!("`{p}`")).collect();
    if paths.len() > LISTED {
        shown.push(format!("and {} more", paths.len() - LISTED));
    }
    let message = format!("{what} ({}): {}", paths.len(), shown.join(", "));
    let handle = if failure { report.failure(rule, message) } else { report.warning(rule, message) };
    handle
        .data(about.0, about.1.to_owned())
        .data("count", paths.len())
        .data("paths", paths.iter().take(LISTED).map(|p| serde_json::Value::from(*p)).collect::<Vec<_>>());
}

/// Compares `tree` (of `other`) with `base` (of `subject`) and reports each class of difference.
fn compare(report: &mut Report, subject: &str, base: &Tree, other: &str, tree: &Tree) {
    let mut only_subject = Vec::new();
    let mut only_other = Vec::new();
    let mut differ = Vec::new();
    let mut line_endings = Vec::new();
    let mut link_as_file = Vec::new();
    for (path, entry) in &base.entries {
        match tree.entries.get(path) {
            None => only_subject.push(path.as_str()),
            Some(theirs) => match (entry, theirs) {
                _ if entry == theirs => {}
                (Entry::File { lf_sha256: a, .. }, Entry::File { lf_sha256: b, .. }) if a == b => {
                    line_endings.push(path.as_str());
                }
                (Entry::Symlink { target }, Entry::File { sha256, .. })
                | (Entry::File { sha256, .. }, Entry::Symlink { target })
                    if *sha256 == crate::digest::sha256_hex(target.as_bytes()) =>
                {
                    link_as_file.push(path.as_str());
                }
                _ => differ.push(path.as_str()),
            },
        }
    }
    only_other.extend(tree.entries.keys().filter(|p| !base.entries.contains_key(*p)).map(String::as_str));

    let mut add = |failure: bool, paths: &[&str], what: String| {
        report_paths(report, Difference { rule: "T1", failure, paths, what, about: ("other", other) });
    };
    add(true, &differ, format!("files whose content differs between `{subject}` and `{other}`"));
    add(true, &only_subject, format!("files in `{subject}` that `{other}` lacks"));
    add(true, &only_other, format!("files in `{other}` that `{subject}` lacks"));
    add(false, &line_endings, format!("files that differ only in line endings between `{subject}` and `{other}`"));
    add(false, &link_as_file, format!("symlinks that one of `{subject}` and `{other}` stores as a file"));
    let unique = base.duplicates.is_empty() && tree.duplicates.is_empty();
    if differ.is_empty() && only_subject.is_empty() && only_other.is_empty() && unique {
        let files = base.entries.values().filter(|e| matches!(e, Entry::File { .. })).count();
        report
            .success("T1", format!("`{other}` holds the same tree as `{subject}` ({files} files)"))
            .data("other", other.to_owned())
            .data("files", files);
    }
}

/// Whether git takes `tag` as a tag's name (`git check-ref-format`'s rules), and no option.
pub fn is_tag_name(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 200
        && !tag.starts_with(['-', '/', '.'])
        && !tag.ends_with(['/', '.'])
        && !tag.ends_with(".lock")
        && !tag.contains("..")
        && !tag.contains("//")
        && !tag.contains("@{")
        && !tag.contains("/.")
        && tag != "@"
        && !tag
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
}

/// T2: a source archive against the tree of its release's tag, exported by `git archive` as
/// `tagged` (its paths under one top-level directory; `tag` names it in messages). Both are read
/// to the end under `limits`. Files that differ fail; files only in the archive warn unless they
/// match `generated` (made before the release, like `configure`); files only in the tag warn
/// (`.gitignore`, CI files a release leaves out).
pub fn check_against_tag(
    input: &Input,
    tagged: &Input,
    tag: &str,
    generated: &[String],
    limits: &Limits,
) -> Vec<CheckResult> {
    let mut report = Report::new(checker::GIT_TAG, &input.path);
    let mut allowed = globset::GlobSetBuilder::new();
    for glob in generated {
        match globset::GlobBuilder::new(glob).literal_separator(true).build() {
            Ok(glob) => {
                allowed.add(glob);
            }
            Err(e) => {
                report.warning("T2", format!("the generated-files glob {glob:?} is not valid ({e}); it was ignored"));
            }
        }
    }
    let allowed = allowed.build().unwrap_or_else(|_| globset::GlobSet::empty());
    let archive = match read_tree(input, limits) {
        Ok(tree) => tree,
        Err(error) if error.is_release_problem() => {
            report.warning("T2", format!("not compared with {tag}: the archive does not read to the end ({error})"));
            return report.finish();
        }
        Err(error) => {
            report.error("T2", format!("could not read the archive: {error}"));
            return report.finish();
        }
    };
    report_duplicates(&mut report, "T2", &input.path, &archive);
    let tagged = match read_tree(tagged, limits) {
        Ok(tree) => tree,
        Err(error) if error.is_release_problem() => {
            report.failure("T2", format!("{tag} is too large or does not read as an archive: {error}"));
            return report.finish();
        }
        Err(error) => {
            report.error("T2", format!("could not read the export of {tag}: {error}"));
            return report.finish();
        }
    };
    let mut differ = Vec::new();
    let mut line_endings = Vec::new();
    let mut only_archive = Vec::new();
    let mut generated_found: Vec<&str> = Vec::new();
    let mut matched = 0usize;
    for (path, entry) in &archive.entries {
        match tagged.entries.get(path) {
            None if allowed.is_match(path) => generated_found.push(path.as_str()),
            None => only_archive.push(path.as_str()),
            Some(theirs) if theirs == entry => matched += 1,
            Some(Entry::File { lf_sha256: theirs, .. }) if matches!(entry, Entry::File { lf_sha256, .. } if lf_sha256 == theirs) =>
            {
                line_endings.push(path.as_str());
            }
            Some(_) => differ.push(path.as_str()),
        }
    }
    let only_tag: Vec<&str> =
        tagged.entries.keys().filter(|p| !archive.entries.contains_key(*p)).map(String::as_str).collect();
    let mut add = |failure: bool, paths: &[&str], what: String| {
        report_paths(&mut report, Difference { rule: "T2", failure, paths, what, about: ("tag", tag) });
    };
    add(true, &differ, format!("files whose content differs from {tag}"));
    add(false, &only_archive, format!("files in the archive that {tag} lacks (not a generated file)"));
    add(false, &only_tag, format!("files in {tag} that the archive lacks"));
    add(false, &line_endings, format!("files that differ from {tag} only in line endings"));
    if differ.is_empty() && archive.duplicates.is_empty() {
        // Generated files are allowed, never unseen: the xz backdoor hid in one.
        let mut named: Vec<String> = generated_found.iter().take(LISTED).map(|p| format!("`{p}`")).collect();
        if generated_found.len() > LISTED {
            named.push(format!("and {} more", generated_found.len() - LISTED));
        }
        let besides = match generated_found.len() {
            0 => String::new(),
            1 => format!(", and 1 generated file besides: {}", named.join(", ")),
            n => format!(", and {n} generated files besides: {}", named.join(", ")),
        };
        let listed: Vec<serde_json::Value> = generated_found.iter().take(LISTED).map(|p| (*p).into()).collect();
        report
            .success("T2", format!("{matched} files of the archive match {tag}{besides}"))
            .data("tag", tag.to_owned())
            .data("generated", listed);
    }
    report.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared_models::checks::CheckStatus;
    use testkit::archives::{Entry as Member, gzip, tar_bytes, zip_bytes};

    #[test]
    fn a_repackaging_holds_the_same_files_whatever_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: Vec<u8>| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            Input::new(name, path)
        };
        let files = [Member::File("x-1.0/README", b"x\n"), Member::File("x-1.0/src/a.c", b"int a;\n")];
        let voted = write("x-1.0.tar.gz", gzip(&tar_bytes(&files)));
        // The same files under another top-level directory, zipped: other bytes, the same tree.
        let zipped = write(
            "x-1.0.zip",
            zip_bytes(&[("x/README", b"x\n"), ("x/src/a.c", b"int a;\n")], zip::CompressionMethod::Deflated),
        );
        assert_eq!(repackaged(&zipped, &voted, &Limits::default()).unwrap(), Repackaged::Same { files: 2 });
        let edited = write(
            "y.tar.gz",
            gzip(&tar_bytes(&[Member::File("x-1.0/README", b"x\r\n"), Member::File("x-1.0/extra", b"")])),
        );
        let found = repackaged(&edited, &voted, &Limits::default()).unwrap();
        assert_eq!(
            found,
            Repackaged::Differs { paths: vec!["README".into(), "src/a.c".into(), "extra".into()], total: 3 },
            "line endings count, and both sides' extra files"
        );
        // A member the voted archive does not have, hidden where a tree would not show it.
        let hidden = write(
            "h.tar.gz",
            gzip(&tar_bytes(&[files[0], files[1], Member::File("x-1.0/src/._payload", b"anything")])),
        );
        let found = repackaged(&hidden, &voted, &Limits::default()).unwrap();
        assert!(matches!(&found, Repackaged::Differs { paths, .. } if paths[0].contains("._payload")), "{found:?}");
        let empty = write("e.tar.gz", gzip(&tar_bytes(&[])));
        assert!(repackaged(&empty, &empty, &Limits::default()).unwrap_err().contains("holds no file"));
        let twice = write("t.tar.gz", gzip(&tar_bytes(&[files[0], files[0], files[1]])));
        assert!(repackaged(&twice, &voted, &Limits::default()).unwrap_err().contains("more than once"));
        let junk = write("j.tar.gz", b"not an archive".to_vec());
        assert!(repackaged(&junk, &voted, &Limits::default()).unwrap_err().contains("does not read as an archive"));
    }

    #[test]
    fn groups_source_archives_by_base_name_and_directory() {
        let paths = [
            "x-1.0-src.zip",
            "x-1.0-src.tar.gz",
            "x-1.0-src.tar.gz.asc",
            "x-1.0-bin.tar.gz",
            "x-1.0-bin.zip",
            "sub/x-1.0-src.tar.bz2",
            "lib.jar",
            "y-2.0.tar.xz",
        ];
        assert_eq!(groups(&paths), [vec!["x-1.0-src.tar.gz", "x-1.0-src.zip"]]);
        assert!(groups(&["a.tar.gz", "a.tgz.asc"]).is_empty());
    }

    #[test]
    fn crlf_normalisation_spans_chunk_boundaries() {
        let digest = |bytes: &[u8], chunk: usize| {
            let mut buffer = vec![0u8; chunk];
            match hash(&mut &bytes[..], &mut buffer).unwrap() {
                Entry::File { lf_sha256, .. } => lf_sha256,
                other => panic!("{other:?}"),
            }
        };
        let unix = b"one\ntwo\r three\n\r".as_slice();
        let windows = b"one\r\ntwo\r three\r\n\r".as_slice();
        for chunk in 1..8 {
            assert_eq!(digest(windows, chunk), digest(unix, 64), "chunk {chunk}");
            assert_eq!(digest(unix, chunk), digest(unix, 64), "chunk {chunk}");
        }
        assert_ne!(digest(b"a\rb", 2), digest(b"ab", 2));
        assert_ne!(digest(b"\0a\r\n", 64), digest(b"\0a\n", 64), "a binary file's CR LF is not a line ending");
    }

    /// A `.tar.gz` of `tar` and a `.zip` of `zip`, compared.
    fn run(tar: &[(&str, &[u8])], zip: &[(&str, &[u8])]) -> Vec<(CheckStatus, String)> {
        let dir = tempfile::tempdir().unwrap();
        let inputs = write(dir.path(), tar, zip);
        check(&inputs, &Limits::default()).into_iter().map(|r| (r.status, r.message)).collect()
    }

    fn write(dir: &std::path::Path, tar: &[(&str, &[u8])], zip: &[(&str, &[u8])]) -> [Input; 2] {
        let (a, b) = (dir.join("a.tar.gz"), dir.join("a.zip"));
        let entries: Vec<Member> = tar.iter().map(|(p, d)| Member::File(p, d)).collect();
        std::fs::write(&a, gzip(&tar_bytes(&entries))).unwrap();
        std::fs::write(&b, zip_bytes(zip, zip::CompressionMethod::Deflated)).unwrap();
        [Input::new("x-1.0-src.tar.gz", a), Input::new("x-1.0-src.zip", b)]
    }

    #[test]
    fn the_same_tree_under_differently_named_roots_passes() {
        let results = run(
            &[("x-1.0/README", b"hi\n"), ("x-1.0/src/a.c", b"int a;\n")],
            &[("x-1.0-src/src/a.c", b"int a;\n"), ("x-1.0-src/README", b"hi\n")],
        );
        assert_eq!(results.len(), 1, "{results:?}");
        assert_eq!(results[0].0, CheckStatus::Success);
        assert!(results[0].1.contains("(2 files)"), "{results:?}");
    }

    #[test]
    fn each_difference_is_reported_with_its_paths() {
        let results = run(
            &[("x/README", b"hi\n"), ("x/changed.c", b"int a;\n"), ("x/only-in-tar", b"1"), ("x/dos.txt", b"a\nb\n")],
            &[
                ("x/README", b"hi\n"),
                ("x/changed.c", b"int b;\n"),
                ("x/only-in-zip", b"2"),
                ("x/dos.txt", b"a\r\nb\r\n"),
            ],
        );
        let find = |status: CheckStatus, text: &str| results.iter().any(|(s, m)| *s == status && m.contains(text));
        let differs = "content differs between `x-1.0-src.tar.gz` and `x-1.0-src.zip` (1): `changed.c`";
        assert!(find(CheckStatus::Failure, differs), "{results:?}");
        assert!(find(CheckStatus::Failure, "that `x-1.0-src.zip` lacks (1): `only-in-tar`"), "{results:?}");
        assert!(find(CheckStatus::Failure, "that `x-1.0-src.tar.gz` lacks (1): `only-in-zip`"), "{results:?}");
        assert!(
            find(
                CheckStatus::Warning,
                "only in line endings between `x-1.0-src.tar.gz` and `x-1.0-src.zip` (1): `dos.txt`"
            ),
            "{results:?}"
        );
        assert_eq!(results.len(), 4, "{results:?}");
    }

    #[test]
    fn a_corrupt_archive_stops_the_comparison_without_a_second_failure() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = write(dir.path(), &[("x/a", b"1")], &[("x/a", b"1")]);
        let mut broken = std::fs::read(&inputs[1].file).unwrap();
        broken.truncate(broken.len() / 2);
        std::fs::write(&inputs[1].file, broken).unwrap();
        let results = check(&inputs, &Limits::default());
        assert_eq!(results.len(), 1, "{results:?}");
        assert_eq!(results[0].status, CheckStatus::Warning, "{results:?}");
        assert!(results[0].message.contains("`x-1.0-src.zip` was not compared"), "{results:?}");
    }

    #[test]
    fn tag_names_as_git_takes_them() {
        assert!(is_tag_name("rel/v1.0.0-RC1") && is_tag_name("2.4.68") && is_tag_name("v{version}"));
        for bad in [
            "", "a/", "/a", "@", "a@{1}", "a..b", "x.lock", "a:b", "a b", "-x", "a~1", "a^", "a?", "a*", "a[", "a\\b",
            "a//b", ".a", "a/.b",
        ] {
            assert!(!is_tag_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn an_archive_against_the_export_of_its_tag() {
        let dir = tempfile::tempdir().unwrap();
        let export = |files: &[(&str, &[u8])]| {
            let entries: Vec<Member> = files.iter().map(|(p, d)| Member::File(p, d)).collect();
            let path = dir.path().join("tag.tar.gz");
            std::fs::write(&path, gzip(&tar_bytes(&entries))).unwrap();
            Input::new("tag.tar.gz", path)
        };
        let archive = dir.path().join("x.tar.gz");
        let entries = [
            Member::File("x-1.0/README", b"x\n"),
            Member::File("x-1.0/src/a.c", b"int a;\n"),
            Member::File("x-1.0/src/b.c", b"int b = 1;\n"),
            Member::File("x-1.0/configure", b"#!/bin/sh\n"),
            Member::File("x-1.0/notes.txt", b"?"),
        ];
        std::fs::write(&archive, gzip(&tar_bytes(&entries))).unwrap();
        let input = Input::new("x-1.0.tar.gz", &archive);
        let generated = vec!["configure".to_owned(), "[".to_owned()];
        let tagged = export(&[
            ("tag/README", b"x\n"),
            ("tag/src/a.c", b"int a;\n"),
            ("tag/src/b.c", b"int b;\n"),
            ("tag/.gitignore", b"*.o\n"),
        ]);
        let results = check_against_tag(&input, &tagged, "tag v1.0", &generated, &Limits::default());
        let find =
            |status: CheckStatus, text: &str| results.iter().any(|r| r.status == status && r.message.contains(text));
        assert!(find(CheckStatus::Failure, "content differs from tag v1.0 (1): `src/b.c`"), "{results:#?}");
        assert!(
            find(CheckStatus::Warning, "that tag v1.0 lacks (not a generated file) (1): `notes.txt`"),
            "{results:#?}"
        );
        assert!(
            find(CheckStatus::Warning, "files in tag v1.0 that the archive lacks (1): `.gitignore`"),
            "{results:#?}"
        );
        assert!(find(CheckStatus::Warning, "glob \"[\" is not valid"), "{results:#?}");
        assert!(!results.iter().any(|r| r.status == CheckStatus::Success), "{results:#?}");

        // Fixed: the archive matches, configure being generated.
        let tagged = export(&[
            ("tag/README", b"x\n"),
            ("tag/src/a.c", b"int a;\n"),
            ("tag/src/b.c", b"int b = 1;\n"),
            ("tag/notes.txt", b"?"),
        ]);
        let results = check_against_tag(&input, &tagged, "tag v1.0", &generated[..1], &Limits::default());
        assert_eq!(results.len(), 1, "{results:#?}");
        assert_eq!(results[0].status, CheckStatus::Success, "{results:#?}");
        assert_eq!(
            results[0].message,
            "4 files of the archive match tag v1.0, and 1 generated file besides: `configure`"
        );
    }

    #[test]
    fn a_member_stored_twice_fails_both_comparisons() {
        let dir = tempfile::tempdir().unwrap();
        let twice = [Member::File("x/a.c", b"int a;\n"), Member::File("x/a.c", b"int evil;\n")];
        let tar = dir.path().join("a.tar.gz");
        std::fs::write(&tar, gzip(&tar_bytes(&twice))).unwrap();
        let zip = dir.path().join("a.zip");
        std::fs::write(&zip, zip_bytes(&[("x/a.c", b"int evil;\n")], zip::CompressionMethod::Deflated)).unwrap();
        let inputs = [Input::new("x-1.0-src.tar.gz", &tar), Input::new("x-1.0-src.zip", &zip)];
        let results = check(&inputs, &Limits::default());
        assert!(
            results.iter().any(|r| r.status == CheckStatus::Failure
                && r.message.starts_with("members that `x-1.0-src.tar.gz` stores more than once")
                && r.message.contains("`x/a.c`")),
            "{results:#?}"
        );
        assert!(!results.iter().any(|r| r.status == CheckStatus::Success), "{results:#?}");

        let tag = dir.path().join("tag.tar.gz");
        std::fs::write(&tag, gzip(&tar_bytes(&[Member::File("tag/a.c", b"int evil;\n")]))).unwrap();
        let results = check_against_tag(&inputs[0], &Input::new("tag.tar.gz", &tag), "tag v1", &[], &Limits::default());
        assert!(
            results.iter().any(|r| r.status == CheckStatus::Failure && r.message.contains("more than once")),
            "{results:#?}"
        );
        assert!(!results.iter().any(|r| r.status == CheckStatus::Success), "{results:#?}");
    }
}
