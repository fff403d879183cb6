//! Syntax highlighting of the input as it is typed: a small Python lexer, tolerant of the
//! unfinished code an editor holds (an open string runs to the end of the buffer).

use std::sync::{Arc, RwLock};

use hotrepl_config::theme::Style as ThemeStyle;
use hotrepl_config::Theme;
use nu_ansi_term::Style;
use reedline::{Highlighter, StyledText};

use crate::paint;

const KEYWORDS: &[&str] = &[
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else", "except",
    "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise",
    "return", "try", "while", "with", "yield", "match", "case",
];
const CONSTANTS: &[&str] = &["True", "False", "None", "Ellipsis", "NotImplemented", "__debug__"];
const BUILTINS: &[&str] = &[
    "abs",
    "aiter",
    "all",
    "anext",
    "any",
    "ascii",
    "bin",
    "bool",
    "breakpoint",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "compile",
    "complex",
    "delattr",
    "dict",
    "dir",
    "divmod",
    "enumerate",
    "eval",
    "exec",
    "exit",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "globals",
    "hasattr",
    "hash",
    "help",
    "hex",
    "id",
    "input",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "list",
    "locals",
    "map",
    "max",
    "memoryview",
    "min",
    "next",
    "object",
    "oct",
    "open",
    "ord",
    "pow",
    "print",
    "property",
    "quit",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "setattr",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "vars",
    "zip",
    "self",
    "cls",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Plain,
    Keyword,
    Constant,
    Builtin,
    Definition,
    Decorator,
    Str,
    Number,
    Comment,
}

/// The theme's style for a kind of token (None: plain).
fn theme_style(theme: &Theme, kind: Kind) -> Option<&ThemeStyle> {
    match kind {
        Kind::Plain => None,
        Kind::Keyword => Some(&theme.keyword),
        Kind::Constant | Kind::Builtin => Some(&theme.builtin),
        Kind::Definition => Some(&theme.definition),
        Kind::Decorator => Some(&theme.decorator),
        Kind::Str => Some(&theme.string),
        Kind::Number => Some(&theme.number),
        Kind::Comment => Some(&theme.comment),
    }
}

/// Splits `src` into (kind, text) runs that together are exactly `src`.
pub fn lex(src: &str) -> Vec<(Kind, &str)> {
    let bytes = src.as_bytes();
    let mut out: Vec<(Kind, &str)> = Vec::new();
    let mut i = 0;
    let mut after_def = false;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let kind = if c == b'#' {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            Kind::Comment
        } else if let Some(len) = string_len(&src[i..]) {
            i += len;
            Kind::Str
        } else if c.is_ascii_digit() || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            i += 1;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.') {
                i += 1;
            }
            Kind::Number
        } else if c == b'@'
            && out
                .iter()
                .rev()
                .take_while(|(_, t)| !t.contains('\n'))
                .all(|(k, t)| *k == Kind::Plain && t.trim().is_empty())
        {
            i += 1;
            while i < bytes.len() && (is_ident_byte(bytes[i]) || bytes[i] == b'.') {
                i += 1;
            }
            Kind::Decorator
        } else if is_ident_start(src, i) {
            while i < bytes.len() && is_ident_byte(bytes[i]) {
                i += 1;
            }
            let word = &src[start..i];
            let preceded_by_dot = src[..start].trim_end().ends_with('.');
            let kind = if after_def {
                Kind::Definition
            } else if preceded_by_dot {
                Kind::Plain
            } else if KEYWORDS.contains(&word) {
                Kind::Keyword
            } else if CONSTANTS.contains(&word) {
                Kind::Constant
            } else if BUILTINS.contains(&word) {
                Kind::Builtin
            } else {
                Kind::Plain
            };
            after_def = matches!(word, "def" | "class") && !preceded_by_dot;
            out.push((kind, word));
            continue;
        } else {
            // One character of anything else (operators, spaces, non-ASCII).
            i += src[i..].chars().next().map_or(1, char::len_utf8);
            if !c.is_ascii_whitespace() {
                after_def = false;
            }
            Kind::Plain
        };
        match out.last_mut() {
            Some((k, text)) if *k == kind && kind == Kind::Plain => *text = &src[start - text.len()..i],
            _ => out.push((kind, &src[start..i])),
        }
    }
    out
}

