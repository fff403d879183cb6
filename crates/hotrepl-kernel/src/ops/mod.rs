//! One module per request kind; `dispatch` routes a decoded request to it. Requests other
//! than `execute_request` are answered right away on the connection's thread, also while a
//! cell runs (completion, interrupts and input replies must not wait for the cell).
//!
//! Every request is announced busy, then idle once answered (Jupyter's `status`, on
//! transports that broadcast; see [`crate::transport::To::Announcement`]); an execute
//! request is announced when its cell starts and ends.

pub mod comm;
pub mod complete;
pub mod execute;
pub mod history;
pub mod inspect;
pub mod interrupt;
pub mod is_complete;
pub mod kernel_info;
pub mod shutdown;

use std::sync::Arc;

use hotrepl_proto::{Content, ExecutionState, Message, ProtocolError, Status};
use pyo3::prelude::*;

use crate::output::SessionIo;
use crate::session::Session;
use crate::transport::{Parent, Request};

/// Whether the connection goes on after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue,
    Close,
}

/// `status` busy or idle, about the request `parent`.
pub fn announce_state(io: &SessionIo, parent: &Parent, execution_state: ExecutionState) {
    io.announce(parent, Status { execution_state });
}

/// Answers `parent` with what `answer` makes of it, between busy and idle.
fn answer<C: Into<Content>>(io: &SessionIo, parent: Parent, answer: impl FnOnce(&Parent) -> C) {
    announce_state(io, &parent, ExecutionState::Busy);
    let reply = answer(&parent).into();
    io.reply_then_idle(&parent, reply);
}

/// Whether [`dispatch_plain`] answers this.
fn is_plain(content: &Content) -> bool {
    matches!(
        content,
        Content::KernelInfoRequest(_)
            | Content::HistoryRequest(_)
            | Content::CommInfoRequest(_)
            | Content::ShutdownRequest(_)
    )
}

/// Answers what can be answered without the interpreter; hands back what cannot. Keeping
/// the GIL out of these lets the kernel say who it is while its main thread is still busy
/// importing, and lets a session end while a cell holds the GIL.
#[allow(clippy::result_large_err)] // the request handed back is moved, not copied
pub fn dispatch_plain(session: &Session, request: Request) -> Result<Next, Request> {
    let Request { msg, origin } = request;
    let io = &session.io;
    match msg.content {
        Content::KernelInfoRequest(_) => answer(io, Parent::of(msg.header, origin), |_| kernel_info::reply_to(session)),
        Content::HistoryRequest(r) => answer(io, Parent::of(msg.header, origin), |_| history::reply(session, &r)),
        Content::CommInfoRequest(_) => answer(io, Parent::of(msg.header, origin), |_| comm::info()),
        Content::ShutdownRequest(r) => {
            answer(io, Parent::of(msg.header, origin), |parent| {
                let reply = shutdown::reply(&r);
                // The other front ends learn that the kernel goes.
                io.announce(parent, reply.clone());
                reply
            });
            return Ok(shutdown::next(session));
        }
        content => {
            return Err(Request {
                msg: Message { content, ..msg },
                origin,
            })
        }
    }
    Ok(Next::Continue)
}

/// Answers a request.
pub fn dispatch(py: Python<'_>, session: &Arc<Session>, request: Request) -> Next {
    let request = if is_plain(&request.msg.content) {
        // Without the GIL, as between cells: reading history takes a while, and a cell may
        // be running.
        #[allow(clippy::result_large_err)]
        match crate::threads::without_python(py, || dispatch_plain(session, request)) {
            Ok(next) => return next,
            Err(request) => request,
        }
    } else {
        request
    };
    let Request { msg, origin } = request;
    let io = &session.io;
    let parent = Parent::of(msg.header, origin);
    match msg.content {
        Content::ExecuteRequest(execute) => {
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
            execute::handle(py, session, parent, execute)
        }
        Content::IsCompleteRequest(r) => answer(io, parent, |_| is_complete::reply(py, &r)),
        Content::CompleteRequest(r) => answer(io, parent, |_| complete::reply(py, session, &r)),
        Content::InspectRequest(r) => answer(io, parent, |_| inspect::reply(py, session, &r)),
        Content::ConfigureRequest(r) => answer(io, parent, |_| crate::config::configure(py, session, &r)),
        Content::InterruptRequest(r) => answer(io, parent, |_| interrupt::reply(py, session, &r)),
        // On stdin: no status, as for any answer to the kernel's own request.
        Content::InputReply(reply) => {
            io.answer_input(py, reply);
        }
        // Messages to comms, which have no reply.
        Content::CommOpen(open) => {
            announce_state(io, &parent, ExecutionState::Busy);
            comm::refuse(session, &parent, &open);
            announce_state(io, &parent, ExecutionState::Idle);
        }
        Content::CommMsg(_) | Content::CommClose(_) => {
            announce_state(io, &parent, ExecutionState::Busy);
            announce_state(io, &parent, ExecutionState::Idle);
        }
        other => {
            let reason = format!("unsupported request type '{}'", other.msg_type());
            answer(io, parent, |_| ProtocolError { reason });
        }
    }
    Next::Continue
}
