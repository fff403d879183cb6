//! One client session with a kernel, whatever drives it (the interactive prompt, piped
//! input, or a one-shot `exec`): running a cell and showing what it produces, answering
//! its input requests, forwarding Ctrl-C, and ending the session.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hotrepl_config::{Config, Raw, Source};
use hotrepl_proto::{
    ConfigChanged, ConfigureRequest, Content, ExecuteRequest, InputReply, InterruptRequest, OptionSetting,
    ShutdownRequest,
};

use crate::connection::Connection;
use crate::elapsed::{self, Stopwatch};
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
    pub config: Config,
    /// Someone is at the prompt: long cells show how long they are taking.
    pub interactive: bool,
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
    pub fn new(conn: Arc<Connection>, events: Arc<Events>, local: bool, config: Config) -> Session {
        Session {
            conn,
            events,
            renderer: Renderer::new(&config),
            local,
            next_input: None,
            config,
            interactive: false,
        }
    }

    /// Tells the kernel this client's configuration (once per session, before any cell),
    /// so it acts on the options that are its own and `%config` can list them all.
    pub fn configure_kernel(&self) -> Result<(), String> {
        let options = self
            .config
            .list()
            .into_iter()
            .map(|setting| OptionSetting {
                name: setting.declaration.name.into(),
                value: setting.value,
                source: setting.source.to_string(),
            })
            .collect();
        let themes = self.config.themes().clone();
        self.conn
            .send_unanswered(ConfigureRequest { options, themes })
            .map_err(|e| e.to_string())
    }

    /// `%config` in the kernel changed an option; the ones the client uses take effect.
    fn config_changed(&mut self, change: &ConfigChanged) {
        let raw = Raw::Text(change.value.clone());
        if self.config.set_from(&change.name, &raw, Source::Runtime).is_ok() {
            self.renderer.configure(&self.config);
        }
    }

    pub fn run_cell(&mut self, code: &str) -> CellEnd {
        self.run(ExecuteRequest::new(code))
    }

    pub fn run(&mut self, request: ExecuteRequest) -> CellEnd {
        let end = self.follow(request);
        self.renderer.clear_status();
        // At the prompt, a value held back goes out with the next prompt.
        if !(self.interactive && matches!(end, CellEnd::Ok | CellEnd::Failed)) {
            self.renderer.flush_held();
        }
        end
    }

    /// Sends the cell and shows what it produces until its reply.
    fn follow(&mut self, request: ExecuteRequest) -> CellEnd {
        // Values are pretty printed to fit the terminal; anywhere else (a pipe, a file) they
        // stay on one line.
        let mut metadata = serde_json::Map::new();
        metadata.insert("width".into(), terminal_width().unwrap_or(0).into());
        let request = match self.conn.send_with_metadata(request, metadata) {
            Ok(header) => header,
            Err(e) => return CellEnd::Gone(e.to_string()),
        };
        let mut watch = self.interactive.then(Stopwatch::start);
        let mut interrupts = 0;
        loop {
            let event = match self.events.wait_until(None, watch.as_ref().map(Stopwatch::next_tick)) {
                Woken::Event(e) => e,
                Woken::TimedOut => {
                    if let Some(watch) = watch.as_mut() {
                        let line = watch.tick();
                        self.renderer.show_status(&line);
                    }
                    continue;
                }
                Woken::Readable => continue,
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
                    if let Some(watch) = watch {
                        self.report_elapsed(&watch);
                    }
                    return match reply.exit_code {
                        Some(code) => CellEnd::Exit(code),
                        None if reply.error.is_some() => CellEnd::Failed,
                        None => CellEnd::Ok,
                    };
                }
                Content::InputRequest(ask) if ours => {
                    self.renderer.clear_status();
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
                Content::ConfigChanged(change) => self.config_changed(change),
                Content::ExecuteResult(result) if ours => self.renderer.show_value(&result.data),
                _ => {
                    self.renderer.show(&msg);
                }
            }
        }
    }

    /// The time a cell took, when that was longer than the `elapsed_threshold` option.
    fn report_elapsed(&mut self, watch: &Stopwatch) {
        self.renderer.clear_status();
        let took = watch.elapsed();
        if let Some(threshold) = self.config.values().elapsed_threshold.0 {
            if took > threshold {
                self.renderer.note(&format!("elapsed {}", elapsed::human(took)));
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
