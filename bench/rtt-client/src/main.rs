//! Benchmark client for hotrepl's native protocol, in Rust so that what is measured is the
//! server:
//!
//! - `hotrepl-rtt-client SOCKET COUNT CODE`: sends CODE as an execute request COUNT times
//!   (after a warm-up) and prints the round-trip times, in microseconds, one per line.
//! - `hotrepl-rtt-client stream SOCKET CODE LINE`: runs `1+1` (a session in use), then CODE,
//!   and prints the seconds from request to reply, the bytes of stdout text received, how
//!   many of its lines are exactly LINE (throughput, and whether any line was lost or
//!   damaged), and `done`, or `stalled` if nothing came for STALL seconds.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use hotrepl_proto::handshake::{preamble, MAGIC, PREAMBLE_LEN};
use hotrepl_proto::{
    Content, ExecuteRequest, FrameError, FrameReader, HeaderSource, Message, StreamName, PROTOCOL_VERSION,
};

const WARM_UP: usize = 200;
const STALL: Duration = Duration::from_secs(20);

struct Session {
    stream: UnixStream,
    frames: FrameReader<UnixStream>,
    headers: HeaderSource,
}

impl Session {
    fn connect(path: &str) -> Session {
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
        let frames = FrameReader::new(stream.try_clone().expect("clone"));
        Session {
            stream,
            frames,
            headers: HeaderSource::new("bench", "bench"),
        }
    }

    /// Runs `code`, handing every message up to its execute_reply to `on_message`. False if
    /// the read timed out first.
    fn execute(&mut self, code: &str, mut on_message: impl FnMut(Message)) -> bool {
        let msg = self.headers.message(ExecuteRequest::new(code).into(), None);
        self.stream.write_all(&msg.to_frame()).expect("send");
        loop {
            let frame = match self.frames.read_frame() {
                Ok(frame) => frame.expect("connection closed"),
                Err(FrameError::Io(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return false
                }
                Err(e) => panic!("read: {e}"),
            };
            let reply = Message::from_json(&frame).expect("decode");
            if matches!(reply.content, Content::ExecuteReply(_)) {
                return true;
            }
            on_message(reply);
        }
    }
}

fn round_trips(path: &str, count: usize, code: &str) {
    let mut session = Session::connect(path);
    let mut out = String::new();
    for i in 0..WARM_UP + count {
        let started = Instant::now();
        session.execute(code, |_| {});
        if i >= WARM_UP {
            out.push_str(&format!("{:.2}\n", started.elapsed().as_secs_f64() * 1e6));
        }
    }
    print!("{out}");
}

fn stream(path: &str, code: &str, line: &str) {
    let mut session = Session::connect(path);
    session.execute("1+1", |_| {});
    session.stream.set_read_timeout(Some(STALL)).expect("set timeout");
    let mut text = String::new();
    let started = Instant::now();
    let done = session.execute(code, |msg| {
        if let Content::Stream(s) = msg.content {
            if s.name == StreamName::Stdout {
                text.push_str(&s.text);
            }
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    let intact = text.split('\n').filter(|l| *l == line).count();
    let outcome = if done { "done" } else { "stalled" };
    println!("{seconds:.6} {} {intact} {outcome}", text.len());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.as_slice() {
        [_, mode, path, code, line] if mode == "stream" => stream(path, code, line),
        [_, path, count, code] => round_trips(path, count.parse().expect("COUNT is a number"), code),
        _ => {
            eprintln!("usage: hotrepl-rtt-client SOCKET COUNT CODE\n       hotrepl-rtt-client stream SOCKET CODE LINE");
            std::process::exit(2);
        }
    }
}
