//! Everything a connection sends goes through its outbox, in order: replies and other
//! messages as frames, and `print()` output as text that is coalesced into `stream`
//! messages. Python threads only append under a short lock; the bytes are written either by
//! the thread that sends a reply (so a reply costs no thread hop) or by the connection's
//! writer thread (so output streams while a cell runs). A batch is taken from the queue only
//! while holding the socket, which keeps what is written in the order it was queued.
//!
//! A client that reads slowly fills the queue; past a high-water mark the session's own
//! thread waits for it to drain (back-pressure), other threads never wait: beyond a hard cap
//! their output is dropped and counted, so a slow client can never stall the host.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use hotrepl_proto::{Content, Header, HeaderSource, Message, StreamName};

use hotrepl_proto::socket::Socket;

/// Queued text beyond which the session's own thread waits for the client.
const HIGH_WATER: usize = 4 << 20;
/// The waiting thread resumes once the queue is back under this.
const LOW_WATER: usize = 1 << 20;
/// Queued text beyond which output from other threads is dropped.
const HARD_CAP: usize = 64 << 20;
/// Largest text carried by one stream message.
const MAX_TEXT_PER_FRAME: usize = 1 << 20;

/// How a connection's bytes look: protocol frames, or plain text for `nc` (line mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Frames,
    Text,
}

enum Item {
    /// An encoded message (a frame, or its text).
    Frame(Vec<u8>),
    Text {
        name: StreamName,
        text: String,
        parent: Option<Arc<Header>>,
    },
}

#[derive(Default)]
struct Queue {
    items: Vec<Item>,
    text_bytes: usize,
    dropped_bytes: usize,
    /// The request that output is attributed to (the running or last cell).
    parent: Option<Arc<Header>>,
    /// A batch taken from `items` is being written.
    sending: bool,
    closed: bool,
}

/// Whether a text push went over the high-water mark, so the pusher may wait to drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pressure {
    Normal,
    High,
}

pub struct Outbox {
    encoding: Encoding,
    socket: Mutex<Socket>,
    /// The socket's fd, readable without the mutex (see `close`).
    fd: std::os::fd::RawFd,
    queue: Mutex<Queue>,
    wake_writer: Condvar,
    drained: Condvar,
    headers: Arc<HeaderSource>,
}

impl Outbox {
    pub fn new(socket: Socket, headers: Arc<HeaderSource>, encoding: Encoding) -> Arc<Outbox> {
        use std::os::fd::AsRawFd;
        Arc::new(Outbox {
            encoding,
            fd: socket.as_raw_fd(),
            socket: Mutex::new(socket),
            queue: Mutex::new(Queue::default()),
            wake_writer: Condvar::new(),
            drained: Condvar::new(),
            headers,
        })
    }

    pub fn fd(&self) -> std::os::fd::RawFd {
        self.fd
    }

    fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding this lock cannot leave the queue half-updated in a way that
        // matters more than losing the connection, so poisoning is ignored.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_closed(&self) -> bool {
        self.lock_queue().closed
    }

    /// Attributes output from now on to the request `parent`.
    pub fn set_parent(&self, parent: Option<&Header>) {
        self.lock_queue().parent = parent.map(|h| Arc::new(h.clone()));
    }

    /// Appends output text. Never blocks; `may_wait` says whether the caller is allowed to
    /// wait for the client (see [`Outbox::wait_drained`]), otherwise text over the hard cap
    /// is dropped.
    pub fn push_text(&self, name: StreamName, text: &str, may_wait: bool) -> Pressure {
        if text.is_empty() {
            return Pressure::Normal;
        }
        let mut q = self.lock_queue();
        if q.closed {
            return Pressure::Normal;
        }
        if !may_wait && q.text_bytes >= HARD_CAP {
            q.dropped_bytes += text.len();
            return Pressure::Normal;
        }
        // The writer is woken by the first text of a batch. Frames queued before it (a
        // cell's busy status and execute_input) woke nobody, so they do not count.
        let first_text = q.text_bytes == 0;
        let parent = q.parent.clone();
        q.text_bytes += text.len();
        match q.items.last_mut() {
            Some(Item::Text {
                name: n,
                text: t,
                parent: p,
            }) if *n == name && same_parent(p, &parent) && t.len() < MAX_TEXT_PER_FRAME => t.push_str(text),
            _ => q.items.push(Item::Text {
                name,
                text: text.to_owned(),
                parent,
            }),
        }
        let pressure = if q.text_bytes > HIGH_WATER {
            Pressure::High
        } else {
            Pressure::Normal
        };
        drop(q);
        if first_text {
            self.wake_writer.notify_one();
        }
        pressure
    }

    /// Blocks until queued text is back under the low-water mark or the connection closed.
    /// Call it without holding the GIL.
    pub fn wait_drained(&self) {
        let mut q = self.lock_queue();
        while q.text_bytes > LOW_WATER && !q.closed {
            q = self.drained.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Queues a message without writing it yet: it leaves with the next write.
    pub fn queue(&self, msg: &Message) {
        let bytes = match self.encoding {
            Encoding::Frames => {
                let mut frame = Vec::new();
                msg.push_frame(&mut frame);
                frame
            }
            Encoding::Text => crate::line_mode::render(msg).into_bytes(),
        };
        let mut q = self.lock_queue();
        if !q.closed && !bytes.is_empty() {
            q.items.push(Item::Frame(bytes));
        }
    }

    /// Writes text as it is (line mode's prompts), after everything queued before it.
    pub fn push_raw(&self, text: &str) {
        {
            let mut q = self.lock_queue();
            if q.closed {
                return;
            }
            q.items.push(Item::Frame(text.as_bytes().to_vec()));
        }
        self.flush();
    }

    /// Queues a message and writes everything queued so far from this thread.
    pub fn send(&self, msg: &Message) {
        self.queue(msg);
        self.flush();
    }

    /// Builds a message from this connection's header source and sends it.
    pub fn send_content(&self, content: impl Into<Content>, parent: Option<&Header>) {
        self.send(&self.headers.message(content.into(), parent));
    }

    pub fn queue_content(&self, content: impl Into<Content>, parent: Option<&Header>) {
        self.queue(&self.headers.message(content.into(), parent));
    }

    /// Writes whatever is queued. Holding the socket while taking the batch keeps batches
    /// in queue order across threads.
    pub fn flush(&self) {
        let socket = self.socket.lock().unwrap_or_else(|e| e.into_inner());
        let (items, dropped) = {
            let mut q = self.lock_queue();
            if q.items.is_empty() {
                return;
            }
            q.text_bytes = 0;
            q.sending = true;
            let dropped = std::mem::take(&mut q.dropped_bytes);
            (std::mem::take(&mut q.items), dropped)
        };
        self.drained.notify_all();
        let chunks = self.encode(items, dropped);
        let sent = socket.send_all_vectored(&chunks);
        drop(socket);
        self.lock_queue().sending = false;
        self.drained.notify_all();
        if sent.is_err() {
            self.close();
        }
    }

    /// Closes once everything queued has been written, or at `deadline` whatever is left:
    /// for threads that must not wait on a client (the program's own, stopping the server
    /// or exiting), which leave the writing to the writer thread.
    pub fn close_by(&self, deadline: Instant) {
        self.wake_writer.notify_one();
        let mut q = self.lock_queue();
        while (q.sending || !q.items.is_empty()) && !q.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            q = self.drained.wait_timeout(q, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        drop(q);
        self.close();
    }

    /// The bytes of a batch, in pieces sent together (one system call): queued frames
    /// and line mode's text as they are, output as stream messages encoded in place.
    fn encode(&self, items: Vec<Item>, dropped: usize) -> Vec<Vec<u8>> {
        let mut chunks = Vec::with_capacity(items.len() + 1);
        for item in items {
            match item {
                Item::Frame(f) => chunks.push(f),
                Item::Text { text, .. } if self.encoding == Encoding::Text => chunks.push(text.into_bytes()),
                Item::Text { name, text, parent } => {
                    // JSON escaping aside, a stream frame is its text plus a few hundred bytes.
                    let mut frames = Vec::with_capacity(text.len() + 512);
                    for piece in split_at_char_boundaries(&text, MAX_TEXT_PER_FRAME) {
                        self.headers
                            .push_stream_frame(&mut frames, name, piece, parent.as_deref());
                    }
                    chunks.push(frames);
                }
            }
        }
        if dropped > 0 {
            let text = format!("[hotrepl: {dropped} bytes of output were dropped: the client did not keep up]\n");
            let mut notice = Vec::new();
            match self.encoding {
                Encoding::Frames => self
                    .headers
                    .push_stream_frame(&mut notice, StreamName::Stderr, &text, None),
                Encoding::Text => notice.extend_from_slice(text.as_bytes()),
            }
            chunks.push(notice);
        }
        chunks
    }

    /// The writer thread's body: writes queued output as it arrives, until closed.
    pub fn run_writer(&self) {
        loop {
            {
                let mut q = self.lock_queue();
                while q.items.is_empty() && !q.closed {
                    q = self.wake_writer.wait(q).unwrap_or_else(|e| e.into_inner());
                }
                if q.closed {
                    return;
                }
            }
            self.flush();
        }
    }

    /// Stops all sending, releases every waiter and shuts the socket (which also ends the
    /// reader blocked on it).
    pub fn close(&self) {
        {
            let mut q = self.lock_queue();
            q.closed = true;
            q.items.clear();
            q.text_bytes = 0;
        }
        self.wake_writer.notify_all();
        self.drained.notify_all();
        // Not through the socket mutex: a writer may be blocked in send() holding it, and
        // shutting the socket down is what unblocks it.
        // SAFETY: shutting down a socket fd this outbox owns has no memory effects.
        unsafe {
            libc::shutdown(self.fd, libc::SHUT_RDWR);
        }
    }
}

fn same_parent(a: &Option<Arc<Header>>, b: &Option<Arc<Header>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

fn split_at_char_boundaries(text: &str, max: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.len().min(max);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotrepl_proto::{FrameReader, Stream};
    use std::os::unix::net::UnixStream;

    fn pair() -> (Arc<Outbox>, FrameReader<UnixStream>) {
        let (a, b) = UnixStream::pair().unwrap();
        let outbox = Outbox::new(Socket::Unix(a), Arc::new(HeaderSource::new("k", "u")), Encoding::Frames);
        (outbox, FrameReader::new(b))
    }

    fn next(r: &mut FrameReader<UnixStream>) -> Message {
        Message::from_json(&r.read_frame().unwrap().unwrap()).unwrap()
    }

    #[test]
    fn text_and_messages_leave_in_order_and_coalesce() {
        let (outbox, mut r) = pair();
        let parent = HeaderSource::new("c", "u").header("execute_request");
        outbox.set_parent(Some(&parent));
        outbox.push_text(StreamName::Stdout, "a", true);
        outbox.push_text(StreamName::Stdout, "b\n", true);
        outbox.push_text(StreamName::Stderr, "err", true);
        outbox.send_content(
            hotrepl_proto::Status {
                execution_state: hotrepl_proto::ExecutionState::Idle,
            },
            Some(&parent),
        );
        let m = next(&mut r);
        assert_eq!(
            m.content,
            Content::Stream(Stream {
                name: StreamName::Stdout,
                text: "ab\n".into()
            })
        );
        assert_eq!(m.parent_header.as_ref().unwrap().msg_id, parent.msg_id);
        assert!(matches!(
            next(&mut r).content,
            Content::Stream(Stream {
                name: StreamName::Stderr,
                ..
            })
        ));
        assert_eq!(next(&mut r).msg_type(), "status");
    }

    #[test]
    fn text_after_queued_frames_streams_at_once() {
        let (outbox, mut r) = pair();
        r.get_mut()
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let writer = outbox.clone();
        let writing = std::thread::spawn(move || writer.run_writer());
        outbox.push_text(StreamName::Stdout, "ready\n", true);
        assert_eq!(next(&mut r).msg_type(), "stream");
        // Time for the writer to go back to waiting.
        std::thread::sleep(std::time::Duration::from_millis(50));
        // As a cell starts: its busy status is queued, then it prints and keeps running.
        outbox.queue_content(
            hotrepl_proto::Status {
                execution_state: hotrepl_proto::ExecutionState::Busy,
            },
            None,
        );
        outbox.push_text(StreamName::Stdout, "started\n", true);
        assert_eq!(next(&mut r).msg_type(), "status");
        assert_eq!(next(&mut r).msg_type(), "stream");
        outbox.close();
        writing.join().unwrap();
    }

    #[test]
    fn long_text_is_split_on_char_boundaries() {
        let pieces: Vec<&str> = split_at_char_boundaries("ééé", 3).collect();
        assert_eq!(pieces, ["é", "é", "é"]);
    }

    #[test]
    fn a_vanished_client_closes_the_outbox_without_blocking() {
        let (outbox, r) = pair();
        drop(r);
        outbox.push_text(StreamName::Stdout, "lost", true);
        outbox.flush();
        assert!(outbox.is_closed());
        assert_eq!(outbox.push_text(StreamName::Stdout, "x", true), Pressure::Normal);
        outbox.wait_drained();
    }
}
