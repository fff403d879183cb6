//! One module per request kind; `dispatch` routes a decoded request to it. Requests other
//! than `execute_request` are answered right away on the connection's thread, also while a
//! cell runs (completion, interrupts and input replies must not wait for the cell).

pub mod complete;
pub mod execute;
pub mod interrupt;
pub mod is_complete;
pub mod kernel_info;
pub mod shutdown;

use std::sync::Arc;

use hotrepl_proto::{Content, Message, ProtocolError};
use pyo3::prelude::*;

use crate::session::Session;

/// Whether the connection goes on after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue,
    Close,
}

pub fn dispatch(py: Python<'_>, session: &Arc<Session>, msg: Message) -> Next {
    let outbox = session.io.outbox();
    let parent = Some(&msg.header);
    match msg.content {
        Content::ExecuteRequest(request) => execute::handle(py, session, msg.header, request),
        Content::IsCompleteRequest(request) => {
            outbox.send_content(is_complete::reply(py, &request), parent)
        }
        Content::CompleteRequest(request) => {
            outbox.send_content(complete::reply(py, session, &request), parent)
        }
        Content::KernelInfoRequest(_) => match kernel_info::reply(py) {
            Ok(reply) => outbox.send_content(reply, parent),
            Err(e) => outbox.send_content(
                ProtocolError {
                    reason: format!("kernel_info failed: {e}"),
                },
                parent,
            ),
        },
        Content::InterruptRequest(request) => {
            outbox.send_content(interrupt::reply(py, session, &request), parent)
        }
        Content::InputReply(reply) => {
            session.io.answer_input(py, reply);
        }
        Content::ShutdownRequest(request) => {
            outbox.send_content(shutdown::reply(&request), parent);
            return Next::Close;
        }
        other => {
            let reason = format!("unsupported request type '{}'", other.msg_type());
            outbox.send_content(ProtocolError { reason }, parent);
        }
    }
    Next::Continue
}
