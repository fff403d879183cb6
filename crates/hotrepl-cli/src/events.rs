//! The client's event queue: messages from the kernel, the connection closing, Ctrl-C.
//! Waiting on it is a `poll(2)` on a wake-up pipe (plus, when reading a line for the
//! kernel, the terminal), so the main thread sleeps until something happens: no polling.
//! While the line editor owns the terminal, a *diverter* handles events as they arrive
//! (it prints background output above the prompt) instead of queueing them.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use hotrepl_proto::Message;

pub enum Event {
    Message(Message),
    /// The connection ended; the text says why.
    Closed(String),
    /// Ctrl-C while not editing.
    Interrupt,
}

/// Handles an event while the editor is active; gives it back to queue it instead.
pub type Diverter = Box<dyn FnMut(Event) -> Option<Event> + Send>;

pub struct Events {
    inner: Mutex<Inner>,
    wake_read: OwnedFd,
    wake_write: OwnedFd,
    interrupted: Arc<AtomicBool>,
}

struct Inner {
    items: VecDeque<Event>,
    divert: Option<Diverter>,
}

/// What a wait ended with.
pub enum Woken {
    Event(Event),
    /// The extra fd passed to [`Events::wait`] is readable.
    Readable,
    TimedOut,
}

impl Events {
    pub fn new() -> io::Result<Arc<Events>> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two fds that we then own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both fds were just created and are owned by nobody else.
        let (wake_read, wake_write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let events = Arc::new(Events {
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                divert: None,
            }),
            wake_read,
            wake_write,
            interrupted: Arc::new(AtomicBool::new(false)),
        });
        // Ctrl-C outside the editor: note it and wake the waiter (all async-signal-safe).
        signal_hook::flag::register(libc::SIGINT, events.interrupted.clone())?;
        signal_hook::low_level::pipe::register_raw(libc::SIGINT, events.wake_write.as_raw_fd())?;
        Ok(events)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push(&self, event: Event) {
        let mut inner = self.lock();
        let event = match inner.divert.as_mut() {
            Some(divert) => match divert(event) {
                Some(e) => e,
                None => return,
            },
            None => event,
        };
        inner.items.push_back(event);
        drop(inner);
        self.wake();
    }

    /// Puts an event back at the front (it was taken by a wait that could not use it).
    pub fn push_front(&self, event: Event) {
        self.lock().items.push_front(event);
        self.wake();
    }

    fn wake(&self) {
        let byte = 1u8;
        // SAFETY: writing one byte from a valid buffer; a full pipe (EAGAIN) already means
        // a wake-up is pending, so the result is irrelevant.
        unsafe {
            libc::write(self.wake_write.as_raw_fd(), (&byte as *const u8).cast(), 1);
        }
    }

    /// While set, arriving events go to `divert` first. Queued events stay queued.
    pub fn set_diverter(&self, divert: Option<Diverter>) {
        self.lock().divert = divert;
    }

    /// Forgets a Ctrl-C that happened while the editor had the terminal.
    pub fn clear_interrupt(&self) {
        self.interrupted.store(false, Ordering::SeqCst);
    }

    pub fn try_pop(&self) -> Option<Event> {
        if self.interrupted.swap(false, Ordering::SeqCst) {
            return Some(Event::Interrupt);
        }
        self.lock().items.pop_front()
    }

    /// Sleeps until an event arrives (or `also` becomes readable).
    pub fn wait(&self, also: Option<RawFd>) -> Woken {
        self.wait_until(also, None)
    }

    /// Like `wait`, giving up at `deadline`.
    pub fn wait_until(&self, also: Option<RawFd>, deadline: Option<Instant>) -> Woken {
        loop {
            if let Some(event) = self.try_pop() {
                return Woken::Event(event);
            }
            let mut fds = [
                libc::pollfd {
                    fd: self.wake_read.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: also.unwrap_or(-1),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            let timeout_ms = match deadline {
                None => -1,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    None => return Woken::TimedOut,
                    Some(left) => left.as_millis().min(i32::MAX as u128) as i32 + 1,
                },
            };
            // SAFETY: two valid pollfd structs; a negative fd is ignored by poll.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
            if n < 0 {
                continue; // EINTR: loop and look again
            }
            if fds[0].revents != 0 {
                self.drain_wake_pipe();
            }
            if fds[1].revents != 0 {
                if let Some(event) = self.try_pop() {
                    return Woken::Event(event);
                }
                return Woken::Readable;
            }
        }
    }

    fn drain_wake_pipe(&self) {
        let mut buf = [0u8; 64];
        // SAFETY: reading into a local buffer from our non-blocking pipe.
        while unsafe { libc::read(self.wake_read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
    }
}
