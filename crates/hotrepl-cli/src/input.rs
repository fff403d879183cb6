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
                // One byte at a time: from a pipe, more than the line may be waiting, and
                // the rest belongs to the next input().
                let mut byte = 0u8;
                // SAFETY: reading one byte into a local.
                let n = unsafe { libc::read(STDIN, (&mut byte as *mut u8).cast(), 1) };
                if n < 0 {
                    continue;
                }
                // The end of input ends a last line without a newline, as for Python's
                // input(); with nothing read, it cancels.
                let answer = if n == 0 && line.is_empty() {
                    Answer::Cancelled(InputCancel::Eof)
                } else if n == 0 || byte == b'\n' {
                    Answer::Line(String::from_utf8_lossy(&line).into_owned())
                } else {
                    line.push(byte);
                    continue;
                };
                // The newline the user typed was not echoed.
                if password {
                    println!();
                }
                return answer;
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
