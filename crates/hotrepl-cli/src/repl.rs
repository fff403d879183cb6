//! The interactive prompt. While the user edits, output from the kernel (background tasks
//! printing) is printed above the prompt through the editor, whole lines at a time; while
//! a cell runs, the session shows its output directly.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotrepl_proto::{Content, ExecuteRequest, KernelInfoRequest, StreamName};
use reedline::Signal;

use crate::editor::{self, PythonPrompt};
use crate::events::{Diverter, Event};
use crate::input;
use crate::render::{self, LineBuffer};
use crate::session::{CellEnd, Session};
use crate::{python, settings, typeahead};

/// How long a starting kernel may take to say who it is.
const BANNER_TIMEOUT: Duration = Duration::from_secs(30);

/// How the session ended.
pub enum Ended {
    /// The user left (Ctrl-D, `exit()`) with this status.
    Exit(i32),
    /// The connection was lost; why.
    Gone(String),
}

/// The prompt when stdin is a terminal; otherwise its lines run as if typed.
pub fn run_on_stdin(session: &mut Session) -> Ended {
    if std::io::stdin().is_terminal() {
        run(session)
    } else if let Err(reason) = session.configure_kernel() {
        Ended::Gone(reason)
    } else {
        crate::batch::run(session)
    }
}

pub fn run(session: &mut Session) -> Ended {
    if let Err(e) = crate::hangup::watch_terminal() {
        return Ended::Gone(format!("cannot start a thread: {e}"));
    }
    session.interactive = std::io::stdout().is_terminal();
    let mut editor = editor::build(
        session.conn.clone(),
        &session.config,
        session.renderer.palette().err.clone(),
    );
    // The kernel is told the configuration once it has said who it is: a starting kernel
    // answers that at once, and the banner should not wait behind anything.
    if let Err(reason) = show_banner(session).and_then(|()| session.configure_kernel()) {
        return Ended::Gone(reason);
    }
    if session.local {
        if let Some(end) = run_startup_files(session) {
            return end;
        }
    }
    let above = Arc::new(Mutex::new(AbovePrompt::default()));
    loop {
        session.show_queued();
        session.renderer.finish_line();
        if let Some(end) = typeahead::run(session, &mut editor) {
            return end;
        }
        let theme = session.renderer.palette().err.clone();
        *editor.theme.write().unwrap_or_else(|e| e.into_inner()) = theme.clone();
        let prompt = PythonPrompt { theme };
        // The prompt is drawn at once, before the editor asks the terminal where the cursor
        // is (a round trip to the terminal): the user sees it that much sooner, and the
        // editor, finding the cursor back at the start of the line, draws it over itself.
        // (On stdout, so only when that is the terminal.)
        if session.interactive && editor.reedline.current_buffer_contents().is_empty() {
            session.renderer.prompt(&prompt.first_line());
        } else {
            session.renderer.flush_held();
        }
        session
            .events
            .set_diverter(Some(print_above_prompt(&editor, above.clone())));
        session.events.clear_interrupt();
        if let Some(text) = session.next_input.take() {
            editor.reedline.run_edit_commands(&[reedline::EditCommand::InsertString(
                text.trim_end_matches('\n').to_owned(),
            )]);
        }
        let signal = editor.reedline.read_line(&prompt);
        session.events.set_diverter(None);
        let rest = above.lock().unwrap_or_else(|e| e.into_inner()).take_rest();
        session.renderer.text(StreamName::Stdout, &rest);
        let signal = match signal {
            Ok(s) => s,
            Err(e) => return Ended::Gone(format!("terminal error: {e}")),
        };
        match signal {
            Signal::Success(code) => {
                if code.trim().is_empty() {
                    continue;
                }
                match session.run_cell(&code) {
                    CellEnd::Ok | CellEnd::Failed => {}
                    CellEnd::Exit(status) => {
                        session.wait_closed();
                        return Ended::Exit(status);
                    }
                    CellEnd::Gone(reason) => return Ended::Gone(reason),
                }
            }
            Signal::CtrlC => {}
            Signal::CtrlD => {
                if session.config.values().confirm_exit && !confirmed(session) {
                    continue;
                }
                session.shut_down();
                return Ended::Exit(0);
            }
            Signal::ExternalBreak(_) => {
                editor.break_signal.store(false, Ordering::SeqCst);
                session.show_queued();
                if let Some(Event::Closed(reason)) = session.events.try_pop() {
                    // Whatever is said next does not belong on the prompt's line.
                    session.renderer.text(StreamName::Stdout, "\n");
                    return Ended::Gone(reason);
                }
            }
            _ => {}
        }
    }
}

