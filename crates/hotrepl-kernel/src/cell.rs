//! A cell: source compiled with top-level await allowed (unless `%autoawait off`), split so
//! that the value of a final expression statement can be displayed. Running it is a small state machine: evaluate the
//! pieces in order; a piece that awaits yields its coroutine to the caller, who runs it on
//! whichever event loop is right and hands the outcome back with [`CellRun::resume`]. No
//! Python wrapper frame is involved, so tracebacks start at the user's code.

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

/// A compiled cell kept for reuse: its pieces, and whether they hold code objects of their
/// own (functions, classes, lambdas, comprehensions), which may outlive the cell.
struct Compiled {
    source: String,
    flags: i32,
    column: usize,
    pieces: Vec<Piece>,
    defines_code: bool,
}

/// Recently compiled cells, by source and compile flags, most recent last. Cells come again
/// (Up + Enter at a prompt, a script polling with `hotrepl exec`); code objects are
/// immutable, so running the same one again (renamed for the new cell) is the same as
/// compiling afresh, at a fraction of the cost.
static COMPILED: Mutex<Vec<Compiled>> = Mutex::new(Vec::new());

/// What to compile: the Python source (after the input transformation), the text the user
/// sees for it (registered with linecache for tracebacks and `inspect`; None when it is
/// there already, as for code a magic runs from its cell), and the name it runs under.
pub struct Source<'a> {
    pub python: &'a str,
    pub shown: Option<&'a str>,
    pub filename: &'a str,
    /// Where the code starts on its first line, when it is part of a longer line (the
    /// statement of `%time STATEMENT`): carets in tracebacks then point into that line.
    pub column: usize,
}

/// Compiles a cell. `future_flags` carries `from __future__` imports between cells and is
/// updated by this one; without `top_level_await`, `await` outside a function is the
/// SyntaxError it is in plain Python. A SyntaxError comes back as the Err.
pub fn compile(py: Python<'_>, source: &Source<'_>, future_flags: &mut i32, top_level_await: bool) -> PyResult<Cell> {
    let flags = *future_flags | if top_level_await { PYCF_ALLOW_TOP_LEVEL_AWAIT } else { 0 };
    // `ast` hooks (macro expanders) may turn the same text into other code each time.
    let transformed = crate::hooks::any() && !crate::hooks::at("ast").is_empty();
    let earlier = if transformed {
        None
    } else {
        cached(py, source.python, flags, source.column)
    };
    let (pieces, defines_code) = match earlier {
        Some((pieces, defines_code)) => {
            let pieces = pieces
                .into_iter()
                .map(|p| {
                    Ok(Piece {
                        code: renamed(p.code.bind(py), source.filename, defines_code)?.unbind(),
                        displays: p.displays,
                    })
                })
                .collect::<PyResult<Vec<_>>>()?;
            (pieces, defines_code)
        }
        None => {
            register_deferred_sources(py)?;
            let fresh = compile_fresh(py, source, flags, future_flags, transformed)?;
            let defines_code = fresh.pieces.iter().any(|p| holds_code(p.code.bind(py)).unwrap_or(true));
            if !transformed {
                keep(py, source, flags, *future_flags, &fresh.pieces, defines_code);
            }
            (fresh.pieces, defines_code)
        }
    };
    if let Some(shown) = source.shown {
        remember_source(py, source.filename, shown, defines_code)?;
    }
    Ok(Cell { pieces })
}

/// Whether `python` is a single expression, compiling it (and keeping it for its run) only
/// if it is not compiled already. For line mode, which asks before every run.
pub fn is_expression(py: Python<'_>, python: &str, future_flags: i32) -> bool {
    let flags = future_flags | PYCF_ALLOW_TOP_LEVEL_AWAIT;
    if let Some((pieces, _)) = cached(py, python, flags, 0) {
        return (Cell { pieces }).is_expression();
    }
    let source = Source {
        python,
        shown: None,
        filename: "<input>",
        column: 0,
    };
    let mut after = future_flags;
    match compile_fresh(py, &source, flags, &mut after, false) {
        Ok(fresh) => {
            let defines_code = fresh.pieces.iter().any(|p| holds_code(p.code.bind(py)).unwrap_or(true));
            keep(py, &source, flags, after, &fresh.pieces, defines_code);
            fresh.is_expression()
        }
        Err(_) => false,
    }
}

/// The pieces of a cell compiled before, most recently used last.
fn cached(py: Python<'_>, python: &str, flags: i32, column: usize) -> Option<(Vec<Piece>, bool)> {
    let mut cache = COMPILED.lock().unwrap_or_else(|e| e.into_inner());
    let i = cache
        .iter()
        .position(|c| c.flags == flags && c.column == column && c.source == python)?;
    let entry = cache.remove(i);
    let hit = (clone_pieces(py, &entry.pieces), entry.defines_code);
    cache.push(entry);
    Some(hit)
}

