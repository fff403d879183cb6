//! A program's own audit trail (`hotrepl.start(audit=PATH)`): one JSON object per line for
//! every cell any session ran in it, appended to a file only ever appended to.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::record::Status;

/// Who ran a cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// A client on the Unix socket: its uid and pid, from the kernel.
    Uid { uid: u32, pid: i32 },
    /// A client over TCP: its address.
    Peer(String),
}

/// One line of the audit file.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub time_us: i64,
    /// The session's history id.
    pub session: String,
    pub who: Who,
    pub count: u64,
    pub code: String,
    pub status: Status,
    /// `Type: message` when it raised.
    pub error: Option<String>,
    pub exit_code: Option<i32>,
    pub duration_us: i64,
}

impl AuditEntry {
    pub fn to_json(&self) -> Value {
        let mut line = Map::new();
        line.insert("time".into(), json!(iso(self.time_us)));
        line.insert("session".into(), json!(self.session));
        match &self.who {
            Who::Uid { uid, pid } => {
                line.insert("uid".into(), json!(uid));
                line.insert("pid".into(), json!(pid));
            }
            Who::Peer(address) => {
                line.insert("peer".into(), json!(address));
            }
        }
        line.insert("count".into(), json!(self.count));
        line.insert("code".into(), json!(self.code));
        line.insert("status".into(), json!(self.status.as_str()));
        if let Some(error) = &self.error {
            line.insert("error".into(), json!(error));
        }
        if let Some(code) = self.exit_code {
            line.insert("exit_code".into(), json!(code));
        }
        line.insert("duration".into(), json!(self.duration_us as f64 / 1e6));
        Value::Object(line)
    }
}

/// ISO 8601 in UTC, to the microsecond.
pub fn iso(time_us: i64) -> String {
    hotrepl_proto::time::format_utc(time_us.div_euclid(1_000_000), time_us.rem_euclid(1_000_000) as u32)
}

/// The audit file, opened for appending (created 0600 if missing).
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
}

impl AuditLog {
    pub fn open(path: &Path) -> io::Result<AuditLog> {
        let file = OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
        Ok(AuditLog {
            path: path.to_owned(),
            file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line in a single write (O_APPEND: lines from several threads or
    /// processes never interleave).
    pub fn append(&self, entry: &AuditEntry) -> io::Result<()> {
        let mut line = entry.to_json().to_string();
        line.push('\n');
        (&self.file).write_all(line.as_bytes())
    }
}
