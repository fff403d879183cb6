//! A session's configuration: its client tells it once (`configure_request`: every option,
//! its value and where the value came from), `%config` lists it and changes it while the
//! session runs, and the kernel acts on the options that are its own (top-level await,
//! the debugger on errors, pretty printing's limits, macros). A change to an option the
//! client uses is passed back to it (`config_changed`).

use std::sync::atomic::Ordering;

use hotrepl_config::{Config, Raw, Scope, Source};
use hotrepl_proto::{ConfigChanged, ConfigureReply, ConfigureRequest, ErrorContent, ReplyStatus};
use pyo3::prelude::*;

use crate::magics::UsageError;
use crate::output;
use crate::session::Session;

/// `configure_request`: the session takes the client's settings and acts on its own.
pub fn configure(py: Python<'_>, session: &Session, request: &ConfigureRequest) -> ConfigureReply {
    let mut config = Config::new();
    let mut problems = Vec::new();
    for (name, spec) in &request.themes {
        if let Err(e) = config.define_theme(name, spec.clone()) {
            problems.push(format!("theme {name}: {e}"));
        }
    }
    for option in &request.options {
        let source = Source::Reported(option.source.clone());
        if let Err(e) = config.set_from(&option.name, &Raw::Text(option.value.clone()), source) {
            problems.push(format!("{}: {e}", option.name));
        }
    }
    apply(py, session, &config);
    *session.config.lock().unwrap_or_else(|e| e.into_inner()) = config;
    ConfigureReply {
        status: if problems.is_empty() {
            ReplyStatus::Ok
        } else {
            ReplyStatus::Error
        },
        error: (!problems.is_empty()).then(|| ErrorContent {
            ename: "ConfigError".into(),
            evalue: problems.join("; "),
            ..Default::default()
        }),
    }
}

/// Makes the session do what its kernel-side options say.
fn apply(py: Python<'_>, session: &Session, config: &Config) {
    let values = config.values();
    session.autoawait.store(values.autoawait, Ordering::Relaxed);
    session.pdb.store(values.pdb, Ordering::Relaxed);
    let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    session
        .pretty_width
        .store(count(values.pretty_width.0), Ordering::Relaxed);
    session
        .display_max_items
        .store(count(values.pretty_max_items.0), Ordering::Relaxed);
    session
        .display_max_string
        .store(count(values.pretty_max_string.0), Ordering::Relaxed);
    // The macro expander is loaded only when asked for (or to be turned off).
    if values.macros || crate::arrival::imported(py, "hotrepl._magics.macros") {
        let turned = py
            .import("hotrepl._magics.macros")
            .and_then(|m| m.call_method1("set_enabled", (values.macros,)));
        match turned {
            Ok(done) if done.is_truthy().unwrap_or(false) => {}
            Ok(_) => session.io.write(
                py,
                hotrepl_proto::StreamName::Stderr,
                "hotrepl: macros need mcpyrate (pip install mcpyrate)\n",
                None,
            ),
            Err(e) => e.print(py),
        }
    }
}

/// One option as `%config` lists it: `(name, value, source, used by, changeable at run
/// time, doc)`.
type ListedOption = (String, String, String, &'static str, bool, &'static str);

/// Every option of the calling session, for `%config`.
#[pyfunction]
pub fn config_list(py: Python<'_>) -> PyResult<Vec<ListedOption>> {
    let session = calling_session(py)?;
    let config = session.config.lock().unwrap_or_else(|e| e.into_inner());
    Ok(config
        .list()
        .into_iter()
        .map(|s| {
            let scope = match s.declaration.scope {
                Scope::Client => "client",
                Scope::Kernel => "kernel",
            };
            (
                s.declaration.name.to_owned(),
                s.value,
                s.source.to_string(),
                scope,
                s.declaration.runtime,
                s.declaration.doc.trim(),
            )
        })
        .collect())
}

/// `%config NAME VALUE`: sets an option of the calling session; a client option is passed
/// to the client. A bad name or value is a UsageError saying why.
#[pyfunction]
pub fn config_set(py: Python<'_>, name: &str, value: &str) -> PyResult<String> {
    let session = calling_session(py)?;
    // Applied from a copy: acting on it calls Python, which must not wait on this lock.
    let changed = {
        let mut config = session.config.lock().unwrap_or_else(|e| e.into_inner());
        config.set(name, value).map_err(UsageError::new_err)?;
        config.clone()
    };
    apply(py, &session, &changed);
    let declaration = hotrepl_config::declaration(name).expect("set() knows the option");
    let shown = changed.values().text(declaration.name);
    if declaration.scope == Scope::Client {
        session.io.publish(
            None,
            ConfigChanged {
                name: declaration.name.to_owned(),
                value: shown.clone(),
            }
            .into(),
        );
    }
    Ok(format!("{} = {shown}", declaration.name))
}

fn calling_session(py: Python<'_>) -> PyResult<std::sync::Arc<Session>> {
    output::current_session(py).ok_or_else(|| UsageError::new_err("%config is about a hotrepl session: use it in one"))
}

pub fn add_to_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(pyo3::wrap_pyfunction!(config_list, m)?)?;
    m.add_function(pyo3::wrap_pyfunction!(config_set, m)?)?;
    Ok(())
}
