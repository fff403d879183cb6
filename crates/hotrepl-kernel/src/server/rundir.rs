//! The per-user directory that holds sockets and discovery records:
//! `$XDG_RUNTIME_DIR/hotrepl/`, else `hotrepl-<uid>` in the temp directory. It is created
//! 0700, and refused if another user owns it or its mode lets others in — anyone who can
//! write there could put a socket of their own where a client looks for ours.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

pub fn runtime_dir() -> io::Result<PathBuf> {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
    {
        Some(xdg) => xdg.join("hotrepl"),
        None => std::env::temp_dir().join(format!("hotrepl-{}", euid())),
    };
    ensure_private_dir(&dir)?;
    Ok(dir)
}

pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
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
    let meta = std::fs::symlink_metadata(dir)?;
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
