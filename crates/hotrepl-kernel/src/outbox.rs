//! Everything a session sends goes through its outbox, in order: replies and other
//! messages, and `print()` output as text that is coalesced into `stream` messages. Python
//! threads only append under a short lock; the bytes are written either by the thread that
//! sends a reply (so a reply costs no thread hop) or by the outbox's writer thread (so output
//! streams while a cell runs). A batch is taken from the queue only while holding the
//! writing lock, which keeps what is written in the order it was queued.
//!
//! A client that reads slowly fills the queue; past a high-water mark the session's own
//! thread waits for it to drain (back-pressure), other threads never wait: beyond a hard cap
//! their output is dropped and counted, so a slow client can never stall the host.
//!
//! How messages become bytes, and where they are written, is the transport's [`Wire`]: one
//! ordered byte stream of frames (or of text, in line mode) for a native connection, the
//! sockets of a Jupyter kernel for ZeroMQ. The kernel logic sees an outbox as a [`Sink`].

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hotrepl_proto::socket::Socket;
use hotrepl_proto::{Header, HeaderSource, Message, StreamName};

use crate::transport::To;

/// Queued text beyond which the session's own thread waits for the client.
const HIGH_WATER: usize = 4 << 20;
/// The waiting thread resumes once the queue is back under this.
const LOW_WATER: usize = 1 << 20;
/// Queued text beyond which output from other threads is dropped.
const HARD_CAP: usize = 64 << 20;
/// Largest text carried by one stream message.
pub const MAX_TEXT_PER_MESSAGE: usize = 1 << 20;
/// How long the start of a line waits for its end, on a wire that sends whole lines.
const PARTIAL_LINE_WAIT: Duration = Duration::from_millis(50);

/// A transport's way of putting messages on its wire.
pub trait Wire: Send + Sync + 'static {
    /// A message (or several stream messages) ready to be written.
    type Packet: Send;
    /// Whether the transport broadcasts to several clients (Jupyter's iopub): only then
    /// are announcements ([`To::Announcement`]) sent.
    fn broadcasts(&self) -> bool;
    /// Whether output leaves a line at a time: the start of a line waits (briefly) for its
    /// end, so that one `print()` (text, then its newline) is one message, as front ends
    /// that keep every message as an output of its own want. Otherwise text leaves as soon
    /// as the writer can take it.
    fn sends_whole_lines(&self) -> bool;
    /// `msg` as it leaves for `to`; None if this wire shows nothing for it.
    fn encode(&self, msg: &Message, to: To<'_>) -> Option<Self::Packet>;
    /// Output text of the request `parent`, as stream messages (at most
    /// [`MAX_TEXT_PER_MESSAGE`] each) or whatever this wire makes of it.
    fn encode_text(
        &self,
        headers: &HeaderSource,
        name: StreamName,
        text: String,
        parent: Option<&Header>,
        out: &mut Vec<Self::Packet>,
    );
    /// Writes `packets` in order, blocking while the transport cannot take more.
    fn send(&self, packets: Vec<Self::Packet>) -> io::Result<()>;
    /// Stops the wire: a writer blocked in `send` returns, and so does a reader of the same
    /// connection. Called without any lock of the outbox held.
    fn shut(&self);
    /// In a forked child: lets go of what the wire holds of the parent's connection
    /// without affecting the parent.
    fn forget_after_fork(&self);
}

