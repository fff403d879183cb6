//! Finding the places in a cell where it is not Python: `%magic` and `!command` lines,
//! `x = %magic` / `x = !command` assignments, a `%%magic` first line, and `obj?` help. Such
//! syntax only counts where a statement starts, so the scanner follows Python's lexical
//! structure (strings, f-string expressions, brackets, comments, backslash continuations)
//! to know where statements start. Pure text work: no interpreter needed.

/// What one special line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Escape {
    /// `%name args`: a line magic.
    Magic,
    /// `!command`: run it, streaming its output.
    Shell,
    /// `!!command`, or `x = !command`: run it and give its output lines.
    ShellCapture,
}

/// One special line (with its continuation lines) in a cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Index of its first physical line.
    pub line: usize,
    /// How many physical lines it spans (more than one when lines end with `\`).
    pub lines: usize,
    pub indent: String,
    /// `x` in `x = %who_ls`.
    pub target: Option<String>,
    pub escape: Escape,
    /// The magic's name (empty for shell escapes).
    pub name: String,
    /// Everything after the name (or the command), leading spaces removed.
    pub args: String,
}

/// How a cell reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// Plain Python.
    Python,
    /// Python with special lines in it.
    Lines(Vec<Site>),
    /// `%%name args` on the first line: the rest of the cell is the magic's body.
    CellMagic { name: String, args: String, body: String },
    /// `obj?`, `?obj` (detail 0) or `obj??`, `??obj` (detail 1): the whole cell asks for help.
    Help { target: String, detail: u8 },
}

/// Reads a cell. Cells without `%`, `!` or `?` (most of them) are settled by one scan of
/// their bytes.
pub fn shape(cell: &str) -> Shape {
    if !cell.bytes().any(|b| matches!(b, b'%' | b'!' | b'?')) {
        return Shape::Python;
    }
    if let Some(help) = help_request(cell) {
        return help;
    }
    if let Some(rest) = cell.strip_prefix("%%") {
        let (first, body) = rest.split_once('\n').unwrap_or((rest, ""));
        let (name, args) = split_name(first);
        return Shape::CellMagic {
            name: name.to_owned(),
            args: args.trim_end().to_owned(),
            body: body.to_owned(),
        };
    }
    let sites = sites(cell);
    if sites.is_empty() {
        Shape::Python
    } else {
        Shape::Lines(sites)
    }
}

/// `obj?`, `obj.attr??`, `?obj`, `%magic?`: one name, one marker.
fn help_request(cell: &str) -> Option<Shape> {
    let text = cell.trim();
    if text.contains('\n') {
        return None;
    }
    let (detail, name) = if let Some(n) = text.strip_suffix("??") {
        (1, n)
    } else if let Some(n) = text.strip_suffix('?') {
        (0, n)
    } else if let Some(n) = text.strip_prefix("??") {
        (1, n)
    } else if let Some(n) = text.strip_prefix('?') {
        (0, n)
    } else {
        return None;
    };
    let bare = name.trim_start_matches('%');
    let dotted = !bare.is_empty()
        && bare.split('.').all(|part| {
            part.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_') && part.chars().all(is_name_char)
        });
    (dotted && name.len() - bare.len() <= 2).then(|| Shape::Help {
        target: name.to_owned(),
        detail,
    })
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `name rest` → (`name`, `rest` without leading spaces).
fn split_name(text: &str) -> (&str, &str) {
    let end = text.find(|c: char| !is_name_char(c)).unwrap_or(text.len());
    (&text[..end], text[end..].trim_start())
}

/// Lexical state between physical lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    /// Code, with this many open brackets.
    Code { brackets: u32 },
    Str {
        quote: u8,
        triple: bool,
        raw: bool,
        formatted: bool,
    },
    /// Inside `{...}` of an f-string, with this many extra braces open.
    Replacement { braces: u32 },
}

struct Lexer {
    stack: Vec<Context>,
    /// The previous physical line ended with a backslash outside any string.
    continued: bool,
}

impl Lexer {
    fn new() -> Lexer {
        Lexer {
            stack: vec![Context::Code { brackets: 0 }],
            continued: false,
        }
    }

    fn at_statement_start(&self) -> bool {
        !self.continued && matches!(self.stack.as_slice(), [Context::Code { brackets: 0 }])
    }

