//! A session: one client's view of the interpreter — its namespace, its execution counter,
//! its I/O routing, and the executor that runs its cells.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hotrepl_proto::{ExecuteRequest, Header};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::output::SessionIo;

/// Runs a session's cells. The local REPL runs them on its main thread's event loop; a
/// host process runs them on a session thread and the host's loop.
pub trait Executor: Send + Sync {
    /// Queues a cell; everything it produces, and its reply, goes out through the session.
    fn submit(&self, py: Python<'_>, session: &Arc<Session>, header: Header, request: ExecuteRequest);
    /// Interrupts the running cell; with `abandon`, gives up on it instead.
    fn interrupt(&self, py: Python<'_>, session: &Arc<Session>, abandon: bool) -> InterruptOutcome;
    /// The client is gone (or asked to shut down).
    fn close(&self, py: Python<'_>, session: &Arc<Session>, reason: CloseReason);
    /// Whether the calling thread is (still) the one serving the session's connection.
    fn serves_on_this_thread(&self) -> bool {
        true
    }
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

pub struct Session {
    pub io: Arc<SessionIo>,
    pub globals: Py<PyDict>,
    /// Separate locals (an `embed()` in a function); None runs cells in `globals`.
    pub locals: Option<Py<PyDict>>,
    pub executor: Arc<dyn Executor>,
    execution_count: AtomicU64,
    future_flags: Mutex<i32>,
}

impl Session {
    pub fn new(io: Arc<SessionIo>, namespace: Namespace, executor: Arc<dyn Executor>) -> Arc<Session> {
        Arc::new(Session {
            io,
            globals: namespace.globals,
            locals: namespace.locals,
            executor,
            execution_count: AtomicU64::new(0),
            future_flags: Mutex::new(0),
        })
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
