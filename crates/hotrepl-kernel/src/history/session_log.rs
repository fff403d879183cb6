//! One session's part in history: its id, where it runs, the cell it runs (input, start,
//! output so far, capped) and, once that cell is recorded, where later output goes.
//!
//! Output printed after a cell's reply (by a task the cell started) is added to the
//! session's last recorded cell; printed while the next cell runs, it counts as that cell's.
//! Telling the two apart needs each write to know which cell it comes from (a per-cell
//! context variable in the output routing), which this module would then take as given.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use hotrepl_history::record::now_us;
use hotrepl_history::{
    AuditEntry, AuditLog, Budget, Capped, Cell, CellError, LateOutput, Outputs, Place, PlaceKind, Recorder,
    SessionInfo, Status, Stream, Who,
};
use hotrepl_proto::{ErrorContent, ExecuteRequest, StreamName};
use pyo3::prelude::*;

use super::{names, recorder, settings};
use crate::session::Session;

pub struct SessionLog {
    id: String,
    started_us: i64,
    info: OnceLock<Arc<SessionInfo>>,
    audit: OnceLock<(Arc<AuditLog>, Who)>,
    /// The process's recorder, once the session has opened (or, for an audit alone, run a
    /// cell).
    recorder: OnceLock<Option<Recorder>>,
    state: Mutex<State>,
    /// Held while Python runs (setting names may free objects whose `__del__` prints), so
    /// apart from `state`, which output needs.
    names: Mutex<names::Names>,
}

#[derive(Default)]
struct State {
    running: Option<Running>,
    /// The last cell recorded: what its tasks print after its reply goes there.
    last: Option<Last>,
}

struct Running {
    count: u64,
    input: String,
    /// Recorded in history (not silent, `store_history`); an audit sees every cell.
    stored: bool,
    started_us: i64,
    started: Instant,
    stdout: Capped,
    stderr: Capped,
    result: Option<Capped>,
}

struct Last {
    count: u64,
    stdout: Budget,
    stderr: Budget,
}

impl Default for SessionLog {
    fn default() -> Self {
        SessionLog::new()
    }
}

impl SessionLog {
    pub fn new() -> SessionLog {
        SessionLog {
            id: hotrepl_proto::auth::random_id(),
            started_us: now_us(),
            info: OnceLock::new(),
            audit: OnceLock::new(),
            recorder: OnceLock::new(),
            state: Mutex::new(State::default()),
            names: Mutex::new(names::Names::default()),
        }
    }

    /// The id this session's cells are recorded under (told to the client in
    /// `kernel_info_reply`, so that its editor can put them first).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where the session runs; said once, when it opens. The recorder starts now (the
    /// process's first session starts its writer, which opens the database meanwhile): not
    /// in the middle of the first cell, which then finds it ready.
    pub fn set_place(&self, place: Place) {
        let _ = self.info.set(Arc::new(SessionInfo {
            id: self.id.clone(),
            started_us: self.started_us,
            place,
        }));
        if settings().enabled {
            self.recorder();
        }
    }

    /// Every cell the session runs also goes to `log`, as run by `who`.
    pub fn set_audit(&self, log: Arc<AuditLog>, who: Who) {
        let _ = self.audit.set((log, who));
    }

    pub fn place(&self) -> Place {
        self.info().place.clone()
    }

    fn info(&self) -> &Arc<SessionInfo> {
        self.info.get_or_init(|| {
            Arc::new(SessionInfo {
                id: self.id.clone(),
                started_us: self.started_us,
                place: Place::here(PlaceKind::Local, "", ""),
            })
        })
    }

