//! One client connection: where its requests come from (native frames or, on the Unix
//! socket, plain lines typed into `nc`), and the loop that serves them.
//!
//! Between cells the session's own thread reads requests, blocking. While a cell runs on
//! that thread, the process-wide [watcher](crate::exec::watcher) reads whatever arrives
//! (an interrupt, an input reply, a completion request) through the same reader. The
//! executor only knows the connection as the session's [`Inbound`] side.

use std::io::Read;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use hotrepl_proto::handshake::{check_compatible, parse_preamble, preamble, PREAMBLE_LEN};
use hotrepl_proto::{FrameError, HeaderSource, InputCancel, Message, ProtocolError, PROTOCOL_VERSION};
use pyo3::prelude::*;

use crate::exec::watcher;
use crate::handoff::Handoff;
use crate::line_mode::LineReader;
use crate::ops::{self, Next};
use crate::reader::RequestReader;
use crate::server::log_event;
use crate::session::{CloseReason, Inbound, Session};
use crate::threads;
use crate::transport::{Origin, Request, To};
use hotrepl_proto::socket::Socket;

/// Reads the client's preamble (its first `PREAMBLE_LEN` bytes) and answers with ours.
/// On a mismatch the client is told why before the error is returned.
pub fn handshake(socket: &mut Socket, headers: &HeaderSource) -> Result<(), String> {
    let mut theirs = [0u8; PREAMBLE_LEN];
    socket.read_exact(&mut theirs).map_err(|e| format!("handshake: {e}"))?;
    let version = parse_preamble(&theirs).map_err(|e| e.to_string())?;
    let mut out = preamble(PROTOCOL_VERSION).to_vec();
    let verdict = check_compatible(PROTOCOL_VERSION, version).map_err(|e| e.to_string());
    if let Err(reason) = &verdict {
        let msg = headers.message(ProtocolError { reason: reason.clone() }.into(), None);
        msg.push_frame(&mut out);
    }
    socket.send_all(&out).map_err(|e| format!("handshake: {e}"))?;
    verdict
}

/// Where a connection's requests come from.
pub enum Requests {
    Frames(RequestReader),
    Lines(LineReader),
    /// Read by a transport's own thread and handed over (Jupyter's sockets).
    Handoff(Arc<Handoff>),
}

/// What reading produced.
#[allow(clippy::large_enum_variant)] // a request is most of what is read, moved once
pub enum Incoming {
    Request(Request),
    /// The client sent something that is not a message; it is told why and let go.
    Invalid(String),
    /// Something for the program's log (a message the transport refused); serving goes on.
    Notice(String),
    End,
}

impl Requests {
    fn fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            Requests::Frames(reader) => reader.socket().as_raw_fd(),
            Requests::Lines(lines) => lines.socket().as_raw_fd(),
            Requests::Handoff(handoff) => handoff.fd(),
        }
    }

    fn read_blocking(&mut self, session: &Session) -> Incoming {
        match self {
            Requests::Frames(reader) => match reader.read_frame() {
                Ok(Some(bytes)) => decode(&bytes),
                Ok(None) => Incoming::End,
                Err(e) => ended_by(e),
            },
            Requests::Lines(lines) => lines.read_blocking(session),
            Requests::Handoff(handoff) => handoff.read_blocking(),
        }
    }

    /// Everything that has arrived, without blocking; `End` last if the connection ended.
    fn read_ready(&mut self, session: &Session) -> Vec<Incoming> {
        match self {
            Requests::Frames(reader) => {
                let ready = reader.read_ready();
                let mut out: Vec<Incoming> = ready.frames.iter().map(|f| decode(f)).collect();
                match ready.end {
                    None => {}
                    Some(Ok(())) => out.push(Incoming::End),
                    Some(Err(e)) => out.push(ended_by(e)),
                }
                out
            }
            Requests::Lines(lines) => lines.read_ready(session),
            Requests::Handoff(handoff) => handoff.read_ready(),
        }
    }
}

/// A frame too big is the client's mistake, to be told; any other read error ends the
/// connection.
fn ended_by(error: FrameError) -> Incoming {
    match error {
        e @ FrameError::Oversized { .. } => Incoming::Invalid(e.to_string()),
        _ => Incoming::End,
    }
}

fn decode(bytes: &[u8]) -> Incoming {
    match Message::from_json(bytes) {
        Ok(msg) => Incoming::Request(Request {
            msg,
            origin: Origin::Stream,
        }),
        Err(e) => Incoming::Invalid(e.to_string()),
    }
}

/// Each connection's key in the watcher.
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

pub struct Connection {
    me: Weak<Connection>,
    pub session: Arc<Session>,
    /// Who and where, for the log.
    label: String,
    requests: Mutex<Requests>,
    /// The socket's fd, for the watcher (readable without taking `requests`).
    pub fd: std::os::fd::RawFd,
    pub key: u64,
    /// Why the connection is over, if the watcher learned it while a cell ran.
    ended: Mutex<Option<CloseReason>>,
}

