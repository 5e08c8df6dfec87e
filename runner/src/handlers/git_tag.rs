//! `git_tag` checks (T2): fetch the release's tag from the project's repository with the real
//! `git` client (that tag's commit only, shallow), export it with `git archive` — which honours
//! `export-ignore` and `export-subst` as release tooling does — and compare the source archive's
//! tree with it (`checks::trees::check_against_tag`). Nothing is checked out: the export is read
//! by the archive walker under the task's limits, so a small repository cannot fill the disk
//! with a huge working tree.
//!
//! The repository URL comes from the project's policy, so it is hostile: only `https://` is
//! fetched (`file://` and `http://` too with `RUNNER_WEBHOOK_ALLOW_PRIVATE`, for tests and for
//! operators' own mirrors); every other git transport is refused by git itself
//! (`protocol.allow=never`); the host must resolve to public addresses and git connects to the
//! address checked (`http.curloptResolve`), following no redirect; no credential prompt can
//! hang the task; no user or system configuration applies; only a tag is fetched (a branch of
//! the same name is not it); git runs in a process group of its own, killed with the task.

use std::path::{Path, PathBuf};

use futures_util::future::BoxFuture;
use shared_models::checks::{CheckResult, CheckStatus};
use shared_models::runner::TaskKind;

use super::tool::{self, Ran};
use super::webhook::checked_address;
use super::{Handler, Job, TaskError};

#[derive(Debug)]
pub struct GitTag {
    pub allow_private: bool,
}

/// Why a fetch gave no tree.
#[derive(Debug, PartialEq, Eq)]
pub enum CloneError {
    /// The repository answered, and has no such tag: a verdict about the release.
    NoSuchTag(String),
    /// Anything else (the network, the URL, git itself): the task could not be done.
    Failed(String),
}

impl GitTag {
    /// The transports this runner fetches over.
    fn schemes(&self) -> &'static [&'static str] {
        if self.allow_private { &["https", "http", "file"] } else { &["https"] }
    }

    /// Fetches `tag` of `repository` into a bare repository under `work` and exports its tree
    /// as `work/tag.tar.gz` (every path under `tag/`); the export's path.
    pub async fn export_tag(
        &self,
        repository: &str,
        tag: &str,
        work: &Path,
        limits: &checks::Limits,
    ) -> Result<PathBuf, CloneError> {
        let scheme = repository.split_once("://").map(|(s, _)| s.to_ascii_lowercase()).unwrap_or_default();
        if !self.schemes().contains(&scheme.as_str()) {
            return Err(CloneError::Failed(format!(
                "{repository}: this runner fetches only {} URLs",
                self.schemes().join(", ")
            )));
        }
        if !checks::trees::is_tag_name(tag) {
            return Err(CloneError::Failed(format!("{tag:?} is not a tag name git takes")));
        }
        let mut config = vec![
            "protocol.allow=never".to_owned(),
            format!("protocol.{scheme}.allow=always"),
            "http.followRedirects=false".to_owned(),
            "core.hooksPath=/dev/null".to_owned(),
        ];
        if scheme != "file" {
            let (host, address) = checked_address(repository, self.allow_private).await.map_err(CloneError::Failed)?;
            let ip = match address.ip() {
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                ip => ip.to_string(),
            };
            config.push(format!("http.curloptResolve={host}:{}:{ip}", address.port()));
        }
        let repo = work.join("tag.git");
        let home = work.join("git-home");
        for dir in [&repo, &home] {
            tokio::fs::create_dir_all(dir).await.map_err(|e| CloneError::Failed(e.to_string()))?;
        }
        let git = |args: Vec<String>| {
            let mut all: Vec<String> = config.iter().flat_map(|c| ["-c".to_owned(), c.clone()]).collect();
            all.extend(args);
            run_git(all, &repo, &home, limits)
        };
        let init = git(vec!["init".into(), "--quiet".into(), "--bare".into(), ".".into()]).await?;
        if !init.success {
            return Err(CloneError::Failed(format!("git init: {}", init.said)));
        }
        let refspec = format!("+refs/tags/{tag}:refs/tags/{tag}");
        let fetch = git(vec![
            "fetch".into(),
            "--quiet".into(),
            "--depth".into(),
            "1".into(),
            "--no-tags".into(),
            "--".into(),
            repository.to_owned(),
            refspec,
        ])
        .await?;
        if !fetch.success {
            if fetch.said.contains("couldn't find remote ref") || fetch.said.contains("not our ref") {
                return Err(CloneError::NoSuchTag(fetch.said));
            }
            return Err(CloneError::Failed(format!("git fetch {repository} (tag {tag}): {}", fetch.said)));
        }
        let export = work.join("tag.tar.gz");
        let archive = git(vec![
            "archive".into(),
            "--format=tar.gz".into(),
            "--prefix=tag/".into(),
            "-o".into(),
            export.display().to_string(),
            format!("refs/tags/{tag}^{{commit}}"),
        ])
        .await?;
        if !archive.success {
            return Err(CloneError::Failed(format!("git archive of tag {tag}: {}", archive.said)));
        }
        Ok(export)
    }
}