/// Asks whether to leave (the `confirm_exit` option); yes unless the answer is no.
fn confirmed(session: &mut Session) -> bool {
    session
        .renderer
        .text(StreamName::Stdout, "Do you really want to exit ([y]/n)? ");
    let answer = input::read_line(&session.events, false, true);
    session.renderer.at_line_start();
    match answer {
        input::Answer::Line(line) => !line.trim().to_ascii_lowercase().starts_with('n'),
        input::Answer::Cancelled(hotrepl_proto::InputCancel::Eof) => true,
        _ => false,
    }
}

/// Runs the start-up files (`$PYTHONSTARTUP`, then hotrepl's `startup.py`) in the
/// session's namespace, as cells that do not count and are not kept in history; their
/// output and errors show like any cell's. `Some` if the session ended.
fn run_startup_files(session: &mut Session) -> Option<Ended> {
    for path in settings::startup_files() {
        let request = ExecuteRequest {
            silent: true,
            store_history: false,
            ..ExecuteRequest::new(startup_code(&path))
        };
        match session.run(request) {
            CellEnd::Ok | CellEnd::Failed => {}
            CellEnd::Exit(status) => {
                session.wait_closed();
                return Some(Ended::Exit(status));
            }
            CellEnd::Gone(reason) => return Some(Ended::Gone(reason)),
        }
    }
    None
}

/// A cell that runs the file at `path`, with the file's name in its tracebacks.
fn startup_code(path: &Path) -> String {
    let path = python::python_str(&path.display().to_string());
    format!("exec(compile(open({path}, 'rb').read(), {path}, 'exec'))")
}

/// Output that arrives while the user edits, on its way above the prompt.
#[derive(Default)]
struct AbovePrompt {
    partial: LineBuffer,
    /// Lines the editor's queue had no room for; printed once the editor lets go. Once
    /// anything is here, later lines wait too, to keep the order.
    overflow: String,
}

impl AbovePrompt {
    fn print(&mut self, printer: &SyncSender<String>, lines: String) {
        if self.overflow.is_empty() {
            match printer.try_send(lines) {
                Ok(()) => return,
                Err(TrySendError::Full(lines)) | Err(TrySendError::Disconnected(lines)) => self.overflow = lines,
            }
        } else {
            self.overflow.push_str(&lines);
        }
        self.overflow.push('\n');
    }

    /// What was not printed above the prompt: overflowed lines and a partial last line.
    fn take_rest(&mut self) -> String {
        let mut rest = std::mem::take(&mut self.overflow);
        rest.push_str(&self.partial.take_partial());
        rest
    }
}

/// The diverter used while editing: output goes above the prompt; the connection closing
/// makes the editor let go of the terminal.
fn print_above_prompt(editor: &editor::Editor, above: Arc<Mutex<AbovePrompt>>) -> Diverter {
    let printer = editor.printer.clone();
    let break_signal = editor.break_signal.clone();
    Box::new(move |event| {
        let mut above = above.lock().unwrap_or_else(|e| e.into_inner());
        let text = match &event {
            Event::Message(msg) => {
                if let Content::Stream(s) = &msg.content {
                    if let Some(lines) = above.partial.push(&s.text) {
                        above.print(&printer, lines);
                    }
                    return None;
                }
                match render::plain_text(&msg.content) {
                    Some(text) => text,
                    None => return None,
                }
            }
            Event::Closed(_) => {
                break_signal.store(true, Ordering::SeqCst);
                return Some(event);
            }
            Event::Interrupt => return None,
        };
        let text = text.trim_end_matches('\n');
        if !text.is_empty() {
            above.print(&printer, text.to_owned());
        }
        None
    })
}

/// Shows the kernel's banner before the first prompt, as Python does (and, in a live
/// process, which one). The kernel answers this before its event loop is even up, so it
/// costs little of the start-up.
fn show_banner(session: &mut Session) -> Result<(), String> {
    let reply = match session.conn.request(KernelInfoRequest {}, BANNER_TIMEOUT) {
        Ok(reply) => reply,
        Err(e) if session.local => return Err(format!("the kernel did not start: {e}")),
        Err(e) => return Err(format!("the program did not open the session: {e}")),
    };
    session.renderer.show(&reply);
    if let (false, Content::KernelInfoReply(info)) = (session.local, &reply.content) {
        let pid = info.pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into());
        session.renderer.note(&format!(
            "Attached to process {pid}: Ctrl-D detaches and leaves it running."
        ));
    }
    Ok(())
}
