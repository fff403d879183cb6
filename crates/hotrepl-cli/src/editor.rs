//! The line editor (reedline) set up for Python: `>>> `/`... ` prompts, history of every
//! session (see [`editor_history`](crate::editor_history)), highlighting, and — asked of the
//! kernel, which knows the target Python and the live namespace — completeness of the input
//! (Enter) and completions (Tab).

use std::borrow::Cow;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::Duration;

use hotrepl_proto::{CompleteRequest, Completeness, Content, IsCompleteRequest};
use reedline::{
    default_emacs_keybindings, ColumnarMenu, Completer, CompletionResult, EditCommand, Emacs, ExternalPrinter, KeyCode,
    KeyModifiers, MenuBuilder, Prompt, PromptEditMode, PromptHistorySearch, PromptHistorySearchStatus, Reedline,
    ReedlineEvent, ReedlineMenu, Span, Suggestion, ValidationResult, Validator,
};

use crate::connection::Connection;
use crate::editor_history::EditorHistory;
use crate::highlight::PythonHighlighter;

/// How often the editor looks for output to print above the prompt.
const PRINT_INTERVAL: Duration = Duration::from_millis(40);
/// The first Enter may come before the kernel has started.
const VALIDATE_TIMEOUT: Duration = Duration::from_secs(15);
const COMPLETE_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Editor {
    pub reedline: Reedline,
    /// Prints lines above the prompt while the editor is active (bounded queue).
    pub printer: SyncSender<String>,
    /// Set to make the editor give up the terminal (the kernel went away).
    pub break_signal: Arc<AtomicBool>,
}

pub fn build(conn: Arc<Connection>) -> Editor {
    let printer = ExternalPrinter::new(1024);
    let sender = printer.sender();
    let break_signal = Arc::new(AtomicBool::new(false));

    let mut keybindings = default_emacs_keybindings();
    // Tab completes; at the start of a line the completer offers an indent instead.
    keybindings.add_binding(
        KeyModifiers::NONE,
        KeyCode::Tab,
        ReedlineEvent::UntilFound(vec![
            ReedlineEvent::Menu("completion_menu".into()),
            ReedlineEvent::MenuNext,
        ]),
    );
    keybindings.add_binding(KeyModifiers::SHIFT, KeyCode::BackTab, ReedlineEvent::MenuPrevious);
    // Alt-Enter starts a new line without running the cell.
    keybindings.add_binding(
        KeyModifiers::ALT,
        KeyCode::Enter,
        ReedlineEvent::Edit(vec![EditCommand::InsertNewline]),
    );

    let menu = ColumnarMenu::default()
        .with_name("completion_menu")
        .with_marker("")
        .with_only_buffer_difference(false);

    let history = EditorHistory::new(conn.clone(), sender.clone());
    let reedline = Reedline::create()
        .with_history(Box::new(history))
        .with_validator(Box::new(KernelValidator { conn: conn.clone() }))
        .with_completer(Box::new(KernelCompleter { conn }))
        .with_highlighter(Box::new(PythonHighlighter))
        .with_menu(ReedlineMenu::EngineCompleter(Box::new(menu)))
        .with_quick_completions(true)
        .with_partial_completions(true)
        .with_edit_mode(Box::new(Emacs::new(keybindings)))
        .use_bracketed_paste(true)
        .with_external_printer(printer)
        .with_poll_interval(PRINT_INTERVAL)
        .with_break_signal(break_signal.clone());
    Editor {
        reedline,
        printer: sender,
        break_signal,
    }
}

pub struct PythonPrompt;

impl Prompt for PythonPrompt {
    fn render_prompt_left(&self) -> Cow<'_, str> {
        Cow::Borrowed(">>> ")
    }

    fn render_prompt_right(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn render_prompt_indicator(&self, _mode: PromptEditMode) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn render_prompt_multiline_indicator(&self) -> Cow<'_, str> {
        Cow::Borrowed("... ")
    }

    fn render_prompt_history_search_indicator(&self, search: PromptHistorySearch) -> Cow<'_, str> {
        let failing = if matches!(search.status, PromptHistorySearchStatus::Failing) {
            "failing "
        } else {
            ""
        };
        Cow::Owned(format!("({failing}reverse-i-search)`{}': ", search.term))
    }

    fn get_prompt_color(&self) -> reedline::Color {
        reedline::Color::Green
    }

    fn get_prompt_multiline_color(&self) -> nu_ansi_term::Color {
        nu_ansi_term::Color::Green
    }
}

/// Enter runs the cell only if the kernel says it is complete (or invalid: then the user
/// sees the SyntaxError). Without an answer, a rough local guess decides.
struct KernelValidator {
    conn: Arc<Connection>,
}

impl Validator for KernelValidator {
    fn validate(&self, line: &str) -> ValidationResult {
        match self
            .conn
            .request(IsCompleteRequest { code: line.to_owned() }, VALIDATE_TIMEOUT)
        {
            Ok(reply) => match reply.content {
                Content::IsCompleteReply(r) if r.status == Completeness::Incomplete => ValidationResult::Incomplete,
                _ => ValidationResult::Complete,
            },
            Err(_) => guess_completeness(line),
        }
    }
}

/// Open brackets, a trailing colon or backslash mean more is coming.
fn guess_completeness(line: &str) -> ValidationResult {
    let depth: i32 = line
        .chars()
        .map(|c| match c {
            '(' | '[' | '{' => 1,
            ')' | ']' | '}' => -1,
            _ => 0,
        })
        .sum();
    let last = line.trim_end();
    if depth > 0 || last.ends_with(':') || last.ends_with('\\') {
        ValidationResult::Incomplete
    } else {
        ValidationResult::Complete
    }
}

struct KernelCompleter {
    conn: Arc<Connection>,
}

impl Completer for KernelCompleter {
    fn complete(&mut self, line: &str, pos: usize) -> CompletionResult {
        let before = &line[..pos];
        // At the start of a line Tab indents: the one "completion" is four spaces.
        if before.rsplit('\n').next().unwrap_or("").trim().is_empty() {
            return CompletionResult::fresh(vec![suggestion("    ".into(), Span::new(pos, pos))]);
        }
        let cursor_pos = before.chars().count();
        let request = CompleteRequest {
            code: line.to_owned(),
            cursor_pos,
        };
        let Ok(reply) = self.conn.request(request, COMPLETE_TIMEOUT) else {
            return CompletionResult::fresh(Vec::new());
        };
        let Content::CompleteReply(reply) = reply.content else {
            return CompletionResult::fresh(Vec::new());
        };
        let to_byte = |chars: usize| line.char_indices().nth(chars).map_or(line.len(), |(i, _)| i);
        let span = Span::new(to_byte(reply.cursor_start), to_byte(reply.cursor_end));
        let suggestions: Vec<Suggestion> = reply.matches.into_iter().map(|value| suggestion(value, span)).collect();
        CompletionResult::fresh(suggestions)
    }
}

fn suggestion(value: String, span: Span) -> Suggestion {
    Suggestion {
        value,
        display_override: None,
        description: None,
        style: None,
        extra: None,
        span,
        append_whitespace: false,
        match_indices: None,
    }
}
