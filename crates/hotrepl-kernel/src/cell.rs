//! A cell: source compiled with top-level await allowed, split so that the value of a final
//! expression statement can be displayed. Running it is a small state machine: evaluate the
//! pieces in order; a piece that awaits yields its coroutine to the caller, who runs it on
//! whichever event loop is right and hands the outcome back with [`CellRun::resume`]. No
//! Python wrapper frame is involved, so tracebacks start at the user's code.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::arrival;
use crate::pycache::py_attr;

/// `ast.PyCF_ONLY_AST`, `ast.PyCF_ALLOW_TOP_LEVEL_AWAIT`: fixed values of CPython's compiler.
pub const PYCF_ONLY_AST: i32 = 0x0400;
pub const PYCF_ALLOW_TOP_LEVEL_AWAIT: i32 = 0x2000;
/// The `CO_FUTURE_*` bits that a `from __future__ import ...` cell sets for later cells.
const FUTURE_FLAGS_MASK: i32 = 0x3e_0000 | 0x100_0000;
const CO_COROUTINE: i32 = 0x0080;

/// Cell numbers are unique in the process, so `<cell N>` names one source in linecache
/// even with many sessions.
static NEXT_CELL: AtomicU64 = AtomicU64::new(1);

pub struct Cell {
    pieces: Vec<Piece>,
}

struct Piece {
    code: Py<PyAny>,
    /// The final expression: its value is the cell's result.
    displays: bool,
}

/// How many compiled cells are kept for when the same source comes again.
const CACHE_SIZE: usize = 64;

/// Recently compiled cells, by source and compile flags, most recent last. Cells come again
/// (Up + Enter at a prompt, a script polling with `hotrepl exec`), and code objects are
/// immutable, so running the same one again is the same as compiling afresh; the source
/// stays in linecache under the name it was first compiled with.
static COMPILED: Mutex<Vec<(String, i32, Vec<Piece>)>> = Mutex::new(Vec::new());

/// Compiles `source`. `future_flags` carries `from __future__` imports between cells and
/// is updated by this one. A SyntaxError comes back as the Err.
pub fn compile(py: Python<'_>, source: &str, future_flags: &mut i32) -> PyResult<Cell> {
    let key_flags = *future_flags;
    {
        let mut cache = COMPILED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = cache
            .iter()
            .position(|(src, flags, _)| *flags == key_flags && src == source)
        {
            let entry = cache.remove(i);
            let pieces = clone_pieces(py, &entry.2);
            cache.push(entry);
            return Ok(Cell { pieces });
        }
    }
    let cell = compile_fresh(py, source, future_flags)?;
    if *future_flags == key_flags {
        let mut cache = COMPILED.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() == CACHE_SIZE {
            cache.remove(0);
        }
        cache.push((source.to_owned(), key_flags, clone_pieces(py, &cell.pieces)));
    }
    Ok(cell)
}

fn clone_pieces(py: Python<'_>, pieces: &[Piece]) -> Vec<Piece> {
    pieces
        .iter()
        .map(|p| Piece {
            code: p.code.clone_ref(py),
            displays: p.displays,
        })
        .collect()
}

impl Cell {
    /// Whether the cell is a single expression (its value is all it does).
    pub fn is_expression(&self) -> bool {
        matches!(self.pieces.as_slice(), [Piece { displays: true, .. }])
    }
}

fn compile_fresh(py: Python<'_>, source: &str, future_flags: &mut i32) -> PyResult<Cell> {
    let number = NEXT_CELL.fetch_add(1, Ordering::Relaxed);
    let filename = format!("<cell {number}>");
    remember_source(py, &filename, source)?;

    let compile = py_attr!(py, "builtins", "compile")?;
    let flags = PYCF_ALLOW_TOP_LEVEL_AWAIT | *future_flags;
    // Most cells typed at a prompt are one expression: then a single compile does, and
    // no syntax tree has to be built (that path costs twice as much).
    if let Ok(code) = compile.call1((source, &filename, "eval", flags, true)) {
        return Ok(Cell {
            pieces: vec![Piece {
                code: code.unbind(),
                displays: true,
            }],
        });
    }
    let tree = compile.call1((source, &filename, "exec", flags | PYCF_ONLY_AST, true))?;
    let body = tree.getattr("body")?.cast_into::<PyList>()?;

    let last_expr = match body.len() {
        0 => None,
        n => {
            let last = body.get_item(n - 1)?;
            if last.is_instance(py_attr!(py, "ast", "Expr")?)? {
                body.del_item(n - 1)?;
                Some(last.getattr("value")?)
            } else {
                None
            }
        }
    };

    let mut pieces = Vec::with_capacity(2);
    if body.len() > 0 || last_expr.is_none() {
        let code = compile.call1((&tree, &filename, "exec", flags, true))?;
        *future_flags |= code_flags(&code)? & FUTURE_FLAGS_MASK;
        pieces.push(Piece {
            code: code.unbind(),
            displays: false,
        });
    }
    if let Some(value) = last_expr {
        let expression = py_attr!(py, "ast", "Expression")?.call1((value,))?;
        let code = compile.call1((expression, &filename, "eval", flags, true))?;
        pieces.push(Piece {
            code: code.unbind(),
            displays: true,
        });
    }
    Ok(Cell { pieces })
}

fn code_flags(code: &Bound<'_, PyAny>) -> PyResult<i32> {
    code.getattr("co_flags")?.extract()
}

