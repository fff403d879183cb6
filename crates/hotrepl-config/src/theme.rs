//! Themes: a style for each kind of thing the client shows (prompts, code, tracebacks,
//! results). A few are built in; more are defined in the config file as
//! `[themes.NAME]` tables, optionally starting from a built-in one (`base = "light"`).
//!
//! A style is written as words: attributes (`bold`, `dim`, `italic`, `underline`), a
//! colour (`red`, `bright_blue`, `gray`, a number 0-255, `#rrggbb`), and `on COLOUR` for
//! the background; `plain` (or an empty string) is no style at all.

use std::collections::BTreeMap;
use std::fmt;

use crate::suggest::did_you_mean;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// One of the terminal's 16 colours: 0-7 normal, 8-15 bright.
    Basic(u8),
    /// The 256-colour palette.
    Fixed(u8),
    Rgb(u8, u8, u8),
}

const COLOR_NAMES: [&str; 8] = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"];

impl Color {
    fn parse(word: &str) -> Option<Color> {
        if let Some(hex) = word.strip_prefix('#') {
            let value = u32::from_str_radix(hex, 16).ok().filter(|_| hex.len() == 6)?;
            return Some(Color::Rgb((value >> 16) as u8, (value >> 8) as u8, value as u8));
        }
        if let Ok(n) = word.parse::<u8>() {
            return Some(Color::Fixed(n));
        }
        if matches!(word, "gray" | "grey") {
            return Some(Color::Basic(8));
        }
        let (bright, name) = match word.strip_prefix("bright_") {
            Some(name) => (8, name),
            None => (0, word),
        };
        let index = COLOR_NAMES.iter().position(|n| *n == name)?;
        Some(Color::Basic(bright + index as u8))
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Color::Basic(8) => f.write_str("gray"),
            Color::Basic(n) if n > 8 => write!(f, "bright_{}", COLOR_NAMES[(n - 8) as usize % 8]),
            Color::Basic(n) => f.write_str(COLOR_NAMES[n as usize % 8]),
            Color::Fixed(n) => write!(f, "{n}"),
            Color::Rgb(r, g, b) => write!(f, "#{r:02x}{g:02x}{b:02x}"),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    pub fg: Option<Color>,
    pub bg: Option<Color>,
    pub bold: bool,
    pub dim: bool,
    pub italic: bool,
    pub underline: bool,
}

impl Style {
    /// Reads a style from its words; the error names the word that is wrong.
    pub fn parse(text: &str) -> Result<Style, String> {
        let mut style = Style::default();
        let mut words = text.split_whitespace();
        while let Some(word) = words.next() {
            let word = word.to_ascii_lowercase();
            match word.as_str() {
                "plain" | "none" => {}
                "bold" => style.bold = true,
                "dim" => style.dim = true,
                "italic" => style.italic = true,
                "underline" => style.underline = true,
                "on" => {
                    let color = words.next().ok_or("'on' needs a colour after it")?;
                    style.bg = Some(Color::parse(&color.to_ascii_lowercase()).ok_or_else(|| not_a_color(color))?);
                }
                other => style.fg = Some(Color::parse(other).ok_or_else(|| not_a_color(other))?),
            }
        }
        Ok(style)
    }

    pub fn is_plain(&self) -> bool {
        *self == Style::default()
    }
}

fn not_a_color(word: &str) -> String {
    format!(
        "'{word}' is not a style word (bold, dim, italic, underline, on COLOUR) or a colour ({}, bright_..., gray, 0-255, #rrggbb)",
        COLOR_NAMES.join(", ")
    )
}

impl fmt::Display for Style {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut words: Vec<String> = Vec::new();
        for (on, word) in [
            (self.bold, "bold"),
            (self.dim, "dim"),
            (self.italic, "italic"),
            (self.underline, "underline"),
        ] {
            if on {
                words.push(word.into());
            }
        }
        if let Some(fg) = self.fg {
            words.push(fg.to_string());
        }
        if let Some(bg) = self.bg {
            words.push(format!("on {bg}"));
        }
        if words.is_empty() {
            f.write_str("plain")
        } else {
            f.write_str(&words.join(" "))
        }
    }
}

/// Declares the themed elements once: the `Theme` struct's fields and their names and docs.
macro_rules! elements {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        /// A style for every element the client colours.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct Theme {
            $($(#[doc = $doc])* pub $name: Style,)*
        }

        /// Every element's name and what it is.
        pub const ELEMENTS: &[(&str, &str)] = &[$((stringify!($name), concat!($($doc),*)),)*];

        impl Theme {
            fn style_mut(&mut self, element: &str) -> Option<&mut Style> {
                match element {
                    $(stringify!($name) => Some(&mut self.$name),)*
                    _ => None,
                }
            }
        }
    };
}

