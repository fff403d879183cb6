//! The local REPL's executor. The kernel process's main thread runs one asyncio event loop
//! for the whole session; every cell runs on it — plain code in a loop callback, awaiting
//! code as a task — so `asyncio.create_task` works in a plain statement and background
//! tasks keep running between prompts.
//!
//! The loop is made when something first needs it, not at start: cells that come before
//! anything imports asyncio run straight on the main thread, so the first result shows as
//! soon as the interpreter is up. Nothing can tell the difference, since without asyncio
//! there is nothing to schedule: the import itself brings the loop up
//! ([`crate::arrival`]), in time for the rest of the cell that imported it. A cell
//! that awaits, or a while with nothing to do, brings it up too.
//!
//! Ctrl-C arrives as a real SIGINT (the terminal sends it to the kernel too), handled by
//! [`LocalKernel::on_sigint`] in the main thread: it raises KeyboardInterrupt into the
//! cell's own code when that code is what is running (`while True: pass`, `time.sleep`),
//! and cancels the cell's task when the loop is waiting (`await asyncio.sleep(100)`). A
//! second Ctrl-C while the loop is still stuck raises KeyboardInterrupt wherever the main
//! thread is, which also frees it from a background task that hogs it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use hotrepl_proto::ExecuteRequest;
use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit};
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyTuple};

use super::on_loop::{self, LoopCell};
use crate::arrival;
use crate::cell::CellRun;
use crate::ops::execute::{self, Execution, Reported};
use crate::pycache::py_attr;
use crate::session::{CloseReason, Executor, InterruptOutcome, Session};
use crate::transport::Parent;

/// How long a kernel with no cell to run waits before it loads asyncio anyway. A person
/// types for longer than this, so their first cell finds the loop ready; cells sent at
/// once (a paste, a script on stdin) start before asyncio has loaded.
const IDLE_BEFORE_LOOP: Duration = Duration::from_millis(100);

/// How often, and for how long, an interrupt's SIGINT is sent again while the main thread
/// has not handled it (see [`LocalKernel::signal_until_heard`]).
const SIGINT_RESEND_EVERY: Duration = Duration::from_millis(20);
const SIGINT_RESEND_FOR: Duration = Duration::from_secs(2);

pub struct LocalKernel {
    /// Callbacks put on the loop need an owning handle to the kernel.
    me: Weak<LocalKernel>,
    /// Set once the main thread has created it; until then cells are queued for the main
    /// thread, which runs them itself while they need no loop.
    event_loop: OnceLock<Py<PyAny>>,
    state: Mutex<State>,
    /// Wakes the main thread waiting for a cell before the loop exists.
    queued: Condvar,
    exit_code: Mutex<Option<i32>>,
    main_thread: libc::pthread_t,
    /// The loop was made in the middle of a cell run without it, and stands as the
    /// thread's running loop until that cell ends.
    loop_lent: AtomicBool,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    current: Option<Running>,
    /// A `run_next` callback is already on the loop.
    scheduled: bool,
    /// How many cells have started: tells one running cell from the next.
    cells_started: u64,
}

impl State {
    fn start(&mut self, mut running: Running) {
        self.cells_started += 1;
        running.serial = self.cells_started;
        self.current = Some(running);
    }
}

struct Job {
    session: Arc<Session>,
    parent: Parent,
    request: ExecuteRequest,
}

struct Running {
    session: Arc<Session>,
    execution: Execution,
    /// None for a cell run on the main thread before the loop existed.
    cell: Option<Arc<LoopCell>>,
    /// The SIGINTs the main thread has handled during this cell.
    interrupts: u32,
    /// Its place in `State::cells_started`.
    serial: u64,
}

impl LocalKernel {
    /// Must be called on the main thread, which then runs [`LocalKernel::run_loop`].
    pub fn new() -> Arc<LocalKernel> {
        Arc::new_cyclic(|me| LocalKernel {
            me: me.clone(),
            event_loop: OnceLock::new(),
            state: Mutex::new(State::default()),
            queued: Condvar::new(),
            exit_code: Mutex::new(None),
            // SAFETY: pthread_self has no preconditions.
            main_thread: unsafe { libc::pthread_self() },
            loop_lent: AtomicBool::new(false),
        })
    }

    /// Serves cells until an exit is requested; returns the exit code. Must be called on
    /// the main thread.
    pub fn run(self: &Arc<Self>, py: Python<'_>) -> PyResult<i32> {
        self.run_before_loop(py)?;
        if let Some(code) = self.exit_requested() {
            return Ok(code);
        }
        self.bring_up_loop(py)?;
        Ok(self.run_loop(py))
    }

