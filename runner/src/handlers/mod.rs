//! What the runner can do: one handler per task kind. The claim loop asks for the kinds that
//! have a handler here and gives each order to its handler; a new kind plugs in by adding a
//! handler to [`Handlers::new`], without touching the claim loop or the lease keeping.

mod check;
mod distribution;
mod git_tag;
mod mail;
mod sbom_generate;
mod svn;
mod tool;
mod vote_thread;
mod webhook;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use shared_models::checks::CheckResult;
use shared_models::runner::{TaskKind, TaskOrder};

use crate::client::Client;
use crate::config::Config;

/// Everything a handler gets for one task.
pub struct Job<'a> {
    pub client: &'a Client,
    pub order: &'a TaskOrder,
    /// A private directory for the task's files, removed when the task ends.
    pub dir: &'a Path,
    /// The archive limits, with the task's deadline and stop flag set.
    pub limits: checks::Limits,
    /// Tells the status page (and the lease renewals' progress) what the task is doing now.
    pub stage: &'a (dyn Fn(String) + Send + Sync),
}

impl std::fmt::Debug for Job<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("task", &self.order.id).field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// Why a task produced no results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskError {
    /// The work could not be done (a download failed, an input is missing): reported as a
    /// failed attempt, which the datastore retries.
    Failed(String),
    /// The task was stopped from outside (lease lost, cancelled): nothing is reported.
    Stopped,
}

/// One kind of work.
pub trait Handler: Send + Sync + std::fmt::Debug {
    /// Runs one task to its results.
    fn run<'a>(&'a self, job: Job<'a>) -> BoxFuture<'a, Result<Vec<CheckResult>, TaskError>>;
}

/// The first line of a secret's file (`variable` names it in the error).
fn secret_file(variable: &str, path: Option<&Path>) -> anyhow::Result<Option<String>> {
    let Some(path) = path else { return Ok(None) };
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {variable} {}: {e}", path.display()))?;
    Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()))
}

/// The handler of every kind this runner does.
#[derive(Debug, Clone)]
pub struct Handlers(BTreeMap<TaskKind, Arc<dyn Handler>>);

impl Handlers {
    /// The checks only.
    pub fn checks() -> Self {
        let mut handlers: BTreeMap<TaskKind, Arc<dyn Handler>> = BTreeMap::new();
        let checks: Arc<dyn Handler> = Arc::new(check::Check);
        // `git_tag` clones a repository first: its own handler, with the network rules (`new`).
        for kind in TaskKind::ALL.into_iter().filter(|k| k.is_check() && *k != TaskKind::GitTag) {
            handlers.insert(kind, checks.clone());
        }
        Self(handlers)
    }

    /// What `config` enables: the checks, fetching vote threads and verifying distributions;
    /// webhooks unless turned off; mail when an SMTP server is configured and svn tasks when a
    /// dist repository is (a runner without them never claims those tasks).
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let mut handlers = Self::checks();
        if config.webhooks {
            handlers
                .0
                .insert(TaskKind::Webhook, Arc::new(webhook::Webhook { allow_private: config.webhook_allow_private }));
        }
        let fetcher = vote_thread::VoteThread { allow_private: config.webhook_allow_private };
        handlers.0.insert(TaskKind::VoteThread, Arc::new(fetcher));
        let verifier = distribution::Distribution { allow_private: config.webhook_allow_private };
        handlers.0.insert(TaskKind::Distribution, Arc::new(verifier));
        handlers.0.insert(TaskKind::GitTag, Arc::new(git_tag::GitTag { allow_private: config.webhook_allow_private }));
        handlers.0.insert(TaskKind::SbomGenerate, Arc::new(sbom_generate::SbomGenerate));
        if let Some(url) = &config.smtp_url {
            let password = secret_file("RUNNER_SMTP_PASSWORD_FILE", config.smtp_password_file.as_deref())?;
            handlers.0.insert(TaskKind::Mail, Arc::new(mail::Mail::new(url, password)?));
        }
        if let Some(url) = &config.svn_url {
            let root = url.trim_end_matches('/').to_owned();
            // Not svn+ssh://: svn runs with a private HOME, without the operator's ssh keys.
            if !["https://", "http://", "svn://", "file://"].iter().any(|s| root.starts_with(s)) {
                anyhow::bail!("RUNNER_SVN_URL {url:?} is not a repository URL (https://, svn://, file://)");
            }
            let password = secret_file("RUNNER_SVN_PASSWORD_FILE", config.svn_password_file.as_deref())?;
            let svn: Arc<dyn Handler> = Arc::new(svn::Svn { root, username: config.svn_username.clone(), password });
            for kind in [TaskKind::SvnPublish, TaskKind::SvnArchive, TaskKind::SvnImport] {
                handlers.0.insert(kind, svn.clone());
            }
        }
        Ok(handlers)
    }

    /// The kinds to claim.
    pub fn kinds(&self) -> Vec<TaskKind> {
        self.0.keys().copied().collect()
    }

    pub fn get(&self, kind: TaskKind) -> Option<&Arc<dyn Handler>> {
        self.0.get(&kind)
    }
}
