//! Apache's dist tree over SVN (`docs/SVN.md`): `svn_publish` commits a released revision's
//! files to `release/<project>/[<product>/]<version>/` with the committee's KEYS beside the
//! project's folder, `svn_archive` moves a release's folder to its archive location, and
//! `svn_import` reads a candidate's folder under `dev/` for a new revision of a draft. Each uses
//! the real clients (`svn`, `svnmucc`) against the repository the operator names
//! (`RUNNER_SVN_URL`); each change is one commit, so a reader of the repository never sees half
//! a release.
//!
//! Every task may run twice (a lease lost after the commit and before the report): each looks
//! first at what the repository holds, and a folder that already holds exactly what the task
//! would commit is reported as done, with the revision that did it. A folder that holds
//! anything else is never overwritten: the task fails with what differs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures_util::future::BoxFuture;
use serde::Deserialize;
use shared_models::checks::{CheckResult, CheckStatus};
use shared_models::runner::{ProducedFile, SvnArchiveOrder, SvnImportOrder, SvnPublishOrder, TaskKind};

use super::tool::{self, Ran};
use super::{Handler, Job, TaskError};

/// Largest `svn list` output read (about 200 bytes per file: a million files).
const LIST_BYTES: u64 = 200 << 20;
/// Largest KEYS file read back to compare.
const KEYS_BYTES: u64 = 64 << 20;

/// The dist repository this runner commits to, and how it logs in.
#[derive(Debug, Clone)]
pub struct Svn {
    /// The repository's root URL, without a trailing `/`.
    pub root: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// What is at a path of the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    File,
    Dir,
}

/// A task's verdict: done (with the commit that did it, if known) or refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub done: bool,
    pub message: String,
    pub revision: Option<i64>,
}

impl Outcome {
    fn done(message: String, revision: Option<i64>) -> Self {
        Self { done: true, message, revision }
    }

    fn refused(message: String) -> Self {
        Self { done: false, message, revision: None }
    }
}

/// `svn list --xml`: `<lists><list path="…"><entry kind="file"><name>a/b</name><size>3</size>…`.
#[derive(Debug, Deserialize)]
struct Lists {
    #[serde(default)]
    list: Vec<Listing>,
}

#[derive(Debug, Deserialize)]
struct Listing {
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(rename = "@kind")]
    kind: String,
    name: String,
    #[serde(default)]
    size: Option<u64>,
}

/// `svn propget --xml`: `<properties><target path="URL/of/file"><property …>`.
#[derive(Debug, Deserialize)]
struct Properties {
    #[serde(default)]
    target: Vec<Target>,
}

#[derive(Debug, Deserialize)]
struct Target {
    #[serde(rename = "@path")]
    path: String,
}

/// What a path keeps as it is in an svn URL: unreserved characters and `/`.
const PATH_KEPT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'/');

/// Undoes [`escape`] (svn prints URLs encoded).
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// `path` with every byte but unreserved ones and `/` percent-encoded, so that a name with a
/// space, `%`, `#` or `@` (which svn would read as a peg revision) means itself.
fn escape(path: &str) -> String {
    percent_encoding::utf8_percent_encode(path, PATH_KEPT).to_string()
}

/// The folders above `path`, outermost first (`a/b/c` → `a`, `a/b`).
fn ancestors(path: &str) -> Vec<String> {
    let parts: Vec<&str> = path.split('/').collect();
    (1..parts.len()).map(|n| parts[..n].join("/")).collect()
}

/// The revision in svnmucc's `r42 committed by …`.
fn committed_revision(stdout: &[u8]) -> Option<i64> {
    let text = String::from_utf8_lossy(stdout);
    text.split_whitespace().find_map(|word| word.strip_prefix('r').and_then(|n| n.parse().ok()))
}

/// Whether svn said that a path does not exist (svnserve, `file://` and mod_dav_svn differ).
fn not_found(said: &str) -> bool {
    ["W170000", "E170000", "W160013", "E160013", "non-existent", "path not found"].iter().any(|m| said.contains(m))
}

/// The SHA-512 and size of a local file.
async fn sha512_of(path: &Path) -> Result<(String, u64), String> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        checks::digest::sha512_of(file).map_err(|e| format!("{}: {e}", path.display()))
    })
    .await
    .map_err(|e| format!("hashing crashed: {e}"))?
}

impl Svn {
    fn url(&self, path: &str) -> String {
        if path.is_empty() { self.root.clone() } else { format!("{}/{}", self.root, escape(path)) }
    }

    /// Runs `program` (`svn` or `svnmucc`) with no prompt, no cached or stored credentials and
    /// a configuration of the task's own, logged in as the operator configured.
    async fn run(
        &self,
        program: &str,
        mut args: Vec<String>,
        work: &Path,
        keep_stdout: u64,
        limits: &checks::Limits,
    ) -> Result<Ran, String> {
        let config = work.join("svn-config");
        tokio::fs::create_dir_all(&config).await.map_err(|e| format!("{}: {e}", config.display()))?;
        let mut all = vec!["--non-interactive".to_owned(), "--no-auth-cache".to_owned()];
        all.extend(["--config-dir".to_owned(), config.display().to_string()]);
        if let Some(user) = &self.username {
            all.extend(["--username".to_owned(), user.clone()]);
        }
        if self.password.is_some() {
            all.push("--password-from-stdin".to_owned());
        }
        all.append(&mut args);
        let command = tool::Command {
            program,
            args: all,
            dir: work,
            env: vec![("HOME", work.as_os_str().to_owned())],
            stdin: self.password.as_ref().map(|p| format!("{p}\n")),
            keep_stdout,
        };
        tool::run(command, limits).await
    }

