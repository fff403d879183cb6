//! The ZeroMQ side of a Jupyter kernel: one thread of ours running a single-threaded tokio
//! runtime that owns the five sockets — shell, control and stdin (ROUTER), iopub (PUB) and
//! the heartbeat (REP). It checks every message's signature and hands requests over to
//! the session ([`Handoff`]); it writes what the session's outbox sends ([`Packet`]s). It
//! never touches the interpreter, so heartbeats are answered even while a cell holds the
//! GIL; with nothing to do it sleeps in epoll.
//!
//! The ZeroMQ sockets listen on Unix sockets in the user's private runtime directory, not
//! on the connection file's ports: those are served by relays that watch what each peer
//! sends ([`ZmtpLimit`]) and drop a connection that announces an oversized message before
//! ZeroMQ would make room for it. The ports are on loopback, open to every local user, and
//! ZeroMQ reads a frame's length before anyone's signature is checked.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hotrepl_proto::jupyter::{self, ConnectionInfo, Rejected, SeenSignatures, Signer};
use hotrepl_proto::zmtp::ZmtpLimit;
use hotrepl_proto::{discovery, rundir, Content, Header, HeaderSource, Message, ProtocolError, DEFAULT_MAX_FRAME};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::mpsc;
use zeromq::prelude::*;
use zeromq::{PubSocket, RepSocket, RouterRecvHalf, RouterSendHalf, RouterSocket, ZmqError, ZmqMessage};

use crate::connection::Incoming;
use crate::handoff::Handoff;
use crate::threads;
use crate::transport::{Channel, Origin, Request};

/// Batches the outbox may hand over before it waits for the sockets to take them.
const QUEUED_BATCHES: usize = 64;
/// How long the sockets stay open once the outbox is done, for the connections to write
/// what was sent last (a kernel's reply to the shutdown that ends it).
const LAST_WORDS: Duration = Duration::from_millis(50);
/// The longest message a peer may send: the native protocol's limit on a frame.
const MAX_MESSAGE: u64 = DEFAULT_MAX_FRAME as u64;
/// The sockets in the order of their names (and of the arrays below).
const NAMES: [&str; 5] = ["shell", "control", "stdin", "iopub", "heartbeat"];

/// The socket a packet leaves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaves {
    Shell,
    Control,
    Stdin,
    Iopub,
}

/// A message's frames, ready for its socket.
pub struct Packet {
    pub socket: Leaves,
    pub frames: Vec<Vec<u8>>,
}

/// The running sockets: what the outbox sends them through, and a way to know they closed.
pub struct Sockets {
    /// The connection as bound (ports chosen where 0 was asked for).
    pub info: ConnectionInfo,
    pub out: mpsc::Sender<Vec<Packet>>,
    pub closed: std_mpsc::Receiver<()>,
}

/// Binds the sockets of `info` (on the calling thread, so that a port in use is its error)
/// and starts serving them.
pub fn start(
    info: &ConnectionInfo,
    signer: Arc<Signer>,
    headers: Arc<HeaderSource>,
    handoff: Arc<Handoff>,
) -> io::Result<Sockets> {
    let bind = |port: u16| TcpListener::bind((info.ip.as_str(), port));
    let listeners = [
        bind(info.shell_port)?,
        bind(info.control_port)?,
        bind(info.stdin_port)?,
        bind(info.iopub_port)?,
        bind(info.hb_port)?,
    ];
    let (inner, zmq_listeners) = InnerSockets::bind()?;
    let port = |i: usize| listeners[i].local_addr().map(|a| a.port());
    let bound = ConnectionInfo {
        shell_port: port(0)?,
        control_port: port(1)?,
        stdin_port: port(2)?,
        iopub_port: port(3)?,
        hb_port: port(4)?,
        ..info.clone()
    };
    let (out, batches) = mpsc::channel(QUEUED_BATCHES);
    let (done, closed) = std_mpsc::channel();
    let shared = Arc::new(Shared {
        signer,
        headers,
        handoff,
        seen: Mutex::new(SeenSignatures::default()),
    });
    threads::spawn_io("hotrepl-jupyter", move || {
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => {
                if let Err(e) = runtime.block_on(serve(listeners, zmq_listeners, &inner, shared.clone(), batches)) {
                    shared.notice(format!("the Jupyter sockets stopped: {e}"));
                }
            }
            Err(e) => shared.notice(format!("cannot run the Jupyter sockets: {e}")),
        }
        drop(inner);
        shared.handoff.close();
        let _ = done.send(());
    })?;
    Ok(Sockets {
        info: bound,
        out,
        closed,
    })
}

/// What the socket tasks share.
struct Shared {
    signer: Arc<Signer>,
    headers: Arc<HeaderSource>,
    handoff: Arc<Handoff>,
    /// Signatures seen on any channel: a message sent again is refused wherever it comes.
    seen: Mutex<SeenSignatures>,
}

