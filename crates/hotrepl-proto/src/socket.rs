//! A connected socket, Unix or TCP, as both ends of a connection use it: written with
//! `sendmsg(MSG_NOSIGNAL)`, because a program may have restored the default SIGPIPE action
//! and a peer vanishing must never kill it.

use std::io::{self, IoSlice, Read};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

#[derive(Debug)]
pub enum Socket {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Socket {
    pub fn try_clone(&self) -> io::Result<Socket> {
        Ok(match self {
            Socket::Unix(s) => Socket::Unix(s.try_clone()?),
            Socket::Tcp(s) => Socket::Tcp(s.try_clone()?),
        })
    }

    /// Applies to every handle of the socket.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Socket::Unix(s) => s.set_read_timeout(timeout),
            Socket::Tcp(s) => s.set_read_timeout(timeout),
        }
    }

    /// Writes all of `buf`, retrying on EINTR and short writes.
    pub fn send_all(&self, buf: &[u8]) -> io::Result<()> {
        self.send_all_vectored(&[buf])
    }

    /// Writes all of `chunks`, in order, as if they were one buffer: gathered by the kernel
    /// (`sendmsg`), so big output is never copied into one buffer first.
    pub fn send_all_vectored(&self, chunks: &[impl AsRef<[u8]>]) -> io::Result<()> {
        // What one sendmsg takes at most (the kernel's IOV_MAX).
        const MAX_SLICES: usize = 1024;
        let fd = self.as_raw_fd();
        let mut slices: Vec<IoSlice<'_>> = chunks
            .iter()
            .map(AsRef::as_ref)
            .filter(|c| !c.is_empty())
            .map(IoSlice::new)
            .collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            // SAFETY: an all-zero msghdr is a valid empty one; we only set the iovec fields.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            // IoSlice is guaranteed ABI-compatible with iovec on Unix.
            msg.msg_iov = rest.as_mut_ptr().cast::<libc::iovec>();
            msg.msg_iovlen = rest.len().min(MAX_SLICES) as _;
            // SAFETY: `msg` points at live slices of `chunks`; `fd` is an open socket owned by `self`.
            let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            IoSlice::advance_slices(&mut rest, n as usize);
        }
        Ok(())
    }

    /// Closes after a refusal. What the client already sent is read and dropped first:
    /// closing with unread input would reset the connection, and the client could lose
    /// the message that says why it was refused.
    pub fn close_discarding_input(&self) {
        // SAFETY: plain socket calls on our own fd, reading into a local buffer.
        unsafe {
            libc::shutdown(self.as_raw_fd(), libc::SHUT_WR);
            let mut sink = [0u8; 4096];
            while libc::recv(
                self.as_raw_fd(),
                sink.as_mut_ptr().cast(),
                sink.len(),
                libc::MSG_DONTWAIT,
            ) > 0
            {}
        }
        self.shutdown();
    }

    /// Ends both directions, waking any thread blocked reading this socket.
    pub fn shutdown(&self) {
        let _ = match self {
            Socket::Unix(s) => s.shutdown(Shutdown::Both),
            Socket::Tcp(s) => s.shutdown(Shutdown::Both),
        };
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Socket::Unix(s) => s.as_raw_fd(),
            Socket::Tcp(s) => s.as_raw_fd(),
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Unix(s) => s.read(buf),
            Socket::Tcp(s) => s.read(buf),
        }
    }
}
