//! The `license` checker: one LICENSE that starts with the Apache License 2.0, one NOTICE with the
//! product, ASF copyright and attribution lines, and a DISCLAIMER for podlings (CHECKS.md L1–L4).

use std::io::Read;
use std::ops::ControlFlow;

use shared_models::checks::CheckResult;
use similar::{ChangeTag, TextDiff};

use crate::archive::{self, MemberKind, TopLevel};
use crate::artifacts::{self, checker};
use crate::report::{Input, Limits, Report};

/// The Apache License 2.0 as published (the Debian copy of https://www.apache.org/licenses/LICENSE-2.0.txt).
pub const APACHE_LICENSE_2_0: &str = include_str!("licenses/Apache-2.0.txt");

/// How much of a LICENSE or NOTICE is read: the Apache text is 11 KiB, NOTICE lines come first.
const HEAD_BYTES: u64 = 64 << 10;
/// Candidate files whose text is kept (a real archive has a handful).
const TEXTS_KEPT: usize = 64;
/// Misplaced LICENSE/NOTICE files named in messages.
const ELSEWHERE_KEPT: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    License,
    Notice,
    Disclaimer,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::License => "LICENSE",
            Kind::Notice => "NOTICE",
            Kind::Disclaimer => "DISCLAIMER",
        }
    }
}

/// LICENSE, NOTICE and DISCLAIMER(-WIP), optionally `.txt` or `.md`, in any case.
fn kind_of(name: &str) -> Option<Kind> {
    let lower = name.to_ascii_lowercase();
    let stem = lower.strip_suffix(".txt").or_else(|| lower.strip_suffix(".md")).unwrap_or(&lower);
    match stem {
        "license" => Some(Kind::License),
        "notice" => Some(Kind::Notice),
        "disclaimer" | "disclaimer-wip" => Some(Kind::Disclaimer),
        _ => None,
    }
}

#[derive(Debug)]
struct Found {
    path: String,
    dir: String,
    kind: Kind,
    text: String,
}

/// The `license` checker on a source archive or a Java archive (whose licence files live in
/// `META-INF/`). `podling` adds L4.
pub fn check(input: &Input, podling: bool, limits: &Limits) -> Vec<CheckResult> {
    let mut report = Report::new(checker::LICENSE, input.path.clone());
    let mut top = TopLevel::default();
    let mut found: Vec<Found> = Vec::new();
    let mut elsewhere: Vec<(Kind, String)> = Vec::new();
    let outcome = archive::walk(input, limits, |member, reader| {
        top.add(member);
        if member.kind != MemberKind::File || member.is_apple_double() {
            return ControlFlow::Continue(());
        }
        let Some(kind) = kind_of(member.name()) else { return ControlFlow::Continue(()) };
        if member.depth() <= 2 && found.len() < TEXTS_KEPT {
            let mut bytes = Vec::new();
            // A read error is the walker's to report; the text read so far is still judged.
            let _ = reader.take(HEAD_BYTES).read_to_end(&mut bytes);
            found.push(Found {
                path: member.path.clone(),
                dir: member.parent().to_owned(),
                kind,
                text: String::from_utf8_lossy(&bytes).into_owned(),
            });
        } else if elsewhere.len() < ELSEWHERE_KEPT {
            elsewhere.push((kind, member.path.clone()));
        }
        ControlFlow::Continue(())
    });
    if let Err(error) = outcome {
        report
            .error(
                "L1",
                format!("could not read the archive to the end, so its licence files were not checked: {error}"),
            )
            .data("archive_rule", error.rule());
        return report.finish();
    }

    let java = artifacts::is_java_archive(&input.path);
    let root = licence_root(java, &top, &found);
    let place = if root.is_empty() { "the archive's root".to_owned() } else { format!("`{root}/`") };
    if java && root != "META-INF" {
        report.warning(
            "L1",
            format!(
                "no LICENSE or NOTICE in `META-INF/`, the customary place in a Java archive; checked {place} instead"
            ),
        );
    }
    let at_root = |kind: Kind| found.iter().filter(|f| f.kind == kind && f.dir == root).collect::<Vec<_>>();
    let licenses = at_root(Kind::License);
    let notices = at_root(Kind::Notice);
    let mut l1_ok = true;
    for (kind, files) in [(Kind::License, &licenses), (Kind::Notice, &notices)] {
        l1_ok &= report_presence(&mut report, kind, files, &place, &elsewhere);
    }
    if l1_ok {
        report.success("L1", format!("found `{}` and `{}`", licenses[0].path, notices[0].path));
    }
    if let [license] = licenses.as_slice() {
        check_license_text(&mut report, license);
    }
    if let [notice] = notices.as_slice() {
        check_notice_text(&mut report, notice);
    }
    if podling {
        let disclaimers = at_root(Kind::Disclaimer);
        match disclaimers.first() {
            Some(disclaimer) => {
                report.success("L4", format!("found `{}`, as a podling release needs", disclaimer.path));
            }
            None => {
                report.failure(
                    "L4",
                    format!(
                        "no DISCLAIMER in {place}: expected a DISCLAIMER (or DISCLAIMER-WIP) file at the root of a \
                         podling's release, stating that the project is incubating"
                    ),
                );
            }
        }
    }
    report.finish()
}

