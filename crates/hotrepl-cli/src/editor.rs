//! The line editor (reedline) set up for Python: `>>> `/`... ` prompts, history of every
//! session (see [`editor_history`](crate::editor_history)), highlighting, and — asked of the
//! kernel, which knows the target Python and the live namespace — completeness of the input
//! (Enter) and completions (Tab).

use std::borrow::Cow;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hotrepl_config::{Config, EditingMode, Theme};
use hotrepl_proto::{CompleteRequest, Completeness, Content, IsCompleteRequest};
use reedline::{
    default_emacs_keybindings, default_vi_insert_keybindings, default_vi_normal_keybindings,
    default_vi_visual_keybindings, ColumnarMenu, Completer, CompletionResult, EditCommand, EditMode, Emacs,
    ExternalPrinter, KeyCode, KeyModifiers, Keybindings, MenuBuilder, Prompt, PromptEditMode, PromptHistorySearch,
    PromptHistorySearchStatus, Reedline, ReedlineEvent, ReedlineMenu, Span, Suggestion, ValidationResult, Validator,
    Vi,
};

use crate::connection::{Connection, RequestError};
use crate::editor_history::EditorHistory;
use crate::highlight::{PythonHighlighter, Shape};
use crate::paint;
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
    /// The theme code is highlighted with (None: no colours); changes take effect as
    /// soon as the line is redrawn.
    pub theme: Arc<RwLock<Option<Theme>>>,
}

/// The editor, with the key bindings, history reach and colours `config` asks for; `theme`
/// is None when the terminal gets no colours.
pub fn build(conn: Arc<Connection>, config: &Config, theme: Option<Theme>) -> Editor {
    let printer = ExternalPrinter::new(1024);
    let sender = printer.sender();
    let break_signal = Arc::new(AtomicBool::new(false));
    let mut menu = ColumnarMenu::default()
        .with_name("completion_menu")
        .with_marker("")
        .with_only_buffer_difference(false);
    if theme.is_none() {
        // The selection still shows, by attributes alone.
        let plain = nu_ansi_term::Style::new();
        menu = menu
            .with_text_style(plain)
            .with_description_text_style(plain)
            .with_match_text_style(plain.underline())
            .with_selected_text_style(plain.reverse())
            .with_selected_match_text_style(plain.reverse().underline());
    }
    let theme = Arc::new(RwLock::new(theme));

    let reach = usize::try_from(config.values().history_size.0).unwrap_or(usize::MAX);
    let history = EditorHistory::new(conn.clone(), sender.clone(), reach);
    let reedline = Reedline::create()
        .with_history(Box::new(history))
        .with_validator(Box::new(KernelValidator { conn: conn.clone() }))
        .with_completer(Box::new(KernelCompleter { conn }))
        .with_highlighter(Box::new(PythonHighlighter { theme: theme.clone() }))
        .with_menu(ReedlineMenu::EngineCompleter(Box::new(menu)))
        .with_quick_completions(true)
        .with_partial_completions(true)
        .with_edit_mode(edit_mode(config.values().editing_mode))
        .use_bracketed_paste(true)
        .with_external_printer(printer)
        .with_poll_interval(PRINT_INTERVAL)
        .with_break_signal(break_signal.clone());
    Editor {
        reedline,
        printer: sender,
        break_signal,
        theme,
    }
}

/// Emacs or vi bindings, each with ours added: Tab completes (at the start of a line the
/// completer offers an indent instead), Shift-Tab goes back, Alt-Enter starts a new line
/// without running the cell (in vi, in insert mode).
fn edit_mode(mode: EditingMode) -> Box<dyn EditMode> {
    let ours = |mut keys: Keybindings| {
        keys.add_binding(
            KeyModifiers::NONE,
            KeyCode::Tab,
            ReedlineEvent::UntilFound(vec![
                ReedlineEvent::Menu("completion_menu".into()),
                ReedlineEvent::MenuNext,
            ]),
        );
        keys.add_binding(KeyModifiers::SHIFT, KeyCode::BackTab, ReedlineEvent::MenuPrevious);
        keys.add_binding(
            KeyModifiers::ALT,
            KeyCode::Enter,
            ReedlineEvent::Edit(vec![EditCommand::InsertNewline]),
        );
        keys
    };
    match mode {
        EditingMode::Emacs => Box::new(Emacs::new(ours(default_emacs_keybindings()))),
        EditingMode::Vi => Box::new(Vi::new(
            ours(default_vi_insert_keybindings()),
            default_vi_normal_keybindings(),
            default_vi_visual_keybindings(),
        )),
    }
}

/// `>>> ` and `... `, in the theme's prompt styles (plain without a theme).
pub struct PythonPrompt {
    pub theme: Option<Theme>,
}

impl PythonPrompt {
    /// The first line's prompt as it is drawn.
    pub fn first_line(&self) -> String {
        paint::paint(self.theme.as_ref(), |t| &t.prompt, ">>> ")
    }

    /// The prompt of the lines after the first, as it is drawn.
    pub fn continuation(&self) -> String {
        paint::paint(self.theme.as_ref(), |t| &t.continuation, "... ")
    }
}

impl Prompt for PythonPrompt {
    fn render_prompt_left(&self) -> Cow<'_, str> {
        Cow::Owned(self.first_line())
    }

    fn render_prompt_right(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn render_prompt_indicator(&self, _mode: PromptEditMode) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn render_prompt_multiline_indicator(&self) -> Cow<'_, str> {
        Cow::Owned(self.continuation())
    }

    fn render_prompt_history_search_indicator(&self, search: PromptHistorySearch) -> Cow<'_, str> {
        let failing = if matches!(search.status, PromptHistorySearchStatus::Failing) {
            "failing "
        } else {
            ""
        };
        Cow::Owned(format!("({failing}reverse-i-search)`{}': ", search.term))
    }

    // The styles are in the prompts' text; the editor's own colour adds nothing.
    fn get_prompt_color(&self) -> reedline::Color {
        reedline::Color::Default
    }

    fn get_prompt_multiline_color(&self) -> nu_ansi_term::Color {
        nu_ansi_term::Color::Default
    }
}

/// Enter runs the cell only if the kernel says it is complete (or invalid: then the user
/// sees the SyntaxError). Without an answer, a rough local guess decides.
struct KernelValidator {
    conn: Arc<Connection>,
}

impl Validator for KernelValidator {
    fn validate(&self, line: &str) -> ValidationResult {
        match is_complete(&self.conn, line) {
            Ok(true) => ValidationResult::Complete,
            Ok(false) => ValidationResult::Incomplete,
            // Without an answer: open brackets, a trailing colon or backslash mean more.
            Err(_) => {
                let shape = Shape::of(line);
                if shape.open_brackets > 0 || shape.continues {
                    ValidationResult::Incomplete
                } else {
                    ValidationResult::Complete
                }
            }
        }
    }
}

/// Whether `code` runs as it is (or is invalid, and runs to show why) rather than waiting
/// for more lines: the rule for Enter, typed-ahead and piped input alike. The kernel
/// decides, except for a line nothing could continue (and that starts no cell magic), which
/// needs no round trip.
pub fn is_complete(conn: &Connection, code: &str) -> Result<bool, RequestError> {
    // A `%%magic` line starts a cell whose body is still to come.
    if Shape::of(code).surely_complete() && !code.trim_start().starts_with("%%") {
        return Ok(true);
    }
    let reply = conn.request(IsCompleteRequest { code: code.to_owned() }, VALIDATE_TIMEOUT)?;
    Ok(!matches!(reply.content, Content::IsCompleteReply(r) if r.status == Completeness::Incomplete))
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
