//! A native-protocol connection: the version handshake, then a loop that reads frames,
//! decodes them and dispatches each request. The loop itself never holds the GIL; it takes
//! it per request. Bad input ends only this connection, with a message saying why.

use std::io::{BufReader, Read};
use std::sync::Arc;

use hotrepl_proto::handshake::{check_compatible, parse_preamble, preamble, PREAMBLE_LEN};
use hotrepl_proto::{encode_frame, FrameError, FrameReader, HeaderSource, Message, ProtocolError, PROTOCOL_VERSION};
use pyo3::prelude::*;

use crate::ops::{self, Next};
use crate::session::{CloseReason, Session};
use crate::socket::Socket;

/// Reads the client's preamble (its first `PREAMBLE_LEN` bytes) and answers with ours.
/// On a mismatch the client is told why before the error is returned.
pub fn handshake(reader: &mut impl Read, socket: &Socket, headers: &HeaderSource) -> Result<(), String> {
    let mut theirs = [0u8; PREAMBLE_LEN];
    reader.read_exact(&mut theirs).map_err(|e| format!("handshake: {e}"))?;
    let version = parse_preamble(&theirs).map_err(|e| e.to_string())?;
    let mut out = preamble(PROTOCOL_VERSION).to_vec();
    let verdict = check_compatible(PROTOCOL_VERSION, version).map_err(|e| e.to_string());
    if let Err(reason) = &verdict {
        let msg = headers.message(ProtocolError { reason: reason.clone() }.into(), None);
        out.extend_from_slice(&encode_frame(&msg.to_json()));
    }
    socket.send_all(&out).map_err(|e| format!("handshake: {e}"))?;
    verdict
}

/// Serves requests until the client leaves, asks to shut down, or sends something that is
/// not a valid message. Then tells the executor the session is over; after a shutdown
/// request the executor closes the connection when it is done (a local kernel still has
/// its exit handlers' output to send).
///
/// The thread stays attached to the interpreter (one thread state for its whole life) and
/// lets go of the GIL only while it waits for the client.
pub fn serve(session: &Arc<Session>, mut frames: FrameReader<BufReader<Socket>>) {
    let outbox = session.io.outbox().clone();
    let reason = Python::try_attach(|py| {
        let reason = loop {
            let msg = match py.detach(|| next_python_request(session, &mut frames)) {
                Ok(msg) => msg,
                Err(reason) => break reason,
            };
            if ops::dispatch(py, session, msg) == Next::Close {
                break CloseReason::Shutdown;
            }
        };
        session.executor.clone().close(py, session, reason);
        reason
    });
    outbox.flush();
    if reason != Some(CloseReason::Shutdown) {
        outbox.close();
    }
}

/// Reads requests, answering those that need no interpreter, until one does (or the
/// connection ends, or the client sends something that is not a message).
fn next_python_request(session: &Session, frames: &mut FrameReader<BufReader<Socket>>) -> Result<Message, CloseReason> {
    loop {
        let error = match frames.read_frame() {
            Ok(Some(bytes)) => match Message::from_json(&bytes) {
                Ok(msg) => match ops::dispatch_plain(session, msg) {
                    Ok(Next::Continue) => continue,
                    Ok(Next::Close) => return Err(CloseReason::Shutdown),
                    Err(msg) => return Ok(msg),
                },
                Err(e) => e.to_string(),
            },
            Ok(None) => return Err(CloseReason::ClientGone),
            Err(e @ FrameError::Oversized { .. }) => e.to_string(),
            Err(_) => return Err(CloseReason::ClientGone),
        };
        let reason = format!("{error}; closing the connection");
        session.io.outbox().send_content(ProtocolError { reason }, None);
        return Err(CloseReason::ClientGone);
    }
}
