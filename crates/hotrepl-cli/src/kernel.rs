//! Starting the local REPL's kernel: a Python child running `hotrepl._native.serve_local`
//! on one end of a socket pair. The child keeps the terminal as its stdin/stdout/stderr and
//! stays in our process group, so programs it runs can use the terminal and Ctrl-C reaches
//! it as a real SIGINT.

use std::ffi::OsString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};

use crate::python;

/// The fd number the kernel finds its end of the socket pair on.
const KERNEL_FD: i32 = 3;

pub struct Kernel {
    pub child: Child,
    pub stream: UnixStream,
}

pub fn spawn(python: Option<&Path>) -> io::Result<Kernel> {
    let python = python::interpreter(python);
    let (ours, theirs) = UnixStream::pair()?;
    let theirs_fd = theirs.as_raw_fd();
    let serve =
        format!("__import__('sys').exit(__import__('hotrepl._native', fromlist=['_']).serve_local({KERNEL_FD}))\n");
    let mut command = Command::new(&python);
    command.arg("-c").arg(OsString::from(python::program(&serve)));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if theirs_fd == KERNEL_FD {
                let flags = libc::fcntl(KERNEL_FD, libc::F_GETFD);
                libc::fcntl(KERNEL_FD, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
            } else if libc::dup2(theirs_fd, KERNEL_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            // If the client dies without a word, the kernel goes too.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let child = command
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot start {}: {e}", python.display())))?;
    drop(theirs);
    Ok(Kernel { child, stream: ours })
}
