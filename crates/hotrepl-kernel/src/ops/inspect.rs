//! `inspect_request`: what `obj?` (detail level 0) and `obj??` (detail level 1) show, for the
//! name at the cursor, so other front ends (Jupyter's tooltips and help panels) get the same
//! text as the prompt.

use hotrepl_proto::{ErrorContent, InspectReply, InspectRequest, ReplyStatus};
use pyo3::prelude::*;
use serde_json::{json, Map};

use crate::inspection::{self, Namespace};
use crate::magics::UsageError;
use crate::session::Session;

pub fn reply(py: Python<'_>, session: &Session, request: &InspectRequest) -> InspectReply {
    let found = |text: String| InspectReply {
        status: ReplyStatus::Ok,
        found: true,
        data: json!({ "text/plain": text }).as_object().cloned().unwrap_or_default(),
        metadata: Map::new(),
        error: None,
    };
    let not_found = InspectReply {
        status: ReplyStatus::Ok,
        found: false,
        data: Map::new(),
        metadata: Map::new(),
        error: None,
    };
    let Some(name) = inspection::name_at(&request.code, request.cursor_pos) else {
        return not_found;
    };
    let locals = session.locals.as_ref().map(|l| l.bind(py).as_any().clone());
    let namespace = Namespace {
        globals: session.globals.bind(py),
        locals: locals.as_ref(),
    };
    match inspection::describe(py, &namespace, &name, request.detail_level.min(1)) {
        Ok(text) => found(text),
        Err(e) if e.is_instance_of::<UsageError>(py) => not_found,
        Err(e) => InspectReply {
            status: ReplyStatus::Error,
            error: Some(ErrorContent {
                ename: e.get_type(py).name().map(|n| n.to_string()).unwrap_or_default(),
                evalue: e.value(py).str().map(|s| s.to_string()).unwrap_or_default(),
                ..Default::default()
            }),
            ..not_found
        },
    }
}
