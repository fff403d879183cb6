//! Jupyter's messaging over ZeroMQ, without the sockets: the connection file a kernel and
//! its front ends share, and a message's multipart form — the client's routing identities,
//! the `<IDS|MSG>` delimiter, an HMAC-SHA256 signature over the four JSON parts (header,
//! parent header, metadata, content), the parts, then any binary buffers.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::auth::{from_hex, to_hex};
use crate::message::{DecodeError, Header, Message};

/// The name hotrepl's kernelspec is installed under unless told otherwise, also given in the
/// connection files of programs' Jupyter sessions.
pub const KERNEL_NAME: &str = "hotrepl";
/// Separates the routing identities from the message.
pub const DELIMITER: &[u8] = b"<IDS|MSG>";
/// The only signature scheme Jupyter uses in practice, and the one we accept.
pub const SIGNATURE_SCHEME: &str = "hmac-sha256";
/// How many signatures are remembered to refuse a message sent again (jupyter_client's
/// `digest_history_size`).
const REMEMBERED_SIGNATURES: usize = 1 << 16;

/// A connection file: where a kernel listens and the key its messages are signed with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionInfo {
    pub transport: String,
    pub ip: String,
    pub shell_port: u16,
    pub iopub_port: u16,
    pub stdin_port: u16,
    pub control_port: u16,
    pub hb_port: u16,
    #[serde(default = "default_scheme")]
    pub signature_scheme: String,
    /// An empty key turns signing off (as Jupyter allows; never what we write).
    #[serde(default)]
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_name: Option<String>,
}

fn default_scheme() -> String {
    SIGNATURE_SCHEME.to_owned()
}

impl ConnectionInfo {
    pub fn read(path: &Path) -> Result<ConnectionInfo, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let info: ConnectionInfo =
            serde_json::from_slice(&bytes).map_err(|e| format!("{} is no connection file: {e}", path.display()))?;
        if info.transport != "tcp" {
            return Err(format!(
                "{}: transport {:?} is not supported (only tcp)",
                path.display(),
                info.transport
            ));
        }
        Ok(info)
    }

    /// Writes it readable by this user only (it holds the key), atomically.
    pub fn write_private(&self, path: &Path) -> io::Result<()> {
        crate::rundir::write_private_json(path, self)
    }

    /// The ZeroMQ endpoint of `port` on this connection's address.
    pub fn endpoint(&self, port: u16) -> String {
        format!("{}://{}:{port}", self.transport, self.ip)
    }
}

/// Signs and checks messages with a connection's key.
pub struct Signer {
    /// None: signing is off (empty key).
    key: Option<Hmac<Sha256>>,
}

impl Signer {
    pub fn new(scheme: &str, key: &str) -> Result<Signer, String> {
        if key.is_empty() {
            return Ok(Signer { key: None });
        }
        if scheme != SIGNATURE_SCHEME {
            return Err(format!(
                "signature scheme {scheme:?} is not supported (only {SIGNATURE_SCHEME})"
            ));
        }
        let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
        Ok(Signer { key: Some(mac) })
    }

    fn mac(&self, parts: &[impl AsRef<[u8]>]) -> Option<Hmac<Sha256>> {
        let mut mac = self.key.clone()?;
        for part in parts {
            mac.update(part.as_ref());
        }
        Some(mac)
    }

    /// The hex signature of a message's four parts (empty when signing is off).
    pub fn sign(&self, parts: &[impl AsRef<[u8]>]) -> String {
        self.mac(parts)
            .map(|mac| to_hex(&mac.finalize().into_bytes()))
            .unwrap_or_default()
    }

    /// Whether `signature` (hex) signs the four parts; compared in constant time.
    pub fn verify(&self, parts: &[impl AsRef<[u8]>], signature: &[u8]) -> bool {
        let Some(mac) = self.mac(parts) else { return true };
        let Some(theirs) = std::str::from_utf8(signature).ok().and_then(from_hex) else {
            return false;
        };
        mac.verify_slice(&theirs).is_ok()
    }

