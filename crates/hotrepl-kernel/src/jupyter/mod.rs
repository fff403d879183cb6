//! The Jupyter kernel: hotrepl's kernel logic behind Jupyter's ZeroMQ transport, in two
//! settings. A kernel process Jupyter starts from the kernelspec ([`serve_kernel`]) is the
//! local REPL's kernel with another transport: one session, cells on the main thread's
//! event loop, which keeps running between cells. A program that called
//! `hotrepl.start(jupyter=True)` gets a Jupyter session besides its server's sessions
//! ([`LiveKernel`]): cells that await run on the program's loop, plain cells on the
//! session's own thread, as for `hotrepl attach`. Either way every front end connected
//! shares the one session (its namespace, its execution count) and sees all of its output.

mod sockets;
mod wire;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hotrepl_proto::auth::random_id;
use hotrepl_proto::jupyter::{ConnectionInfo, Signer, KERNEL_NAME, SIGNATURE_SCHEME};
use hotrepl_proto::{discovery, HeaderSource};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::attach;
use crate::connection::{Connection, Requests};
use crate::exec::host_loop::LoopSource;
use crate::handoff::Handoff;
use crate::local::run_process_kernel;
use crate::outbox::{Outbox, Sink};
use crate::output;
use crate::session::Namespace;
use crate::threads;
use wire::JupyterWire;

/// Binds the sockets of `info` and makes the outbox that writes to them; requests go to
/// `handoff`. Returns the connection as bound.
fn open(info: &ConnectionInfo, handoff: Arc<Handoff>) -> PyResult<(ConnectionInfo, Arc<Outbox<JupyterWire>>)> {
    let signer = Arc::new(Signer::new(&info.signature_scheme, &info.key).map_err(PyValueError::new_err)?);
    let headers = Arc::new(HeaderSource::for_this_user());
    let sockets = sockets::start(info, signer.clone(), headers.clone(), handoff)
        .map_err(|e| PyOSError::new_err(format!("cannot listen for Jupyter on {}: {e}", info.ip)))?;
    let bound = sockets.info.clone();
    Ok((bound, Outbox::new(JupyterWire::new(sockets, signer), headers)))
}

/// The kernel process Jupyter starts from the kernelspec: serves the connection file's
/// sockets until a front end asks it to shut down; returns the exit status.
#[pyfunction]
pub fn serve_kernel(py: Python<'_>, connection_file: PathBuf) -> PyResult<i32> {
    let info = ConnectionInfo::read(&connection_file).map_err(PyValueError::new_err)?;
    let handoff = Arc::new(Handoff::new()?);
    let (_, outbox) = open(&info, handoff.clone())?;
    // No terminal here: getpass asks the front end too.
    output::patch_getpass(py)?;
    output::patch_input(py)?;
    // What a cell's tasks print later shows under that cell.
    output::context_session_started();
    let address = connection_file.display().to_string();
    run_process_kernel(py, outbox, &address, move |serving| {
        let conn = Connection::new(serving, Requests::Handoff(handoff), "Jupyter front ends".into());
        // It ends when a front end asks the kernel to shut down (the exit follows).
        conn.serve();
    })
}

/// A program's Jupyter session (`hotrepl.start(jupyter=True)`): its sockets, listening on
/// loopback ports with a fresh key, and the connection file front ends attach with
/// (`jupyter console --existing FILE`), readable by this user only.
pub struct LiveKernel {
    pub connection_file: PathBuf,
    outbox: Arc<Outbox<JupyterWire>>,
    handoff: Arc<Handoff>,
}

impl LiveKernel {
    /// Binds the sockets and writes the connection file into `dir`.
    pub fn open(dir: &Path) -> PyResult<LiveKernel> {
        let info = ConnectionInfo {
            transport: "tcp".into(),
            ip: "127.0.0.1".into(),
            shell_port: 0,
            iopub_port: 0,
            stdin_port: 0,
            control_port: 0,
            hb_port: 0,
            signature_scheme: SIGNATURE_SCHEME.into(),
            key: format!("{}{}", random_id(), random_id()),
            kernel_name: Some(KERNEL_NAME.into()),
        };
        let handoff = Arc::new(Handoff::new()?);
        let (bound, outbox) = open(&info, handoff.clone())?;
        let connection_file = discovery::free_name(dir, &format!("kernel-{}", std::process::id()), "json");
        if let Err(e) = bound.write_private(&connection_file) {
            // Nobody could attach without the file: the sockets close again.
            Sink::close(&*outbox);
            return Err(PyOSError::new_err(format!(
                "cannot write {}: {e}",
                connection_file.display()
            )));
        }
        Ok(LiveKernel {
            connection_file,
            outbox,
            handoff,
        })
    }

    /// Serves the session on a thread of its own: cells run in `namespace` (else
    /// `__main__`'s globals), awaiting ones on the loop `loops` finds. `opened` is told
    /// about the session's connection before it serves.
    pub fn serve(
        self,
        namespace: Option<Py<PyDict>>,
        loops: Arc<LoopSource>,
        opened: impl FnOnce(Python<'_>, &Arc<Connection>) + Send + 'static,
    ) -> PyResult<()> {
        let LiveKernel {
            connection_file,
            outbox,
            handoff,
        } = self;
        let address = connection_file.display().to_string();
        let closing = outbox.clone();
        threads::spawn_worker("hotrepl-session", move || {
            threads::with_python(|py| {
                let globals = match namespace {
                    Some(ns) => ns,
                    None => match py.import("__main__") {
                        Ok(main) => main.dict().unbind(),
                        Err(e) => return e.print(py),
                    },
                };
                if let Err(e) = output::patch_input(py) {
                    return e.print(py);
                }
                let number = crate::session::next_session_number();
                let label = format!("Jupyter session {number} on {address}");
                let namespace = Namespace { globals, locals: None };
                match attach::open(py, outbox, Requests::Handoff(handoff), namespace, loops, number, label) {
                    Ok(conn) => {
                        opened(py, &conn);
                        conn.serve_and_finish();
                    }
                    Err(e) => e.print(py),
                }
            });
        })
        .map_err(|e| {
            Sink::close(&*closing);
            PyRuntimeError::new_err(format!("cannot start the Jupyter session's thread: {e}"))
        })?;
        Ok(())
    }
}
