//! A Jupyter kernel's wire: where each kind of message goes among its sockets. Replies go
//! back on the channel their request came in on, to the client that sent it; output and
//! announcements go to every client on iopub; input requests go on stdin to the client
//! whose cell asks. Messages are signed here, in the thread that sends them.

use std::io;
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::Duration;

use hotrepl_proto::jupyter::{self, Signer};
use hotrepl_proto::markup::{paint_marked, Role};
use hotrepl_proto::{Content, ErrorContent, Header, HeaderSource, Message, StreamName};
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
        let parts = match as_front_ends_show_it(msg) {
            Some(shown) => shown.to_parts(),
            None => msg.to_parts(),
        };
        Some(self.packet(socket, identities, parts))
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

/// A message with an error, as Jupyter's front ends show errors: they join the traceback's
/// lines with newlines and show ANSI colours, so each line goes without its newline and
/// with the parts the kernel marked painted in (IPython's colours). None for the others.
fn as_front_ends_show_it(msg: &Message) -> Option<Message> {
    let content = match &msg.content {
        Content::Error(error) => Content::Error(painted(error)),
        Content::ExecuteReply(reply) => {
            let mut reply = reply.clone();
            reply.error = Some(painted(reply.error.as_ref()?));
            Content::ExecuteReply(reply)
        }
        _ => return None,
    };
    Some(Message { content, ..msg.clone() })
}

fn painted(error: &ErrorContent) -> ErrorContent {
    let text = paint_marked(&error.text(), &error.markup, |role, part| {
        let colour = match role {
            Role::Header | Role::Exception => "1;31",
            Role::File | Role::LineNumber => "32",
            Role::Function => "35",
            Role::Source | Role::Message => return part.to_owned(),
        };
        format!("\x1b[{colour}m{part}\x1b[0m")
    });
    ErrorContent {
        traceback: text.trim_end_matches('\n').split('\n').map(str::to_owned).collect(),
        markup: Vec::new(),
        ..error.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotrepl_proto::markup::Span;

    #[test]
    fn a_traceback_goes_as_lines_without_newlines_painted_where_marked() {
        let error = ErrorContent {
            ename: "KeyError".into(),
            evalue: "'x'".into(),
            traceback: vec!["Traceback (most recent call last):\n".into(), "KeyError: 'x'\n".into()],
            markup: vec![
                Span {
                    start: 0,
                    end: 9,
                    role: Role::Header,
                },
                Span {
                    start: 35,
                    end: 43,
                    role: Role::Exception,
                },
            ],
        };
        let shown = painted(&error);
        assert_eq!(
            shown.traceback,
            [
                "\x1b[1;31mTraceback\x1b[0m (most recent call last):",
                "\x1b[1;31mKeyError\x1b[0m: 'x'"
            ]
        );
        assert!(shown.markup.is_empty());
        assert_eq!((shown.ename, shown.evalue), (error.ename, error.evalue));
    }
}