impl Shared {
    fn notice(&self, text: String) {
        self.handoff.push(Incoming::Notice(text));
    }
}

/// The files of the Unix sockets the ZeroMQ sockets listen on, in the private runtime
/// directory; they are removed when this goes.
struct InnerSockets {
    paths: Vec<PathBuf>,
    /// Where to connect to each: its path, or where that is too long for a Unix socket's
    /// address, the same file reached through `dir`'s descriptor in /proc.
    addresses: Vec<PathBuf>,
    /// The directory, kept open while its descriptor names it.
    dir: Option<std::fs::File>,
}

/// The longest path a Unix socket's address takes (`sun_path`, less its final NUL).
const MAX_SOCKET_PATH: usize = 107;

impl InnerSockets {
    /// Binds one Unix socket per name of [`NAMES`], in that order.
    fn bind() -> io::Result<(InnerSockets, [UnixListener; 5])> {
        let dir = rundir::runtime_dir();
        rundir::ensure_private_dir(&dir)?;
        remove_left_behind(&dir);
        let mut inner = InnerSockets {
            paths: Vec::new(),
            addresses: Vec::new(),
            dir: None,
        };
        let mut listeners = Vec::new();
        for name in NAMES {
            let path = discovery::free_name(&dir, &format!("{}-jupyter-{name}", std::process::id()), "sock");
            let address = if path.as_os_str().len() <= MAX_SOCKET_PATH {
                path.clone()
            } else {
                let dir = match &inner.dir {
                    Some(dir) => dir,
                    None => inner.dir.insert(std::fs::File::open(&dir)?),
                };
                let file_name = path.file_name().unwrap_or_default();
                Path::new("/proc/self/fd").join(dir.as_raw_fd().to_string()).join(file_name)
            };
            listeners.push(UnixListener::bind(&address)?);
            inner.paths.push(path);
            inner.addresses.push(address);
        }
        let listeners = listeners.try_into().map_err(|_| io::Error::other("not one socket per name"))?;
        Ok((inner, listeners))
    }
}

/// Removes the inner sockets of processes that are gone: one killed (as Jupyter kills a
/// kernel that does not stop in time) had no chance to.
fn remove_left_behind(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, rest)) = name.to_str().and_then(|n| n.split_once("-jupyter-")) else {
            continue;
        };
        let dead = pid.parse().is_ok_and(|pid| !discovery::process_exists(pid));
        if dead && rest.ends_with(".sock") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl Drop for InnerSockets {
    fn drop(&mut self) {
        for path in &self.paths {
            let _ = std::fs::remove_file(path);
        }
    }
}

async fn serve(
    public: [TcpListener; 5],
    [shell, control, stdin, iopub, heartbeat]: [UnixListener; 5],
    inner: &InnerSockets,
    shared: Arc<Shared>,
    mut batches: mpsc::Receiver<Vec<Packet>>,
) -> Result<(), ZmqError> {
    for ((listener, address), name) in public.into_iter().zip(&inner.addresses).zip(NAMES) {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tokio::spawn(relay(listener, address.clone(), name, shared.clone()));
    }
    let router = |listener: UnixListener| async move {
        let mut socket = RouterSocket::new();
        socket.bind_listener(listener).await?;
        Ok::<_, ZmqError>(socket.split())
    };
    let (mut shell_out, shell_in) = router(shell).await?;
    let (mut control_out, control_in) = router(control).await?;
    let (mut stdin_out, stdin_in) = router(stdin).await?;
    let mut iopub_socket = PubSocket::new();
    iopub_socket.bind_listener(iopub).await?;
    let mut heartbeat_socket = RepSocket::new();
    heartbeat_socket.bind_listener(heartbeat).await?;

    tokio::spawn(read(shell_in, shell_out.clone(), Channel::Shell, shared.clone()));
    tokio::spawn(read(control_in, control_out.clone(), Channel::Control, shared.clone()));
    tokio::spawn(read(stdin_in, stdin_out.clone(), Channel::Stdin, shared.clone()));
    tokio::spawn(echo(heartbeat_socket));

    // Until the outbox is done with us (it drops its sender when it closes).
    while let Some(batch) = batches.recv().await {
        for packet in batch {
            let Ok(message) = ZmqMessage::try_from(packet.frames.into_iter().map(Bytes::from).collect::<Vec<_>>())
            else {
                continue;
            };
            // A client that left cannot be written to; that is no reason to stop.
            let _ = match packet.socket {
                Leaves::Shell => shell_out.send(message).await,
                Leaves::Control => control_out.send(message).await,
                Leaves::Stdin => stdin_out.send(message).await,
                Leaves::Iopub => iopub_socket.send(message).await,
            };
        }
    }
    tokio::time::sleep(LAST_WORDS).await;
    Ok(())
}

