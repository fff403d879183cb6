//! `kernel_info_request`: who we are, which Python runs the code, and the banner.

use hotrepl_proto::{KernelInfoReply, LanguageInfo, ReplyStatus, JUPYTER_PROTOCOL_VERSION};
use pyo3::prelude::*;

pub fn reply(py: Python<'_>) -> PyResult<KernelInfoReply> {
    let sys = py.import("sys")?;
    let version: String = sys.getattr("version")?.extract()?;
    let platform: String = sys.getattr("platform")?.extract()?;
    let short: String = py
        .import("platform")?
        .call_method0("python_version")?
        .extract()?;
    Ok(KernelInfoReply {
        status: ReplyStatus::Ok,
        protocol_version: JUPYTER_PROTOCOL_VERSION.into(),
        implementation: "hotrepl".into(),
        implementation_version: env!("CARGO_PKG_VERSION").into(),
        language_info: LanguageInfo {
            name: "python".into(),
            version: short,
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
    })
}
