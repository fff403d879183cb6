//! Magics: `%name args` and `%%name args` + body. One registry per process (every session
//! sees the same magics), filled by hotrepl's own magics — the Python package
//! `hotrepl._magics`, imported the first time any magic is needed, never at start-up — and by
//! the user's (`@hotrepl.magic`, `@hotrepl.cell_magic`). The input transformation turns magic
//! syntax into calls of [`run_line_magic`] and [`run_cell_magic`], which find the session
//! and the namespace of the calling cell, check the arguments' most common mistakes, and
//! call the magic.

pub mod context;

use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::output;
use crate::pycache::py_attr;
pub use crate::transform::MagicKind;
use context::MagicContext;

pyo3::create_exception!(
    hotrepl,
    UsageError,
    PyException,
    "A magic was used wrongly (unknown name, bad arguments): shown as its message alone, without a traceback."
);

/// What Tab completes in a magic's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completes {
    Nothing,
    /// The arguments are Python code (`%time`, `%timeit`).
    Python,
    Directories,
    Files,
    /// Names of imported modules.
    Modules,
}

impl Completes {
    fn parse(text: Option<&str>) -> PyResult<Completes> {
        Ok(match text {
            None => Completes::Nothing,
            Some("python") => Completes::Python,
            Some("dirs") => Completes::Directories,
            Some("files") => Completes::Files,
            Some("modules") => Completes::Modules,
            Some(other) => {
                return Err(PyValueError::new_err(format!(
                    "complete={other:?}: use 'python', 'dirs', 'files' or 'modules'"
                )))
            }
        })
    }
}

pub struct Magic {
    pub name: String,
    pub kind: MagicKind,
    function: Py<PyAny>,
    /// hotrepl's own magics get a [`MagicContext`] first.
    with_context: bool,
    /// `awaits(args) -> bool`: whether this call runs awaiting code (and must be awaited).
    awaits: Option<Py<PyAny>>,
    pub completes: Completes,
    /// A cell magic whose body is Python: its cell is complete when the body is.
    pub python_body: bool,
}

impl Magic {
    /// The usage text: the function's docstring.
    pub fn help(&self, py: Python<'_>) -> String {
        let doc = py_attr!(py, "inspect", "getdoc")
            .and_then(|getdoc| getdoc.call1((self.function.bind(py),)))
            .ok()
            .filter(|d| !d.is_none())
            .and_then(|d| d.extract::<String>().ok());
        doc.unwrap_or_else(|| {
            format!(
                "{}{}: no help (its function has no docstring).",
                self.sigil(),
                self.name
            )
        })
    }

    pub fn sigil(&self) -> &'static str {
        match self.kind {
            MagicKind::Line => "%",
            MagicKind::Cell => "%%",
        }
    }

    /// The first line of the help, for listings.
    pub fn summary(&self, py: Python<'_>) -> String {
        self.help(py).lines().next().unwrap_or("").to_owned()
    }
}

static REGISTRY: Mutex<Vec<Arc<Magic>>> = Mutex::new(Vec::new());
static BUILTINS: PyOnceLock<()> = PyOnceLock::new();

/// Imports hotrepl's own magics, once, the first time any magic is wanted.
fn ensure_builtins(py: Python<'_>) -> PyResult<()> {
    BUILTINS
        .get_or_try_init(py, || py.import("hotrepl._magics").map(drop))
        .map(drop)
}

/// The magic `name` of this kind, if there is one.
pub fn find(py: Python<'_>, kind: MagicKind, name: &str) -> PyResult<Option<Arc<Magic>>> {
    ensure_builtins(py)?;
    Ok(REGISTRY
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|m| m.kind == kind && m.name == name)
        .cloned())
}

/// Every magic, sorted by kind and name.
pub fn all(py: Python<'_>) -> PyResult<Vec<Arc<Magic>>> {
    ensure_builtins(py)?;
    let mut magics = REGISTRY.lock().unwrap_or_else(|e| e.into_inner()).clone();
    magics.sort_by(|a, b| (a.kind == MagicKind::Cell, &a.name).cmp(&(b.kind == MagicKind::Cell, &b.name)));
    Ok(magics)
}

