//! Discovery records: one small JSON file per server in the runtime directory, readable by
//! this user only, telling `hotrepl ps` and `hotrepl attach PID` where a process listens.
//! Fields: `pid`, `address` (a socket path or `tcp://host:port`), `program` (its command
//! line), `python`, `hotrepl` (versions), `started` (Unix time), and `token` for a TCP
//! server whose token hotrepl generated (the file is 0600, like a Jupyter connection file).

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

pub struct Record {
    pub pid: u32,
    pub address: String,
    pub program: String,
    pub python: String,
    pub token: Option<String>,
}

/// Writes the record as `<dir>/<pid>.json` (or `<pid>-<n>.json` for a second server in
/// the same process), atomically; returns its path.
pub fn write(dir: &Path, record: &Record) -> io::Result<PathBuf> {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut value = json!({
        "pid": record.pid,
        "address": record.address,
        "program": record.program,
        "python": record.python,
        "hotrepl": env!("CARGO_PKG_VERSION"),
        "started": started,
    });
    if let Some(token) = &record.token {
        value["token"] = Value::String(token.clone());
    }
    let path = free_name(dir, record.pid, "json");
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(serde_json::to_string_pretty(&value).unwrap_or_default().as_bytes())?;
    drop(file);
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// `<dir>/<pid>.<ext>`, or the first `<pid>-<n>.<ext>` not taken.
pub fn free_name(dir: &Path, pid: u32, ext: &str) -> PathBuf {
    let first = dir.join(format!("{pid}.{ext}"));
    if !first.exists() {
        return first;
    }
    (2..)
        .map(|n| dir.join(format!("{pid}-{n}.{ext}")))
        .find(|p| !p.exists())
        .expect("some name is free")
}
