//! Running a planned check: the one entry point the runner and the local `check` command share,
//! so a release manager reproducing a failure on their machine gets the server's verdict.

use std::collections::BTreeMap;
use std::path::Path;

use shared_models::api::ProjectPolicy;
use shared_models::checks::CheckResult;
use shared_models::runner::TaskKind;

use crate::artifacts::{self, PlannedCheck, checker};
use crate::report::{Input, Limits};
use crate::signature::SignaturePolicy;

/// What a check may depend on besides its input files.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub podling: bool,
    pub policy: ProjectPolicy,
    /// The committee's KEYS file (for `signature`).
    pub keys: Vec<u8>,
    pub limits: Limits,
}

/// Whether a checker reads the bytes of its inputs (all but `paths`, which judges names).
pub fn reads_bytes(kind: TaskKind) -> bool {
    kind != checker::PATHS.kind
}

/// Runs one check. `inputs` are the planned inputs, subject first, with their local files
/// (for `paths`, the files need not exist). A kind that is not a check or a missing input is
/// an `Err`: the task itself is wrong, as opposed to the release failing a rule.
pub fn run(kind: TaskKind, inputs: &[Input], context: &Context) -> Result<Vec<CheckResult>, String> {
    let subject = inputs.first();
    let need = |n: usize| {
        if inputs.len() < n {
            Err(format!("the {kind} check needs {n} input(s), got {}", inputs.len()))
        } else {
            Ok(())
        }
    };
    match kind {
        TaskKind::Paths => {
            let paths: Vec<String> = inputs.iter().map(|i| i.path.clone()).collect();
            Ok(crate::paths::check(&paths, context.podling || context.policy.require_incubating_name))
        }
        TaskKind::Hashing => {
            need(2)?;
            Ok(crate::hashing::check(&inputs[0], &inputs[1]))
        }
        TaskKind::Signature => {
            need(2)?;
            let policy = SignaturePolicy {
                warn_on_rsa_below_4096: context.policy.warn_on_rsa_below_4096,
                ..SignaturePolicy::default()
            };
            Ok(crate::signature::check(&inputs[0], &inputs[1], &context.keys, &policy))
        }
        TaskKind::Archive => Ok(crate::archive::check(subject.ok_or("no input")?, &context.limits)),
        TaskKind::License => Ok(crate::license::check(subject.ok_or("no input")?, context.podling, &context.limits)),
        TaskKind::Rat => {
            Ok(crate::rat::check(subject.ok_or("no input")?, &context.policy.unknown_header_severity, &context.limits))
        }
        TaskKind::Sbom => Ok(crate::sbom::check(subject.ok_or("no input")?)),
        TaskKind::Trees => {
            need(2)?;
            Ok(crate::trees::check(inputs, &context.limits))
        }
        // The runner clones the tag first (`runner/src/handlers/git_tag.rs`), then calls
        // `trees::check_against_tag`.
        TaskKind::GitTag => Err("the git_tag check needs a clone of the tag: a runner makes it".to_owned()),
        TaskKind::Mail
        | TaskKind::Webhook
        | TaskKind::VoteThread
        | TaskKind::Distribution
        | TaskKind::SvnPublish
        | TaskKind::SvnArchive
        | TaskKind::SvnImport
        | TaskKind::SbomGenerate => Err(format!("{kind} is not a check")),
    }
}

/// Every file under `root`, as release paths (`/`-separated, relative), sorted.
pub fn release_files(root: &Path) -> std::io::Result<BTreeMap<String, std::path::PathBuf>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                let relative = entry
                    .path()
                    .strip_prefix(root)
                    .map_err(std::io::Error::other)?
                    .to_string_lossy()
                    .replace('\\', "/");
                files.insert(relative, entry.path());
            }
        }
    }
    Ok(files)
}

/// A planned check and what running it gave: its results, or why it could not run.
pub type Outcome = (PlannedCheck, Result<Vec<CheckResult>, String>);

/// Plans and runs every check of the release files under `root`, as the server would for a
/// revision holding them.
pub fn check_directory(root: &Path, context: &Context) -> std::io::Result<Vec<Outcome>> {
    let files = release_files(root)?;
    let paths: Vec<&str> = files.keys().map(String::as_str).collect();
    let mut outcomes = Vec::new();
    for planned in artifacts::plan(&paths) {
        let inputs: Vec<Input> =
            planned.inputs.iter().map(|p| Input::new(p.clone(), files.get(p).cloned().unwrap_or_default())).collect();
        let results = run(planned.checker, &inputs, context);
        outcomes.push((planned, results));
    }
    Ok(outcomes)
}
