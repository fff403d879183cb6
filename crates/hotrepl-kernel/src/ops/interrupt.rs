//! `interrupt_request`: interrupt the session's running cell (or, with the hotrepl
//! `abandon` flag, give up on one that does not answer).

use std::sync::Arc;

use hotrepl_proto::{ErrorContent, InterruptReply, InterruptRequest, ReplyStatus};
use pyo3::prelude::*;

use crate::session::{InterruptOutcome, Session};

pub fn reply(py: Python<'_>, session: &Arc<Session>, request: &InterruptRequest) -> InterruptReply {
    match session.executor.clone().interrupt(py, session, request.abandon) {
        // Jupyter's front ends interrupt whatever runs, if anything: that is no error.
        InterruptOutcome::Interrupted | InterruptOutcome::Abandoned => InterruptReply {
            status: ReplyStatus::Ok,
            error: None,
        },
        InterruptOutcome::NothingRunning if session.io.broadcasts() => InterruptReply {
            status: ReplyStatus::Ok,
            error: None,
        },
        InterruptOutcome::NothingRunning => InterruptReply {
            status: ReplyStatus::Error,
            error: Some(ErrorContent {
                ename: "NothingRunning".into(),
                evalue: "no cell is running in this session".into(),
                ..Default::default()
            }),
        },
    }
}
