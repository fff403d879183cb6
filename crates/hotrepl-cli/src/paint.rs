//! Colours: whether a stream gets them (`--color`, `NO_COLOR`, whether it is a terminal),
//! and painting text with the theme's styles — code, results, and tracebacks, whose parts
//! the kernel marks (`hotrepl_proto::markup`).

use std::io::IsTerminal;

use hotrepl_config::theme::{Color as ThemeColor, Style as ThemeStyle};
use hotrepl_config::{ColorMode, Theme};
use hotrepl_proto::markup::{paint_marked, Role};
use hotrepl_proto::ErrorContent;
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

/// An error's traceback with the parts the kernel marked in the theme's styles; as sent
/// without a theme.
pub fn traceback(error: &ErrorContent, theme: Option<&Theme>) -> String {
    let text = error.text();
    let Some(theme) = theme else { return text };
    paint_marked(&text, &error.markup, |role, part| styled(role_style(theme, role), part))
}

fn role_style(theme: &Theme, role: Role) -> &ThemeStyle {
    match role {
        Role::Header => &theme.traceback,
        Role::File => &theme.file,
        Role::LineNumber => &theme.line_number,
        Role::Function => &theme.function,
        Role::Source => &theme.source,
        Role::Exception => &theme.exception,
        Role::Message => &theme.message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotrepl_proto::markup::Span;

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
    fn marked_parts_get_their_styles() {
        let span = |start, end, role| Span { start, end, role };
        let error = ErrorContent {
            ename: "ValueError".into(),
            traceback: vec![
                "  File \"<cell 2>\", line 1, in f\n".into(),
                "    f()\nValueError: no\n".into(),
            ],
            markup: vec![
                span(7, 17, Role::File),
                span(24, 25, Role::LineNumber),
                span(30, 31, Role::Function),
                span(36, 39, Role::Source),
                span(40, 50, Role::Exception),
                span(50, 54, Role::Message),
            ],
            ..Default::default()
        };
        assert_eq!(
            show(&traceback(&error, Some(&marked()))),
            "  File <2:\"<cell 2>\">, line <3:1>, in <4:f>\n    <5:f()>\n<6:ValueError><7:: no>\n"
        );
        assert_eq!(traceback(&error, None), error.text(), "without a theme, as sent");
    }

    #[test]
    fn unmarked_text_is_untouched() {
        let error = ErrorContent {
            traceback: vec!["missing key: 'gone'\n".into()],
            ..Default::default()
        };
        assert_eq!(traceback(&error, Some(&marked())), "missing key: 'gone'\n");
    }
}
