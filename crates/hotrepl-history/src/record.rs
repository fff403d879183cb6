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

    /// Appends what fits under `cap` bytes in all (see [`Budget::take`]).
    pub fn push(&mut self, text: &str, cap: usize) {
        let mut budget = self.budget();
        let (kept, omitted) = budget.take(text, cap);
        self.text.push_str(kept);
        self.omitted += omitted;
    }

    /// How much of the cap this text has used.
    pub fn budget(&self) -> Budget {
        Budget {
            kept: self.text.len(),
            cut: self.omitted > 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && self.omitted == 0
    }
}

/// How much of a stream has been kept under its cap so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    kept: usize,
    cut: bool,
}

impl Budget {
    /// The part of `text` that is kept (what fits under `cap` bytes in all, cut at a
    /// character boundary) and how many bytes are left out. Once anything was left out,
    /// everything after it is too: what is kept is always the start of the stream.
    pub fn take<'a>(&mut self, text: &'a str, cap: usize) -> (&'a str, u64) {
        let room = if self.cut { 0 } else { cap.saturating_sub(self.kept) };
        let kept = fitting(text, room);
        self.kept += kept.len();
        self.cut |= kept.len() < text.len();
        (kept, (text.len() - kept.len()) as u64)
    }
}

/// The longest prefix of `text` of at most `room` bytes that ends on a character boundary.
fn fitting(text: &str, room: usize) -> &str {
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

    /// The outputs of cell `count` as a person reads them: what it printed, its value as
    /// `Out[N]: ...`, its traceback, and what the cap left out.
    pub fn shown(&self, count: u64) -> String {
        let mut shown = String::new();
        let mut add = |text: &str| {
            shown.push_str(text);
            if !text.is_empty() && !text.ends_with('\n') {
                shown.push('\n');
            }
        };
        add(&self.stdout.text);
        add(&self.stderr.text);
        if let Some(result) = &self.result {
            add(&format!("Out[{count}]: {}", result.text));
        }
        if let Some(error) = &self.error {
            if !error.traceback.text.is_empty() {
                add(&error.traceback.text);
            } else if error.evalue.is_empty() {
                add(&error.ename);
            } else {
                add(&format!("{}: {}", error.ename, error.evalue));
            }
        }
        let result = self.result.as_ref().map_or(0, |r| r.omitted);
        let traceback = self.error.as_ref().map_or(0, |e| e.traceback.omitted);
        for (what, omitted) in [
            ("stdout", self.stdout.omitted),
            ("stderr", self.stderr.omitted),
            ("the value", result),
            ("the traceback", traceback),
        ] {
            if omitted > 0 {
                add(&format!("[{omitted} more bytes of {what} were not kept]"));
            }
        }
        shown
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
    fn outputs_show_as_printed_then_the_value_then_what_was_left_out() {
        let outputs = Outputs {
            stdout: Capped {
                text: "hello".into(),
                omitted: 12,
            },
            stderr: Capped::new("warning\n", 100),
            result: Some(Capped::new("42", 100)),
            error: None,
        };
        assert_eq!(
            outputs.shown(7),
            "hello\nwarning\nOut[7]: 42\n[12 more bytes of stdout were not kept]\n"
        );
        let failed = Outputs {
            error: Some(CellError {
                ename: "KeyboardInterrupt".into(),
                evalue: String::new(),
                traceback: Capped::default(),
            }),
            ..Outputs::default()
        };
        assert_eq!(failed.shown(1), "KeyboardInterrupt\n");
    }
}
