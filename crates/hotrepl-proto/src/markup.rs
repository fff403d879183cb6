//! What the parts of a traceback are. The kernel, which knows it is looking at Python's
//! traceback layout, marks them; a front end paints each part from its own theme (the
//! terminal client) or its own palette (Jupyter's ANSI), without reading the layout itself.
//! Text the kernel did not format (an `exception` hook's) carries no marks.

use serde::{Deserialize, Serialize};

/// What a part of a traceback is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// `Traceback (most recent call last):` and the lines that chain one exception to the next.
    Header,
    /// A frame's file name, with its quotes.
    File,
    /// A frame's line number.
    LineNumber,
    /// A frame's function name.
    Function,
    /// The source line shown under a frame.
    Source,
    /// The exception's type name.
    Exception,
    /// What follows the type: `: the message`.
    Message,
}

/// One marked part: bytes `start..end` of the traceback's text (its lines joined, as
/// [`crate::ErrorContent::text`] gives it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub role: Role,
}

/// `text` with each marked part replaced by `paint(role, part)`. Marks come from the other
/// end of a connection, so any that overlap an earlier one, run past the end or cut a
/// character in two are skipped rather than trusted.
pub fn paint_marked(text: &str, spans: &[Span], mut paint: impl FnMut(Role, &str) -> String) -> String {
    let mut out = String::with_capacity(text.len() + spans.len() * 12);
    let mut at = 0;
    for span in spans {
        let fits = at <= span.start
            && span.start < span.end
            && span.end <= text.len()
            && text.is_char_boundary(span.start)
            && text.is_char_boundary(span.end);
        if !fits {
            continue;
        }
        out.push_str(&text[at..span.start]);
        out.push_str(&paint(span.role, &text[span.start..span.end]));
        at = span.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: usize, end: usize, role: Role) -> Span {
        Span { start, end, role }
    }

    #[test]
    fn marked_parts_are_painted_and_the_rest_kept() {
        let text = "KeyError: 'x'\n";
        let spans = [span(0, 8, Role::Exception), span(8, 13, Role::Message)];
        assert_eq!(
            paint_marked(text, &spans, |role, part| format!("<{role:?}:{part}>")),
            "<Exception:KeyError><Message:: 'x'>\n"
        );
    }

    #[test]
    fn untrustworthy_marks_are_skipped() {
        let text = "é: x\n";
        let spans = [
            span(1, 2, Role::Exception), // inside é
            span(0, 2, Role::Exception), // é
            span(1, 4, Role::Message),   // overlaps
            span(3, 99, Role::Message),  // past the end
            span(4, 4, Role::Message),   // empty
        ];
        assert_eq!(paint_marked(text, &spans, |_, part| format!("[{part}]")), "[é]: x\n");
    }

    #[test]
    fn roles_travel_as_snake_case() {
        let json = serde_json::to_string(&span(1, 2, Role::LineNumber)).unwrap();
        assert_eq!(json, r#"{"start":1,"end":2,"role":"line_number"}"#);
    }
}
