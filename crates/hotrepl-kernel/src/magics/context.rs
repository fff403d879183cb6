//! What hotrepl's own magics (the Python package `hotrepl._magics`) get to work with: the
//! calling cell's namespace and place, its session, and ways to compile and run code there
//! exactly as a cell would run it.

use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use serde_json::json;

use crate::cell::{self, CellRun, Source, Step};
use crate::inspection;
use crate::pycache::py_attr;
use crate::session::Session;

/// The cell a magic was called from: where (`filename`, `line`), in which namespace, and for
/// which session.
#[pyclass(module = "hotrepl._native", frozen)]
pub struct MagicContext {
    session: Arc<Session>,
    globals: Py<PyDict>,
    locals: Py<PyAny>,
    filename: String,
    line: usize,
}

impl MagicContext {
    /// The context of the Python code calling into Rust right now (a cell, or a function
    /// that used a magic).
    pub fn of_caller(py: Python<'_>, session: Arc<Session>) -> PyResult<MagicContext> {
        // A call from Rust pushes no frame: frame 0 is the caller's.
        let frame = py_attr!(py, "sys", "_getframe")?.call1((0,))?;
        let code = frame.getattr("f_code")?;
        Ok(MagicContext {
            session,
            globals: frame.getattr("f_globals")?.cast_into::<PyDict>()?.unbind(),
            locals: frame.getattr("f_locals")?.unbind(),
            filename: code.getattr("co_filename")?.extract()?,
            line: frame.getattr("f_lineno")?.extract()?,
        })
    }
}

#[pymethods]
impl MagicContext {
    /// The globals of the calling cell.
    #[getter]
    fn globals(&self, py: Python<'_>) -> Py<PyDict> {
        self.globals.clone_ref(py)
    }

    /// Its locals (the globals at the top level of a cell).
    #[getter]
    fn locals(&self, py: Python<'_>) -> Py<PyAny> {
        self.locals.clone_ref(py)
    }

    #[getter]
    fn filename(&self) -> &str {
        &self.filename
    }

    /// The line of the magic in its cell.
    #[getter]
    fn line(&self) -> usize {
        self.line
    }

    /// True in a program of someone else's (attached, embedded); False in the local REPL.
    #[getter]
    fn in_host_program(&self) -> bool {
        self.session.executor.in_host_program()
    }

    /// The session's number in its process (None in the local REPL).
    #[getter]
    fn session_number(&self) -> Option<u64> {
        self.session.number
    }

    #[getter]
    fn execution_count(&self) -> u64 {
        self.session.execution_count()
    }

    /// Compiles `source` as a cell of this session would be compiled (its `from __future__`
    /// imports, `%autoawait`), named for tracebacks after the calling cell and placed at
    /// `line` (default: the magic's line); `filename` overrides the name (`%run` uses the
    /// script's path). `column`: where on that line the code starts, if it shares it with
    /// the magic. It runs in the cell's namespace, or in `globals` if given.
    #[pyo3(signature = (source, *, line=None, column=0, filename=None, globals=None))]
    fn compile(
        &self,
        py: Python<'_>,
        source: &str,
        line: Option<usize>,
        column: usize,
        filename: Option<&str>,
        globals: Option<Bound<'_, PyDict>>,
    ) -> PyResult<CompiledCell> {
        let line = line.unwrap_or(self.line).max(1);
        let placed = format!("{}{source}", "\n".repeat(line - 1));
        let mut flags = *self.session.future_flags().lock().unwrap_or_else(|e| e.into_inner());
        let compiled = cell::compile(
            py,
            &Source {
                python: &placed,
                shown: None,
                filename: filename.unwrap_or(&self.filename),
                column,
            },
            &mut flags,
            self.session.autoawait.load(std::sync::atomic::Ordering::Relaxed),
        )?;
        let run = match globals {
            Some(globals) => CellRun::new(compiled, globals.unbind(), None),
            None => CellRun::new(compiled, self.globals.clone_ref(py), Some(self.locals.clone_ref(py))),
        };
        Ok(CompiledCell {
            awaits: run.awaits(py),
            run: Mutex::new(Some(run)),
        })
    }

    /// The event loop awaiting cells of this session run on (the program's, or the local
    /// REPL's), or None if there is none yet.
    fn event_loop(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(self.session.executor.event_loop(py)?.map(Bound::unbind))
    }

