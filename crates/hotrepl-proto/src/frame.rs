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

/// Appends one frame whose payload `write` appends to `out`: the payload is written in
/// place, never copied (a stream message can carry a megabyte of output).
pub fn push_frame_with(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; LEN_BYTES]);
    write(out);
    let len = u32::try_from(out.len() - start - LEN_BYTES).expect("frame payload over 4 GiB");
    out[start..start + LEN_BYTES].copy_from_slice(&len.to_be_bytes());
}

pub fn write_frame<W: Write>(w: &mut W, payload: &[u8]) -> io::Result<()> {
    w.write_all(&encode_frame(payload))
}

/// Cuts frames out of bytes as they arrive, without doing any I/O itself: a blocking
/// reader and a non-blocking one can share it (and its partial frame).
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    max: usize,
}

impl FrameDecoder {
    pub fn new(max: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            max,
        }
    }

    /// Room to read into: at least `min` free bytes at the end of the buffer.
    pub fn spare(&mut self, min: usize) -> &mut [u8] {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > (1 << 16) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + min, 0);
        &mut self.buf[len..]
    }

    /// Keeps `n` of the bytes just read into [`FrameDecoder::spare`] (and drops the rest).
    pub fn filled(&mut self, n: usize, asked: usize) {
        let new_len = self.buf.len() - asked + n;
        self.buf.truncate(new_len);
    }

    /// The length the frame being received declares, once its prefix has arrived.
    fn declared_len(&self) -> Option<usize> {
        let prefix = self.buf.get(self.start..self.start + LEN_BYTES)?;
        Some(u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize)
    }

    /// Bytes still missing from the frame being received (0 if its length is not known yet).
    pub fn missing(&self) -> usize {
        match self.declared_len() {
            Some(len) => (LEN_BYTES + len.min(self.max)).saturating_sub(self.pending()),
            None => 0,
        }
    }

    /// Bytes received but not yet returned as frames.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete frame, if one has fully arrived. An oversized length prefix is an
    /// error as soon as the prefix itself has arrived.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let Some(len) = self.declared_len() else {
            return Ok(None);
        };
        if len > self.max {
            return Err(FrameError::Oversized { len, max: self.max });
        }
        if self.pending() < LEN_BYTES + len {
            return Ok(None);
        }
        let body = self.start + LEN_BYTES;
        let frame = self.buf[body..body + len].to_vec();
        self.start += LEN_BYTES + len;
        Ok(Some(frame))
    }

    /// What end of stream means here: clean between frames, truncated inside one.
    pub fn at_eof(&self) -> Result<Option<Vec<u8>>, FrameError> {
        match (self.pending(), self.declared_len()) {
            (0, _) => Ok(None),
            (n, None) => Err(FrameError::Truncated {
                expected: LEN_BYTES,
                got: n,
            }),
            (n, Some(len)) => Err(FrameError::Truncated {
                expected: len,
                got: n - LEN_BYTES,
            }),
        }
    }
}

/// How much to read at a time when nothing says more is needed.
pub const READ_CHUNK: usize = 8192;

/// Reads whole frames from a blocking reader (it buffers; no BufReader needed).
pub struct FrameReader<R> {
    inner: R,
    decoder: FrameDecoder,
}

impl<R: Read> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        Self::with_max(inner, DEFAULT_MAX_FRAME)
    }

    pub fn with_max(inner: R, max: usize) -> Self {
        FrameReader {
            inner,
            decoder: FrameDecoder::new(max),
        }
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The next frame's payload; `Ok(None)` when the stream ends cleanly between frames.
    pub fn read_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        read_frame_with(&mut self.decoder, |buf| self.inner.read(buf))
    }
}

/// Reads (with `read`, blocking) until `decoder` has a whole frame, or the stream ends.
pub fn read_frame_with(
    decoder: &mut FrameDecoder,
    mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
) -> Result<Option<Vec<u8>>, FrameError> {
    loop {
        if let Some(frame) = decoder.next_frame()? {
            return Ok(Some(frame));
        }
        let want = decoder.missing().max(READ_CHUNK);
        let n = loop {
            match read(decoder.spare(want)) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => decoder.filled(0, want),
                Err(e) => {
                    decoder.filled(0, want);
                    return Err(e.into());
                }
            }
        };
        decoder.filled(n, want);
        if n == 0 {
            return decoder.at_eof();
        }
    }
}
