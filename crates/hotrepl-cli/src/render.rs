//! Showing what the kernel sends: output streams as they come, values by the best form of
//! their MIME bundle the terminal can show (an image, else `text/plain`), tracebacks on
//! stderr, all in the theme's colours where colours are wanted. While a long cell runs, a
//! status line (the elapsed time) sits under the output; anything written first clears
//! it, so output keeps flowing above it.

use std::io::{IsTerminal, Write};
use std::os::fd::FromRawFd;

use hotrepl_config::Config;
use hotrepl_proto::{Content, ErrorContent, Message, MimeBundle, StreamName};

use crate::images::{Image, Images};
use crate::paint::{self, Palette};

pub struct Renderer {
    /// Whether the terminal cursor is at the start of a line (so the next prompt is not
    /// glued to output that did not end with a newline).
    at_line_start: bool,
    palette: Palette,
    images: Images,
    stdout_is_terminal: bool,
    /// The status line's text while one is up: it is cleared for each write and drawn
    /// again after it.
    status: Option<String>,
    /// Where the status line is drawn: on the cursor's (empty) line (true), or below it.
    status_drawn: Option<bool>,
    /// A cell's value, held back until the next write: the cell's reply follows at once,
    /// and the next prompt then goes out in the same write.
    held: String,
}

impl Renderer {
    pub fn new(config: &Config) -> Renderer {
        let values = config.values();
        Renderer {
            at_line_start: true,
            palette: Palette::new(values.color, &config.theme()),
            images: Images::new(values.image_protocol),
            stdout_is_terminal: std::io::stdout().is_terminal(),
            status: None,
            status_drawn: None,
            held: String::new(),
        }
    }

    /// Takes up changed colour and image settings.
    pub fn configure(&mut self, config: &Config) {
        self.palette = Palette::new(config.values().color, &config.theme());
        self.images.set_choice(config.values().image_protocol);
    }

    pub fn palette(&self) -> &Palette {
        &self.palette
    }

    /// Shows an output message; returns false for messages that are not output.
    pub fn show(&mut self, msg: &Message) -> bool {
        match &msg.content {
            Content::Stream(s) => self.text(s.name, &s.text),
            Content::Error(e) => self.error(e),
            Content::ExecuteResult(r) => self.bundle(&r.data),
            Content::DisplayData(d) => self.bundle(&d.data),
            other => match other.shown_text() {
                Some(text) => {
                    self.finish_line();
                    self.text(StreamName::Stdout, &text);
                }
                None => return false,
            },
        }
        true
    }

    /// A value: drawn as an image when it has one and the terminal can, else as one line
    /// that says what the image is, else its text.
    fn bundle(&mut self, data: &MimeBundle) {
        self.finish_line();
        if let Some(image) = Image::from_bundle(data) {
            self.erase_status();
            if self.images.draw(&image) {
                self.at_line_start = true;
                self.draw_status();
            } else {
                self.note(&image.placeholder());
            }
            return;
        }
        if let Some(text) = self.value_text(data) {
            self.text(StreamName::Stdout, &text);
        }
    }

    /// A value's `text/plain`, as shown.
    fn value_text(&self, data: &MimeBundle) -> Option<String> {
        let text = data.get("text/plain")?.as_str()?;
        Some(format!(
            "{}\n",
            paint::paint(self.palette.out.as_ref(), |t| &t.result, text)
        ))
    }

    /// Shows a cell's value, holding its text back until the next write (see `held`).
    pub fn show_value(&mut self, data: &MimeBundle) {
        match self.value_text(data) {
            Some(text) if Image::from_bundle(data).is_none() => {
                self.finish_line();
                self.erase_status();
                self.held.push_str(&text);
                self.at_line_start = true;
            }
            _ => self.bundle(data),
        }
    }

