//! A connected socket, Unix or TCP, written with `send(MSG_NOSIGNAL)`: the host may have
//! restored the default SIGPIPE action, and a client vanishing must never kill it.

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

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

    /// Writes all of `buf`, retrying on EINTR and short writes.
    pub fn send_all(&self, mut buf: &[u8]) -> io::Result<()> {
        let fd = self.as_raw_fd();
        while !buf.is_empty() {
            // SAFETY: `buf` is a valid slice and `fd` an open socket owned by `self`.
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
