//! The server a program starts with `hotrepl.start()`: it listens on a Unix socket in the
//! user's runtime directory (or, when asked, on TCP with a token), and gives each client a
//! session with a thread of its own.
//!
//! Threads: one accept thread per server, asleep in `poll(2)` on the listener and a wake-up
//! pipe (how `stop()` ends it); one thread per session, which reads its client and runs its
//! plain code; one writer thread per session for output; and the process's watcher. None
//! of them polls, so an idle server costs no CPU.

mod auth;
mod peer;

use std::io;
use std::net::{IpAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use hotrepl_history::{AuditLog, Place, PlaceKind, Who};
use hotrepl_proto::discovery::{self, TCP_SCHEME};
use hotrepl_proto::{rundir, HeaderSource};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::attach;
use crate::connection::{self, Connection, Requests};
use crate::exec::host_loop::LoopSource;
use crate::jupyter::LiveKernel;
use crate::line_mode::{self, LineReader};
use crate::ops::kernel_info;
use crate::outbox::{Encoding, Outbox, StreamWire};
use crate::output;
use crate::reader::RequestReader;
use crate::session::{CloseReason, Namespace};
use crate::threads;
use hotrepl_proto::socket::Socket;

/// How long stopping (or exiting) waits, in all, for clients to take their last output.
const LAST_OUTPUT_GRACE: Duration = Duration::from_millis(250);

enum Listener {
    Unix { listener: UnixListener, path: PathBuf },
    Tcp(TcpListener),
}

impl Listener {
    fn fd(&self) -> RawFd {
        match self {
            Listener::Unix { listener, .. } => listener.as_raw_fd(),
            Listener::Tcp(listener) => listener.as_raw_fd(),
        }
    }
}

/// What a server's threads share.
struct Shared {
    address: String,
    token: Option<String>,
    /// The token every TCP client must prove it holds. Kept here, not with the listener:
    /// a client accepted just before `stop()` takes the listener away still needs it.
    tcp_token: Option<Vec<u8>>,
    listener: Mutex<Option<Listener>>,
    /// Writing a byte here wakes the accept thread to stop it.
    wake: (OwnedFd, OwnedFd),
    namespace: Option<Py<PyDict>>,
    loops: Arc<LoopSource>,
    connections: Mutex<Vec<Weak<Connection>>>,
    record: Option<PathBuf>,
    /// `jupyter=True`: the connection file of the program's Jupyter session.
    jupyter: Option<PathBuf>,
    program: String,
    /// `audit=`: where every cell of every session is also written.
    audit: Option<Arc<AuditLog>>,
    owner_pid: u32,
    stopped: AtomicBool,
}

/// Every server started in this process, for `stop` (at exit) and fork handling.
static SERVERS: Mutex<Vec<Arc<Shared>>> = Mutex::new(Vec::new());

/// A running server (what `hotrepl.start()` returns).
#[pyclass(module = "hotrepl._native", frozen)]
pub struct Server {
    shared: Option<Arc<Shared>>,
}

#[pymethods]
impl Server {
    /// Where it listens: a socket path or `tcp://host:port` (None when disabled).
    #[getter]
    fn address(&self) -> Option<String> {
        self.shared.as_ref().map(|s| s.address.clone())
    }

    /// The token a TCP client needs (None for a Unix socket).
    #[getter]
    fn token(&self) -> Option<String> {
        self.shared.as_ref().and_then(|s| s.token.clone())
    }

    /// With `start(jupyter=True)`: the Jupyter connection file
    /// (`jupyter console --existing FILE`); else None.
    #[getter]
    fn jupyter_connection_file(&self) -> Option<String> {
        self.shared
            .as_ref()
            .and_then(|s| s.jupyter.as_ref())
            .map(|f| f.display().to_string())
    }

    /// True until stopped (False when HOTREPL_DISABLE made `start()` a no-op).
    #[getter]
    fn running(&self) -> bool {
        self.shared.as_ref().is_some_and(|s| !s.stopped.load(Ordering::SeqCst))
    }

    /// Stops listening and ends every session (their clients are told the program left).
    fn stop(&self, py: Python<'_>) {
        if let Some(shared) = &self.shared {
            shared.stop(py);
        }
    }

    fn __repr__(&self) -> String {
        match &self.shared {
            Some(s) if !s.stopped.load(Ordering::SeqCst) => format!("<hotrepl.Server listening on {}>", s.address),
            Some(s) => format!("<hotrepl.Server stopped, was {}>", s.address),
            None => "<hotrepl.Server disabled by HOTREPL_DISABLE>".into(),
        }
    }
}

/// Serve this process to `hotrepl attach`, in background threads; returns at once.
///
/// namespace: the globals sessions run in (default: `__main__`'s, looked up when a session
///     starts). Shared by all sessions and the program.
/// loop: the event loop cells that `await` run on (default: the loop running where
///     `start()` is called, else the main thread's running loop when a cell arrives, else a
///     private loop per session).
/// path: the Unix socket to listen on (default: in `$XDG_RUNTIME_DIR/hotrepl/`).
/// tcp: `(host, port)` to listen on TCP instead (port 0 picks one). Always with a token:
///     `token=` or a generated one (`server.token`); a non-loopback host without a token is
///     refused.
/// watch: patch the program's own modules whenever their files are saved (True), also the
///     modules named (an iterable of names); see `hotrepl._patch.watch`.
/// audit: a file to append one JSON line to for every cell any session runs (who: uid or
///     peer address; when; the code; how it ended). Writing it never disturbs a session.
/// jupyter: also serve a Jupyter session, for `jupyter console --existing FILE` and other
///     front ends: its connection file (loopback ports, a fresh key, readable by this user
///     only) is written next to the socket (`server.jupyter_connection_file`).
///
/// Only the same user (or root) may attach to the Unix socket. `HOTREPL_DISABLE=1` in the
/// environment makes this a no-op. Servers stop at exit, or with `stop()`.
#[pyfunction]
#[pyo3(signature = (namespace=None, *, r#loop=None, path=None, tcp=None, token=None, watch=None, audit=None, jupyter=false))]
#[allow(clippy::too_many_arguments)]
pub fn start(
    py: Python<'_>,
    namespace: Option<Bound<'_, PyDict>>,
    r#loop: Option<Bound<'_, PyAny>>,
    path: Option<PathBuf>,
    tcp: Option<(String, u16)>,
    token: Option<String>,
    watch: Option<Bound<'_, PyAny>>,
    audit: Option<PathBuf>,
    jupyter: bool,
) -> PyResult<Server> {
    if std::env::var_os("HOTREPL_DISABLE").is_some_and(|v| !v.is_empty() && v != "0") {
        return Ok(Server { shared: None });
    }
    if path.is_some() && tcp.is_some() {
        return Err(PyValueError::new_err("give path= (a Unix socket) or tcp=, not both"));
    }
    kernel_info::init(py)?;
    // `threading` records the thread that first imports it as the main thread: that must
    // not be a session's thread.
    py.import("threading")?;
    let program = crate::history::program_line(py);
    let audit = match audit {
        Some(path) => Some(Arc::new(AuditLog::open(&path).map_err(|e| {
            PyOSError::new_err(format!("cannot open the audit file {}: {e}", path.display()))
        })?)),
        None => None,
    };
    let loops = Arc::new(LoopSource::from_start(py, r#loop)?);
    let dir = rundir::runtime_dir();
    rundir::ensure_private_dir(&dir).map_err(|e| PyOSError::new_err(e.to_string()))?;
    let pid = std::process::id();

    let (listener, address, tcp_token, shown_token) = match tcp {
        Some((host, port)) => bind_tcp(&host, port, token)?,
        None => {
            let path = path.unwrap_or_else(|| discovery::free_name(&dir, &pid.to_string(), "sock"));
            let listener = bind_unix(&path)
                .map_err(|e| PyOSError::new_err(format!("cannot listen on {}: {e}", path.display())))?;
            let address = path.display().to_string();
            (Listener::Unix { listener, path }, address, None, None)
        }
    };
    let live_kernel = if jupyter { Some(LiveKernel::open(&dir)?) } else { None };
    let jupyter = live_kernel.as_ref().map(|k| k.connection_file.clone());
    let mut record = discovery::Record::new(
        address.clone(),
        program.clone(),
        kernel_info::reply().language_info.version,
        shown_token.clone(),
    );
    record.jupyter = jupyter.as_ref().map(|f| f.display().to_string());
    let record = record.write(&dir).ok();

    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two new fds that we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(PyOSError::new_err(io::Error::last_os_error().to_string()));
    }
    // SAFETY: both fds were just created.
    let wake = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let shared = Arc::new(Shared {
        address,
        token: shown_token,
        tcp_token,
        listener: Mutex::new(Some(listener)),
        wake,
        namespace: namespace.map(Bound::unbind),
        loops,
        connections: Mutex::new(Vec::new()),
        record,
        jupyter,
        program,
        audit,
        owner_pid: pid,
        stopped: AtomicBool::new(false),
    });
    register_process_hooks(py)?;
    let accepting = shared.clone();
    threads::spawn_io("hotrepl-accept", move || accepting.accept_loop())
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the accept thread: {e}")))?;
    SERVERS.lock().unwrap_or_else(|e| e.into_inner()).push(shared.clone());
    if let Some(kernel) = live_kernel {
        let server = shared.clone();
        let address = kernel.connection_file.display().to_string();
        let served = kernel.serve(
            shared.namespace.as_ref().map(|ns| ns.clone_ref(py)),
            shared.loops.clone(),
            move |py, conn| {
                let who = Who::Peer(format!("Jupyter front ends ({address})"));
                server.adopt(py, conn, &address, who);
            },
        );
        if let Err(e) = served {
            shared.stop(py);
            return Err(e);
        }
    }
    if let Some(watch) = watch.filter(|w| w.is_truthy().unwrap_or(false)) {
        // Imported only when asked for: the planner is not part of starting.
        if let Err(e) = py
            .import("hotrepl._patch")
            .and_then(|p| p.call_method1("watch", (watch,)))
        {
            shared.stop(py);
            return Err(e);
        }
    }
    Ok(Server { shared: Some(shared) })
}

/// Binds the socket (replacing a stale one left by a dead process) and makes it 0600.
fn bind_unix(path: &Path) -> io::Result<UnixListener> {
    let listener = match UnixListener::bind(path) {
        Ok(l) => l,
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            if UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another process is serving there",
                ));
            }
            std::fs::remove_file(path)?;
            UnixListener::bind(path)?
        }
        Err(e) => return Err(e),
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// A TCP listener, its address, the token clients need, and that token again if it was
/// generated (to show the user).
type TcpBinding = (Listener, String, Option<Vec<u8>>, Option<String>);

