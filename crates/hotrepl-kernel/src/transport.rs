//! What the kernel logic and the transports say to each other. A transport turns bytes into
//! [`Request`]s and hands them to the session; everything the session sends goes to its
//! [sink](crate::outbox::Sink) with a destination ([`To`]) naming a channel, never a socket:
//! the reply to a request, a cell's output, an announcement for every client, an input
//! request. Each transport maps those channels onto its wire: a native connection has one
//! ordered stream for all of them (and no announcements), Jupyter has its shell, control,
//! iopub and stdin sockets.

use std::sync::Arc;

use hotrepl_proto::{Header, Message};

/// Which Jupyter channel a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Shell,
    Control,
    Stdin,
}

/// Where a request came in, so that what answers it goes back the same way. The kernel
/// logic only hands it back.
#[derive(Debug, Clone, Default)]
pub enum Origin {
    /// A byte stream: one client, one channel for everything.
    #[default]
    Stream,
    /// A Jupyter channel, and the client's ZeroMQ routing identities on it.
    Jupyter {
        channel: Channel,
        identities: Arc<[Vec<u8>]>,
    },
}

/// A request as a transport hands it to the kernel logic.
pub struct Request {
    pub msg: Message,
    pub origin: Origin,
}

/// The request a message answers or belongs to: its header (the `parent_header` of what
/// answers it) and where it came in (where the answer goes).
#[derive(Debug, Clone)]
pub struct Parent {
    pub header: Arc<Header>,
    pub origin: Origin,
}

impl Parent {
    pub fn of(header: Header, origin: Origin) -> Parent {
        Parent {
            header: Arc::new(header),
            origin,
        }
    }
}

/// Where a message goes.
#[derive(Debug, Clone, Copy)]
pub enum To<'a> {
    /// The answer to a request: back on its channel, to the client that asked.
    Reply(&'a Origin),
    /// A cell's output: to every client (Jupyter's iopub).
    Output,
    /// `status` and `execute_input`, which Jupyter broadcasts around every request. A native
    /// connection is one client's own ordered stream, where the reply marks the end of a
    /// request and the code is what that client sent: they are not sent there.
    Announcement,
    /// An input request: to the client whose cell asks (Jupyter's stdin).
    Input(&'a Origin),
}
