//! What is recorded: sessions (where they ran) and cells (input, outputs, timing).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The default cap on each output field of a cell (stdout, stderr, result, traceback).
pub const DEFAULT_OUTPUT_CAP: usize = 1 << 20;

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// What kind of place a session ran in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceKind {
    /// The local REPL's kernel.
    Local,
    /// A program that called `hotrepl.start()`, through its server.
    Attached,
    /// `hotrepl.embed()` in a program.
    Embedded,
    /// Lines imported from the line editor's old history file.
    Imported,
}

impl PlaceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PlaceKind::Local => "local",
            PlaceKind::Attached => "attached",
            PlaceKind::Embedded => "embedded",
            PlaceKind::Imported => "imported",
        }
    }

    pub fn parse(s: &str) -> PlaceKind {
        match s {
            "attached" => PlaceKind::Attached,
            "embedded" => PlaceKind::Embedded,
            "imported" => PlaceKind::Imported,
            _ => PlaceKind::Local,
        }
    }
}

/// Where a session's cells ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub kind: PlaceKind,
    pub pid: Option<u32>,
    /// The program's command line (empty for the local REPL).
    pub program: String,
    pub host: String,
    /// The server's address (a socket path or tcp://...), empty where there is none.
    pub address: String,
}

impl Place {
    /// This process, on this host.
    pub fn here(kind: PlaceKind, program: impl Into<String>, address: impl Into<String>) -> Place {
        Place {
            kind,
            pid: Some(std::process::id()),
            program: program.into(),
            host: host_name(),
            address: address.into(),
        }
    }

    /// Whether `other` is the same target: the same program (by its command line) on the same
    /// host for a program, any local REPL on the same host for the local REPL. A program that
    /// restarts under a new pid stays the same target.
    pub fn same_target(&self, other: &Place) -> bool {
        let kind = |k| match k {
            PlaceKind::Embedded => PlaceKind::Attached,
            k => k,
        };
        kind(self.kind) == kind(other.kind) && self.host == other.host && self.program == other.program
    }
}

/// This machine's host name (empty if it has none).
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer we own.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// A session: its random id, when it started, where it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: String,
    pub started_us: i64,
    pub place: Place,
}

/// Text kept up to a cap, with the number of bytes left out beyond it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capped {
    pub text: String,
    pub omitted: u64,
}

impl Capped {
    pub fn new(text: &str, cap: usize) -> Capped {
        let mut capped = Capped::default();
        capped.push(text, cap);
        capped
    }

    /// Appends what fits under `cap` bytes in all (cut at a character boundary) and counts
    /// the rest as omitted. Once anything was left out, everything after it is too: what is
    /// kept is always the start of the output, without holes.
    pub fn push(&mut self, text: &str, cap: usize) {
        let room = if self.omitted > 0 { 0 } else { cap.saturating_sub(self.text.len()) };
        let kept = fitting(text, room);
        self.text.push_str(kept);
        self.omitted += (text.len() - kept.len()) as u64;
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && self.omitted == 0
    }
}

/// The longest prefix of `text` of at most `room` bytes that ends on a character boundary.
pub fn fitting(text: &str, room: usize) -> &str {
    if text.len() <= room {
        return text;
    }
    let mut end = room;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// How a cell ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// It raised (or was interrupted, or abandoned).
    Error,
    /// It raised SystemExit: the session ended.
    Exit,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Exit => "exit",
        }
    }

    pub fn parse(s: &str) -> Status {
        match s {
            "error" => Status::Error,
            "exit" => Status::Exit,
            _ => Status::Ok,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellError {
    pub ename: String,
    pub evalue: String,
    pub traceback: Capped,
}

/// What a cell printed, returned and raised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    pub stdout: Capped,
    pub stderr: Capped,
    /// The value's text/plain.
    pub result: Option<Capped>,
    pub error: Option<CellError>,
}

impl Outputs {
    pub fn is_empty(&self) -> bool {
        self.stdout.is_empty() && self.stderr.is_empty() && self.result.is_none() && self.error.is_none()
    }
}

/// One cell as it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub session: Arc<SessionInfo>,
    /// The session's execution count for it.
    pub count: u64,
    pub input: String,
    pub started_us: i64,
    pub duration_us: i64,
    pub status: Status,
    pub outputs: Outputs,
}

/// Output a cell's tasks printed after the cell was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateOutput {
    pub session: Arc<SessionInfo>,
    pub count: u64,
    pub stream: Stream,
    pub text: Capped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_text_keeps_whole_characters_and_counts_the_rest() {
        let mut c = Capped::new("ab", 5);
        c.push("cdé", 5); // é is two bytes: "abcd" + 'é' would be 6
        assert_eq!(c.text, "abcd");
        assert_eq!(c.omitted, 2);
        c.push("xyz", 5);
        assert_eq!(c.text, "abcd");
        assert_eq!(c.omitted, 5);
    }

    #[test]
    fn a_program_restarted_under_another_pid_is_the_same_target() {
        let a = Place::here(PlaceKind::Attached, "app.py --port 1", "/run/1.sock");
        let b = Place {
            pid: Some(4242),
            address: "/run/4242.sock".into(),
            ..a.clone()
        };
        assert!(a.same_target(&b));
        let other = Place {
            program: "other.py".into(),
            ..a.clone()
        };
        assert!(!a.same_target(&other));
        assert!(!a.same_target(&Place::here(PlaceKind::Local, "app.py --port 1", "")));
    }
}
