//! Framing on a byte stream: a 4-byte big-endian length, then that many bytes of one JSON
//! message. The reader refuses a length over its cap before allocating anything, so a
//! hostile or broken peer cannot make us buffer gigabytes.

use std::fmt;
use std::io::{self, Read, Write};

/// Largest frame accepted by default: room for big outputs, small enough to refuse junk.
pub const DEFAULT_MAX_FRAME: usize = 64 << 20;

const LEN_BYTES: usize = 4;

#[derive(Debug)]
pub enum FrameError {
    Io(io::Error),
    /// The length prefix announces more than the cap allows.
    Oversized {
        len: usize,
        max: usize,
    },
    /// The stream ended inside a frame.
    Truncated {
        expected: usize,
        got: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "connection error: {e}"),
            FrameError::Oversized { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max} bytes")
            }
            FrameError::Truncated { expected, got } => {
                write!(
                    f,
                    "connection closed inside a frame ({got} of {expected} bytes received)"
                )
            }
        }
    }
}

impl std::error::Error for FrameError {}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

/// The bytes of one frame: prefix and payload together, so it goes out in one write.
pub fn encode_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(LEN_BYTES + payload.len());
    push_frame(&mut out, payload);
    out
}

/// Appends one frame to `out` (to batch several frames into one write).
pub fn push_frame(out: &mut Vec<u8>, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("frame payload over 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
}

pub fn write_frame<W: Write>(w: &mut W, payload: &[u8]) -> io::Result<()> {
    w.write_all(&encode_frame(payload))
}

/// Reads whole frames from a (preferably buffered) reader.
pub struct FrameReader<R> {
    inner: R,
    max: usize,
}

impl<R: Read> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        Self::with_max(inner, DEFAULT_MAX_FRAME)
    }

    pub fn with_max(inner: R, max: usize) -> Self {
        FrameReader { inner, max }
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The next frame's payload; `Ok(None)` when the stream ends cleanly between frames.
    pub fn read_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let mut prefix = [0u8; LEN_BYTES];
        let got = read_full(&mut self.inner, &mut prefix)?;
        if got == 0 {
            return Ok(None);
        }
        if got < LEN_BYTES {
            return Err(FrameError::Truncated {
                expected: LEN_BYTES,
                got,
            });
        }
        let len = u32::from_be_bytes(prefix) as usize;
        if len > self.max {
            return Err(FrameError::Oversized { len, max: self.max });
        }
        let mut payload = vec![0u8; len];
        let got = read_full(&mut self.inner, &mut payload)?;
        if got < len {
            return Err(FrameError::Truncated { expected: len, got });
        }
        Ok(Some(payload))
    }
}

/// Like `read_exact`, but reports how much arrived before end of stream.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