    /// Writes what was held back.
    pub fn flush_held(&mut self) {
        if !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            self.write_control(&held);
        }
    }

    /// Draws the prompt's first line, with anything held back, in one write; the cursor
    /// goes back to the start of the line, where the editor draws it again. The terminal
    /// is in the editor's raw mode by now, which does not turn newlines into CR LF.
    pub fn prompt(&mut self, prompt: &str) {
        let held = std::mem::take(&mut self.held).replace('\n', "\r\n");
        self.write_control(&format!("{held}{prompt}\r"));
    }

    pub fn text(&mut self, name: StreamName, text: &str) {
        if text.is_empty() {
            return;
        }
        self.erase_status();
        let result = match name {
            StreamName::Stdout => {
                let held = std::mem::take(&mut self.held);
                let mut out = std::io::stdout().lock();
                out.write_all(format!("{held}{text}").as_bytes())
                    .and_then(|_| out.flush())
            }
            StreamName::Stderr => {
                self.flush_held();
                let mut err = std::io::stderr().lock();
                err.write_all(text.as_bytes()).and_then(|_| err.flush())
            }
        };
        // A closed stdout (a pipe whose reader left) loses output, nothing more.
        let _ = result;
        self.at_line_start = text.ends_with('\n');
        self.draw_status();
    }

    /// A quiet line of our own (an elapsed time, an image placeholder) on stdout.
    pub fn note(&mut self, text: &str) {
        self.finish_line();
        let shown = paint::paint(self.palette.out.as_ref(), |t| &t.note, text);
        self.text(StreamName::Stdout, &format!("{shown}\n"));
    }

    pub fn error(&mut self, error: &ErrorContent) {
        self.finish_line();
        let text = paint::traceback(error, self.palette.err.as_ref());
        self.text(StreamName::Stderr, &text);
    }

    /// Notes that the cursor is at the start of a line (the terminal echoed a newline).
    pub fn at_line_start(&mut self) {
        self.at_line_start = true;
    }

    /// Ends a partial line so that what comes next starts at column 0.
    pub fn finish_line(&mut self) {
        if !self.at_line_start {
            self.text(StreamName::Stdout, "\n");
        }
    }

    /// Puts up (or updates) a status line under the output: `text`, until
    /// [`Renderer::clear_status`]. Only on a terminal in its normal line mode: a
    /// full-screen program the cell started owns it otherwise.
    pub fn show_status(&mut self, text: &str) {
        if !self.stdout_is_terminal || !line_mode() {
            return;
        }
        self.erase_status();
        self.status = Some(paint::paint(self.palette.out.as_ref(), |t| &t.note, text));
        self.draw_status();
    }

    /// Takes the status line down.
    pub fn clear_status(&mut self) {
        self.erase_status();
        self.status = None;
    }

    /// Draws the status line, leaving the cursor where it was: on the cursor's line when
    /// that is empty (output goes on there once it is erased), else on the line below —
    /// index down (scrolling if at the bottom) and back up so that line exists, save the
    /// cursor, draw below, restore.
    fn draw_status(&mut self) {
        let Some(text) = &self.status else { return };
        let sequence = if self.at_line_start {
            format!("\r\x1b[2K{text}\r")
        } else {
            format!("\x1bD\x1bM\x1b7\x1bD\r\x1b[2K{text}\x1b8")
        };
        self.write_control(&sequence);
        self.status_drawn = Some(self.at_line_start);
    }

    fn erase_status(&mut self) {
        match self.status_drawn.take() {
            Some(true) => self.write_control("\r\x1b[2K"),
            Some(false) => self.write_control("\x1b7\x1bD\r\x1b[2K\x1b8"),
            None => {}
        }
    }

    fn write_control(&self, sequence: &str) {
        let _ = write_stdout(sequence.as_bytes());
    }
}

/// Writes to stdout in one go: not through `Stdout`, whose line buffering would split the
/// write after its last newline (and so wake whoever reads the terminal twice).
fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    // SAFETY: fd 1 stays open for the life of the process; ManuallyDrop keeps this File
    // from closing it.
    let mut out = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(libc::STDOUT_FILENO) });
    out.write_all(bytes)
}

impl Drop for Renderer {
    fn drop(&mut self) {
        self.flush_held();
    }
}

/// How a message shows as plain text above the prompt, where the editor owns the terminal:
/// as [`Content::shown_text`], except that an image is its one-line placeholder.
pub fn plain_text(content: &Content) -> Option<String> {
    let data = match content {
        Content::ExecuteResult(r) => &r.data,
        Content::DisplayData(d) => &d.data,
        other => return other.shown_text(),
    };
    match Image::from_bundle(data) {
        Some(image) => Some(format!("{}\n", image.placeholder())),
        None => content.shown_text(),
    }
}

/// Whether the terminal is in its normal, line-at-a-time mode.
fn line_mode() -> bool {
    // SAFETY: tcgetattr fills a zeroed termios.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        libc::tcgetattr(libc::STDIN_FILENO, &mut t) == 0 && t.c_lflag & libc::ICANON != 0
    }
}

/// Cuts streamed text into whole lines for the editor's printer, which can only print
/// whole lines above the prompt; a partial line waits for its end.
#[derive(Default)]
pub struct LineBuffer {
    partial: String,
}

impl LineBuffer {
    /// Adds text; returns the complete lines it finished (without their newlines).
    pub fn push(&mut self, text: &str) -> Option<String> {
        self.partial.push_str(text);
        let end = self.partial.rfind('\n')?;
        let rest = self.partial.split_off(end + 1);
        let mut lines = std::mem::replace(&mut self.partial, rest);
        lines.pop();
        Some(lines)
    }

    pub fn take_partial(&mut self) -> String {
        std::mem::take(&mut self.partial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_buffer_holds_partial_lines() {
        let mut b = LineBuffer::default();
        assert_eq!(b.push("tick"), None);
        assert_eq!(b.push(" 1\ntick 2\nti").as_deref(), Some("tick 1\ntick 2"));
        assert_eq!(b.take_partial(), "ti");
    }

    #[test]
    fn images_show_as_their_placeholder_above_the_prompt() {
        let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="4" height="3"></svg>"#;
        let mut data = MimeBundle::new();
        data.insert("text/plain".into(), "<Drawing>".into());
        data.insert("image/svg+xml".into(), svg.into());
        let content = Content::DisplayData(hotrepl_proto::DisplayData {
            data,
            metadata: Default::default(),
            transient: Default::default(),
        });
        assert_eq!(
            plain_text(&content).unwrap(),
            format!("<image/svg+xml 4x3, {} B>\n", svg.len())
        );
    }
}
