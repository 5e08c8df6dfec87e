//! `datastore backup DIR`: a consistent copy of a datastore's state while it serves, laid out
//! as a state directory, so that restoring it is pointing `DATASTORE_STATE_DIR` at it.
//!
//! The database comes first: SQLite's `VACUUM INTO` (one transaction's snapshot, taken beside
//! the running server), or `pg_dump --format=custom` of the datastore's schema. The blobs
//! follow. Every blob a row names was stored before that row was written, and blobs are never
//! removed or rewritten (they are named by their SHA-256), so every blob the snapshot names is
//! there to be copied; blobs uploaded meanwhile are copied too, and are harmless without rows.
//! Last, the audit signing key, without which checkpoints signed later could not be trusted
//! against the same key.
//!
//! Blobs in an S3 bucket (`DATASTORE_BLOB_URL`) are not copied: the bucket is backed up (or
//! versioned, or replicated) by the S3 server's own means; the backup says so.

use std::fs;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use diesel::RunQueryDsl;
use diesel::sql_types::Text;

use crate::db::DbConnection;
use crate::state::AppState;

/// The name of the SQLite file in a state directory (`DATASTORE_STATE_DIR/datastore.db`).
pub const SQLITE_FILE: &str = "datastore.db";
/// The name of the PostgreSQL dump in a backup.
pub const PG_DUMP_FILE: &str = "datastore.pgdump";

/// What a backup holds.
#[derive(Debug)]
pub struct Summary {
    /// The database's copy.
    pub database: PathBuf,
    pub blobs: u64,
    pub blob_bytes: u64,
    pub audit_key: bool,
}

/// Backs the datastore of `state` up into `to`, a new (or empty) directory. It is written
/// beside it first (`.NAME.partial`) and renamed into place once whole: a `to` that exists is
/// a complete backup.
pub fn backup(state: &AppState, to: &Path) -> anyhow::Result<Summary> {
    if to.exists() && fs::read_dir(to).with_context(|| format!("cannot read {}", to.display()))?.next().is_some() {
        bail!("{} is not empty: a backup goes into a new directory", to.display());
    }
    let name = to.file_name().context("name the backup's directory")?.to_string_lossy();
    let work = to.with_file_name(format!(".{name}.partial"));
    if work.exists() {
        fs::remove_dir_all(&work)
            .with_context(|| format!("cannot remove an interrupted backup, {}", work.display()))?;
    }
    crate::private::dir(&work).with_context(|| format!("cannot create {}", work.display()))?;
    match write(state, &work) {
        Ok(mut summary) => {
            fs::rename(&work, to).with_context(|| format!("cannot rename {} to {}", work.display(), to.display()))?;
            if let Some(parent) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::File::open(parent)?.sync_all()?;
            }
            summary.database = to.join(summary.database.file_name().context("a database without a name")?);
            Ok(summary)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&work);
            Err(e)
        }
    }
}