/// An outbox as the kernel logic and the transports' loops see it, whatever its wire.
pub trait Sink: Send + Sync {
    fn headers(&self) -> &HeaderSource;
    /// See [`Wire::broadcasts`]: when not, announcements need not even be made.
    fn broadcasts(&self) -> bool;
    /// Queues a message without writing it yet: it leaves with the next write.
    fn queue(&self, msg: &Message, to: To<'_>);
    /// Queues a message and writes everything queued so far from this thread.
    fn send(&self, msg: &Message, to: To<'_>) {
        self.queue(msg, to);
        self.flush();
    }
    /// Appends output text of the request `parent` (None: the running or last cell's).
    /// Never blocks; `may_wait` says whether the caller is allowed to wait for the client
    /// (see [`Sink::wait_drained`]), otherwise text over the hard cap is dropped.
    fn push_text(&self, name: StreamName, text: &str, parent: Option<&Arc<Header>>, may_wait: bool) -> Pressure;
    /// Attributes output from now on to the request `parent`.
    fn set_parent(&self, parent: Option<Arc<Header>>);
    /// Blocks until queued text is back under the low-water mark or the outbox closed.
    /// Call it without holding the GIL.
    fn wait_drained(&self);
    fn is_closed(&self) -> bool;
    /// Writes whatever is queued.
    fn flush(&self);
    /// Stops all sending, releases every waiter and shuts the wire.
    fn close(&self);
    /// Closes once everything queued has been written, or at `deadline` whatever is left:
    /// for threads that must not wait on a client (the program's own, stopping the server
    /// or exiting), which leave the writing to the writer thread.
    fn close_by(&self, deadline: Instant);
    /// The writer thread's body: writes queued output as it arrives, until closed.
    fn run_writer(&self);
    /// In a forked child (see [`Wire::forget_after_fork`]).
    fn forget_after_fork(&self);
}

enum Item<P> {
    Packet(P),
    Text {
        name: StreamName,
        text: String,
        parent: Option<Arc<Header>>,
    },
}

struct Queue<P> {
    items: Vec<Item<P>>,
    text_bytes: usize,
    dropped_bytes: usize,
    /// The request that output is attributed to (the running or last cell).
    parent: Option<Arc<Header>>,
    /// The writer was woken for what is queued.
    writer_called: bool,
    /// What is queued should leave now: its text ended a line (or grew large).
    due: bool,
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

pub struct Outbox<W: Wire> {
    wire: W,
    /// Held while a batch is taken and written.
    writing: Mutex<()>,
    queue: Mutex<Queue<W::Packet>>,
    wake_writer: Condvar,
    drained: Condvar,
    headers: Arc<HeaderSource>,
}

impl<W: Wire> Outbox<W> {
    pub fn new(wire: W, headers: Arc<HeaderSource>) -> Arc<Outbox<W>> {
        Arc::new(Outbox {
            wire,
            writing: Mutex::new(()),
            queue: Mutex::new(Queue {
                items: Vec::new(),
                text_bytes: 0,
                dropped_bytes: 0,
                parent: None,
                writer_called: false,
                due: false,
                sending: false,
                closed: false,
            }),
            wake_writer: Condvar::new(),
            drained: Condvar::new(),
            headers,
        })
    }

    fn lock_queue(&self) -> MutexGuard<'_, Queue<W::Packet>> {
        // A panic while holding this lock cannot leave the queue half-updated in a way that
        // matters more than losing the connection, so poisoning is ignored.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `msg` as the wire sends it to `to`; None where it is not sent at all.
    fn packet(&self, msg: &Message, to: To<'_>) -> Option<W::Packet> {
        if matches!(to, To::Announcement) && !self.wire.broadcasts() {
            return None;
        }
        self.wire.encode(msg, to)
    }

    /// Writes a packet as it is (line mode's prompts), after everything queued before it.
    pub fn push_packet(&self, packet: W::Packet) {
        {
            let mut q = self.lock_queue();
            if q.closed {
                return;
            }
            q.items.push(Item::Packet(packet));
        }
        self.flush();
    }

    /// The packets of a batch: queued messages as they are, output text encoded now.
    fn encode(&self, items: Vec<Item<W::Packet>>, dropped: usize) -> Vec<W::Packet> {
        let mut packets = Vec::with_capacity(items.len() + 1);
        for item in items {
            match item {
                Item::Packet(p) => packets.push(p),
                Item::Text { name, text, parent } => {
                    self.wire
                        .encode_text(&self.headers, name, text, parent.as_deref(), &mut packets)
                }
            }
        }
        if dropped > 0 {
            let text = format!("[hotrepl: {dropped} bytes of output were dropped: the client did not keep up]\n");
            self.wire
                .encode_text(&self.headers, StreamName::Stderr, text, None, &mut packets);
        }
        packets
    }
}

impl<W: Wire> Sink for Outbox<W> {
    fn headers(&self) -> &HeaderSource {
        &self.headers
    }