    /// What is at `path` (at `revision`, or the latest).
    pub async fn node(
        &self,
        path: &str,
        revision: Option<i64>,
        work: &Path,
        limits: &checks::Limits,
    ) -> Result<Option<Node>, String> {
        let url = self.pegged(path, revision);
        let ran =
            self.run("svn", vec!["info".into(), "--show-item".into(), "kind".into(), url], work, 64, limits).await?;
        if !ran.success {
            return if not_found(&ran.said) { Ok(None) } else { Err(format!("svn info {path}: {}", ran.said)) };
        }
        match String::from_utf8_lossy(&ran.stdout).trim() {
            "dir" => Ok(Some(Node::Dir)),
            "file" => Ok(Some(Node::File)),
            other => Err(format!("svn info {path}: a node of kind {other:?}")),
        }
    }

    /// `path`'s URL for the `svn` client, at `revision` (a peg revision, so a path moved since
    /// still means the same) or the latest. The peg is always written: svn decodes `%40` before
    /// it looks for one, so a name with an `@` would otherwise lose its tail.
    fn pegged(&self, path: &str, revision: Option<i64>) -> String {
        match revision {
            Some(rev) => format!("{}@{rev}", self.url(path)),
            None => format!("{}@", self.url(path)),
        }
    }

    /// A number from `svn info --show-item ITEM`.
    async fn revision(&self, path: &str, item: &str, work: &Path, limits: &checks::Limits) -> Result<i64, String> {
        let args = vec!["info".into(), "--show-item".into(), item.into(), self.pegged(path, None)];
        let ran = self.run("svn", args, work, 64, limits).await?;
        if !ran.success {
            return Err(format!("svn info {path}: {}", ran.said));
        }
        String::from_utf8_lossy(&ran.stdout).trim().parse().map_err(|_| format!("svn info {path}: no {item}"))
    }

    /// The files under the folder `path` at `revision` (relative paths, with their sizes).
    async fn files(
        &self,
        path: &str,
        revision: i64,
        work: &Path,
        limits: &checks::Limits,
    ) -> Result<BTreeMap<String, u64>, String> {
        let args = vec![
            "list".into(),
            "--recursive".into(),
            "--xml".into(),
            "--depth".into(),
            "infinity".into(),
            self.pegged(path, Some(revision)),
        ];
        let ran = self.run("svn", args, work, LIST_BYTES, limits).await?;
        if !ran.success {
            return Err(format!("svn list {path}: {}", ran.said));
        }
        if ran.stdout_cut {
            return Err(format!("svn list {path}: more than {LIST_BYTES} bytes of listing"));
        }
        let text = String::from_utf8(ran.stdout).map_err(|_| format!("svn list {path}: not UTF-8"))?;
        let lists: Lists = quick_xml::de::from_str(&text).map_err(|e| format!("svn list {path}: {e}"))?;
        Ok(lists
            .list
            .into_iter()
            .flat_map(|l| l.entry)
            .filter(|e| e.kind == "file")
            .map(|e| (e.name, e.size.unwrap_or(0)))
            .collect())
    }

    /// The files under `path` at `revision` that have `property` (relative paths).
    async fn marked(
        &self,
        path: &str,
        revision: i64,
        property: &str,
        work: &Path,
        limits: &checks::Limits,
    ) -> Result<Vec<String>, String> {
        let url = self.pegged(path, Some(revision));
        let args = vec!["propget".into(), "--recursive".into(), "--xml".into(), property.into(), url];
        let ran = self.run("svn", args, work, LIST_BYTES, limits).await?;
        if !ran.success || ran.stdout_cut {
            return Err(format!("svn propget {property} {path}: {}", ran.said));
        }
        let text = String::from_utf8(ran.stdout).map_err(|_| format!("svn propget {path}: not UTF-8"))?;
        let found: Properties = quick_xml::de::from_str(&text).map_err(|e| format!("svn propget {path}: {e}"))?;
        let base = format!("{}/", self.url(path));
        Ok(found.target.into_iter().map(|t| percent_decode(t.path.strip_prefix(&base).unwrap_or(&t.path))).collect())
    }

    /// Exports the folder `path` at `revision` to `into` (which must not exist): the bytes as
    /// committed (no keyword expansion), without externals (they could name any URL).
    async fn export(
        &self,
        path: &str,
        revision: i64,
        into: &Path,
        work: &Path,
        limits: &checks::Limits,
    ) -> Result<(), String> {
        let args = vec![
            "export".into(),
            "--quiet".into(),
            "--ignore-externals".into(),
            "--ignore-keywords".into(),
            self.pegged(path, Some(revision)),
            into.display().to_string(),
        ];
        let ran = self.run("svn", args, work, 0, limits).await?;
        if ran.success { Ok(()) } else { Err(format!("svn export {path}: {}", ran.said)) }
    }

