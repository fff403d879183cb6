//! Threads of our own. Those that only move bytes block asynchronous signals, so a signal
//! sent to the host process always lands on one of the host's threads (Linux prefers the
//! main thread anyway; this makes it certain). Threads that run user code keep the normal
//! mask, because processes they spawn inherit it and must stay killable.

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

/// Spawns an I/O thread with asynchronous signals blocked.
pub fn spawn_io<F>(name: &str, f: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    spawn_listed(name, move || {
        block_async_signals();
        f()
    })
}

/// Spawns a thread that will run Python code for a session. Its signal mask is cleared:
/// threads inherit the mask of the thread that starts them (often one of our I/O threads),
/// and a command the user runs from the session inherits it in turn.
pub fn spawn_worker<F>(name: &str, f: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    spawn_listed(name, move || {
        unblock_signals();
        f()
    })
}

fn unblock_signals() {
    // SAFETY: plain libc calls on a locally owned, emptied sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// Our threads while they live: Python's thread ident → (native id, name). Python knows
/// only the threads `threading` started; `%threads` also names ours.
static LISTED: std::sync::Mutex<Vec<(u64, i64, String)>> = std::sync::Mutex::new(Vec::new());

fn spawn_listed<F>(name: &str, f: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let listed_name = name.to_owned();
    std::thread::Builder::new().name(name.to_owned()).spawn(move || {
        // SAFETY: pthread_self and gettid have no preconditions; Python's thread ident is
        // the pthread_t.
        let ident = unsafe { libc::pthread_self() } as u64;
        let native = unsafe { libc::gettid() } as i64;
        LISTED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((ident, native, listed_name));
        struct Unlist(u64);
        impl Drop for Unlist {
            fn drop(&mut self) {
                LISTED
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .retain(|(i, _, _)| *i != self.0);
            }
        }
        let _unlist = Unlist(ident);
        f()
    })
}

/// hotrepl's own threads: `{ident: (native_id, name)}`.
#[pyfunction]
pub fn hotrepl_threads() -> std::collections::HashMap<u64, (i64, String)> {
    LISTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(ident, native, name)| (*ident, (*native, name.clone())))
        .collect()
}

fn block_async_signals() {
    // SAFETY: a plain libc call on a locally owned set.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &async_signals(), std::ptr::null_mut());
    }
}

/// Every signal but the faults, which must still reach their default handlers (core dumps,
/// Python's faulthandler).
fn async_signals() -> libc::sigset_t {
    // SAFETY: plain libc calls on a locally owned sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        for sig in [
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGFPE,
            libc::SIGILL,
            libc::SIGTRAP,
            libc::SIGABRT,
        ] {
            libc::sigdelset(&mut set, sig);
        }
        set
    }
}

/// Runs `f` with asynchronous signals blocked in the calling thread, then restores its mask:
/// threads that `f` starts (a library's own I/O thread) keep them blocked for good.
pub fn with_async_signals_blocked<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: plain libc calls on locally owned sets.
    let mut before: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &async_signals(), &mut before) };
    let result = f();
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &before, std::ptr::null_mut()) };
    result
}

/// Set when the interpreter is about to finalize: our threads must not take the GIL again.
static EXITING: AtomicBool = AtomicBool::new(false);
/// How many of our threads are attached to the interpreter right now.
static ATTACHED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

/// Stops the calling thread for good.
pub(crate) fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// Runs `f` attached to the interpreter, on one of our threads. Once the interpreter is
/// exiting the thread never attaches again: it parks for good instead. (On Python 3.13 and
/// older CPython ends a thread that wants the GIL back during finalization with a forced
/// unwind, which through Rust frames aborts the process.)
pub fn with_python<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    let outer = COUNTED.with(|c| c.replace(true));
    if !outer {
        // Not attached yet: this is where a thread must stop once exit has begun. (Nested,
        // it already holds the interpreter and parking would keep it from everyone.)
        if EXITING.load(Ordering::SeqCst) {
            park_forever();
        }
        ATTACHED.fetch_add(1, Ordering::SeqCst);
    }
    let result = Python::try_attach(f);
    if !outer {
        ATTACHED.fetch_sub(1, Ordering::SeqCst);
        COUNTED.with(|c| c.set(false));
    }
    result
}

/// `py.detach(f)` for our threads: while detached the thread does not count as attached,
/// and if the interpreter began exiting meanwhile it parks instead of attaching again.
pub fn without_python<T, F>(py: Python<'_>, f: F) -> T
where
    F: Send + FnOnce() -> T,
    T: Send,
{
    let counted = COUNTED.with(|c| c.replace(false));
    if counted {
        ATTACHED.fetch_sub(1, Ordering::SeqCst);
    }
    let result = py.detach(|| {
        let result = f();
        if counted && EXITING.load(Ordering::SeqCst) {
            park_forever();
        }
        result
    });
    if counted {
        ATTACHED.fetch_add(1, Ordering::SeqCst);
        COUNTED.with(|c| c.set(true));
    }
    result
}

/// Called just before the interpreter finalizes: from now on our threads stay away from it,
/// and those attached now get a moment to let go. A thread stuck in a cell's code does not
/// hold up the exit: `unwind` keeps it from crashing the process.
pub fn before_interpreter_exit(py: Python<'_>) {
    EXITING.store(true, Ordering::SeqCst);
    py.detach(|| {
        let deadline = Instant::now() + EXIT_GRACE;
        while ATTACHED.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// How long exit waits for our threads to let go of the interpreter.
const EXIT_GRACE: Duration = Duration::from_millis(200);
