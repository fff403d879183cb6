//! The client side of the native protocol: the handshakes (the version; on TCP, the
//! token), a reader thread that matches replies to waiting requests and queues everything
//! else as events, and sending.

use std::collections::HashMap;
use std::io::{self, BufReader, Read};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotrepl_proto::auth::{client_proof, from_hex, new_nonce, to_hex, verify_server};
use hotrepl_proto::handshake::{check_compatible, parse_preamble, preamble, MAGIC, PREAMBLE_LEN};
use hotrepl_proto::socket::Socket;
use hotrepl_proto::{AuthResponse, Content, FrameError, FrameReader, Header, HeaderSource, Message, PROTOCOL_VERSION};

use crate::events::{Event, Events};

/// How long a live process gets to answer each step of the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

type Frames = FrameReader<BufReader<Socket>>;

pub struct Connection {
    writer: Mutex<Socket>,
    headers: HeaderSource,
    waiters: Mutex<HashMap<String, mpsc::Sender<Message>>>,
    /// Why the session ended, when the other side closes the connection.
    closed_by_peer: &'static str,
}

/// A connection to a live process whose handshakes are done; nothing is read from it
/// until [`Opened::start`].
pub struct Opened {
    conn: Connection,
    frames: Frames,
}

#[derive(Debug)]
pub enum RequestError {
    Io(io::Error),
    TimedOut,
    Closed,
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::Io(e) => write!(f, "{e}"),
            RequestError::TimedOut => write!(f, "the kernel did not answer in time"),
            RequestError::Closed => write!(f, "the connection closed"),
        }
    }
}

impl Connection {
    fn new(stream: Socket, closed_by_peer: &'static str) -> io::Result<(Connection, Frames)> {
        let frames = FrameReader::new(BufReader::new(stream.try_clone()?));
        let conn = Connection {
            writer: Mutex::new(stream),
            headers: HeaderSource::for_this_user(),
            waiters: Mutex::new(HashMap::new()),
            closed_by_peer,
        };
        Ok((conn, frames))
    }

    /// The local kernel's connection. Only our preamble goes out here; the kernel's answer
    /// is read on the reader thread, so the kernel starts up while the prompt is set up.
    pub fn start(stream: Socket, events: Arc<Events>) -> io::Result<Arc<Connection>> {
        let (conn, frames) = Connection::new(stream, "the kernel closed the connection")?;
        conn.write(&preamble(PROTOCOL_VERSION))?;
        Opened { conn, frames }.start_reading(events, true)
    }

    /// A live process's connection. The version handshake and, with a `token` (TCP), the
    /// token handshake are done before this returns, so a refusal is an error here rather than
    /// a session that closes later.
    pub fn open(stream: Socket, token: Option<&[u8]>) -> Result<Opened, String> {
        stream
            .set_read_timeout(Some(HANDSHAKE_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let (conn, mut frames) =
            Connection::new(stream, "the program closed the session (it exited or stopped serving)")
                .map_err(|e| e.to_string())?;
        let sent = conn.write(&preamble(PROTOCOL_VERSION));
        // A server that refuses us says why and closes, maybe before our preamble is out:
        // its words explain more than the failed write.
        read_server_preamble(frames.get_mut())?;
        sent.map_err(|e| format!("handshake failed: {e}"))?;
        if let Some(token) = token {
            conn.authenticate(&mut frames, token)?;
        }
        conn.lock_writer().set_read_timeout(None).map_err(|e| e.to_string())?;
        Ok(Opened { conn, frames })
    }

    /// The client's half of the token handshake (docs/protocol.md): answer the server's
    /// challenge with our proof, then check the server's proof that it holds the token too.
    fn authenticate(&self, frames: &mut Frames, token: &[u8]) -> Result<(), String> {
        let challenge = match handshake_message(frames)? {
            Content::AuthChallenge(c) => c,
            other => return Err(unexpected("auth_challenge", &other)),
        };
        let server_nonce = from_hex(&challenge.nonce).ok_or("the server sent a malformed auth_challenge")?;
        let client_nonce = new_nonce();
        let proof = client_proof(token, &server_nonce, &client_nonce);
        self.send(AuthResponse {
            nonce: to_hex(&client_nonce),
            proof: to_hex(&proof),
        })
        .map_err(|e| format!("handshake failed: {e}"))?;
        let result = match handshake_message(frames)? {
            Content::AuthResult(r) => r,
            other => return Err(unexpected("auth_result", &other)),
        };
        if !result.ok {
            let reason = if result.reason.is_empty() {
                "no reason given"
            } else {
                &result.reason
            };
            return Err(format!("the token was refused ({reason})"));
        }
        let server_proof = from_hex(&result.proof).unwrap_or_default();
        if !verify_server(token, &server_nonce, &client_nonce, &server_proof) {
            return Err("the server could not prove that it holds the token; not talking to it".into());
        }
        Ok(())
    }

    fn spawn_reader(
        self: Arc<Self>,
        mut frames: Frames,
        preamble_pending: bool,
        events: Arc<Events>,
    ) -> io::Result<()> {
        std::thread::Builder::new()
            .name("hotrepl-reader".into())
            .spawn(move || {
                let failed = match preamble_pending {
                    true => read_server_preamble(frames.get_mut()).err(),
                    false => None,
                };
                let reason = failed.unwrap_or_else(|| self.read_loop(frames, &events));
                self.waiters.lock().unwrap_or_else(|e| e.into_inner()).clear();
                events.push(Event::Closed(reason));
            })?;
        Ok(())
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, Socket> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, bytes: &[u8]) -> io::Result<()> {
        self.lock_writer().send_all(bytes)
    }

    /// Sends a request; returns its header (replies name it as their parent).
    pub fn send(&self, content: impl Into<Content>) -> io::Result<Header> {
        self.send_with_metadata(content, serde_json::Map::new())
    }

    /// Sends a request with metadata (what the kernel should know about this client).
    pub fn send_with_metadata(
        &self,
        content: impl Into<Content>,
        metadata: serde_json::Map<String, serde_json::Value>,
    ) -> io::Result<Header> {
        let mut msg = self.headers.message(content.into(), None);
        msg.metadata = metadata;
        self.write(&msg.to_frame())?;
        Ok(msg.header)
    }

    /// Sends a request whose reply nobody waits for: the reply (or the refusal of a kernel
    /// that does not know the request) is dropped when it comes.
    pub fn send_unanswered(&self, content: impl Into<Content>) -> io::Result<()> {
        // A waiter whose receiving end is gone: the reader hands it the reply, which drops.
        self.send_replied_to(content.into(), mpsc::channel().0).map(drop)
    }

    /// Sends a request and waits for its reply (other messages keep flowing as events).
    pub fn request(&self, content: impl Into<Content>, timeout: Duration) -> Result<Message, RequestError> {
        let (tx, rx) = mpsc::channel();
        let msg_id = self.send_replied_to(content.into(), tx).map_err(RequestError::Io)?;
        let result = rx.recv_timeout(timeout);
        self.forget(&msg_id);
        result.map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => RequestError::TimedOut,
            mpsc::RecvTimeoutError::Disconnected => RequestError::Closed,
        })
    }