    /// A file's bytes, up to `max`; `None` if there is no such file.
    async fn cat(&self, path: &str, max: u64, work: &Path, limits: &checks::Limits) -> Result<Option<Vec<u8>>, String> {
        let args = vec!["cat".into(), "--ignore-keywords".into(), self.pegged(path, None)];
        let ran = self.run("svn", args, work, max, limits).await?;
        if !ran.success {
            return if not_found(&ran.said) { Ok(None) } else { Err(format!("svn cat {path}: {}", ran.said)) };
        }
        if ran.stdout_cut {
            return Err(format!("svn cat {path}: larger than {max} bytes"));
        }
        Ok(Some(ran.stdout))
    }

    /// Commits `actions` (svnmucc's, one per line, URLs relative to the root) as one revision.
    async fn commit(
        &self,
        message: &str,
        actions: Vec<String>,
        work: &Path,
        limits: &checks::Limits,
    ) -> Result<i64, String> {
        // The actions go in a file: a release of many files would pass the command line's limit.
        let list = work.join("svnmucc-actions");
        let mut text = String::new();
        for action in &actions {
            if action.contains(['\n', '\r']) {
                return Err(format!("an svnmucc argument holds a line break: {action:?}"));
            }
            text.push_str(action);
            text.push('\n');
        }
        tokio::fs::write(&list, text).await.map_err(|e| format!("{}: {e}", list.display()))?;
        let message_file = work.join("svn-message");
        tokio::fs::write(&message_file, message).await.map_err(|e| format!("{}: {e}", message_file.display()))?;
        let args = vec![
            "--root-url".into(),
            self.root.clone(),
            "--file".into(),
            message_file.display().to_string(),
            "--extra-args".into(),
            list.display().to_string(),
        ];
        let ran = self.run("svnmucc", args, work, 4096, limits).await?;
        if !ran.success {
            return Err(format!("svnmucc: {}", ran.said));
        }
        committed_revision(&ran.stdout).ok_or_else(|| {
            format!("svnmucc committed, but said no revision: {}", String::from_utf8_lossy(&ran.stdout).trim())
        })
    }

    /// The `mkdir` actions for the folders above `paths` that are not in the repository yet.
    async fn missing_folders(
        &self,
        paths: &[&str],
        work: &Path,
        limits: &checks::Limits,
    ) -> Result<Vec<String>, String> {
        let mut wanted: Vec<String> = paths.iter().flat_map(|p| ancestors(p)).collect();
        wanted.sort_by_key(|p| (p.matches('/').count(), p.clone()));
        wanted.dedup();
        let mut actions = Vec::new();
        let mut missing: Vec<String> = Vec::new();
        for folder in wanted {
            // Below a missing folder everything is missing; no need to ask.
            let parent_missing = missing.iter().any(|m| folder.starts_with(&format!("{m}/")));
            let node = if parent_missing { None } else { self.node(&folder, None, work, limits).await? };
            match node {
                Some(Node::Dir) => {}
                Some(Node::File) => return Err(format!("{folder} is a file in the repository, not a folder")),
                None => {
                    actions.extend(["mkdir".to_owned(), escape(&folder)]);
                    missing.push(folder);
                }
            }
        }
        Ok(actions)
    }

    /// Publishes `files` (release path → local file) into `order.folder`, with `keys` at
    /// `order.keys_path`, in one commit.
    pub async fn publish(
        &self,
        order: &SvnPublishOrder,
        files: &[(String, PathBuf)],
        keys: &[u8],
        work: &Path,
        limits: &checks::Limits,
    ) -> Result<Outcome, String> {
        let folder = order.folder.as_str();
        match self.node(folder, None, work, limits).await? {
            Some(Node::File) => return Ok(Outcome::refused(format!("{folder} is a file in the repository"))),
            Some(Node::Dir) => return self.compare_published(folder, files, work, limits).await,
            None => {}
        }
        let mut actions = self.missing_folders(&[folder, &order.keys_path], work, limits).await?;
        actions.extend(["mkdir".to_owned(), escape(folder)]);
        let mut made: Vec<String> = Vec::new();
        for (path, local) in files {
            // The folders inside the release (`binaries/`, say), each made once.
            for sub in ancestors(path) {
                if !made.contains(&sub) {
                    actions.extend(["mkdir".to_owned(), escape(&format!("{folder}/{sub}"))]);
                    made.push(sub);
                }
            }
            actions.extend(["put".to_owned(), local.display().to_string(), escape(&format!("{folder}/{path}"))]);
        }
        let (keys_changed, keys_note) = self.keys_update(&order.keys_path, keys, work, limits).await?;
        if keys_changed {
            let local = work.join("KEYS");
            tokio::fs::write(&local, keys).await.map_err(|e| format!("{}: {e}", local.display()))?;
            actions.extend(["put".to_owned(), local.display().to_string(), escape(&order.keys_path)]);
        }
        let revision = self.commit(&order.message, actions, work, limits).await?;
        Ok(Outcome::done(
            format!("{} files committed to {folder}{keys_note} in r{revision}", files.len()),
            Some(revision),
        ))
    }

