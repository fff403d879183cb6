//! Input typed ahead of the prompt: before the first prompt (while hotrepl starts), or
//! while a cell runs. The terminal holds it in its line mode, where Enter arrives as a
//! newline; the line editor, which reads it only once it has the terminal, would take
//! each newline for Ctrl-J and wait for the rest of a "paste". So it is taken here
//! first: each complete cell runs at once, shown after its prompt as if typed there,
//! and the rest (a line not finished yet) is left in the editor to go on with. Nothing
//! typed is lost or reordered; keys other than text (arrows, Ctrl chords) typed ahead
//! have nothing to act on yet and are dropped.

use std::sync::Mutex;
use std::time::Duration;

use crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers};
use reedline::{EditCommand, HistoryItem};

use crate::batch::{self, Cells};
use crate::editor::{self, Editor};
use crate::highlight;
use crate::repl::Ended;
use crate::session::Session;

/// Keys read from the terminal by someone else (the image protocol query) that belong to
/// the prompt.
static KEPT: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Keeps keys the user typed for the next prompt.
pub fn keep(bytes: &[u8]) {
    KEPT.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(bytes);
}

/// Everything typed ahead, as text: kept keys, then — through the editor's terminal
/// library, which may already have read keys typed after the Enter that ended the last
/// line, so that they keep the order they were typed in — what the terminal holds. In
/// raw mode that is every key typed (in line mode, only lines already ended).
fn take() -> String {
    let kept = std::mem::take(&mut *KEPT.lock().unwrap_or_else(|e| e.into_inner()));
    let mut text = text_of(&kept);
    while crossterm::event::poll(Duration::ZERO).unwrap_or(false) {
        match crossterm::event::read() {
            Ok(Event::Key(key)) if key.kind != KeyEventKind::Release => {
                let chord = key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
                match key.code {
                    KeyCode::Char(c) if !chord => text.push(c),
                    // Line mode's Enter, read in raw mode.
                    KeyCode::Char('j') if key.modifiers == KeyModifiers::CONTROL => text.push('\n'),
                    KeyCode::Enter => text.push('\n'),
                    KeyCode::Tab => text.push('\t'),
                    _ => {}
                }
            }
            Ok(Event::Paste(pasted)) => text.push_str(&pasted),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    text
}

/// The text of keys read as bytes: escape sequences and control characters other than
/// Tab and Enter are dropped.
fn text_of(typed: &[u8]) -> String {
    let mut text = Vec::with_capacity(typed.len());
    let mut i = 0;
    while i < typed.len() {
        match typed[i] {
            b'\r' | b'\n' => text.push(b'\n'),
            b'\t' => text.push(b'\t'),
            0x1b => {
                // ESC [ ... final byte, or ESC and one more.
                if typed.get(i + 1) == Some(&b'[') {
                    i += 2;
                    while i < typed.len() && !(0x40..=0x7e).contains(&typed[i]) {
                        i += 1;
                    }
                } else {
                    i += 1;
                }
            }
            b if b < 0x20 || b == 0x7f => {}
            b => text.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// Typed text split into ended lines and what follows the last Enter.
fn lines(text: &str) -> (Vec<String>, String) {
    let mut lines: Vec<String> = text.split(['\n', '\r']).map(str::to_owned).collect();
    let rest = lines.pop().unwrap_or_default();
    (lines, rest)
}

/// Runs the cells typed ahead of this prompt, each shown after its prompt, until nothing
/// complete is left; what is left goes into the editor. The terminal is left in the
/// editor's raw mode, entered before looking, so every key typed so far can be read and
/// keys typed from now on reach the editor as typed (Enter as Enter, not as the newline
/// line mode makes of it); cells run in line mode. `Some` if the session ended.
pub fn run(session: &mut Session, editor: &mut Editor) -> Option<Ended> {
    let mut cells = Cells::default();
    // Typed after the last Enter so far: the start of the next line.
    let mut partial = String::new();
    loop {
        let _ = crossterm::terminal::enable_raw_mode();
        let (mut typed, rest) = lines(&take());
        let Some(first) = typed.first_mut() else {
            // The unfinished cell and line, for the user to go on with.
            let mut left = cells.take_rest();
            partial.push_str(&rest);
            if !left.is_empty() {
                left.push('\n');
            }
            left.push_str(&partial);
            if !left.is_empty() {
                editor.reedline.run_edit_commands(&[EditCommand::InsertString(left)]);
            }
            return None;
        };
        let _ = crossterm::terminal::disable_raw_mode();
        first.insert_str(0, &std::mem::replace(&mut partial, rest));
        for line in typed {
            let code = match cells.push(&session.conn, &line) {
                Ok(Some(code)) => code,
                Ok(None) => continue,
                Err(e) => return Some(Ended::Gone(e.to_string())),
            };
            echo(session, &code);
            let _ = editor
                .reedline
                .history_mut()
                .save(HistoryItem::from_command_line(&code));
            if let Some(end) = batch::run_cell(session, &code) {
                return Some(end);
            }
        }
    }
}

/// Shows a typed-ahead cell as the prompt would have: after `>>> ` and `... `, coloured.
fn echo(session: &mut Session, code: &str) {
    let theme = session.renderer.palette().err.clone();
    let prompt = editor::PythonPrompt { theme: theme.clone() };
    let mut shown = String::new();
    for (i, line) in code.split('\n').enumerate() {
        shown.push_str(&if i == 0 {
            prompt.first_line()
        } else {
            prompt.continuation()
        });
        shown.push_str(&highlight::paint_code(line, theme.as_ref()));
        shown.push('\n');
    }
    session.renderer.finish_line();
    session.renderer.text(hotrepl_proto::StreamName::Stderr, &shown);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_keys_become_lines_and_a_rest() {
        let (lines, rest) = lines(&text_of(b"print(1)\nfor i in x:\r\x1b[A    pass\n\nprin"));
        assert_eq!(lines, ["print(1)", "for i in x:", "    pass", ""]);
        assert_eq!(rest, "prin");
    }

    #[test]
    fn control_keys_are_dropped() {
        assert_eq!(text_of(b"a\x01b\x7f\x1bOc"), "abc");
    }
}
