//! Files swarmdeck writes for the operator alone: the audit log, the
//! console's log, settings (which `:save-vars` may fill with secrets) and the
//! embedded cluster's kubeconfig (an admin token). Folders are 0700, files
//! 0600, whatever the umask; a folder that belongs to someone else is
//! refused, never written into.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// This process's user id, as the kernel shows it.
fn my_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// Create swarmdeck's own folder `dir` (and its parents) for this user
/// only: what it creates is 0700; one that already exists must belong to
/// this user (a folder another user made first, in a shared place, is
/// refused with its name).
pub fn private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let meta = std::fs::metadata(dir)?;
    if let Some(uid) = my_uid()
        && meta.uid() != uid
    {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} belongs to another user (uid {}); swarmdeck keeps its state in a folder of its own user only: set XDG_STATE_HOME or HOME",
                dir.display(),
                meta.uid()
            ),
        ));
    }
    Ok(())
}

/// Open `path` for appending, created 0600 (an existing file readable by
/// others is made 0600 first). Its folder must exist: [`private_dir`] for
/// swarmdeck's own.
pub fn append_private(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    restrict(&f)?;
    Ok(f)
}

/// Write `bytes` to `path` (0600), replacing it whole: written beside it
/// and renamed, so a reader never sees half a file. Its folder must exist.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)?;
    restrict(&f)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&temp, path)
}

fn restrict(f: &File) -> io::Result<()> {
    if f.metadata()?.permissions().mode() & 0o077 != 0 {
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Where logs and the audit log go: `$XDG_STATE_HOME/swarmdeck`,
/// `~/.local/state/swarmdeck`, or without either the user's runtime folder
/// (`$XDG_RUNTIME_DIR/swarmdeck`), else `swarmdeck-UID` in the temp
/// folder (a folder of this user's own: [`private_dir`] refuses it if
/// another user made it first).
pub fn state_dir() -> PathBuf {
    let var = |k: &str| std::env::var_os(k).filter(|p| !p.is_empty());
    if let Some(p) = var("XDG_STATE_HOME") {
        return PathBuf::from(p).join("swarmdeck");
    }
    if let Some(h) = var("HOME") {
        return PathBuf::from(h)
            .join(".local")
            .join("state")
            .join("swarmdeck");
    }
    if let Some(r) = var("XDG_RUNTIME_DIR") {
        return PathBuf::from(r).join("swarmdeck");
    }
    std::env::temp_dir().join(format!(
        "swarmdeck-{}",
        my_uid().map_or_else(|| "user".to_owned(), |u| u.to_string())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn files_and_folders_are_the_users_alone() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a").join("b");
        let log = dir.join("audit.jsonl");
        private_dir(&dir).unwrap();
        writeln!(append_private(&log).unwrap(), "one").unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&log), 0o600);
        let settings = dir.join("settings.toml");
        std::fs::write(&settings, "old").unwrap();
        std::fs::set_permissions(&settings, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&settings, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&settings).unwrap(), "new");
        assert_eq!(mode(&settings), 0o600);
        // An existing folder of the user's is used as it is.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750)).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o750);
        // An existing world-readable log is made private before it is written.
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
        writeln!(append_private(&log).unwrap(), "two").unwrap();
        assert_eq!(mode(&log), 0o600);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\ntwo\n");
    }
}
