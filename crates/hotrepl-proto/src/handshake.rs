//! The version handshake. A native client opens with a 12-byte preamble — a magic that
//! starts with a NUL byte (so it can never be mistaken for typed text) and its protocol
//! version — and the server answers with its own. The leading NUL is also how the Unix
//! socket tells a native client from someone typing into `nc -U`.

use std::fmt;

pub const MAGIC: &[u8; 8] = b"\0hotrepl";
pub const PREAMBLE_LEN: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub major: u16,
    pub minor: u16,
}

/// Peers with the same major version understand each other; minors only add optional fields.
pub const PROTOCOL_VERSION: Version = Version { major: 1, minor: 0 };

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    BadMagic,
    Incompatible { ours: Version, theirs: Version },
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::BadMagic => write!(f, "not a hotrepl protocol handshake"),
            HandshakeError::Incompatible { ours, theirs } => write!(
                f,
                "incompatible protocol versions: this side speaks {ours}, the peer speaks {theirs}"
            ),
        }
    }
}

impl std::error::Error for HandshakeError {}

pub fn preamble(version: Version) -> [u8; PREAMBLE_LEN] {
    let mut out = [0u8; PREAMBLE_LEN];
    out[..8].copy_from_slice(MAGIC);
    out[8..10].copy_from_slice(&version.major.to_be_bytes());
    out[10..12].copy_from_slice(&version.minor.to_be_bytes());
    out
}

pub fn parse_preamble(bytes: &[u8; PREAMBLE_LEN]) -> Result<Version, HandshakeError> {
    if &bytes[..8] != MAGIC {
        return Err(HandshakeError::BadMagic);
    }
    Ok(Version {
        major: u16::from_be_bytes([bytes[8], bytes[9]]),
        minor: u16::from_be_bytes([bytes[10], bytes[11]]),
    })
}

pub fn check_compatible(ours: Version, theirs: Version) -> Result<(), HandshakeError> {
    if ours.major == theirs.major {
        Ok(())
    } else {
        Err(HandshakeError::Incompatible { ours, theirs })
    }
}