    pub fn is_on(&self) -> bool {
        self.key.is_some()
    }
}

/// The signatures of the latest messages received, to refuse one sent again (a replay).
#[derive(Default)]
pub struct SeenSignatures {
    set: HashSet<Vec<u8>>,
    order: VecDeque<Vec<u8>>,
}

impl SeenSignatures {
    /// Remembers `signature`; false if it was seen already.
    pub fn first_time(&mut self, signature: &[u8]) -> bool {
        if self.set.contains(signature) {
            return false;
        }
        if self.order.len() == REMEMBERED_SIGNATURES {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
        self.set.insert(signature.to_vec());
        self.order.push_back(signature.to_vec());
        true
    }
}

/// Why a received message is not served.
#[derive(Debug)]
pub enum Rejected {
    /// No `<IDS|MSG>` delimiter.
    NoDelimiter,
    /// Fewer than a signature and four parts after the delimiter.
    MissingParts(usize),
    /// The signature does not match the key: the sender does not hold it.
    BadSignature,
    /// A signature seen before: the same message sent again.
    Replayed,
    /// Signed, but not a message we can read; its header if that much could be read.
    Undecodable {
        header: Option<Box<Header>>,
        error: DecodeError,
    },
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejected::NoDelimiter => write!(f, "malformed message: no <IDS|MSG> delimiter"),
            Rejected::MissingParts(n) => write!(
                f,
                "malformed message: {n} frames after the delimiter, where a signature and 4 parts are needed"
            ),
            Rejected::BadSignature => write!(f, "message with a bad signature"),
            Rejected::Replayed => write!(f, "message with a signature seen before (a replay)"),
            Rejected::Undecodable { error, .. } => write!(f, "{error}"),
        }
    }
}

/// A message as it came off a socket: who sent it (routing identities, to answer them), and
/// the message or why it is refused.
pub struct Received {
    pub identities: Vec<Vec<u8>>,
    pub message: Result<Message, Rejected>,
}

/// Reads a multipart message, checking its signature (and that it was not seen before).
/// Binary buffers after the parts are not used by any request we serve and are ignored.
pub fn decode(frames: &[impl AsRef<[u8]>], signer: &Signer, seen: &mut SeenSignatures) -> Received {
    let Some(at) = frames.iter().position(|f| f.as_ref() == DELIMITER) else {
        return Received {
            identities: Vec::new(),
            message: Err(Rejected::NoDelimiter),
        };
    };
    let identities = frames[..at].iter().map(|f| f.as_ref().to_vec()).collect();
    let rest = &frames[at + 1..];
    let message = check(rest, signer, seen);
    Received { identities, message }
}

fn check(rest: &[impl AsRef<[u8]>], signer: &Signer, seen: &mut SeenSignatures) -> Result<Message, Rejected> {
    if rest.len() < 5 {
        return Err(Rejected::MissingParts(rest.len()));
    }
    let (signature, parts) = (rest[0].as_ref(), &rest[1..5]);
    if !signer.verify(parts, signature) {
        return Err(Rejected::BadSignature);
    }
    if signer.is_on() && !seen.first_time(signature) {
        return Err(Rejected::Replayed);
    }
    let [header, parent, metadata, content] = [0, 1, 2, 3].map(|i| parts[i].as_ref());
    Message::from_parts(header, parent, metadata, content).map_err(|error| Rejected::Undecodable {
        header: serde_json::from_slice(header).ok().map(Box::new),
        error,
    })
}

