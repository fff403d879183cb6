//! `execute_request`: run a cell. The executor decides where and when the cell runs; this
//! module owns what is said about it — the result or error, and the reply — so every
//! executor reports cells the same way.
//!
//! Jupyter also broadcasts `status` (busy, idle) and `execute_input` around each cell to all
//! of a kernel's clients. A native connection is one client's own ordered stream, where the
//! reply already marks the end and the code is what the client sent, so they are not sent
//! on it; a transport serving several clients per kernel adds them.
//!
//! A cell that fails with `stop_on_error` has the cells queued behind it aborted (their
//! executor asks [`abort`] to answer them); `store_history: false` leaves the execution
//! count alone; `user_expressions` are evaluated after a cell that ran.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use hotrepl_proto::{
    ErrorContent, ExecuteInput, ExecuteReply, ExecuteRequest, ExecuteResult, ExecutionState, ReplyStatus,
};
use pyo3::exceptions::PySystemExit;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use serde_json::{Map, Value};

use crate::cell::{self, CellRun};
use crate::hooks;
use crate::magics::{self, UsageError};
use crate::ops::announce_state;
use crate::session::Session;
use crate::traceback;
use crate::transform;
use crate::transport::Parent;

pub fn handle(py: Python<'_>, session: &Arc<Session>, parent: Parent, request: ExecuteRequest) {
    session.executor.clone().submit(py, session, parent, request);
}

/// One execute request on its way through an executor.
pub struct Execution {
    pub parent: Parent,
    pub count: u64,
    silent: bool,
    stop_on_error: bool,
    user_expressions: Map<String, Value>,
    /// The cell's source, kept for `post_cell` hooks when there are any.
    source_for_hooks: Option<String>,
}

/// What the executor does once a cell has been reported.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reported {
    /// The cell raised SystemExit with this code: the executor decides what exiting means
    /// for its session.
    pub exit_code: Option<i32>,
    /// The cell failed and asked to stop on error: the cells queued behind it are aborted.
    pub abort_queued: bool,
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

/// Announces the cell, transforms it into Python (magics, `!`, `?`) and compiles it. A cell
/// that does not compile is reported here: the executor gets what to do next.
pub fn begin(
    py: Python<'_>,
    session: &Session,
    parent: Parent,
    mut request: ExecuteRequest,
) -> Result<(Execution, CellRun), Reported> {
    // A silent cell never counts; one kept out of history does not either.
    let counts = !request.silent && request.store_history;
    let count = if counts {
        session.next_execution_count()
    } else {
        session.execution_count()
    };
    let hooked = hooks::any();
    let execution = Execution {
        parent,
        count,
        silent: request.silent,
        stop_on_error: request.stop_on_error,
        user_expressions: std::mem::take(&mut request.user_expressions),
        source_for_hooks: hooked.then(|| request.code.clone()),
    };
    let io = &session.io;
    announce_state(io, &execution.parent, ExecutionState::Busy);
    if io.broadcasts() && !request.silent {
        let input = ExecuteInput {
            code: request.code.clone(),
            execution_count: count,
        };
        io.announce(&execution.parent, input);
    }
    io.start_cell(&execution.parent, request.allow_stdin);
    if session.io.broadcasts() {
        // Several clients see this session's output: what the cell's tasks print later, while
        // other cells run, must still show under this cell.
        if let Err(e) = crate::output::enter_cell_context(py, &session.io, &execution.parent) {
            e.print(py);
        }
    }
    // Whatever a magic run outside any cell left there is not this cell's.
    session.take_payloads();
    crate::history::cell_started(session, count, &request); // history: the cell's input and start
    let typed = hooks::transform_input(py, &request.code);
    if hooked {
        if let Ok(args) = PyTuple::new(py, [typed.as_ref()]) {
            hooks::run_all(py, "pre_cell", &args);
        }
    }
    let filename = session.cell_name(counts.then_some(count));
    let python = transform::python_source(&typed, &|kind, name, args, body| {
        magics::call_awaits(py, kind, name, args, body)
    });
    let compiled = {
        let mut flags = session.future_flags().lock().unwrap_or_else(|e| e.into_inner());
        let source = cell::Source {
            python: &python,
            shown: Some(&typed),
            filename: &filename,
            column: 0,
        };
        cell::compile(py, &source, &mut flags, session.autoawait.load(Ordering::Relaxed))
    };
    match compiled {
        Ok(cell) => {
            if !cell.is_expression() && !request.silent {
                crate::session::record_cell(&python);
            }
            let run = CellRun::new(
                cell,
                session.globals.clone_ref(py),
                session.locals.as_ref().map(|l| l.clone_ref(py).into_any()),
            );
            Ok((execution, run))
        }
        Err(err) => Err(finish(py, session, &execution, Outcome::Raised(err))),
    }
}

/// Answers an execute request that was queued behind a cell that failed with
/// `stop_on_error`: it does not run.
pub fn abort(session: &Session, parent: &Parent) {
    let io = &session.io;
    announce_state(io, parent, ExecutionState::Busy);
    let reply = ExecuteReply {
        status: ReplyStatus::Aborted,
        execution_count: session.execution_count(),
        error: None,
        payload: Vec::new(),
        user_expressions: Map::new(),
        exit_code: None,
    };
    io.reply_then_idle(parent, reply);
}

