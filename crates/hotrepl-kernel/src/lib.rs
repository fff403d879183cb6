//! `hotrepl._native`: the in-process engine. The local REPL's kernel ([`local`]) and, in
//! any program, the server that lets clients attach; sessions, cell execution, output
//! routing and one module per request kind ([`ops`]).

mod arrival;
mod attach;
mod cell;
mod config;
mod connection;
mod deadline;
mod display;
mod embed;
mod exec;
mod handoff;
mod history;
mod hooks;
mod inspection;
mod jupyter;
mod line_mode;
mod local;
mod magics;
mod ops;
mod outbox;
mod output;
mod patch;
mod pycache;
mod reader;
mod server;
mod session;
mod threads;
mod traceback;
mod transform;
mod transport;
mod unwind;
mod watch;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(local::serve_local, m)?)?;
    m.add_function(wrap_pyfunction!(jupyter::serve_kernel, m)?)?;
    m.add_function(wrap_pyfunction!(server::start, m)?)?;
    m.add_function(wrap_pyfunction!(server::stop, m)?)?;
    m.add_function(wrap_pyfunction!(server::before_exit, m)?)?;
    m.add_function(wrap_pyfunction!(server::after_fork_in_child, m)?)?;
    m.add_class::<server::Server>()?;
    m.add_function(wrap_pyfunction!(embed::embed_start, m)?)?;
    m.add_class::<embed::Embedded>()?;
    m.add_class::<output::OutputStream>()?;
    m.add_class::<output::InputStream>()?;
    m.add_class::<output::OutputCapture>()?;
    m.add(
        "StdinNotImplementedError",
        m.py().get_type::<output::StdinNotImplementedError>(),
    )?;
    m.add_function(wrap_pyfunction!(output::program_stream, m)?)?;
    m.add_function(wrap_pyfunction!(session::session_cells, m)?)?;
    m.add_function(wrap_pyfunction!(threads::hotrepl_threads, m)?)?;
    magics::add_to_module(m)?;
    hooks::add_to_module(m)?;
    display::add_to_module(m)?;
    config::add_to_module(m)?;
    m.add_function(wrap_pyfunction!(patch::apply_patch, m)?)?;
    m.add_class::<watch::FileWatcher>()?;
    m.add_function(wrap_pyfunction!(history::magic::history_magic, m)?)?;
    Ok(())
}
