//! Ends the process when its terminal goes away. The line editor's terminal library keeps
//! reading a hung-up terminal (every read returns at once with nothing) and never reports
//! it, so a prompt left open in a closed window would spin on a core forever. SIGHUP does
//! not always come: only the terminal's foreground process group gets it.

use std::io;

/// Watches standard input, a terminal, from a thread of its own that sleeps in `poll` until
/// the terminal hangs up; then the process ends as if by SIGHUP.
pub fn watch_terminal() -> io::Result<()> {
    std::thread::Builder::new().name("hangup-watch".into()).spawn(|| {
        // No events asked for: poll still reports a hang-up (or an error), and nothing else.
        let mut fd = libc::pollfd {
            fd: libc::STDIN_FILENO,
            events: 0,
            revents: 0,
        };
        loop {
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut fd, 1, -1) };
            if n > 0 && fd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                break;
            }
            if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return;
            }
        }
        // SAFETY: restoring the default action and raising a signal have no memory effects.
        unsafe {
            libc::signal(libc::SIGHUP, libc::SIG_DFL);
            libc::raise(libc::SIGHUP);
        }
    })?;
    Ok(())
}
