//! Noticing the moment a module is first imported, whoever imports it. The local kernel
//! leaves out of its start what a first cell may not need — importing asyncio costs more
//! than starting the interpreter — and does that module's part once something imports it:
//! the event loop is made as asyncio arrives, in time for the rest of the cell that
//! imported it; cells' sources go into linecache as it arrives.
//!
//! A finder at the head of `sys.meta_path` gets the module's spec from the finders behind
//! it and wraps the loader. The wrapper puts the real loader back on the module before
//! running it, so the module imported is the ordinary one, loaded the ordinary way.

use std::sync::Arc;

use pyo3::prelude::*;

use crate::pycache::py_attr;

/// Called once the module has been executed, with the module, on the importing thread.
pub type Arrived = Arc<dyn Fn(Python<'_>, &Bound<'_, PyAny>) + Send + Sync>;

/// `module` if it is imported (or being imported) in this process, without importing it.
pub fn loaded<'py>(py: Python<'py>, module: &str) -> Option<Bound<'py, PyAny>> {
    py_attr!(py, "sys", "modules").ok()?.get_item(module).ok()
}

/// Whether `module` is imported (or being imported) in this process.
pub fn imported(py: Python<'_>, module: &str) -> bool {
    loaded(py, module).is_some()
}

#[pyclass(frozen)]
pub struct ArrivalFinder {
    module: &'static str,
    arrived: Arrived,
}

/// Puts a finder at the head of `sys.meta_path` that calls `arrived` when `module` is
/// imported. It watches one import: it leaves `sys.meta_path` as that import begins.
pub fn watch(py: Python<'_>, module: &'static str, arrived: Arrived) -> PyResult<Py<ArrivalFinder>> {
    let finder = Py::new(py, ArrivalFinder { module, arrived })?;
    py.import("sys")?
        .getattr("meta_path")?
        .call_method1("insert", (0, &finder))?;
    Ok(finder)
}

/// Takes the finder out of `sys.meta_path`, if it is still there.
pub fn unwatch(py: Python<'_>, finder: &Py<ArrivalFinder>) -> PyResult<()> {
    let meta_path = py.import("sys")?.getattr("meta_path")?;
    if meta_path.contains(finder)? {
        meta_path.call_method1("remove", (finder,))?;
    }
    Ok(())
}

#[pymethods]
impl ArrivalFinder {
    #[pyo3(signature = (fullname, path, target=None))]
    fn find_spec<'py>(
        slf: &Bound<'py, Self>,
        fullname: &str,
        path: &Bound<'py, PyAny>,
        target: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        if fullname != slf.get().module {
            return Ok(None);
        }
        let py = slf.py();
        let meta_path = py.import("sys")?.getattr("meta_path")?;
        // Once is enough: whatever becomes of this import, the watcher also looks in
        // sys.modules. (importlib stops walking meta_path at the spec returned below.)
        unwatch(py, &slf.clone().unbind())?;
        for finder in meta_path.try_iter()? {
            let finder = finder?;
            let Ok(find_spec) = finder.getattr("find_spec") else {
                continue;
            };
            let spec = find_spec.call1((fullname, path, target))?;
            if spec.is_none() {
                continue;
            }
            let loader = spec.getattr("loader")?;
            if !loader.is_none() {
                let wrapped = ArrivalLoader {
                    inner: loader.unbind(),
                    arrived: slf.get().arrived.clone(),
                };
                spec.setattr("loader", Py::new(py, wrapped)?)?;
            }
            return Ok(Some(spec));
        }
        Ok(None)
    }
}

#[pyclass(frozen)]
struct ArrivalLoader {
    inner: Py<PyAny>,
    arrived: Arrived,
}

#[pymethods]
impl ArrivalLoader {
    fn create_module<'py>(&self, spec: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = spec.py();
        match self.inner.bind(py).getattr("create_module") {
            Ok(create) => create.call1((spec,)),
            Err(_) => Ok(py.None().into_bound(py)),
        }
    }

    fn exec_module(&self, module: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = module.py();
        let inner = self.inner.bind(py);
        module.setattr("__loader__", inner)?;
        module.getattr("__spec__")?.setattr("loader", inner)?;
        inner.call_method1("exec_module", (module,))?;
        (self.arrived)(py, module);
        Ok(())
    }
}