    /// Runs the cells that come before anything needs asyncio, on this thread.
    fn run_before_loop(self: &Arc<Self>, py: Python<'_>) -> PyResult<()> {
        if arrival::imported(py, "asyncio") {
            return Ok(());
        }
        let me = self.me.clone();
        let finder = arrival::watch(
            py,
            "asyncio",
            Arc::new(move |py, asyncio| {
                if let Some(kernel) = me.upgrade() {
                    if let Err(e) = kernel.asyncio_arrived(py, asyncio) {
                        e.print(py);
                    }
                }
            }),
        )?;
        let mut wait = IDLE_BEFORE_LOOP;
        while self.event_loop.get().is_none() && !arrival::imported(py, "asyncio") {
            let Some(job) = self.next_job(py, wait) else { break };
            // A SIGINT that came while nothing ran is handled now, before the cell starts;
            // with no cell to interrupt it has nothing to do (as on the loop, where a
            // KeyboardInterrupt between cells is dropped).
            let _ = py.check_signals();
            self.run_without_loop(py, job)?;
            // More cells already sent run the same way; otherwise the loop comes up now.
            wait = Duration::ZERO;
        }
        arrival::unwatch(py, &finder)
    }

    /// The next queued cell, waiting up to `wait` for one; None once an exit is requested.
    fn next_job(&self, py: Python<'_>, wait: Duration) -> Option<Job> {
        let deadline = Instant::now() + wait;
        py.detach(|| {
            let mut st = self.state();
            loop {
                if self.exit_requested().is_some() {
                    return None;
                }
                if let Some(job) = st.queue.pop_front() {
                    return Some(job);
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return None;
                }
                st = self.queued.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
            }
        })
    }

    /// Runs a cell before the loop exists: here, unless it awaits.
    fn run_without_loop(self: &Arc<Self>, py: Python<'_>, job: Job) -> PyResult<()> {
        let (execution, run) = match execute::begin(py, &job.session, job.parent, job.request) {
            Ok(begun) => begun,
            Err(reported) => {
                self.after_cell(py, reported);
                return Ok(());
            }
        };
        if run.awaits(py) {
            self.bring_up_loop(py)?;
            self.start_on_loop(py, job.session, execution, run);
            return Ok(());
        }
        self.state().start(Running {
            session: job.session,
            execution,
            cell: None,
            interrupts: 0,
            serial: 0,
        });
        let result = run.run_plain(py);
        if self.loop_lent.swap(false, Ordering::SeqCst) {
            // The loop runs for real from here on.
            if let Err(e) = self.stand_as_running(py, false) {
                e.print(py);
            }
        }
        self.finish_current(py, result);
        Ok(())
    }

    /// Imports asyncio (unless done) and makes the loop (unless made).
    fn bring_up_loop(self: &Arc<Self>, py: Python<'_>) -> PyResult<()> {
        let asyncio = py.import("asyncio")?;
        if self.event_loop.get().is_none() {
            self.make_loop(py, &asyncio)?;
        }
        Ok(())
    }