/// The frames of a message for the client with `identities` (none on a PUB socket).
pub fn encode(identities: &[Vec<u8>], parts: [Vec<u8>; 4], signer: &Signer) -> Vec<Vec<u8>> {
    let signature = signer.sign(&parts);
    let mut frames = Vec::with_capacity(identities.len() + 6);
    frames.extend(identities.iter().cloned());
    frames.push(DELIMITER.to_vec());
    frames.push(signature.into_bytes());
    frames.extend(parts);
    frames
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Content, ExecuteRequest, HeaderSource};

    fn request() -> Message {
        HeaderSource::new("s", "u").message(ExecuteRequest::new("1+1").into(), None)
    }

    #[test]
    fn a_signed_message_reads_back_with_its_identities() {
        let signer = Signer::new(SIGNATURE_SCHEME, "secret").unwrap();
        let frames = encode(&[b"client".to_vec()], request().to_parts(), &signer);
        let received = decode(&frames, &signer, &mut SeenSignatures::default());
        assert_eq!(received.identities, vec![b"client".to_vec()]);
        assert_eq!(received.message.unwrap(), request_with_id(&frames));
    }

    fn request_with_id(frames: &[Vec<u8>]) -> Message {
        Message::from_parts(&frames[3], &frames[4], &frames[5], &frames[6]).unwrap()
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_four_parts_in_hex() {
        // As computed by Python: hmac.new(b"key", b"abcd", hashlib.sha256).hexdigest()
        let signer = Signer::new(SIGNATURE_SCHEME, "key").unwrap();
        assert_eq!(
            signer.sign(&[b"a", b"b", b"c", b"d"]),
            "2a31ec0ee8d878c9eece9fb0df79b3b90b2256240163aa5ee50d176d3d1121f8"
        );
    }

    #[test]
    fn a_wrong_signature_or_a_replay_is_refused() {
        let signer = Signer::new(SIGNATURE_SCHEME, "secret").unwrap();
        let forger = Signer::new(SIGNATURE_SCHEME, "guess").unwrap();
        let mut seen = SeenSignatures::default();
        let forged = encode(&[], request().to_parts(), &forger);
        assert!(matches!(
            decode(&forged, &signer, &mut seen).message,
            Err(Rejected::BadSignature)
        ));
        let mut garbled = encode(&[], request().to_parts(), &signer);
        garbled[1] = b"not hex".to_vec();
        assert!(matches!(
            decode(&garbled, &signer, &mut seen).message,
            Err(Rejected::BadSignature)
        ));
        let good = encode(&[], request().to_parts(), &signer);
        assert!(decode(&good, &signer, &mut seen).message.is_ok());
        assert!(matches!(
            decode(&good, &signer, &mut seen).message,
            Err(Rejected::Replayed)
        ));
    }

    #[test]
    fn malformed_messages_say_what_is_wrong() {
        let signer = Signer::new(SIGNATURE_SCHEME, "secret").unwrap();
        let mut seen = SeenSignatures::default();
        let no_delimiter = decode(&[b"x".to_vec()], &signer, &mut seen);
        assert!(matches!(no_delimiter.message, Err(Rejected::NoDelimiter)));
        let short = decode(
            &[b"id".to_vec(), DELIMITER.to_vec(), b"sig".to_vec()],
            &signer,
            &mut seen,
        );
        assert_eq!(short.identities, vec![b"id".to_vec()]);
        assert!(matches!(short.message, Err(Rejected::MissingParts(1))));
        // Signed properly, but its content is not an execute_request's.
        let mut parts = request().to_parts();
        parts[3] = br#"{"silent": true}"#.to_vec();
        let frames = encode(&[], parts, &signer);
        match decode(&frames, &signer, &mut seen).message {
            Err(Rejected::Undecodable { header: Some(h), .. }) => assert_eq!(h.msg_type, "execute_request"),
            other => panic!("{:?}", other.map(|m| m.content)),
        }
    }

    #[test]
    fn an_empty_key_turns_signing_off() {
        let signer = Signer::new("whatever", "").unwrap();
        let frames = encode(&[], request().to_parts(), &signer);
        assert!(frames[1].is_empty());
        let received = decode(&frames, &signer, &mut SeenSignatures::default());
        assert!(matches!(
            received.message.map(|m| m.content),
            Ok(Content::ExecuteRequest(_))
        ));
        assert!(Signer::new("hmac-md5", "k").is_err());
    }
}
