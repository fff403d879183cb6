//! The apply step of a hot patch. `hotrepl._patch` works out what changes (in the caller's
//! thread, touching nothing); what it hands over here is a list of prepared operations —
//! a function's `__code__` or defaults, a class member, a module global — carried out one
//! after the other with the GIL held and no Python code in between, so no other thread ever
//! sees the program half patched. In a program with a running event loop they run in a
//! callback on that loop, that is between two of its steps: no task step runs partly old,
//! partly new code.
//!
//! An operation that fails undoes the ones before it: the program is left as it was.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyString, PyTuple, PyType};

use crate::exec::host_loop;
use crate::exec::on_loop;
use crate::pycache::py_attr;
use crate::server;
use crate::threads;

/// How long the program's loop gets to run the patch before it is applied from the caller's
/// thread anyway (the GIL still makes it one step for every thread).
const LOOP_WAIT: Duration = Duration::from_secs(1);

/// One prepared change.
enum Op {
    /// `setattr(target, name, value)`: a function's `__code__`, `__defaults__`, ...
    SetAttr(Py<PyAny>, Py<PyString>, Py<PyAny>),
    /// `type.__setattr__(cls, name, value)`: past a metaclass's own `__setattr__` (Enum's
    /// refuses some names), and with the type's method caches invalidated.
    SetClassAttr(Py<PyType>, Py<PyString>, Py<PyAny>),
    DelClassAttr(Py<PyType>, Py<PyString>),
    SetItem(Py<PyDict>, Py<PyAny>, Py<PyAny>),
    DelItem(Py<PyDict>, Py<PyAny>),
}

/// What an applied operation replaced, to put it back.
enum Undo {
    Attr(Py<PyAny>, Py<PyString>, Py<PyAny>),
    ClassAttr(Py<PyType>, Py<PyString>, Option<Py<PyAny>>),
    Item(Py<PyDict>, Py<PyAny>, Option<Py<PyAny>>),
}

impl Op {
    /// Reads one `(kind, target, name[, value])` tuple.
    fn parse(item: &Bound<'_, PyAny>) -> PyResult<Op> {
        let parts = item.cast::<PyTuple>()?;
        let kind: String = parts.get_item(0)?.extract()?;
        let target = parts.get_item(1)?;
        let key = parts.get_item(2)?;
        let value = || parts.get_item(3).map(Bound::unbind);
        let name = || key.cast::<PyString>().map(|s| s.clone().unbind());
        let class = || target.cast::<PyType>().map(|t| t.clone().unbind());
        let dict = || target.cast::<PyDict>().map(|d| d.clone().unbind());
        Ok(match kind.as_str() {
            "set_attr" => Op::SetAttr(target.clone().unbind(), name()?, value()?),
            "set_class_attr" => Op::SetClassAttr(class()?, name()?, value()?),
            "del_class_attr" => Op::DelClassAttr(class()?, name()?),
            "set_item" => Op::SetItem(dict()?, key.clone().unbind(), value()?),
            "del_item" => Op::DelItem(dict()?, key.clone().unbind()),
            other => return Err(PyValueError::new_err(format!("unknown patch operation {other:?}"))),
        })
    }

    /// `type_` is the builtin `type`, whose `__setattr__` and `__delattr__` change classes.
    fn apply(&self, py: Python<'_>, type_: &Bound<'_, PyAny>) -> PyResult<Undo> {
        match self {
            Op::SetAttr(target, name, value) => {
                let target = target.bind(py);
                let old = target.getattr(name.bind(py))?;
                target.setattr(name.bind(py), value.bind(py))?;
                Ok(Undo::Attr(target.clone().unbind(), name.clone_ref(py), old.unbind()))
            }
            Op::SetClassAttr(class, name, value) => {
                let old = own_member(class.bind(py), name.bind(py))?;
                type_.call_method1("__setattr__", (class.bind(py), name.bind(py), value.bind(py)))?;
                Ok(Undo::ClassAttr(class.clone_ref(py), name.clone_ref(py), old))
            }
            Op::DelClassAttr(class, name) => {
                let old = own_member(class.bind(py), name.bind(py))?;
                type_.call_method1("__delattr__", (class.bind(py), name.bind(py)))?;
                Ok(Undo::ClassAttr(class.clone_ref(py), name.clone_ref(py), old))
            }
            Op::SetItem(dict, key, value) => {
                let dict = dict.bind(py);
                let old = dict.get_item(key.bind(py))?.map(Bound::unbind);
                dict.set_item(key.bind(py), value.bind(py))?;
                Ok(Undo::Item(dict.clone().unbind(), key.clone_ref(py), old))
            }
            Op::DelItem(dict, key) => {
                let dict = dict.bind(py);
                let old = dict.get_item(key.bind(py))?.map(Bound::unbind);
                dict.del_item(key.bind(py))?;
                Ok(Undo::Item(dict.clone().unbind(), key.clone_ref(py), old))
            }
        }
    }
}

/// The class's own entry for `name` (not an inherited one), if it has one.
fn own_member(class: &Bound<'_, PyType>, name: &Bound<'_, PyString>) -> PyResult<Option<Py<PyAny>>> {
    let own = class.getattr("__dict__")?;
    Ok(if own.contains(name)? {
        Some(own.get_item(name)?.unbind())
    } else {
        None
    })
}

impl Undo {
    fn revert(self, py: Python<'_>, type_: &Bound<'_, PyAny>) -> PyResult<()> {
        match self {
            Undo::Attr(target, name, old) => target.bind(py).setattr(name.bind(py), old),
            Undo::ClassAttr(class, name, Some(old)) => {
                type_.call_method1("__setattr__", (class, name, old))?;
                Ok(())
            }
            Undo::ClassAttr(class, name, None) => {
                type_.call_method1("__delattr__", (class, name))?;
                Ok(())
            }
            Undo::Item(dict, key, Some(old)) => dict.bind(py).set_item(key, old),
            Undo::Item(dict, key, None) => dict.bind(py).del_item(key),
        }
    }
}

