//! `hotrepl.embed()` and `await hotrepl.embed_async()`: a REPL on the current terminal, at
//! this point of the program, in a namespace made of the caller's variables. The prompt is
//! the `hotrepl` client run as a child (`hotrepl attach fd:3`) talking to a session of this
//! process over a socket pair: the same client and session code as a remote attach.
//!
//! While it runs the client owns the terminal: it is made the terminal's foreground
//! process group, so Ctrl-C reaches it (and becomes an interrupt of the running cell)
//! instead of the program. The program gets the terminal back when the client exits.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};

use hotrepl_proto::HeaderSource;
use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::attach;
use crate::connection::{self, Requests};
use crate::exec::host_loop::LoopSource;
use crate::ops::kernel_info;
use crate::outbox::{Encoding, Outbox, StreamWire};
use crate::reader::RequestReader;
use crate::session::Namespace;
use crate::threads;
use hotrepl_proto::socket::Socket;

/// The descriptor the client finds its end of the socket pair on.
const CLIENT_FD: i32 = 3;
const STDIN: i32 = 0;

/// A running embedded REPL.
#[pyclass(module = "hotrepl._native", frozen)]
pub struct Embedded {
    child: Mutex<Option<Child>>,
    /// The program's process group, to hand the terminal back to.
    foreground: Option<libc::pid_t>,
}

/// Starts the client on this terminal and a session for it in `namespace`. Cells that await
/// run on `event_loop` (the caller's, for `embed_async`), else on a private loop.
#[pyfunction]
#[pyo3(signature = (globals, locals, event_loop=None))]
pub fn embed_start(
    py: Python<'_>,
    globals: Bound<'_, PyDict>,
    locals: Option<Bound<'_, PyDict>>,
    event_loop: Option<Bound<'_, PyAny>>,
) -> PyResult<Embedded> {
    kernel_info::init(py)?;
    // The session's thread winds down (and logs its end) after the client exits, while the
    // program may already be exiting: the exit hook keeps it off the finalizing interpreter,
    // which would otherwise end it mid-call and abort the process.
    crate::server::register_process_hooks(py)?;
    let client = client_binary(py)?;
    let (ours, theirs) = UnixStream::pair().map_err(|e| PyOSError::new_err(e.to_string()))?;
    let foreground = terminal_foreground();
    let theirs_fd = theirs.as_raw_fd();
    let mut command = Command::new(&client);
    command.args(["attach", &format!("fd:{CLIENT_FD}")]);
    let own_terminal = foreground.is_some();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(theirs_fd, CLIENT_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            if own_terminal {
                take_terminal();
            }
            Ok(())
        });
    }
    let child = command
        .spawn()
        .map_err(|e| PyOSError::new_err(format!("cannot start {}: {e}", client.display())))?;
    drop(theirs);

    let loops = Arc::new(match event_loop {
        Some(l) => LoopSource::Given(l.unbind()),
        None => LoopSource::Private,
    });
    let namespace = Namespace {
        globals: globals.unbind(),
        locals: locals.map(Bound::unbind),
    };
    let socket = Socket::Unix(ours);
    threads::spawn_worker("hotrepl-embed", move || serve(socket, namespace, loops))
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the session thread: {e}")))?;
    Ok(Embedded {
        child: Mutex::new(Some(child)),
        foreground,
    })
}

/// The session's thread: the client is the only one ever on this socket pair.
fn serve(mut socket: Socket, namespace: Namespace, loops: Arc<LoopSource>) {
    let headers = Arc::new(HeaderSource::for_this_user());
    if connection::handshake(&mut socket, &headers).is_err() {
        return;
    }
    let (Ok(write_half), Ok(read_half)) = (socket.try_clone(), socket.try_clone()) else {
        return;
    };
    threads::with_python(|py| {
        let requests = Requests::Frames(RequestReader::new(read_half));
        let number = crate::session::next_session_number();
        let label = format!("the embedded REPL (session {number})");
        let outbox = Outbox::new(StreamWire::new(write_half, Encoding::Frames), headers);
        match attach::open(py, outbox, requests, namespace, loops, number, label) {
            Ok(conn) => {
                let place = hotrepl_history::Place::here(
                    hotrepl_history::PlaceKind::Embedded,
                    crate::history::program_line(py),
                    "",
                );
                conn.session.io.history.set_place(place);
                conn.serve_and_finish()
            }
            Err(e) => e.print(py),
        }
    });
}

#[pymethods]
impl Embedded {
    /// Waits for the REPL to end (without holding the GIL); returns the client's status.
    fn wait(&self, py: Python<'_>) -> PyResult<i32> {
        let child = self.child.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(mut child) = child else { return Ok(0) };
        let status = py
            .detach(|| child.wait())
            .map_err(|e| PyOSError::new_err(e.to_string()))?;
        // The program's process group goes back in front of the terminal.
        if let Some(pgrp) = self.foreground {
            set_foreground(pgrp);
        }
        Ok(status.code().unwrap_or(1))
    }
}

/// The `hotrepl` command of this installation: next to the interpreter's scripts, else on
/// PATH.
fn client_binary(py: Python<'_>) -> PyResult<PathBuf> {
    let scripts: String = py
        .import("sysconfig")?
        .call_method1("get_path", ("scripts",))?
        .extract()?;
    let candidate = PathBuf::from(scripts).join("hotrepl");
    if candidate.is_file() {
        return Ok(candidate);
    }
    let which = py.import("shutil")?.call_method1("which", ("hotrepl",))?;
    if which.is_none() {
        return Err(PyRuntimeError::new_err(
            "the hotrepl command is not installed (pip install hotrepl)",
        ));
    }
    Ok(PathBuf::from(which.extract::<String>()?))
}

/// The terminal's foreground process group, if stdin is a terminal we are in front of.
fn terminal_foreground() -> Option<libc::pid_t> {
    // SAFETY: plain queries on fd 0.
    unsafe {
        if libc::isatty(STDIN) != 1 {
            return None;
        }
        let pgrp = libc::tcgetpgrp(STDIN);
        (pgrp == libc::getpgrp()).then_some(pgrp)
    }
}

/// In the client, between fork and exec: a process group of its own, in front.
fn take_terminal() {
    // SAFETY: async-signal-safe calls.
    unsafe {
        libc::setpgid(0, 0);
        set_foreground(libc::getpgrp());
    }
}

/// Makes `pgrp` the terminal's foreground group. SIGTTOU is blocked around `tcsetpgrp` (a
/// background group may not take the terminal otherwise), for the calling thread only and
/// just for the call; all of it is async-signal-safe, so a forked child may use it too.
fn set_foreground(pgrp: libc::pid_t) {
    // SAFETY: plain libc calls on locally owned signal sets and fd 0.
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGTTOU);
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
        libc::tcsetpgrp(STDIN, pgrp);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}
