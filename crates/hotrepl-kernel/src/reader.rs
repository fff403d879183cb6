//! The read side of a client connection. It is shared: between cells the session's thread
//! reads it blocking; while a cell runs on that same thread, the watcher reads whatever has
//! arrived without blocking (an interrupt, an input reply). Both go through one decoder, so
//! a frame that arrives in pieces across the two is still read whole.

use std::io;
use std::os::fd::AsRawFd;

use hotrepl_proto::frame::{read_frame_with, FrameDecoder, READ_CHUNK};
use hotrepl_proto::{FrameError, DEFAULT_MAX_FRAME};

use hotrepl_proto::socket::Socket;

pub struct RequestReader {
    socket: Socket,
    decoder: FrameDecoder,
}

/// What a non-blocking read found.
pub struct Ready {
    pub frames: Vec<Vec<u8>>,
    /// Set when the connection ended (cleanly or not) after those frames.
    pub end: Option<Result<(), FrameError>>,
}

impl RequestReader {
    pub fn new(socket: Socket) -> RequestReader {
        RequestReader {
            socket,
            decoder: FrameDecoder::new(DEFAULT_MAX_FRAME),
        }
    }

    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Blocks until a frame has arrived; `Ok(None)` when the client closed cleanly.
    pub fn read_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let socket = &mut self.socket;
        read_frame_with(&mut self.decoder, |buf| io::Read::read(socket, buf))
    }

    /// Reads what has arrived, without blocking.
    pub fn read_ready(&mut self) -> Ready {
        let mut frames = Vec::new();
        loop {
            loop {
                match self.decoder.next_frame() {
                    Ok(Some(frame)) => frames.push(frame),
                    Ok(None) => break,
                    Err(e) => {
                        return Ready {
                            frames,
                            end: Some(Err(e)),
                        }
                    }
                }
            }
            let want = self.decoder.missing().max(READ_CHUNK);
            let buf = self.decoder.spare(want);
            // SAFETY: reading into a buffer of `want` bytes from a socket we own.
            let n = unsafe {
                libc::recv(
                    self.socket.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    want,
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                self.decoder.filled(0, want);
                let err = io::Error::last_os_error();
                match err.kind() {
                    io::ErrorKind::WouldBlock => return Ready { frames, end: None },
                    io::ErrorKind::Interrupted => continue,
                    _ => {
                        return Ready {
                            frames,
                            end: Some(Err(err.into())),
                        }
                    }
                }
            }
            self.decoder.filled(n as usize, want);
            if n == 0 {
                let end = self.decoder.at_eof().map(|_| ());
                return Ready { frames, end: Some(end) };
            }
        }
    }
}