/// Runs every operation, or none: the first failure undoes the ones before it. The garbage
/// collector is held off meanwhile (a collection could run finalizers, which are Python
/// code), and what the operations replaced is released only once they are all done.
fn run_all(py: Python<'_>, ops: Vec<Op>) -> PyResult<Duration> {
    let type_ = py_attr!(py, "builtins", "type")?;
    let gc_was_enabled = py_attr!(py, "gc", "isenabled")?.call0()?.is_truthy()?;
    py_attr!(py, "gc", "disable")?.call0()?;
    let started = Instant::now();
    let mut undo = Vec::with_capacity(ops.len());
    let mut failure = None;
    for op in &ops {
        match op.apply(py, type_) {
            Ok(u) => undo.push(u),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    if failure.is_some() {
        for u in undo.drain(..).rev() {
            if let Err(e) = u.revert(py, type_) {
                e.print(py);
            }
        }
    }
    let elapsed = started.elapsed();
    if gc_was_enabled {
        py_attr!(py, "gc", "enable")?.call0()?;
    }
    drop(undo);
    match failure {
        Some(e) => Err(e),
        None => Ok(elapsed),
    }
}

enum JobState {
    Waiting(Vec<Op>),
    Running,
    Finished(PyResult<Duration>),
}

/// A patch handed to the program's loop, and the caller waiting for it.
struct Job {
    state: Mutex<JobState>,
    finished: Condvar,
}

impl Job {
    /// The operations, for whoever runs them first (the loop, or the caller after waiting).
    fn take(&self) -> Option<Vec<Op>> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match std::mem::replace(&mut *state, JobState::Running) {
            JobState::Waiting(ops) => Some(ops),
            other => {
                *state = other;
                None
            }
        }
    }

    fn run(&self, py: Python<'_>) -> bool {
        let Some(ops) = self.take() else { return false };
        let result = run_all(py, ops);
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = JobState::Finished(result);
        self.finished.notify_all();
        true
    }

    /// Waits (without the GIL) until the job has run, or `limit` has passed while it was still
    /// waiting for the loop; returns its result, or None then.
    fn wait(&self, py: Python<'_>, limit: Option<Duration>) -> Option<PyResult<Duration>> {
        threads::without_python(py, || {
            let deadline = limit.map(|l| Instant::now() + l);
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                match &*state {
                    JobState::Finished(_) => {
                        let JobState::Finished(result) = std::mem::replace(&mut *state, JobState::Running) else {
                            unreachable!()
                        };
                        return Some(result);
                    }
                    JobState::Waiting(_) => match deadline.map(|d| d.saturating_duration_since(Instant::now())) {
                        Some(left) if left.is_zero() => return None,
                        Some(left) => {
                            state = self
                                .finished
                                .wait_timeout(state, left)
                                .unwrap_or_else(|e| e.into_inner())
                                .0
                        }
                        None => state = self.finished.wait(state).unwrap_or_else(|e| e.into_inner()),
                    },
                    // Being applied right now: it finishes in moments.
                    JobState::Running => state = self.finished.wait(state).unwrap_or_else(|e| e.into_inner()),
                }
            }
        })
    }
}

/// The loop to apply a patch on: the program's, unless the caller is on a running loop
/// itself (a cell that awaits, the local REPL, a callback), where now is already between two
/// steps for every other task.
fn program_loop(py: Python<'_>) -> PyResult<Option<Bound<'_, PyAny>>> {
    if host_loop::running_loop_here(py)?.is_some() {
        return Ok(None);
    }
    server::program_loop(py)
}

/// Carries out a patch's operations as one step (see the module's doc). Each operation is a
/// tuple: `("set_attr", obj, name, value)`, `("set_class_attr", cls, name, value)`,
/// `("del_class_attr", cls, name)`, `("set_item", dict, key, value)` or
/// `("del_item", dict, key)`.
///
/// Returns where it ran — "loop" (between two steps of the program's event loop), "here" (no
/// other loop to wait for) or "busy" (the loop did not get to it within a second, so it ran
/// from this thread) — and how long the operations took, in seconds.
#[pyfunction]
pub fn apply_patch(py: Python<'_>, operations: &Bound<'_, PyAny>) -> PyResult<(&'static str, f64)> {
    let ops = operations
        .try_iter()?
        .map(|item| Op::parse(&item?))
        .collect::<PyResult<Vec<Op>>>()?;
    let job = Arc::new(Job {
        state: Mutex::new(JobState::Waiting(ops)),
        finished: Condvar::new(),
    });
    let mut place = "here";
    if let Some(event_loop) = program_loop(py)? {
        let on_loop = job.clone();
        let callback = PyCFunction::new_closure(
            py,
            None,
            None,
            move |args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>| {
                on_loop.run(args.py());
            },
        )?;
        // A loop closed in the meantime refuses the callback: then it runs here.
        if on_loop::schedule(&event_loop, callback.as_any(), true).is_ok() {
            if let Some(result) = job.wait(py, Some(LOOP_WAIT)) {
                return result.map(|took| ("loop", took.as_secs_f64()));
            }
            place = "busy";
        }
    }
    if !job.run(py) {
        // The loop took it just as the wait ended.
        place = "loop";
    }
    let result = job.wait(py, None).expect("a job that ran has a result");
    result.map(|took| (place, took.as_secs_f64()))
}
