//! Errors as the user should see them: Python's own formatting (chained exceptions,
//! ExceptionGroup trees, SyntaxError carets), minus the frames of the machinery that ran
//! the cell — hotrepl's and asyncio's — at the top of the traceback.

use hotrepl_proto::ErrorContent;
use pyo3::prelude::*;
use pyo3::types::PyList;

/// Directories whose frames are never the user's code when they lead a traceback: those
/// of the machinery's modules imported so far (one not imported has no frames).
fn machinery_dirs(py: Python<'_>) -> Vec<String> {
    let dir_of = |module: &str| -> Option<String> {
        let file: String = crate::arrival::loaded(py, module)?
            .getattr("__file__")
            .ok()?
            .extract()
            .ok()?;
        let path = std::path::Path::new(&file).parent()?;
        Some(format!("{}{}", path.display(), std::path::MAIN_SEPARATOR))
    };
    ["asyncio", "concurrent.futures", "hotrepl"]
        .iter()
        .filter_map(|m| dir_of(m))
        .collect()
}

/// Drops leading traceback entries that belong to the machinery.
fn trim(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let dirs = machinery_dirs(py);
    let mut tb = value.getattr("__traceback__")?;
    let first = tb.clone();
    while !tb.is_none() {
        let filename: String = tb
            .getattr("tb_frame")?
            .getattr("f_code")?
            .getattr("co_filename")?
            .extract()?;
        if !dirs.iter().any(|d| filename.starts_with(d.as_str())) {
            break;
        }
        tb = tb.getattr("tb_next")?;
    }
    if !tb.is(&first) {
        value.setattr("__traceback__", tb)?;
    }
    Ok(())
}

/// The `error` content for `err`, also recorded as `sys.last_exc` and friends so that
/// `pdb.pm()` works on it.
pub fn error_content(py: Python<'_>, err: &PyErr) -> ErrorContent {
    match render(py, err) {
        Ok(content) => content,
        // Formatting itself failed (a broken __str__, say): still say what was raised.
        Err(_) => ErrorContent {
            ename: err
                .get_type(py)
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "Exception".into()),
            evalue: String::new(),
            traceback: vec![format!("{}\n", err)],
        },
    }
}

fn render(py: Python<'_>, err: &PyErr) -> PyResult<ErrorContent> {
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
    Ok(ErrorContent {
        ename: ty.name()?.to_string(),
        evalue: value.str().map(|s| s.to_string()).unwrap_or_default(),
        traceback: lines.extract()?,
    })
}

/// What a cell that was interrupted while awaiting shows: no traceback, like Ctrl-C at the
/// standard prompt.
pub fn interrupted() -> ErrorContent {
    ErrorContent {
        ename: "KeyboardInterrupt".into(),
        evalue: String::new(),
        traceback: vec!["KeyboardInterrupt\n".into()],
    }
}
