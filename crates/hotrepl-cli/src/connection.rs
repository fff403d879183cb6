//! The client side of the native protocol: the version handshake, a reader thread that
//! matches replies to waiting requests and queues everything else as events, and sending.

use std::collections::HashMap;
use std::io::{self, BufReader, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotrepl_proto::handshake::{check_compatible, parse_preamble, preamble, MAGIC, PREAMBLE_LEN};
use hotrepl_proto::{encode_frame, Content, FrameError, FrameReader, Header, HeaderSource, Message, PROTOCOL_VERSION};

use crate::events::{Event, Events};

pub struct Connection {
    writer: Mutex<UnixStream>,
    headers: HeaderSource,
    waiters: Mutex<HashMap<String, mpsc::Sender<Message>>>,
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
    /// Sends our preamble and starts the reader thread; events go to `events`.
    pub fn start(stream: UnixStream, events: Arc<Events>) -> io::Result<Arc<Connection>> {
        let reader = stream.try_clone()?;
        let conn = Arc::new(Connection {
            writer: Mutex::new(stream),
            headers: HeaderSource::new(random_session(), user_name()),
            waiters: Mutex::new(HashMap::new()),
        });
        conn.write(&preamble(PROTOCOL_VERSION))?;
        let reading = conn.clone();
        std::thread::Builder::new()
            .name("hotrepl-reader".into())
            .spawn(move || {
                let reason = reading.read_loop(reader, &events);
                reading.waiters.lock().unwrap_or_else(|e| e.into_inner()).clear();
                events.push(Event::Closed(reason));
            })?;
        Ok(conn)
    }

    fn write(&self, bytes: &[u8]) -> io::Result<()> {
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        send_all(writer.as_raw_fd(), bytes)
    }

    /// Sends a request; returns its header (replies name it as their parent).
    pub fn send(&self, content: impl Into<Content>) -> io::Result<Header> {
        let msg = self.headers.message(content.into(), None);
        self.write(&encode_frame(&msg.to_json()))?;
        Ok(msg.header)
    }

    /// Sends a request and waits for its reply (other messages keep flowing as events).
    pub fn request(&self, content: impl Into<Content>, timeout: Duration) -> Result<Message, RequestError> {
        let msg = self.headers.message(content.into(), None);
        let (tx, rx) = mpsc::channel();
        self.waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(msg.header.msg_id.clone(), tx);
        if let Err(e) = self.write(&encode_frame(&msg.to_json())) {
            self.waiters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&msg.header.msg_id);
            return Err(RequestError::Io(e));
        }
        let result = rx.recv_timeout(timeout);
        self.waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&msg.header.msg_id);
        result.map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => RequestError::TimedOut,
            mpsc::RecvTimeoutError::Disconnected => RequestError::Closed,
        })
    }

    fn read_loop(&self, stream: UnixStream, events: &Events) -> String {
        let mut reader = BufReader::new(stream);
        if let Err(e) = read_server_preamble(&mut reader) {
            return e;
        }
        let mut frames = FrameReader::new(reader);
        loop {
            let bytes = match frames.read_frame() {
                Ok(Some(b)) => b,
                Ok(None) => return "the kernel closed the connection".into(),
                Err(FrameError::Io(e)) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return "the kernel closed the connection".into()
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

/// Skips any greeting text the server sends for people typing into `nc` (text never holds
/// a NUL byte; the preamble starts with one), then checks the server's version.
fn read_server_preamble(reader: &mut impl Read) -> Result<(), String> {
    let closed = || "the server closed the connection during the handshake".to_string();
    let mut bytes = [0u8; PREAMBLE_LEN];
    loop {
        match reader.read(&mut bytes[..1]) {
            Ok(0) => return Err(closed()),
            Ok(_) if bytes[0] == MAGIC[0] => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("handshake failed: {e}")),
        }
    }
    reader.read_exact(&mut bytes[1..]).map_err(|_| closed())?;
    let version = parse_preamble(&bytes).map_err(|e| e.to_string())?;
    check_compatible(PROTOCOL_VERSION, version).map_err(|e| e.to_string())
}

fn send_all(fd: i32, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: valid buffer and fd; MSG_NOSIGNAL keeps a dead peer from killing us.
        let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

fn random_session() -> String {
    hotrepl_proto::auth::to_hex(&hotrepl_proto::auth::new_nonce()[..8])
}

fn user_name() -> String {
    std::env::var("USER").unwrap_or_default()
}