/// Keeps freshly compiled pieces for when the same source comes again (unless the cell
/// changed the future flags: it compiles differently next time).
fn keep(
    py: Python<'_>,
    source: &Source<'_>,
    flags: i32,
    future_flags_after: i32,
    pieces: &[Piece],
    defines_code: bool,
) {
    if (future_flags_after | (flags & PYCF_ALLOW_TOP_LEVEL_AWAIT)) != flags {
        return;
    }
    let mut cache = COMPILED.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() == CACHE_SIZE {
        cache.remove(0);
    }
    cache.push(Compiled {
        source: source.python.to_owned(),
        flags,
        column: source.column,
        pieces: clone_pieces(py, pieces),
        defines_code,
    });
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

/// Whether a code object holds others (a def, class, lambda or comprehension).
fn holds_code(code: &Bound<'_, PyAny>) -> PyResult<bool> {
    let code_type = py_attr!(code.py(), "types", "CodeType")?;
    for constant in code.getattr("co_consts")?.try_iter()? {
        if constant?.is_instance(code_type)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `code` under another file name, with the code objects it holds (if `holds_code`)
/// renamed too: their functions' tracebacks and `inspect` must find the new cell's source.
fn renamed<'py>(code: &Bound<'py, PyAny>, filename: &str, holds_code: bool) -> PyResult<Bound<'py, PyAny>> {
    let py = code.py();
    let kwargs = PyDict::new(py);
    kwargs.set_item(pyo3::intern!(py, "co_filename"), filename)?;
    if holds_code {
        let code_type = py_attr!(py, "types", "CodeType")?;
        let consts = code.getattr("co_consts")?.cast_into::<PyTuple>()?;
        let renamed_consts = consts
            .iter()
            .map(|c| {
                if c.is_instance(code_type)? {
                    renamed(&c, filename, true)
                } else {
                    Ok(c)
                }
            })
            .collect::<PyResult<Vec<_>>>()?;
        kwargs.set_item("co_consts", PyTuple::new(py, renamed_consts)?)?;
    }
    code.call_method(pyo3::intern!(py, "replace"), (), Some(&kwargs))
}

impl Cell {
    /// Whether the cell is a single expression (its value is all it does).
    pub fn is_expression(&self) -> bool {
        matches!(self.pieces.as_slice(), [Piece { displays: true, .. }])
    }
}

/// Compiles a cell; with `transformed`, its syntax tree goes through the `ast` hooks first.
fn compile_fresh(
    py: Python<'_>,
    source: &Source<'_>,
    flags: i32,
    future_flags: &mut i32,
    transformed: bool,
) -> PyResult<Cell> {
    let compile = py_attr!(py, "builtins", "compile")?;
    let filename = source.filename;
    let text = source.python;
    // Most cells typed at a prompt are one expression: then a single compile does, and
    // no syntax tree has to be built (that path costs twice as much).
    if source.column == 0 && !transformed {
        if let Ok(code) = compile.call1((text, filename, "eval", flags, true)) {
            return Ok(Cell {
                pieces: vec![Piece {
                    code: code.unbind(),
                    displays: true,
                }],
            });
        }
    }
    let mut tree = compile.call1((text, filename, "exec", flags | PYCF_ONLY_AST, true))?;
    if source.column > 0 {
        shift_first_line(py, &tree, source.column)?;
    }
    if transformed {
        tree = crate::hooks::transform(py, "ast", tree)?;
        py_attr!(py, "ast", "fix_missing_locations")?.call1((&tree,))?;
    }
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
        let code = compile.call1((&tree, filename, "exec", flags, true))?;
        *future_flags |= code_flags(&code)? & FUTURE_FLAGS_MASK;
        pieces.push(Piece {
            code: code.unbind(),
            displays: false,
        });
    }
    if let Some(value) = last_expr {
        let expression = py_attr!(py, "ast", "Expression")?.call1((value,))?;
        let code = compile.call1((expression, filename, "eval", flags, true))?;
        pieces.push(Piece {
            code: code.unbind(),
            displays: true,
        });
    }
    Ok(Cell { pieces })
}

/// Moves the nodes on the code's first line `column` characters to the right.
fn shift_first_line(py: Python<'_>, tree: &Bound<'_, PyAny>, column: usize) -> PyResult<()> {
    let body = tree.getattr("body")?;
    let Ok(first) = body.get_item(0) else { return Ok(()) };
    let first_line: usize = first.getattr("lineno")?.extract()?;
    for node in py_attr!(py, "ast", "walk")?.call1((tree,))?.try_iter()? {
        let node = node?;
        let Ok(line) = node.getattr("lineno").and_then(|l| l.extract::<usize>()) else {
            continue;
        };
        if line == first_line {
            let col: usize = node.getattr("col_offset")?.extract()?;
            node.setattr("col_offset", col + column)?;
        }
        let end_line: Option<usize> = node.getattr("end_lineno")?.extract()?;
        if end_line == Some(first_line) {
            let end: usize = node.getattr("end_col_offset")?.extract()?;
            node.setattr("end_col_offset", end + column)?;
        }
    }
    Ok(())
}