/// Where the licence files must be: `META-INF` in a Java archive (its root if they are only
/// there), else the single top-level directory, else the archive's root.
fn licence_root(java: bool, top: &TopLevel, found: &[Found]) -> String {
    if java {
        let in_meta_inf = found.iter().any(|f| f.dir == "META-INF" && f.kind != Kind::Disclaimer);
        let at_root = found.iter().any(|f| f.dir.is_empty() && f.kind != Kind::Disclaimer);
        return if !in_meta_inf && at_root { String::new() } else { "META-INF".to_owned() };
    }
    top.single_dir().unwrap_or_default().to_owned()
}

/// L1 for one kind: exactly one file. Returns whether it holds.
fn report_presence(
    report: &mut Report,
    kind: Kind,
    files: &[&Found],
    place: &str,
    elsewhere: &[(Kind, String)],
) -> bool {
    let name = kind.name();
    match files.len() {
        1 => true,
        0 => {
            let misplaced: Vec<&str> = elsewhere.iter().filter(|(k, _)| *k == kind).map(|(_, p)| p.as_str()).collect();
            let hint =
                if misplaced.is_empty() { String::new() } else { format!("; found only {}", misplaced.join(", ")) };
            report
                .failure(
                    "L1",
                    format!(
                        "no {name} file in {place}: expected exactly one {name} (or {name}.txt, {name}.md) at the \
                         root of the distribution{hint}"
                    ),
                )
                .data("expected", name)
                .data("misplaced", misplaced);
            false
        }
        n => {
            let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
            report
                .failure(
                    "L1",
                    format!("found {n} {name} files in {place} ({}): expected exactly one", paths.join(", ")),
                )
                .data("files", paths);
            false
        }
    }
}

/// Where a LICENSE first departs from the Apache License 2.0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseMismatch {
    /// Line of the Apache License text (1-based).
    pub expected_line: usize,
    /// Line of the LICENSE file, `None` when the file ends first.
    pub found_line: Option<usize>,
    pub expected: String,
    pub found: String,
    /// Whether the first difference lies after "END OF TERMS AND CONDITIONS" (in the appendix,
    /// which tells how to apply the licence and which some projects trim or fill in).
    pub in_appendix: bool,
    /// A short unified-style diff around the difference.
    pub diff: String,
}

/// Words of a text with their line numbers, `https://` read as `http://` and typographic quotes
/// as plain ones: the comparison ignores layout and these cosmetic variants only.
fn words(text: &str) -> Vec<(String, usize)> {
    text.trim_start_matches('\u{feff}')
        .lines()
        .enumerate()
        .flat_map(|(index, line)| {
            line.split_whitespace().map(move |word| {
                let word = word
                    .replace("https://", "http://")
                    .replace(['\u{201c}', '\u{201d}'], "\"")
                    .replace(['\u{2018}', '\u{2019}'], "'");
                (word, index + 1)
            })
        })
        .collect()
}