elements! {
    /// The `>>> ` prompt.
    prompt,
    /// The `... ` prompt of continuation lines.
    continuation,
    /// Keywords in code.
    keyword,
    /// Built-in names and constants (`print`, `None`).
    builtin,
    /// The name a `def` or `class` defines.
    definition,
    /// Decorators.
    decorator,
    /// String literals.
    string,
    /// Number literals.
    number,
    /// Comments.
    comment,
    /// A cell's value.
    result,
    /// `Traceback (most recent call last):` and the lines that join chained exceptions.
    traceback,
    /// The file name in a traceback frame.
    file,
    /// The line number in a traceback frame.
    line_number,
    /// The function name in a traceback frame.
    function,
    /// The source line shown under a traceback frame.
    source,
    /// The exception's type on the last line of a traceback.
    exception,
    /// The exception's message.
    message,
    /// Quiet notes: the elapsed-time spinner and line, image placeholders.
    note,
}

/// The built-in themes, as element/style pairs on top of no style at all.
const BUILTIN: &[(&str, &[(&str, &str)])] = &[
    (
        "default",
        &[
            ("prompt", "green"),
            ("continuation", "green"),
            ("keyword", "bold magenta"),
            ("builtin", "cyan"),
            ("definition", "bold blue"),
            ("decorator", "yellow"),
            ("string", "green"),
            ("number", "yellow"),
            ("comment", "italic gray"),
            ("traceback", "bold"),
            ("file", "cyan"),
            ("line_number", "yellow"),
            ("function", "magenta"),
            ("exception", "bold red"),
            ("message", "bold"),
            ("note", "dim"),
        ],
    ),
    (
        "light",
        &[
            ("prompt", "bold blue"),
            ("continuation", "blue"),
            ("keyword", "bold 90"),
            ("builtin", "24"),
            ("definition", "bold 19"),
            ("decorator", "94"),
            ("string", "22"),
            ("number", "130"),
            ("comment", "italic 244"),
            ("traceback", "bold"),
            ("file", "24"),
            ("line_number", "130"),
            ("function", "90"),
            ("exception", "bold 124"),
            ("message", "bold"),
            ("note", "244"),
        ],
    ),
    (
        "mono",
        &[
            ("prompt", "bold"),
            ("continuation", "bold"),
            ("keyword", "bold"),
            ("definition", "underline"),
            ("comment", "italic"),
            ("traceback", "bold"),
            ("file", "underline"),
            ("exception", "bold"),
            ("note", "dim"),
        ],
    ),
];

/// The built-in themes' names.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(name, _)| *name)
}

/// A built-in theme by name.
pub fn builtin(name: &str) -> Option<Theme> {
    let (_, styles) = BUILTIN.iter().find(|(n, _)| *n == name)?;
    let mut theme = Theme::default();
    for (element, style) in styles.iter() {
        let parsed = Style::parse(style).expect("built-in styles are valid");
        *theme.style_mut(element).expect("built-in elements exist") = parsed;
    }
    Some(theme)
}

/// A user's theme as written: element name to style text (`base` names the theme it
/// starts from).
pub type ThemeSpec = BTreeMap<String, String>;

/// Builds a theme from its written form. Built-in bases only: a user's theme that starts
/// from another user's theme could go round in circles.
pub fn from_spec(spec: &ThemeSpec) -> Result<Theme, String> {
    let mut theme = match spec.get("base") {
        Some(base) => builtin(base).ok_or_else(|| {
            let names: Vec<&str> = builtin_names().collect();
            format!(
                "base: no built-in theme {base:?}{} (built in: {})",
                did_you_mean(base, names.iter().copied()),
                names.join(", ")
            )
        })?,
        None => Theme::default(),
    };
    for (element, style) in spec {
        if element == "base" {
            continue;
        }
        let slot = theme.style_mut(element).ok_or_else(|| {
            format!(
                "{element}: not a theme element{}",
                did_you_mean(element, ELEMENTS.iter().map(|(n, _)| *n).chain(["base"]))
            )
        })?;
        *slot = Style::parse(style).map_err(|e| format!("{element}: {e}"))?;
    }
    Ok(theme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles_read_and_show_their_words() {
        let style = Style::parse("bold bright_red on #102030").unwrap();
        assert_eq!(style.fg, Some(Color::Basic(9)));
        assert_eq!(style.bg, Some(Color::Rgb(0x10, 0x20, 0x30)));
        assert!(style.bold);
        assert_eq!(style.to_string(), "bold bright_red on #102030");
        assert_eq!(Style::parse("").unwrap().to_string(), "plain");
        assert!(Style::parse("bold blurple").unwrap_err().contains("'blurple' is not"));
        assert!(Style::parse("on").is_err());
    }

    #[test]
    fn every_builtin_theme_builds() {
        for name in builtin_names() {
            assert!(builtin(name).is_some(), "{name}");
        }
        assert_eq!(builtin("default").unwrap().exception, Style::parse("bold red").unwrap());
    }

    #[test]
    fn user_themes_start_from_a_base() {
        let spec: ThemeSpec = [("base", "mono"), ("keyword", "red")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let theme = from_spec(&spec).unwrap();
        assert_eq!(theme.keyword, Style::parse("red").unwrap());
        assert_eq!(theme.prompt, Style::parse("bold").unwrap());
    }

    #[test]
    fn unknown_elements_get_a_suggestion() {
        let spec: ThemeSpec = [("keywrd".to_string(), "red".to_string())].into_iter().collect();
        assert_eq!(
            from_spec(&spec).unwrap_err(),
            "keywrd: not a theme element (did you mean 'keyword'?)"
        );
    }
}
