//! One client session with a kernel, whatever drives it (the interactive prompt, piped
//! input, or a one-shot `exec`): running a cell and showing what it produces, answering
//! its input requests, forwarding Ctrl-C, and ending the session.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hotrepl_proto::{Content, ExecuteRequest, InputReply, InterruptRequest, ShutdownRequest};

use crate::connection::Connection;
use crate::events::{Event, Events, Woken};
use crate::input;
use crate::render::Renderer;

/// How long the kernel gets to flush its last output and close after a shutdown.
const CLOSE_GRACE: Duration = Duration::from_secs(3);

pub struct Session {
    pub conn: Arc<Connection>,
    pub events: Arc<Events>,
    pub renderer: Renderer,
    /// The kernel is our child in our process group: Ctrl-C reaches it as a signal from the
    /// terminal, so we must not also send an interrupt request.
    pub local: bool,
    /// What a cell asked to put in the next input (`%load`), for the prompt to show.
    pub next_input: Option<String>,
}

/// How a cell ended, seen from the client.
pub enum CellEnd {
    Ok,
    Failed,
    /// The cell raised SystemExit: the session ends with this status.
    Exit(i32),
    /// The connection ended; why.
    Gone(String),
}

impl Session {
    pub fn new(conn: Arc<Connection>, events: Arc<Events>, local: bool) -> Session {
        Session {
            conn,
            events,
            renderer: Renderer::new(),
            local,
            next_input: None,
        }
    }

    pub fn run_cell(&mut self, code: &str) -> CellEnd {
        // Values are pretty printed to fit the terminal; anywhere else (a pipe, a file) they
        // stay on one line.
        let mut metadata = serde_json::Map::new();
        metadata.insert("width".into(), terminal_width().unwrap_or(0).into());
        let request = match self.conn.send_with_metadata(ExecuteRequest::new(code), metadata) {
            Ok(header) => header,
            Err(e) => return CellEnd::Gone(e.to_string()),
        };
        let mut interrupts = 0;
        loop {
            let event = match self.events.wait(None) {
                Woken::Event(e) => e,
                Woken::Readable | Woken::TimedOut => continue,
            };
            let msg = match event {
                Event::Message(msg) => msg,
                Event::Closed(reason) => return CellEnd::Gone(reason),
                Event::Interrupt => {
                    if !self.local {
                        interrupts += 1;
                        let _ = self.conn.send(InterruptRequest {
                            abandon: interrupts > 1,
                        });
                    }
                    continue;
                }
            };
            let ours = msg.parent_header.as_ref().is_some_and(|p| p.msg_id == request.msg_id);
            match &msg.content {
                Content::ExecuteReply(reply) if ours => {
                    for page in reply.pages() {
                        self.renderer.finish_line();
                        self.renderer.text(
                            hotrepl_proto::StreamName::Stdout,
                            &format!("{}\n", page.trim_end_matches('\n')),
                        );
                    }
                    self.next_input = reply.next_input().map(str::to_owned);
                    return match reply.exit_code {
                        Some(code) => CellEnd::Exit(code),
                        None if reply.error.is_some() => CellEnd::Failed,
                        None => CellEnd::Ok,
                    };
                }
                Content::InputRequest(ask) if ours => {
                    self.renderer.text(hotrepl_proto::StreamName::Stdout, &ask.prompt);
                    let (value, cancelled) = match input::read_line(&self.events, ask.password, !self.local) {
                        input::Answer::Line(line) => (line, None),
                        input::Answer::Cancelled(how) => (String::new(), Some(how)),
                        input::Answer::Superseded => continue,
                    };
                    // The terminal echoed the user's Enter.
                    self.renderer.at_line_start();
                    let _ = self.conn.send(InputReply { value, cancelled });
                }
                _ => {
                    self.renderer.show(&msg);
                }
            }
        }
    }

    /// Shows output that arrived while nobody was looking (between cells).
    pub fn show_queued(&mut self) {
        while let Some(event) = self.events.try_pop() {
            match event {
                Event::Message(msg) => {
                    self.renderer.show(&msg);
                }
                Event::Closed(reason) => {
                    self.events.push_front(Event::Closed(reason));
                    return;
                }
                Event::Interrupt => {}
            }
        }
    }

    /// Asks the kernel to end the session and shows what it prints on the way out.
    pub fn shut_down(&mut self) {
        let _ = self.conn.send(ShutdownRequest { restart: false });
        self.wait_closed();
    }

    /// Shows the kernel's last output until it closes the connection (or a grace period).
    pub fn wait_closed(&mut self) {
        let deadline = Instant::now() + CLOSE_GRACE;
        loop {
            match self.events.wait_until(None, Some(deadline)) {
                Woken::Event(Event::Message(msg)) => {
                    self.renderer.show(&msg);
                }
                Woken::Event(Event::Closed(_)) | Woken::TimedOut => return,
                Woken::Event(_) | Woken::Readable => {}
            }
        }
    }
}

/// The width of the terminal output goes to, if it is one.
fn terminal_width() -> Option<u16> {
    // SAFETY: TIOCGWINSZ fills a winsize struct we own; fd 1 is ours to query.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        (libc::ioctl(1, libc::TIOCGWINSZ, &mut size) == 0 && size.ws_col > 0).then_some(size.ws_col)
    }
}
