//! History, kernel side: the process-wide recorder (its writer thread started by the first
//! session, the database opened on that thread), each session's log of the cell it runs
//! ([`SessionLog`]), the names IPython users expect after each cell (`_i`, `Out`, ...:
//! [`names`]), `%history` ([`magic`]), and the audit file of `hotrepl.start(audit=...)`.
//!
//! The pipeline calls [`cell_started`] when a cell is announced, [`displayed`] when its
//! value is shown and [`cell_finished`] before its reply is sent; [`SessionLog::output`] sees
//! everything the session prints.
//!
//! Settings, read once from the environment: `HOTREPL_HISTORY_DISABLE=1` turns recording
//! (and the names) off, `HOTREPL_HISTORY_DB` picks the database, `HOTREPL_HISTORY_CAP` the
//! bytes kept per output field of a cell (default 1 MiB), `HOTREPL_OUT_CACHE` how many
//! results `Out` keeps (default 100; 0 keeps none).

pub mod magic;
pub mod names;
mod session_log;

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use hotrepl_history::{paths, Recorder, Store};
use pyo3::prelude::*;

pub use session_log::{cell_finished, cell_started, displayed, SessionLog};

/// How long the writer gathers records after the first before writing them together.
const WINDOW: Duration = Duration::from_millis(5);
/// How long a process on its way out waits for its records to be written.
const EXIT_FLUSH: Duration = Duration::from_secs(2);
/// How long a reader (`history_request`, `%history`) waits for this process's records.
const READ_FLUSH: Duration = Duration::from_secs(2);

pub struct Settings {
    /// Recording and the names are on.
    pub enabled: bool,
    pub database: Option<PathBuf>,
    /// Bytes kept of each output field of a cell.
    pub cap: usize,
    /// Results kept in `Out`.
    pub out_cache: usize,
}

pub fn settings() -> &'static Settings {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        let number = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(default)
        };
        let disabled = std::env::var_os("HOTREPL_HISTORY_DISABLE").is_some_and(|v| !v.is_empty() && v != "0");
        Settings {
            enabled: !disabled,
            database: paths::database(),
            cap: number("HOTREPL_HISTORY_CAP", hotrepl_history::record::DEFAULT_OUTPUT_CAP),
            out_cache: number("HOTREPL_OUT_CACHE", 100),
        }
    })
}

/// The process's recorder and the pid that started it (a forked child starts its own: the
/// writer thread did not survive the fork).
static RECORDER: Mutex<Option<(u32, Recorder)>> = Mutex::new(None);

/// The recorder, its writer thread started on first use. None if the thread cannot start.
pub fn recorder() -> Option<Recorder> {
    let mut slot = RECORDER.lock().unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    if let Some((owner, recorder)) = slot.as_ref() {
        if *owner == pid {
            return Some(recorder.clone());
        }
    }
    let settings = settings();
    let database = settings.database.clone().filter(|_| settings.enabled);
    let legacy = paths::legacy_file();
    let (recorder, writer) = Recorder::new(database, legacy, WINDOW, Box::new(|w: &str| warn(w)));
    crate::threads::spawn_io("hotrepl-history", move || writer.run()).ok()?;
    *slot = Some((pid, recorder.clone()));
    Some(recorder)
}

/// Waits (up to `timeout`) until this process's records are written.
fn flush(timeout: Duration) {
    let recorder = RECORDER.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some((owner, recorder)) = recorder {
        if owner == std::process::id() {
            recorder.flush(timeout);
        }
    }
}

/// On the way out of the process: the last records get a moment to be written. Call it
/// without the GIL.
pub fn flush_before_exit() {
    flush(EXIT_FLUSH);
}

/// Opens the database for reading, after this process's records are written. Call it
/// without the GIL.
pub fn open_for_reading() -> Result<Store, String> {
    let settings = settings();
    if !settings.enabled {
        return Err("history is off (HOTREPL_HISTORY_DISABLE)".into());
    }
    let path = settings
        .database
        .as_ref()
        .ok_or("no place for the history database (neither HOME nor XDG_DATA_HOME is set)")?;
    flush(READ_FLUSH);
    Store::open(path, paths::legacy_file().as_deref(), &warn).map_err(|e| e.to_string())
}

/// One line through `logging.getLogger("hotrepl")`: the program's logging decides where it
/// goes (in the local REPL, the client's stderr).
fn warn(message: &str) {
    crate::threads::with_python(|py| crate::server::log_event(py, "warning", &format!("history: {message}")));
}

/// The program's command line, as `ps` would show it (`sys.argv` joined).
pub fn program_line(py: Python<'_>) -> String {
    py.import("sys")
        .and_then(|sys| sys.getattr("argv"))
        .and_then(|argv| argv.extract::<Vec<String>>())
        .map(|a| a.join(" "))
        .unwrap_or_default()
}