fn code_flags(code: &Bound<'_, PyAny>) -> PyResult<i32> {
    code.getattr("co_flags")?.extract()
}

/// Sources of cells compiled before linecache was imported, for it once it is.
static SOURCES_FOR_LINECACHE: Mutex<Vec<(String, Py<PyTuple>)>> = Mutex::new(Vec::new());

/// How many sources of cells that define nothing (no function, class, lambda or
/// comprehension) linecache keeps: only their own tracebacks show them, so a program
/// polled with `hotrepl exec` for months does not collect every cell it ever ran.
const SHORT_LIVED_SOURCES: usize = 1000;

/// Names of such cells in linecache, oldest first.
static SHORT_LIVED: Mutex<std::collections::VecDeque<String>> = Mutex::new(std::collections::VecDeque::new());

/// Sources of cells that define nothing, not yet in linecache, oldest first (at most
/// `SHORT_LIVED_SOURCES`). Such a cell's source is only ever shown in its own traceback or
/// by a debugger stopped in it; registering it costs as much as running `1+1` again, and a
/// program polled with `hotrepl exec` runs the same few cells over and over. So it waits
/// here until a traceback is rendered, a debugger asks for input, or a cell has to be
/// compiled afresh (which costs far more anyway).
static DEFERRED: Mutex<std::collections::VecDeque<(String, String)>> = Mutex::new(std::collections::VecDeque::new());

/// Registers the source with linecache so tracebacks and `inspect` can show its lines (a
/// cell that defines nothing: later, see `DEFERRED`).
fn remember_source(py: Python<'_>, filename: &str, source: &str, defines_code: bool) -> PyResult<()> {
    if defines_code {
        return register_source(py, filename, source, true);
    }
    let mut deferred = DEFERRED.lock().unwrap_or_else(|e| e.into_inner());
    if deferred.len() == SHORT_LIVED_SOURCES {
        deferred.pop_front();
    }
    deferred.push_back((filename.to_owned(), source.to_owned()));
    Ok(())
}

/// Puts the sources that wait in `DEFERRED` into linecache: before anything may look there
/// for them.
pub fn register_deferred_sources(py: Python<'_>) -> PyResult<()> {
    let deferred = std::mem::take(&mut *DEFERRED.lock().unwrap_or_else(|e| e.into_inner()));
    for (filename, source) in deferred {
        register_source(py, &filename, &source, false)?;
    }
    Ok(())
}

/// Registers a source with linecache now; `keep` says for good (else among the last
/// `SHORT_LIVED_SOURCES` only). Before anything has imported linecache (which costs as
/// much as starting a small interpreter) the source waits, and goes in as linecache is
/// imported.
fn register_source(py: Python<'_>, filename: &str, source: &str, keep: bool) -> PyResult<()> {
    // linecache expects newline-terminated lines.
    let terminated;
    let text = if source.ends_with('\n') || source.is_empty() {
        source
    } else {
        terminated = format!("{source}\n");
        &terminated
    };
    let lines = PyList::new(py, text.split_inclusive('\n'))?;
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
        cache.set_item(filename, entry)?;
        if !keep {
            forget_old_short_lived(cache, filename)?;
        }
        return Ok(());
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

fn forget_old_short_lived(cache: &Bound<'_, PyAny>, filename: &str) -> PyResult<()> {
    let expired = {
        let mut names = SHORT_LIVED.lock().unwrap_or_else(|e| e.into_inner());
        names.push_back(filename.to_owned());
        if names.len() > SHORT_LIVED_SOURCES {
            names.pop_front()
        } else {
            None
        }
    };
    if let Some(old) = expired {
        // Gone already if something cleared linecache meanwhile.
        let _ = cache.del_item(old);
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
    /// Any mapping (a function's frame locals, for a magic used in a function).
    locals: Option<Py<PyAny>>,
    awaiting_display: bool,
}

impl CellRun {
    pub fn new(cell: Cell, globals: Py<PyDict>, locals: Option<Py<PyAny>>) -> CellRun {
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
    locals: Option<&Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let globals = globals.bind(py);
    let locals = locals.map_or_else(|| globals.as_any().clone(), |l| l.bind(py).clone());
    crate::unwind::eval_code(py, code.bind(py), globals, &locals)
}
