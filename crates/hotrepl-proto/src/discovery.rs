//! Discovery records: one small JSON file per server in the runtime directory
//! ([`rundir`](crate::rundir)), readable by this user only, telling `hotrepl ps` and
//! `hotrepl attach PID` where a process listens. The server writes it; clients read it.
//!
//! A process's first server writes `<pid>.json`, a second one `<pid>-2.json`, and so on.
//! The file is 0600, like a Jupyter connection file: it may hold the token of a TCP server
//! whose token hotrepl generated.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How a record's `address` names a TCP server (`tcp://HOST:PORT`); anything else is a
/// Unix socket path.
pub const TCP_SCHEME: &str = "tcp://";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub pid: u32,
    /// A socket path or `tcp://HOST:PORT`.
    pub address: String,
    /// The program's command line.
    #[serde(default)]
    pub program: String,
    /// Its Python's version.
    #[serde(default)]
    pub python: String,
    /// The hotrepl version serving it.
    #[serde(default)]
    pub hotrepl: String,
    /// When the server started (Unix time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The connection file of the program's Jupyter session, if it serves one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jupyter: Option<String>,
}

impl Record {
    /// A record for a server of this process starting now.
    pub fn new(address: String, program: String, python: String, token: Option<String>) -> Record {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .ok();
        Record {
            pid: std::process::id(),
            address,
            program,
            python,
            hotrepl: env!("CARGO_PKG_VERSION").into(),
            started,
            token,
            jupyter: None,
        }
    }

    /// The Unix socket it names, if it is not a TCP record.
    pub fn socket_path(&self) -> Option<&Path> {
        (!self.address.starts_with(TCP_SCHEME)).then(|| Path::new(&self.address))
    }

    /// Writes it as the first free `<dir>/<pid>[-n].json`, atomically; returns that path.
    pub fn write(&self, dir: &Path) -> io::Result<PathBuf> {
        let path = free_name(dir, &self.pid.to_string(), "json");
        crate::rundir::write_private_json(&path, self)?;
        Ok(path)
    }

    /// The record in `file`; None if it cannot be read or is not a record.
    pub fn read(file: &Path) -> Option<Record> {
        serde_json::from_slice(&std::fs::read(file).ok()?).ok()
    }
}

/// `<dir>/<stem>.<ext>`, or the first `<stem>-<n>.<ext>` not taken.
pub fn free_name(dir: &Path, stem: &str, ext: &str) -> PathBuf {
    let first = dir.join(format!("{stem}.{ext}"));
    if !first.exists() {
        return first;
    }
    (2..)
        .map(|n| dir.join(format!("{stem}-{n}.{ext}")))
        .find(|p| !p.exists())
        .expect("some name is free")
}

/// Which of its process's servers the file `name` is for: 1 for `<pid>.json`, n for
/// `<pid>-n.json`.
pub fn serial(name: &Path) -> u32 {
    name.file_stem()
        .and_then(|stem| stem.to_str()?.split_once('-')?.1.parse().ok())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written_and_names_are_numbered() {
        let dir = std::env::temp_dir().join(format!("hotrepl-discovery-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let record = Record::new(
            "tcp://127.0.0.1:9".into(),
            "app.py".into(),
            "3.11.7".into(),
            Some("t".into()),
        );
        let first = record.write(&dir).unwrap();
        let second = record.write(&dir).unwrap();
        assert_eq!(serial(&first), 1);
        assert_eq!(serial(&second), 2);
        let read = Record::read(&second).unwrap();
        // JSON keeps the start time to within a microsecond, which is all it is used for.
        assert!((read.started.unwrap() - record.started.unwrap()).abs() < 1e-3);
        assert_eq!(
            Record {
                started: record.started,
                ..read
            },
            record
        );
        assert_eq!(record.socket_path(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Whether process `pid` exists (owned by anyone).
pub fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    pid > 0 && (unsafe { libc::kill(pid, 0) } == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}
