//! Files and folders only this service's user may read: the SQLite database holds the JWT
//! secret and token hashes, and the state folder holds uploads that are not public yet.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and its parents) with mode 0700; an existing one that others may read is
/// made private, and the log says so.
pub fn dir(dir: &Path) -> io::Result<()> {
    if !dir.exists() {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    restrict(dir, 0o700)
}

/// Creates `file` empty with mode 0600 if it does not exist; an existing one that others may
/// read is made private, and the log says so.
pub fn file(file: &Path) -> io::Result<()> {
    if !file.exists() {
        match fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(file) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    restrict(file, 0o600)
}

fn restrict(path: &Path, mode: u32) -> io::Result<()> {
    let current = fs::metadata(path)?.permissions().mode() & 0o777;
    if current & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{current:o}"), "others could read this; made it private");
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn state_is_private() {
        let root = tempfile::tempdir().unwrap();
        let state = root.path().join("state/inner");
        dir(&state).unwrap();
        assert_eq!(mode(&state), 0o700);
        let db = state.join("datastore.db");
        file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).unwrap();
        file(&db).unwrap();
        assert_eq!(mode(&db), 0o600, "a readable one is made private");
    }
}