/// Whether this call of a magic must be awaited (see [`crate::transform::Awaits`]). A magic
/// that cannot say (unknown, or its `awaits` failed) is called plainly and explains itself.
pub fn call_awaits(py: Python<'_>, kind: MagicKind, name: &str, args: &str, body: Option<&str>) -> bool {
    let Ok(Some(magic)) = find(py, kind, name) else {
        return false;
    };
    let Some(awaits) = &magic.awaits else {
        return false;
    };
    let answer = match body {
        Some(body) => awaits.bind(py).call1((args, body)),
        None => awaits.bind(py).call1((args,)),
    };
    answer.and_then(|a| a.is_truthy()).unwrap_or(false)
}

/// Registers a magic for every session of this process (replacing one of the same name and
/// kind). `kind` is "line" or "cell"; `context=True` (hotrepl's own magics) passes a
/// `MagicContext` first; `awaits(args)` (`awaits(args, body)` for a cell magic) says when a
/// call runs awaiting code; `complete`
/// names what Tab completes in the arguments; `python_body` marks a cell magic whose body
/// is Python.
#[pyfunction]
#[pyo3(signature = (name, function, kind="line", *, context=false, awaits=None, complete=None, python_body=false))]
#[allow(clippy::too_many_arguments)]
pub fn register_magic(
    name: &str,
    function: Bound<'_, PyAny>,
    kind: &str,
    context: bool,
    awaits: Option<Bound<'_, PyAny>>,
    complete: Option<&str>,
    python_body: bool,
) -> PyResult<()> {
    let kind = match kind {
        "line" => MagicKind::Line,
        "cell" => MagicKind::Cell,
        other => return Err(PyValueError::new_err(format!("kind={other:?}: use 'line' or 'cell'"))),
    };
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Err(PyValueError::new_err(format!(
            "{name:?} cannot be a magic's name: use letters, digits and _"
        )));
    }
    if !function.is_callable() {
        return Err(PyValueError::new_err("a magic must be callable"));
    }
    let magic = Arc::new(Magic {
        name: name.to_owned(),
        kind,
        function: function.unbind(),
        with_context: context,
        awaits: awaits.map(Bound::unbind),
        completes: Completes::parse(complete)?,
        python_body,
    });
    let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    registry.retain(|m| !(m.kind == kind && m.name == name));
    registry.push(magic);
    Ok(())
}

/// Every magic as `(kind, name, summary)`, for `%lsmagic` and `%magic`.
#[pyfunction]
pub fn list_magics(py: Python<'_>) -> PyResult<Vec<(&'static str, String, String)>> {
    Ok(all(py)?
        .iter()
        .map(|m| {
            let kind = match m.kind {
                MagicKind::Line => "line",
                MagicKind::Cell => "cell",
            };
            (kind, m.name.clone(), m.summary(py))
        })
        .collect())
}

/// The help of a magic, for `%name -h` and `%name?`.
#[pyfunction]
pub fn magic_help(py: Python<'_>, name: &str) -> PyResult<String> {
    let (kind, bare) = match name.strip_prefix("%%") {
        Some(bare) => (MagicKind::Cell, bare),
        None => (MagicKind::Line, name.trim_start_matches('%')),
    };
    Ok(lookup(py, kind, bare)?.help(py))
}

/// `%name args` (what the input transformation makes of it).
#[pyfunction]
#[pyo3(signature = (name, args, awaited=false))]
pub fn run_line_magic(py: Python<'_>, name: &str, args: &str, awaited: bool) -> PyResult<Py<PyAny>> {
    if let Some(cell_name) = name.strip_prefix('%') {
        return Err(UsageError::new_err(format!(
            "%%{cell_name} is a cell magic: it must be the first line of its cell"
        )));
    }
    let magic = lookup(py, MagicKind::Line, name)?;
    run(py, &magic, args, None, awaited)
}

/// `%%name args` and its body (what the input transformation makes of it).
#[pyfunction]
#[pyo3(signature = (name, args, body, awaited=false))]
pub fn run_cell_magic(py: Python<'_>, name: &str, args: &str, body: &str, awaited: bool) -> PyResult<Py<PyAny>> {
    let magic = lookup(py, MagicKind::Cell, name)?;
    run(py, &magic, args, Some(body), awaited)
}