/// Runs git in `dir` with a private `HOME` and no user or system configuration, no prompt.
async fn run_git(args: Vec<String>, dir: &Path, home: &Path, limits: &checks::Limits) -> Result<Ran, CloneError> {
    let env = vec![
        ("HOME", home.as_os_str().to_owned()),
        ("GIT_TERMINAL_PROMPT", "0".into()),
        ("GIT_ASKPASS", "true".into()),
        ("GIT_CONFIG_NOSYSTEM", "1".into()),
        ("GIT_CONFIG_GLOBAL", "/dev/null".into()),
    ];
    let command = tool::Command { program: "git", args, dir, env, stdin: None, keep_stdout: 0 };
    tool::run(command, limits).await.map_err(CloneError::Failed)
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
            (job.stage)(format!("fetching {repository} at {tag}"));
            let label = format!("tag {tag} of {repository}");
            let export = match self.export_tag(&repository, &tag, job.dir, &job.limits).await {
                Ok(export) => export,
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
                Err(CloneError::Failed(why)) if job.limits.expired() => {
                    tracing::info!(%why, "the git_tag check was stopped");
                    return Err(TaskError::Stopped);
                }
                Err(CloneError::Failed(why)) => return Err(TaskError::Failed(why)),
            };
            (job.stage)(format!("comparing {} with {label}", input.path));
            let limits = job.limits.clone();
            let tagged = checks::Input::new("tag.tar.gz", export);
            let compared = tokio::task::spawn_blocking(move || {
                checks::trees::check_against_tag(&input, &tagged, &label, &generated, &limits)
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

    /// A real repository with a tag `v1.0`, then one more commit after it, on a branch that is
    /// also named `v1.0` (git's `--branch` would take the branch over the tag).
    fn repository(dir: &Path) -> String {
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("README"), "x\n").unwrap();
        std::fs::write(dir.join("src/a.c"), "int a;\n").unwrap();
        std::fs::write(dir.join("ci.yml"), "not released\n").unwrap();
        std::fs::write(dir.join(".gitattributes"), "ci.yml export-ignore\n").unwrap();
        git(dir, &["init", "--quiet"]);
        git(dir, &["add", "."]);
        git(dir, &["commit", "--quiet", "-m", "x 1.0"]);
        git(dir, &["tag", "v1.0"]);
        git(dir, &["checkout", "--quiet", "-b", "v1.0"]);
        std::fs::write(dir.join("src/a.c"), "int a = 2;\n").unwrap();
        git(dir, &["commit", "--quiet", "-am", "after the release"]);
        format!("file://{}", dir.display())
    }

    fn archive(dir: &Path, a_c: &[u8]) -> checks::Input {
        use testkit::archives::{Entry, gzip, tar_bytes};
        let path = dir.join("x.tar.gz");
        let entries = [
            Entry::File("x-1.0/README", b"x\n"),
            Entry::File("x-1.0/src/a.c", a_c),
            Entry::File("x-1.0/.gitattributes", b"ci.yml export-ignore\n"),
            Entry::File("x-1.0/configure", b"#!/bin/sh\n"),
        ];
        std::fs::write(&path, gzip(&tar_bytes(&entries))).unwrap();
        checks::Input::new("x-1.0.tar.gz", path)
    }

    #[tokio::test]
    async fn the_tag_is_fetched_and_exported_with_the_real_git() {
        let work = tempfile::tempdir().unwrap();
        let url = repository(&work.path().join("repo"));
        let allowed = GitTag { allow_private: true };
        let limits = checks::Limits::default();
        let export = allowed.export_tag(&url, "v1.0", &work.path().join("task"), &limits).await.unwrap();
        let tagged = checks::Input::new("tag.tar.gz", export);
        let compare = |a_c: &[u8]| {
            let input = archive(work.path(), a_c);
            checks::trees::check_against_tag(&input, &tagged, "tag v1.0", &["configure".into()], &limits)
        };
        // The tag's tree, not the branch's; export-ignore honoured (ci.yml is not missing).
        let results = compare(b"int a;\n");
        assert_eq!(results.len(), 1, "{results:#?}");
        assert_eq!(results[0].status, CheckStatus::Success, "{results:#?}");
        assert_eq!(
            results[0].message,
            "3 files of the archive match tag v1.0, and 1 generated file besides: `configure`"
        );
        let results = compare(b"int a = 2;\n");
        assert_eq!(results[0].status, CheckStatus::Failure, "a file changed after the tag: {results:#?}");
        assert!(results[0].message.contains("`src/a.c`"), "{results:#?}");

        let missing = allowed.export_tag(&url, "v9.9", &work.path().join("none"), &limits).await.unwrap_err();
        assert!(matches!(missing, CloneError::NoSuchTag(_)), "{missing:?}");
    }

    #[tokio::test]
    async fn hostile_urls_and_tags_are_refused() {
        let work = tempfile::tempdir().unwrap();
        let url = repository(&work.path().join("repo"));
        let limits = checks::Limits::default();
        let strict = GitTag { allow_private: false };
        let refused = strict.export_tag(&url, "v1.0", &work.path().join("a"), &limits).await.unwrap_err();
        assert!(matches!(&refused, CloneError::Failed(why) if why.contains("only https")), "{refused:?}");
        let allowed = GitTag { allow_private: true };
        for (url, tag) in [
            ("ext::sh -c id", "v1.0"),
            ("https://example.org/x", "--upload-pack=id"),
            ("https://example.org/x", "a b"),
            ("https://example.org/x", "a..b"),
            ("https://example.org/x", "x.lock"),
            ("https://example.org/x", "a:b"),
        ] {
            let refused = allowed.export_tag(url, tag, &work.path().join("b"), &limits).await.unwrap_err();
            assert!(matches!(refused, CloneError::Failed(_)), "{url} {tag}: {refused:?}");
        }
        let private = strict.export_tag("https://127.0.0.1/repo", "v1.0", &work.path().join("c"), &limits).await;
        assert!(
            matches!(&private, Err(CloneError::Failed(why)) if why.contains("not a public address")),
            "{private:?}"
        );
    }
}
