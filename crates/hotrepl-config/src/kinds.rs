//! The types options have, each knowing how it is written: read from text (the command
//! line, the environment, `%config`) or from a TOML value, and shown as text again.

use std::fmt;
use std::time::Duration;

/// A value as it was given, before its option's type reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    Text(String),
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A TOML value of a kind no option takes (a table, an array, a date): its kind.
    Other(&'static str),
}

impl Raw {
    fn kind(&self) -> &'static str {
        match self {
            Raw::Text(_) => "a string",
            Raw::Bool(_) => "a boolean",
            Raw::Int(_) => "an integer",
            Raw::Float(_) => "a float",
            Raw::Other(kind) => kind,
        }
    }
}

/// What an option's type must do.
pub trait OptionType: Sized + Clone + PartialEq {
    /// What a valid value looks like, for errors and docs ("on or off").
    fn expected() -> String;
    /// Reads a value written as text.
    fn parse(text: &str) -> Option<Self>;
    /// The value as text, as `parse` reads it back.
    fn to_text(&self) -> String;
    /// Reads a value of any kind; text goes through `parse`.
    fn from_raw(raw: &Raw) -> Option<Self> {
        match raw {
            Raw::Text(text) => Self::parse(text.trim()),
            _ => None,
        }
    }
    /// Reads `raw`, or says what was wrong with it.
    fn read(raw: &Raw) -> Result<Self, String> {
        Self::from_raw(raw).ok_or_else(|| match raw {
            Raw::Text(text) => format!("expected {}, got {text:?}", Self::expected()),
            other => format!("expected {}, got {}", Self::expected(), other.kind()),
        })
    }
}

impl OptionType for bool {
    fn expected() -> String {
        "on or off".into()
    }

    fn parse(text: &str) -> Option<bool> {
        match text.to_ascii_lowercase().as_str() {
            "on" | "true" | "yes" | "1" => Some(true),
            "off" | "false" | "no" | "0" => Some(false),
            _ => None,
        }
    }

    fn to_text(&self) -> String {
        if *self { "on" } else { "off" }.into()
    }

    fn from_raw(raw: &Raw) -> Option<bool> {
        match raw {
            Raw::Bool(b) => Some(*b),
            Raw::Text(text) => bool::parse(text.trim()),
            _ => None,
        }
    }
}

/// A whole number, zero or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub u64);

impl OptionType for Count {
    fn expected() -> String {
        "a whole number".into()
    }

    fn parse(text: &str) -> Option<Count> {
        text.replace('_', "").parse().ok().map(Count)
    }

    fn to_text(&self) -> String {
        self.0.to_string()
    }

    fn from_raw(raw: &Raw) -> Option<Count> {
        match raw {
            Raw::Int(n) => u64::try_from(*n).ok().map(Count),
            Raw::Text(text) => Count::parse(text.trim()),
            _ => None,
        }
    }
}

/// A length of time, or none (`off`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seconds(pub Option<Duration>);

impl Seconds {
    fn from_secs(secs: f64) -> Option<Seconds> {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        Some(Seconds((secs > 0.0).then(|| Duration::from_secs_f64(secs))))
    }
}

impl OptionType for Seconds {
    fn expected() -> String {
        "seconds (like 2 or 0.5) or off".into()
    }

    fn parse(text: &str) -> Option<Seconds> {
        if bool::parse(text) == Some(false) {
            return Some(Seconds(None));
        }
        let (number, scale) = match text.strip_suffix("ms") {
            Some(ms) => (ms, 0.001),
            None => (text.strip_suffix('s').unwrap_or(text), 1.0),
        };
        Seconds::from_secs(number.trim().parse::<f64>().ok()? * scale)
    }

    fn to_text(&self) -> String {
        match self.0 {
            None => "off".into(),
            Some(d) => format!("{}", d.as_secs_f64()),
        }
    }