    fn recorder(&self) -> Option<&Recorder> {
        self.recorder.get_or_init(recorder).as_ref()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn names(&self) -> MutexGuard<'_, names::Names> {
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether cells are logged at all: history is on, or the program keeps an audit.
    fn active(&self) -> bool {
        settings().enabled || self.audit.get().is_some()
    }

    /// Text the session printed: the running cell's, else its last recorded cell's.
    pub fn output(&self, name: StreamName, text: &str) {
        if !settings().enabled {
            return;
        }
        let cap = settings().cap;
        let mut state = self.state();
        if let Some(running) = &mut state.running {
            if running.stored {
                match name {
                    StreamName::Stdout => running.stdout.push(text, cap),
                    StreamName::Stderr => running.stderr.push(text, cap),
                }
            }
            return;
        }
        let Some(last) = &mut state.last else { return };
        let (stream, budget) = match name {
            StreamName::Stdout => (Stream::Stdout, &mut last.stdout),
            StreamName::Stderr => (Stream::Stderr, &mut last.stderr),
        };
        let (kept, omitted) = budget.take(text, cap);
        let late = LateOutput {
            session: self.info().clone(),
            count: last.count,
            stream,
            text: Capped {
                text: kept.to_owned(),
                omitted,
            },
        };
        drop(state);
        if let Some(recorder) = self.recorder() {
            recorder.record_late(late);
        }
    }
}

/// A cell is announced: its input and start.
pub fn cell_started(session: &Session, count: u64, request: &ExecuteRequest) {
    let log = &session.io.history;
    if !log.active() {
        return;
    }
    log.recorder();
    log.state().running = Some(Running {
        count,
        input: request.code.clone(),
        stored: settings().enabled && request.store_history && !request.silent,
        started_us: now_us(),
        started: Instant::now(),
        stdout: Capped::default(),
        stderr: Capped::default(),
        result: None,
    });
}

/// The cell's value was shown as `text`: recorded, and kept in `Out` and `_N`.
pub fn displayed(py: Python<'_>, session: &Session, count: u64, value: &Bound<'_, PyAny>, text: &str) {
    if !settings().enabled {
        return;
    }
    let log = &session.io.history;
    if let Some(running) = log.state().running.as_mut().filter(|r| r.count == count && r.stored) {
        running.result = Some(Capped::new(text, settings().cap));
    }
    log.names().keep_result(py, session.namespace(py), count, value);
}

/// The cell ended, with `error` or SystemExit's `exit_code` if so: it goes to history and
/// the audit file, and `_i` and friends learn its input.
pub fn cell_finished(
    py: Python<'_>,
    session: &Session,
    count: u64,
    error: Option<&ErrorContent>,
    exit_code: Option<i32>,
) {
    let log = &session.io.history;
    let running = {
        let mut state = log.state();
        let Some(running) = state.running.take_if(|r| r.count == count) else {
            return;
        };
        if running.stored {
            state.last = Some(Last {
                count,
                stdout: running.stdout.budget(),
                stderr: running.stderr.budget(),
            });
        }
        running
    };
    let duration_us = running.started.elapsed().as_micros() as i64;
    let status = match (exit_code, error) {
        (Some(_), _) => Status::Exit,
        (None, Some(_)) => Status::Error,
        (None, None) => Status::Ok,
    };
    let recorder = log.recorder();
    if let (Some((audit, who)), Some(recorder)) = (log.audit.get(), recorder) {
        recorder.audit(
            audit.clone(),
            AuditEntry {
                time_us: running.started_us,
                session: log.id.clone(),
                who: who.clone(),
                count,
                code: running.input.clone(),
                status,
                error: error.map(|e| format!("{}: {}", e.ename, e.evalue)),
                exit_code,
                duration_us,
            },
        );
    }
    if !running.stored {
        return;
    }
    log.names().keep_input(py, session.namespace(py), count, &running.input);
    let cap = settings().cap;
    let cell = Cell {
        session: log.info().clone(),
        count,
        input: running.input,
        started_us: running.started_us,
        duration_us,
        status,
        outputs: Outputs {
            stdout: running.stdout,
            stderr: running.stderr,
            result: running.result,
            error: error.map(|e| CellError {
                ename: e.ename.clone(),
                evalue: e.evalue.clone(),
                traceback: Capped::new(&e.traceback.concat(), cap),
            }),
        },
    };
    if let Some(recorder) = recorder {
        recorder.record(cell);
    }
}
