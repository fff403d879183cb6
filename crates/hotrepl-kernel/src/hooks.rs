//! One hook system for everything customisable, as a chain of responsibility: each hook
//! point holds callables in priority order (highest first; among equals, the latest
//! registered first). A callable raises `hotrepl.TryNext` to leave the decision to the next;
//! an exception inside one is reported (with the hook's name and its traceback, the first
//! time it fails) and the next one is tried, so a broken hook never breaks the session.
//!
//! The points: `input` (a cell's source before compiling: each transformer in turn), `ast`
//! (its syntax tree, each transformer in turn: macro expanders), `display` (a value's MIME
//! bundle: formatters are display hooks for one type and one MIME type), `exception` (how
//! an error is shown), `completion` (more completions), `pre_cell` and `post_cell` (around
//! each cell: all of them run), and `shutdown` (when a session ends).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};

use crate::pycache::py_attr;

pyo3::create_exception!(
    hotrepl,
    TryNext,
    PyException,
    "Raised by a hook to pass the decision on to the next one of its point."
);

pub const POINTS: &[&str] = &[
    "input",
    "ast",
    "display",
    "exception",
    "completion",
    "pre_cell",
    "post_cell",
    "shutdown",
];

pub struct Hook {
    pub point: &'static str,
    pub name: String,
    pub priority: i64,
    /// Registration order, newest highest: among equal priorities the newest comes first.
    order: u64,
    pub function: Py<PyAny>,
    /// Display hooks for one type (and its subclasses) only: formatters.
    pub for_type: Option<Py<PyType>>,
    /// The MIME type a display hook makes (text/plain unless said).
    pub mime: String,
    reported: AtomicBool,
}

static HOOKS: Mutex<Vec<Arc<Hook>>> = Mutex::new(Vec::new());
static ORDER: AtomicU64 = AtomicU64::new(0);
/// Whether any hook is registered at all: the hot path asks this, without a lock.
static ANY: AtomicBool = AtomicBool::new(false);

/// Whether any hook is registered (if not, a stage need not ask).
pub fn any() -> bool {
    ANY.load(Ordering::Acquire)
}

/// The hooks of `point`, in the order they are asked.
pub fn at(point: &str) -> Vec<Arc<Hook>> {
    if !any() {
        return Vec::new();
    }
    HOOKS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|h| h.point == point)
        .cloned()
        .collect()
}

/// What asking a hook came to.
pub enum Answer<'py> {
    Value(Bound<'py, PyAny>),
    /// It raised TryNext, or failed (and was reported).
    Passed,
}

impl Hook {
    /// Calls the hook; TryNext and failures become `Passed` (a failure is reported once).
    pub fn ask<'py>(&self, py: Python<'py>, args: &Bound<'py, PyTuple>) -> Answer<'py> {
        match self.function.bind(py).call1(args) {
            Ok(value) => Answer::Value(value),
            Err(e) if e.is_instance_of::<TryNext>(py) => Answer::Passed,
            Err(e) => {
                self.report(py, &e);
                Answer::Passed
            }
        }
    }

    /// Tells the session (its stderr) that the hook failed, the first time it does.
    fn report(&self, py: Python<'_>, error: &PyErr) {
        if self.reported.swap(true, Ordering::SeqCst) {
            return;
        }
        let text = crate::traceback::error_content(py, error).text();
        let message = format!(
            "hotrepl: the {} hook {} failed; it is skipped this time (later failures of it are not reported):\n{text}",
            self.point, self.name
        );
        if let Ok(stderr) = py_attr!(py, "sys", "stderr") {
            let _ = stderr.call_method1("write", (message,));
        }
    }

    /// Whether this display hook is for `ty` (a formatter for one of its bases counts).
    fn serves(&self, py: Python<'_>, ty: &Bound<'_, PyType>) -> bool {
        match &self.for_type {
            None => true,
            Some(wanted) => ty.is_subclass(wanted.bind(py)).unwrap_or(false),
        }
    }

    /// How far up `ty`'s MRO this hook's type is (0: the type itself); unfiltered hooks
    /// come after every formatter.
    fn distance(&self, py: Python<'_>, mro: &[Bound<'_, PyAny>]) -> usize {
        match &self.for_type {
            None => usize::MAX,
            Some(wanted) => mro.iter().position(|t| t.is(wanted.bind(py))).unwrap_or(usize::MAX - 1),
        }
    }
}

/// The display hooks that apply to values of type `ty`, for `mime`: the formatters of the
/// nearest type in its MRO first (by priority among them), then the hooks for any type.
pub fn display_hooks(py: Python<'_>, ty: &Bound<'_, PyType>, mime: &str) -> Vec<Arc<Hook>> {
    let mut hooks: Vec<Arc<Hook>> = at("display")
        .into_iter()
        .filter(|h| h.mime == mime && h.serves(py, ty))
        .collect();
    if hooks.len() > 1 {
        let mro: Vec<Bound<'_, PyAny>> = ty
            .getattr("__mro__")
            .and_then(|m| m.try_iter()?.collect::<PyResult<Vec<_>>>())
            .unwrap_or_default();
        hooks.sort_by_key(|h| (h.distance(py, &mro), std::cmp::Reverse((h.priority, h.order))));
    }
    hooks
}

/// Calls every hook of `point` with `args` (errors are reported, TryNext ignored).
pub fn run_all<'py>(py: Python<'py>, point: &str, args: &Bound<'py, PyTuple>) {
    for hook in at(point) {
        hook.ask(py, args);
    }
}

/// Passes `value` through every transformer of `point` in turn (`input`: source text,
/// `ast`: a syntax tree); one that passes or fails leaves it as it was.
pub fn transform<'py>(py: Python<'py>, point: &str, value: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let mut value = value;
    for hook in at(point) {
        if let Answer::Value(changed) = hook.ask(py, &PyTuple::new(py, [&value])?) {
            value = changed;
        }
    }
    Ok(value)
}