    /// Sends a request whose reply the reader hands to `tx`; returns its id.
    fn send_replied_to(&self, content: Content, tx: mpsc::Sender<Message>) -> io::Result<String> {
        let msg = self.headers.message(content, None);
        let msg_id = msg.header.msg_id.clone();
        self.waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(msg_id.clone(), tx);
        match self.write(&msg.to_frame()) {
            Ok(()) => Ok(msg_id),
            Err(e) => {
                self.forget(&msg_id);
                Err(e)
            }
        }
    }

    fn forget(&self, msg_id: &str) {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner()).remove(msg_id);
    }

    fn read_loop(&self, mut frames: Frames, events: &Events) -> String {
        loop {
            let bytes = match frames.read_frame() {
                Ok(Some(b)) => b,
                Ok(None) => return self.closed_by_peer.into(),
                Err(FrameError::Io(e)) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return self.closed_by_peer.into()
                }
                Err(e) => return e.to_string(),
            };
            let msg = match Message::from_json(&bytes) {
                Ok(m) => m,
                Err(e) => return format!("the kernel sent {e}"),
            };
            let waiter = msg
                .parent_header
                .as_ref()
                .and_then(|p| self.waiters.lock().unwrap_or_else(|e| e.into_inner()).remove(&p.msg_id));
            match waiter {
                Some(tx) => {
                    let _ = tx.send(msg);
                }
                None => events.push(Event::Message(msg)),
            }
        }
    }
}

impl Opened {
    /// Starts reading: from now on messages arrive as events.
    pub fn start(self, events: Arc<Events>) -> io::Result<Arc<Connection>> {
        self.start_reading(events, false)
    }

    /// `preamble_pending`: the server's preamble is still to be read (and checked) first.
    fn start_reading(self, events: Arc<Events>, preamble_pending: bool) -> io::Result<Arc<Connection>> {
        let conn = Arc::new(self.conn);
        conn.clone().spawn_reader(self.frames, preamble_pending, events)?;
        Ok(conn)
    }
}

/// Skips any greeting text the server sends for people typing into `nc` (text never holds
/// a NUL byte; the preamble starts with one), then checks the server's version. A server
/// that closes before its preamble said why in that text (a refused client is told so).
fn read_server_preamble(reader: &mut impl Read) -> Result<(), String> {
    let mut text = Vec::new();
    let mut bytes = [0u8; PREAMBLE_LEN];
    loop {
        match reader.read(&mut bytes[..1]) {
            Ok(0) => return Err(closed_during_handshake(&text)),
            Ok(_) if bytes[0] == MAGIC[0] => break,
            Ok(_) => text.push(bytes[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(handshake_failure(e)),
        }
    }
    reader.read_exact(&mut bytes[1..]).map_err(handshake_failure)?;
    let version = parse_preamble(&bytes).map_err(|e| e.to_string())?;
    check_compatible(PROTOCOL_VERSION, version).map_err(|e| e.to_string())
}

/// The next message during the handshake; a `protocol_error` is the server's reason for
/// giving up.
fn handshake_message(frames: &mut Frames) -> Result<Content, String> {
    let bytes = match frames.read_frame() {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err(closed_during_handshake(&[])),
        Err(FrameError::Io(e)) => return Err(handshake_failure(e)),
        Err(e) => return Err(e.to_string()),
    };
    match Message::from_json(&bytes) {
        Ok(Message {
            content: Content::ProtocolError(p),
            ..
        }) => Err(p.reason),
        Ok(msg) => Ok(msg.content),
        Err(e) => Err(format!("the server sent {e}")),
    }
}

fn closed_during_handshake(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let said = text.trim().trim_start_matches("hotrepl: ");
    if said.is_empty() {
        "the server closed the connection during the handshake".into()
    } else {
        said.into()
    }
}

fn handshake_failure(e: io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            format!("no answer to the handshake within {} s", HANDSHAKE_TIMEOUT.as_secs())
        }
        io::ErrorKind::UnexpectedEof => closed_during_handshake(&[]),
        _ => format!("handshake failed: {e}"),
    }
}

fn unexpected(wanted: &str, got: &Content) -> String {
    format!("the server sent {} where {wanted} belongs", got.msg_type())
}