    /// Whether the repository's KEYS at `path` is replaced by the committee's `keys`, and what
    /// to say of it. KEYS files only grow (older releases are verified with older keys): one
    /// that holds a key the committee's lacks is left as it is, and the note names the keys.
    async fn keys_update(
        &self,
        path: &str,
        keys: &[u8],
        work: &Path,
        limits: &checks::Limits,
    ) -> Result<(bool, String), String> {
        if keys.is_empty() {
            return Ok((false, String::new()));
        }
        let Some(present) = self.cat(path, KEYS_BYTES, work, limits).await? else {
            return Ok((true, format!(" and {path} added")));
        };
        if present == keys {
            return Ok((false, String::new()));
        }
        let keys = keys.to_vec();
        let lost: Vec<String> = tokio::task::spawn_blocking(move || {
            let wanted = checks::openpgp::fingerprints(&keys);
            checks::openpgp::fingerprints(&present).into_iter().filter(|f| !wanted.contains(f)).collect()
        })
        .await
        .map_err(|e| format!("reading KEYS crashed: {e}"))?;
        if lost.is_empty() {
            return Ok((true, format!(" and {path} updated")));
        }
        Ok((
            false,
            format!(
                "; {path} was left as it is: it holds {} key(s) the committee's KEYS lacks ({}), which older \
                 releases may need",
                lost.len(),
                lost.join(", ")
            ),
        ))
    }

    /// A release folder that exists already: done if it holds exactly `files` (an earlier
    /// attempt committed it), refused otherwise.
    async fn compare_published(
        &self,
        folder: &str,
        files: &[(String, PathBuf)],
        work: &Path,
        limits: &checks::Limits,
    ) -> Result<Outcome, String> {
        let revision = self.revision(folder, "last-changed-revision", work, limits).await?;
        let present = self.files(folder, revision, work, limits).await?;
        let wanted: BTreeMap<&str, &PathBuf> = files.iter().map(|(p, l)| (p.as_str(), l)).collect();
        let extra: Vec<&str> = present.keys().map(String::as_str).filter(|p| !wanted.contains_key(p)).collect();
        let absent: Vec<&str> = wanted.keys().copied().filter(|p| !present.contains_key(*p)).collect();
        let mut differ = Vec::new();
        if extra.is_empty() && absent.is_empty() {
            let copy = work.join("published");
            self.export(folder, revision, &copy, work, limits).await?;
            for (path, local) in &wanted {
                if sha512_of(&copy.join(path)).await? != sha512_of(local).await? {
                    differ.push(*path);
                }
            }
            if differ.is_empty() {
                return Ok(Outcome::done(
                    format!("{folder} holds exactly these {} files already, since r{revision}", files.len()),
                    Some(revision),
                ));
            }
        }
        let mut parts = Vec::new();
        for (label, list) in [("not released", extra), ("missing", absent), ("with other bytes", differ)] {
            if !list.is_empty() {
                parts.push(format!("{label}: {}", list.join(", ")));
            }
        }
        Ok(Outcome::refused(format!(
            "{folder} exists in the repository and holds other files ({}); nothing was changed",
            parts.join("; ")
        )))
    }

    /// Moves `order.from` to `order.to` in one commit.
    pub async fn archive(
        &self,
        order: &SvnArchiveOrder,
        work: &Path,
        limits: &checks::Limits,
    ) -> Result<Outcome, String> {
        let from = order.from.as_str();
        let here = self.node(from, None, work, limits).await?;
        let Some(to) = order.to.as_deref() else {
            return match here {
                Some(_) => {
                    let revision =
                        self.commit(&order.message, vec!["rm".to_owned(), escape(from)], work, limits).await?;
                    Ok(Outcome::done(format!("{from} removed in r{revision}"), Some(revision)))
                }
                None => Ok(Outcome::done(format!("{from} is not in the repository: nothing to remove"), None)),
            };
        };
        let there = self.node(to, None, work, limits).await?;
        match (here, there) {
            (Some(Node::Dir), None) => {
                let mut actions = self.missing_folders(&[to], work, limits).await?;
                actions.extend(["mv".to_owned(), escape(from), escape(to)]);
                let revision = self.commit(&order.message, actions, work, limits).await?;
                Ok(Outcome::done(format!("{from} moved to {to} in r{revision}"), Some(revision)))
            }
            (None, Some(Node::Dir)) => Ok(Outcome::done(format!("{to} is archived already, and {from} gone"), None)),
            // The publication may still be on its way (queued, or retrying): tried again later.
            (None, _) => Err(format!("{from} is not in the repository (yet): nothing to move to {to}")),
            (Some(_), Some(_)) => {
                Ok(Outcome::refused(format!("both {from} and {to} are in the repository; nothing was moved")))
            }
            (Some(Node::File), None) => Ok(Outcome::refused(format!("{from} is a file, not a release's folder"))),
        }
    }

