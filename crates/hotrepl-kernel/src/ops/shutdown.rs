//! `shutdown_request`: end the session once the reply is out (the connection loop then
//! closes it). In the local REPL, and in a Jupyter kernel process, that ends the kernel
//! process; in a host process it ends this client's session — except a Jupyter session,
//! which other front ends may share: the program and the session go on.

use hotrepl_proto::{ReplyStatus, ShutdownReply, ShutdownRequest};

use super::Next;
use crate::session::Session;

pub fn reply(request: &ShutdownRequest) -> ShutdownReply {
    ShutdownReply {
        status: ReplyStatus::Ok,
        restart: request.restart,
    }
}

/// Whether the session ends.
pub fn next(session: &Session) -> Next {
    if session.io.broadcasts() && session.executor.in_host_program() {
        Next::Continue
    } else {
        Next::Close
    }
}
