//! Requests handed over by a transport that reads them on a thread of its own (ZeroMQ's),
//! read like a connection: blocking by the session's thread between cells, and by the
//! watcher while a cell runs. The watcher waits on the queue's eventfd, which is readable
//! while something is queued; nobody ever polls it.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard};

use crate::connection::Incoming;

pub struct Handoff {
    queue: Mutex<Queue>,
    /// Counts pushes; reading it resets it.
    event: OwnedFd,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Incoming>,
    closed: bool,
}

impl Handoff {
    pub fn new() -> io::Result<Handoff> {
        // SAFETY: eventfd returns a new fd that we own, or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Handoff {
            queue: Mutex::new(Queue::default()),
            // SAFETY: fd was just created and is owned by nobody else.
            event: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub fn fd(&self) -> RawFd {
        self.event.as_raw_fd()
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues what the transport read (from its thread).
    pub fn push(&self, item: Incoming) {
        {
            let mut q = self.lock();
            if q.closed {
                return;
            }
            q.items.push_back(item);
        }
        self.signal();
    }

    /// No more requests will come: the reader gets `End` once it has read the rest.
    pub fn close(&self) {
        self.lock().closed = true;
        self.signal();
    }

    fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writing 8 bytes from a local to our eventfd. It can only fail when the
        // counter is about to overflow, which a reader's next read prevents.
        unsafe {
            libc::write(self.fd(), (&one as *const u64).cast(), 8);
        }
    }

    /// Resets the eventfd. Done before taking items, so that a push after the take is
    /// signalled again.
    fn take_signal(&self) {
        let mut count: u64 = 0;
        // SAFETY: reading 8 bytes into a local from our non-blocking eventfd.
        unsafe {
            libc::read(self.fd(), (&mut count as *mut u64).cast(), 8);
        }
    }

    /// Blocks until something is queued; `End` once closed and empty.
    pub fn read_blocking(&self) -> Incoming {
        loop {
            self.take_signal();
            {
                let mut q = self.lock();
                if let Some(item) = q.items.pop_front() {
                    if !q.items.is_empty() {
                        drop(q);
                        // The rest is still there: the next read (or the watcher) must see it.
                        self.signal();
                    }
                    return item;
                }
                if q.closed {
                    return Incoming::End;
                }
            }
            let mut pollfd = libc::pollfd {
                fd: self.fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd; blocks until the eventfd is readable.
            unsafe {
                libc::poll(&mut pollfd, 1, -1);
            }
        }
    }

    /// Everything queued, without blocking; `End` last once closed.
    pub fn read_ready(&self) -> Vec<Incoming> {
        self.take_signal();
        let mut q = self.lock();
        let mut out: Vec<Incoming> = q.items.drain(..).collect();
        if q.closed {
            out.push(Incoming::End);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn notice(text: &str) -> Incoming {
        Incoming::Notice(text.into())
    }

    fn readable(fd: RawFd) -> bool {
        let mut pollfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no waiting.
        unsafe { libc::poll(&mut pollfd, 1, 0) == 1 }
    }

    #[test]
    fn items_come_out_in_order_and_the_fd_says_when_there_are_any() {
        let handoff = Handoff::new().unwrap();
        assert!(!readable(handoff.fd()));
        handoff.push(notice("a"));
        handoff.push(notice("b"));
        assert!(readable(handoff.fd()));
        assert!(matches!(handoff.read_blocking(), Incoming::Notice(t) if t == "a"));
        // One is left: still readable, for whoever reads next.
        assert!(readable(handoff.fd()));
        let rest = handoff.read_ready();
        assert!(matches!(rest.as_slice(), [Incoming::Notice(t)] if t == "b"));
        assert!(!readable(handoff.fd()));
    }

    #[test]
    fn a_blocked_reader_wakes_for_a_push_and_for_the_end() {
        let handoff = Arc::new(Handoff::new().unwrap());
        let pushing = handoff.clone();
        let pusher = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            pushing.push(notice("late"));
            std::thread::sleep(Duration::from_millis(20));
            pushing.close();
        });
        assert!(matches!(handoff.read_blocking(), Incoming::Notice(t) if t == "late"));
        assert!(matches!(handoff.read_blocking(), Incoming::End));
        pusher.join().unwrap();
        handoff.push(notice("after the end"));
        assert!(matches!(handoff.read_ready().as_slice(), [Incoming::End]));
    }
}
