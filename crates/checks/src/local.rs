//! `runner check DIR` and `trel check DIR`: the server's checks on a folder of release files, on
//! one's own machine, with the same planning and the same checkers, so the verdicts are the
//! server's. Behind the `local` feature (it brings clap and anyhow).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::run::{Context, check_directory};
use anyhow::Context as _;
use shared_models::api::ProjectPolicy;
use shared_models::checks::{CheckResult, CheckStatus};

#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The folder holding the release files (artifacts, .asc, .sha512), as they would be uploaded.
    pub dir: PathBuf,
    /// The committee's KEYS file, for the signature check (e.g. downloaded from
    /// https://downloads.apache.org/<project>/KEYS).
    #[arg(long)]
    pub keys: Option<PathBuf>,
    /// Apply the podling rules ("incubating" names, DISCLAIMER).
    #[arg(long)]
    pub podling: bool,
    /// Files without a licence header fail instead of warning.
    #[arg(long)]
    pub strict_headers: bool,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    /// List every result; without it, results of one rule past the first few are counted
    /// (httpd has 643 files without a recognised licence header).
    #[arg(long, short)]
    pub verbose: bool,
}

/// Results of one checker, rule and status shown one by one before the rest are counted.
const SHOWN_PER_GROUP: usize = 5;

/// Runs the checks; returns the report to print and whether anything failed.
pub fn check(args: &CheckArgs, limits: crate::Limits) -> anyhow::Result<(String, bool)> {
    let keys = match &args.keys {
        Some(path) => std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
        None => Vec::new(),
    };
    let policy = ProjectPolicy {
        unknown_header_severity: if args.strict_headers { "failure" } else { "warning" }.to_owned(),
        ..ProjectPolicy::default()
    };
    let context = Context { podling: args.podling, policy, keys, limits };
    let outcomes =
        check_directory(&args.dir, &context).with_context(|| format!("cannot read {}", args.dir.display()))?;
    let mut results: Vec<CheckResult> = Vec::new();
    for (planned, outcome) in outcomes {
        match outcome {
            Ok(found) => results.extend(found),
            Err(error) => results.push(CheckResult {
                checker: planned.checker,
                checker_version: planned.checker_version.to_owned(),
                path: planned.path,
                member: None,
                status: CheckStatus::Error,
                message: error,
                data: None,
            }),
        }
    }
    let failed = results.iter().any(|r| matches!(r.status, CheckStatus::Failure | CheckStatus::Error));
    let text = if args.json {
        serde_json::to_string_pretty(&results)?
    } else {
        render(&args.dir, &results, args.keys.is_none(), args.verbose)
    };
    Ok((text, failed))
}

/// The report for a terminal: worst first (failures, errors, warnings, successes), each group of
/// one checker, rule and status listed up to a few results, and counted past that.
fn render(dir: &Path, results: &[CheckResult], no_keys: bool, verbose: bool) -> String {
    let mut out = String::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let rule_of =
        |r: &CheckResult| r.data.as_ref().and_then(|d| d.get("rule")).and_then(|r| r.as_str()).unwrap_or("").to_owned();
    let severity = |status: CheckStatus| match status {
        CheckStatus::Failure => 0,
        CheckStatus::Error => 1,
        CheckStatus::Warning => 2,
        CheckStatus::Waived => 3,
        CheckStatus::Success => 4,
    };
    let mut groups: BTreeMap<(u8, String, String), Vec<&CheckResult>> = BTreeMap::new();
    for result in results {
        let key = (severity(result.status), result.checker.as_str().to_owned(), rule_of(result));
        groups.entry(key).or_default().push(result);
    }
    for ((_, checker, rule), members) in &groups {
        let shown = if verbose { members.len() } else { members.len().min(SHOWN_PER_GROUP) };
        for result in &members[..shown] {
            render_one(&mut out, result);
        }
        if shown < members.len() {
            let _ = writeln!(
                out,
                "     … and {} more {} {checker} {rule} results like these (--verbose lists them all)",
                members.len() - shown,
                members[0].status.as_str()
            );
        }
    }
    for result in results {
        *counts.entry(result.status.as_str()).or_default() += 1;
    }
    let summary: Vec<String> = counts.iter().map(|(status, n)| format!("{n} {status}")).collect();
    let _ = writeln!(out, "\n{}: {}", dir.display(), summary.join(", "));
    if no_keys {
        let _ = writeln!(out, "(no --keys given: signatures cannot be verified against the committee's KEYS)");
    }
    out
}

fn render_one(out: &mut String, result: &CheckResult) {
    let mark = match result.status {
        CheckStatus::Success => "ok  ",
        CheckStatus::Warning => "warn",
        CheckStatus::Failure => "FAIL",
        CheckStatus::Error => "ERR ",
        CheckStatus::Waived => "waiv",
    };
    let rule = result.data.as_ref().and_then(|d| d.get("rule")).and_then(|r| r.as_str()).unwrap_or("");
    let place = match &result.member {
        Some(member) => format!("{} :: {member}", result.path),
        None => result.path.clone(),
    };
    let _ = writeln!(out, "{mark} {:<9} {rule:<3} {place}\n          {}", result.checker, result.message);
}