    /// Exports the files under `order.folder` into `into`, within the order's limits: the svn
    /// revision read and each file (relative release path, local copy, size), or why not.
    pub async fn import(
        &self,
        order: &SvnImportOrder,
        into: &Path,
        work: &Path,
        limits: &checks::Limits,
    ) -> Result<Result<(i64, Vec<(String, PathBuf, u64)>), String>, String> {
        let folder = order.folder.as_str();
        // One revision throughout: a commit during the import does not mix two states.
        let revision = match self.revision(folder, "revision", work, limits).await {
            Ok(revision) => revision,
            Err(e) if not_found(&e) => return Ok(Err(format!("{folder} is not in the repository"))),
            Err(e) => return Err(e),
        };
        if self.node(folder, Some(revision), work, limits).await? != Some(Node::Dir) {
            return Ok(Err(format!("{folder} is not a folder of the repository")));
        }
        let listed = self.files(folder, revision, work, limits).await?;
        if listed.is_empty() {
            return Ok(Err(format!("{folder} holds no file at r{revision}")));
        }
        let total: u64 = listed.values().sum();
        if listed.len() as u64 > order.max_files || total > order.max_bytes {
            return Ok(Err(format!(
                "{folder} holds {} files of {total} bytes at r{revision}; an import takes at most {} files of {} bytes",
                listed.len(),
                order.max_files,
                order.max_bytes
            )));
        }
        if let Some(bad) = listed.keys().find(|p| shared_models::ReleasePath::parse(p).is_err()) {
            return Ok(Err(format!("{folder}/{bad} is not a name a release file can have")));
        }
        // An export translates line endings (`svn:eol-style`) and writes links (`svn:special`):
        // not the committed bytes, whatever the sizes say.
        for property in ["svn:eol-style", "svn:special"] {
            let marked = self.marked(folder, revision, property, work, limits).await?;
            if let Some(first) = marked.first() {
                return Ok(Err(format!(
                    "{folder}/{first} has the property {property}, so its export is not the committed bytes \
                     ({} file(s) in all); remove the property",
                    marked.len()
                )));
            }
        }
        self.export(folder, revision, into, work, limits).await?;
        let mut files = Vec::with_capacity(listed.len());
        for (path, size) in listed {
            let local = into.join(&path);
            let found = tokio::fs::symlink_metadata(&local).await.map_err(|e| format!("{}: {e}", local.display()))?;
            if !found.is_file() || found.len() != size {
                // svn:eol-style or svn:special change what an export writes.
                return Ok(Err(format!(
                    "{folder}/{path} exports as other bytes than were committed (an svn:eol-style or svn:special \
                     property?); set it aside or remove the property"
                )));
            }
            files.push((path, local, size));
        }
        Ok(Ok((revision, files)))
    }
}

/// The one result of an svn task.
fn result(kind: TaskKind, path: &str, outcome: &Outcome, data: serde_json::Value) -> CheckResult {
    let mut data = data;
    if let (Some(map), Some(revision)) = (data.as_object_mut(), outcome.revision) {
        map.insert("revision".to_owned(), revision.into());
    }
    CheckResult {
        checker: kind,
        checker_version: "1".to_owned(),
        path: path.to_owned(),
        member: None,
        status: if outcome.done { CheckStatus::Success } else { CheckStatus::Failure },
        message: outcome.message.clone(),
        data: Some(data),
    }
}

fn order_of<T: serde::de::DeserializeOwned>(job: &Job<'_>) -> Result<T, TaskError> {
    serde_json::from_value(job.order.args.clone())
        .map_err(|e| TaskError::Failed(format!("the task's order is not valid: {e}")))
}

/// Stopped from outside, or failed.
fn failed(job: &Job<'_>, why: String) -> TaskError {
    if job.limits.expired() { TaskError::Stopped } else { TaskError::Failed(why) }
}

impl Svn {
    async fn run_publish(&self, job: Job<'_>) -> Result<Vec<CheckResult>, TaskError> {
        let order: SvnPublishOrder = order_of(&job)?;
        let inputs = super::check::download_inputs(&job).await?;
        let files: Vec<(String, PathBuf)> = inputs.into_iter().map(|i| (i.path, i.file)).collect();
        (job.stage)(format!("fetching the KEYS of {}", order.committee));
        let keys = job
            .client
            .keys(&order.committee)
            .await
            .map_err(|e| TaskError::Failed(format!("fetching the KEYS of {}: {e}", order.committee)))?;
        (job.stage)(format!("committing {} files to {}", files.len(), order.folder));
        let outcome = self.publish(&order, &files, &keys, job.dir, &job.limits).await.map_err(|e| failed(&job, e))?;
        Ok(vec![result(TaskKind::SvnPublish, &order.folder, &outcome, serde_json::json!({"folder": order.folder}))])
    }

    async fn run_archive(&self, job: Job<'_>) -> Result<Vec<CheckResult>, TaskError> {
        let order: SvnArchiveOrder = order_of(&job)?;
        (job.stage)(match &order.to {
            Some(to) => format!("moving {} to {to}", order.from),
            None => format!("removing {}", order.from),
        });
        let outcome = self.archive(&order, job.dir, &job.limits).await.map_err(|e| failed(&job, e))?;
        let data = serde_json::json!({"from": order.from, "to": order.to});
        Ok(vec![result(TaskKind::SvnArchive, &order.from, &outcome, data)])
    }