/// Reports how the cell ended and replies; tells the executor what to do next.
pub fn finish(py: Python<'_>, session: &Session, execution: &Execution, outcome: Outcome) -> Reported {
    if let Some(source) = &execution.source_for_hooks {
        run_post_cell_hooks(py, source, &outcome);
    }
    let io = &session.io;
    let parent = &execution.parent;
    let mut exit_code = None;
    let mut error_shown = false;
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
        Outcome::Raised(err) => {
            let error = traceback::error_content(py, &err);
            if !err.is_instance_of::<UsageError>(py) {
                session.set_last_error(err.value(py).clone().into_any().unbind());
                if session.pdb.load(Ordering::Relaxed) {
                    // The error shows before the debugger opens on it.
                    io.queue_output(parent, error.clone());
                    error_shown = true;
                    debug_post_mortem(py, &err);
                }
            }
            Some(error)
        }
        Outcome::Interrupted => Some(traceback::interrupted()),
        Outcome::Abandoned => Some(traceback::one_line(
            "CellAbandoned",
            "the cell did not answer the interrupt; it was left running in a detached thread",
        )),
    };
    if let (Some(error), false) = (&error, error_shown) {
        io.queue_output(parent, error.clone());
    }
    // history: recorded before the reply leaves, so a reader asking after it finds the cell.
    crate::history::cell_finished(py, session, execution.count, error.as_ref(), exit_code);
    let failed = error.is_some();
    let user_expressions = if failed || execution.user_expressions.is_empty() {
        Map::new()
    } else {
        evaluate_user_expressions(py, session, &execution.user_expressions)
    };
    let reply = ExecuteReply {
        status: if failed { ReplyStatus::Error } else { ReplyStatus::Ok },
        execution_count: execution.count,
        error,
        payload: session.take_payloads(),
        user_expressions,
        exit_code,
    };
    io.reply_then_idle(parent, reply);
    Reported {
        exit_code,
        abort_queued: failed && execution.stop_on_error && !execution.silent,
    }
}

/// `user_expressions`: each expression's value as a MIME bundle, or the error it raised,
/// evaluated in the session's namespace after the cell.
fn evaluate_user_expressions(
    py: Python<'_>,
    session: &Session,
    expressions: &Map<String, Value>,
) -> Map<String, Value> {
    let evaluate = |source: &str| -> PyResult<Value> {
        let globals = session.globals.bind(py);
        let value = py
            .import("builtins")?
            .getattr("eval")?
            .call1((source, globals, session.namespace(py)))?;
        let (data, metadata) = crate::display::value_bundle(py, session, &value)?;
        Ok(serde_json::json!({"status": "ok", "data": data, "metadata": metadata}))
    };
    expressions
        .iter()
        .map(|(name, expression)| {
            let result = match expression.as_str().map(evaluate) {
                Some(Ok(value)) => value,
                Some(Err(err)) => {
                    let error = traceback::error_content(py, &err);
                    serde_json::json!({
                        "status": "error",
                        "ename": error.ename,
                        "evalue": error.evalue,
                        "traceback": error.traceback,
                    })
                }
                None => serde_json::json!({
                    "status": "error",
                    "ename": "TypeError",
                    "evalue": "a user expression must be a string",
                    "traceback": [],
                }),
            };
            (name.clone(), result)
        })
        .collect()
}

/// `post_cell(source, value_or_error)` hooks, with the value (None if there was none) or
/// the exception the cell raised.
fn run_post_cell_hooks(py: Python<'_>, source: &str, outcome: &Outcome) {
    let ended = match outcome {
        Outcome::Value(Some(value)) => value.clone_ref(py).into_bound(py),
        Outcome::Raised(err) => err.value(py).clone().into_any(),
        Outcome::Value(None) | Outcome::Interrupted | Outcome::Abandoned => py.None().into_bound(py),
    };
    if let Ok(args) = PyTuple::new(py, [pyo3::types::PyString::new(py, source).into_any(), ended]) {
        hooks::run_all(py, "post_cell", &args);
    }
}

/// `%pdb on`: the debugger opens on the cell's exception, in the session, before the reply.
fn debug_post_mortem(py: Python<'_>, err: &PyErr) {
    let opened = py
        .import("hotrepl._magics.debugging")
        .and_then(|m| m.call_method1("post_mortem", (err.value(py),)));
    if let Err(e) = opened {
        e.print(py);
    }
}

/// Shows a value (its MIME bundle, see [`crate::display`]) and keeps it in `_`. A failing
/// `__repr__` becomes the cell's error.
fn display(py: Python<'_>, session: &Session, execution: &Execution, value: Py<PyAny>) -> Option<ErrorContent> {
    let value = value.into_bound(py);
    let (data, metadata) = match crate::display::value_bundle(py, session, &value) {
        Ok(bundle) => bundle,
        Err(err) => return Some(traceback::error_content(py, &err)),
    };
    if let Err(err) = session.namespace(py).set_item("_", &value) {
        return Some(traceback::error_content(py, &err));
    }
    if let Some(Value::String(text)) = data.get("text/plain") {
        crate::history::displayed(py, session, execution.count, &value, text); // history: Out, _N
    }
    session.io.queue_output(
        &execution.parent,
        ExecuteResult {
            execution_count: execution.count,
            data,
            metadata,
        },
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
