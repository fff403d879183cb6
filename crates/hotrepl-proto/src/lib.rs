//! hotrepl's wire protocol, with no Python in it: the Jupyter message model
//! ([`message`]), length-prefixed framing with a size cap ([`frame`]), the version
//! handshake ([`handshake`]), what a traceback's parts are ([`markup`]), the TCP token
//! handshake ([`auth`]), Jupyter's multipart messages and connection files ([`jupyter`]),
//! the private directory
//! where servers are found ([`rundir`]) with their records ([`discovery`]) and the socket both ends talk through ([`socket`]).

pub mod auth;
pub mod discovery;
pub mod frame;
pub mod handshake;
pub mod jupyter;
pub mod markup;
pub mod message;
pub mod rundir;
pub mod socket;
pub mod time;
pub mod zmtp;

pub use frame::{encode_frame, FrameError, FrameReader, DEFAULT_MAX_FRAME};
pub use handshake::{HandshakeError, Version, PROTOCOL_VERSION};
pub use message::*;
