//! The kernel of the local REPL: `hotrepl` starts a Python child that calls
//! `serve_local(fd)`, with one end of a socket pair on `fd`. The child's terminal stays its
//! own (subprocesses, `getpass` and Ctrl-C work as in any program); all Python-level
//! output and input go through the protocol to the client, like in a remote session.
//! A Jupyter kernel process is the same kernel with another transport
//! ([`run_process_kernel`]).

use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use hotrepl_proto::HeaderSource;
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyList, PyTuple};

use crate::connection::{self, Connection, Requests};
use crate::exec::local::LocalKernel;
use crate::outbox::{Encoding, Outbox, Sink, StreamWire};
use crate::output::{self, SessionIo};
use crate::reader::RequestReader;
use crate::session::{CloseReason, Namespace, Session};
use crate::threads;
use hotrepl_proto::socket::Socket;

/// How long a kernel whose client vanished may take to stop before it is ended.
const ORPHAN_GRACE: Duration = Duration::from_secs(3);

/// Serves the client on `fd` until it leaves or the user exits; returns the exit status.
#[pyfunction]
pub fn serve_local(py: Python<'_>, fd: i32) -> PyResult<i32> {
    // SAFETY: the client passed us this fd for exactly this purpose; we own it from here.
    let stream = unsafe { UnixStream::from_raw_fd(fd) };
    set_cloexec(fd);
    let mut reader = Socket::Unix(stream.try_clone()?);
    let socket = Socket::Unix(stream);
    let headers = Arc::new(HeaderSource::for_this_user());
    let outbox = Outbox::new(StreamWire::new(socket, Encoding::Frames), headers.clone());
    run_process_kernel(py, outbox, "", move |serving| {
        if connection::handshake(&mut reader, &headers).is_ok() {
            let conn = Connection::new(
                serving,
                Requests::Frames(RequestReader::new(reader)),
                "the local REPL".into(),
            );
            conn.serve();
        } else {
            threads::with_python(|py| serving.executor.clone().close(py, &serving, CloseReason::ClientGone));
        }
        // Normally the main thread stops within moments; a cell stuck in C code must not
        // leave an orphan kernel behind a client that is gone.
        std::thread::sleep(ORPHAN_GRACE);
        crate::history::flush_before_exit();
        // SAFETY: _exit ends the process at once; nothing is left to protect.
        unsafe { libc::_exit(1) };
    })
}

/// A kernel process that is one session, on its main thread's event loop (the local
/// REPL's, a Jupyter kernel's): output goes to `sink` (`address` says where, for history),
/// and `serve` reads the session's requests, on a thread of its own. Returns the exit
/// status once an exit is requested.
pub fn run_process_kernel(
    py: Python<'_>,
    sink: Arc<dyn Sink>,
    address: &str,
    serve: impl FnOnce(Arc<Session>) + Send + 'static,
) -> PyResult<i32> {
    let sys = py.import("sys")?;
    sys.setattr("argv", PyList::new(py, [""])?)?;
    crate::ops::kernel_info::init(py)?;

    let io = SessionIo::new(sink.clone(), true);
    io.history.set_place(hotrepl_history::Place::here(
        hotrepl_history::PlaceKind::Local,
        "",
        address,
    ));
    output::install(py)?;
    output::set_default(Some(io.clone()));

    let kernel = LocalKernel::new();
    let main: Bound<'_, PyDict> = py.import("__main__")?.dict();
    let session = Session::new(
        io,
        Namespace {
            globals: main.unbind(),
            locals: None,
        },
        kernel.clone(),
        None,
    );

    let writer = sink.clone();
    threads::spawn_io("hotrepl-writer", move || writer.run_writer())?;
    let serving = session.clone();
    threads::spawn_io("hotrepl-reader", move || serve(serving))?;

    install_sigint(py, &kernel)?;
    crate::display::adopt_display_libraries(py)?;
    let code = kernel.run(py)?;
    session.run_shutdown_hooks(py);
    if let Err(e) = kernel.shut_down_loop(py) {
        e.print(py);
    }
    // Exit handlers run now rather than at interpreter exit, while their output still
    // reaches the client (they run once: the call clears them).
    if let Err(e) = py.import("atexit").and_then(|m| m.call_method0("_run_exitfuncs")) {
        e.print(py);
    }
    threads::without_python(py, || {
        sink.flush();
        sink.close();
        crate::history::flush_before_exit();
    });
    threads::before_interpreter_exit(py);
    Ok(code)
}

fn install_sigint(py: Python<'_>, kernel: &Arc<LocalKernel>) -> PyResult<()> {
    let kernel = kernel.clone();
    let handler = PyCFunction::new_closure(
        py,
        None,
        None,
        move |args: &Bound<'_, PyTuple>, _kw: Option<&Bound<'_, PyDict>>| kernel.on_sigint(args.py()),
    )?;
    // `_signal`, the C module under `signal`: the same handler, without importing enum.
    let signal = py.import("_signal")?;
    signal.call_method1("signal", (signal.getattr("SIGINT")?, handler))?;
    Ok(())
}

fn set_cloexec(fd: i32) {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
        }
    }
}
