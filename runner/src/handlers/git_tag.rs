//! `git_tag` checks (T2): clone the release's tag from the project's repository with the real
//! `git` client, shallow and without hooks, then compare the source archive's tree with it
//! (`checks::trees::check_against_tag`).
//!
//! The repository URL comes from the project's policy, so it is hostile: only `https://` is
//! cloned (`file://` and `http://` too with `RUNNER_WEBHOOK_ALLOW_PRIVATE`, for tests and for
//! operators' own mirrors), every other git transport is refused by git itself
//! (`protocol.allow=never`), the host must resolve to public addresses, no credential prompt
//! can hang the task, and no user or system git configuration applies.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use shared_models::checks::{CheckResult, CheckStatus};
use shared_models::runner::TaskKind;

use super::webhook::checked_address;
use super::{Handler, Job, TaskError};

/// The longest a clone may take when the task's deadline is further.
const CLONE_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug)]
pub struct GitTag {
    pub allow_private: bool,
}

/// Why a clone gave no tree.
#[derive(Debug, PartialEq, Eq)]
pub enum CloneError {
    /// The repository answered, and has no such tag: a verdict about the release.
    NoSuchTag(String),
    /// Anything else (the network, the URL, git itself): the task could not be done.
    Failed(String),
}

impl GitTag {
    /// The transports this runner clones over.
    fn schemes(&self) -> &'static [&'static str] {
        if self.allow_private { &["https", "http", "file"] } else { &["https"] }
    }

    /// Clones `tag` of `repository` into `dest` (shallow, that tag only).
    pub async fn clone_tag(
        &self,
        repository: &str,
        tag: &str,
        dest: &Path,
        deadline: Option<Instant>,
    ) -> Result<(), CloneError> {
        let scheme = repository.split_once("://").map(|(s, _)| s.to_ascii_lowercase()).unwrap_or_default();
        if !self.schemes().contains(&scheme.as_str()) {
            return Err(CloneError::Failed(format!(
                "{repository}: this runner clones only {} URLs",
                self.schemes().join(", ")
            )));
        }
        if tag.is_empty() || tag.starts_with('-') || tag.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(CloneError::Failed(format!("{tag:?} is not a tag name git takes")));
        }
        if scheme != "file" {
            checked_address(repository, self.allow_private).await.map_err(CloneError::Failed)?;
        }
        let home = dest.with_extension("home");
        tokio::fs::create_dir_all(&home).await.map_err(|e| CloneError::Failed(e.to_string()))?;
        let mut command = tokio::process::Command::new("git");
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "true")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("LC_ALL", "C")
            .args(["-c", "protocol.allow=never"])
            .args(["-c", &format!("protocol.{scheme}.allow=always")])
            .args(["-c", "core.hooksPath=/dev/null", "-c", "core.symlinks=true", "-c", "core.autocrlf=false"])
            .args(["clone", "--quiet", "--depth", "1", "--single-branch", "--no-tags", "--branch", tag, "--"])
            .arg(repository)
            .arg(dest)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = command.spawn().map_err(|e| CloneError::Failed(format!("cannot run git: {e}")))?;
        let limit = deadline.map_or(CLONE_TIMEOUT, |d| d.saturating_duration_since(Instant::now()).min(CLONE_TIMEOUT));
        let output = match tokio::time::timeout(limit, child.wait_with_output()).await {
            Ok(output) => output.map_err(|e| CloneError::Failed(format!("git: {e}")))?,
            Err(_) => return Err(CloneError::Failed(format!("cloning {repository} took more than {limit:?}"))),
        };
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said: String =
            stderr.lines().filter(|l| !l.trim().is_empty()).collect::<Vec<_>>().join(" ").chars().take(500).collect();
        if stderr.contains("not found in upstream") || stderr.contains("Could not find remote branch") {
            return Err(CloneError::NoSuchTag(said));
        }
        Err(CloneError::Failed(format!("git clone {repository} (tag {tag}): {said}")))
    }
}