impl Connection {
    pub fn new(session: Arc<Session>, requests: Requests, label: String) -> Arc<Connection> {
        Arc::new_cyclic(|me| Connection {
            me: me.clone(),
            session,
            label,
            fd: requests.fd(),
            requests: Mutex::new(requests),
            key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
            ended: Mutex::new(None),
        })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// In a forked child: closes the inherited sockets so the parent's client sees only the
    /// parent. The objects are leaked, not dropped, so nothing closes those numbers twice.
    pub fn forget_after_fork(&self) {
        // SAFETY: closing an fd inherited from the parent; nothing in the child uses it.
        unsafe {
            libc::close(self.fd);
        }
        self.session.io.sink().forget_after_fork();
    }

    fn lock_requests(&self) -> MutexGuard<'_, Requests> {
        self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn ended(&self) -> Option<CloseReason> {
        *self.ended.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that the connection is over (the first reason wins) and unblocks a cell
    /// waiting for input from this client.
    pub fn end(&self, py: Python<'_>, reason: CloseReason) {
        self.ended
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(reason);
        self.session.io.cancel_input(py, InputCancel::Eof);
    }

    /// Serves requests on the calling thread until the client leaves, asks to shut down, or
    /// sends something that is not a message, then tells the executor the session is over.
    /// Returns None if this thread stopped serving because another took over (a stuck cell
    /// was abandoned); the connection then goes on without it.
    ///
    /// The thread stays attached to the interpreter (one thread state for its whole life)
    /// and lets go of the GIL only while it waits for the client.
    pub fn serve(self: &Arc<Self>) -> Option<CloseReason> {
        let sink = self.session.io.sink().clone();
        let served = threads::with_python(|py| {
            let reason = loop {
                if let Some(reason) = self.ended() {
                    break reason;
                }
                let incoming = threads::without_python(py, || self.next_python_request());
                let request = match incoming {
                    Ok(request) => request,
                    Err(reason) => break reason,
                };
                let next = ops::dispatch(py, &self.session, request);
                if !self.session.executor.serves_on_this_thread() {
                    return None;
                }
                if next == Next::Close {
                    break CloseReason::Shutdown;
                }
            };
            self.session.executor.clone().close(py, &self.session, reason);
            self.session.run_shutdown_hooks(py);
            Some(reason)
        });
        let reason = match served {
            Some(Some(reason)) => reason,
            Some(None) => return None,
            None => CloseReason::ClientGone,
        };
        sink.flush();
        if reason != CloseReason::Shutdown {
            sink.close();
        }
        Some(reason)
    }

    /// Serves the client on the calling thread (a session's worker), then lets the
    /// session go (see [`finish_session`]).
    pub fn serve_and_finish(self: &Arc<Self>) {
        finish_session(self, self.serve());
    }

    /// Reads requests, answering those that need no interpreter, until one does (or the
    /// connection ends, or the client sends something that is not a message).
    fn next_python_request(&self) -> Result<Request, CloseReason> {
        let mut requests = self.lock_requests();
        loop {
            match requests.read_blocking(&self.session) {
                Incoming::Request(request) => match ops::dispatch_plain(&self.session, request) {
                    Ok(Next::Continue) => continue,
                    Ok(Next::Close) => return Err(CloseReason::Shutdown),
                    Err(request) => return Ok(request),
                },
                Incoming::Invalid(reason) => {
                    self.refuse(&reason);
                    return Err(CloseReason::ClientGone);
                }
                Incoming::Notice(text) => {
                    threads::with_python(|py| log_event(py, "warning", &text));
                }
                Incoming::End => return Err(CloseReason::ClientGone),
            }
        }
    }

    fn refuse(&self, reason: &str) {
        let reason = format!("{reason}; closing the connection");
        let sink = self.session.io.sink();
        let msg = sink.headers().message(ProtocolError { reason }.into(), None);
        sink.send(&msg, To::Reply(&Origin::Stream));
    }

    /// The watcher's part, while a cell runs: handles whatever has arrived. Returns false
    /// once the connection has ended.
    pub fn on_ready(self: &Arc<Self>, py: Python<'_>) -> bool {
        // The session's thread holds this only while it reads between cells; then there
        // is nothing for the watcher to do.
        let incoming = match self.requests.try_lock() {
            Ok(mut requests) => requests.read_ready(&self.session),
            Err(_) => return true,
        };
        for item in incoming {
            match item {
                Incoming::Request(request) => {
                    let next = ops::dispatch(py, &self.session, request);
                    if next == Next::Close {
                        self.end(py, CloseReason::Shutdown);
                        return false;
                    }
                }
                Incoming::Invalid(reason) => {
                    self.refuse(&reason);
                    self.end(py, CloseReason::ClientGone);
                    return false;
                }
                Incoming::Notice(text) => log_event(py, "warning", &text),
                Incoming::End => {
                    self.end(py, CloseReason::ClientGone);
                    return false;
                }
            }
        }
        true
    }
}

impl Inbound for Connection {
    fn cell_started(&self) {
        if let Some(me) = self.me.upgrade() {
            // Unwatched, the connection is still read between cells; a cell just cannot be
            // interrupted from the client then.
            let _ = watcher::watch(&me);
        }
    }

    fn cell_ended(&self) {
        watcher::unwatch(self);
    }

    fn has_ended(&self) -> bool {
        self.ended().is_some()
    }

    fn end(&self, py: Python<'_>, reason: CloseReason) {
        Connection::end(self, py, reason);
    }

    fn serve_here(&self) {
        if let Some(me) = self.me.upgrade() {
            me.serve_and_finish();
        }
    }
}

/// After a session's thread stops serving: logs the end and lets the session go. A thread
/// that stopped because its stuck cell was abandoned (None) leaves quietly.
pub fn finish_session(conn: &Arc<Connection>, reason: Option<CloseReason>) {
    let Some(reason) = reason else { return };
    conn.session.io.sink().close();
    crate::output::context_session_ended();
    let why = match reason {
        CloseReason::Shutdown => "ended by the client",
        CloseReason::ClientGone => "closed",
    };
    threads::with_python(|py| log_event(py, "info", &format!("{} {why}", conn.label())));
}
