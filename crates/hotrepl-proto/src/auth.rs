//! Token challenge–response for TCP. The token never crosses the wire: each side sends a
//! random nonce and proves it knows the token with an HMAC-SHA256 over both nonces, under
//! a different label per direction so one side's proof cannot be replayed as the other's.
//! Proofs are compared in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const NONCE_LEN: usize = 32;
const CLIENT_LABEL: &[u8] = b"hotrepl-auth-v1 client";
const SERVER_LABEL: &[u8] = b"hotrepl-auth-v1 server";

pub fn new_nonce() -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    getrandom::fill(&mut n).expect("the OS random source failed");
    n
}

fn mac(token: &[u8], label: &[u8], first: &[u8], second: &[u8]) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(token).expect("HMAC takes keys of any length");
    m.update(label);
    m.update(first);
    m.update(second);
    m
}

/// What the client sends to show it holds `token`.
pub fn client_proof(token: &[u8], server_nonce: &[u8], client_nonce: &[u8]) -> Vec<u8> {
    mac(token, CLIENT_LABEL, server_nonce, client_nonce)
        .finalize()
        .into_bytes()
        .to_vec()
}

/// What the server sends back to show it holds `token` too.
pub fn server_proof(token: &[u8], server_nonce: &[u8], client_nonce: &[u8]) -> Vec<u8> {
    mac(token, SERVER_LABEL, client_nonce, server_nonce)
        .finalize()
        .into_bytes()
        .to_vec()
}

pub fn verify_client(token: &[u8], server_nonce: &[u8], client_nonce: &[u8], proof: &[u8]) -> bool {
    mac(token, CLIENT_LABEL, server_nonce, client_nonce)
        .verify_slice(proof)
        .is_ok()
}

pub fn verify_server(token: &[u8], server_nonce: &[u8], client_nonce: &[u8], proof: &[u8]) -> bool {
    mac(token, SERVER_LABEL, client_nonce, server_nonce)
        .verify_slice(proof)
        .is_ok()
}

/// 128 random bits in hex: session ids, generated tokens.
pub fn random_id() -> String {
    to_hex(&new_nonce()[..16])
}

pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
