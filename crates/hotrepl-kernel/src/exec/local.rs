//! The local REPL's executor. The kernel process's main thread runs one asyncio event loop
//! for the whole session; every cell runs on it — plain code in a loop callback, awaiting
//! code as a task — so `asyncio.create_task` works in a plain statement and background
//! tasks keep running between prompts.
//!
//! Ctrl-C arrives as a real SIGINT (the terminal sends it to the kernel too), handled by
//! [`LocalKernel::on_sigint`] in the main thread: it raises KeyboardInterrupt into the
//! cell's own code when that code is what is running (`while True: pass`, `time.sleep`),
//! and cancels the cell's task when the loop is waiting (`await asyncio.sleep(100)`). A
//! second Ctrl-C while the loop is still stuck raises KeyboardInterrupt wherever the main
//! thread is, which also frees it from a background task that hogs it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use hotrepl_proto::{ExecuteRequest, Header};
use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit};
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyTuple};

use super::on_loop::{self, LoopCell};
use crate::ops::execute::{self, Execution};
use crate::session::{CloseReason, Executor, InterruptOutcome, Session};

pub struct LocalKernel {
    /// Callbacks put on the loop need an owning handle to the kernel.
    me: Weak<LocalKernel>,
    /// Set once the main thread has created it; requests that arrive earlier (the kernel
    /// answers before asyncio is even imported) wait in the queue.
    event_loop: OnceLock<Py<PyAny>>,
    state: Mutex<State>,
    exit_code: Mutex<Option<i32>>,
    main_thread: libc::pthread_t,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    current: Option<Running>,
    /// A `run_next` callback is already on the loop.
    scheduled: bool,
}

struct Job {
    session: Arc<Session>,
    header: Header,
    request: ExecuteRequest,
}

struct Running {
    session: Arc<Session>,
    execution: Execution,
    cell: Arc<LoopCell>,
    interrupts: u32,
}

impl LocalKernel {
    /// Must be called on the main thread, which then runs [`LocalKernel::run_loop`].
    pub fn new() -> Arc<LocalKernel> {
        Arc::new_cyclic(|me| LocalKernel {
            me: me.clone(),
            event_loop: OnceLock::new(),
            state: Mutex::new(State::default()),
            exit_code: Mutex::new(None),
            // SAFETY: pthread_self has no preconditions.
            main_thread: unsafe { libc::pthread_self() },
        })
    }

    /// Hands the kernel its event loop and starts any cell that was waiting for it.
    pub fn set_loop(self: &Arc<Self>, py: Python<'_>, event_loop: Py<PyAny>) {
        if self.event_loop.set(event_loop).is_ok() {
            self.schedule_next(py, false);
        }
    }