impl Handler for GitTag {
    fn run<'a>(&'a self, job: Job<'a>) -> BoxFuture<'a, Result<Vec<CheckResult>, TaskError>> {
        Box::pin(async move {
            let args = &job.order.args;
            let text = |key: &str| args.get(key).and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
            let (repository, tag) = (text("repository"), text("tag"));
            let generated: Vec<String> =
                args.get("generated").and_then(|g| serde_json::from_value(g.clone()).ok()).unwrap_or_default();
            let inputs = super::check::download_inputs(&job).await?;
            let input = inputs.into_iter().next().ok_or_else(|| TaskError::Failed("the task has no input".into()))?;
            let checkout = job.dir.join("checkout");
            (job.stage)(format!("cloning {repository} at {tag}"));
            let label = format!("tag {tag} of {repository}");
            match self.clone_tag(&repository, &tag, &checkout, job.limits.deadline).await {
                Ok(()) => {}
                Err(CloneError::NoSuchTag(said)) => {
                    return Ok(vec![CheckResult {
                        checker: TaskKind::GitTag,
                        checker_version: checks::artifacts::checker::GIT_TAG.version.to_owned(),
                        path: input.path.clone(),
                        member: None,
                        status: CheckStatus::Warning,
                        message: format!(
                            "{repository} has no tag {tag}, so the archive was not compared with it (is the \
                             policy's source_tag right?): {said}"
                        ),
                        data: Some(serde_json::json!({"rule": "T2", "tag": tag})),
                    }]);
                }
                Err(CloneError::Failed(why)) => return Err(TaskError::Failed(why)),
            }
            if job.limits.expired() {
                return Err(TaskError::Stopped);
            }
            (job.stage)(format!("comparing {} with {label}", input.path));
            let limits = job.limits.clone();
            let compared = tokio::task::spawn_blocking(move || {
                checks::trees::check_against_tag(&input, &checkout, &label, &generated, &limits)
            });
            compared.await.map_err(|e| TaskError::Failed(format!("the comparison crashed: {e}")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let status = std::process::Command::new("git")
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args([
                "-c",
                "user.name=Release Manager",
                "-c",
                "user.email=rm@example.org",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    /// A real repository with a tag `v1.0`, then one more commit after it.
    fn repository(dir: &Path) -> String {
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("README"), "x\n").unwrap();
        std::fs::write(dir.join("src/a.c"), "int a;\n").unwrap();
        git(dir, &["init", "--quiet"]);
        git(dir, &["add", "."]);
        git(dir, &["commit", "--quiet", "-m", "x 1.0"]);
        git(dir, &["tag", "v1.0"]);
        std::fs::write(dir.join("src/a.c"), "int a = 2;\n").unwrap();
        git(dir, &["commit", "--quiet", "-am", "after the release"]);
        format!("file://{}", dir.display())
    }

    #[tokio::test]
    async fn a_tag_is_cloned_with_the_real_git_and_hostile_urls_are_refused() {
        let work = tempfile::tempdir().unwrap();
        let url = repository(&work.path().join("repo"));
        let allowed = GitTag { allow_private: true };
        let checkout = work.path().join("checkout");
        allowed.clone_tag(&url, "v1.0", &checkout, None).await.unwrap();
        assert_eq!(std::fs::read_to_string(checkout.join("src/a.c")).unwrap(), "int a;\n", "the tag, not the branch");

        let missing = allowed.clone_tag(&url, "v9.9", &work.path().join("none"), None).await.unwrap_err();
        assert!(matches!(missing, CloneError::NoSuchTag(_)), "{missing:?}");

        let strict = GitTag { allow_private: false };
        let refused = strict.clone_tag(&url, "v1.0", &work.path().join("no"), None).await.unwrap_err();
        assert!(matches!(&refused, CloneError::Failed(why) if why.contains("only https")), "{refused:?}");
        for (url, tag) in
            [("ext::sh -c id", "v1.0"), ("https://example.org/x", "--upload-pack=id"), ("https://example.org/x", "a b")]
        {
            let refused = allowed.clone_tag(url, tag, &work.path().join("no2"), None).await.unwrap_err();
            assert!(matches!(refused, CloneError::Failed(_)), "{url} {tag}: {refused:?}");
        }
        let private =
            strict.clone_tag("https://127.0.0.1/repo", "v1.0", &work.path().join("no3"), None).await.unwrap_err();
        assert!(matches!(&private, CloneError::Failed(why) if why.contains("not a public address")), "{private:?}");
    }

    #[tokio::test]
    async fn the_archive_is_compared_with_the_clone_of_its_tag() {
        use testkit::archives::{Entry, gzip, tar_bytes};
        let work = tempfile::tempdir().unwrap();
        let url = repository(&work.path().join("repo"));
        let checkout = work.path().join("checkout");
        GitTag { allow_private: true }.clone_tag(&url, "v1.0", &checkout, None).await.unwrap();
        let archive = work.path().join("x.tar.gz");
        let entries = [
            Entry::File("x-1.0/README", b"x\n"),
            Entry::File("x-1.0/src/a.c", b"int a = 2;\n"),
            Entry::File("x-1.0/configure", b"#!/bin/sh\n"),
        ];
        std::fs::write(&archive, gzip(&tar_bytes(&entries))).unwrap();
        let input = checks::Input::new("x-1.0.tar.gz", &archive);
        let results = checks::trees::check_against_tag(
            &input,
            &checkout,
            "tag v1.0",
            &["configure".into()],
            &checks::Limits::default(),
        );
        assert_eq!(results.len(), 1, "{results:#?}");
        assert_eq!(results[0].status, CheckStatus::Failure, "the archive holds a file changed after the tag");
        assert!(results[0].message.contains("`src/a.c`"), "{results:#?}");
    }
}