/// Sources of cells compiled before linecache was imported, for it once it is.
static SOURCES_FOR_LINECACHE: Mutex<Vec<(String, Py<PyTuple>)>> = Mutex::new(Vec::new());

/// Registers the source with linecache so tracebacks and `inspect` can show its lines.
/// Before anything has imported linecache (which costs as much as starting a small
/// interpreter) the source waits, and goes in as linecache is imported.
fn remember_source(py: Python<'_>, filename: &str, source: &str) -> PyResult<()> {
    let lines = PyList::empty(py);
    for line in source.split_inclusive('\n') {
        lines.append(line)?;
    }
    if !source.ends_with('\n') && !source.is_empty() {
        // linecache expects newline-terminated lines.
        let n = lines.len();
        let last: String = lines.get_item(n - 1)?.extract()?;
        lines.set_item(n - 1, format!("{last}\n"))?;
    }
    let entry = PyTuple::new(
        py,
        [
            source.len().into_pyobject(py)?.into_any(),
            py.None().into_bound(py),
            lines.into_any(),
            filename.into_pyobject(py)?.into_any(),
        ],
    )?;
    if arrival::imported(py, "linecache") {
        let cache = py_attr!(py, "linecache", "cache")?;
        // Any that waited, had linecache been imported past the watch.
        register_waiting(py, cache)?;
        return cache.set_item(filename, entry);
    }
    let first = {
        let mut waiting = SOURCES_FOR_LINECACHE.lock().unwrap_or_else(|e| e.into_inner());
        waiting.push((filename.to_owned(), entry.unbind()));
        waiting.len() == 1
    };
    if first {
        arrival::watch(
            py,
            "linecache",
            Arc::new(|py, linecache| {
                if let Err(e) = linecache
                    .getattr("cache")
                    .and_then(|cache| register_waiting(py, &cache))
                {
                    e.print(py);
                }
            }),
        )?;
    }
    Ok(())
}

fn register_waiting(py: Python<'_>, cache: &Bound<'_, PyAny>) -> PyResult<()> {
    let waiting = std::mem::take(&mut *SOURCES_FOR_LINECACHE.lock().unwrap_or_else(|e| e.into_inner()));
    for (filename, entry) in waiting {
        cache.set_item(filename, entry.bind(py))?;
    }
    Ok(())
}

/// What running a cell (or one awaited piece of it) came to.
pub enum Step {
    /// Run this coroutine to completion and pass its outcome to `resume`.
    Await(Py<PyAny>),
    /// The cell is finished: the value of its final expression (None if it had none or it
    /// was None), or the exception it raised.
    Done(PyResult<Option<Py<PyAny>>>),
}

pub struct CellRun {
    cell: Cell,
    next: usize,
    globals: Py<PyDict>,
    locals: Option<Py<PyDict>>,
    awaiting_display: bool,
}

impl CellRun {
    pub fn new(cell: Cell, globals: Py<PyDict>, locals: Option<Py<PyDict>>) -> CellRun {
        CellRun {
            cell,
            next: 0,
            globals,
            locals,
            awaiting_display: false,
        }
    }

    /// Whether any piece of the cell awaits (it then runs on an event loop as a whole).
    pub fn awaits(&self, py: Python<'_>) -> bool {
        self.cell
            .pieces
            .iter()
            .any(|p| code_flags(p.code.bind(py)).is_ok_and(|f| f & CO_COROUTINE != 0))
    }

    /// Runs a cell that does not await ([`CellRun::awaits`] is false) to its end.
    pub fn run_plain(mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.advance(py) {
            Step::Done(result) => result,
            Step::Await(_) => Err(pyo3::exceptions::PyRuntimeError::new_err(
                "this cell awaits and needs an event loop",
            )),
        }
    }

    /// Runs pieces until one awaits or the cell ends. User code runs inside this call.
    pub fn start(&mut self, py: Python<'_>) -> Step {
        self.advance(py)
    }

    /// Continues after the coroutine of the last `Step::Await` finished with `outcome`.
    pub fn resume(&mut self, py: Python<'_>, outcome: PyResult<Py<PyAny>>) -> Step {
        match outcome {
            Err(e) => Step::Done(Err(e)),
            Ok(value) if self.awaiting_display => Step::Done(Ok(displayable(py, value))),
            Ok(_) => self.advance(py),
        }
    }

    fn advance(&mut self, py: Python<'_>) -> Step {
        while let Some(piece) = self.cell.pieces.get(self.next) {
            self.next += 1;
            let result = match eval(py, &piece.code, &self.globals, self.locals.as_ref()) {
                Ok(r) => r,
                Err(e) => return Step::Done(Err(e)),
            };
            let is_coroutine = code_flags(piece.code.bind(py))
                .map(|f| f & CO_COROUTINE != 0)
                .unwrap_or(false);
            if is_coroutine {
                self.awaiting_display = piece.displays;
                return Step::Await(result.unbind());
            }
            if piece.displays {
                return Step::Done(Ok(displayable(py, result.unbind())));
            }
        }
        Step::Done(Ok(None))
    }
}

fn displayable(py: Python<'_>, value: Py<PyAny>) -> Option<Py<PyAny>> {
    if value.is_none(py) {
        None
    } else {
        Some(value)
    }
}

fn eval<'py>(
    py: Python<'py>,
    code: &Py<PyAny>,
    globals: &Py<PyDict>,
    locals: Option<&Py<PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let locals = locals.unwrap_or(globals);
    crate::unwind::eval_code(py, code.bind(py), globals.bind(py), locals.bind(py))
}
