//! Comms (`comm_info_request`, `comm_open`, `comm_msg`, `comm_close`): the channels between
//! an object in the kernel and one in a front end, as ipywidgets use them. No target is
//! registered in the kernel, so a front end that opens a comm is told at once that it is
//! closed, and messages for comms that do not exist are dropped: a front end that probes
//! for widgets finds none, and nothing errors.

use hotrepl_proto::{CommClose, CommInfoReply, CommOpen, ReplyStatus};
use serde_json::Map;

use crate::session::Session;
use crate::transport::Parent;

pub fn info() -> CommInfoReply {
    CommInfoReply {
        status: ReplyStatus::Ok,
        comms: Map::new(),
    }
}

/// A front end opened a comm to a target the kernel does not have: it is closed again.
pub fn refuse(session: &Session, parent: &Parent, open: &CommOpen) {
    let close = CommClose {
        comm_id: open.comm_id.clone(),
        data: Map::new(),
    };
    session.io.publish(Some(parent), close.into());
}
