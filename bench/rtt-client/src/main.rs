//! `hotrepl-rtt-client SOCKET COUNT CODE`: sends CODE as an execute request COUNT times
//! (after a warm-up) over hotrepl's native protocol and prints the round-trip times, in
//! microseconds, one per line. A Rust client, so that what is measured is the server.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use hotrepl_proto::handshake::{preamble, MAGIC, PREAMBLE_LEN};
use hotrepl_proto::{encode_frame, Content, ExecuteRequest, FrameReader, HeaderSource, PROTOCOL_VERSION};

const WARM_UP: usize = 200;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, path, count, code] = args.as_slice() else {
        eprintln!("usage: hotrepl-rtt-client SOCKET COUNT CODE");
        std::process::exit(2);
    };
    let count: usize = count.parse().expect("COUNT is a number");
    let mut stream = UnixStream::connect(path).expect("connect");
    stream.write_all(&preamble(PROTOCOL_VERSION)).expect("send preamble");
    // Skip the greeting meant for nc users, up to the NUL that starts the preamble.
    let mut byte = [0u8; 1];
    loop {
        stream.read_exact(&mut byte).expect("read greeting");
        if byte[0] == MAGIC[0] {
            break;
        }
    }
    let mut rest = [0u8; PREAMBLE_LEN - 1];
    stream.read_exact(&mut rest).expect("read preamble");
    let headers = HeaderSource::new("bench", "bench");
    let mut frames = FrameReader::new(stream.try_clone().expect("clone"));
    let mut out = String::new();
    for i in 0..WARM_UP + count {
        let msg = headers.message(ExecuteRequest::new(code.as_str()).into(), None);
        let started = Instant::now();
        stream.write_all(&encode_frame(&msg.to_json())).expect("send");
        loop {
            let frame = frames.read_frame().expect("read").expect("connection closed");
            let reply = hotrepl_proto::Message::from_json(&frame).expect("decode");
            if matches!(reply.content, Content::ExecuteReply(_)) {
                break;
            }
        }
        if i >= WARM_UP {
            out.push_str(&format!("{:.2}\n", started.elapsed().as_secs_f64() * 1e6));
        }
    }
    print!("{out}");
}
