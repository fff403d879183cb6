//! Errors as the user should see them: Python's own formatting (chained exceptions,
//! ExceptionGroup trees, SyntaxError carets), minus the frames of the machinery that ran
//! the cell — asyncio's at the top of the traceback, hotrepl's wherever they are (a magic
//! running the user's code sits between the cell and that code). A misused magic says what
//! was wrong in one line.

mod markup;

use hotrepl_proto::ErrorContent;
use pyo3::prelude::*;
use pyo3::types::PyList;

/// An error whose traceback Python's layout: its parts are marked for front ends to colour.
fn formatted(ename: String, evalue: String, traceback: Vec<String>) -> ErrorContent {
    let markup = markup::mark(&traceback.concat());
    ErrorContent {
        ename,
        evalue,
        traceback,
        markup,
    }
}

/// Directories whose frames are never the user's code when they lead a traceback: those
/// of the machinery's modules imported so far (one not imported has no frames).
fn machinery_dirs(py: Python<'_>) -> Vec<String> {
    ["asyncio", "concurrent.futures", "hotrepl"]
        .iter()
        .filter_map(|m| package_dir(py, m))
        .collect()
}

/// The directory of an imported module's file, with a trailing separator.
fn package_dir(py: Python<'_>, module: &str) -> Option<String> {
    let file: String = crate::arrival::loaded(py, module)?
        .getattr("__file__")
        .ok()?
        .extract()
        .ok()?;
    let path = std::path::Path::new(&file).parent()?;
    Some(format!("{}{}", path.display(), std::path::MAIN_SEPARATOR))
}

fn filename_of(tb: &Bound<'_, PyAny>) -> PyResult<String> {
    tb.getattr("tb_frame")?
        .getattr("f_code")?
        .getattr("co_filename")?
        .extract()
}

/// Whether two traceback entries are the same line of the same cell's top level.
fn same_place(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<bool> {
    let place = |tb: &Bound<'_, PyAny>| -> PyResult<(String, usize, String)> {
        let code = tb.getattr("tb_frame")?.getattr("f_code")?;
        Ok((
            filename_of(tb)?,
            tb.getattr("tb_lineno")?.extract()?,
            code.getattr("co_name")?.extract()?,
        ))
    };
    let (a, b) = (place(a)?, place(b)?);
    Ok(a == b && a.2 == "<module>")
}

/// Drops the machinery's entries from the traceback: leading ones of any of it, hotrepl's
/// anywhere. The same goes for the exceptions it was raised from or during.
fn trim(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let dirs = machinery_dirs(py);
    let ours = package_dir(py, "hotrepl");
    let mut seen = Vec::new();
    trim_chain(value, &dirs, ours.as_deref(), &mut seen)
}

fn trim_chain(value: &Bound<'_, PyAny>, dirs: &[String], ours: Option<&str>, seen: &mut Vec<usize>) -> PyResult<()> {
    if value.is_none() || seen.contains(&(value.as_ptr() as usize)) {
        return Ok(());
    }
    seen.push(value.as_ptr() as usize);
    let mut kept = Vec::new();
    let mut leading = true;
    let mut tb = value.getattr("__traceback__")?;
    let mut changed = false;
    while !tb.is_none() {
        let filename = filename_of(&tb)?;
        let machinery = dirs.iter().any(|d| filename.starts_with(d.as_str()));
        let hotrepl = ours.is_some_and(|o| filename.starts_with(o));
        if (leading && machinery) || hotrepl {
            changed = true;
        } else {
            leading = false;
            kept.push(tb.clone());
        }
        tb = tb.getattr("tb_next")?;
    }
    // A magic that runs code of its own line (`%time 1/0`) would show that line twice.
    let shown: Vec<Bound<'_, PyAny>> = kept
        .iter()
        .enumerate()
        .filter(|(i, tb)| {
            !kept
                .get(i + 1)
                .is_some_and(|next| same_place(tb, next).unwrap_or(false))
        })
        .map(|(_, tb)| tb.clone())
        .collect();
    changed |= shown.len() != kept.len();
    let kept = shown;
    if changed {
        let none = value.py().None().into_bound(value.py());
        for (i, entry) in kept.iter().enumerate() {
            entry.setattr("tb_next", kept.get(i + 1).unwrap_or(&none))?;
        }
        value.setattr("__traceback__", kept.first().unwrap_or(&none))?;
    }
    for linked in ["__cause__", "__context__"] {
        trim_chain(&value.getattr(linked)?, dirs, ours, seen)?;
    }
    if let Ok(group) = value.getattr("exceptions") {
        if let Ok(items) = group.try_iter() {
            for item in items {
                trim_chain(&item?, dirs, ours, seen)?;
            }
        }
    }
    Ok(())
}

