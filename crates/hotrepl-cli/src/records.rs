//! Reading discovery records ([`hotrepl_proto::discovery`]): the `<pid>.json` files that
//! programs serving `hotrepl.start()` keep in the user's runtime directory, saying where
//! they listen, and telling which of them still stand for a live process.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hotrepl_proto::discovery::{self, Record};
use hotrepl_proto::rundir;

/// A record as found in the runtime directory.
pub struct Listed {
    /// The record file itself.
    pub file: PathBuf,
    pub record: Record,
}

impl Listed {
    /// Whether a client can still use it: its process lives and its socket (if it names
    /// one) is still there.
    pub fn is_attachable(&self) -> bool {
        self.process_lives() && self.socket_present()
    }

    /// Whether the socket it names (if any) is still there.
    pub fn socket_present(&self) -> bool {
        self.record.socket_path().is_none_or(Path::exists)
    }

    /// Whether the process that wrote it still runs: its pid exists and belongs to a
    /// process started before the record was written. A program that died without a word
    /// leaves its record behind, and the kernel may since have given its pid to another.
    pub fn process_lives(&self) -> bool {
        let pid = self.record.pid;
        if !discovery::process_exists(pid) {
            return false;
        }
        match (self.record.started, process_start_time(pid)) {
            // /proc counts in clock ticks from a boot time given in whole seconds.
            (Some(record), Some(process)) => process <= record + 1.0,
            _ => true,
        }
    }
}

/// Every readable record in `dir`, by pid and then in the order the process started its
/// servers (`<pid>.json`, `<pid>-2.json`, ...); none if the directory does not exist. A
/// directory that is not private to this user is refused: whoever can write there could
/// point us at a socket of theirs.
pub fn read_all(dir: &Path) -> Result<Vec<Listed>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", dir.display())),
    };
    rundir::check_private_dir(dir).map_err(|e| e.to_string())?;
    // A record that vanishes or is being replaced as we read is simply not there.
    let mut listed: Vec<Listed> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
        .filter_map(|file| {
            let record = Record::read(&file)?;
            Some(Listed { file, record })
        })
        .collect();
    listed.sort_by_key(|l| (l.record.pid, discovery::serial(&l.file)));
    Ok(listed)
}

/// When process `pid` started, in Unix time: its start in clock ticks after boot
/// (`/proc/PID/stat`) plus the boot time. None where /proc does not say.
pub fn process_start_time(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may itself hold spaces and ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Fields from the third (state) on; the start time is the 22nd.
    let ticks: f64 = after_name.split_whitespace().nth(22 - 3)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if per_second <= 0 {
        return None;
    }
    Some(boot_time()? + ticks / per_second as f64)
}

/// When the machine booted (Unix time, `/proc/stat`), read once.
fn boot_time() -> Option<f64> {
    static BOOT: OnceLock<Option<f64>> = OnceLock::new();
    *BOOT.get_or_init(|| {
        std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|line| line.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()
    })
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

    fn record(started: Option<f64>) -> Listed {
        let mut record = Record::new("tcp://127.0.0.1:1".into(), String::new(), String::new(), None);
        record.started = started;
        Listed {
            file: PathBuf::from("x.json"),
            record,
        }
    }

    #[test]
    fn a_record_older_than_its_process_names_a_reused_pid() {
        assert!(record(Some(now())).process_lives());
        assert!(record(None).process_lives());
        assert!(!record(Some(0.0)).process_lives());
    }
}
