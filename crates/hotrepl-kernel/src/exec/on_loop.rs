//! Running one cell on an event loop, from the loop's own thread: its plain pieces in loop
//! callbacks, each awaiting piece as a task whose completion drives the next step. A cell
//! that awaits runs entirely like this (as `python -m asyncio` runs every cell), so
//! `asyncio.get_running_loop()` anywhere in it is that loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyTuple};

use crate::cell::{CellRun, Step};

/// Puts `callback` on `event_loop`. From another thread it goes through the loop's
/// self-pipe: a plain `call_soon` would not wake a loop asleep in `select()`.
pub fn schedule(event_loop: &Bound<'_, PyAny>, callback: &Bound<'_, PyAny>, from_other_thread: bool) -> PyResult<()> {
    let method = if from_other_thread {
        "call_soon_threadsafe"
    } else {
        "call_soon"
    };
    event_loop.call_method1(method, (callback,))?;
    Ok(())
}

/// Asks `event_loop` to stop, from any thread; a loop already closed is left as it is.
pub fn stop_soon(event_loop: &Bound<'_, PyAny>) {
    if let Ok(stop) = event_loop.getattr("stop") {
        let _ = schedule(event_loop, &stop, true);
    }
}

type Done = Box<dyn Fn(Python<'_>, PyResult<Option<Py<PyAny>>>) + Send + Sync>;

pub struct LoopCell {
    me: Weak<LoopCell>,
    event_loop: Py<PyAny>,
    /// Taken out while a piece runs, so no lock is held around user code.
    run: Mutex<Option<CellRun>>,
    task: Mutex<Option<Py<PyAny>>>,
    plain_running: AtomicBool,
    /// A cancel came before the task it was meant for existed.
    cancel_requested: AtomicBool,
    done: Done,
}

impl LoopCell {
    /// `done` gets the cell's result, on the loop's thread, once it has finished.
    pub fn new(event_loop: Py<PyAny>, run: CellRun, done: Done) -> Arc<LoopCell> {
        Arc::new_cyclic(|me| LoopCell {
            me: me.clone(),
            event_loop,
            run: Mutex::new(Some(run)),
            task: Mutex::new(None),
            plain_running: AtomicBool::new(false),
            cancel_requested: AtomicBool::new(false),
            done,
        })
    }

    pub fn event_loop(&self) -> &Py<PyAny> {
        &self.event_loop
    }

    /// Schedules the first step on the loop. From another thread the callback carries the
    /// calling thread's context (asyncio copies it), and so do the cell's tasks.
    pub fn start(&self, py: Python<'_>, from_other_thread: bool) -> PyResult<()> {
        let cb = self.callback(py, |cell, py, _| cell.drive(py, None))?;
        schedule(self.event_loop.bind(py), cb.as_any(), from_other_thread)
    }

    /// Whether the cell's plain code is executing right now (on the loop's thread).
    pub fn running_plain_code(&self) -> bool {
        self.plain_running.load(Ordering::SeqCst)
    }

    /// The task the cell is awaiting, if any.
    pub fn task(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|t| t.clone_ref(py))
    }

    /// Cancels the task the cell awaits, from any thread.
    pub fn cancel(&self, py: Python<'_>) -> PyResult<()> {
        self.cancel_requested.store(true, Ordering::SeqCst);
        if let Some(task) = self.task(py) {
            schedule(self.event_loop.bind(py), &task.bind(py).getattr("cancel")?, true)?;
        }
        Ok(())
    }

    fn callback<'py>(
        &self,
        py: Python<'py>,
        f: fn(&Arc<LoopCell>, Python<'_>, &Bound<'_, PyTuple>),
    ) -> PyResult<Bound<'py, PyCFunction>> {
        let me = self.me.clone();
        PyCFunction::new_closure(
            py,
            None,
            None,
            move |args: &Bound<'_, PyTuple>, _kw: Option<&Bound<'_, PyDict>>| {
                if let Some(cell) = me.upgrade() {
                    f(&cell, args.py(), args);
                }
            },
        )
    }

    /// Runs the cell up to its next await (or its end).
    fn drive(self: &Arc<Self>, py: Python<'_>, awaited: Option<PyResult<Py<PyAny>>>) {
        let Some(mut run) = self.run.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        self.plain_running.store(true, Ordering::SeqCst);
        let step = match awaited {
            None => run.start(py),
            Some(outcome) => run.resume(py, outcome),
        };
        self.plain_running.store(false, Ordering::SeqCst);
        let result = match step {
            Step::Await(coro) => match self.start_task(py, coro) {
                Ok(()) => {
                    *self.run.lock().unwrap_or_else(|e| e.into_inner()) = Some(run);
                    return;
                }
                Err(e) => Err(e),
            },
            Step::Done(result) => result,
        };
        (self.done)(py, result);
    }

    fn start_task(self: &Arc<Self>, py: Python<'_>, coro: Py<PyAny>) -> PyResult<()> {
        let task = self.event_loop.bind(py).call_method1("create_task", (coro,))?;
        let resume = self.callback(py, |cell, py, args| {
            let outcome = args
                .get_item(0)
                .and_then(|task| task.call_method0("result"))
                .map(Bound::unbind);
            cell.task.lock().unwrap_or_else(|e| e.into_inner()).take();
            cell.drive(py, Some(outcome));
        })?;
        task.call_method1("add_done_callback", (resume,))?;
        *self.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.clone().unbind());
        if self.cancel_requested.load(Ordering::SeqCst) {
            task.call_method0("cancel")?;
        }
        Ok(())
    }
}
