//! `kernel_info_request`: who we are, which Python runs the code, and the banner. Read
//! from the interpreter once, at start-up ([`init`]), so answering never needs the GIL.

use std::sync::OnceLock;

use hotrepl_proto::{KernelInfoReply, LanguageInfo, ReplyStatus, JUPYTER_PROTOCOL_VERSION};
use pyo3::prelude::*;

static INFO: OnceLock<KernelInfoReply> = OnceLock::new();

pub fn init(py: Python<'_>) -> PyResult<()> {
    if INFO.get().is_some() {
        return Ok(());
    }
    let sys = py.import("sys")?;
    let version: String = sys.getattr("version")?.extract()?;
    let platform: String = sys.getattr("platform")?.extract()?;
    let info = sys.getattr("version_info")?;
    let part = |i: usize| -> PyResult<u32> { info.get_item(i)?.extract() };
    let (major, minor, micro) = (part(0)?, part(1)?, part(2)?);
    let _ = INFO.set(KernelInfoReply {
        status: ReplyStatus::Ok,
        protocol_version: JUPYTER_PROTOCOL_VERSION.into(),
        implementation: "hotrepl".into(),
        implementation_version: env!("CARGO_PKG_VERSION").into(),
        language_info: LanguageInfo {
            name: "python".into(),
            version: format!("{major}.{minor}.{micro}"),
            mimetype: "text/x-python".into(),
            file_extension: ".py".into(),
            pygments_lexer: "python3".into(),
            nbconvert_exporter: "python".into(),
        },
        banner: format!(
            "Python {version} on {platform}\nhotrepl {}: await works at the top level and the event loop keeps running between prompts.\n",
            env!("CARGO_PKG_VERSION")
        ),
        help_links: Vec::new(),
        pid: Some(std::process::id()),
        history_session: None,
    });
    Ok(())
}

/// The reply for `session`: with the id its cells are recorded under in history.
pub fn reply_to(session: &crate::session::Session) -> KernelInfoReply {
    KernelInfoReply {
        history_session: Some(session.io.history.id().to_owned()),
        ..reply()
    }
}

pub fn reply() -> KernelInfoReply {
    INFO.get()
        .cloned()
        .expect("kernel_info::init runs before any connection is served")
}
