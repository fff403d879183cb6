//! Where the history lives: `$HOTREPL_HISTORY_DB`, else `$XDG_DATA_HOME/hotrepl/history.sqlite`,
//! else `~/.local/share/hotrepl/history.sqlite`; and the line editor's old history file,
//! imported once.

use std::path::PathBuf;

/// The user's data directory for hotrepl (`$XDG_DATA_HOME/hotrepl`, an absolute path only,
/// as the XDG spec says; else `~/.local/share/hotrepl`).
fn data_dir() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("hotrepl"))
}

/// The history database of this user.
pub fn database() -> Option<PathBuf> {
    match std::env::var_os("HOTREPL_HISTORY_DB") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => Some(data_dir()?.join("history.sqlite")),
    }
}

/// The line editor's history file of earlier versions (`$HOTREPL_HISTORY` overrides).
pub fn legacy_file() -> Option<PathBuf> {
    match std::env::var_os("HOTREPL_HISTORY") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => Some(data_dir()?.join("history")),
    }
}
