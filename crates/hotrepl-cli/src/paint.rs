//! Colours: whether a stream gets them (`--color`, `NO_COLOR`, whether it is a terminal),
//! and painting text with the theme's styles — code, results, and tracebacks, whose
//! standard layout (`File "...", line N, in name`, the source line, the exception line) is
//! read here, since the kernel sends them as plain text.

use std::io::IsTerminal;

use hotrepl_config::theme::{Color as ThemeColor, Style as ThemeStyle};
use hotrepl_config::{ColorMode, Theme};
use nu_ansi_term::{Color, Style};

/// Whether output to a stream gets colours: `always`, `never`, or with `auto` when it is a
/// terminal and `NO_COLOR` is not set (to something non-empty, as no-color.org says).
pub fn wanted(mode: ColorMode, is_terminal: bool) -> bool {
    match mode {
        ColorMode::Always => true,
        ColorMode::Never => false,
        ColorMode::Auto => is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

/// The theme for stdout and for stderr, each None when that stream gets no colour.
#[derive(Clone, Default)]
pub struct Palette {
    pub out: Option<Theme>,
    pub err: Option<Theme>,
}

impl Palette {
    pub fn new(mode: ColorMode, theme: &Theme) -> Palette {
        let pick = |is_terminal| wanted(mode, is_terminal).then(|| theme.clone());
        Palette {
            out: pick(std::io::stdout().is_terminal()),
            err: pick(std::io::stderr().is_terminal()),
        }
    }
}

pub fn ansi(style: &ThemeStyle) -> Style {
    let mut out = Style::new();
    out.foreground = style.fg.map(color);
    out.background = style.bg.map(color);
    out.is_bold = style.bold;
    out.is_dimmed = style.dim;
    out.is_italic = style.italic;
    out.is_underline = style.underline;
    out
}

/// The terminal's 16 colours by their classic codes (30-37, 90-97), which every terminal
/// knows.
const BASIC: [Color; 16] = [
    Color::Black,
    Color::Red,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::Cyan,
    Color::White,
    Color::DarkGray,
    Color::LightRed,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightBlue,
    Color::LightMagenta,
    Color::LightCyan,
    Color::LightGray,
];

fn color(c: ThemeColor) -> Color {
    match c {
        ThemeColor::Basic(n) => BASIC[n as usize % 16],
        ThemeColor::Fixed(n) => Color::Fixed(n),
        ThemeColor::Rgb(r, g, b) => Color::Rgb(r, g, b),
    }
}

/// `text` in the theme's style that `select` picks, or as it is without a theme.
pub fn paint(theme: Option<&Theme>, select: impl Fn(&Theme) -> &ThemeStyle, text: &str) -> String {
    match theme {
        Some(theme) => styled(select(theme), text),
        None => text.to_owned(),
    }
}

/// `text` in `style` (as it is when the style is plain).
pub fn styled(style: &ThemeStyle, text: &str) -> String {
    if style.is_plain() || text.is_empty() {
        text.to_owned()
    } else {
        ansi(style).paint(text).to_string()
    }
}

/// A traceback with its parts in the theme's styles. Lines it does not recognise stay as
/// they are; so does all of it without a theme.
pub fn traceback(text: &str, theme: Option<&Theme>) -> String {
    let Some(theme) = theme else { return text.to_owned() };
    let mut out = String::with_capacity(text.len() + 64);
    let mut after_frame = false;
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        // Exception groups draw boxes: `  | ` in front of each of their lines.
        let (margin, content) = split_group_margin(body);
        out.push_str(margin);
        let was_frame = after_frame;
        after_frame = false;
        if let Some(frame) = parse_frame(content) {
            out.push_str(&paint_frame(content, &frame, theme));
            after_frame = true;
        } else if is_chain_header(content) {
            out.push_str(&paint(Some(theme), |t| &t.traceback, content));
        } else if was_frame && content.starts_with("    ") {
            let indent = &content[..content.len() - content.trim_start().len()];
            out.push_str(indent);
            out.push_str(&paint(Some(theme), |t| &t.source, content.trim_start()));
        } else if let Some((name, rest)) = exception_line(content) {
            out.push_str(&paint(Some(theme), |t| &t.exception, name));
            out.push_str(&paint(Some(theme), |t| &t.message, rest));
        } else {
            out.push_str(content);
        }
        out.push_str(end);
    }
    out
}

/// The `  | ` margin an exception group puts before its sub-tracebacks' lines.
fn split_group_margin(line: &str) -> (&str, &str) {
    let mut cut = 0;
    loop {
        let rest = &line[cut..];
        let spaces = rest.len() - rest.trim_start_matches(' ').len();
        let after = &rest[spaces..];
        if after.starts_with("| ") || after == "|" {
            cut += spaces + 2.min(after.len());
        } else {
            return line.split_at(cut);
        }
    }
}

fn is_chain_header(line: &str) -> bool {
    let text = line.trim_start_matches(['+', ' ']);
    text.starts_with("Traceback (most recent call last):")
        || text.starts_with("Exception Group Traceback (most recent call last):")
        || text.starts_with("During handling of the above exception, another exception occurred:")
        || text.starts_with("The above exception was the direct cause of the following exception:")
}

/// Where the parts of `  File "name", line N, in function` are, as byte ranges.
struct Frame {
    file: std::ops::Range<usize>,
    line: Option<std::ops::Range<usize>>,
    function: Option<std::ops::Range<usize>>,
}

fn parse_frame(line: &str) -> Option<Frame> {
    let start = line.find("File \"")?;
    if !line[..start].trim().is_empty() {
        return None;
    }
    let name_start = start + "File ".len();
    let name_end = name_start + 1 + line[name_start + 1..].find('"')? + 1;
    let mut frame = Frame {
        file: name_start..name_end,
        line: None,
        function: None,
    };
    let rest = &line[name_end..];
    if let Some(after) = rest.strip_prefix(", line ") {
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let at = name_end + ", line ".len();
        frame.line = Some(at..at + digits);
        if let Some(i) = after[digits..].find(", in ") {
            let f = at + digits + i + ", in ".len();
            frame.function = Some(f..line.len());
        }
    }
    Some(frame)
}

fn paint_frame(line: &str, frame: &Frame, theme: &Theme) -> String {
    let mut parts: Vec<(std::ops::Range<usize>, &ThemeStyle)> = vec![(frame.file.clone(), &theme.file)];
    if let Some(r) = &frame.line {
        parts.push((r.clone(), &theme.line_number));
    }
    if let Some(r) = &frame.function {
        parts.push((r.clone(), &theme.function));
    }
    let mut out = String::new();
    let mut at = 0;
    for (range, style) in parts {
        out.push_str(&line[at..range.start]);
        out.push_str(&styled(style, &line[range.clone()]));
        at = range.end;
    }
    out.push_str(&line[at..]);
    out
}

/// `ValueError: message` (or a bare `KeyboardInterrupt`): the type and the rest.
fn exception_line(line: &str) -> Option<(&str, &str)> {
    let name_len = line
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(line.len());
    let (name, rest) = line.split_at(name_len);
    let starts_well = name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_');
    (starts_well && (rest.is_empty() || rest.starts_with(':'))).then_some((name, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked() -> Theme {
        // Each element gets a distinct colour, so the output shows which part got which.
        let mut theme = Theme::default();
        let style = |n| ThemeStyle {
            fg: Some(ThemeColor::Fixed(n)),
            ..ThemeStyle::default()
        };
        theme.traceback = style(1);
        theme.file = style(2);
        theme.line_number = style(3);
        theme.function = style(4);
        theme.source = style(5);
        theme.exception = style(6);
        theme.message = style(7);
        theme
    }

    /// Replaces `ESC[38;5;Nm...ESC[0m` runs with `<N:...>`.
    fn show(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find("\x1b[38;5;") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 7..];
            let m = after.find('m').unwrap();
            let end = after.find("\x1b[0m").unwrap();
            out.push_str(&format!("<{}:{}>", &after[..m], &after[m + 1..end]));
            rest = &after[end + 4..];
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn traceback_parts_get_their_styles() {
        let text = "Traceback (most recent call last):\n  File \"<cell 2>\", line 1, in <module>\n    f()\n  File \"/x/m.py\", line 10, in f\n    raise ValueError('no')\nValueError: no\n";
        assert_eq!(
            show(&traceback(text, Some(&marked()))),
            "<1:Traceback (most recent call last):>\n  File <2:\"<cell 2>\">, line <3:1>, in <4:<module>>\n    <5:f()>\n  File <2:\"/x/m.py\">, line <3:10>, in <4:f>\n    <5:raise ValueError('no')>\n<6:ValueError><7:: no>\n"
        );
    }

    #[test]
    fn syntax_errors_and_groups_are_read_too() {
        let syntax = "  File \"<cell 1>\", line 1\n    x = (\n        ^\nSyntaxError: '(' was never closed\n";
        assert_eq!(
            show(&traceback(syntax, Some(&marked()))),
            "  File <2:\"<cell 1>\">, line <3:1>\n    <5:x = (>\n        ^\n<6:SyntaxError><7:: '(' was never closed>\n"
        );
        let group = "  | ValueError: boom\n  +------------------------------------\n";
        assert_eq!(
            show(&traceback(group, Some(&marked()))),
            "  | <6:ValueError><7:: boom>\n  +------------------------------------\n"
        );
    }

    #[test]
    fn without_a_theme_text_is_untouched() {
        let text = "Traceback (most recent call last):\nKeyError: 'x'\n";
        assert_eq!(traceback(text, None), text);
    }
}
