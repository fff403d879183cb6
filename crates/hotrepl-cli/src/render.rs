//! Showing what the kernel sends: output streams as they come, results by their
//! `text/plain` form, tracebacks on stderr with the exception line in red on a terminal.

use std::io::{IsTerminal, Write};

use hotrepl_proto::{Content, ErrorContent, Message, StreamName};

pub struct Renderer {
    /// Whether the terminal cursor is at the start of a line (so the next prompt is not
    /// glued to output that did not end with a newline).
    at_line_start: bool,
    color: bool,
}

impl Renderer {
    pub fn new() -> Renderer {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Renderer {
            at_line_start: true,
            color,
        }
    }

    /// Shows an output message; returns false for messages that are not output.
    pub fn show(&mut self, msg: &Message) -> bool {
        match &msg.content {
            Content::Stream(s) => self.text(s.name, &s.text),
            Content::Error(e) => self.error(e),
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

    pub fn text(&mut self, name: StreamName, text: &str) {
        if text.is_empty() {
            return;
        }
        let result = match name {
            StreamName::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes()).and_then(|_| out.flush())
            }
            StreamName::Stderr => {
                let mut err = std::io::stderr().lock();
                err.write_all(text.as_bytes()).and_then(|_| err.flush())
            }
        };
        // A closed stdout (a pipe whose reader left) loses output, nothing more.
        let _ = result;
        self.at_line_start = text.ends_with('\n');
    }

    pub fn error(&mut self, error: &ErrorContent) {
        self.finish_line();
        let text = error.text();
        let text = if self.color { highlight_last_line(&text) } else { text };
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
}

/// The exception line (`ValueError: ...`) in bold red.
fn highlight_last_line(text: &str) -> String {
    let body = text.trim_end_matches('\n');
    let (head, last) = match body.rfind('\n') {
        Some(i) => (&body[..=i], &body[i + 1..]),
        None => ("", body),
    };
    format!("{head}\x1b[1;31m{last}\x1b[0m\n")
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
    fn exception_line_is_highlighted() {
        assert_eq!(
            highlight_last_line("Traceback:\n  x\nValueError: no\n"),
            "Traceback:\n  x\n\x1b[1;31mValueError: no\x1b[0m\n"
        );
    }
}
