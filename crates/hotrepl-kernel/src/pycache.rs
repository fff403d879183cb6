//! Python objects looked up once per process (`module.attr`), for the paths that run on
//! every cell or every write: importing a module again, even from `sys.modules`, costs
//! microseconds each time.

/// `py_attr!(py, "module", "attr")`: a `PyResult<&Bound<PyAny>>`, looked up on first use.
macro_rules! py_attr {
    ($py:expr, $module:literal, $attr:literal) => {{
        static CELL: ::pyo3::sync::PyOnceLock<::pyo3::Py<::pyo3::PyAny>> = ::pyo3::sync::PyOnceLock::new();
        let py: ::pyo3::Python<'_> = $py;
        CELL.get_or_try_init(py, || -> ::pyo3::PyResult<_> {
            Ok(py.import($module)?.getattr($attr)?.unbind())
        })
        .map(|obj| obj.bind(py))
    }};
}

pub(crate) use py_attr;
