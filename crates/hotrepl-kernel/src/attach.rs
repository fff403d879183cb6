//! An attached session, put together: the connection, the session with its I/O routing,
//! the executor, the writer thread. The calling thread becomes the session's worker (it
//! serves the connection next). Used by the server for each client and by `embed()`.

use std::sync::Arc;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::connection::{Connection, Requests};
use crate::exec::attached::AttachedExecutor;
use crate::exec::host_loop::LoopSource;
use crate::outbox::Sink;
use crate::output::{self, SessionIo};
use crate::session::{Namespace, Session};
use crate::threads;

pub fn open(
    py: Python<'_>,
    sink: Arc<dyn Sink>,
    requests: Requests,
    namespace: Namespace,
    loops: Arc<LoopSource>,
    number: u64,
    label: String,
) -> PyResult<Arc<Connection>> {
    let io = SessionIo::new(sink.clone(), false);
    let executor = AttachedExecutor::new(loops);
    let session = Session::new(io, namespace, executor.clone(), Some(number));
    let conn = Connection::new(session.clone(), requests, label);
    executor.set_inbound(conn.clone());
    output::install(py)?;
    output::patch_getpass(py)?;
    crate::display::adopt_display_libraries(py)?;
    executor.become_worker(py, &session)?;
    output::context_session_started();
    threads::spawn_io("hotrepl-writer", move || sink.run_writer())
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the session's writer: {e}")))?;
    Ok(conn)
}
