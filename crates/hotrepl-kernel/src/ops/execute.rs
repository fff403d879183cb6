//! `execute_request`: run a cell. The executor decides where and when the cell runs; this
//! module owns what is said about it — the result or error, and the reply — so every
//! executor reports cells the same way.
//!
//! Jupyter also broadcasts `status` (busy, idle) and `execute_input` around each cell to all
//! of a kernel's clients. A native connection is one client's own ordered stream, where the
//! reply already marks the end and the code is what the client sent, so they are not sent
//! on it; a transport serving several clients per kernel adds them.

use std::sync::Arc;

use hotrepl_proto::{ErrorContent, ExecuteReply, ExecuteRequest, ExecuteResult, Header, ReplyStatus};
use pyo3::exceptions::PySystemExit;
use pyo3::prelude::*;
use serde_json::{Map, Value};

use crate::cell::{self, CellRun};
use crate::session::Session;
use crate::traceback;

pub fn handle(py: Python<'_>, session: &Arc<Session>, header: Header, request: ExecuteRequest) {
    session.executor.clone().submit(py, session, header, request);
}

/// One execute request on its way through an executor.
pub struct Execution {
    pub header: Header,
    pub count: u64,
    silent: bool,
}

/// How a cell ended.
pub enum Outcome {
    /// It ran; the value of its final expression, if any and not None.
    Value(Option<Py<PyAny>>),
    Raised(PyErr),
    /// Interrupted while awaiting: its task was cancelled.
    Interrupted,
    /// Given up on while stuck; it may still be running, detached.
    Abandoned,
}

/// How a cell that ended with `result` is reported: a CancelledError after the user
/// interrupted it (its task was cancelled) is shown as the interruption it was.
pub fn outcome(py: Python<'_>, result: PyResult<Option<Py<PyAny>>>, interrupted: bool) -> Outcome {
    match result {
        Ok(value) => Outcome::Value(value),
        Err(e) if interrupted && is_cancelled(py, &e) => Outcome::Interrupted,
        Err(e) => Outcome::Raised(e),
    }
}

fn is_cancelled(py: Python<'_>, err: &PyErr) -> bool {
    // Only asyncio raises it: if asyncio was never imported, no need to import it to check.
    crate::arrival::imported(py, "asyncio")
        && crate::pycache::py_attr!(py, "asyncio", "CancelledError")
            .is_ok_and(|cls| err.matches(py, cls).unwrap_or(false))
}

/// Announces the cell and compiles it. A cell that does not compile is answered here
/// and `None` is returned.
pub fn begin(
    py: Python<'_>,
    session: &Session,
    header: Header,
    request: &ExecuteRequest,
) -> (Execution, Option<CellRun>) {
    let count = if request.silent {
        session.execution_count()
    } else {
        session.next_execution_count()
    };
    let execution = Execution {
        header,
        count,
        silent: request.silent,
    };
    session.io.set_parent(Some(&execution.header));
    crate::history::cell_started(session, count, request); // history: the cell's input and start
    let compiled = {
        let mut flags = session.future_flags().lock().unwrap_or_else(|e| e.into_inner());
        cell::compile(py, &request.code, &mut flags)
    };
    match compiled {
        Ok(cell) => (
            execution,
            Some(CellRun::new(
                cell,
                session.globals.clone_ref(py),
                session.locals.as_ref().map(|l| l.clone_ref(py)),
            )),
        ),
        Err(err) => {
            finish(py, session, &execution, Outcome::Raised(err));
            (execution, None)
        }
    }
}

/// Reports how the cell ended and replies. Returns the exit code if the cell raised
/// SystemExit (the caller decides what exiting means for its session).
pub fn finish(py: Python<'_>, session: &Session, execution: &Execution, outcome: Outcome) -> Option<i32> {
    let outbox = session.io.outbox();
    let parent = Some(&execution.header);
    let mut exit_code = None;
    let error = match outcome {
        Outcome::Value(Some(value)) => {
            if !execution.silent {
                display(py, session, execution, value)
            } else {
                None
            }
        }
        Outcome::Value(None) => None,
        Outcome::Raised(err) if err.is_instance_of::<PySystemExit>(py) => {
            exit_code = Some(exit_code_of(py, &err));
            None
        }
        Outcome::Raised(err) => Some(traceback::error_content(py, &err)),
        Outcome::Interrupted => Some(traceback::interrupted()),
        Outcome::Abandoned => Some(ErrorContent {
            ename: "CellAbandoned".into(),
            evalue: "the cell did not answer the interrupt; it was left running in a detached thread".into(),
            traceback: vec![
                "CellAbandoned: the cell did not answer the interrupt; it was left running in a detached thread\n"
                    .into(),
            ],
        }),
    };
    if let Some(error) = &error {
        outbox.queue_content(error.clone(), parent);
    }
    // history: recorded before the reply leaves, so a reader asking after it finds the cell.
    crate::history::cell_finished(py, session, execution.count, error.as_ref(), exit_code);
    let reply = ExecuteReply {
        status: if error.is_some() {
            ReplyStatus::Error
        } else {
            ReplyStatus::Ok
        },
        execution_count: execution.count,
        error,
        payload: Vec::new(),
        user_expressions: Map::<String, Value>::new(),
        exit_code,
    };
    outbox.send_content(reply, parent);
    exit_code
}

/// Shows a value as the standard REPL does (its repr) and keeps it in `_`. A failing
/// `__repr__` becomes the cell's error.
fn display(py: Python<'_>, session: &Session, execution: &Execution, value: Py<PyAny>) -> Option<ErrorContent> {
    let value = value.into_bound(py);
    let text = match value.repr() {
        Ok(r) => r.to_string(),
        Err(err) => return Some(traceback::error_content(py, &err)),
    };
    if let Err(err) = session.namespace(py).set_item("_", &value) {
        return Some(traceback::error_content(py, &err));
    }
    crate::history::displayed(py, session, execution.count, &value, &text); // history: Out, _N
    let mut data = Map::new();
    data.insert("text/plain".into(), Value::String(text));
    session.io.outbox().queue_content(
        ExecuteResult {
            execution_count: execution.count,
            data,
            metadata: Map::new(),
        },
        Some(&execution.header),
    );
    None
}

/// `sys.exit(x)` semantics: None is 0, an int is itself, anything else is printed and 1.
pub fn exit_code_of(py: Python<'_>, err: &PyErr) -> i32 {
    let code = match err.value(py).getattr("code") {
        Ok(c) => c,
        Err(_) => return 1,
    };
    if code.is_none() {
        return 0;
    }
    if let Ok(n) = code.extract::<i32>() {
        return n;
    }
    if let Ok(sys) = py.import("sys") {
        let _ = sys.getattr("stderr").and_then(|e| {
            e.call_method1(
                "write",
                (format!("{}\n", code.str().map(|s| s.to_string()).unwrap_or_default()),),
            )
        });
    }
    1
}
