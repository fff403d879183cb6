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
use crate::transport::{Parent, Request};

/// Whether the connection goes on after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue,
    Close,
}

/// Answers what can be answered without the interpreter; hands back what cannot. Keeping
/// the GIL out of these lets the kernel say who it is while its main thread is still busy
/// importing, and lets a session end while a cell holds the GIL.
pub fn dispatch_plain(session: &Session, request: Request) -> Result<Next, Request> {
    let (reply, next): (Content, Next) = match &request.msg.content {
        Content::KernelInfoRequest(_) => (kernel_info::reply_to(session).into(), Next::Continue),
        Content::HistoryRequest(history) => (history::reply(session, history).into(), Next::Continue),
        Content::ShutdownRequest(shutdown) => (shutdown::reply(shutdown).into(), Next::Close),
        _ => return Err(request),
    };
    session.io.reply(&Parent::of(request.msg.header, request.origin), reply);
    Ok(next)
}

/// Answers a request that needs the interpreter.
pub fn dispatch(py: Python<'_>, session: &Arc<Session>, request: Request) -> Next {
    let Request { msg, origin } = request;
    let Message {
        header,
        parent_header,
        metadata,
        content,
    } = msg;
    let io = &session.io;
    match content {
        Content::ExecuteRequest(execute) => {
            // The client says how wide its screen is, for pretty printing (0: it is no
            // screen, so values stay on one line).
            if let Some(width) = metadata.get("width").and_then(serde_json::Value::as_u64) {
                let width = if width == 0 {
                    usize::MAX / 2
                } else {
                    (width as usize).max(20)
                };
                session.display_width.store(width, std::sync::atomic::Ordering::Relaxed);
            }
            execute::handle(py, session, Parent::of(header, origin), execute)
        }
        Content::IsCompleteRequest(r) => io.reply(&Parent::of(header, origin), is_complete::reply(py, &r)),
        Content::CompleteRequest(r) => io.reply(&Parent::of(header, origin), complete::reply(py, session, &r)),
        Content::InspectRequest(r) => io.reply(&Parent::of(header, origin), inspect::reply(py, session, &r)),
        Content::InterruptRequest(r) => io.reply(&Parent::of(header, origin), interrupt::reply(py, session, &r)),
        Content::InputReply(reply) => {
            io.answer_input(py, reply);
        }
        // Reading the database takes a while: not with the GIL held (a cell is running).
        Content::HistoryRequest(r) => {
            let reply = crate::threads::without_python(py, || history::reply(session, &r));
            io.reply(&Parent::of(header, origin), reply);
        }
        other => {
            let msg = Message {
                header,
                parent_header,
                metadata,
                content: other,
            };
            match dispatch_plain(session, Request { msg, origin }) {
                Ok(next) => return next,
                Err(request) => {
                    let reason = format!("unsupported request type '{}'", request.msg.msg_type());
                    io.reply(
                        &Parent::of(request.msg.header, request.origin),
                        ProtocolError { reason },
                    );
                }
            }
        }
    }
    Next::Continue
}