fn bind_tcp(host: &str, port: u16, token: Option<String>) -> PyResult<TcpBinding> {
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| PyValueError::new_err(format!("cannot resolve {host}: {e}")))?
        .next()
        .ok_or_else(|| PyValueError::new_err(format!("cannot resolve {host}")))?;
    let loopback = match addr.ip() {
        IpAddr::V4(ip) => ip.is_loopback(),
        IpAddr::V6(ip) => ip.is_loopback(),
    };
    let (token, shown) = match token {
        Some(t) if t.is_empty() => return Err(PyValueError::new_err("the token must not be empty")),
        Some(t) => (t, None),
        None if loopback => {
            let t = hotrepl_proto::auth::random_id();
            (t.clone(), Some(t))
        }
        None => {
            return Err(PyValueError::new_err(format!(
                "refusing to serve TCP on {addr} without a token: anyone who can reach it could run code \
                 as this user. Pass token=..., bind to 127.0.0.1, or forward the Unix socket over SSH."
            )))
        }
    };
    let listener = TcpListener::bind(addr).map_err(|e| PyOSError::new_err(format!("cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr().map_err(|e| PyOSError::new_err(e.to_string()))?;
    let address = format!("{TCP_SCHEME}{local}");
    Ok((Listener::Tcp(listener), address, Some(token.into_bytes()), shown))
}

impl Shared {
    fn accept_loop(self: Arc<Self>) {
        let Some(listen_fd) = self
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(Listener::fd)
        else {
            return;
        };
        loop {
            let mut fds = [
                libc::pollfd {
                    fd: listen_fd,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.wake.0.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: two valid pollfd entries; blocks until one is ready.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            if n < 0 {
                continue; // EINTR
            }
            if fds[1].revents != 0 || self.stopped.load(Ordering::SeqCst) {
                return;
            }
            let accepted = {
                let listener = self.listener.lock().unwrap_or_else(|e| e.into_inner());
                match listener.as_ref() {
                    Some(Listener::Unix { listener, .. }) => listener.accept().map(|(s, _)| Socket::Unix(s)),
                    Some(Listener::Tcp(listener)) => listener.accept().map(|(s, _)| {
                        let _ = s.set_nodelay(true);
                        Socket::Tcp(s)
                    }),
                    None => return,
                }
            };
            let socket = match accepted {
                Ok(s) => s,
                Err(_) => continue, // the client gave up before we took it (or out of fds)
            };
            let shared = self.clone();
            // A thread that runs user code: not signal-blocked (see `threads`).
            let _ = threads::spawn_worker("hotrepl-session", move || shared.serve_client(socket));
        }
    }

    /// The whole life of one client, on its own thread.
    fn serve_client(self: Arc<Self>, mut socket: Socket) {
        let number = crate::session::next_session_number();
        let headers = Arc::new(HeaderSource::for_this_user());
        let who = match self.admit(&mut socket, number, &headers) {
            Ok(who) => who,
            Err(Refusal { log, tell }) => {
                // Logged before the client hears it: whoever saw a refusal finds it in the
                // program's log, even if the program ends right after.
                if let Some(log) = log {
                    threads::with_python(|py| log_event(py, "warning", &log));
                }
                if let Some(tell) = tell {
                    let _ = socket.send_all(tell.as_bytes());
                }
                socket.close_discarding_input();
                return;
            }
        };
        // One attachment for the thread's whole life: the session's context variable lives
        // in this thread state, and the cell's tasks copy it from there.
        threads::with_python(|py| {
            if let Some(conn) = self.open_session(py, socket, headers, who, number) {
                conn.serve_and_finish();
            }
        });
    }

    /// Who the client is, and whether it may in (and how it talks).
    fn admit(&self, socket: &mut Socket, number: u64, headers: &HeaderSource) -> Result<Client, Refusal> {
        match socket {
            Socket::Unix(stream) => {
                let cred =
                    peer::peer_cred(stream).map_err(|e| Refusal::log(format!("could not identify a client: {e}")))?;
                if !peer::is_allowed(&cred) {
                    return Err(Refusal {
                        log: Some(format!(
                            "refused a connection from uid {} (pid {}) on {}: only uid {} or root may attach",
                            cred.uid,
                            cred.pid,
                            self.address,
                            rundir::euid()
                        )),
                        tell: Some("hotrepl: permission denied: only the owner of this process may attach\n".into()),
                    });
                }
                let who = format!("uid {} (pid {})", cred.uid, cred.pid);
                let id = Who::Uid {
                    uid: cred.uid,
                    pid: cred.pid,
                };
                socket
                    .send_all(line_mode::greeting(number, &self.program).as_bytes())
                    .map_err(|_| Refusal::quiet())?;
                let mut first = [0u8; 1];
                // SAFETY: peeking one byte into a local buffer.
                let n = unsafe { libc::recv(socket.as_raw_fd(), first.as_mut_ptr().cast(), 1, libc::MSG_PEEK) };
                if n <= 0 {
                    return Err(Refusal::quiet());
                }
                if first[0] == hotrepl_proto::handshake::MAGIC[0] {
                    connection::handshake(socket, headers).map_err(|_| Refusal::quiet())?;
                    Ok(Client { who, id, lines: false })
                } else {
                    Ok(Client { who, id, lines: true })
                }
            }
            Socket::Tcp(stream) => {
                let who = stream
                    .peer_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_else(|_| "an unknown address".into());
                if let Err(e) = connection::handshake(socket, headers) {
                    return Err(Refusal {
                        log: Some(format!("refused a TCP connection from {who}: {e}")),
                        tell: Some(format!(
                            "hotrepl: this port speaks the hotrepl protocol and needs a token: hotrepl attach tcp://{} --token ...\n",
                            self.address.trim_start_matches(TCP_SCHEME)
                        )),
                    });
                }
                Ok(Client {
                    id: Who::Peer(who.clone()),
                    who,
                    lines: false,
                })
            }
        }
    }

    fn open_session(
        self: &Arc<Self>,
        py: Python<'_>,
        socket: Socket,
        headers: Arc<HeaderSource>,
        client: Client,
        number: u64,
    ) -> Option<Arc<Connection>> {
        let write_half = socket.try_clone().ok()?;
        let mut reader = RequestReader::new(socket.try_clone().ok()?);
        if let Some(token) = &self.tcp_token {
            if let Err(e) =
                threads::without_python(py, || auth::authenticate(&mut reader, &write_half, &headers, token))
            {
                log_event(
                    py,
                    "warning",
                    &format!("refused a TCP connection from {}: {e}", client.who),
                );
                socket.shutdown();
                return None;
            }
        }
        let encoding = if client.lines { Encoding::Text } else { Encoding::Frames };
        let globals = match &self.namespace {
            Some(ns) => ns.clone_ref(py),
            None => py.import("__main__").ok()?.dict().unbind(),
        };
        let outbox = Outbox::new(StreamWire::new(write_half, encoding), headers);
        let requests = if client.lines {
            Requests::Lines(LineReader::new(socket, outbox.clone()))
        } else {
            Requests::Frames(reader)
        };
        let label = format!("session {number} ({}) on {}", client.who, self.address);
        let opened = attach::open(
            py,
            outbox,
            requests,
            Namespace { globals, locals: None },
            self.loops.clone(),
            number,
            label,
        );
        let conn = match opened {
            Ok(conn) => conn,
            Err(e) => {
                e.print(py);
                return None;
            }
        };
        self.adopt(py, &conn, &self.address, client.id);
        Some(conn)
    }

    /// Takes in a session that opened (to end it when the server stops): where it runs
    /// for history (`address`: where its client came), who for the audit file; logs it.
    fn adopt(&self, py: Python<'_>, conn: &Arc<Connection>, address: &str, who: Who) {
        let history = &conn.session.io.history;
        history.set_place(Place::here(PlaceKind::Attached, self.program.as_str(), address));
        if let Some(audit) = &self.audit {
            history.set_audit(audit.clone(), who);
        }
        self.connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::downgrade(conn));
        log_event(py, "info", &format!("{} opened", conn.label()));
        // A session that opened while the server stopped (a program's Jupyter session
        // starts on a thread of its own, and `stop()` may come first) may have missed the
        // stop's sweep: `stopped` is set before that sweep, so checking it after joining
        // the list leaves no gap.
        if self.stopped.load(Ordering::SeqCst) {
            conn.end(py, CloseReason::ClientGone);
            conn.session.io.sink().close();
        }
    }

    fn stop(&self, py: Python<'_>) {
        if self.stopped.swap(true, Ordering::SeqCst) || self.owner_pid != std::process::id() {
            return;
        }
        let byte = 1u8;
        // SAFETY: one byte from a valid buffer to our own pipe.
        unsafe {
            libc::write(self.wake.1.as_raw_fd(), (&byte as *const u8).cast(), 1);
        }
        if let Some(Listener::Unix { path, .. }) = self.listener.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = std::fs::remove_file(path);
        }
        if let Some(record) = &self.record {
            let _ = std::fs::remove_file(record);
        }
        if let Some(connection_file) = &self.jupyter {
            let _ = std::fs::remove_file(connection_file);
        }
        let connections: Vec<Arc<Connection>> = self
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .filter_map(|w| w.upgrade())
            .collect();
        for conn in &connections {
            conn.end(py, CloseReason::ClientGone);
            // A cell still running has no one left to see it, and would otherwise go on
            // in the program unseen (printing to the program's own output once ours is
            // gone).
            conn.session.executor.interrupt(py, &conn.session, false);
        }
        // What the clients have not read yet gets a moment to leave, shared by all of
        // them: a client that stopped reading must not keep the program from exiting.
        let deadline = Instant::now() + LAST_OUTPUT_GRACE;
        threads::without_python(py, || {
            for conn in &connections {
                conn.session.io.sink().close_by(deadline);
            }
        });
        // With no server left, the program gets its own sys.stdout and friends back.
        let servers = SERVERS.lock().unwrap_or_else(|e| e.into_inner());
        if servers.iter().all(|s| s.stopped.load(Ordering::SeqCst)) {
            drop(servers);
            if let Err(e) = output::uninstall(py) {
                e.print(py);
            }
        }
    }
}

struct Client {
    /// Who, for the log.
    who: String,
    /// Who, for the audit file.
    id: Who,
    lines: bool,
}

struct Refusal {
    log: Option<String>,
    tell: Option<String>,
}

impl Refusal {
    fn log(message: String) -> Refusal {
        Refusal {
            log: Some(message),
            tell: None,
        }
    }

    fn quiet() -> Refusal {
        Refusal { log: None, tell: None }
    }
}

/// Logs through `logging.getLogger("hotrepl")`: the program's own logging decides where it
/// goes (hotrepl adds no handler).
pub(crate) fn log_event(py: Python<'_>, level: &str, message: &str) {
    // Said for the program, never to a session, whichever thread says it (a handler that
    // writes to `sys.stderr` would otherwise write to the session that thread serves).
    let logged = output::as_program(|| {
        py.import("logging")
            .and_then(|logging| logging.call_method1("getLogger", ("hotrepl",)))
            .and_then(|logger| logger.call_method1(level, ("hotrepl: %s", message)))
            .map(drop)
    });
    if let Err(e) = logged {
        e.print(py);
    }
}

/// The program's running event loop: the one the servers' awaiting cells use, else (no
/// server running) the main thread's.
pub(crate) fn program_loop(py: Python<'_>) -> PyResult<Option<Bound<'_, PyAny>>> {
    let servers: Vec<Arc<Shared>> = SERVERS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut running = servers.iter().filter(|s| !s.stopped.load(Ordering::SeqCst)).peekable();
    if running.peek().is_none() {
        return crate::exec::host_loop::main_thread_loop(py);
    }
    Ok(running.find_map(|s| s.loops.current(py).ok().flatten()))
}

/// Stop every server started in this process (also runs at exit).
#[pyfunction]
pub fn stop(py: Python<'_>) {
    let servers: Vec<Arc<Shared>> = SERVERS.lock().unwrap_or_else(|e| e.into_inner()).drain(..).collect();
    for server in servers {
        server.stop(py);
    }
}

/// Registered to run at exit: stops the servers, lets the last cells reach history, then
/// keeps hotrepl's threads away from the interpreter while it finalizes.
#[pyfunction]
pub fn before_exit(py: Python<'_>) {
    stop(py);
    threads::without_python(py, crate::history::flush_before_exit);
    threads::before_interpreter_exit(py);
}

/// In a forked child: the parent's servers are not ours. Close their sockets (without
/// touching the parent's files) and forget them; the child may start its own.
#[pyfunction]
pub fn after_fork_in_child() {
    let Ok(mut servers) = SERVERS.try_lock() else { return };
    for server in servers.drain(..) {
        server.stopped.store(true, Ordering::SeqCst);
        if let Ok(mut listener) = server.listener.try_lock() {
            if let Some(l) = listener.take() {
                // SAFETY: closing the inherited listener; `forget` keeps Drop from closing
                // the same number again later.
                unsafe { libc::close(l.fd()) };
                std::mem::forget(l);
            }
        }
        if let Ok(connections) = server.connections.try_lock() {
            for conn in connections.iter().filter_map(Weak::upgrade) {
                conn.forget_after_fork();
            }
        }
        std::mem::forget(server);
    }
}

static HOOKS: std::sync::Once = std::sync::Once::new();

pub(crate) fn register_process_hooks(py: Python<'_>) -> PyResult<()> {
    let mut result = Ok(());
    HOOKS.call_once(|| {
        result = (|| {
            let module = py.import("hotrepl._native")?;
            py.import("atexit")?
                .call_method1("register", (module.getattr("before_exit")?,))?;
            let kwargs = PyDict::new(py);
            kwargs.set_item("after_in_child", module.getattr("after_fork_in_child")?)?;
            py.import("os")?.call_method("register_at_fork", (), Some(&kwargs))?;
            Ok(())
        })();
    });
    result
}