    /// Follows one physical line (without its newline).
    fn feed(&mut self, line: &str) {
        let bytes = line.as_bytes();
        let mut i = 0;
        self.continued = false;
        while i < bytes.len() {
            let b = bytes[i];
            let top = *self.stack.last().expect("the code context is never popped");
            match top {
                Context::Str {
                    quote,
                    triple,
                    raw,
                    formatted,
                } => {
                    if b == b'\\' {
                        // In raw strings too, a backslash keeps the next quote in the string.
                        let _ = raw;
                        i += 2;
                        continue;
                    }
                    if formatted && b == b'{' {
                        if bytes.get(i + 1) == Some(&b'{') {
                            i += 2;
                            continue;
                        }
                        self.stack.push(Context::Replacement { braces: 0 });
                    } else if b == quote && (!triple || bytes[i..].starts_with(&[quote, quote, quote])) {
                        self.stack.pop();
                        i += if triple { 3 } else { 1 };
                        continue;
                    }
                    i += 1;
                }
                Context::Code { .. } | Context::Replacement { .. } => {
                    match b {
                        b'#' if matches!(top, Context::Code { .. }) => break,
                        b'\'' | b'"' => {
                            let prefix = string_prefix(&bytes[..i]);
                            let triple = bytes[i..].starts_with(&[b, b, b]);
                            self.stack.push(Context::Str {
                                quote: b,
                                triple,
                                raw: prefix.contains(&b'r'),
                                formatted: prefix.contains(&b'f'),
                            });
                            i += if triple { 3 } else { 1 };
                            continue;
                        }
                        b'(' | b'[' | b'{' => self.open(),
                        b')' | b']' | b'}' => self.close(),
                        b'\\' if i + 1 == bytes.len() => self.continued = true,
                        _ => {}
                    }
                    i += 1;
                }
            }
        }
        // A one-quote string cannot go on past its line (the code is invalid; recover).
        while let Some(Context::Str { triple: false, .. }) = self.stack.last() {
            self.stack.pop();
        }
        if matches!(self.stack.last(), Some(Context::Str { .. })) {
            self.continued = false;
        }
    }

    fn open(&mut self) {
        match self.stack.last_mut() {
            Some(Context::Code { brackets }) => *brackets += 1,
            Some(Context::Replacement { braces }) => *braces += 1,
            _ => {}
        }
    }

    fn close(&mut self) {
        match self.stack.last_mut() {
            Some(Context::Code { brackets }) => *brackets = brackets.saturating_sub(1),
            Some(Context::Replacement { braces: 0 }) => {
                self.stack.pop();
            }
            Some(Context::Replacement { braces }) => *braces -= 1,
            _ => {}
        }
    }
}

/// The lowercased letters right before a quote (`rb`, `f`, ...), if they form a string prefix.
fn string_prefix(before: &[u8]) -> Vec<u8> {
    let start = before
        .iter()
        .rposition(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
        .map_or(0, |p| p + 1);
    let word: Vec<u8> = before[start..].iter().map(u8::to_ascii_lowercase).collect();
    let is_prefix = word.len() <= 2 && word.iter().all(|b| matches!(b, b'r' | b'b' | b'f' | b'u'));
    if is_prefix {
        word
    } else {
        Vec::new()
    }
}

/// The special lines of a cell, where statements start.
fn sites(cell: &str) -> Vec<Site> {
    let lines: Vec<&str> = cell.split('\n').collect();
    let mut lexer = Lexer::new();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lexer.at_statement_start() {
            if let Some(site) = special_line(&lines, i) {
                i += site.lines;
                found.push(site);
                continue;
            }
        }
        lexer.feed(lines[i]);
        i += 1;
    }
    found
}

/// The special line starting at `lines[i]`, if it is one (with its continuation lines).
fn special_line(lines: &[&str], i: usize) -> Option<Site> {
    let line = lines[i];
    let body = line.trim_start();
    let indent = &line[..line.len() - body.len()];
    let (target, escaped) = match body.chars().next()? {
        '%' | '!' => (None, body),
        _ => {
            let (target, value) = assignment(body)?;
            (Some(target.to_owned()), value)
        }
    };
    // A line ending with a backslash goes on: the magic gets the lines joined.
    let mut text = escaped.to_owned();
    let mut count = 1;
    while text.ends_with('\\') && i + count < lines.len() {
        text.pop();
        text.push_str(lines[i + count].trim_start());
        count += 1;
    }
    let (escape, name, args) = if let Some(command) = text.strip_prefix("!!") {
        (Escape::ShellCapture, String::new(), command.trim_start())
    } else if let Some(command) = text.strip_prefix('!') {
        let escape = if target.is_some() {
            Escape::ShellCapture
        } else {
            Escape::Shell
        };
        (escape, String::new(), command.trim_start())
    } else {
        // `%name args`; a stray `%%name` keeps its second `%` in the name, which the
        // dispatcher explains (a cell magic must start the cell).
        let magic = &text[1..];
        let (name, args) = match magic.strip_prefix('%') {
            Some(rest) => {
                let (n, a) = split_name(rest);
                (format!("%{n}"), a)
            }
            None => {
                let (n, a) = split_name(magic);
                (n.to_owned(), a)
            }
        };
        (Escape::Magic, name, args)
    };
    Some(Site {
        line: i,
        lines: count,
        indent: indent.to_owned(),
        target,
        escape,
        name,
        args: args.trim_end().to_owned(),
    })
}