    fn event_loop<'py>(&self, py: Python<'py>) -> Option<&Bound<'py, PyAny>> {
        self.event_loop.get().map(|l| l.bind(py))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn exit_requested(&self) -> Option<i32> {
        *self.exit_code.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the loop to stop and the kernel to exit with `code` (the first request wins).
    pub fn request_exit(&self, py: Python<'_>, code: i32) {
        {
            let mut exit = self.exit_code.lock().unwrap_or_else(|e| e.into_inner());
            if exit.is_none() {
                *exit = Some(code);
            }
        }
        if let Some(event_loop) = self.event_loop(py) {
            on_loop::stop_soon(event_loop);
        }
    }

    /// Runs the event loop until an exit is requested; returns the exit code.
    pub fn run_loop(self: &Arc<Self>, py: Python<'_>) -> i32 {
        let Some(event_loop) = self.event_loop(py) else {
            return 1;
        };
        loop {
            // An exit may have been asked for before the loop existed (nothing could stop it).
            if let Some(code) = self.exit_requested() {
                return code;
            }
            let result = event_loop.call_method0("run_forever");
            if let Some(code) = self.exit_requested() {
                return code;
            }
            let Err(err) = result else { continue };
            if err.is_instance_of::<PyKeyboardInterrupt>(py) {
                // Raised out of a task by Ctrl-C; the loop just resumes.
                continue;
            }
            if err.is_instance_of::<PySystemExit>(py) && self.state().current.is_none() {
                // A background task called sys.exit(): the program exits, as with asyncio.run.
                return execute::exit_code_of(py, &err);
            }
            if !err.is_instance_of::<PySystemExit>(py) {
                err.print(py);
            }
            // SystemExit from the cell's own task: the loop resumes and the task's done
            // callback reports it, which then requests the exit.
        }
    }

    /// Cancels what is left on the loop, like `asyncio.run` does on the way out.
    pub fn shut_down_loop(&self, py: Python<'_>) -> PyResult<()> {
        let asyncio = py.import("asyncio")?;
        let Some(event_loop) = self.event_loop(py) else {
            return Ok(());
        };
        let tasks = asyncio.call_method1("all_tasks", (event_loop,))?;
        if tasks.len()? > 0 {
            for task in tasks.try_iter()? {
                task?.call_method0("cancel")?;
            }
            let kwargs = pyo3::types::PyDict::new(py);
            kwargs.set_item("timeout", 1.0)?;
            let wait = asyncio.getattr("wait")?.call((tasks,), Some(&kwargs))?;
            event_loop.call_method1("run_until_complete", (wait,))?;
        }
        let agens = event_loop.call_method0("shutdown_asyncgens")?;
        event_loop.call_method1("run_until_complete", (agens,))?;
        event_loop.call_method0("close")?;
        Ok(())
    }

    fn schedule_next(self: &Arc<Self>, py: Python<'_>, from_other_thread: bool) {
        let Some(event_loop) = self.event_loop(py) else {
            return;
        };
        {
            let mut st = self.state();
            if st.scheduled || st.current.is_some() || st.queue.is_empty() {
                return;
            }
            st.scheduled = true;
        }
        let me = self.me.clone();
        let run_next = PyCFunction::new_closure(
            py,
            None,
            None,
            move |args: &Bound<'_, PyTuple>, _k: Option<&Bound<'_, PyDict>>| {
                if let Some(kernel) = me.upgrade() {
                    kernel.run_next(args.py());
                }
            },
        );
        let scheduled = run_next.and_then(|cb| on_loop::schedule(event_loop, cb.as_any(), from_other_thread));
        if let Err(e) = scheduled {
            self.state().scheduled = false;
            e.print(py);
        }
    }

    fn run_next(self: &Arc<Self>, py: Python<'_>) {
        let job = {
            let mut st = self.state();
            st.scheduled = false;
            if st.current.is_some() {
                return;
            }
            match st.queue.pop_front() {
                Some(job) => job,
                None => return,
            }
        };
        let Some(event_loop) = self.event_loop(py) else { return };
        let (execution, run) = execute::begin(py, &job.session, job.header, &job.request);
        let Some(run) = run else {
            self.schedule_next(py, false);
            return;
        };
        let me = self.me.clone();
        let cell = LoopCell::new(
            event_loop.clone().unbind(),
            run,
            Box::new(move |py, result| {
                if let Some(kernel) = me.upgrade() {
                    kernel.finish_current(py, result);
                }
            }),
        );
        self.state().current = Some(Running {
            session: job.session,
            execution,
            cell: cell.clone(),
            interrupts: 0,
        });
        if let Err(e) = cell.start(py, false) {
            self.finish_current(py, Err(e));
        }
    }

    fn finish_current(self: &Arc<Self>, py: Python<'_>, result: PyResult<Option<Py<PyAny>>>) {
        let Some(running) = self.state().current.take() else {
            return;
        };
        let outcome = execute::outcome(py, result, running.interrupts > 0);
        if let Some(code) = execute::finish(py, &running.session, &running.execution, outcome) {
            self.request_exit(py, code);
            return;
        }
        self.schedule_next(py, false);
    }

    /// The kernel's SIGINT handler (runs in the main thread, between bytecodes).
    pub fn on_sigint(&self, py: Python<'_>) -> PyResult<()> {
        let (cell, interrupts) = {
            let mut st = self.state();
            match st.current.as_mut() {
                None => return Ok(()),
                Some(c) => {
                    c.interrupts += 1;
                    (c.cell.clone(), c.interrupts)
                }
            }
        };
        if cell.running_plain_code() {
            return Err(PyKeyboardInterrupt::new_err(()));
        }
        let Some(task) = cell.task(py) else {
            // Between pieces of the cell, inside our own calls: it lands there as the cell's error.
            return Err(PyKeyboardInterrupt::new_err(()));
        };
        let running = py
            .import("asyncio")?
            .call_method1("current_task", (cell.event_loop().bind(py),))?;
        if running.is(task.bind(py)) || (interrupts > 1 && !running.is_none()) {
            return Err(PyKeyboardInterrupt::new_err(()));
        }
        cell.cancel(py)
    }
}

impl Executor for LocalKernel {
    fn submit(&self, py: Python<'_>, session: &Arc<Session>, header: Header, request: ExecuteRequest) {
        self.state().queue.push_back(Job {
            session: session.clone(),
            header,
            request,
        });
        if let Some(this) = self.me.upgrade() {
            this.schedule_next(py, true);
        }
    }

    fn interrupt(&self, _py: Python<'_>, _session: &Arc<Session>, _abandon: bool) -> InterruptOutcome {
        if self.state().current.is_none() {
            return InterruptOutcome::NothingRunning;
        }
        // The same path as Ctrl-C in the terminal: a real SIGINT to the main thread, which
        // also breaks it out of a blocking call.
        // SAFETY: the main thread outlives the kernel; pthread_kill only queues a signal.
        unsafe {
            libc::pthread_kill(self.main_thread, libc::SIGINT);
        }
        InterruptOutcome::Interrupted
    }

    fn close(&self, py: Python<'_>, _session: &Arc<Session>, _reason: CloseReason) {
        self.request_exit(py, 0);
    }
}
