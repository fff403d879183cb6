//! Marks the parts of a traceback as Python's `traceback` module lays it out: chain
//! headers, `File "name", line N, in function`, the source line under a frame, and the
//! `Type: message` line, inside exception groups' `| ` margins too.

use hotrepl_proto::markup::{Role, Span};

/// The marks for `text`, a traceback formatted by Python. Lines of any other shape are
/// left unmarked.
pub fn mark(text: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut after_frame = false;
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        let (margin, content) = split_group_margin(body);
        let at = line_start + margin.len();
        let mut add = |range: std::ops::Range<usize>, role| {
            if !range.is_empty() {
                spans.push(Span {
                    start: at + range.start,
                    end: at + range.end,
                    role,
                });
            }
        };
        let was_frame = std::mem::take(&mut after_frame);
        if let Some(frame) = frame_parts(content) {
            add(frame.file, Role::File);
            if let Some(line) = frame.line {
                add(line, Role::LineNumber);
            }
            if let Some(function) = frame.function {
                add(function, Role::Function);
            }
            after_frame = true;
        } else if let Some(header) = chain_header(content) {
            add(header, Role::Header);
        } else if was_frame && content.starts_with("    ") {
            let indent = content.len() - content.trim_start().len();
            add(indent..content.trim_end().len(), Role::Source);
        } else if let Some(name_end) = exception_name_end(content) {
            add(0..name_end, Role::Exception);
            add(name_end..content.len(), Role::Message);
        }
        line_start += line.len();
    }
    spans
}

/// Splits off the `  | ` margins an exception group puts before its sub-tracebacks' lines.
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

const CHAIN_HEADERS: [&str; 4] = [
    "Traceback (most recent call last):",
    "Exception Group Traceback (most recent call last):",
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
];

/// Where the header is in a chain header line (a group's sub-exceptions put `+-+-` in front).
fn chain_header(line: &str) -> Option<std::ops::Range<usize>> {
    let start = line.len() - line.trim_start_matches(['+', ' ']).len();
    let header = CHAIN_HEADERS.iter().find(|h| line[start..].starts_with(*h))?;
    Some(start..start + header.len())
}

/// Where the parts of `  File "name", line N, in function` are, as byte ranges.
struct Frame {
    file: std::ops::Range<usize>,
    line: Option<std::ops::Range<usize>>,
    function: Option<std::ops::Range<usize>>,
}

fn frame_parts(line: &str) -> Option<Frame> {
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
    if let Some(after) = line[name_end..].strip_prefix(", line ") {
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let at = name_end + ", line ".len();
        frame.line = Some(at..at + digits);
        if let Some(i) = after[digits..].find(", in ") {
            frame.function = Some(at + digits + i + ", in ".len()..line.len());
        }
    }
    Some(frame)
}

/// `ValueError: message` (or a bare `KeyboardInterrupt`): where the type name ends.
fn exception_name_end(line: &str) -> Option<usize> {
    let end = line
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(line.len());
    let (name, rest) = line.split_at(end);
    let starts_well = name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_');
    (starts_well && (rest.is_empty() || rest.starts_with(':'))).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotrepl_proto::markup::paint_marked;

    /// The text with each marked part shown as `<role:part>`.
    fn shown(text: &str) -> String {
        paint_marked(text, &mark(text), |role, part| format!("<{role:?}:{part}>"))
    }

    #[test]
    fn frames_sources_and_the_exception_line() {
        let text = "Traceback (most recent call last):\n  File \"<cell 2>\", line 1, in <module>\n    f()\n  File \"/x/m.py\", line 10, in f\n    raise ValueError('no')\nValueError: no\n";
        assert_eq!(
            shown(text),
            "<Header:Traceback (most recent call last):>\n  File <File:\"<cell 2>\">, line <LineNumber:1>, in <Function:<module>>\n    <Source:f()>\n  File <File:\"/x/m.py\">, line <LineNumber:10>, in <Function:f>\n    <Source:raise ValueError('no')>\n<Exception:ValueError><Message:: no>\n"
        );
    }

    #[test]
    fn syntax_errors_chains_and_groups() {
        let syntax = "  File \"<cell 1>\", line 1\n    x = (\n        ^\nSyntaxError: '(' was never closed\n";
        assert_eq!(
            shown(syntax),
            "  File <File:\"<cell 1>\">, line <LineNumber:1>\n    <Source:x = (>\n        ^\n<Exception:SyntaxError><Message:: '(' was never closed>\n"
        );
        let chained =
            "KeyError: 'a'\n\nDuring handling of the above exception, another exception occurred:\n\nTypeError\n";
        assert_eq!(
            shown(chained),
            "<Exception:KeyError><Message:: 'a'>\n\n<Header:During handling of the above exception, another exception occurred:>\n\n<Exception:TypeError>\n"
        );
        let group = "  +-+---------------- 1 ----------------\n    | Traceback (most recent call last):\n    | ValueError: boom\n    +------------------------------------\n";
        assert_eq!(
            shown(group),
            "  +-+---------------- 1 ----------------\n    | <Header:Traceback (most recent call last):>\n    | <Exception:ValueError><Message:: boom>\n    +------------------------------------\n"
        );
    }

    #[test]
    fn other_text_is_left_unmarked() {
        assert!(mark("missing key: 'gone'\n").is_empty());
        assert!(mark("  something else\n").is_empty());
    }
}
