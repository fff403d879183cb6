//! The server's half of the TCP token handshake (see `hotrepl_proto::auth`): challenge,
//! check the client's proof in constant time, prove we hold the token too. Nothing runs,
//! and no session exists, before this succeeds.

use hotrepl_proto::auth::{from_hex, new_nonce, server_proof, to_hex, verify_client};
use hotrepl_proto::{AuthChallenge, AuthResult, Content, HeaderSource, Message};

use crate::reader::RequestReader;
use hotrepl_proto::socket::Socket;

pub fn authenticate(
    reader: &mut RequestReader,
    socket: &Socket,
    headers: &HeaderSource,
    token: &[u8],
) -> Result<(), String> {
    let send = |content: Content| -> Result<(), String> {
        let msg = headers.message(content, None);
        socket.send_all(&msg.to_frame()).map_err(|e| e.to_string())
    };
    let server_nonce = new_nonce();
    send(
        AuthChallenge {
            nonce: to_hex(&server_nonce),
        }
        .into(),
    )?;
    let frame = match reader.read_frame() {
        Ok(Some(frame)) => frame,
        Ok(None) => return Err("the client left during authentication".into()),
        Err(e) => return Err(e.to_string()),
    };
    let response = match Message::from_json(&frame).map(|m| m.content) {
        Ok(Content::AuthResponse(r)) => r,
        Ok(other) => return refuse(send, format!("expected auth_response, got {}", other.msg_type())),
        Err(e) => return refuse(send, e.to_string()),
    };
    let (Some(client_nonce), Some(proof)) = (from_hex(&response.nonce), from_hex(&response.proof)) else {
        return refuse(send, "malformed auth_response".into());
    };
    if client_nonce.len() < 16 || !verify_client(token, &server_nonce, &client_nonce, &proof) {
        return refuse(send, "wrong token".into());
    }
    let ours = server_proof(token, &server_nonce, &client_nonce);
    send(
        AuthResult {
            ok: true,
            proof: to_hex(&ours),
            reason: String::new(),
        }
        .into(),
    )
}

fn refuse(send: impl Fn(Content) -> Result<(), String>, reason: String) -> Result<(), String> {
    let _ = send(
        AuthResult {
            ok: false,
            proof: String::new(),
            reason: reason.clone(),
        }
        .into(),
    );
    Err(reason)
}
