//! The executor of a session attached to a live program. The session has a thread of its
//! own — the one that reads its connection between cells — and plain code runs there, so
//! `time.sleep(2)` at the prompt never blocks the program. Awaiting code runs as a task on
//! the program's event loop (see [`host_loop`](super::host_loop)), or on a private loop
//! when the program runs none; the session's thread waits for it without the GIL.
//!
//! Interrupts come from the watcher while a cell runs: KeyboardInterrupt is raised in the
//! session's thread (`PyThreadState_SetAsyncExc`, never anywhere else), an awaiting cell's
//! task is cancelled, a pending `input()` is answered with Ctrl-C. A cell stuck in C code
//! can be abandoned: it is left to finish in its thread, with its output dropped, and a new
//! thread serves the session.

use std::collections::VecDeque;
use std::os::raw::c_ulong;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};

use hotrepl_proto::{ExecuteRequest, InputCancel};
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyTuple};
use pyo3::PyTypeInfo;

use super::host_loop::LoopSource;
use super::on_loop::{self, LoopCell};
use crate::cell::CellRun;
use crate::ops::execute::{self, Execution, Outcome, Reported};
use crate::output;
use crate::session::{CloseReason, Executor, Inbound, InterruptOutcome, Session};
use crate::threads;
use crate::transport::Parent;

pub struct AttachedExecutor {
    /// Callbacks and the replacement worker need owning handles.
    me: Weak<AttachedExecutor>,
    inbound: OnceLock<Weak<dyn Inbound>>,
    loops: Arc<LoopSource>,
    state: Mutex<State>,
    /// Bumped when a stuck cell is abandoned; a worker thread serves only while its own
    /// generation is the current one.
    generation: AtomicU64,
    /// Cleared to cut the current worker thread off from the session (see `abandon`).
    worker_alive: Mutex<Option<Arc<AtomicBool>>>,
    private_loop: Mutex<Option<PrivateLoop>>,
    /// Set once the session is over: a private loop started after that is stopped at once.
    closed: AtomicBool,
}

#[derive(Default)]
struct State {
    queue: VecDeque<(Parent, ExecuteRequest)>,
    running: Option<Running>,
}

struct Running {
    execution: Execution,
    /// `PyThread_get_thread_ident` of the worker running it.
    thread: c_ulong,
    phase: Phase,
    interrupts: u32,
    /// Set by an abandon: the worker must not report this cell (it was answered already).
    abandoned: Arc<AtomicBool>,
}

enum Phase {
    /// Plain code runs in the worker thread.
    Plain,
    /// The cell awaits, so it runs on an event loop; the worker waits for `completion`.
    OnLoop {
        cell: Arc<LoopCell>,
        completion: Arc<Completion>,
    },
    /// Between pieces, in hotrepl's own code.
    Between,
}

/// Where a cell run on a loop hands its result to the waiting worker.
struct Completion {
    result: Mutex<Option<PyResult<Option<Py<PyAny>>>>>,
    abandoned: AtomicBool,
    done: Condvar,
}

impl Completion {
    fn new() -> Arc<Completion> {
        Arc::new(Completion {
            result: Mutex::new(None),
            abandoned: AtomicBool::new(false),
            done: Condvar::new(),
        })
    }

    fn complete(&self, result: PyResult<Option<Py<PyAny>>>) {
        *self.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        self.done.notify_all();
    }

    fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
        let _guard = self.result.lock().unwrap_or_else(|e| e.into_inner());
        self.done.notify_all();
    }

    /// Blocks (call it without the GIL) until the result is in; None if abandoned.
    fn wait(&self) -> Option<PyResult<Option<Py<PyAny>>>> {
        let mut result = self.result.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = result.take() {
                return Some(r);
            }
            if self.abandoned.load(Ordering::SeqCst) {
                return None;
            }
            result = self.done.wait(result).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// A loop of the session's own, in a thread of its own, for programs that run none.
struct PrivateLoop {
    event_loop: Py<PyAny>,
}

thread_local! {
    /// The generation of the session worker this thread is (0: not a worker).
    static WORKER_GENERATION: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl AttachedExecutor {
    pub fn new(loops: Arc<LoopSource>) -> Arc<AttachedExecutor> {
        Arc::new_cyclic(|me| AttachedExecutor {
            me: me.clone(),
            inbound: OnceLock::new(),
            loops,
            state: Mutex::new(State::default()),
            generation: AtomicU64::new(1),
            worker_alive: Mutex::new(None),
            private_loop: Mutex::new(None),
            closed: AtomicBool::new(false),
        })
    }

    /// Ties the executor to where its session's requests come from (made after the
    /// session it belongs to).
    pub fn set_inbound(&self, inbound: Arc<dyn Inbound>) {
        let _ = self.inbound.set(Arc::downgrade(&inbound));
    }

    /// Makes the calling thread this session's worker: its output and input go to the
    /// session, and it runs the session's plain code.
    pub fn become_worker(&self, py: Python<'_>, session: &Session) -> PyResult<()> {
        WORKER_GENERATION.with(|g| g.set(self.generation.load(Ordering::SeqCst)));
        let alive = output::bind_thread(session.io.clone());
        *self.worker_alive.lock().unwrap_or_else(|e| e.into_inner()) = Some(alive);
        output::enter_context(py, &session.io)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn inbound(&self) -> Option<Arc<dyn Inbound>> {
        self.inbound.get().and_then(Weak::upgrade)
    }

    fn is_current_worker(&self) -> bool {
        WORKER_GENERATION.with(|g| g.get()) == self.generation.load(Ordering::SeqCst)
    }

    fn run_queued(&self, py: Python<'_>, session: &Arc<Session>) {
        loop {
            let job = {
                let mut st = self.state();
                if st.running.is_some() {
                    return;
                }
                st.queue.pop_front()
            };
            let Some((parent, request)) = job else { return };
            self.run_cell(py, session, parent, request);
            if !self.is_current_worker() || self.inbound().is_some_and(|i| i.has_ended()) {
                return;
            }
        }
    }

    fn run_cell(&self, py: Python<'_>, session: &Arc<Session>, parent: Parent, request: ExecuteRequest) {
        let (execution, run) = match execute::begin(py, session, parent, request) {
            Ok(begun) => begun,
            Err(reported) => {
                self.after_cell(py, session, reported, &self.inbound());
                return;
            }
        };
        let abandoned = Arc::new(AtomicBool::new(false));
        self.state().running = Some(Running {
            execution,
            // SAFETY: PyThread_get_thread_ident has no preconditions.
            thread: unsafe { ffi::PyThread_get_thread_ident() },
            phase: Phase::Between,
            interrupts: 0,
            abandoned: abandoned.clone(),
        });
        let inbound = self.inbound();
        if let Some(inbound) = &inbound {
            // Until the cell ends, someone else reads the session's requests.
            inbound.cell_started();
        }

        let result = if run.awaits(py) {
            match self.run_on_loop(py, run) {
                Some(result) => result,
                None => return, // abandoned while waiting
            }
        } else {
            self.plain(py, |py| run.run_plain(py))
        };

        // An abandoned cell's requests were handed to a new worker.
        if abandoned.load(Ordering::SeqCst) {
            return;
        }
        let Some(running) = self.state().running.take() else {
            return;
        };
        let outcome = execute::outcome(py, result, running.interrupts > 0);
        // Reporting an error under `%pdb` opens the debugger, which asks the client for
        // input: someone else must go on reading its requests. Otherwise this thread takes
        // them back before the reply, so it reads the next request itself (a hop through
        // another thread would add to every round trip).
        let debugs = matches!(outcome, Outcome::Raised(_)) && session.pdb.load(Ordering::Relaxed);
        if !debugs {
            end_cell(&inbound);
        }
        let reported = execute::finish(py, session, &running.execution, outcome);
        if debugs {
            end_cell(&inbound);
        }
        self.after_cell(py, session, reported, &inbound);
    }

    /// Does what a reported cell asks: aborts the cells queued behind it, or ends the
    /// session (SystemExit ends this client's session, never the program).
    fn after_cell(&self, py: Python<'_>, session: &Session, reported: Reported, inbound: &Option<Arc<dyn Inbound>>) {
        if reported.abort_queued {
            let queued: Vec<(Parent, ExecuteRequest)> = self.state().queue.drain(..).collect();
            for (parent, _) in queued {
                execute::abort(session, &parent);
            }
        }
        if let (Some(_), Some(inbound)) = (reported.exit_code, inbound) {
            inbound.end(py, CloseReason::Shutdown);
        }
    }

    /// Runs a piece of plain code in this thread, interruptible by KeyboardInterrupt.
    fn plain<T>(&self, py: Python<'_>, f: impl FnOnce(Python<'_>) -> T) -> T {
        let interrupts_before = self.set_phase(Phase::Plain);
        let done = f(py);
        // Under the GIL, so no interrupt can slip in between: from now on none is raised.
        let interrupts_after = self.set_phase(Phase::Between);
        if interrupts_after != interrupts_before {
            // One was requested while the piece ran and may still be pending; clearing it
            // only then matters, because clearing flags the whole interpreter's eval loop.
            // SAFETY: clears this thread's pending asynchronous exception; GIL held.
            unsafe {
                ffi::PyThreadState_SetAsyncExc(ffi::PyThread_get_thread_ident() as _, std::ptr::null_mut());
            }
        }
        done
    }

    /// Sets the running cell's phase; returns how many interrupts it has had.
    fn set_phase(&self, phase: Phase) -> u32 {
        match self.state().running.as_mut() {
            Some(r) => {
                r.phase = phase;
                r.interrupts
            }
            None => 0,
        }
    }

    /// Runs an awaiting cell on the right loop and waits for it, without the GIL. None if
    /// the cell was abandoned meanwhile.
    fn run_on_loop(&self, py: Python<'_>, run: CellRun) -> Option<PyResult<Option<Py<PyAny>>>> {
        let event_loop = match self.loop_for_cell(py) {
            Ok(l) => l,
            Err(e) => return Some(Err(e)),
        };
        let completion = Completion::new();
        let done = completion.clone();
        let cell = LoopCell::new(event_loop, run, Box::new(move |_py, result| done.complete(result)));
        self.set_phase(Phase::OnLoop {
            cell: cell.clone(),
            completion: completion.clone(),
        });
        // From this thread, whose context holds the session: the cell and the tasks it
        // creates keep printing to this session.
        if let Err(e) = cell.start(py, true) {
            return Some(Err(e));
        }
        threads::without_python(py, || completion.wait())
    }

    fn loop_for_cell(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if let Some(l) = self.loops.current(py)? {
            return Ok(l.unbind());
        }
        if let Some(p) = self.private_loop.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return Ok(p.event_loop.clone_ref(py));
        }
        // Started without the lock held: starting waits for the loop's thread without the
        // GIL, and a GIL holder (close, on the reader thread) may want the lock meanwhile.
        // Only this session's worker starts one, so no second loop races it.
        let p = PrivateLoop::start(py)?;
        let l = p.event_loop.clone_ref(py);
        *self.private_loop.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
        if self.closed.load(Ordering::SeqCst) {
            self.stop_private_loop(py);
        }
        Ok(l)
    }

    fn stop_private_loop(&self, py: Python<'_>) {
        let private = self.private_loop.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(p) = private {
            p.stop(py);
        }
    }

    /// Gives up on the running cell: answers it as abandoned, lets its thread finish on
    /// its own (output dropped), and starts a new worker for the session.
    fn abandon(&self, py: Python<'_>, session: &Arc<Session>) -> InterruptOutcome {
        let Some(running) = self.state().running.take() else {
            return InterruptOutcome::NothingRunning;
        };
        running.abandoned.store(true, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Phase::OnLoop { completion, .. } = &running.phase {
            completion.abandon();
        }
        session.io.cancel_input(py, InputCancel::Eof);
        if let Some(alive) = self.worker_alive.lock().unwrap_or_else(|e| e.into_inner()).take() {
            alive.store(false, Ordering::Release);
        }
        let reported = execute::finish(py, session, &running.execution, Outcome::Abandoned);
        self.after_cell(py, session, reported, &None);
        let Some(inbound) = self.inbound() else {
            return InterruptOutcome::Abandoned;
        };
        inbound.cell_ended();
        let Some(me) = self.me.upgrade() else {
            return InterruptOutcome::Abandoned;
        };
        let (serving, session) = (inbound.clone(), session.clone());
        let started = threads::spawn_worker("hotrepl-session", move || {
            threads::with_python(|py| {
                if me.become_worker(py, &session).is_ok() {
                    serving.serve_here();
                }
            });
        });
        if started.is_err() {
            inbound.end(py, CloseReason::ClientGone);
        }
        InterruptOutcome::Abandoned
    }
}

/// The session's thread takes its requests back once a cell has ended.
fn end_cell(inbound: &Option<Arc<dyn Inbound>>) {
    if let Some(inbound) = inbound {
        inbound.cell_ended();
    }
}

impl PrivateLoop {
    fn start(py: Python<'_>) -> PyResult<PrivateLoop> {
        let event_loop = py.import("asyncio")?.call_method0("new_event_loop")?.unbind();
        let running = event_loop.clone_ref(py);
        let ready = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = ready.clone();
        threads::spawn_worker("hotrepl-loop", move || {
            threads::with_python(|py| {
                let l = running.bind(py);
                let set_running = PyCFunction::new_closure(
                    py,
                    None,
                    None,
                    move |_a: &Bound<'_, PyTuple>, _k: Option<&Bound<'_, PyDict>>| {
                        *signal.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
                        signal.1.notify_all();
                    },
                );
                if let Ok(cb) = set_running {
                    let _ = l.call_method1("call_soon", (cb,));
                }
                let _ = l.call_method0("run_forever");
                let _ = l.call_method0("close");
            });
        })
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        // call_soon_threadsafe from the session thread must find the loop running.
        threads::without_python(py, || {
            let mut started = ready.0.lock().unwrap_or_else(|e| e.into_inner());
            while !*started {
                started = ready.1.wait(started).unwrap_or_else(|e| e.into_inner());
            }
        });
        Ok(PrivateLoop { event_loop })
    }

    fn stop(&self, py: Python<'_>) {
        on_loop::stop_soon(self.event_loop.bind(py));
    }
}

impl Executor for AttachedExecutor {
    fn submit(&self, py: Python<'_>, session: &Arc<Session>, parent: Parent, request: ExecuteRequest) {
        self.state().queue.push_back((parent, request));
        // Anywhere but the idle worker (the watcher, during a cell), it waits its turn.
        if self.is_current_worker() {
            self.run_queued(py, session);
        }
    }

    fn interrupt(&self, py: Python<'_>, session: &Arc<Session>, abandon: bool) -> InterruptOutcome {
        if abandon {
            return self.abandon(py, session);
        }
        if session.io.cancel_input(py, InputCancel::Interrupt) {
            return InterruptOutcome::Interrupted;
        }
        let on_loop = {
            let mut st = self.state();
            let Some(running) = st.running.as_mut() else {
                return InterruptOutcome::NothingRunning;
            };
            running.interrupts += 1;
            match &running.phase {
                Phase::Plain => {
                    let exc = PyKeyboardInterrupt::type_object(py);
                    // SAFETY: GIL held; raises KeyboardInterrupt in the worker thread only, at
                    // its next bytecode. `plain` clears it if the piece ends first.
                    unsafe {
                        ffi::PyThreadState_SetAsyncExc(running.thread as _, exc.as_ptr());
                    }
                    None
                }
                Phase::OnLoop { cell, .. } => Some(cell.clone()),
                // In hotrepl's own code between pieces: nothing to interrupt there. The user
                // can press Ctrl-C again once the next piece runs.
                Phase::Between => None,
            }
        };
        // Cancelled, never KeyboardInterrupt: its code runs on the program's thread. Outside
        // the state lock, because cancelling calls into Python, which may hand the GIL to the
        // worker, which then waits for that lock.
        if let Some(cell) = on_loop {
            let _ = cell.cancel(py);
        }
        session.run_interrupt_hooks(py);
        InterruptOutcome::Interrupted
    }

    fn close(&self, py: Python<'_>, session: &Arc<Session>, _reason: CloseReason) {
        session.io.cancel_input(py, InputCancel::Eof);
        self.state().queue.clear();
        self.closed.store(true, Ordering::SeqCst);
        self.stop_private_loop(py);
    }

    fn serves_on_this_thread(&self) -> bool {
        self.is_current_worker()
    }

    fn event_loop<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        if let Some(l) = self.loops.current(py)? {
            return Ok(Some(l));
        }
        Ok(self
            .private_loop
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|p| p.event_loop.bind(py).clone()))
    }
}
