//! A session: one client's view of the interpreter — its namespace, its execution counter,
//! its I/O routing, and the executor that runs its cells.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hotrepl_proto::ExecuteRequest;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;

use crate::output::SessionIo;
use crate::transport::Parent;

/// Runs a session's cells. The local REPL runs them on its main thread's event loop; a
/// host process runs them on a session thread and the host's loop.
pub trait Executor: Send + Sync {
    /// Queues a cell; everything it produces, and its reply, goes out through the session.
    fn submit(&self, py: Python<'_>, session: &Arc<Session>, parent: Parent, request: ExecuteRequest);
    /// Interrupts the running cell; with `abandon`, gives up on it instead.
    fn interrupt(&self, py: Python<'_>, session: &Arc<Session>, abandon: bool) -> InterruptOutcome;
    /// The client is gone (or asked to shut down).
    fn close(&self, py: Python<'_>, session: &Arc<Session>, reason: CloseReason);
    /// Whether the calling thread is (still) the one serving the session's connection.
    fn serves_on_this_thread(&self) -> bool {
        true
    }
    /// The event loop the session's awaiting cells run on, if there is one now.
    fn event_loop<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>>;
    /// Whether the session runs in a program of someone else's (attached or embedded),
    /// rather than in the local REPL's own kernel.
    fn in_host_program(&self) -> bool {
        true
    }
}

/// Where a session's requests come from (a client connection), as an executor with a
/// thread of its own sees it: while that thread runs a cell, someone else must read the
/// requests (an interrupt, an input reply); a cell can end the session (SystemExit); and a
/// stuck cell's thread can be replaced by a new one that takes over the reading.
pub trait Inbound: Send + Sync {
    /// The session's thread runs a cell from now until [`Inbound::cell_ended`].
    fn cell_started(&self);
    fn cell_ended(&self);
    /// Whether the session is over (its client left, or it was ended).
    fn has_ended(&self) -> bool;
    fn end(&self, py: Python<'_>, reason: CloseReason);
    /// Serves the session on the calling thread until it ends.
    fn serve_here(&self);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterruptOutcome {
    Interrupted,
    Abandoned,
    NothingRunning,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    ClientGone,
    Shutdown,
}

/// Where a session's cells run.
pub struct Namespace {
    pub globals: Py<PyDict>,
    /// Separate locals (an `embed()` in a function); None runs cells in `globals`.
    pub locals: Option<Py<PyDict>>,
}

/// Sessions in a host program are numbered across the whole process, so that a cell's name
/// (`<cell 3, session 2>`) is unique among all sessions' cells, as linecache needs.
static SESSIONS_STARTED: AtomicU64 = AtomicU64::new(0);

/// The number the next session in this process gets (also shown in the server's log).
pub fn next_session_number() -> u64 {
    SESSIONS_STARTED.fetch_add(1, Ordering::Relaxed) + 1
}

/// Cells compiled without a number of their own (silent ones) are numbered apart.
static SILENT_CELLS: AtomicU64 = AtomicU64::new(0);

/// How many cells [`record_cell`] keeps.
const RECORDED_CELLS: usize = 10_000;

/// The Python source of the latest cells sessions ran in this process that are more than an
/// expression (so they may bind names), for `%who` and `%reset` to tell names defined at
/// the prompt from the program's own.
static CELLS: Mutex<std::collections::VecDeque<String>> = Mutex::new(std::collections::VecDeque::new());

pub fn record_cell(python_source: &str) {
    let mut cells = CELLS.lock().unwrap_or_else(|e| e.into_inner());
    if cells.len() == RECORDED_CELLS {
        cells.pop_front();
    }
    cells.push_back(python_source.to_owned());
}

/// The cells sessions ran in this process (those that may bind names), oldest first.
#[pyfunction]
pub fn session_cells() -> Vec<String> {
    CELLS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect()
}

pub struct Session {
    pub io: Arc<SessionIo>,
    pub globals: Py<PyDict>,
    /// Separate locals (an `embed()` in a function); None runs cells in `globals`.
    pub locals: Option<Py<PyDict>>,
    pub executor: Arc<dyn Executor>,
    /// The session's number in its process; None for the local REPL, the only session there.
    pub number: Option<u64>,
    execution_count: AtomicU64,
    future_flags: Mutex<i32>,
    /// What the running cell adds to its reply's `payload` (help pages, the next input).
    payloads: Mutex<Vec<Value>>,
    /// The exception the last failed cell raised, for `%debug`.
    last_error: Mutex<Option<Py<PyAny>>>,
    /// `%autoawait`: top-level `await` is allowed.
    pub autoawait: AtomicBool,
    /// `%pdb`: the debugger opens on every uncaught exception.
    pub pdb: AtomicBool,
    /// Called when the running cell is interrupted (for waits an exception cannot break).
    interrupt_hooks: Mutex<Vec<Py<PyAny>>>,
    /// The width of the client's screen, for pretty printing (its requests say).
    pub display_width: AtomicUsize,
    /// The `pretty_width` option: a width of its own, or 0 for the client's.
    pub pretty_width: AtomicUsize,
    /// How many items of a container a shown value lists.
    pub display_max_items: AtomicUsize,
    /// How many characters of a string a shown value keeps (0: all).
    pub display_max_string: AtomicUsize,
    /// The `shutdown` hooks ran for this session.
    shut_down: AtomicBool,
    /// Its options, as its client set them and `%config` changed them.
    pub config: Mutex<hotrepl_config::Config>,
}

impl Session {
    pub fn new(
        io: Arc<SessionIo>,
        namespace: Namespace,
        executor: Arc<dyn Executor>,
        number: Option<u64>,
    ) -> Arc<Session> {
        let session = Arc::new(Session {
            io,
            globals: namespace.globals,
            locals: namespace.locals,
            executor,
            number,
            execution_count: AtomicU64::new(0),
            future_flags: Mutex::new(0),
            payloads: Mutex::new(Vec::new()),
            last_error: Mutex::new(None),
            autoawait: AtomicBool::new(true),
            pdb: AtomicBool::new(false),
            interrupt_hooks: Mutex::new(Vec::new()),
            display_width: AtomicUsize::new(crate::display::Layout::DEFAULT.width),
            pretty_width: AtomicUsize::new(0),
            display_max_items: AtomicUsize::new(crate::display::Layout::DEFAULT.max_items),
            display_max_string: AtomicUsize::new(crate::display::Layout::DEFAULT.max_string),
            shut_down: AtomicBool::new(false),
            config: Mutex::new(hotrepl_config::Config::new()),
        });
        session.io.belongs_to(&session);
        session
    }

    /// The name a cell numbered `count` runs under (tracebacks, linecache); None for a
    /// silent cell, which does not count.
    pub fn cell_name(&self, count: Option<u64>) -> String {
        match (count, self.number) {
            (Some(n), None) => format!("<cell {n}>"),
            (Some(n), Some(s)) => format!("<cell {n}, session {s}>"),
            (None, _) => format!("<silent cell {}>", SILENT_CELLS.fetch_add(1, Ordering::Relaxed) + 1),
        }
    }

    /// Adds to the running cell's reply payload.
    pub fn add_payload(&self, payload: Value) {
        self.payloads.lock().unwrap_or_else(|e| e.into_inner()).push(payload);
    }

    /// The running cell's payload, taken for its reply.
    pub fn take_payloads(&self) -> Vec<Value> {
        std::mem::take(&mut *self.payloads.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn set_last_error(&self, error: Py<PyAny>) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
    }

    pub fn last_error(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|e| e.clone_ref(py))
    }

    /// Runs the `shutdown` hooks as the session ends (once, whichever way it ends).
    pub fn run_shutdown_hooks(&self, py: Python<'_>) {
        if crate::hooks::any() && !self.shut_down.swap(true, Ordering::SeqCst) {
            crate::hooks::run_all(py, "shutdown", &pyo3::types::PyTuple::empty(py));
        }
    }

    pub fn add_interrupt_hook(&self, hook: Py<PyAny>) {
        self.interrupt_hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(hook);
    }

    pub fn remove_interrupt_hook(&self, py: Python<'_>, hook: &Bound<'_, PyAny>) {
        self.interrupt_hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|h| !h.bind(py).is(hook));
    }

    /// Runs the interrupt hooks of the running cell (errors are printed, not raised: the
    /// interrupt itself must go on).
    pub fn run_interrupt_hooks(&self, py: Python<'_>) {
        let hooks: Vec<Py<PyAny>> = self
            .interrupt_hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|h| h.clone_ref(py))
            .collect();
        for hook in hooks {
            if let Err(e) = hook.bind(py).call0() {
                e.print(py);
            }
        }
    }

    /// The namespace names are looked up in: locals over globals.
    pub fn namespace<'py>(&self, py: Python<'py>) -> &Bound<'py, PyDict> {
        self.locals.as_ref().unwrap_or(&self.globals).bind(py)
    }

    pub fn next_execution_count(&self) -> u64 {
        self.execution_count.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn execution_count(&self) -> u64 {
        self.execution_count.load(Ordering::Relaxed)
    }

    /// Compile flags carried from earlier cells (`from __future__ import ...`).
    pub fn future_flags(&self) -> &Mutex<i32> {
        &self.future_flags
    }
}
