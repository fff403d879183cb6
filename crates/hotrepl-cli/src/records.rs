//! Discovery records (docs/protocol.md): the `<pid>.json` files that programs serving
//! `hotrepl.start()` keep in the user's runtime directory, saying where they listen.

use std::io;
use std::path::{Path, PathBuf};

use hotrepl_proto::rundir;
use serde_json::Value;

pub struct Record {
    /// The record file itself.
    pub file: PathBuf,
    pub pid: u32,
    /// A socket path or `tcp://HOST:PORT`.
    pub address: String,
    pub program: String,
    pub python: String,
    pub token: Option<String>,
    /// When the server started (Unix time), if the record says.
    pub started: Option<f64>,
}

pub const TCP_SCHEME: &str = "tcp://";

impl Record {
    /// The Unix socket it names, if it is not a TCP record.
    pub fn socket_path(&self) -> Option<&Path> {
        (!self.address.starts_with(TCP_SCHEME)).then(|| Path::new(&self.address))
    }

    /// Whether a client can still use it: its process lives and its socket (if it names
    /// one) is still there.
    pub fn is_attachable(&self) -> bool {
        self.process_lives() && self.socket_path().is_none_or(Path::exists)
    }

    /// Whether the process that wrote it still runs: its pid exists and belongs to a
    /// process started before the record was written. A program that died without a word
    /// leaves its record behind, and the kernel may since have given its pid to another.
    pub fn process_lives(&self) -> bool {
        if !process_exists(self.pid) {
            return false;
        }
        match (self.started, process_start_time(self.pid)) {
            // /proc counts in clock ticks from a boot time given in whole seconds.
            (Some(record), Some(process)) => process <= record + 1.0,
            _ => true,
        }
    }

    /// Which of its process's servers this is: 1 for `<pid>.json`, n for `<pid>-n.json`.
    fn serial(&self) -> u32 {
        self.file
            .file_stem()
            .and_then(|stem| stem.to_str()?.split_once('-')?.1.parse().ok())
            .unwrap_or(1)
    }

    fn parse(file: PathBuf, text: &str) -> Option<Record> {
        let value: Value = serde_json::from_str(text).ok()?;
        let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
        Some(Record {
            pid: u32::try_from(value.get("pid")?.as_u64()?).ok()?,
            address: field("address")?,
            program: field("program").unwrap_or_default(),
            python: field("python").unwrap_or_default(),
            token: field("token"),
            started: value.get("started").and_then(Value::as_f64),
            file,
        })
    }
}

/// Every readable record in `dir`, by pid and then in the order the process started its
/// servers (`<pid>.json`, `<pid>-2.json`, ...); none if the directory does not exist. A
/// directory that is not private to this user is refused: whoever can write there could
/// point us at a socket of theirs.
pub fn read_all(dir: &Path) -> Result<Vec<Record>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", dir.display())),
    };
    rundir::check_private_dir(dir).map_err(|e| e.to_string())?;
    // A record that vanishes or is being replaced as we read is simply not there.
    let mut records: Vec<Record> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
        .filter_map(|file| {
            let text = std::fs::read_to_string(&file).ok()?;
            Record::parse(file, &text)
        })
        .collect();
    records.sort_by_key(|r| (r.pid, r.serial()));
    Ok(records)
}

/// Whether process `pid` exists (owned by anyone).
pub fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    pid > 0 && (unsafe { libc::kill(pid, 0) } == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// When process `pid` started, in Unix time: its start in clock ticks after boot
/// (`/proc/PID/stat`) plus the boot time (`/proc/stat`). None where /proc does not say.
pub fn process_start_time(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may itself hold spaces and ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Fields from the third (state) on; the start time is the 22nd.
    let ticks: f64 = after_name.split_whitespace().nth(22 - 3)?.parse().ok()?;
    let boot: f64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| boot + ticks / per_second as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> f64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    }

    #[test]
    fn this_process_started_in_the_recent_past() {
        let started = process_start_time(std::process::id()).expect("/proc says when we started");
        assert!(started <= now() + 1.0, "{started} is in the future");
        assert!(started > now() - 3600.0, "{started} is over an hour ago");
    }

    fn record(started: Option<f64>) -> Record {
        Record {
            file: PathBuf::from("x.json"),
            pid: std::process::id(),
            address: "tcp://127.0.0.1:1".into(),
            program: String::new(),
            python: String::new(),
            token: None,
            started,
        }
    }

    #[test]
    fn a_record_older_than_its_process_names_a_reused_pid() {
        assert!(record(Some(now())).process_lives());
        assert!(record(None).process_lives());
        assert!(!record(Some(0.0)).process_lives());
    }
}
