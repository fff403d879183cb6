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

use hotrepl_proto::{ExecuteRequest, Header, InputCancel};
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyTuple};
use pyo3::PyTypeInfo;

use super::host_loop::LoopSource;
use super::watcher;
use crate::cell::Step;
use crate::connection::Connection;
use crate::ops::execute::{self, Execution, Outcome};
use crate::output;
use crate::session::{CloseReason, Executor, InterruptOutcome, Session};
use crate::threads;

pub struct AttachedExecutor {
    /// Callbacks and the replacement worker need owning handles.
    me: Weak<AttachedExecutor>,
    conn: OnceLock<Weak<Connection>>,
    loops: Arc<LoopSource>,
    state: Mutex<State>,
    /// Bumped when a stuck cell is abandoned; a worker thread serves only while its own
    /// generation is the current one.
    generation: AtomicU64,
    /// Cleared to cut the current worker thread off from the session (see `abandon`).
    worker_alive: Mutex<Option<Arc<AtomicBool>>>,
    private_loop: Mutex<Option<PrivateLoop>>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<(Header, ExecuteRequest)>,
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
    /// Waiting for a task on an event loop; None until the task exists.
    Awaiting {
        event_loop: Py<PyAny>,
        task: Option<Py<PyAny>>,
        completion: Arc<Completion>,
    },
    /// Between pieces, in hotrepl's own code.
    Between,
}

/// Where a task's outcome is handed to the waiting worker.
struct Completion {
    result: Mutex<Option<PyResult<Py<PyAny>>>>,
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

    fn complete(&self, result: PyResult<Py<PyAny>>) {
        *self.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        self.done.notify_all();
    }

    fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
        let _guard = self.result.lock().unwrap_or_else(|e| e.into_inner());
        self.done.notify_all();
    }

    /// Blocks (call it without the GIL) until the outcome is in; None if abandoned.
    fn wait(&self) -> Option<PyResult<Py<PyAny>>> {
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
            conn: OnceLock::new(),
            loops,
            state: Mutex::new(State::default()),
            generation: AtomicU64::new(1),
            worker_alive: Mutex::new(None),
            private_loop: Mutex::new(None),
        })
    }

    /// Ties the executor to its connection (made after the session it belongs to).
    pub fn set_connection(&self, conn: &Arc<Connection>) {
        let _ = self.conn.set(Arc::downgrade(conn));
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

    fn connection(&self) -> Option<Arc<Connection>> {
        self.conn.get().and_then(Weak::upgrade)
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
            let Some((header, request)) = job else { return };
            self.run_cell(py, session, header, request);
            if !self.is_current_worker() || self.connection().is_some_and(|c| c.ended().is_some()) {
                return;
            }
        }
    }

    fn run_cell(&self, py: Python<'_>, session: &Arc<Session>, header: Header, request: ExecuteRequest) {
        let (execution, run) = execute::begin(py, session, header, &request);
        let Some(mut run) = run else { return };
        let abandoned = Arc::new(AtomicBool::new(false));
        self.state().running = Some(Running {
            execution,
            // SAFETY: PyThread_get_thread_ident has no preconditions.
            thread: unsafe { ffi::PyThread_get_thread_ident() },
            phase: Phase::Between,
            interrupts: 0,
            abandoned: abandoned.clone(),
        });
        let conn = self.connection();
        if let Some(conn) = &conn {
            // Until the cell ends, the watcher reads this client.
            let _ = watcher::watch(conn);
        }

        let mut step = self.plain(py, |py| run.start(py));
        let result = loop {
            match step {
                Step::Done(result) => break result,
                Step::Await(coro) => {
                    let outcome = match self.await_task(py, coro) {
                        Some(outcome) => outcome,
                        None => return, // abandoned while waiting
                    };
                    if abandoned.load(Ordering::SeqCst) {
                        return;
                    }
                    step = self.plain(py, |py| run.resume(py, outcome));
                }
            }
        };

        if let Some(conn) = &conn {
            watcher::unwatch(conn);
        }
        if abandoned.load(Ordering::SeqCst) {
            return;
        }
        let Some(running) = self.state().running.take() else {
            return;
        };
        let outcome = match result {
            Ok(value) => Outcome::Value(value),
            Err(e) if running.interrupts > 0 && is_cancelled(py, &e) => Outcome::Interrupted,
            Err(e) => Outcome::Raised(e),
        };
        if execute::finish(py, session, &running.execution, outcome).is_some() {
            // SystemExit ends this client's session, never the program.
            if let Some(conn) = &conn {
                conn.end(py, CloseReason::Shutdown);
            }
        }
    }

    /// Runs a piece of plain code in this thread, interruptible by KeyboardInterrupt.
    fn plain(&self, py: Python<'_>, f: impl FnOnce(Python<'_>) -> Step) -> Step {
        let interrupts_before = self.set_phase(Phase::Plain);
        let step = f(py);
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
        step
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

    /// Runs `coro` as a task on the right loop and waits for it, without the GIL. None if
    /// the cell was abandoned meanwhile.
    fn await_task(&self, py: Python<'_>, coro: Py<PyAny>) -> Option<PyResult<Py<PyAny>>> {
        let event_loop = match self.loop_for_cell(py) {
            Ok(l) => l,
            Err(e) => return Some(Err(e)),
        };
        let completion = Completion::new();
        self.set_phase(Phase::Awaiting {
            event_loop: event_loop.clone_ref(py),
            task: None,
            completion: completion.clone(),
        });
        let me = self.me.clone();
        let done = completion.clone();
        let start = PyCFunction::new_closure(
            py,
            None,
            None,
            move |args: &Bound<'_, PyTuple>, _kw: Option<&Bound<'_, PyDict>>| {
                let py = args.py();
                let Some(me) = me.upgrade() else { return };
                if let Err(e) = me.start_task(py, coro.clone_ref(py), &done) {
                    done.complete(Err(e));
                }
            },
        );
        // call_soon_threadsafe copies this thread's context into the callback, and the task
        // copies it from there: the cell's tasks keep printing to this session.
        let scheduled = start.and_then(|cb| event_loop.bind(py).call_method1("call_soon_threadsafe", (cb,)));
        if let Err(e) = scheduled {
            return Some(Err(e));
        }
        py.detach(|| completion.wait())
    }

    /// On the event loop's thread: creates the cell's task (cancelled at once if an
    /// interrupt came first) and arranges for its outcome to reach the worker.
    fn start_task(&self, py: Python<'_>, coro: Py<PyAny>, completion: &Arc<Completion>) -> PyResult<()> {
        let task = py_attr_create_task(py, &coro)?;
        let cancel_now = {
            let mut st = self.state();
            match st.running.as_mut() {
                Some(Running {
                    phase: Phase::Awaiting { task: slot, .. },
                    interrupts,
                    ..
                }) => {
                    *slot = Some(task.clone().unbind());
                    *interrupts > 0
                }
                _ => true,
            }
        };
        let done = completion.clone();
        let callback = PyCFunction::new_closure(
            py,
            None,
            None,
            move |args: &Bound<'_, PyTuple>, _kw: Option<&Bound<'_, PyDict>>| {
                let result = args
                    .get_item(0)
                    .and_then(|task| task.call_method0("result"))
                    .map(Bound::unbind);
                done.complete(result);
            },
        )?;
        task.call_method1("add_done_callback", (callback,))?;
        if cancel_now {
            task.call_method0("cancel")?;
        }
        Ok(())
    }

    fn loop_for_cell(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if let Some(l) = self.loops.current(py)? {
            return Ok(l.unbind());
        }
        let mut private = self.private_loop.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = private.as_ref() {
            return Ok(p.event_loop.clone_ref(py));
        }
        let p = PrivateLoop::start(py)?;
        let l = p.event_loop.clone_ref(py);
        *private = Some(p);
        Ok(l)
    }

    /// Gives up on the running cell: answers it as abandoned, lets its thread finish on
    /// its own (output dropped), and starts a new worker for the session.
    fn abandon(&self, py: Python<'_>, session: &Arc<Session>) -> InterruptOutcome {
        let Some(running) = self.state().running.take() else {
            return InterruptOutcome::NothingRunning;
        };
        running.abandoned.store(true, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Phase::Awaiting { completion, .. } = &running.phase {
            completion.abandon();
        }
        session.io.cancel_input(py, InputCancel::Eof);
        if let Some(alive) = self.worker_alive.lock().unwrap_or_else(|e| e.into_inner()).take() {
            alive.store(false, Ordering::Release);
        }
        execute::finish(py, session, &running.execution, Outcome::Abandoned);
        let Some(conn) = self.connection() else {
            return InterruptOutcome::Abandoned;
        };
        watcher::unwatch(&conn);
        let Some(me) = self.me.upgrade() else {
            return InterruptOutcome::Abandoned;
        };
        let started = threads::spawn_worker("hotrepl-session", move || {
            let Some(session) =
                Python::try_attach(|py| me.become_worker(py, &conn.session).map(|_| conn.session.clone()).ok())
                    .flatten()
            else {
                return;
            };
            drop(session);
            crate::server::finish_session(&conn, conn.serve());
        });
        if started.is_err() {
            if let Some(conn) = self.connection() {
                conn.end(py, CloseReason::ClientGone);
            }
        }
        InterruptOutcome::Abandoned
    }
}

fn py_attr_create_task<'py>(py: Python<'py>, coro: &Py<PyAny>) -> PyResult<Bound<'py, PyAny>> {
    crate::pycache::py_attr!(py, "asyncio", "ensure_future")?.call1((coro.bind(py),))
}