/// A cell's source after the `input` transformers (the same text if there are none).
pub fn transform_input<'a>(py: Python<'_>, source: &'a str) -> std::borrow::Cow<'a, str> {
    if at("input").is_empty() {
        return std::borrow::Cow::Borrowed(source);
    }
    let changed =
        transform(py, "input", pyo3::types::PyString::new(py, source).into_any()).and_then(|v| v.extract::<String>());
    match changed {
        Ok(text) if text != source => std::borrow::Cow::Owned(text),
        _ => std::borrow::Cow::Borrowed(source),
    }
}

/// The first answer of the `point` chain for `args`, if any hook answers.
pub fn first<'py>(py: Python<'py>, point: &str, args: &Bound<'py, PyTuple>) -> Option<Bound<'py, PyAny>> {
    at(point).into_iter().find_map(|hook| match hook.ask(py, args) {
        Answer::Value(v) => Some(v),
        Answer::Passed => None,
    })
}

/// Registers `function` at hook point `point` (see the module's list). `priority`: higher
/// is asked first. For `display`: `for_type` makes it a formatter of that type (and its
/// subclasses), `mime` the MIME type it makes. Returns the function, so it can decorate.
#[pyfunction]
#[pyo3(signature = (point, function, *, priority=0, name=None, for_type=None, mime="text/plain"))]
pub fn register_hook<'py>(
    point: &str,
    function: Bound<'py, PyAny>,
    priority: i64,
    name: Option<String>,
    for_type: Option<Bound<'py, PyType>>,
    mime: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let Some(point) = POINTS.iter().copied().find(|p| *p == point) else {
        return Err(PyValueError::new_err(format!(
            "no hook point {point:?}: the points are {}",
            POINTS.join(", ")
        )));
    };
    if !function.is_callable() {
        return Err(PyValueError::new_err("a hook must be callable"));
    }
    if point != "display" && for_type.is_some() {
        return Err(PyValueError::new_err(
            "for_type= is for display hooks (formatters) only",
        ));
    }
    let name = match name {
        Some(n) => n,
        None => function
            .getattr("__qualname__")
            .or_else(|_| function.getattr("__name__"))
            .and_then(|n| n.extract::<String>())
            .unwrap_or_else(|_| function.to_string()),
    };
    let hook = Arc::new(Hook {
        point,
        name,
        priority,
        order: ORDER.fetch_add(1, Ordering::Relaxed),
        function: function.clone().unbind(),
        for_type: for_type.map(Bound::unbind),
        mime: mime.to_owned(),
        reported: AtomicBool::new(false),
    });
    let mut hooks = HOOKS.lock().unwrap_or_else(|e| e.into_inner());
    hooks.push(hook);
    hooks.sort_by_key(|h| std::cmp::Reverse((h.priority, h.order)));
    ANY.store(true, Ordering::Release);
    Ok(function)
}

/// Removes every registration of `function` (at `point`, if given); returns how many.
#[pyfunction]
#[pyo3(signature = (function, point=None))]
pub fn unregister_hook(py: Python<'_>, function: &Bound<'_, PyAny>, point: Option<&str>) -> usize {
    let mut hooks = HOOKS.lock().unwrap_or_else(|e| e.into_inner());
    let before = hooks.len();
    hooks.retain(|h| !(h.function.bind(py).is(function) && point.is_none_or(|p| p == h.point)));
    ANY.store(!hooks.is_empty(), Ordering::Release);
    before - hooks.len()
}

/// Every hook as `(point, name, priority, for_type name or None, mime)`, in the order asked.
#[pyfunction]
pub fn list_hooks(py: Python<'_>) -> Vec<(&'static str, String, i64, Option<String>, String)> {
    HOOKS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|h| {
            let for_type = h
                .for_type
                .as_ref()
                .and_then(|t| t.bind(py).getattr("__qualname__").ok()?.extract().ok());
            (h.point, h.name.clone(), h.priority, for_type, h.mime.clone())
        })
        .collect()
}

/// Asks the display hooks that apply to `value` for `mime`, in order: the first answer, or
/// None if every one passed.
#[pyfunction]
pub fn ask_display_hooks(py: Python<'_>, value: &Bound<'_, PyAny>, mime: &str) -> PyResult<Option<Py<PyAny>>> {
    let args = PyTuple::new(py, [value])?;
    for hook in display_hooks(py, &value.get_type(), mime) {
        if let Answer::Value(answer) = hook.ask(py, &args) {
            return Ok(Some(answer.unbind()));
        }
    }
    Ok(None)
}

/// The MIME types display hooks exist for, for values of `value`'s type.
#[pyfunction]
pub fn display_hook_mimes(py: Python<'_>, value: &Bound<'_, PyAny>) -> Vec<String> {
    let ty = value.get_type();
    let mut mimes: Vec<String> = at("display")
        .iter()
        .filter(|h| h.serves(py, &ty))
        .map(|h| h.mime.clone())
        .collect();
    mimes.dedup();
    mimes
}

pub fn add_to_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("TryNext", m.py().get_type::<TryNext>())?;
    m.add_function(pyo3::wrap_pyfunction!(register_hook, m)?)?;
    m.add_function(pyo3::wrap_pyfunction!(unregister_hook, m)?)?;
    m.add_function(pyo3::wrap_pyfunction!(list_hooks, m)?)?;
    m.add_function(pyo3::wrap_pyfunction!(ask_display_hooks, m)?)?;
    m.add_function(pyo3::wrap_pyfunction!(display_hook_mimes, m)?)?;
    Ok(())
}
