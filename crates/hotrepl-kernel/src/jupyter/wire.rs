//! A Jupyter kernel's wire: where each kind of message goes among its sockets. Replies go
//! back on the channel their request came in on, to the client that sent it; output and
//! announcements go to every client on iopub; input requests go on stdin to the client
//! whose cell asks. Messages are signed here, in the thread that sends them.

use std::io;
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::Duration;

use hotrepl_proto::jupyter::{self, Signer};
use hotrepl_proto::{Header, HeaderSource, Message, StreamName};
use tokio::sync::mpsc;

use super::sockets::{Leaves, Packet, Sockets};
use crate::outbox::{split_at_char_boundaries, Wire, MAX_TEXT_PER_MESSAGE};
use crate::transport::{Channel, Origin, To};

/// How long closing waits for the sockets to write what was sent last.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

pub struct JupyterWire {
    signer: Arc<Signer>,
    /// Taken when the wire is shut: the sockets stop once they have sent the rest.
    out: Mutex<Option<mpsc::Sender<Vec<Packet>>>>,
    closed: Mutex<std_mpsc::Receiver<()>>,
}

impl JupyterWire {
    pub fn new(sockets: Sockets, signer: Arc<Signer>) -> JupyterWire {
        JupyterWire {
            signer,
            out: Mutex::new(Some(sockets.out)),
            closed: Mutex::new(sockets.closed),
        }
    }

    fn packet(&self, socket: Leaves, identities: &[Vec<u8>], parts: [Vec<u8>; 4]) -> Packet {
        Packet {
            socket,
            frames: jupyter::encode(identities, parts, &self.signer),
        }
    }
}

impl Wire for JupyterWire {
    type Packet = Packet;

    fn broadcasts(&self) -> bool {
        true
    }

    /// Notebooks keep each stream message as an output of its own.
    fn sends_whole_lines(&self) -> bool {
        true
    }

    fn encode(&self, msg: &Message, to: To<'_>) -> Option<Packet> {
        let (socket, identities): (Leaves, &[Vec<u8>]) = match to {
            To::Output | To::Announcement => (Leaves::Iopub, &[]),
            To::Reply(Origin::Jupyter { channel, identities }) => {
                let socket = match channel {
                    Channel::Shell => Leaves::Shell,
                    Channel::Control => Leaves::Control,
                    Channel::Stdin => Leaves::Stdin,
                };
                (socket, identities)
            }
            To::Input(Origin::Jupyter { identities, .. }) => (Leaves::Stdin, identities),
            // Nothing here came in on a byte stream.
            To::Reply(Origin::Stream) | To::Input(Origin::Stream) => return None,
        };
        Some(self.packet(socket, identities, msg.to_parts()))
    }

    fn encode_text(
        &self,
        headers: &HeaderSource,
        name: StreamName,
        text: String,
        parent: Option<&Header>,
        out: &mut Vec<Packet>,
    ) {
        for piece in split_at_char_boundaries(&text, MAX_TEXT_PER_MESSAGE) {
            out.push(self.packet(Leaves::Iopub, &[], headers.stream_parts(name, piece, parent)));
        }
    }

    fn send(&self, packets: Vec<Packet>) -> io::Result<()> {
        let out = self.out.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let gone = || io::Error::new(io::ErrorKind::BrokenPipe, "the Jupyter sockets are closed");
        // Waits while the sockets are behind (back-pressure), never on the sockets' thread.
        out.ok_or_else(gone)?.blocking_send(packets).map_err(|_| gone())
    }

    fn shut(&self) {
        let sender = self.out.lock().unwrap_or_else(|e| e.into_inner()).take();
        if sender.is_some() {
            drop(sender);
            // What was sent before gets its moment on the wire.
            let _ = self
                .closed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .recv_timeout(CLOSE_GRACE);
        }
    }

    /// The sockets' thread did not survive the fork: there is nothing to let go of.
    fn forget_after_fork(&self) {}
}
