//! The display stage of the cell pipeline: a value becomes a MIME bundle (`text/plain`
//! always; html, png, ... where the object or a formatter offers them), and `display()`
//! calls become `display_data`, `update_display_data` and `clear_output` messages of the
//! session whose code made them.
//!
//! Building the bundle is work on Python objects (`_repr_*_` methods, formatters, the
//! pretty printer), done by `hotrepl._display`, imported the first time a value needs more
//! than its `repr`: numbers and short strings with no formatter registered take the fast
//! path, which is what most cells' values are.

use std::sync::atomic::Ordering;

use hotrepl_proto::{ClearOutput, Content, DisplayData, MimeBundle, UpdateDisplayData};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyComplex, PyDict, PyFloat, PyInt, PyString};
use serde_json::{Map, Value};

use crate::hooks;
use crate::output;
use crate::pycache::py_attr;
use crate::session::Session;

/// How values are shown to a session: the width of its client's screen, how many items of
/// a container and how many characters of a string are shown (0: all).
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub width: usize,
    pub max_items: usize,
    pub max_string: usize,
}

/// The MIME bundle (and its metadata) for a cell's value.
pub fn value_bundle(
    py: Python<'_>,
    session: &Session,
    value: &Bound<'_, PyAny>,
) -> PyResult<(MimeBundle, Map<String, Value>)> {
    let layout = session.layout();
    if !hooks::any() && fits_as_repr(value, layout.width) {
        let mut data = Map::new();
        data.insert("text/plain".into(), Value::String(value.repr()?.to_string()));
        return Ok((data, Map::new()));
    }
    let built = py_attr!(py, "hotrepl._display", "mime_bundle")?.call1((
        value,
        layout.width,
        layout.max_items,
        layout.max_string,
    ))?;
    Ok((json_map(py, &built.get_item(0)?)?, json_map(py, &built.get_item(1)?)?))
}

/// Numbers, and strings whose repr fits on the line: their repr is all there is to show.
fn fits_as_repr(value: &Bound<'_, PyAny>, width: usize) -> bool {
    value.is_exact_instance_of::<PyInt>()
        || value.is_exact_instance_of::<PyFloat>()
        || value.is_exact_instance_of::<PyBool>()
        || value.is_exact_instance_of::<PyComplex>()
        || (value.is_exact_instance_of::<PyString>() && value.len().is_ok_and(|n| n + 2 < width))
}

/// A dict from Python (a MIME bundle, its metadata), as a JSON map.
fn json_map(py: Python<'_>, dict: &Bound<'_, PyAny>) -> PyResult<Map<String, Value>> {
    let text: String = py_attr!(py, "json", "dumps")?.call1((dict,))?.extract()?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(pyo3::exceptions::PyTypeError::new_err(
            "a MIME bundle and its metadata must be dicts",
        )),
    }
}

/// Sends `display_data` (or, with `update`, `update_display_data`) to the session whose
/// code calls it. `data`, `metadata` and `transient` are dicts; returns False when no
/// session is calling (the program's own code: nothing is sent).
#[pyfunction]
#[pyo3(signature = (data, metadata, transient, update=false))]
pub fn publish_display(
    py: Python<'_>,
    data: Bound<'_, PyDict>,
    metadata: Bound<'_, PyDict>,
    transient: Bound<'_, PyDict>,
    update: bool,
) -> PyResult<bool> {
    let Some((io, cell)) = output::current_output(py) else {
        return Ok(false);
    };
    let (data, metadata, transient) = (
        json_map(py, &data)?,
        json_map(py, &metadata)?,
        json_map(py, &transient)?,
    );
    let content: Content = if update {
        UpdateDisplayData {
            data,
            metadata,
            transient,
        }
        .into()
    } else {
        DisplayData {
            data,
            metadata,
            transient,
        }
        .into()
    };
    io.publish(cell.as_ref(), content);
    Ok(true)
}

/// Sends `clear_output` to the calling session (False when no session is calling).
#[pyfunction]
#[pyo3(signature = (wait=false))]
pub fn publish_clear_output(py: Python<'_>, wait: bool) -> bool {
    match output::current_output(py) {
        Some((io, cell)) => {
            io.publish(cell.as_ref(), ClearOutput { wait }.into());
            true
        }
        None => false,
    }
}

/// `(width, max_items, max_string)` for values shown to the calling session (defaults
/// without one).
#[pyfunction]
pub fn display_layout(py: Python<'_>) -> (usize, usize, usize) {
    let layout = output::current_session(py).map_or(Layout::DEFAULT, |s| s.layout());
    (layout.width, layout.max_items, layout.max_string)
}

impl Layout {
    pub const DEFAULT: Layout = Layout {
        width: 80,
        max_items: 1000,
        max_string: 10_000,
    };
}

impl Session {
    pub fn layout(&self) -> Layout {
        let chosen = self.pretty_width.load(Ordering::Relaxed);
        Layout {
            width: if chosen > 0 {
                chosen
            } else {
                self.display_width.load(Ordering::Relaxed)
            },
            max_items: self.display_max_items.load(Ordering::Relaxed),
            max_string: self.display_max_string.load(Ordering::Relaxed),
        }
    }
}

/// Whether the calling code is a session's (a cell, or what it started).
#[pyfunction]
pub fn in_session(py: Python<'_>) -> bool {
    output::current_session(py).is_some()
}

/// Libraries that display things, made to display in sessions when they are imported:
/// IPython's `display()` and matplotlib's backend. Once per process.
pub fn adopt_display_libraries(py: Python<'_>) -> PyResult<()> {
    static ADOPTED: std::sync::Once = std::sync::Once::new();
    let mut result = Ok(());
    ADOPTED.call_once(|| {
        result = (|| {
            when_imported(py, "IPython.core.display_functions", "hotrepl._ipython", "adopt")?;
            when_imported(py, "matplotlib", "hotrepl._display", "choose_matplotlib_backend")
        })();
    });
    result
}

/// Calls `adapter.function(module)` once `module` is imported (now, if it is already).
fn when_imported(py: Python<'_>, module: &'static str, adapter: &'static str, function: &'static str) -> PyResult<()> {
    let adapt = move |py: Python<'_>, loaded: &Bound<'_, PyAny>| -> PyResult<()> {
        py.import(adapter)?.call_method1(function, (loaded,))?;
        Ok(())
    };
    match crate::arrival::loaded(py, module) {
        Some(loaded) => adapt(py, &loaded),
        None => crate::arrival::watch(
            py,
            module,
            std::sync::Arc::new(move |py, loaded| {
                if let Err(e) = adapt(py, loaded) {
                    e.print(py);
                }
            }),
        )
        .map(drop),
    }
}

pub fn add_to_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(pyo3::wrap_pyfunction!(in_session, m)?)?;
    m.add_function(pyo3::wrap_pyfunction!(publish_display, m)?)?;
    m.add_function(pyo3::wrap_pyfunction!(publish_clear_output, m)?)?;
    m.add_function(pyo3::wrap_pyfunction!(display_layout, m)?)?;
    Ok(())
}
