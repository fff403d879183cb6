//! Threads of our own. Those that only move bytes block asynchronous signals, so a signal
//! sent to the host process always lands on one of the host's threads (Linux prefers the
//! main thread anyway; this makes it certain). Threads that run user code keep the normal
//! mask, because processes they spawn inherit it and must stay killable.

use std::io;
use std::thread::JoinHandle;

/// Spawns an I/O thread with asynchronous signals blocked.
pub fn spawn_io<F>(name: &str, f: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    std::thread::Builder::new().name(name.to_owned()).spawn(move || {
        block_async_signals();
        f()
    })
}

/// Spawns a thread that will run Python code for a session.
pub fn spawn_worker<F>(name: &str, f: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    std::thread::Builder::new().name(name.to_owned()).spawn(f)
}

fn block_async_signals() {
    // SAFETY: plain libc calls on a locally owned sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        // Faults must still reach their default handlers (core dumps, Python's faulthandler).
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
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}