/// Compares the start of a LICENSE with the Apache License 2.0, whitespace normalised; text after
/// the licence (third-party licences) is allowed. `None` when it matches.
pub fn compare_license(text: &str, path: &str) -> Option<LicenseMismatch> {
    let expected = words(APACHE_LICENSE_2_0);
    let found = words(text);
    let index = expected.iter().zip(&found).position(|(e, f)| e.0 != f.0).or_else(|| {
        // Equal as far as both go: a mismatch only if the file stops early.
        (found.len() < expected.len()).then_some(found.len())
    })?;
    let end_of_terms = expected
        .windows(5)
        .position(|w| w.iter().map(|(word, _)| word.as_str()).eq(["END", "OF", "TERMS", "AND", "CONDITIONS"]))
        .map_or(usize::MAX, |i| i + 5);
    let expected_line = expected[index].1;
    let found_line = found.get(index).map(|(_, line)| *line);
    let expected_lines: Vec<&str> = APACHE_LICENSE_2_0.lines().collect();
    let found_lines: Vec<&str> = text.lines().collect();
    let line_of = |lines: &[&str], n: usize| lines.get(n.wrapping_sub(1)).map_or("", |l| l.trim()).to_owned();
    // A few lines either side of the first difference, compared line by line.
    let window = |lines: &[&str], line: usize| {
        let first = line.saturating_sub(3);
        lines.iter().skip(first).take(6).map(|l| format!("{}\n", clip(l.trim()))).collect::<String>()
    };
    let old = window(&expected_lines, expected_line);
    let new = found_line.map(|line| window(&found_lines, line)).unwrap_or_default();
    let mut diff = format!(
        "--- Apache License 2.0 (line {expected_line})\n+++ {path} (line {})\n",
        found_line.map_or_else(|| "end of file".to_owned(), |l| l.to_string())
    );
    for change in TextDiff::from_lines(&old, &new).iter_all_changes() {
        let sign = match change.tag() {
            ChangeTag::Equal => ' ',
            ChangeTag::Delete => '-',
            ChangeTag::Insert => '+',
        };
        diff.push(sign);
        diff.push_str(change.value());
    }
    Some(LicenseMismatch {
        expected_line,
        found_line,
        expected: line_of(&expected_lines, expected_line),
        found: found_line.map(|l| line_of(&found_lines, l)).unwrap_or_default(),
        in_appendix: index >= end_of_terms,
        diff,
    })
}

fn clip(line: &str) -> String {
    if line.chars().count() > 160 {
        format!("{}…", line.chars().take(160).collect::<String>())
    } else {
        line.to_owned()
    }
}

fn check_license_text(report: &mut Report, license: &Found) {
    let Some(mismatch) = compare_license(&license.text, &license.path) else {
        report
            .success("L2", format!("`{}` begins with the full Apache License 2.0 text", license.path))
            .member(license.path.clone());
        return;
    };
    let location = match mismatch.found_line {
        Some(line) => format!("line {line} reads `{}`", clip(&mismatch.found)),
        None => "the file ends there".to_owned(),
    };
    let message = format!(
        "`{}` departs from the Apache License 2.0 at its line {}: expected `{}`, {location}",
        license.path,
        mismatch.expected_line,
        clip(&mismatch.expected)
    );
    let handle = if mismatch.in_appendix {
        // The terms are intact; the appendix only explains how to apply the licence.
        report.warning("L2", format!("{message} (in the APPENDIX, after the terms and conditions, which match)"))
    } else {
        report.failure("L2", format!("{message}; LICENSE must begin with the full licence text"))
    };
    handle
        .member(license.path.clone())
        .data("diff", mismatch.diff)
        .data("expected_line", mismatch.expected_line)
        .data("found_line", mismatch.found_line);
}

