//! A native-protocol connection: the version handshake, then a loop that reads frames,
//! decodes them and dispatches each request. The loop itself never holds the GIL; it takes
//! it per request. Bad input ends only this connection, with a message saying why.

use std::io::{BufReader, Read};
use std::sync::Arc;

use hotrepl_proto::handshake::{check_compatible, parse_preamble, preamble, PREAMBLE_LEN};
use hotrepl_proto::{
    encode_frame, FrameError, FrameReader, HeaderSource, Message, ProtocolError, PROTOCOL_VERSION,
};
use pyo3::prelude::*;

use crate::ops::{self, Next};
use crate::session::{CloseReason, Session};
use crate::socket::Socket;

/// Reads the client's preamble (its first `PREAMBLE_LEN` bytes) and answers with ours.
/// On a mismatch the client is told why before the error is returned.
pub fn handshake(
    reader: &mut impl Read,
    socket: &Socket,
    headers: &HeaderSource,
) -> Result<(), String> {
    let mut theirs = [0u8; PREAMBLE_LEN];
    reader
        .read_exact(&mut theirs)
        .map_err(|e| format!("handshake: {e}"))?;
    let version = parse_preamble(&theirs).map_err(|e| e.to_string())?;
    let mut out = preamble(PROTOCOL_VERSION).to_vec();
    let verdict = check_compatible(PROTOCOL_VERSION, version).map_err(|e| e.to_string());
    if let Err(reason) = &verdict {
        let msg = headers.message(
            ProtocolError {
                reason: reason.clone(),
            }
            .into(),
            None,
        );
        out.extend_from_slice(&encode_frame(&msg.to_json()));
    }
    socket
        .send_all(&out)
        .map_err(|e| format!("handshake: {e}"))?;
    verdict
}

/// Serves requests until the client leaves, asks to shut down, or sends something that is
/// not a valid message. Then tells the executor the session is over.
pub fn serve(session: &Arc<Session>, mut frames: FrameReader<BufReader<Socket>>) {
    let outbox = session.io.outbox().clone();
    let reason = loop {
        let error = match frames.read_frame() {
            Ok(Some(bytes)) => match Message::from_json(&bytes) {
                Ok(msg) => match Python::try_attach(|py| ops::dispatch(py, session, msg)) {
                    Some(Next::Continue) => continue,
                    Some(Next::Close) => break CloseReason::Shutdown,
                    // The interpreter is finalizing: nothing more can run.
                    None => break CloseReason::ClientGone,
                },
                Err(e) => e.to_string(),
            },
            Ok(None) => break CloseReason::ClientGone,
            Err(e @ FrameError::Oversized { .. }) => e.to_string(),
            Err(_) => break CloseReason::ClientGone,
        };
        outbox.send_content(
            ProtocolError {
                reason: format!("{error}; closing the connection"),
            },
            None,
        );
        break CloseReason::ClientGone;
    };
    Python::try_attach(|py| session.executor.clone().close(py, session, reason));
    outbox.flush();
    outbox.close();
}