/// The `error` content for `err`, also recorded as `sys.last_exc` and friends so that
/// `pdb.pm()` works on it.
pub fn error_content(py: Python<'_>, err: &PyErr) -> ErrorContent {
    if err.is_instance_of::<crate::magics::UsageError>(py) {
        let message = err.value(py).str().map(|s| s.to_string()).unwrap_or_default();
        return one_line("UsageError", &message);
    }
    if crate::hooks::any() {
        if let Some(shown) = shown_by_hooks(py, err) {
            return shown;
        }
    }
    match render(py, err) {
        Ok(content) => content,
        // Formatting itself failed (a broken __str__, say): still say what was raised.
        Err(_) => formatted(
            err.get_type(py)
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "Exception".into()),
            String::new(),
            vec![format!("{}\n", err)],
        ),
    }
}

/// What an `exception` hook makes of the error, if one answers (with text).
fn shown_by_hooks(py: Python<'_>, err: &PyErr) -> Option<ErrorContent> {
    let args = pyo3::types::PyTuple::new(py, [err.value(py)]).ok()?;
    let text: String = crate::hooks::first(py, "exception", &args)?.str().ok()?.to_string();
    let text = if text.ends_with('\n') {
        text
    } else {
        format!("{text}\n")
    };
    // The hook's own text: its layout is not Python's, so nothing in it is marked.
    Some(ErrorContent {
        ename: err.get_type(py).name().map(|n| n.to_string()).unwrap_or_default(),
        evalue: err.value(py).str().map(|s| s.to_string()).unwrap_or_default(),
        traceback: vec![text],
        markup: Vec::new(),
    })
}

fn render(py: Python<'_>, err: &PyErr) -> PyResult<ErrorContent> {
    crate::cell::register_deferred_sources(py)?;
    let value = err.value(py);
    // Before 3.12 the traceback travels beside the exception until it is caught in Python.
    if let Some(tb) = err.traceback(py) {
        value.setattr("__traceback__", tb)?;
    }
    trim(py, value.as_any())?;
    let ty = value.get_type();
    let sys = py.import("sys")?;
    sys.setattr("last_type", &ty)?;
    sys.setattr("last_value", value)?;
    sys.setattr("last_traceback", value.getattr("__traceback__")?)?;
    if sys.hasattr("last_exc")? || py.version_info() >= (3, 12) {
        sys.setattr("last_exc", value)?;
    }
    let lines = py
        .import("traceback")?
        .getattr("format_exception")?
        .call1((&ty, value, value.getattr("__traceback__")?))?
        .cast_into::<PyList>()?;
    Ok(formatted(
        ty.name()?.to_string(),
        value.str().map(|s| s.to_string()).unwrap_or_default(),
        lines.extract()?,
    ))
}

/// What a cell that was interrupted while awaiting shows: no traceback, like Ctrl-C at the
/// standard prompt.
pub fn interrupted() -> ErrorContent {
    one_line("KeyboardInterrupt", "")
}

/// An error shown as `Name: value` alone (`Name` without a value).
pub fn one_line(ename: &str, evalue: &str) -> ErrorContent {
    let line = if evalue.is_empty() {
        format!("{ename}\n")
    } else {
        format!("{ename}: {evalue}\n")
    };
    formatted(ename.into(), evalue.into(), vec![line])
}