    async fn run_import(&self, job: Job<'_>) -> Result<Vec<CheckResult>, TaskError> {
        let order: SvnImportOrder = order_of(&job)?;
        (job.stage)(format!("reading {}", order.folder));
        let into = job.dir.join("import");
        let found = self.import(&order, &into, job.dir, &job.limits).await.map_err(|e| failed(&job, e))?;
        let (revision, files) = match found {
            Ok(found) => found,
            Err(why) => {
                let outcome = Outcome::refused(why);
                let data = serde_json::json!({"folder": order.folder});
                return Ok(vec![result(TaskKind::SvnImport, &order.folder, &outcome, data)]);
            }
        };
        let mut produced: Vec<ProducedFile> = Vec::with_capacity(files.len());
        for (index, (path, local, size)) in files.iter().enumerate() {
            if job.limits.expired() {
                return Err(TaskError::Stopped);
            }
            (job.stage)(format!("uploading {path} ({size} bytes, {} of {})", index + 1, files.len()));
            let stored = job
                .client
                .upload_blob(job.order.id, &job.order.lease_token, local)
                .await
                .map_err(|e| TaskError::Failed(format!("uploading {path}: {e}")))?;
            if stored.size != *size {
                return Err(TaskError::Failed(format!("{path}: the datastore stored {} of {size} bytes", stored.size)));
            }
            produced.push(ProducedFile {
                path: path.clone(),
                sha256: stored.sha256,
                sha512: stored.sha512,
                size: *size,
            });
        }
        let outcome =
            Outcome::done(format!("{} files of {} read at r{revision}", produced.len(), order.folder), Some(revision));
        let data = serde_json::json!({"folder": order.folder, "files": produced});
        Ok(vec![result(TaskKind::SvnImport, &order.folder, &outcome, data)])
    }
}