/// Reads one ROUTER socket: requests go to the session, refused messages are logged and
/// (unless forged or replayed) answered with what is wrong with them.
async fn read(mut socket: RouterRecvHalf, mut answer: RouterSendHalf, channel: Channel, shared: Arc<Shared>) {
    let name = match channel {
        Channel::Shell => "shell",
        Channel::Control => "control",
        Channel::Stdin => "stdin",
    };
    while let Ok(message) = socket.recv().await {
        let frames = message.into_vec();
        let received = {
            let mut seen = shared.seen.lock().unwrap_or_else(|e| e.into_inner());
            jupyter::decode(&frames, &shared.signer, &mut seen)
        };
        // The ROUTER puts the sender's identity first, also before a message without a
        // delimiter: that is where an answer goes.
        let identities = match received.identities {
            ids if !ids.is_empty() => ids,
            _ => frames.first().map(|id| vec![id.to_vec()]).unwrap_or_default(),
        };
        let rejected = match received.message {
            Ok(msg) => {
                let origin = Origin::Jupyter {
                    channel,
                    identities: identities.into(),
                };
                shared.handoff.push(Incoming::Request(Request { msg, origin }));
                continue;
            }
            Err(rejected) => rejected,
        };
        let who = identities
            .first()
            .map(|id| String::from_utf8_lossy(id).into_owned())
            .unwrap_or_default();
        shared.notice(format!(
            "Jupyter {name} channel: {rejected} from client {who:?}: dropped"
        ));
        // A forged or replayed message gets no answer: the sender learns nothing from us.
        if matches!(rejected, Rejected::BadSignature | Rejected::Replayed) {
            continue;
        }
        let error = error_answer(&shared.headers, &rejected);
        let frames = jupyter::encode(&identities, error.to_parts(), &shared.signer);
        if let Ok(message) = ZmqMessage::try_from(frames.into_iter().map(Bytes::from).collect::<Vec<_>>()) {
            let _ = answer.send(message).await;
        }
    }
}

/// What a client that sent a malformed message is told: the reply its request expected,
/// with an error, if its header could be read; else a `protocol_error`.
fn error_answer(headers: &HeaderSource, rejected: &Rejected) -> Message {
    let reason = rejected.to_string();
    let request: Option<&Header> = match rejected {
        Rejected::Undecodable { header, .. } => header.as_deref(),
        _ => None,
    };
    match request.and_then(|h| Some((h, h.msg_type.strip_suffix("_request")?))) {
        Some((header, kind)) => {
            let content = Content::Unknown {
                msg_type: format!("{kind}_reply"),
                content: json!({
                    "status": "error",
                    "ename": "MalformedMessage",
                    "evalue": reason,
                    "traceback": [],
                }),
            };
            headers.message(content, Some(header))
        }
        None => headers.message(ProtocolError { reason }.into(), None),
    }
}

/// Serves one of the connection file's ports: every connection is relayed to the ZeroMQ
/// socket listening at `inner`, what the peer sends watched on the way.
async fn relay(public: tokio::net::TcpListener, inner: PathBuf, name: &'static str, shared: Arc<Shared>) {
    loop {
        match public.accept().await {
            Ok((peer, address)) => {
                tokio::spawn(relay_connection(peer, address, inner.clone(), name, shared.clone()));
            }
            // Out of file descriptors, say: the next accept may fare better, a little later.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Relays one connection both ways until either side ends it, or the peer announces a
/// message over [`MAX_MESSAGE`]: then both are closed and the program's log says so.
async fn relay_connection(peer: TcpStream, address: SocketAddr, inner: PathBuf, name: &str, shared: Arc<Shared>) {
    let Ok(socket) = UnixStream::connect(&inner).await else {
        return;
    };
    let _ = peer.set_nodelay(true);
    let (mut from_peer, mut to_peer) = peer.into_split();
    let (mut from_socket, mut to_socket) = socket.into_split();
    let inbound = async {
        let mut limit = ZmtpLimit::new(MAX_MESSAGE);
        let mut buffer = vec![0u8; 64 << 10];
        loop {
            let n = from_peer.read(&mut buffer).await?;
            if n == 0 {
                return Ok(None);
            }
            if let Err(oversized) = limit.check(&buffer[..n]) {
                return Ok(Some(oversized));
            }
            to_socket.write_all(&buffer[..n]).await?;
        }
    };
    tokio::select! {
        refused = inbound => {
            if let Ok::<_, io::Error>(Some(oversized)) = refused {
                shared.notice(format!("Jupyter {name} channel: {oversized}, from {address}: connection closed"));
            }
        }
        _ = tokio::io::copy(&mut from_socket, &mut to_peer) => {}
    }
}

/// The heartbeat: every message comes straight back.
async fn echo(mut socket: RepSocket) {
    loop {
        match socket.recv().await {
            Ok(message) => {
                let _ = socket.send(message).await;
            }
            // The socket is closed.
            Err(ZmqError::NoMessage) => return,
            // One peer's trouble (it is dropped); the others go on.
            Err(_) => continue,
        }
    }
}