/// `files = !ls` / `a, b = %magic` → (`files`, `!ls`): simple targets only.
fn assignment(body: &str) -> Option<(&str, &str)> {
    let eq = body.find('=')?;
    let target = body[..eq].trim_end();
    let value = body[eq + 1..].trim_start();
    let simple = !target.is_empty()
        && target
            .chars()
            .all(|c| is_name_char(c) || matches!(c, '.' | ',' | ' ' | '[' | ']' | '\'' | '"' | '(' | ')'));
    let first = target.chars().next()?;
    (simple && (first.is_alphabetic() || first == '_' || first == '(') && value.starts_with(['%', '!']))
        .then_some((target, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only_site(cell: &str) -> Site {
        match shape(cell) {
            Shape::Lines(mut sites) if sites.len() == 1 => sites.remove(0),
            other => panic!("{cell:?} read as {other:?}"),
        }
    }

    #[test]
    fn plain_python_is_left_alone() {
        for cell in [
            "1 + 1",
            "x = 5 % 3",
            "print('100%')\nx != 1",
            "if a != b:\n    pass",
            "s = '''\n%not a magic\n'''",
            "f(1,\n  %2)",
            "x = 1 + \\\n%2",
            "print('what?')",
            "# a comment with a % and a !\nx = 1",
            "d = {'k': '%s'}\n",
            "f'{x!r}'\n",
            "f\"{d['%']}\"",
        ] {
            assert_eq!(shape(cell), Shape::Python, "{cell:?}");
        }
    }

    #[test]
    fn magic_lines_are_found_where_statements_start() {
        let site = only_site("%time  sum(range(10)) ");
        assert_eq!(
            (site.line, site.name.as_str(), site.args.as_str()),
            (0, "time", "sum(range(10))")
        );
        assert_eq!(site.escape, Escape::Magic);
        let site = only_site("for i in range(3):\n    %time f(i)\n");
        assert_eq!((site.line, site.indent.as_str()), (1, "    "));
        let site = only_site("x = (1,\n 2)\n%who");
        assert_eq!(site.line, 2);
        let site = only_site("s = '''a\nb'''\n%pwd");
        assert_eq!(site.line, 2);
        let site = only_site("t = f'{a[\"x\"]}'\n%pwd");
        assert_eq!(site.line, 1);
    }

    #[test]
    fn shell_escapes_and_assignments() {
        let site = only_site("!ls -l /tmp");
        assert_eq!((site.escape, site.args.as_str()), (Escape::Shell, "ls -l /tmp"));
        let site = only_site("files = !ls");
        assert_eq!(
            (site.escape, site.target.as_deref()),
            (Escape::ShellCapture, Some("files"))
        );
        let site = only_site("!!echo hi");
        assert_eq!(site.escape, Escape::ShellCapture);
        let site = only_site("names = %who_ls");
        assert_eq!((site.name.as_str(), site.target.as_deref()), ("who_ls", Some("names")));
        assert_eq!(shape("x == !y"), Shape::Python);
    }

    #[test]
    fn continuation_lines_join() {
        let site = only_site("%time x = \\\n    1 + 2\nprint(x)");
        assert_eq!((site.lines, site.args.as_str()), (2, "x = 1 + 2"));
    }

    #[test]
    fn cell_magics_take_the_rest() {
        assert_eq!(
            shape("%%time -q\nx = 1\ny = 2"),
            Shape::CellMagic {
                name: "time".into(),
                args: "-q".into(),
                body: "x = 1\ny = 2".into()
            }
        );
        let site = only_site("x = 1\n%%time");
        assert_eq!(site.name, "%time");
    }

    #[test]
    fn help_requests() {
        let help = |t: &str, d| Shape::Help {
            target: t.into(),
            detail: d,
        };
        assert_eq!(shape("len?"), help("len", 0));
        assert_eq!(shape("os.path.join??"), help("os.path.join", 1));
        assert_eq!(shape("?len"), help("len", 0));
        assert_eq!(shape("??len"), help("len", 1));
        assert_eq!(shape("%time?"), help("%time", 0));
        assert_eq!(shape("a b?"), Shape::Python);
        assert_eq!(shape("f()?"), Shape::Python);
    }
}