/// One thing wrong with a NOTICE file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeIssue {
    /// A failure (the substance is missing) or a warning (worded differently).
    pub failure: bool,
    /// The line (1-based) the issue is about.
    pub line: Option<usize>,
    pub message: String,
}

impl NoticeIssue {
    fn failure(line: Option<usize>, message: String) -> Self {
        Self { failure: true, line, message }
    }

    fn warning(line: Option<usize>, message: String) -> Self {
        Self { failure: false, line, message }
    }
}

const ATTRIBUTION: &str =
    "This product includes software developed at The Apache Software Foundation (https://www.apache.org/).";
const COPYRIGHT: &str = "Copyright [yyyy-]yyyy The Apache Software Foundation";

/// Judges the start of a NOTICE: the product line, the ASF copyright line and the attribution.
/// Real NOTICE files word these differently (`(c)`, a final `.`, `developed by`, no URL): the
/// substance is required, the wording only warned about.
pub fn check_notice(text: &str) -> Vec<NoticeIssue> {
    let text = text.trim_start_matches('\u{feff}');
    let mut issues = Vec::new();
    let lines: Vec<(usize, &str)> =
        text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty()).collect();
    let Some(&(first_line, first)) = lines.first() else {
        issues.push(NoticeIssue::failure(
            None,
            format!("the file is empty: expected a product line, then `{COPYRIGHT}`"),
        ));
        return issues;
    };
    let is_copyright = |line: &str| line.to_ascii_lowercase().starts_with("copyright");
    let product = !is_copyright(first);
    if !product {
        issues.push(NoticeIssue::failure(
            Some(first_line),
            format!("line {first_line}: expected the product name (e.g. `Apache Foo`) first, found `{}`", clip(first)),
        ));
    } else if !first.to_ascii_lowercase().contains("apache") {
        issues.push(NoticeIssue::warning(
            Some(first_line),
            format!(
                "line {first_line}: expected the product name, which for an ASF product reads `Apache …`, found `{}`",
                clip(first)
            ),
        ));
    }
    let copyright = lines.iter().position(|(_, line)| is_copyright(line));
    match copyright {
        None => issues.push(NoticeIssue::failure(
            None,
            format!("expected `{COPYRIGHT}` after the product line, found no copyright line"),
        )),
        Some(index) => {
            let (line_number, line) = lines[index];
            match parse_copyright(line) {
                Err(reason) => issues.push(NoticeIssue::failure(
                    Some(line_number),
                    format!("line {line_number}: expected `{COPYRIGHT}`, found `{}` ({reason})", clip(line)),
                )),
                Ok(notes) => {
                    for note in notes {
                        issues.push(NoticeIssue::warning(
                            Some(line_number),
                            format!("line {line_number}: `{}` {note}; the usual form is `{COPYRIGHT}`", clip(line)),
                        ));
                    }
                }
            }
            let expected_index = usize::from(product);
            if index != expected_index {
                let (expected_at, _) = lines[expected_index.min(lines.len() - 1)];
                issues.push(NoticeIssue::warning(
                    Some(line_number),
                    format!(
                        "the copyright line is line {line_number}: expected it right after the product line \
                         (line {expected_at})"
                    ),
                ));
            }
        }
    }
    issues.extend(check_attribution(text));
    issues
}

