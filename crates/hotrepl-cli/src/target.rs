//! What `attach` and `exec` connect to. TARGET is a pid (found through its discovery
//! records), a Unix socket path, `tcp://HOST:PORT`, or `fd:N`: an already-connected Unix
//! socket inherited on file descriptor N.

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::connection::{Connection, Opened};
use hotrepl_proto::rundir;
use hotrepl_proto::socket::Socket;

use crate::records::{self, Listed};
use hotrepl_proto::discovery::TCP_SCHEME;

/// How long connecting to one TCP address may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub enum Target {
    Pid(u32),
    Path(PathBuf),
    /// `HOST:PORT`.
    Tcp(String),
    Fd(RawFd),
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Target, String> {
        if let Some(addr) = s.strip_prefix(TCP_SCHEME) {
            return match addr.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(Target::Tcp(addr.into())),
                _ => Err(format!("{s} is not tcp://HOST:PORT")),
            };
        }
        if let Some(fd) = s.strip_prefix("fd:") {
            return fd
                .parse()
                .ok()
                .filter(|&fd: &RawFd| fd >= 0)
                .map(Target::Fd)
                .ok_or_else(|| format!("{s} is not fd:N with N a file descriptor number"));
        }
        if s.is_empty() {
            return Err("an empty target".into());
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse()
                .map(Target::Pid)
                .map_err(|_| format!("{s} is not a process id"));
        }
        Ok(Target::Path(PathBuf::from(s)))
    }
}

/// Connects to `target` and does the handshakes. `token` is `--token`; for TCP it falls
/// back to `HOTREPL_TOKEN`, then to a discovery record of that exact address.
pub fn connect(target: &Target, token: Option<String>) -> Result<Opened, String> {
    match target {
        Target::Pid(pid) => connect_pid(*pid, token),
        Target::Path(path) => connect_unix(path),
        Target::Tcp(addr) => connect_tcp(addr, token, || recorded_token(&format!("{TCP_SCHEME}{addr}"))),
        Target::Fd(fd) => {
            let stream = inherited_socket(*fd).map_err(|e| format!("cannot use fd:{fd}: {e}"))?;
            Connection::open(Socket::Unix(stream), None).map_err(|e| format!("cannot attach to fd:{fd}: {e}"))
        }
    }
}

/// A pid's Unix socket if it has one, else its TCP address.
fn connect_pid(pid: u32, token: Option<String>) -> Result<Opened, String> {
    if !hotrepl_proto::discovery::process_exists(pid) {
        return Err(format!("there is no process {pid}"));
    }
    let dir = rundir::runtime_dir();
    let records: Vec<_> = records::read_all(&dir)?
        .into_iter()
        .filter(|l| l.record.pid == pid)
        .collect();
    let listed = records
        .iter()
        .filter(|l| l.is_attachable())
        .min_by_key(|l| l.record.socket_path().is_none());
    if let Some(Listed { record, .. }) = listed {
        return match record.socket_path() {
            Some(path) => connect_unix(path),
            None => connect_tcp(record.address.trim_start_matches(TCP_SCHEME), token, || {
                record.token.clone()
            }),
        };
    }
    // A record can be lost (deleted by hand) while the default socket still serves; a
    // socket whose record names an earlier process with this pid is that process's leftover.
    let socket = dir.join(format!("{pid}.sock"));
    if records.is_empty() && socket.exists() {
        return connect_unix(&socket);
    }
    Err(format!(
        "process {pid} is not running hotrepl.start() (no record in {})",
        dir.display()
    ))
}

fn connect_unix(path: &Path) -> Result<Opened, String> {
    let stream = UnixStream::connect(path).map_err(|e| format!("cannot connect to {}: {e}", path.display()))?;
    Connection::open(Socket::Unix(stream), None).map_err(|e| format!("cannot attach to {}: {e}", path.display()))
}

/// `addr` is `HOST:PORT`. The token is `token`, else `$HOTREPL_TOKEN`, else `recorded()`.
fn connect_tcp(addr: &str, token: Option<String>, recorded: impl FnOnce() -> Option<String>) -> Result<Opened, String> {
    let shown = format!("{TCP_SCHEME}{addr}");
    let token = token
        .or_else(|| std::env::var("HOTREPL_TOKEN").ok().filter(|t| !t.is_empty()))
        .or_else(recorded)
        .ok_or_else(|| {
            format!(
                "{shown} needs a token: pass --token or set HOTREPL_TOKEN (no record in {} holds one for this address)",
                rundir::runtime_dir().display()
            )
        })?;
    let stream = connect_tcp_stream(addr).map_err(|e| format!("cannot connect to {shown}: {e}"))?;
    Connection::open(Socket::Tcp(stream), Some(token.as_bytes())).map_err(|e| format!("cannot attach to {shown}: {e}"))
}

fn connect_tcp_stream(addr: &str) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host name resolves to no address");
    for resolved in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&resolved, CONNECT_TIMEOUT) {
            Ok(stream) => {
                // Requests are small frames that must go out at once.
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The token in a live record whose address is exactly `address`.
fn recorded_token(address: &str) -> Option<String> {
    records::read_all(&rundir::runtime_dir())
        .ok()?
        .into_iter()
        .find(|l| l.record.address == address && l.record.token.is_some() && l.is_attachable())?
        .record
        .token
}

/// Takes over inherited descriptor `fd`, which must be a connected Unix socket.
fn inherited_socket(fd: RawFd) -> io::Result<UnixStream> {
    // SAFETY: fstat fills a local struct; a bad fd is reported as EBADF.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "it is not a socket"));
    }
    // SAFETY: fd is open and from now on owned here alone (the parent handed it to us).
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: setting close-on-exec on a descriptor we own.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    let stream = UnixStream::from(owned);
    stream.peer_addr()?; // a socket of another family, or unconnected, fails here
    Ok(stream)
}
