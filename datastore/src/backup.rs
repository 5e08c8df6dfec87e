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

/// Backs the datastore of `state` up into `to`, a new (or empty) directory.
pub fn backup(state: &AppState, to: &Path) -> anyhow::Result<Summary> {
    if to.exists() && fs::read_dir(to).with_context(|| format!("cannot read {}", to.display()))?.next().is_some() {
        bail!("{} is not empty: a backup goes into a new directory", to.display());
    }
    crate::private::dir(to).with_context(|| format!("cannot create {}", to.display()))?;
    let database = match &mut *state.db.conn()? {
        DbConnection::Sqlite(conn) => {
            let file = to.join(SQLITE_FILE);
            let path = file.to_str().context("the backup directory's path is not UTF-8")?;
            diesel::sql_query("VACUUM INTO ?")
                .bind::<Text, _>(path)
                .execute(conn)
                .context("SQLite could not write the snapshot (VACUUM INTO)")?;
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
            let out = Command::new("pg_dump")
                .args(["--format=custom", "--no-owner", "--schema", &schema.schema, "--file"])
                .arg(&file)
                .arg(state.config.database_url())
                .output()
                .context("cannot run pg_dump (install PostgreSQL's client programs)")?;
            if !out.status.success() {
                bail!("pg_dump failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
            }
            file
        }
    };
    let (blobs, blob_bytes) = copy_blobs(&state.config.state_dir.join("blobs"), &to.join("blobs"))?;
    let key = state.config.state_dir.join(crate::domain::audit::KEY_FILE);
    let audit_key = key.exists();
    if audit_key {
        copy_private(&key, &to.join(crate::domain::audit::KEY_FILE))?;
    }
    Ok(Summary { database, blobs, blob_bytes, audit_key })
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