/// Keywords that open a compound statement (or a clause of one).
const BLOCK_KEYWORDS: &[&str] = &[
    "if", "elif", "else", "for", "while", "try", "except", "finally", "with", "def", "class", "async", "match", "case",
];

/// What the tokens of some code say about whether more input could continue it.
#[derive(Debug, PartialEq, Eq)]
pub struct Shape {
    /// Brackets opened and not closed (outside strings and comments).
    pub open_brackets: i32,
    /// The last token before any comment ends with `:` or a backslash.
    pub continues: bool,
    /// The first token opens a compound statement or is a decorator.
    pub opens_block: bool,
    /// Several lines, or a triple quote somewhere (a string that may span lines).
    pub spans_lines: bool,
}

impl Shape {
    pub fn of(src: &str) -> Shape {
        let tokens = lex(src);
        let significant = |(kind, text): &&(Kind, &str)| *kind != Kind::Comment && !text.trim().is_empty();
        let opens_block = tokens.iter().find(significant).is_some_and(|(kind, text)| {
            *kind == Kind::Decorator || (*kind == Kind::Keyword && BLOCK_KEYWORDS.contains(text))
        });
        let continues = tokens
            .iter()
            .rev()
            .find(significant)
            .is_some_and(|(_, text)| text.trim_end().ends_with([':', '\\']));
        let open_brackets = tokens
            .iter()
            .filter(|(kind, _)| *kind == Kind::Plain)
            .flat_map(|(_, text)| text.chars())
            .map(|c| match c {
                '(' | '[' | '{' => 1,
                ')' | ']' | '}' => -1,
                _ => 0,
            })
            .sum();
        Shape {
            open_brackets,
            continues,
            opens_block,
            spans_lines: src.contains('\n') || src.contains("'''") || src.contains("\"\"\""),
        }
    }

