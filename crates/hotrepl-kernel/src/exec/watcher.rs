//! The watcher: one thread per process that reads the connections of sessions whose own
//! thread is busy running a cell. A session registers its socket when a cell starts and
//! takes it back when the cell ends (two `epoll_ctl` calls, no thread wake-ups), so a quick
//! cell costs nothing extra while a long one can still be interrupted, answer `input()`,
//! complete names, or notice its client leaving. The thread sleeps in `epoll_wait` when
//! nothing happens: it never polls.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex, Weak};

use crate::connection::Connection;
use crate::threads;

pub struct Watcher {
    epoll: OwnedFd,
    /// The process that made it: a forked child must not share its parent's epoll set.
    pid: u32,
    watched: Mutex<HashMap<u64, Weak<Connection>>>,
}

static WATCHER: Mutex<Option<Arc<Watcher>>> = Mutex::new(None);

/// The process's watcher, started on first use (and again in a forked child).
fn watcher() -> io::Result<Arc<Watcher>> {
    let mut slot = WATCHER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(w) = slot.as_ref().filter(|w| w.pid == std::process::id()) {
        return Ok(w.clone());
    }
    // SAFETY: epoll_create1 returns a new fd that we own, or -1.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just created and is owned by nobody else.
    let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
    let w = Arc::new(Watcher {
        epoll,
        pid: std::process::id(),
        watched: Mutex::new(HashMap::new()),
    });
    let running = w.clone();
    threads::spawn_io("hotrepl-watcher", move || running.run())?;
    *slot = Some(w.clone());
    Ok(w)
}

fn ctl(epoll: &OwnedFd, op: i32, conn: &Connection) -> io::Result<()> {
    let mut event = libc::epoll_event {
        // One-shot: after an event the fd stays quiet until re-armed, so a connection the
        // watcher must leave alone can never make it spin.
        events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32,
        u64: conn.key,
    };
    // SAFETY: a valid epoll fd and event struct; the socket fd is owned by the connection.
    if unsafe { libc::epoll_ctl(epoll.as_raw_fd(), op, conn.fd, &mut event) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Hands `conn` to the watcher while its session's thread runs a cell.
pub fn watch(conn: &Arc<Connection>) -> io::Result<()> {
    let w = watcher()?;
    w.watched
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(conn.key, Arc::downgrade(conn));
    ctl(&w.epoll, libc::EPOLL_CTL_ADD, conn)
}

/// Takes `conn` back: its session's thread reads it again.
pub fn unwatch(conn: &Connection) {
    let Ok(w) = watcher() else { return };
    w.watched.lock().unwrap_or_else(|e| e.into_inner()).remove(&conn.key);
    let _ = ctl(&w.epoll, libc::EPOLL_CTL_DEL, conn);
}

impl Watcher {
    fn run(&self) {
        threads::with_python(|py| {
            let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 64];
            loop {
                let epoll = self.epoll.as_raw_fd();
                let n = threads::without_python(py, || {
                    // SAFETY: `events` has room for 64 entries.
                    unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, -1) }
                });
                if n < 0 {
                    if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    return;
                }
                for event in &events[..n as usize] {
                    let key = event.u64;
                    let conn = self
                        .watched
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(&key)
                        .and_then(Weak::upgrade);
                    let Some(conn) = conn else { continue };
                    if conn.on_ready(py) {
                        // Still watched (the cell goes on)? Listen again. If the session's
                        // thread took the socket back meanwhile, this fails harmlessly.
                        if self
                            .watched
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .contains_key(&key)
                        {
                            let _ = ctl(&self.epoll, libc::EPOLL_CTL_MOD, &conn);
                        }
                    }
                }
            }
        });
    }
}
