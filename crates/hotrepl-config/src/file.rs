//! The config file: TOML, one key per option at the top, and `[themes.NAME]` tables. Every
//! problem names the file, the line and the key; a file that is not TOML at all is
//! ignored whole, a bad key only itself.

use std::path::Path;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::kinds::Raw;
use crate::theme::ThemeSpec;
use crate::{Config, Problem, Source};

pub fn read(config: &mut Config, path: &Path, text: &str) -> Vec<Problem> {
    let place = |span: std::ops::Range<usize>| format!("{}:{}", path.display(), line_of(text, span.start));
    let root = match DeTable::parse(text) {
        Ok(root) => root.into_inner(),
        Err(e) => {
            let at = e.span().map_or_else(|| path.display().to_string(), place);
            let message = e.message().trim_end().replace('\n', " ");
            return vec![Problem {
                place: at,
                message: format!("not valid TOML: {message}; the file is ignored, using the defaults"),
            }];
        }
    };
    let mut problems = Vec::new();
    let mut report = |span, message: String| {
        problems.push(Problem {
            place: place(span),
            message,
        })
    };
    // Themes first: the `theme` option may name one defined further down.
    if let Some((key, value)) = root.iter().find(|(k, _)| k.get_ref() == "themes") {
        match value.get_ref().as_table() {
            Some(themes) => {
                for (name, table) in themes {
                    if let Err(message) = read_theme(config, name, table) {
                        report(message.0, format!("themes.{}.{}", name.get_ref(), message.1));
                    }
                }
            }
            None => report(key.span(), "themes: expected tables like [themes.NAME]".into()),
        }
    }
    // In the order they are written, so problems come in the file's order.
    let mut entries: Vec<_> = root.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    for (key, value) in entries {
        let name = key.get_ref();
        if name == "themes" {
            continue;
        }
        let source = Source::File {
            path: path.to_path_buf(),
            line: line_of(text, key.span().start),
        };
        if let Err(message) = config.set_from(name, &raw(value.get_ref()), source) {
            let message = if message.starts_with("unknown option") {
                message
            } else {
                format!("{name}: {message}")
            };
            report(key.span(), message);
        }
    }
    problems
}

/// Defines the theme `[themes.NAME]`; a problem comes with the span it is about and the
/// rest of its message (after `themes.NAME.`).
fn read_theme(
    config: &mut Config,
    name: &Spanned<std::borrow::Cow<'_, str>>,
    table: &Spanned<DeValue<'_>>,
) -> Result<(), (std::ops::Range<usize>, String)> {
    let entries: &DeTable = table
        .get_ref()
        .as_table()
        .ok_or_else(|| (name.span(), String::from(" expected a table of element = \"style\"")))?;
    let mut spec = ThemeSpec::new();
    for (element, style) in entries {
        let text = style.get_ref().as_str().ok_or_else(|| {
            (
                element.span(),
                format!("{}: expected a style as a string", element.get_ref()),
            )
        })?;
        spec.insert(element.get_ref().to_string(), text.to_owned());
    }
    config.define_theme(name.get_ref(), spec.clone()).map_err(|message| {
        // Point at the element the message is about, when it names one.
        let element = message.split(':').next().unwrap_or("");
        let span = entries
            .iter()
            .find(|(k, _)| k.get_ref() == element)
            .map_or_else(|| name.span(), |(k, _)| k.span());
        (span, message)
    })
}

fn raw(value: &DeValue<'_>) -> Raw {
    match value {
        DeValue::String(s) => Raw::Text(s.to_string()),
        DeValue::Boolean(b) => Raw::Bool(*b),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            let unsigned = digits.trim_start_matches(['+', '-']);
            let body = ["0x", "0o", "0b"]
                .iter()
                .find_map(|prefix| unsigned.strip_prefix(prefix))
                .unwrap_or(unsigned);
            match i64::from_str_radix(body, i.radix()) {
                Ok(n) if digits.starts_with('-') => Raw::Int(-n),
                Ok(n) => Raw::Int(n),
                Err(_) => Raw::Other("an integer out of range"),
            }
        }
        DeValue::Float(f) => match f.as_str().replace('_', "").parse() {
            Ok(x) => Raw::Float(x),
            Err(_) => Raw::Other("a float"),
        },
        other => Raw::Other(match other.type_str() {
            "array" => "an array",
            "table" => "a table",
            _ => "a date",
        }),
    }
}

/// The 1-based line of byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::ImageProtocol;
    use crate::theme::{self, Style};

    fn read_text(text: &str) -> (Config, Vec<String>) {
        let mut config = Config::new();
        let problems = read(&mut config, Path::new("/c/config.toml"), text);
        (config, problems.into_iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn options_and_themes_are_read() {
        let (config, problems) = read_text(
            "theme = 'mine'\nimage_protocol = \"kitty\"\npretty_width = 0x50\n\n[themes.mine]\nbase = 'light'\nkeyword = 'bold red'\n",
        );
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(config.values().image_protocol, ImageProtocol::Kitty);
        assert_eq!(config.values().pretty_width.0, 80);
        let mut expected = theme::builtin("light").unwrap();
        expected.keyword = Style::parse("bold red").unwrap();
        assert_eq!(config.theme(), expected);
    }

    #[test]
    fn bad_keys_are_reported_with_file_and_line_and_skipped() {
        let (config, problems) = read_text(
            "color = 'never'\ncolr = 'always'\nautoawait = 'maybe'\nhistory_size = -3\n[themes.x]\nkeywrd = 'red'\n",
        );
        assert_eq!(
            problems,
            vec![
                "/c/config.toml:6: themes.x.keywrd: not a theme element (did you mean 'keyword'?)",
                "/c/config.toml:2: unknown option 'colr' (did you mean 'color'?)",
                "/c/config.toml:3: autoawait: expected on or off, got \"maybe\"",
                "/c/config.toml:4: history_size: expected a whole number, got an integer",
            ]
        );
        assert_eq!(config.values().color, crate::ColorMode::Never);
        assert!(config.values().autoawait);
        assert!(config.themes().is_empty());
    }

    #[test]
    fn a_file_that_is_not_toml_is_ignored() {
        let (config, problems) = read_text("color = 'never'\nthis is not toml\n");
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with("/c/config.toml:2: not valid TOML:"),
            "{}",
            problems[0]
        );
        assert!(problems[0].ends_with("the file is ignored, using the defaults"));
        assert_eq!(config, Config::new());
    }
}
