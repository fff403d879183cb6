//! Which event loop an awaiting cell runs on, in a host process: the loop given to
//! `start(loop=...)`; else the one that was running where `start()` was called; else the
//! loop running in the main thread when the cell arrives (`start()` is often called before
//! `asyncio.run()`); else none, and the session uses a private loop.
//!
//! The main thread's running loop is not visible from another thread, so it is found
//! through asyncio's registry of live tasks (a running loop has at least the task it was
//! started with); a scan of the garbage collector's objects is the fallback.

use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::{PyList, PyWeakrefReference};
use pyo3::PyTypeInfo;

use crate::arrival;
use crate::pycache::py_attr;

pub enum LoopSource {
    /// `start(loop=...)`, or the loop `embed_async()` was awaited in.
    Given(Py<PyAny>),
    /// No loop of the program's: `embed()` blocks the thread that would run one.
    Private,
    /// Found at cell time; `start()` ran inside this loop if it is Some.
    Discover {
        at_start: Option<Py<PyAny>>,
        cached: Mutex<Option<Py<PyWeakrefReference>>>,
    },
}

impl LoopSource {
    /// The loop running in the calling thread, if `asyncio` is in use at all.
    pub fn from_start(py: Python<'_>, given: Option<Bound<'_, PyAny>>) -> PyResult<LoopSource> {
        if let Some(given) = given {
            return Ok(LoopSource::Given(given.unbind()));
        }
        let running = running_loop_here(py)?;
        Ok(LoopSource::Discover {
            at_start: running.map(Bound::unbind),
            cached: Mutex::new(None),
        })
    }

    /// The loop to run an awaiting cell on now, or None (no loop runs: use a private one).
    pub fn current<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self {
            LoopSource::Given(l) => {
                let l = l.bind(py);
                if is_usable(l)? {
                    Ok(Some(l.clone()))
                } else {
                    Err(pyo3::exceptions::PyRuntimeError::new_err(
                        "the event loop given to hotrepl.start(loop=...) is not running",
                    ))
                }
            }
            LoopSource::Private => Ok(None),
            LoopSource::Discover { at_start, cached } => {
                if let Some(l) = at_start
                    .as_ref()
                    .map(|l| l.bind(py))
                    .filter(|l| is_usable(l).unwrap_or(false))
                {
                    return Ok(Some(l.clone()));
                }
                let mut cached = cached.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(l) = cached.as_ref().and_then(|w| w.bind(py).upgrade()) {
                    if is_usable(&l)? {
                        return Ok(Some(l));
                    }
                }
                let found = main_thread_loop(py)?;
                *cached = match &found {
                    Some(l) => Some(PyWeakrefReference::new(l)?.unbind()),
                    None => None,
                };
                Ok(found)
            }
        }
    }
}

fn is_usable(l: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(l.call_method0("is_running")?.is_truthy()? && !l.call_method0("is_closed")?.is_truthy()?)
}

pub fn running_loop_here(py: Python<'_>) -> PyResult<Option<Bound<'_, PyAny>>> {
    // Without asyncio imported, no loop can be running.
    if !arrival::imported(py, "asyncio") {
        return Ok(None);
    }
    let l = py_attr!(py, "asyncio.events", "_get_running_loop")?.call0()?;
    Ok(if l.is_none() { None } else { Some(l) })
}

/// The running loop of the main thread: among running loops, the one whose thread is the
/// main thread (or, for loops that do not say, the only one).
pub fn main_thread_loop(py: Python<'_>) -> PyResult<Option<Bound<'_, PyAny>>> {
    if !arrival::imported(py, "asyncio") {
        return Ok(None);
    }
    let mut candidates = loops_of_live_tasks(py)?;
    if candidates.is_empty() {
        candidates = loops_in_heap(py)?;
    }
    let main_ident: u64 = py
        .import("threading")?
        .call_method0("main_thread")?
        .getattr("ident")?
        .extract()?;
    let running: Vec<Bound<'_, PyAny>> = candidates
        .into_iter()
        .filter(|l| is_usable(l).unwrap_or(false))
        .collect();
    for l in &running {
        if let Ok(ident) = l.getattr("_thread_id").and_then(|t| t.extract::<u64>()) {
            if ident == main_ident {
                return Ok(Some(l.clone()));
            }
        }
    }
    let unlabelled: Vec<&Bound<'_, PyAny>> = running.iter().filter(|l| l.getattr("_thread_id").is_err()).collect();
    Ok(match unlabelled.as_slice() {
        [only] => Some((*only).clone()),
        _ => None,
    })
}

/// Loops that own at least one live task, from asyncio's task registry.
fn loops_of_live_tasks(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyAny>>> {
    let tasks_module = py.import("asyncio.tasks")?;
    let mut loops: Vec<Bound<'_, PyAny>> = Vec::new();
    // 3.12+: `_scheduled_tasks` (weak) and `_eager_tasks`; before: `_all_tasks` (weak).
    for name in ["_scheduled_tasks", "_eager_tasks", "_all_tasks"] {
        let Ok(registry) = tasks_module.getattr(name) else {
            continue;
        };
        // A snapshot: the registry changes as tasks come and go on other threads.
        let tasks = PyList::type_object(py).call1((registry,))?;
        for task in tasks.try_iter()? {
            let Ok(l) = task?.call_method0("get_loop") else {
                continue;
            };
            if !loops.iter().any(|known| known.is(&l)) {
                loops.push(l);
            }
        }
    }
    Ok(loops)
}

/// Every event loop object alive in the process (costly: only when no task names one).
fn loops_in_heap(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyAny>>> {
    let loop_type = py_attr!(py, "asyncio", "AbstractEventLoop")?;
    let objects = py.import("gc")?.call_method0("get_objects")?;
    let mut loops = Vec::new();
    for obj in objects.try_iter()? {
        let obj = obj?;
        if obj.is_instance(loop_type)? {
            loops.push(obj);
        }
    }
    Ok(loops)
}
