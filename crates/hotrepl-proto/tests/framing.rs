//! Framing, handshake and token-auth behaviour on real byte streams.

use std::io::Cursor;

use hotrepl_proto::auth;
use hotrepl_proto::frame::{encode_frame, push_frame, FrameError, FrameReader};
use hotrepl_proto::handshake::{check_compatible, parse_preamble, preamble, HandshakeError, Version, PROTOCOL_VERSION};
use hotrepl_proto::time::format_utc;

#[test]
fn frames_round_trip_back_to_back() {
    let mut wire = Vec::new();
    for payload in [&b"first"[..], b"", b"third \x00 with nul"] {
        push_frame(&mut wire, payload);
    }
    let mut r = FrameReader::new(Cursor::new(wire));
    assert_eq!(r.read_frame().unwrap().unwrap(), b"first");
    assert_eq!(r.read_frame().unwrap().unwrap(), b"");
    assert_eq!(r.read_frame().unwrap().unwrap(), b"third \x00 with nul");
    assert!(r.read_frame().unwrap().is_none(), "clean end of stream between frames");
}

#[test]
fn oversized_frame_is_refused_before_reading_it() {
    // Announce 1 GiB but send only the prefix: the reader must refuse from the prefix alone.
    let wire = (1u32 << 30).to_be_bytes().to_vec();
    let mut r = FrameReader::with_max(Cursor::new(wire), 1 << 20);
    match r.read_frame() {
        Err(e @ FrameError::Oversized { len, max }) => {
            assert_eq!((len, max), (1 << 30, 1 << 20));
            assert_eq!(
                e.to_string(),
                "frame of 1073741824 bytes exceeds the limit of 1048576 bytes"
            );
        }
        other => panic!("expected Oversized, got {other:?}"),
    }
}

#[test]
fn frame_at_the_limit_is_accepted() {
    let payload = vec![7u8; 1024];
    let mut r = FrameReader::with_max(Cursor::new(encode_frame(&payload)), 1024);
    assert_eq!(r.read_frame().unwrap().unwrap(), payload);
}

#[test]
fn truncated_frames_are_reported() {
    let mut wire = encode_frame(b"0123456789");
    wire.truncate(4 + 3);
    let mut r = FrameReader::new(Cursor::new(wire));
    match r.read_frame() {
        Err(e @ FrameError::Truncated { expected: 10, got: 3 }) => {
            assert!(e.to_string().contains("3 of 10 bytes"), "{e}")
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    let mut r = FrameReader::new(Cursor::new(vec![0u8, 0]));
    assert!(matches!(
        r.read_frame(),
        Err(FrameError::Truncated { expected: 4, got: 2 })
    ));
}

#[test]
fn handshake_accepts_same_major_and_refuses_others() {
    let ours = preamble(PROTOCOL_VERSION);
    assert_eq!(ours[0], 0, "the preamble starts with NUL so it is never typed text");
    assert_eq!(parse_preamble(&ours).unwrap(), PROTOCOL_VERSION);

    let newer_minor = Version {
        major: PROTOCOL_VERSION.major,
        minor: PROTOCOL_VERSION.minor + 3,
    };
    assert!(check_compatible(PROTOCOL_VERSION, newer_minor).is_ok());

    let next_major = Version {
        major: PROTOCOL_VERSION.major + 1,
        minor: 0,
    };
    let err = check_compatible(PROTOCOL_VERSION, next_major).unwrap_err();
    assert!(err.to_string().contains("incompatible protocol versions"), "{err}");

    let mut typed = [b' '; 12];
    typed[..4].copy_from_slice(b"1+1\n");
    assert_eq!(parse_preamble(&typed), Err(HandshakeError::BadMagic));
}

#[test]
fn token_proofs_verify_only_with_the_same_token_and_nonces() {
    let token = b"s3cret";
    let (sn, cn) = (auth::new_nonce(), auth::new_nonce());
    assert_ne!(sn, cn, "nonces are random");

    let proof = auth::client_proof(token, &sn, &cn);
    assert!(auth::verify_client(token, &sn, &cn, &proof));
    assert!(!auth::verify_client(b"wrong", &sn, &cn, &proof), "wrong token");
    assert!(!auth::verify_client(token, &cn, &sn, &proof), "swapped nonces");
    assert!(
        !auth::verify_server(token, &sn, &cn, &proof),
        "a client proof is not a server proof"
    );

    let back = auth::server_proof(token, &sn, &cn);
    assert!(auth::verify_server(token, &sn, &cn, &back));
    assert!(!auth::verify_client(token, &sn, &cn, &back));

    assert_eq!(auth::from_hex(&auth::to_hex(&proof)).unwrap(), proof);
    assert!(auth::from_hex("zz").is_none() && auth::from_hex("abc").is_none());
    assert!(!String::from_utf8_lossy(&proof).contains("s3cret"));
}

#[test]
fn timestamps_are_iso8601_utc() {
    assert_eq!(format_utc(0, 0), "1970-01-01T00:00:00.000000Z");
    assert_eq!(format_utc(951_782_400, 5), "2000-02-29T00:00:00.000005Z");
    assert_eq!(format_utc(1_795_296_061, 123_456), "2026-11-21T21:21:01.123456Z");
}

#[test]
fn decoder_cuts_frames_from_pieces_as_they_arrive() {
    use hotrepl_proto::frame::FrameDecoder;
    let mut wire = Vec::new();
    push_frame(&mut wire, b"one");
    push_frame(&mut wire, b"two!");
    let mut d = FrameDecoder::new(1024);
    let mut frames = Vec::new();
    for byte in wire {
        let spare = d.spare(1);
        spare[0] = byte;
        d.filled(1, 1);
        while let Some(f) = d.next_frame().unwrap() {
            frames.push(f);
        }
    }
    assert_eq!(frames, [b"one".to_vec(), b"two!".to_vec()]);
    assert_eq!(d.pending(), 0);
    assert!(d.at_eof().unwrap().is_none());

    let mut d = FrameDecoder::new(16);
    d.spare(4).copy_from_slice(&100u32.to_be_bytes());
    assert!(matches!(
        d.next_frame(),
        Err(FrameError::Oversized { len: 100, max: 16 })
    ));

    let mut d = FrameDecoder::new(1024);
    let mut partial = encode_frame(b"abcdef");
    partial.truncate(6);
    let n = partial.len();
    d.spare(n).copy_from_slice(&partial);
    assert!(d.next_frame().unwrap().is_none());
    assert!(matches!(d.at_eof(), Err(FrameError::Truncated { expected: 6, got: 2 })));
}
