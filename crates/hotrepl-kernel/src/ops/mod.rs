//! One module per request kind; `dispatch` routes a decoded request to it. Requests other
//! than `execute_request` are answered right away on the connection's thread, also while a
//! cell runs (completion, interrupts and input replies must not wait for the cell).

pub mod complete;
pub mod execute;
pub mod history;
pub mod inspect;
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

/// Answers what can be answered without the interpreter; hands back what cannot. Keeping
/// the GIL out of these lets the kernel say who it is while its main thread is still busy
/// importing, and lets a session end while a cell holds the GIL.
pub fn dispatch_plain(session: &Session, msg: Message) -> Result<Next, Message> {
    let outbox = session.io.outbox();
    match &msg.content {
        Content::KernelInfoRequest(_) => outbox.send_content(kernel_info::reply_to(session), Some(&msg.header)),
        Content::HistoryRequest(request) => outbox.send_content(history::reply(session, request), Some(&msg.header)),
        Content::ShutdownRequest(request) => {
            outbox.send_content(shutdown::reply(request), Some(&msg.header));
            return Ok(Next::Close);
        }
        _ => return Err(msg),
    }
    Ok(Next::Continue)
}

/// Answers a request that needs the interpreter.
pub fn dispatch(py: Python<'_>, session: &Arc<Session>, msg: Message) -> Next {
    let outbox = session.io.outbox();
    let parent = Some(&msg.header);
    match msg.content {
        Content::ExecuteRequest(request) => {
            // The client says how wide its screen is, for pretty printing (0: it is no
            // screen, so values stay on one line).
            if let Some(width) = msg.metadata.get("width").and_then(serde_json::Value::as_u64) {
                let width = if width == 0 {
                    usize::MAX / 2
                } else {
                    (width as usize).max(20)
                };
                session.display_width.store(width, std::sync::atomic::Ordering::Relaxed);
            }
            execute::handle(py, session, msg.header.clone(), request)
        }
        Content::IsCompleteRequest(request) => outbox.send_content(is_complete::reply(py, &request), parent),
        Content::CompleteRequest(request) => outbox.send_content(complete::reply(py, session, &request), parent),
        Content::InspectRequest(request) => outbox.send_content(inspect::reply(py, session, &request), parent),
        Content::ConfigureRequest(request) => {
            outbox.send_content(crate::config::configure(py, session, &request), parent)
        }
        Content::InterruptRequest(request) => outbox.send_content(interrupt::reply(py, session, &request), parent),
        Content::InputReply(reply) => {
            session.io.answer_input(py, reply);
        }
        // Reading the database takes a while: not with the GIL held (a cell is running).
        Content::HistoryRequest(request) => outbox.send_content(
            crate::threads::without_python(py, || history::reply(session, &request)),
            parent,
        ),
        other => match dispatch_plain(session, Message { content: other, ..msg }) {
            Ok(next) => return next,
            Err(msg) => {
                let reason = format!("unsupported request type '{}'", msg.msg_type());
                outbox.send_content(ProtocolError { reason }, Some(&msg.header));
            }
        },
    }
    Next::Continue
}