    /// One line that nothing typed after it could continue: no open bracket, string or
    /// block, no trailing backslash. Such a line is complete (or a syntax error, which
    /// runs to show it) in every Python version, so the kernel need not be asked.
    pub fn surely_complete(&self) -> bool {
        !self.spans_lines && !self.opens_block && !self.continues && self.open_brackets <= 0
    }
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

fn is_ident_start(src: &str, i: usize) -> bool {
    src[i..].chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Length of a string literal (with its prefix) starting at the beginning of `s`, if one
/// starts there. An unterminated string runs to the end of `s` (or of the line, if not
/// triple-quoted).
fn string_len(s: &str) -> Option<usize> {
    let prefix_len = s
        .bytes()
        .take_while(|b| matches!(b.to_ascii_lowercase(), b'r' | b'b' | b'f' | b'u'))
        .count();
    if prefix_len > 2 {
        return None;
    }
    let rest = &s[prefix_len..];
    let quote = rest.bytes().next().filter(|q| *q == b'"' || *q == b'\'')?;
    let triple = rest.len() >= 3 && rest.as_bytes()[1] == quote && rest.as_bytes()[2] == quote;
    let open = if triple { 3 } else { 1 };
    let body = &rest.as_bytes()[open..];
    let mut j = 0;
    while j < body.len() {
        let b = body[j];
        // A backslash takes the next character along, in raw strings too (`r"\""` is
        // one string).
        if b == b'\\' {
            j += 2;
            continue;
        }
        if !triple && b == b'\n' {
            return Some(prefix_len + open + j);
        }
        if b == quote && (!triple || body[j..].starts_with(&[quote, quote, quote])) {
            return Some(prefix_len + open + j + open);
        }
        j += 1;
    }
    Some(s.len())
}

/// Colours code as it is typed, with the theme's styles (without a theme, it stays plain).
pub struct PythonHighlighter {
    pub theme: Arc<RwLock<Option<Theme>>>,
}

impl Highlighter for PythonHighlighter {
    fn highlight(&self, line: &str, _cursor: usize) -> StyledText {
        let theme = self.theme.read().unwrap_or_else(|e| e.into_inner());
        let mut styled = StyledText::new();
        for (kind, text) in lex(line) {
            let style = theme
                .as_ref()
                .and_then(|t| theme_style(t, kind))
                .map_or_else(Style::new, paint::ansi);
            styled.push((style, text.to_owned()));
        }
        styled
    }
}

/// `code` painted as the editor paints it (for input shown without the editor).
pub fn paint_code(code: &str, theme: Option<&Theme>) -> String {
    let Some(theme) = theme else { return code.to_owned() };
    lex(code)
        .into_iter()
        .map(|(kind, text)| match theme_style(theme, kind) {
            Some(style) => paint::styled(style, text),
            None => text.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs with adjacent plain runs merged and whitespace trimmed, for comparison.
    fn kinds(src: &str) -> Vec<(Kind, String)> {
        let mut out: Vec<(Kind, String)> = Vec::new();
        for (kind, text) in lex(src) {
            match out.last_mut() {
                Some((Kind::Plain, t)) if kind == Kind::Plain => t.push_str(text),
                _ => out.push((kind, text.to_owned())),
            }
        }
        out.into_iter()
            .map(|(k, t)| (k, t.trim().to_owned()))
            .filter(|(_, t)| !t.is_empty())
            .collect()
    }

    fn expect(src: &str, want: &[(Kind, &str)]) {
        let want: Vec<(Kind, String)> = want.iter().map(|(k, t)| (*k, t.to_string())).collect();
        assert_eq!(kinds(src), want, "{src}");
    }

    #[test]
    fn runs_cover_the_input_exactly() {
        for src in [
            "def f(x):\n    return x  # c\n",
            "s = rb'a\\'b' + \"\"\"x\ny\"\"\"",
            "é = 1 +",
            "'open",
            "x.print = 0x1f",
        ] {
            let joined: String = lex(src).into_iter().map(|(_, t)| t).collect();
            assert_eq!(joined, src);
        }
    }

    #[test]
    fn only_lines_nothing_could_continue_are_surely_complete() {
        for line in [
            "1+1",
            "print('a:', x)  # c:",
            "await asyncio.sleep(1)",
            "x = {'a': (1, 2)}",
            "import os",
            ")",
        ] {
            assert!(Shape::of(line).surely_complete(), "{line}");
        }
        for line in [
            "for i in range(3): print(i)",
            "if x:",
            "try: pass",
            "@cache",
            "x = (1,",
            "total = 1 + \\",
            "s = '''open",
            "a = 1\nb = 2",
            "async def f(): pass",
        ] {
            assert!(!Shape::of(line).surely_complete(), "{line}");
        }
        assert_eq!(Shape::of("f(a, [1").open_brackets, 2);
    }

    #[test]
    fn classifies_tokens() {
        use Kind::*;
        expect(
            "async def tick(n=1.5): # go",
            &[
                (Keyword, "async"),
                (Keyword, "def"),
                (Definition, "tick"),
                (Plain, "(n="),
                (Number, "1.5"),
                (Plain, "):"),
                (Comment, "# go"),
            ],
        );
        expect(
            "print(f'{x}') or None",
            &[
                (Builtin, "print"),
                (Plain, "("),
                (Str, "f'{x}'"),
                (Plain, ")"),
                (Keyword, "or"),
                (Constant, "None"),
            ],
        );
        expect("obj.print", &[(Plain, "obj.print")]);
        expect("@functools.cache", &[(Decorator, "@functools.cache")]);
        expect("x = '''a\nb", &[(Plain, "x ="), (Str, "'''a\nb")]);
        expect(
            "class A(Base): pass",
            &[
                (Keyword, "class"),
                (Definition, "A"),
                (Plain, "(Base):"),
                (Keyword, "pass"),
            ],
        );
    }
}
