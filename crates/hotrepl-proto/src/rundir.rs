//! The per-user directory that holds sockets and discovery records (docs/protocol.md):
//! `$XDG_RUNTIME_DIR/hotrepl/`, else `hotrepl-<uid>` in the temp directory. Servers create
//! it 0700; servers and clients alike refuse one that another user owns or whose mode lets
//! others in, since anyone who can write there could put a socket of their own where a
//! client looks for ours.

use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where the directory is (whether or not it exists yet).
pub fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
    {
        Some(xdg) => xdg.join("hotrepl"),
        None => std::env::temp_dir().join(format!("hotrepl-{}", euid())),
    }
}

pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// Writes `value` as JSON to `path`, readable by this user only, atomically: readers see
/// the old file or the whole new one, never a part (a record or a key half written).
pub fn write_private_json(path: &Path, value: &impl serde::Serialize) -> io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(serde_json::to_string_pretty(value).unwrap_or_default().as_bytes())?;
    drop(file);
    std::fs::rename(&tmp, path)
}

/// Creates `dir` (mode 0700) if missing; refuses one that is not a private directory of
/// this user.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot create {}: {e}", dir.display()),
            ))
        }
    }
    check_private_dir(dir)
}

/// Refuses `dir` unless it is a directory of this user's that no one else can enter.
pub fn check_private_dir(dir: &Path) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", dir.display())))?;
    let refuse = |why: String| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("refusing to use {}: {why}", dir.display()),
        ))
    };
    if !meta.is_dir() {
        return refuse("it is not a directory".into());
    }
    if meta.uid() != euid() {
        return refuse(format!(
            "it belongs to uid {}, not to this user (uid {})",
            meta.uid(),
            euid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return refuse(format!(
            "its mode {:o} lets other users in (it must be 0700)",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hotrepl-rundir-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_new_directory_is_private() {
        let dir = scratch("new");
        ensure_private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn a_loose_directory_is_refused() {
        let dir = scratch("loose");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = check_private_dir(&dir).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("lets other users in"), "{err}");
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn a_file_is_not_a_directory() {
        let file = scratch("file");
        std::fs::write(&file, b"").unwrap();
        assert!(check_private_dir(&file)
            .unwrap_err()
            .to_string()
            .contains("not a directory"));
        std::fs::remove_file(&file).unwrap();
    }
}
