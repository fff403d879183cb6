//! `shutdown_request`: end the session once the reply is out (the connection loop then
//! closes it). In the local REPL that ends the kernel process; in a host process it only
//! ends this client's session.

use hotrepl_proto::{ReplyStatus, ShutdownReply, ShutdownRequest};

pub fn reply(request: &ShutdownRequest) -> ShutdownReply {
    ShutdownReply {
        status: ReplyStatus::Ok,
        restart: request.restart,
    }
}