fn write(state: &AppState, to: &Path) -> anyhow::Result<Summary> {
    let database = match &mut *state.db.conn()? {
        DbConnection::Sqlite(conn) => {
            let file = to.join(SQLITE_FILE);
            // VACUUM INTO fills an empty file: made first, so the copy of the secrets is 0600.
            crate::private::file(&file)?;
            let path = file.to_str().context("the backup directory's path is not UTF-8")?;
            diesel::sql_query("VACUUM INTO ?")
                .bind::<Text, _>(path)
                .execute(conn)
                .context("SQLite could not write the snapshot (VACUUM INTO)")?;
            fs::File::open(&file)?.sync_all()?;
            file
        }
        DbConnection::Postgres(conn) => {
            #[derive(diesel::QueryableByName)]
            struct Schema {
                #[diesel(sql_type = Text)]
                schema: String,
            }
            let schema: Schema = diesel::sql_query("SELECT current_schema() AS schema").get_result(conn)?;
            let file = to.join(PG_DUMP_FILE);
            crate::private::file(&file)?;
            // The password goes in pg_dump's environment, not on its command line (which every
            // local user may read); the schema is quoted, so it is a name, not a pattern.
            let (url, password) = without_password(&state.config.database_url());
            let mut pg_dump = Command::new("pg_dump");
            if let Some(password) = password {
                pg_dump.env("PGPASSWORD", password);
            }
            let out = pg_dump
                .args(["--format=custom", "--no-owner", "--strict-names"])
                .arg(format!("--schema=\"{}\"", schema.schema.replace('"', "\"\"")))
                .arg("--file")
                .arg(&file)
                .arg(url)
                .output()
                .context("cannot run pg_dump (install PostgreSQL's client programs)")?;
            if !out.status.success() {
                bail!("pg_dump failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
            }
            fs::File::open(&file)?.sync_all()?;
            file
        }
    };
    let (blobs, blob_bytes) = match state.blobs.local_dir() {
        Some(dir) => copy_blobs(dir, &to.join("blobs"))?,
        None => {
            tracing::warn!("the blobs are in an S3 bucket: back it up with the S3 server's tools, this copies none");
            (0, 0)
        }
    };
    let key = state.config.state_dir.join(crate::domain::audit::KEY_FILE);
    let audit_key = key.exists();
    if audit_key {
        copy_private(&key, &to.join(crate::domain::audit::KEY_FILE))?;
    }
    Ok(Summary { database, blobs, blob_bytes, audit_key })
}

/// `url` without its password, and the password (percent-decoded), if it has one.
fn without_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else { return (url.to_owned(), None) };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else { return (url.to_owned(), None) };
    let Some((user, password)) = userinfo.split_once(':') else { return (url.to_owned(), None) };
    let password = percent_encoding::percent_decode_str(password).decode_utf8_lossy().into_owned();
    (format!("{scheme}://{user}@{host}{tail}"), Some(password))
}

/// Copies every blob under `from` (`aa/bb/<sha256>`) to the same place under `to`; each is
/// written to a temporary name and renamed, so a blob in a backup is always whole.
fn copy_blobs(from: &Path, to: &Path) -> anyhow::Result<(u64, u64)> {
    let (mut count, mut bytes) = (0, 0);
    if !from.exists() {
        return Ok((0, 0));
    }
    for first in read_dir(from)? {
        for second in read_dir(&first)? {
            let relative = second.strip_prefix(from).context("a blob outside the store")?.to_owned();
            crate::private::dir(&to.join(&relative))?;
            for blob in read_dir(&second)? {
                let name = blob.file_name().context("a blob without a name")?;
                let target = to.join(&relative).join(name);
                let partial = target.with_extension("partial");
                bytes += fs::copy(&blob, &partial).with_context(|| format!("cannot copy {}", blob.display()))?;
                fs::File::open(&partial)?.sync_all()?;
                fs::rename(&partial, &target)?;
                count += 1;
            }
        }
    }
    Ok((count, bytes))
}

fn read_dir(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        entries.push(entry?.path());
    }
    entries.sort();
    Ok(entries)
}

/// Copies a secret to a new file of mode 0600.
fn copy_private(from: &Path, to: &Path) -> io::Result<()> {
    let mut source = fs::File::open(from)?;
    let mut target = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(to)?;
    io::copy(&mut source, &mut target)?;
    target.sync_all()
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn the_password_leaves_the_url() {
        let (url, password) = without_password("postgres://tr:s%40cr%3At@db.example:5432/releases?sslmode=require");
        assert_eq!(url, "postgres://tr@db.example:5432/releases?sslmode=require");
        assert_eq!(password.as_deref(), Some("s@cr:t"));
        let (url, password) = without_password("postgres://postgres@127.0.0.1:5432/postgres");
        assert_eq!((url.as_str(), password), ("postgres://postgres@127.0.0.1:5432/postgres", None));
        let (url, password) = without_password("postgres:///releases?host=/run/postgresql");
        assert_eq!((url.as_str(), password), ("postgres:///releases?host=/run/postgresql", None));
    }
}
