//! Asking the terminal something: a query written to stdout, its answer read from stdin,
//! with the terminal out of line mode and echo meanwhile, for a short time at most. What
//! comes back may hold keys the user typed meanwhile too; the caller picks the answer out
//! and keeps the keys for the prompt (see [`crate::typeahead::keep`]).

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// Writes `query` and reads until `answered` says the bytes read hold the answer, or
/// `timeout`; returns the bytes read. Nothing is asked when stdin is not a terminal.
pub fn ask(query: &[u8], answered: impl Fn(&[u8]) -> bool, timeout: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let Some(_raw) = Raw::enter(libc::STDIN_FILENO) else {
        return got;
    };
    if !write_all(libc::STDOUT_FILENO, query) {
        return got;
    }
    let deadline = Instant::now() + timeout;
    while !answered(&got) {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        let mut fd = libc::pollfd {
            fd: libc::STDIN_FILENO,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut fd, 1, left.as_millis() as i32 + 1) };
        if n <= 0 {
            continue; // timed out (the loop ends) or EINTR
        }
        let mut buf = [0u8; 256];
        // SAFETY: reading into a local buffer.
        let read = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
        if read <= 0 {
            break;
        }
        got.extend_from_slice(&buf[..read as usize]);
    }
    got
}

fn write_all(fd: RawFd, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        // SAFETY: writing from a valid slice.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return false;
        }
        bytes = &bytes[n as usize..];
    }
    true
}

/// The terminal without line editing or echo, restored on drop.
struct Raw {
    fd: RawFd,
    saved: libc::termios,
}

impl Raw {
    fn enter(fd: RawFd) -> Option<Raw> {
        // SAFETY: tcgetattr/tcsetattr on a terminal fd with a termios it fills.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) != 0 {
                return None;
            }
            let saved = t;
            t.c_lflag &= !(libc::ICANON | libc::ECHO);
            t.c_cc[libc::VMIN] = 0;
            t.c_cc[libc::VTIME] = 0;
            if libc::tcsetattr(fd, libc::TCSANOW, &t) != 0 {
                return None;
            }
            Some(Raw { fd, saved })
        }
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        // SAFETY: restoring the settings read in `enter`.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
        }
    }
}