    fn from_raw(raw: &Raw) -> Option<Seconds> {
        match raw {
            Raw::Int(n) => Seconds::from_secs(*n as f64),
            Raw::Float(f) => Seconds::from_secs(*f),
            Raw::Bool(false) => Some(Seconds(None)),
            Raw::Text(text) => Seconds::parse(text.trim()),
            _ => None,
        }
    }
}

/// Declares an option type that is one of a few words.
macro_rules! choice {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $word:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($variant,)*
        }

        impl $name {
            pub const WORDS: &'static [&'static str] = &[$($word,)*];
        }

        impl OptionType for $name {
            fn expected() -> String {
                one_of(Self::WORDS)
            }

            fn parse(text: &str) -> Option<Self> {
                match text.to_ascii_lowercase().as_str() {
                    $($word => Some($name::$variant),)*
                    _ => None,
                }
            }

            fn to_text(&self) -> String {
                match self {
                    $($name::$variant => $word.into(),)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_text())
            }
        }
    };
}

choice! {
    /// When output gets colours.
    ColorMode {
        Auto = "auto",
        Always = "always",
        Never = "never",
    }
}

choice! {
    /// How images are drawn in the terminal.
    ImageProtocol {
        Auto = "auto",
        Kitty = "kitty",
        Iterm2 = "iterm2",
        Sixel = "sixel",
        None = "none",
    }
}

choice! {
    /// The prompt's key bindings.
    EditingMode {
        Emacs = "emacs",
        Vi = "vi",
    }
}

/// The name of a theme; whether one by that name exists is checked where the themes are
/// known (see [`crate::Config`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThemeName(pub String);

impl OptionType for ThemeName {
    fn expected() -> String {
        "a theme name".into()
    }

    fn parse(text: &str) -> Option<ThemeName> {
        let valid = !text.is_empty() && text.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-');
        valid.then(|| ThemeName(text.to_owned()))
    }

    fn to_text(&self) -> String {
        self.0.clone()
    }
}

/// "a, b or c".
pub(crate) fn one_of(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).into(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_read_the_usual_words() {
        assert_eq!(bool::read(&Raw::Text("Off".into())), Ok(false));
        assert_eq!(bool::read(&Raw::Bool(true)), Ok(true));
        assert_eq!(
            bool::read(&Raw::Text("maybe".into())),
            Err("expected on or off, got \"maybe\"".into())
        );
        assert_eq!(
            bool::read(&Raw::Int(1)),
            Err("expected on or off, got an integer".into())
        );
    }

    #[test]
    fn seconds_take_units_and_off() {
        assert_eq!(Seconds::parse("1.5"), Some(Seconds(Some(Duration::from_millis(1500)))));
        assert_eq!(Seconds::parse("250ms"), Some(Seconds(Some(Duration::from_millis(250)))));
        assert_eq!(Seconds::parse("2s"), Some(Seconds(Some(Duration::from_secs(2)))));
        assert_eq!(Seconds::parse("off"), Some(Seconds(None)));
        assert_eq!(Seconds::parse("0"), Some(Seconds(None)));
        assert_eq!(Seconds::parse("-1"), None);
        assert_eq!(
            Seconds::from_raw(&Raw::Int(3)),
            Some(Seconds(Some(Duration::from_secs(3))))
        );
        assert_eq!(Seconds(Some(Duration::from_millis(500))).to_text(), "0.5");
    }

    #[test]
    fn choices_name_their_words() {
        assert_eq!(ImageProtocol::parse("Sixel"), Some(ImageProtocol::Sixel));
        assert_eq!(ImageProtocol::expected(), "auto, kitty, iterm2, sixel or none");
        assert_eq!(ColorMode::Never.to_text(), "never");
    }

    #[test]
    fn counts_are_not_negative() {
        assert_eq!(Count::from_raw(&Raw::Int(-1)), None);
        assert_eq!(Count::parse("10_000"), Some(Count(10_000)));
    }
}
