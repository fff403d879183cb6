//! Answering the kernel's `input_request` (from `input()`, `sys.stdin.readline()`, pdb...):
//! one line read from the terminal in its normal (cooked) mode, without echo for
//! passwords. The read waits on the terminal and the event queue together, so the kernel
//! moving on (or going away) ends it.

use std::os::fd::RawFd;

use hotrepl_proto::InputCancel;

use crate::events::{Event, Events, Woken};

const STDIN: RawFd = 0;

pub enum Answer {
    Line(String),
    Cancelled(InputCancel),
    /// Something else happened first (the event is back in the queue): send no answer.
    Superseded,
}

/// Reads one line. `interrupt_cancels`: Ctrl-C answers the request as cancelled (a remote
/// kernel); otherwise the kernel got the SIGINT itself (local) and will move on.
pub fn read_line(events: &Events, password: bool, interrupt_cancels: bool) -> Answer {
    let _echo = password.then(EchoOff::new);
    let mut line = Vec::new();
    loop {
        match events.wait(Some(STDIN)) {
            Woken::Readable => {
                let mut buf = [0u8; 4096];
                // SAFETY: reading into a local buffer.
                let n = unsafe { libc::read(STDIN, buf.as_mut_ptr().cast(), buf.len()) };
                if n < 0 {
                    continue;
                }
                if n == 0 {
                    if password {
                        println!();
                    }
                    return Answer::Cancelled(InputCancel::Eof);
                }
                line.extend_from_slice(&buf[..n as usize]);
                if line.ends_with(b"\n") {
                    line.pop();
                    if password {
                        println!();
                    }
                    return Answer::Line(String::from_utf8_lossy(&line).into_owned());
                }
            }
            Woken::TimedOut => {}
            Woken::Event(Event::Interrupt) if interrupt_cancels => return Answer::Cancelled(InputCancel::Interrupt),
            Woken::Event(Event::Interrupt) => {}
            Woken::Event(other) => {
                events.push_front(other);
                return Answer::Superseded;
            }
        }
    }
}

/// Turns terminal echo off for its lifetime.
struct EchoOff {
    saved: Option<libc::termios>,
}

impl EchoOff {
    fn new() -> EchoOff {
        // SAFETY: tcgetattr/tcsetattr on stdin with a zeroed termios it fills.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(STDIN, &mut t) != 0 {
                return EchoOff { saved: None };
            }
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            libc::tcsetattr(STDIN, libc::TCSANOW, &t);
            EchoOff { saved: Some(saved) }
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = self.saved {
            // SAFETY: restoring the settings read in `new`.
            unsafe {
                libc::tcsetattr(STDIN, libc::TCSANOW, &saved);
            }
        }
    }
}
