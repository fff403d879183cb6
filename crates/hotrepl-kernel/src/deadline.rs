//! Giving up on the user's code when it takes too long, on the thread it runs in. Inspection
//! and listings call `__repr__` and `__len__` of whatever objects they meet; one that loops
//! for ever must not take the session with it. A single watchdog thread sleeps until the
//! earliest deadline (it never polls) and, when one passes, raises an exception into the
//! thread that is still at it, between two of its bytecodes.

use std::os::raw::c_ulong;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyBaseException;
use pyo3::ffi;
use pyo3::prelude::*;

use crate::threads;

// A BaseException, so that `except Exception` in the code being stopped lets it through.
pyo3::create_exception!(
    hotrepl,
    TookTooLong,
    PyBaseException,
    "Raised into code that hotrepl gave up waiting for."
);

struct Armed {
    token: u64,
    deadline: Instant,
    thread: c_ulong,
    fired: bool,
}

struct Watchdog {
    armed: Mutex<Vec<Armed>>,
    changed: Condvar,
}

static WATCHDOG: OnceLock<Option<Arc<Watchdog>>> = OnceLock::new();
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

fn watchdog() -> Option<&'static Arc<Watchdog>> {
    WATCHDOG
        .get_or_init(|| {
            let dog = Arc::new(Watchdog {
                armed: Mutex::new(Vec::new()),
                changed: Condvar::new(),
            });
            let running = dog.clone();
            threads::spawn_io("hotrepl-deadline", move || running.run()).ok()?;
            Some(dog)
        })
        .as_ref()
}

impl Watchdog {
    fn run(&self) {
        let mut armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            for entry in armed.iter_mut().filter(|a| !a.fired && a.deadline <= now) {
                entry.fired = true;
                due.push(entry.thread);
            }
            if !due.is_empty() {
                drop(armed);
                threads::with_python(|py| {
                    let exc = py.get_type::<TookTooLong>();
                    for thread in due {
                        // SAFETY: GIL held; raises in that thread only, at its next bytecode.
                        unsafe {
                            ffi::PyThreadState_SetAsyncExc(thread as _, exc.as_ptr());
                        }
                    }
                });
                armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
                continue;
            }
            let next = armed.iter().filter(|a| !a.fired).map(|a| a.deadline).min();
            armed = match next {
                Some(deadline) => {
                    let wait = deadline.saturating_duration_since(Instant::now());
                    self.changed
                        .wait_timeout(armed, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.changed.wait(armed).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }
}

/// Runs `f`, giving up after `limit`: Err(()) if it was stopped for taking too long. A call
/// stuck in C code is only stopped once it returns to Python.
pub fn within<T>(py: Python<'_>, limit: Duration, f: impl FnOnce() -> PyResult<T>) -> Result<PyResult<T>, ()> {
    let Some(dog) = watchdog() else {
        return Ok(f());
    };
    let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
    // SAFETY: PyThread_get_thread_ident has no preconditions.
    let thread = unsafe { ffi::PyThread_get_thread_ident() };
    dog.armed.lock().unwrap_or_else(|e| e.into_inner()).push(Armed {
        token,
        deadline: Instant::now() + limit,
        thread,
        fired: false,
    });
    dog.changed.notify_all();
    let result = f();
    let fired = {
        let mut armed = dog.armed.lock().unwrap_or_else(|e| e.into_inner());
        let i = armed.iter().position(|a| a.token == token);
        i.map(|i| armed.swap_remove(i).fired).unwrap_or(false)
    };
    if !fired {
        return Ok(result);
    }
    match result {
        Err(e) if e.is_instance_of::<TookTooLong>(py) => Err(()),
        other => {
            // It finished just as the deadline passed: the exception meant for it may still
            // be pending, and must not land in whatever runs next.
            // SAFETY: clears this thread's pending asynchronous exception; GIL held.
            unsafe {
                ffi::PyThreadState_SetAsyncExc(thread as _, std::ptr::null_mut());
            }
            Ok(other)
        }
    }
}

/// How long user code called by inspection may take.
pub const USER_CODE_LIMIT: Duration = Duration::from_secs(1);