    /// Shows `text` as help (Jupyter's pager; a terminal prints it).
    fn page(&self, text: &str) {
        self.session.add_payload(json!({
            "source": "page",
            "data": {"text/plain": text},
            "start": 0,
        }));
    }

    /// Puts `text` in the client's next input, for editing.
    fn set_next_input(&self, text: &str) {
        self.session.add_payload(json!({
            "source": "set_next_input",
            "text": text,
            "replace": false,
        }));
    }

    /// The exception the session's last failed cell raised, or None.
    #[getter]
    fn last_error(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.session.last_error(py)
    }

    /// Read only: `%config pdb` (or `%pdb`) changes it, so the option and its source agree.
    #[getter]
    fn get_pdb(&self) -> bool {
        self.session.pdb.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[getter]
    fn get_autoawait(&self) -> bool {
        self.session.autoawait.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Calls `hook()` when the running cell is interrupted, until removed: for waits that an
    /// exception raised in the cell's thread cannot break (a child process's pipe).
    fn add_interrupt_hook(&self, hook: Py<PyAny>) {
        self.session.add_interrupt_hook(hook);
    }

    fn remove_interrupt_hook(&self, py: Python<'_>, hook: &Bound<'_, PyAny>) {
        self.session.remove_interrupt_hook(py, hook);
    }

    /// What `name?` (detail 0) or `name??` (detail 1) shows, looked up in the cell's
    /// namespace.
    fn describe(&self, py: Python<'_>, name: &str, detail: u8) -> PyResult<String> {
        let namespace = inspection::Namespace {
            globals: self.globals.bind(py),
            locals: Some(self.locals.bind(py)),
        };
        inspection::describe(py, &namespace, name, detail)
    }

    /// `repr(value)` cut to `width` characters, given up after a second.
    #[pyo3(signature = (value, width=80))]
    fn safe_repr(&self, value: &Bound<'_, PyAny>, width: usize) -> String {
        inspection::safe_repr(value, width)
    }
}

/// Code compiled for a magic, run in the calling cell's namespace the way a cell runs:
/// `run()` when it does not await; else `begin()`, then `resume(value)` or `fail(error)`
/// with the outcome of each awaitable it hands out, until it says it is done.
#[pyclass(module = "hotrepl._native", frozen)]
pub struct CompiledCell {
    run: Mutex<Option<CellRun>>,
    awaits: bool,
}

impl CompiledCell {
    fn step(&self, py: Python<'_>, f: impl FnOnce(&mut CellRun) -> Step) -> PyResult<Py<PyTuple>> {
        let mut run = self
            .run
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this code has already run"))?;
        match f(&mut run) {
            Step::Await(awaitable) => {
                *self.run.lock().unwrap_or_else(|e| e.into_inner()) = Some(run);
                Ok(PyTuple::new(py, [py_str(py, "await"), awaitable])?.unbind())
            }
            Step::Done(result) => {
                let value = result?.unwrap_or_else(|| py.None());
                Ok(PyTuple::new(py, [py_str(py, "done"), value])?.unbind())
            }
        }
    }
}

fn py_str(py: Python<'_>, s: &str) -> Py<PyAny> {
    pyo3::types::PyString::new(py, s).into_any().unbind()
}

#[pymethods]
impl CompiledCell {
    /// Whether it awaits (it must then run on an event loop, through `begin`).
    #[getter]
    fn awaits(&self) -> bool {
        self.awaits
    }

    /// Runs code that does not await; returns the value of its last expression (or None).
    fn run(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let run = self
            .run
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this code has already run"))?;
        Ok(run.run_plain(py)?.unwrap_or_else(|| py.None()))
    }

    /// Starts it: `("await", awaitable)` to await and pass on, or `("done", value)`.
    fn begin(&self, py: Python<'_>) -> PyResult<Py<PyTuple>> {
        self.step(py, |run| run.start(py))
    }

    /// Goes on after the awaitable gave `value`.
    fn resume(&self, py: Python<'_>, value: Py<PyAny>) -> PyResult<Py<PyTuple>> {
        self.step(py, |run| run.resume(py, Ok(value)))
    }

    /// Goes on after the awaitable raised `error` (which the code then raises).
    fn fail(&self, py: Python<'_>, error: Bound<'_, PyAny>) -> PyResult<Py<PyTuple>> {
        self.step(py, |run| run.resume(py, Err(PyErr::from_value(error))))
    }
}