/// The reasons a copyright line is only worded differently (empty when it is the usual form), or
/// why it is not an ASF copyright line.
fn parse_copyright(line: &str) -> Result<Vec<&'static str>, String> {
    let mut notes = Vec::new();
    // Past `Copyright`: marks such as `(c)`, `©` (or its mis-decoded Latin-1 byte) and `:`.
    let mut rest = line.get("copyright".len()..).unwrap_or("");
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("(c)").or_else(|| rest.strip_prefix("(C)")) {
            rest = after;
        } else if let Some(mark) = rest.chars().next().filter(|c| !c.is_ascii_alphanumeric()) {
            rest = &rest[mark.len_utf8()..];
        } else {
            break;
        }
    }
    let years_end =
        rest.find(|c: char| !(c.is_ascii_digit() || matches!(c, ' ' | ',' | '-' | '–'))).unwrap_or(rest.len());
    let years = &rest[..years_end];
    if !years.split(|c: char| !c.is_ascii_digit()).any(|run| run.len() == 4) {
        notes.push("has no year");
    }
    let mut holder = rest[years_end..].trim();
    if let Some(after) = holder.strip_prefix("present") {
        holder = after.trim_start();
    }
    let holder = holder.trim_end_matches('.').trim();
    let lower = holder.to_ascii_lowercase();
    if lower == "the apache software foundation" {
        return Ok(notes);
    }
    if lower == "apache software foundation" {
        notes.push("omits `The` before `Apache Software Foundation`");
        return Ok(notes);
    }
    if lower.contains("apache software foundation") {
        notes.push("adds words around `The Apache Software Foundation`");
        return Ok(notes);
    }
    Err(format!("the holder is `{holder}`, not The Apache Software Foundation"))
}

/// Finds the ASF attribution anywhere in the text (it may span lines; third-party ones may precede it).
fn check_attribution(text: &str) -> Vec<NoticeIssue> {
    // The text as one line of single-spaced words, each word remembering its line.
    let mut flat = String::new();
    let mut line_at: Vec<(usize, usize)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        for word in line.split_whitespace() {
            if !flat.is_empty() {
                flat.push(' ');
            }
            line_at.push((flat.len(), index + 1));
            flat.push_str(word);
        }
    }
    let lower = flat.to_ascii_lowercase();
    let line_of = |offset: usize| line_at.iter().rev().find(|(start, _)| *start <= offset).map(|(_, line)| *line);
    let lead = "this product includes software developed ";
    let mut first_other = None;
    let mut reworded = None;
    for (offset, _) in lower.match_indices(lead) {
        let after = &lower[offset + lead.len()..];
        let (preposition, after) = match after.split_once(' ') {
            Some((word @ ("at" | "by"), rest)) => (word, rest),
            _ => ("", after),
        };
        let holder = ["the apache software foundation", "apache software foundation"]
            .into_iter()
            .find(|holder| after.starts_with(holder));
        let Some(holder) = holder else {
            // The same substance in other words ("developed by many people, and distributed
            // under Contributor License Agreements to The Apache Software Foundation"): the
            // sentence credits the foundation.
            let sentence = &lower[offset..offset + sentence_length(&lower[offset..])];
            if reworded.is_none() && sentence.contains("apache software foundation") {
                reworded = Some(offset);
            }
            first_other.get_or_insert(offset);
            continue;
        };
        let line = line_of(offset);
        let at = line.map_or_else(String::new, |l| format!("line {l}: "));
        let mut issues = Vec::new();
        if preposition != "at" {
            issues.push(NoticeIssue::warning(
                line,
                format!("{at}the attribution reads `developed {preposition}`; the usual form is `{ATTRIBUTION}`"),
            ));
        }
        if holder != "the apache software foundation" {
            issues.push(NoticeIssue::warning(
                line,
                format!("{at}the attribution omits `The`; the usual form is `{ATTRIBUTION}`"),
            ));
        }
        let tail_offset = offset + lead.len() + preposition.len() + usize::from(!preposition.is_empty()) + holder.len();
        let tail = flat[tail_offset..].trim_start();
        let url = tail.strip_prefix('(').and_then(|t| t.split_once(')')).map(|(url, _)| url.trim());
        match url {
            Some(url) if is_asf_url(url) => {}
            Some(url) => issues.push(NoticeIssue::warning(
                line,
                format!("{at}the attribution links `({url})`: expected `(https://www.apache.org/)`"),
            )),
            None => issues.push(NoticeIssue::warning(
                line,
                format!(
                    "{at}the attribution has no link: expected `(https://www.apache.org/)` after the foundation's name"
                ),
            )),
        }
        return issues;
    }
    if let Some(offset) = reworded {
        let line = line_of(offset);
        let at = line.map_or_else(String::new, |l| format!("line {l}: "));
        let sentence = &flat[offset..offset + sentence_length(&lower[offset..])];
        return vec![NoticeIssue::warning(
            line,
            format!(
                "{at}the attribution credits the foundation in its own words (`{}`); the usual form is `{ATTRIBUTION}`",
                clip(sentence)
            ),
        )];
    }
    let found =
        first_other.and_then(line_of).map_or_else(String::new, |l| format!(" (line {l} attributes someone else)"));
    vec![NoticeIssue::failure(None, format!("expected the attribution `{ATTRIBUTION}`, found none{found}"))]
}