fn is_cancelled(py: Python<'_>, err: &PyErr) -> bool {
    crate::pycache::py_attr!(py, "asyncio", "CancelledError")
        .map(|cls| err.matches(py, cls).unwrap_or(false))
        .unwrap_or(false)
}

impl PrivateLoop {
    fn start(py: Python<'_>) -> PyResult<PrivateLoop> {
        let event_loop = py.import("asyncio")?.call_method0("new_event_loop")?.unbind();
        let running = event_loop.clone_ref(py);
        let ready = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = ready.clone();
        threads::spawn_worker("hotrepl-loop", move || {
            Python::try_attach(|py| {
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
        py.detach(|| {
            let mut started = ready.0.lock().unwrap_or_else(|e| e.into_inner());
            while !*started {
                started = ready.1.wait(started).unwrap_or_else(|e| e.into_inner());
            }
        });
        Ok(PrivateLoop { event_loop })
    }

    fn stop(&self, py: Python<'_>) {
        let l = self.event_loop.bind(py);
        if let Ok(stop) = l.getattr("stop") {
            let _ = l.call_method1("call_soon_threadsafe", (stop,));
        }
    }
}

impl Executor for AttachedExecutor {
    fn submit(&self, py: Python<'_>, session: &Arc<Session>, header: Header, request: ExecuteRequest) {
        self.state().queue.push_back((header, request));
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
        let mut st = self.state();
        let Some(running) = st.running.as_mut() else {
            return InterruptOutcome::NothingRunning;
        };
        running.interrupts += 1;
        let to_cancel = match &running.phase {
            Phase::Plain => {
                let exc = PyKeyboardInterrupt::type_object(py);
                // SAFETY: GIL held; raises KeyboardInterrupt in the worker thread only, at
                // its next bytecode. `plain` clears it if the piece ends first.
                unsafe {
                    ffi::PyThreadState_SetAsyncExc(running.thread as _, exc.as_ptr());
                }
                None
            }
            Phase::Awaiting {
                event_loop,
                task: Some(task),
                ..
            } => Some((event_loop.clone_ref(py), task.clone_ref(py))),
            // The task is not created yet; `start_task` sees the interrupt and cancels it.
            Phase::Awaiting { task: None, .. } => None,
            // In hotrepl's own code between pieces: nothing to interrupt there. The user can
            // press Ctrl-C again once the next piece runs.
            Phase::Between => None,
        };
        // Not under the state lock: call_soon_threadsafe lets go of the GIL (to wake the
        // loop), and the worker, holding the GIL, may be waiting for that lock.
        drop(st);
        if let Some((event_loop, task)) = to_cancel {
            if let Ok(cancel) = task.bind(py).getattr("cancel") {
                let _ = event_loop.bind(py).call_method1("call_soon_threadsafe", (cancel,));
            }
        }
        InterruptOutcome::Interrupted
    }

    fn close(&self, py: Python<'_>, session: &Arc<Session>, _reason: CloseReason) {
        session.io.cancel_input(py, InputCancel::Eof);
        self.state().queue.clear();
        if let Some(p) = self.private_loop.lock().unwrap_or_else(|e| e.into_inner()).take() {
            p.stop(py);
        }
    }

    fn serves_on_this_thread(&self) -> bool {
        self.is_current_worker()
    }
}