/// The magic, or a UsageError that helps: a near miss, or the other kind of the same name.
fn lookup(py: Python<'_>, kind: MagicKind, name: &str) -> PyResult<Arc<Magic>> {
    if let Some(magic) = find(py, kind, name)? {
        return Ok(magic);
    }
    let (sigil, other_sigil, other) = match kind {
        MagicKind::Line => ("%", "%%", MagicKind::Cell),
        MagicKind::Cell => ("%%", "%", MagicKind::Line),
    };
    if name.is_empty() {
        return Err(UsageError::new_err(format!(
            "{sigil} must be followed by a magic's name (%lsmagic lists them)"
        )));
    }
    if find(py, other, name)?.is_some() {
        return Err(UsageError::new_err(format!(
            "{sigil}{name} does not exist, but {other_sigil}{name} does"
        )));
    }
    let names: Vec<String> = all(py)?
        .iter()
        .filter(|m| m.kind == kind)
        .map(|m| m.name.clone())
        .collect();
    let message = match nearest(name, &names) {
        Some(near) => format!("no magic {sigil}{name}; did you mean {sigil}{near}?"),
        None => format!("no magic {sigil}{name} (%lsmagic lists them)"),
    };
    Err(UsageError::new_err(message))
}

fn run(py: Python<'_>, magic: &Magic, args: &str, body: Option<&str>, awaited: bool) -> PyResult<Py<PyAny>> {
    if matches!(args.trim(), "-h" | "--help") {
        let help = magic.help(py);
        py_attr!(py, "sys", "stdout")?.call_method1("write", (format!("{help}\n"),))?;
        return done(py, py.None(), awaited);
    }
    let function = magic.function.bind(py);
    let result = if magic.with_context {
        let session =
            output::current_session(py).ok_or_else(|| UsageError::new_err("magics run in hotrepl sessions only"))?;
        let context = Bound::new(py, MagicContext::of_caller(py, session)?)?;
        match body {
            Some(body) => function.call1((context, args, body))?,
            None => function.call1((context, args))?,
        }
    } else {
        match body {
            Some(body) => function.call1((args, body))?,
            None => function.call1((args,))?,
        }
    };
    if awaited && !is_awaitable(&result)? {
        return done(py, result.unbind(), true);
    }
    Ok(result.unbind())
}

fn is_awaitable(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    py_attr!(value.py(), "inspect", "isawaitable")?
        .call1((value,))?
        .is_truthy()
}

/// `value` as the call's result: awaited calls need something to await.
fn done(py: Python<'_>, value: Py<PyAny>, awaited: bool) -> PyResult<Py<PyAny>> {
    if !awaited {
        return Ok(value);
    }
    Ok(py_attr!(py, "asyncio", "sleep")?.call1((0, value))?.unbind())
}

/// The closest name to a misspelt one, if any is close (at most two edits, or a prefix).
fn nearest<'a>(wrong: &str, names: &'a [String]) -> Option<&'a str> {
    names
        .iter()
        // Optimal string alignment: a transposition is one edit (`tiem` → `time`).
        .map(|n| (strsim::osa_distance(wrong, n), n))
        .filter(|(d, n)| *d <= 2.max(wrong.len() / 4) || n.starts_with(wrong))
        .min_by_key(|(d, n)| (*d, n.len()))
        .map(|(_, n)| n.as_str())
}

/// Registers the module's functions and classes.
pub fn add_to_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("UsageError", py.get_type::<UsageError>())?;
    m.add_function(pyo3::wrap_pyfunction!(register_magic, m)?)?;
    m.add_function(pyo3::wrap_pyfunction!(list_magics, m)?)?;
    m.add_function(pyo3::wrap_pyfunction!(magic_help, m)?)?;
    m.add_function(pyo3::wrap_pyfunction!(run_line_magic, m)?)?;
    m.add_function(pyo3::wrap_pyfunction!(run_cell_magic, m)?)?;
    m.add_class::<MagicContext>()?;
    m.add_class::<context::CompiledCell>()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_suggested() {
        let names: Vec<String> = ["time", "timeit", "who", "whos", "reset"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(nearest("tiem", &names), Some("time"));
        assert_eq!(nearest("timit", &names), Some("timeit"));
        assert_eq!(nearest("wh", &names), Some("who"));
        assert_eq!(nearest("frobnicate", &names), None);
    }
}