impl Handler for Svn {
    fn run<'a>(&'a self, job: Job<'a>) -> BoxFuture<'a, Result<Vec<CheckResult>, TaskError>> {
        Box::pin(async move {
            match job.order.kind {
                TaskKind::SvnPublish => self.run_publish(job).await,
                TaskKind::SvnArchive => self.run_archive(job).await,
                TaskKind::SvnImport => self.run_import(job).await,
                other => Err(TaskError::Failed(format!("{other} is not an svn task"))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real repository (`svnadmin create`), read and written over `file://`.
    struct Repo {
        _dir: tempfile::TempDir,
        svn: Svn,
        work: PathBuf,
        files: PathBuf,
    }

    impl Repo {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let repo = dir.path().join("repo");
            let status = std::process::Command::new("svnadmin").arg("create").arg(&repo).status().unwrap();
            assert!(status.success(), "svnadmin create");
            let (work, files) = (dir.path().join("work"), dir.path().join("files"));
            std::fs::create_dir_all(&work).unwrap();
            std::fs::create_dir_all(&files).unwrap();
            let svn = Svn { root: format!("file://{}", repo.display()), username: None, password: None };
            Self { _dir: dir, svn, work, files }
        }

        /// A local file holding `bytes`.
        fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
            let path = self.files.join(name.replace('/', "_"));
            std::fs::write(&path, bytes).unwrap();
            path
        }

        /// `svn` run on the repository's URLs, its output.
        fn svn(&self, args: &[&str]) -> String {
            String::from_utf8(self.svn_bytes(args)).unwrap()
        }

        fn svn_bytes(&self, args: &[&str]) -> Vec<u8> {
            let output = std::process::Command::new("svn").env("LC_ALL", "C.UTF-8").args(args).output().unwrap();
            assert!(output.status.success(), "svn {args:?}: {}", String::from_utf8_lossy(&output.stderr));
            output.stdout
        }

        /// A URL for the `svn` client (pegged: see [`Svn::pegged`]).
        fn url(&self, path: &str) -> String {
            self.svn.pegged(path, None)
        }

        fn head(&self) -> i64 {
            self.svn(&["info", "--show-item", "revision", &self.svn.root]).trim().parse().unwrap()
        }

        /// An import into `work/<into>`; the refusal, or the files.
        async fn import(
            &self,
            order: &SvnImportOrder,
            into: &str,
        ) -> Result<(i64, Vec<(String, PathBuf, u64)>), String> {
            let limits = checks::Limits::default();
            self.svn.import(order, &self.work.join(into), &self.work, &limits).await.unwrap()
        }

        fn commit(&self, actions: &[String]) {
            let mut args = vec!["-m".to_owned(), "staged by hand".to_owned(), "-U".to_owned(), self.svn.root.clone()];
            args.extend(actions.iter().cloned());
            let status = std::process::Command::new("svnmucc").args(&args).status().unwrap();
            assert!(status.success(), "svnmucc {args:?}");
        }
    }

    fn publish_order(folder: &str) -> SvnPublishOrder {
        SvnPublishOrder {
            folder: folder.to_owned(),
            committee: "tooling".to_owned(),
            keys_path: "release/tooling/KEYS".to_owned(),
            message: "Release Tooling 0.2 (tooling/0.2)\n\nVote: passed.".to_owned(),
        }
    }

    #[tokio::test]
    async fn a_release_is_committed_once_with_its_keys_and_never_overwritten() {
        let repo = Repo::new();
        let limits = checks::Limits::default();
        let files = vec![
            ("app-0.2.tar.gz".to_owned(), repo.file("a", b"the voted bytes")),
            ("app-0.2.tar.gz.asc".to_owned(), repo.file("b", b"a signature")),
            ("binaries/app 0.2@x.zip".to_owned(), repo.file("c", b"a binary")),
        ];
        let order = publish_order("release/tooling/0.2");
        let done = repo.svn.publish(&order, &files, b"KEYS v1\n", &repo.work, &limits).await.unwrap();
        assert!(done.done, "{done:?}");
        assert_eq!(done.revision, Some(1));
        assert_eq!(done.message, "3 files committed to release/tooling/0.2 and release/tooling/KEYS added in r1");
        assert_eq!(repo.svn(&["cat", &repo.url("release/tooling/0.2/app-0.2.tar.gz")]), "the voted bytes");
        assert_eq!(repo.svn(&["cat", &repo.url("release/tooling/0.2/binaries/app 0.2@x.zip")]), "a binary");
        assert_eq!(repo.svn(&["cat", &repo.url("release/tooling/KEYS")]), "KEYS v1\n");
        let log = repo.svn(&["log", "-v", &repo.svn.root]);
        assert!(log.contains("Release Tooling 0.2 (tooling/0.2)"), "{log}");
        assert!(log.contains("A /release/tooling/0.2/app-0.2.tar.gz.asc"), "{log}");

        // The same task again (a lost lease after the commit): done, by the same commit.
        let again = repo.svn.publish(&order, &files, b"KEYS v1\n", &repo.work.join("again"), &limits).await.unwrap();
        assert!(again.done && again.revision == Some(1), "{again:?}");
        assert!(again.message.contains("holds exactly these 3 files already, since r1"), "{again:?}");

        // Other bytes under the same name: refused, and the repository is as it was.
        let altered = vec![
            ("app-0.2.tar.gz".to_owned(), repo.file("d", b"other bytes")),
            ("app-0.2.tar.gz.asc".to_owned(), files[1].1.clone()),
            ("binaries/app 0.2@x.zip".to_owned(), files[2].1.clone()),
        ];
        let refused = repo.svn.publish(&order, &altered, b"KEYS v1\n", &repo.work.join("b"), &limits).await.unwrap();
        assert!(!refused.done, "{refused:?}");
        assert!(refused.message.contains("with other bytes: app-0.2.tar.gz"), "{refused:?}");
        let fewer = repo.svn.publish(&order, &files[..1], b"", &repo.work.join("c"), &limits).await.unwrap();
        assert!(fewer.message.contains("not released: app-0.2.tar.gz.asc, binaries/app 0.2@x.zip"), "{fewer:?}");
        assert_eq!(repo.head(), 1, "nothing was committed");

        // A second release of the project: KEYS unchanged is not committed again.
        let next = vec![("app-0.3.tar.gz".to_owned(), repo.file("e", b"0.3"))];
        let done = repo
            .svn
            .publish(&publish_order("release/tooling/0.3"), &next, b"KEYS v1\n", &repo.work.join("d"), &limits)
            .await
            .unwrap();
        assert_eq!(done.message, "1 files committed to release/tooling/0.3 in r2");
    }

    #[tokio::test]
    async fn archiving_moves_the_folder_once() {
        let repo = Repo::new();
        let limits = checks::Limits::default();
        let files = vec![("app-0.2.tar.gz".to_owned(), repo.file("a", b"bytes"))];
        repo.svn.publish(&publish_order("release/tooling/0.2"), &files, b"", &repo.work, &limits).await.unwrap();
        let order = SvnArchiveOrder {
            from: "release/tooling/0.2".into(),
            to: Some("archive/tooling/0.2".into()),
            message: "Archive tooling 0.2".into(),
        };
        let done = repo.svn.archive(&order, &repo.work.join("a"), &limits).await.unwrap();
        assert_eq!(done, Outcome::done("release/tooling/0.2 moved to archive/tooling/0.2 in r2".into(), Some(2)));
        assert_eq!(repo.svn(&["cat", &repo.url("archive/tooling/0.2/app-0.2.tar.gz")]), "bytes");
        let log = repo.svn(&["log", "-v", "-r", "2", &repo.svn.root]);
        assert!(log.contains("A /archive/tooling/0.2 (from /release/tooling/0.2:1)"), "a move keeps history: {log}");
        let again = repo.svn.archive(&order, &repo.work.join("b"), &limits).await.unwrap();
        assert!(again.done && again.revision.is_none(), "{again:?}");
        // Not published (yet: its publication may be retrying): the attempt fails, to be tried again.
        let early = SvnArchiveOrder {
            from: "release/tooling/9.9".into(),
            to: Some("archive/tooling/9.9".into()),
            message: "Archive".into(),
        };
        let failed = repo.svn.archive(&early, &repo.work.join("c"), &limits).await.unwrap_err();
        assert!(failed.contains("is not in the repository (yet)"), "{failed}");
        assert_eq!(repo.head(), 2);

        // Revoked: the folder goes (its history stays); once gone, there is nothing to do.
        let revoke =
            SvnArchiveOrder { from: "archive/tooling/0.2".into(), to: None, message: "Revoke tooling 0.2".into() };
        let done = repo.svn.archive(&revoke, &repo.work.join("d"), &limits).await.unwrap();
        assert_eq!(done, Outcome::done("archive/tooling/0.2 removed in r3".into(), Some(3)));
        let again = repo.svn.archive(&revoke, &repo.work.join("e"), &limits).await.unwrap();
        assert!(again.done && again.revision.is_none() && again.message.contains("nothing to remove"), "{again:?}");
        assert_eq!(repo.head(), 3);
    }

    /// A KEYS file that holds a key the committee's lacks stays as it is; one the committee's
    /// extends is replaced. Names and messages beyond ASCII pass.
    #[tokio::test]
    async fn keys_only_grow_and_names_beyond_ascii_pass() {
        let repo = Repo::new();
        let limits = checks::Limits::default();
        let one =
            std::fs::read(testkit::fixture("atr-playwright/68FF2E20F02B070D73D416188DE8CC167FE2663A.asc")).unwrap();
        let httpd = std::fs::read(testkit::httpd("KEYS")).unwrap();
        let both = [one.clone(), b"\n".to_vec(), httpd].concat();
        let mut order = publish_order("release/tooling/0.2");
        order.message = "Release Tooling 0.2 — für alle".into();
        let files = vec![("café-0.2.tar.gz".to_owned(), repo.file("a", b"bytes"))];
        let done = repo.svn.publish(&order, &files, &both, &repo.work, &limits).await.unwrap();
        assert!(done.message.ends_with("and release/tooling/KEYS added in r1"), "{done:?}");
        assert!(repo.svn(&["log", &repo.svn.root]).contains("für alle"), "the message as written");
        assert_eq!(repo.svn(&["list", &repo.url("release/tooling/0.2")]), "café-0.2.tar.gz\n");
        let again = repo.svn.publish(&order, &files, &both, &repo.work.join("again"), &limits).await.unwrap();
        assert!(again.done && again.revision == Some(1), "the name compares as itself: {again:?}");

        // The committee dropped a key: KEYS keeps it, and the release still goes out.
        let next = vec![("café-0.3.tar.gz".to_owned(), repo.file("b", b"bytes 0.3"))];
        let done =
            repo.svn.publish(&publish_order("release/tooling/0.3"), &next, &one, &repo.work.join("b"), &limits).await;
        let done = done.unwrap();
        assert!(done.done && done.message.contains("release/tooling/KEYS was left as it is"), "{done:?}");
        assert!(repo.svn_bytes(&["cat", &repo.url("release/tooling/KEYS")]) == both, "KEYS unchanged");
    }

    #[tokio::test]
    async fn an_import_reads_one_revision_within_limits_and_refuses_hostile_folders() {
        let repo = Repo::new();
        let (a, b) = (repo.file("a", b"source"), repo.file("b", b"sig"));
        repo.commit(&[
            "mkdir".into(),
            "dev".into(),
            "mkdir".into(),
            "dev/tooling".into(),
            "mkdir".into(),
            "dev/tooling/0.3-rc1".into(),
            "mkdir".into(),
            "dev/tooling/0.3-rc1/sub".into(),
            "put".into(),
            a.display().to_string(),
            "dev/tooling/0.3-rc1/app-0.3.tar.gz".into(),
            "put".into(),
            b.display().to_string(),
            "dev/tooling/0.3-rc1/sub/app-0.3.tar.gz.asc".into(),
            "propset".into(),
            "svn:externals".into(),
            format!("{} elsewhere", repo.svn.url("dev/tooling")),
            "dev/tooling/0.3-rc1/sub".into(),
        ]);
        let order = |folder: &str, max_files: u64| SvnImportOrder {
            folder: folder.to_owned(),
            max_files,
            max_bytes: 1 << 20,
            requested_by: "rm".to_owned(),
        };
        let (revision, files) = repo.import(&order("dev/tooling/0.3-rc1", 10), "import").await.unwrap();
        assert_eq!(revision, 1);
        let names: Vec<(&str, u64)> = files.iter().map(|(p, _, size)| (p.as_str(), *size)).collect();
        assert_eq!(names, [("app-0.3.tar.gz", 6), ("sub/app-0.3.tar.gz.asc", 3)], "externals are not followed");
        assert_eq!(std::fs::read(&files[0].1).unwrap(), b"source");

        let refused = repo.import(&order("dev/tooling/0.3-rc1", 1), "i2").await;
        let why = refused.unwrap_err();
        assert!(why.contains("holds 2 files of 9 bytes at r1; an import takes at most 1 files"), "{why}");
        let missing = repo.import(&order("dev/tooling/9.9", 10), "i3").await;
        assert!(missing.unwrap_err().contains("is not in the repository"));

        // A hidden file, and a text file whose export differs from what was committed.
        let crlf = repo.file("c", b"line\r\n");
        repo.commit(&["put".into(), crlf.display().to_string(), "dev/tooling/0.3-rc1/.htaccess".into()]);
        let why = repo.import(&order("dev/tooling/0.3-rc1", 10), "i4").await;
        assert!(why.unwrap_err().contains(".htaccess is not a name a release file can have"));
        repo.commit(&[
            "rm".into(),
            "dev/tooling/0.3-rc1/.htaccess".into(),
            "put".into(),
            crlf.display().to_string(),
            "dev/tooling/0.3-rc1/README".into(),
            "propset".into(),
            "svn:eol-style".into(),
            "LF".into(),
            "dev/tooling/0.3-rc1/README".into(),
        ]);
        let why = repo.import(&order("dev/tooling/0.3-rc1", 10), "i5").await;
        assert!(why.unwrap_err().contains("README has the property svn:eol-style"), "eol conversion caught");
    }

    #[test]
    fn names_mean_themselves_in_urls() {
        assert_eq!(escape("release/x/1.0/a b@c%d#e.tar.gz"), "release/x/1.0/a%20b%40c%25d%23e.tar.gz");
        assert_eq!(ancestors("release/x/1.0"), ["release", "release/x"]);
        assert!(ancestors("KEYS").is_empty());
        assert_eq!(committed_revision(b"r12 committed by rm at 2026-12-04T10:00:00.000000Z\n"), Some(12));
        assert_eq!(committed_revision(b"nothing"), None);
    }
}