/// The length of the sentence at the start of `text` (single-spaced): up to a `.` that ends a
/// word (not the dots of a URL), at most 400 bytes.
fn sentence_length(text: &str) -> usize {
    let end = text.match_indices(". ").next().map_or(text.len(), |(i, _)| i + 1);
    let mut end = end.min(400).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

fn is_asf_url(url: &str) -> bool {
    let url = url.trim_end_matches('/');
    let url = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")).unwrap_or("");
    url.eq_ignore_ascii_case("www.apache.org") || url.eq_ignore_ascii_case("apache.org")
}

fn check_notice_text(report: &mut Report, notice: &Found) {
    let issues = check_notice(&notice.text);
    let failed = issues.iter().any(|issue| issue.failure);
    for issue in issues {
        let message = format!("`{}`, {}", notice.path, issue.message);
        let handle = if issue.failure { report.failure("L3", message) } else { report.warning("L3", message) };
        handle.member(notice.path.clone()).data("line", issue.line);
    }
    if !failed {
        report
            .success(
                "L3",
                format!("`{}` starts with the product line, the ASF copyright and the attribution", notice.path),
            )
            .member(notice.path.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apache_text_matches_itself_and_https_and_appended_licences() {
        assert_eq!(compare_license(APACHE_LICENSE_2_0, "LICENSE"), None);
        let https = APACHE_LICENSE_2_0.replace("http://", "https://");
        assert_eq!(compare_license(&https, "LICENSE"), None);
        let rewrapped = format!(
            "\n\n{}\n\nAPACHE HTTP SERVER SUBCOMPONENTS:\n\nMIT ...",
            APACHE_LICENSE_2_0.replace("\n      ", "\n")
        );
        assert_eq!(compare_license(&rewrapped, "LICENSE"), None);
    }

    #[test]
    fn a_changed_term_fails_with_the_line() {
        let changed = APACHE_LICENSE_2_0.replacen("a perpetual,", "a temporary,", 1);
        let mismatch = compare_license(&changed, "x/LICENSE").expect("mismatch");
        assert!(!mismatch.in_appendix);
        assert_eq!(mismatch.expected_line, mismatch.found_line.expect("line"));
        assert!(mismatch.expected.contains("perpetual"), "{mismatch:?}");
        let lines: Vec<&str> = mismatch.diff.lines().collect();
        let removed: Vec<&&str> = lines.iter().filter(|l| l.starts_with('-') && !l.starts_with("---")).collect();
        let added: Vec<&&str> = lines.iter().filter(|l| l.starts_with('+') && !l.starts_with("+++")).collect();
        assert_eq!(removed.len(), 1, "only the changed line differs:\n{}", mismatch.diff);
        assert!(
            removed[0].contains("perpetual") && added.len() == 1 && added[0].contains("temporary"),
            "{}",
            mismatch.diff
        );
        assert!(lines.iter().any(|l| l.starts_with(' ')), "context around it:\n{}", mismatch.diff);
    }

    #[test]
    fn a_trimmed_appendix_is_only_in_the_appendix() {
        let end = APACHE_LICENSE_2_0.find("APPENDIX").expect("appendix");
        let mismatch = compare_license(&APACHE_LICENSE_2_0[..end], "LICENSE").expect("mismatch");
        assert!(mismatch.in_appendix);
        assert_eq!(mismatch.found_line, None);
    }

    #[test]
    fn notices_of_real_releases_pass() {
        let httpd = "Apache HTTP Server\nCopyright 2026 The Apache Software Foundation.\n\nThis product includes \
                     software developed at\nThe Apache Software Foundation (https://www.apache.org/).\n\nPortions ...";
        assert_eq!(check_notice(httpd), []);
        let old = "Apache Commons Lang\nCopyright (c) 2000-2023 The Apache Software Foundation.\n\nThis product \
                   includes software developed at\nThe Apache Software Foundation (http://www.apache.org/).\n";
        assert_eq!(check_notice(old), []);
        let latin1 = "\u{feff}Apache Foo\r\nCopyright \u{fffd} 2019 The Apache Software Foundation\r\nThis product \
                      includes software developed at The Apache Software Foundation (https://www.apache.org/).";
        assert_eq!(check_notice(latin1), []);
    }

    #[test]
    fn notice_style_differences_warn() {
        let text = "Apache Tooling Test Example\n\nCopyright 2025 The Apache Software Foundation\n\nThis product \
                    includes software developed at\nThe Apache Software Foundation (/).\n";
        let issues = check_notice(text);
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert!(!issues[0].failure);
        assert_eq!(issues[0].line, Some(5));
        let by = "Apache Foo\nCopyright 2024 Apache Software Foundation\nThis product includes software developed \
                  by the Apache Software Foundation (http://www.apache.org/).";
        let issues = check_notice(by);
        assert!(issues.iter().all(|i| !i.failure), "{issues:?}");
        assert_eq!(issues.len(), 2, "{issues:?}");
    }

    /// Subversion's NOTICE credits the foundation in its own words: the substance is there.
    #[test]
    fn a_reworded_attribution_warns() {
        let svn = "Apache Subversion\nCopyright 2022 The Apache Software Foundation\n\nThis product includes software \
                   developed by many people, and distributed\nunder Contributor License Agreements to The Apache \
                   Software Foundation\n(http://www.apache.org/).  See the accompanying COMMITTERS file and the\n\
                   revision logs for an exact contribution history.\n";
        let issues = check_notice(svn);
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert!(!issues[0].failure, "{issues:?}");
        assert_eq!(issues[0].line, Some(4));
        assert!(issues[0].message.contains("own words"), "{issues:?}");
        // Crediting someone else, with the foundation only in a later sentence, is not it.
        let other = "Apache Foo\nCopyright 2024 The Apache Software Foundation\nThis product includes software \
                     developed by Joe. The Apache Software Foundation is great.";
        assert!(check_notice(other).iter().any(|i| i.failure), "{:?}", check_notice(other));
    }

    #[test]
    fn notice_substance_missing_fails_naming_the_line() {
        let issues = check_notice(
            "Copyright 2024 The Apache Software Foundation\nThis product includes software developed at The Apache \
             Software Foundation (https://www.apache.org/).",
        );
        assert!(issues.iter().any(|i| i.failure && i.line == Some(1)), "{issues:?}");
        let issues = check_notice("Apache Foo\nCopyright 2024 Joe Bloggs\n");
        assert!(issues.iter().any(|i| i.failure && i.line == Some(2)), "{issues:?}");
        assert!(issues.iter().any(|i| i.failure && i.message.contains("attribution")), "{issues:?}");
    }

    #[test]
    fn licence_file_names() {
        assert_eq!(kind_of("LICENSE.txt"), Some(Kind::License));
        assert_eq!(kind_of("NOTICE.md"), Some(Kind::Notice));
        assert_eq!(kind_of("DISCLAIMER-WIP"), Some(Kind::Disclaimer));
        assert_eq!(kind_of("LICENSE-MIT"), None);
    }
}
