//! A watch over the bytes a ZeroMQ peer sends (ZMTP 3: a 64-byte greeting, then frames),
//! which refuses a frame or message longer than a limit as soon as its length is announced.
//!
//! Why: ZMTP lets a peer announce a frame of up to 2^64 bytes before any signature is
//! checked, and a receiver that makes room for it first can be made to ask for a terabyte
//! of memory (and be aborted) by anyone who reaches its port. Jupyter's ports are on
//! loopback, open to every local user, so the bytes are watched before ZeroMQ sees them.

use std::fmt;

/// The greeting's fixed length in ZMTP 3 (signature, version, mechanism, as-server, filler).
const GREETING_LEN: usize = 64;
const FLAG_MORE: u8 = 0b001;
const FLAG_LONG: u8 = 0b010;
const FLAG_COMMAND: u8 = 0b100;

/// A frame or message announced longer than the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Oversized {
    pub len: u64,
    pub max: u64,
}

impl fmt::Display for Oversized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a message of {} bytes exceeds the limit of {} bytes", self.len, self.max)
    }
}

impl std::error::Error for Oversized {}

#[derive(Debug, Clone, Copy)]
enum Expect {
    Greeting { left: usize },
    Flags,
    Length { flags: u8, bytes: [u8; 8], have: usize, need: usize },
    Body { left: u64 },
}

/// Follows one connection's incoming byte stream; see the module's doc.
#[derive(Debug, Clone)]
pub struct ZmtpLimit {
    max: u64,
    expect: Expect,
    /// Bytes of the message being received, in the frames before the current one.
    message_len: u64,
}

impl ZmtpLimit {
    pub fn new(max: u64) -> ZmtpLimit {
        ZmtpLimit {
            max,
            expect: Expect::Greeting { left: GREETING_LEN },
            message_len: 0,
        }
    }

    /// Takes the next bytes the peer sent, in order; Err once a frame (a command, or a
    /// message's frames together) is announced longer than the limit. After an Err the
    /// connection is to be dropped: what follows is not followed.
    pub fn check(&mut self, mut bytes: &[u8]) -> Result<(), Oversized> {
        while !bytes.is_empty() {
            match &mut self.expect {
                Expect::Greeting { left } => {
                    let taken = (*left).min(bytes.len());
                    *left -= taken;
                    bytes = &bytes[taken..];
                    if *left == 0 {
                        self.expect = Expect::Flags;
                    }
                }
                Expect::Flags => {
                    let flags = bytes[0];
                    bytes = &bytes[1..];
                    let need = if flags & FLAG_LONG != 0 { 8 } else { 1 };
                    self.expect = Expect::Length {
                        flags,
                        bytes: [0; 8],
                        have: 0,
                        need,
                    };
                }
                Expect::Length {
                    flags,
                    bytes: len_bytes,
                    have,
                    need,
                } => {
                    let taken = (*need - *have).min(bytes.len());
                    len_bytes[*have..*have + taken].copy_from_slice(&bytes[..taken]);
                    *have += taken;
                    bytes = &bytes[taken..];
                    if *have < *need {
                        continue;
                    }
                    let len = len_bytes[..*need].iter().fold(0u64, |n, &b| (n << 8) | u64::from(b));
                    let command = *flags & FLAG_COMMAND != 0;
                    let more = !command && *flags & FLAG_MORE != 0;
                    // A command stands alone; a message's frames count together.
                    let so_far = if command { 0 } else { self.message_len };
                    let total = so_far.saturating_add(len);
                    if total > self.max {
                        return Err(Oversized { len: total, max: self.max });
                    }
                    if !command {
                        self.message_len = if more { total } else { 0 };
                    }
                    self.expect = if len == 0 {
                        Expect::Flags
                    } else {
                        Expect::Body { left: len }
                    };
                }
                Expect::Body { left } => {
                    let taken = (*left).min(bytes.len() as u64);
                    *left -= taken;
                    bytes = &bytes[taken as usize..];
                    if *left == 0 {
                        self.expect = Expect::Flags;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flags: u8, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if body.len() > 255 {
            out.push(flags | FLAG_LONG);
            out.extend_from_slice(&(body.len() as u64).to_be_bytes());
        } else {
            out.push(flags);
            out.push(body.len() as u8);
        }
        out.extend_from_slice(body);
        out
    }

    fn session(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![0u8; GREETING_LEN];
        out[0] = 0xff; // the greeting's content is ZeroMQ's business, not ours
        for f in frames {
            out.extend_from_slice(f);
        }
        out
    }

    #[test]
    fn messages_within_the_limit_pass_in_any_split() {
        let bytes = session(&[
            frame(FLAG_COMMAND, b"\x05READY"),
            frame(FLAG_MORE, b"identity"),
            frame(FLAG_MORE, b"<IDS|MSG>"),
            frame(0, &[b'x'; 600]),
            frame(0, b""),
        ]);
        for chunk in [1, 2, 7, 63, 64, 65, 300, bytes.len()] {
            let mut limit = ZmtpLimit::new(700);
            for piece in bytes.chunks(chunk) {
                assert_eq!(limit.check(piece), Ok(()), "in pieces of {chunk}");
            }
        }
    }

    #[test]
    fn an_announced_huge_frame_is_refused_before_its_body() {
        let mut limit = ZmtpLimit::new(1 << 20);
        let mut bytes = session(&[]);
        bytes.push(FLAG_LONG);
        bytes.extend_from_slice(&(1u64 << 40).to_be_bytes());
        assert_eq!(limit.check(&bytes), Err(Oversized { len: 1 << 40, max: 1 << 20 }));
    }

    #[test]
    fn a_message_counts_its_frames_together_and_the_next_starts_afresh() {
        let mut limit = ZmtpLimit::new(1000);
        let first = session(&[frame(FLAG_MORE, &[0; 600]), frame(0, &[0; 400])]);
        assert_eq!(limit.check(&first), Ok(()));
        assert_eq!(limit.check(&frame(FLAG_MORE, &[0; 600])), Ok(()));
        assert_eq!(limit.check(&frame(0, &[0; 401])), Err(Oversized { len: 1001, max: 1000 }));
    }

    #[test]
    fn a_length_of_u64_max_does_not_overflow() {
        let mut limit = ZmtpLimit::new(10);
        assert_eq!(limit.check(&session(&[frame(FLAG_MORE, b"12345")])), Ok(()));
        let mut huge = vec![FLAG_LONG];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(limit.check(&huge), Err(Oversized { len: u64::MAX, max: 10 }));
    }
}
