//! Plain line mode: the Unix socket is usable with nothing but `nc -U` or `socat`, like the
//! standard console. A greeting and `>>> `; lines are gathered into a cell until the kernel
//! says it is complete (`... ` asks for more; a compound statement ends with an empty line);
//! values and tracebacks come back as text. Lines are turned into the same requests a native
//! client sends, and replies are rendered as text, so everything else is shared.

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use hotrepl_proto::{Content, ExecuteRequest, HeaderSource, InputReply, InterruptRequest, Message};

use crate::connection::Incoming;
use crate::ops::{is_complete, kernel_info};
use crate::outbox::{Outbox, StreamWire};
use crate::session::Session;
use crate::transport::{Origin, Request};
use hotrepl_proto::socket::Socket;

const PROMPT: &str = ">>> ";
const CONTINUATION: &str = "... ";
/// A typed line longer than this is not a line: the client is not a person at `nc`.
const MAX_LINE: usize = 1 << 20;
/// Ctrl-C, as sent by a client in raw mode (`socat - UNIX:...,raw` or similar).
const ETX: u8 = 0x03;

/// What a Unix-socket client sees first. A native client skips it (it holds no NUL byte).
pub fn greeting(session: u64, program: &str) -> String {
    let banner = kernel_info::reply().banner;
    let python = banner.lines().next().unwrap_or("Python");
    format!(
        "{python}\nhotrepl {} session {session} in process {} ({program}).\n\
         Type Python code; a compound statement ends with an empty line; Ctrl-D leaves.\n{PROMPT}",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
    )
}

/// A message as line mode shows it: output as text, a value by its repr, the end of a cell
/// as the next prompt.
pub fn render(msg: &Message) -> String {
    match &msg.content {
        Content::Stream(s) => s.text.clone(),
        Content::ExecuteReply(reply) => {
            let mut shown: String = reply
                .pages()
                .map(|page| format!("{}\n", page.trim_end_matches('\n')))
                .collect();
            shown.push_str(PROMPT);
            shown
        }
        Content::InputRequest(r) => r.prompt.clone(),
        other => other.shown_text().unwrap_or_default(),
    }
}

/// Turns typed lines into requests.
pub struct LineReader {
    socket: Socket,
    /// The connection's outbox, for the prompts.
    outbox: Arc<Outbox<StreamWire>>,
    buf: Vec<u8>,
    ready: VecDeque<Incoming>,
    /// Lines of the cell being typed.
    cell: String,
    headers: HeaderSource,
    closed: bool,
}

impl LineReader {
    pub fn new(socket: Socket, outbox: Arc<Outbox<StreamWire>>) -> LineReader {
        LineReader {
            socket,
            outbox,
            buf: Vec::new(),
            ready: VecDeque::new(),
            cell: String::new(),
            headers: HeaderSource::new(hotrepl_proto::auth::random_id(), "nc"),
            closed: false,
        }
    }

    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    pub fn read_blocking(&mut self, session: &Session) -> Incoming {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return item;
            }
            if let Some(line) = self.next_line() {
                self.take_line(session, line);
                continue;
            }
            if self.closed {
                return Incoming::End;
            }
            self.receive(0);
        }
    }

    /// While a cell runs: Ctrl-C, and a line if the cell waits for one in `input()`. Lines
    /// typed ahead wait for the cell to end, as at any console.
    pub fn read_ready(&mut self, session: &Session) -> Vec<Incoming> {
        if !self.closed {
            self.receive(libc::MSG_DONTWAIT);
        }
        if session.io.awaiting_input() {
            if let Some(line) = self.next_line() {
                self.take_line(session, line);
            }
        }
        let mut out: Vec<Incoming> = self.ready.drain(..).collect();
        if self.closed && self.buf.is_empty() {
            out.push(Incoming::End);
        }
        out
    }

    /// One read from the socket (an interrupt byte becomes an interrupt request at once).
    fn receive(&mut self, flags: i32) {
        let mut chunk = [0u8; 8192];
        // SAFETY: reading into a local buffer from a socket we own.
        let n = unsafe { libc::recv(self.socket.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len(), flags) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if !matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) {
                self.closed = true;
            }
            return;
        }
        if n == 0 {
            self.closed = true;
            return;
        }
        let chunk = &chunk[..n as usize];
        if chunk.contains(&ETX) {
            self.push(InterruptRequest { abandon: false }.into());
        }
        self.buf.extend(chunk.iter().filter(|&&b| b != ETX));
        if self.buf.len() > MAX_LINE && !self.buf.contains(&b'\n') {
            self.ready
                .push_back(Incoming::Invalid("line too long for line mode".into()));
            self.closed = true;
        }
    }

    fn next_line(&mut self) -> Option<String> {
        let end = self.buf.iter().position(|&b| b == b'\n')?;
        let line: Vec<u8> = self.buf.drain(..=end).collect();
        Some(String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r']).to_owned())
    }

    fn push(&mut self, content: Content) {
        self.ready.push_back(Incoming::Request(Request {
            msg: self.headers.message(content, None),
            origin: Origin::Stream,
        }));
    }

    fn take_line(&mut self, session: &Session, line: String) {
        // A line typed while the cell waits in input() is its answer.
        if session.io.awaiting_input() {
            self.push(
                InputReply {
                    value: line,
                    cancelled: None,
                }
                .into(),
            );
            return;
        }
        if !self.cell.is_empty() {
            self.cell.push('\n');
        }
        self.cell.push_str(&line);
        if self.cell.trim().is_empty() {
            self.cell.clear();
            self.outbox.push_packet(PROMPT.as_bytes().to_vec());
            return;
        }
        let future_flags = *session.future_flags().lock().unwrap_or_else(|e| e.into_inner());
        let incomplete =
            crate::threads::with_python(|py| is_complete::console_wants_more(py, &self.cell, future_flags));
        if incomplete == Some(true) {
            self.outbox.push_packet(CONTINUATION.as_bytes().to_vec());
        } else {
            let code = std::mem::take(&mut self.cell);
            self.push(ExecuteRequest::new(code).into());
        }
    }
}