    fn broadcasts(&self) -> bool {
        self.wire.broadcasts()
    }

    fn queue(&self, msg: &Message, to: To<'_>) {
        let Some(packet) = self.packet(msg, to) else {
            return;
        };
        let mut q = self.lock_queue();
        if !q.closed {
            q.items.push(Item::Packet(packet));
        }
    }

    fn push_text(&self, name: StreamName, text: &str, parent: Option<&Arc<Header>>, may_wait: bool) -> Pressure {
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
        // The writer is woken by the first text of a batch (messages queued before it woke
        // nobody). On a wire that sends whole lines it then waits for the end of a line,
        // and is woken again by the first one.
        // Only such a wire needs to know where lines end: the scan is skipped on the others,
        // where it is a good part of the cost of a print.
        let ends_line = self.wire.sends_whole_lines()
            && (q.text_bytes > HIGH_WATER || text.bytes().any(|b| b == b'\n' || b == b'\r'));
        let wake = !q.writer_called || (ends_line && !q.due);
        q.writer_called = true;
        q.due |= ends_line;
        let parent = parent.or(q.parent.as_ref()).cloned();
        q.text_bytes += text.len();
        match q.items.last_mut() {
            Some(Item::Text {
                name: n,
                text: t,
                parent: p,
            }) if *n == name && same_parent(p, &parent) && t.len() < MAX_TEXT_PER_MESSAGE => t.push_str(text),
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
        if wake {
            self.wake_writer.notify_one();
        }
        pressure
    }

    fn set_parent(&self, parent: Option<Arc<Header>>) {
        self.lock_queue().parent = parent;
    }

    fn wait_drained(&self) {
        let mut q = self.lock_queue();
        while q.text_bytes > LOW_WATER && !q.closed {
            q = self.drained.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn is_closed(&self) -> bool {
        self.lock_queue().closed
    }

    fn flush(&self) {
        let writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let (items, dropped) = {
            let mut q = self.lock_queue();
            if q.items.is_empty() {
                return;
            }
            q.text_bytes = 0;
            q.writer_called = false;
            q.due = false;
            q.sending = true;
            let dropped = std::mem::take(&mut q.dropped_bytes);
            (std::mem::take(&mut q.items), dropped)
        };
        self.drained.notify_all();
        let packets = self.encode(items, dropped);
        let sent = self.wire.send(packets);
        drop(writing);
        self.lock_queue().sending = false;
        self.drained.notify_all();
        if sent.is_err() {
            self.close();
        }
    }

    fn close(&self) {
        {
            let mut q = self.lock_queue();
            q.closed = true;
            q.items.clear();
            q.text_bytes = 0;
        }
        self.wake_writer.notify_all();
        self.drained.notify_all();
        // Not under the writing lock: a writer may be blocked in send() holding it, and
        // shutting the wire is what unblocks it.
        self.wire.shut();
    }

    fn close_by(&self, deadline: Instant) {
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

    fn run_writer(&self) {
        loop {
            {
                let mut q = self.lock_queue();
                loop {
                    if q.closed {
                        return;
                    }
                    if q.items.is_empty() {
                        q = self.wake_writer.wait(q).unwrap_or_else(|e| e.into_inner());
                        continue;
                    }
                    if q.due || !self.wire.sends_whole_lines() {
                        break;
                    }
                    // The start of a line: its end gets a moment to join it.
                    let (woken, waited) = self
                        .wake_writer
                        .wait_timeout(q, PARTIAL_LINE_WAIT)
                        .unwrap_or_else(|e| e.into_inner());
                    q = woken;
                    if waited.timed_out() {
                        break;
                    }
                }
            }
            self.flush();
        }
    }

    fn forget_after_fork(&self) {
        self.wire.forget_after_fork();
    }
}

fn same_parent(a: &Option<Arc<Header>>, b: &Option<Arc<Header>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

/// Splits `text` into pieces of at most `max` bytes, each ending on a char boundary.
pub fn split_at_char_boundaries(text: &str, max: usize) -> impl Iterator<Item = &str> {
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

/// How a byte stream's messages look: protocol frames, or plain text for `nc` (line mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Frames,
    Text,
}

/// The wire of a native connection (Unix socket, TCP, the local REPL's socket pair): one
/// ordered stream that carries every channel.
pub struct StreamWire {
    socket: Socket,
    encoding: Encoding,
}

impl StreamWire {
    pub fn new(socket: Socket, encoding: Encoding) -> StreamWire {
        StreamWire { socket, encoding }
    }

    fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl Wire for StreamWire {
    type Packet = Vec<u8>;

    fn broadcasts(&self) -> bool {
        false
    }

    fn sends_whole_lines(&self) -> bool {
        false
    }

    fn encode(&self, msg: &Message, _to: To<'_>) -> Option<Vec<u8>> {
        let bytes = match self.encoding {
            Encoding::Frames => msg.to_frame(),
            Encoding::Text => crate::line_mode::render(msg).into_bytes(),
        };
        (!bytes.is_empty()).then_some(bytes)
    }

    fn encode_text(
        &self,
        headers: &HeaderSource,
        name: StreamName,
        text: String,
        parent: Option<&Header>,
        out: &mut Vec<Vec<u8>>,
    ) {
        if self.encoding == Encoding::Text {
            out.push(text.into_bytes());
            return;
        }
        // JSON escaping aside, a stream frame is its text plus a few hundred bytes.
        let mut frames = Vec::with_capacity(text.len() + 512);
        for piece in split_at_char_boundaries(&text, MAX_TEXT_PER_MESSAGE) {
            headers.push_stream_frame(&mut frames, name, piece, parent);
        }
        out.push(frames);
    }

    fn send(&self, packets: Vec<Vec<u8>>) -> io::Result<()> {
        self.socket.send_all_vectored(&packets)
    }

    fn shut(&self) {
        // Through the fd: the socket may be in use by a writer blocked in send().
        // SAFETY: shutting down a socket fd this wire owns has no memory effects.
        unsafe {
            libc::shutdown(self.fd(), libc::SHUT_RDWR);
        }
    }

    fn forget_after_fork(&self) {
        // SAFETY: closing an fd inherited from the parent; nothing in the child uses it,
        // and the object that owns it is never dropped there (see `Connection`).
        unsafe {
            libc::close(self.fd());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotrepl_proto::{Content, FrameReader, Stream};
    use std::os::unix::net::UnixStream;

    fn pair() -> (Arc<Outbox<StreamWire>>, FrameReader<UnixStream>) {
        let (a, b) = UnixStream::pair().unwrap();
        let wire = StreamWire::new(Socket::Unix(a), Encoding::Frames);
        let outbox = Outbox::new(wire, Arc::new(HeaderSource::new("k", "u")));
        (outbox, FrameReader::new(b))
    }

    fn next(r: &mut FrameReader<UnixStream>) -> Message {
        Message::from_json(&r.read_frame().unwrap().unwrap()).unwrap()
    }

    fn status(state: hotrepl_proto::ExecutionState, parent: Option<&Header>) -> Message {
        HeaderSource::new("k", "u").message(hotrepl_proto::Status { execution_state: state }.into(), parent)
    }

    #[test]
    fn text_and_messages_leave_in_order_and_coalesce() {
        let (outbox, mut r) = pair();
        let parent = Arc::new(HeaderSource::new("c", "u").header("execute_request"));
        outbox.set_parent(Some(parent.clone()));
        outbox.push_text(StreamName::Stdout, "a", None, true);
        outbox.push_text(StreamName::Stdout, "b\n", None, true);
        outbox.push_text(StreamName::Stderr, "err", None, true);
        let idle = status(hotrepl_proto::ExecutionState::Idle, Some(&parent));
        outbox.send(&idle, To::Output);
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
    fn text_of_another_request_is_not_merged_and_keeps_its_parent() {
        let (outbox, mut r) = pair();
        let running = Arc::new(HeaderSource::new("c", "u").header("execute_request"));
        let earlier = Arc::new(HeaderSource::new("c", "u").header("execute_request"));
        outbox.set_parent(Some(running.clone()));
        outbox.push_text(StreamName::Stdout, "now\n", None, true);
        outbox.push_text(StreamName::Stdout, "from a task\n", Some(&earlier), true);
        outbox.flush();
        assert_eq!(next(&mut r).parent_header.unwrap().msg_id, running.msg_id);
        assert_eq!(next(&mut r).parent_header.unwrap().msg_id, earlier.msg_id);
    }

    #[test]
    fn announcements_are_not_sent_on_a_stream() {
        let (outbox, mut r) = pair();
        outbox.send(&status(hotrepl_proto::ExecutionState::Busy, None), To::Announcement);
        outbox.send(&status(hotrepl_proto::ExecutionState::Idle, None), To::Output);
        let m = next(&mut r);
        assert_eq!(
            m.content,
            Content::Status(hotrepl_proto::Status {
                execution_state: hotrepl_proto::ExecutionState::Idle
            })
        );
    }

    #[test]
    fn text_after_queued_messages_streams_at_once() {
        let (outbox, mut r) = pair();
        r.get_mut()
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let writer = outbox.clone();
        let writing = std::thread::spawn(move || writer.run_writer());
        outbox.push_text(StreamName::Stdout, "ready\n", None, true);
        assert_eq!(next(&mut r).msg_type(), "stream");
        // Time for the writer to go back to waiting.
        std::thread::sleep(std::time::Duration::from_millis(50));
        // As a cell starts: a message is queued, then it prints and keeps running.
        outbox.queue(&status(hotrepl_proto::ExecutionState::Busy, None), To::Output);
        outbox.push_text(StreamName::Stdout, "started\n", None, true);
        assert_eq!(next(&mut r).msg_type(), "status");
        assert_eq!(next(&mut r).msg_type(), "stream");
        outbox.close();
        writing.join().unwrap();
    }

    /// A wire that sends whole lines and keeps what it is given.
    #[derive(Default)]
    struct LineWire {
        sent: Mutex<Vec<String>>,
        arrived: Condvar,
    }

    impl Wire for Arc<LineWire> {
        type Packet = String;
        fn broadcasts(&self) -> bool {
            true
        }
        fn sends_whole_lines(&self) -> bool {
            true
        }
        fn encode(&self, msg: &Message, _to: To<'_>) -> Option<String> {
            Some(msg.msg_type().to_owned())
        }
        fn encode_text(
            &self,
            _: &HeaderSource,
            _: StreamName,
            text: String,
            _: Option<&Header>,
            out: &mut Vec<String>,
        ) {
            out.push(text);
        }
        fn send(&self, packets: Vec<String>) -> io::Result<()> {
            self.sent.lock().unwrap().extend(packets);
            self.arrived.notify_all();
            Ok(())
        }
        fn shut(&self) {}
        fn forget_after_fork(&self) {}
    }

    impl LineWire {
        fn wait_for(&self, count: usize) -> Vec<String> {
            let sent = self.sent.lock().unwrap();
            let (sent, _) = self
                .arrived
                .wait_timeout_while(sent, std::time::Duration::from_secs(5), |s| s.len() < count)
                .unwrap();
            sent.clone()
        }
    }

    #[test]
    fn on_a_wire_of_whole_lines_a_line_leaves_whole_and_a_lone_start_leaves_after_a_moment() {
        let wire = Arc::new(LineWire::default());
        let outbox = Outbox::new(wire.clone(), Arc::new(HeaderSource::new("k", "u")));
        let writer = outbox.clone();
        let writing = std::thread::spawn(move || writer.run_writer());
        // As print() does: the text, then (a moment later) its newline.
        outbox.push_text(StreamName::Stdout, "started", None, true);
        std::thread::sleep(std::time::Duration::from_millis(5));
        outbox.push_text(StreamName::Stdout, "\n", None, true);
        assert_eq!(wire.wait_for(1), ["started\n"]);
        // A prompt-like start of a line with no end is not held back for long.
        outbox.push_text(StreamName::Stdout, "working...", None, true);
        assert_eq!(wire.wait_for(2), ["started\n", "working..."]);
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
        outbox.push_text(StreamName::Stdout, "lost", None, true);
        outbox.flush();
        assert!(outbox.is_closed());
        assert_eq!(outbox.push_text(StreamName::Stdout, "x", None, true), Pressure::Normal);
        outbox.wait_drained();
    }
}
