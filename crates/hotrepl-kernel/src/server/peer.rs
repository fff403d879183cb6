//! Who is on the other end of a Unix socket, from the kernel (`SO_PEERCRED`), and whether
//! they may in: the same user as this process, or root. Checked on every connection, so
//! loosening the socket's file mode lets nobody else in.

use std::io;
use std::os::fd::AsRawFd;

#[derive(Debug, Clone, Copy)]
pub struct PeerCred {
    pub pid: i32,
    pub uid: u32,
}

pub fn peer_cred(socket: &impl AsRawFd) -> io::Result<PeerCred> {
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` is a valid ucred buffer of `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(PeerCred {
        pid: cred.pid,
        uid: cred.uid,
    })
}

pub fn is_allowed(peer: &PeerCred) -> bool {
    peer.uid == 0 || peer.uid == hotrepl_proto::rundir::euid()
}
