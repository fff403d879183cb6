//! The input-transformation stage of the cell pipeline: what the user typed becomes Python
//! source. `%magic` and `!command` lines, `%%magic` cells and `obj?` help become calls into
//! the magic dispatcher, each on the line it came from, so line numbers (tracebacks,
//! `inspect`) still match the text the user sees. `execute`, `is_complete` and completion all
//! read cells through here, so what the prompt accepts is what runs.

pub mod scan;

use std::borrow::Cow;

pub use scan::{shape, Escape, Shape, Site};

/// The line magic that a shell escape runs.
pub fn escape_magic(escape: &Escape) -> Option<&'static str> {
    match escape {
        Escape::Magic => None,
        Escape::Shell => Some("system"),
        Escape::ShellCapture => Some("sx"),
    }
}

/// The magic an `obj?` (detail 0) or `obj??` (detail 1) request runs.
pub fn help_magic(detail: u8) -> &'static str {
    if detail == 0 {
        "pinfo"
    } else {
        "pinfo2"
    }
}

/// Line magics (`%name`) and cell magics (`%%name`) have names of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MagicKind {
    Line,
    Cell,
}

/// Says whether a call of the magic `name` with `args` (and, for a cell magic, its body)
/// must be awaited: it runs awaiting code, like `%time await fetch()`.
pub type Awaits<'a> = &'a dyn Fn(MagicKind, &str, &str, Option<&str>) -> bool;

/// The Python source for a cell.
pub fn python_source<'a>(cell: &'a str, awaits: Awaits<'_>) -> Cow<'a, str> {
    match shape(cell) {
        Shape::Python => Cow::Borrowed(cell),
        Shape::Help { target, detail } => Cow::Owned(line_call(help_magic(detail), &target, false)),
        Shape::CellMagic { name, args, body } => {
            let mut source = cell_call(&name, &args, &body, awaits(MagicKind::Cell, &name, &args, Some(&body)));
            // The body's lines stay where they were: the call is on the first line.
            source.push_str(&"\n".repeat(body.matches('\n').count() + usize::from(cell.contains('\n'))));
            Cow::Owned(source)
        }
        Shape::Lines(sites) => Cow::Owned(with_sites(cell, &sites, awaits)),
    }
}

fn with_sites(cell: &str, sites: &[Site], awaits: Awaits<'_>) -> String {
    let lines: Vec<&str> = cell.split('\n').collect();
    let mut out = String::with_capacity(cell.len() + 64 * sites.len());
    let mut sites = sites.iter().peekable();
    let mut i = 0;
    while i < lines.len() {
        if i > 0 {
            out.push('\n');
        }
        match sites.next_if(|s| s.line == i) {
            Some(site) => {
                let name = escape_magic(&site.escape).unwrap_or(&site.name);
                out.push_str(&site.indent);
                if let Some(target) = &site.target {
                    out.push_str(target);
                    out.push_str(" = ");
                }
                out.push_str(&line_call(
                    name,
                    &site.args,
                    awaits(MagicKind::Line, name, &site.args, None),
                ));
                // Continuation lines the magic took become empty lines.
                out.push_str(&"\n".repeat(site.lines - 1));
                i += site.lines;
            }
            None => {
                out.push_str(lines[i]);
                i += 1;
            }
        }
    }
    out
}

/// The call a line magic becomes.
fn line_call(name: &str, args: &str, awaited: bool) -> String {
    dispatcher_call("_magic", &[name, args], awaited)
}

/// The call a cell magic becomes.
fn cell_call(name: &str, args: &str, body: &str, awaited: bool) -> String {
    dispatcher_call("_cell_magic", &[name, args, body], awaited)
}

/// `hotrepl.<function>('arg', ...)`, awaited if it must be.
fn dispatcher_call(function: &str, arguments: &[&str], awaited: bool) -> String {
    let mut call = String::new();
    if awaited {
        call.push_str("await ");
    }
    call.push_str("__import__('hotrepl').");
    call.push_str(function);
    call.push('(');
    for (i, argument) in arguments.iter().enumerate() {
        if i > 0 {
            call.push_str(", ");
        }
        push_literal(&mut call, argument);
    }
    if awaited {
        call.push_str(", awaited=True");
    }
    call.push(')');
    call
}

/// Appends `text` as a Python string literal on one line.
fn push_literal(out: &mut String, text: &str) {
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never(_: MagicKind, _: &str, _: &str, _: Option<&str>) -> bool {
        false
    }

    #[test]
    fn lines_keep_their_places() {
        let cell = "x = 1\nfor i in range(2):\n    %time f(i)\nfiles = !ls 'a b'\n!echo \\\n  hi\nprint(x)";
        let out = python_source(cell, &never);
        assert_eq!(out.lines().count(), cell.lines().count());
        assert_eq!(
            out,
            "x = 1\nfor i in range(2):\n    __import__('hotrepl')._magic('time', 'f(i)')\n\
             files = __import__('hotrepl')._magic('sx', 'ls \\'a b\\'')\n\
             __import__('hotrepl')._magic('system', 'echo hi')\n\nprint(x)"
        );
    }

    #[test]
    fn awaited_magics_are_awaited() {
        let out = python_source("%time await f()", &|_, name, args, _| {
            name == "time" && args.contains("await")
        });
        assert_eq!(
            out,
            "await __import__('hotrepl')._magic('time', 'await f()', awaited=True)"
        );
    }

    #[test]
    fn cell_magics_and_help() {
        let out = python_source("%%time\nx = 1\ny = 'a\\tb'", &never);
        assert_eq!(
            out,
            "__import__('hotrepl')._cell_magic('time', '', 'x = 1\\ny = \\'a\\\\tb\\'')\n\n"
        );
        assert_eq!(
            python_source("len??", &never),
            "__import__('hotrepl')._magic('pinfo2', 'len')"
        );
        assert_eq!(python_source("1 + 1", &never), "1 + 1");
    }
}