    /// asyncio was just imported. On the main thread, before the loop exists, the loop is
    /// made now; if a cell is running, the loop stands as its running loop until it ends,
    /// so the cell can already create tasks (they start once it has ended, as they would
    /// from any plain cell). Imports on other threads wait for the main thread.
    fn asyncio_arrived(self: &Arc<Self>, py: Python<'_>, asyncio: &Bound<'_, PyAny>) -> PyResult<()> {
        // SAFETY: pthread_self and pthread_equal have no preconditions.
        let on_main_thread = unsafe { libc::pthread_equal(libc::pthread_self(), self.main_thread) != 0 };
        if !on_main_thread || self.event_loop.get().is_some() {
            return Ok(());
        }
        let in_cell = self.state().current.is_some();
        self.make_loop(py, asyncio)?;
        if in_cell {
            self.stand_as_running(py, true)?;
            self.loop_lent.store(true, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Makes the loop this thread's running loop while a cell runs outside it, or ends
    /// that. `is_running()` says so too: libraries ask it to choose between scheduling on
    /// the loop and running one themselves, and must choose as they would on the loop.
    /// (`_thread_id` is what asyncio's own loops answer `is_running()` from; ours is
    /// always one of those, made by `new_event_loop` before anything could change that.)
    fn stand_as_running(&self, py: Python<'_>, running: bool) -> PyResult<()> {
        let Some(event_loop) = self.event_loop(py) else {
            return Ok(());
        };
        let (as_running, thread_id) = if running {
            (event_loop.clone(), py_attr!(py, "_thread", "get_ident")?.call0()?)
        } else {
            (py.None().into_bound(py), py.None().into_bound(py))
        };
        py_attr!(py, "asyncio", "_set_running_loop")?.call1((as_running,))?;
        if event_loop.hasattr("_thread_id")? {
            event_loop.setattr("_thread_id", thread_id)?;
        }
        Ok(())
    }

    /// Makes the kernel's event loop, the thread's current one, and starts any cell that
    /// was waiting for it.
    fn make_loop(self: &Arc<Self>, py: Python<'_>, asyncio: &Bound<'_, PyAny>) -> PyResult<()> {
        let event_loop = asyncio.call_method0("new_event_loop")?;
        asyncio.call_method1("set_event_loop", (&event_loop,))?;
        if self.event_loop.set(event_loop.unbind()).is_ok() {
            self.schedule_next(py, false);
        }
        Ok(())
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
        match self.event_loop(py) {
            Some(event_loop) => on_loop::stop_soon(event_loop),
            None => {
                // Taken so that a main thread between its check and its wait hears this.
                let _st = self.state();
                self.queued.notify_all();
            }
        }
    }

    /// Runs the event loop until an exit is requested; returns the exit code.
    fn run_loop(self: &Arc<Self>, py: Python<'_>) -> i32 {
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
        let Some(event_loop) = self.event_loop(py) else {
            return Ok(());
        };
        let asyncio = py.import("asyncio")?;
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
        let (execution, run) = match execute::begin(py, &job.session, job.parent, job.request) {
            Ok(begun) => begun,
            Err(reported) => {
                if self.after_cell(py, reported) {
                    self.schedule_next(py, false);
                }
                return;
            }
        };
        self.start_on_loop(py, job.session, execution, run);
    }

    /// Starts a compiled cell on the loop, which must exist.
    fn start_on_loop(self: &Arc<Self>, py: Python<'_>, session: Arc<Session>, execution: Execution, run: CellRun) {
        let Some(event_loop) = self.event_loop(py) else { return };
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
        self.state().start(Running {
            session,
            execution,
            cell: Some(cell.clone()),
            interrupts: 0,
            serial: 0,
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
        let reported = execute::finish(py, &running.session, &running.execution, outcome);
        if self.after_cell(py, reported) {
            self.schedule_next(py, false);
        }
    }

    /// Does what a reported cell asks: aborts the cells queued behind it, or exits.
    /// Returns whether the kernel goes on.
    fn after_cell(&self, py: Python<'_>, reported: Reported) -> bool {
        if reported.abort_queued {
            let queued: Vec<Job> = self.state().queue.drain(..).collect();
            for job in queued {
                execute::abort(&job.session, &job.parent);
            }
        }
        match reported.exit_code {
            Some(code) => {
                self.request_exit(py, code);
                false
            }
            None => true,
        }
    }

    /// Interrupts the running cell `(serial, interrupts handled)` the way Ctrl-C in the
    /// terminal does: a real SIGINT to the main thread, which also breaks it out of a
    /// blocking call. Sent again until the main thread has handled it: a signal that lands
    /// after the thread has let go of the GIL for a blocking call (select, read, sleep) but
    /// before the call has started is handled without interrupting it, and the call may
    /// then block for good. That window is where a request's thread, which has just been
    /// handed the GIL, is most likely to send it.
    fn signal_until_heard(&self, (serial, handled): (u64, u32)) {
        // Checked and sent under the state lock, which the handler takes to count the
        // signal: a signal is sent again only if none has been counted since.
        let send_if_unheard = move |kernel: &LocalKernel| {
            let st = kernel.state();
            let unheard = st
                .current
                .as_ref()
                .is_some_and(|c| c.serial == serial && c.interrupts == handled);
            if unheard {
                // SAFETY: the main thread outlives the kernel; pthread_kill only queues a signal.
                unsafe {
                    libc::pthread_kill(kernel.main_thread, libc::SIGINT);
                }
            }
            unheard
        };
        if !send_if_unheard(self) {
            return;
        }
        let me = self.me.clone();
        // If the thread cannot start, the first signal still went: nearly always enough.
        let _ = crate::threads::spawn_io("hotrepl-interrupt", move || {
            let until = Instant::now() + SIGINT_RESEND_FOR;
            while Instant::now() < until {
                std::thread::sleep(SIGINT_RESEND_EVERY);
                match me.upgrade() {
                    Some(kernel) if send_if_unheard(&kernel) => {}
                    _ => return,
                }
            }
        });
    }

    /// The kernel's SIGINT handler (runs in the main thread, between bytecodes).
    pub fn on_sigint(&self, py: Python<'_>) -> PyResult<()> {
        let (cell, interrupts, session) = {
            let mut st = self.state();
            match st.current.as_mut() {
                None => return Ok(()),
                Some(c) => {
                    c.interrupts += 1;
                    (c.cell.clone(), c.interrupts, c.session.clone())
                }
            }
        };
        session.run_interrupt_hooks(py);
        let Some(cell) = cell else {
            // Run before the loop existed: it is this thread's plain code.
            return Err(PyKeyboardInterrupt::new_err(()));
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
    fn submit(&self, py: Python<'_>, session: &Arc<Session>, parent: Parent, request: ExecuteRequest) {
        self.state().queue.push_back(Job {
            session: session.clone(),
            parent,
            request,
        });
        self.queued.notify_all();
        if let Some(this) = self.me.upgrade() {
            this.schedule_next(py, true);
        }
    }

    fn interrupt(&self, _py: Python<'_>, _session: &Arc<Session>, _abandon: bool) -> InterruptOutcome {
        let Some(running) = self.state().current.as_ref().map(|c| (c.serial, c.interrupts)) else {
            return InterruptOutcome::NothingRunning;
        };
        self.signal_until_heard(running);
        InterruptOutcome::Interrupted
    }

    fn close(&self, py: Python<'_>, _session: &Arc<Session>, _reason: CloseReason) {
        self.request_exit(py, 0);
    }

    fn event_loop<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        Ok(LocalKernel::event_loop(self, py).cloned())
    }

    fn in_host_program(&self) -> bool {
        false
    }
}
