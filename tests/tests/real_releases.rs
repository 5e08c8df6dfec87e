//! Fidelity on real Apache releases that the ASF published (opt-in: `just test-real`, which
//! downloads them first with `tests/real/fetch.sh`). Each must get no `failure` from the
//! `license` and `rat` checkers, and a good signature by a key of its project's KEYS.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::path::PathBuf;

use checks::run::{Context, check_directory};
use shared_models::checks::CheckStatus;
use shared_models::runner::TaskKind;

/// At least this many releases must be there: a run on fewer proves less than it claims.
const AT_LEAST: usize = 5;

#[test]
#[ignore = "needs the real releases: run `just test-real`"]
fn real_apache_releases_pass_the_license_and_rat_checks_with_a_verified_signer() {
    let root = std::env::var("TR_REAL_RELEASES")
        .map_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/real-releases"), PathBuf::from);
    let mut releases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}; run tests/real/fetch.sh first", root.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("release").is_dir() && p.join("KEYS").is_file())
        .collect();
    releases.sort();
    assert!(releases.len() >= AT_LEAST, "only {} releases in {}", releases.len(), root.display());
    let mut problems = Vec::new();
    for release in &releases {
        let name = release.file_name().unwrap().to_string_lossy().into_owned();
        let context = Context { keys: std::fs::read(release.join("KEYS")).unwrap(), ..Context::default() };
        let outcomes = check_directory(&release.join("release"), &context).unwrap();
        let mut signer = None;
        for (planned, outcome) in outcomes {
            let results = outcome.unwrap_or_else(|e| panic!("{name}: {} could not run: {e}", planned.checker));
            for result in results {
                let rule = result.data.as_ref().and_then(|d| d["rule"].as_str()).unwrap_or("").to_owned();
                if matches!(result.checker, TaskKind::License | TaskKind::Rat)
                    && matches!(result.status, CheckStatus::Failure | CheckStatus::Error)
                {
                    problems.push(format!(
                        "{name}: {} {rule} {}: {}",
                        result.checker,
                        result.member.unwrap_or_default(),
                        result.message
                    ));
                }
                if result.checker == TaskKind::Signature && result.status == CheckStatus::Success && rule == "S2" {
                    signer = result.data.as_ref().and_then(|d| d["signer"].as_str()).map(str::to_owned);
                }
            }
        }
        match signer {
            Some(signer) => eprintln!("{name}: signed by {signer}"),
            None => problems.push(format!("{name}: no good signature by a key of its KEYS")),
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}
