//! `is_complete_request`: does this input run as it is, or does the user need another line?
//! Decided by the kernel's own Python (its `codeop`, with top-level await allowed), on the
//! cell as the input transformation makes it (so `%time for ...` lines count as Python, and
//! a `%%magic` cell is complete when its body is), so the answer is right for that Python
//! version, plus one rule of interactive prompts: input that ends inside an indented block
//! waits for an empty line, since the block may go on.

use hotrepl_proto::{Completeness, IsCompleteReply, IsCompleteRequest};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::cell::{self, PYCF_ALLOW_TOP_LEVEL_AWAIT, PYCF_ONLY_AST};
use crate::magics::{self, MagicKind};
use crate::pycache::py_attr;
use crate::transform::{self, Shape};

/// codeop's compiler, made once, with top-level await allowed; and its flags.
struct Compiler {
    command: Py<PyAny>,
    flags: i32,
}

static COMPILER: PyOnceLock<Compiler> = PyOnceLock::new();

fn command_compiler(py: Python<'_>) -> PyResult<&Compiler> {
    COMPILER.get_or_try_init(py, || {
        let command = py.import("codeop")?.getattr("CommandCompiler")?.call0()?;
        let inner = command.getattr("compiler")?;
        let flags = inner.getattr("flags")?.extract::<i32>()? | PYCF_ALLOW_TOP_LEVEL_AWAIT;
        inner.setattr("flags", flags)?;
        Ok(Compiler {
            command: command.unbind(),
            flags,
        })
    })
}

/// How a prompt reads a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// hotrepl's prompt: one line that compiles runs, `for x in y: print(x)` included.
    Cell,
    /// The standard console's (line mode): any compound statement ends with an empty line.
    Console,
}

impl Reading {
    /// The compile mode that gives each its rule: "single" with codeop's flags is what the
    /// standard console compiles with.
    fn mode(self) -> &'static str {
        match self {
            Reading::Cell => "exec",
            Reading::Console => "single",
        }
    }
}

pub fn reply(py: Python<'_>, request: &IsCompleteRequest) -> IsCompleteReply {
    check(py, &request.code, Reading::Cell).unwrap_or_else(|_| IsCompleteReply {
        status: Completeness::Unknown,
        indent: String::new(),
    })
}

/// Whether line mode waits for another line; if the check itself fails, the code runs and
/// its error is shown. `future_flags` are the session's (see [`cell::compile`]).
pub fn console_wants_more(py: Python<'_>, code: &str, future_flags: i32) -> bool {
    // A lone expression is complete under any rule. Compiling it is also the first thing
    // running it does, and the compiled cell is kept for that run: one compile, not two.
    if !code.contains('\n') && cell::is_expression(py, code, future_flags) {
        return false;
    }
    check(py, code, Reading::Console).is_ok_and(|r| r.status == Completeness::Incomplete)
}

fn check(py: Python<'_>, code: &str, reading: Reading) -> PyResult<IsCompleteReply> {
    if code.trim().is_empty() {
        return Ok(complete());
    }
    match transform::shape(code) {
        Shape::Python => check_python(py, code, reading),
        Shape::Help { .. } => Ok(complete()),
        Shape::CellMagic { name, body, .. } => {
            if magics::find(py, MagicKind::Cell, &name)?.is_none() {
                // Unknown: run it now, so the user hears so at once.
                return Ok(complete());
            }
            // A cell magic's body is typed line by line and ends with an empty line (as at
            // IPython's prompt); a Python body must also be whole by then.
            let ends_with_empty_line = code.rsplit('\n').next().is_some_and(|l| l.trim().is_empty());
            if body.trim().is_empty() || !ends_with_empty_line {
                return Ok(incomplete(String::new()));
            }
            match magics::find(py, MagicKind::Cell, &name)? {
                Some(magic) if magic.python_body => check_python(py, &body, reading),
                _ => Ok(complete()),
            }
        }
        Shape::Lines(sites) => {
            let last = code.split('\n').count() - 1;
            if sites
                .last()
                .is_some_and(|s| s.line + s.lines - 1 == last && s.args.ends_with('\\'))
            {
                return Ok(incomplete(String::new()));
            }
            let python = transform::python_source(code, &|_, _, _, _| false);
            check_python(py, &python, reading)
        }
    }
}

fn check_python(py: Python<'_>, code: &str, reading: Reading) -> PyResult<IsCompleteReply> {
    let compiler = command_compiler(py)?;
    let guard = py_attr!(py, "warnings", "catch_warnings")?.call0()?;
    guard.call_method0("__enter__")?;
    // Compiling to check must not print the SyntaxWarning the run will print.
    py_attr!(py, "warnings", "simplefilter")?.call1(("ignore",))?;
    // Most input parses as it is, which settles it: it is complete (whether it compiles is
    // for the run to tell). Parsing alone is cheap; codeop's full check, for the rest,
    // compiles up to three times.
    let parsed = py_attr!(py, "builtins", "compile")?.call1((
        code,
        "<input>",
        reading.mode(),
        compiler.flags | PYCF_ONLY_AST,
        true,
    ));
    let compiled = match parsed {
        Ok(code) => Ok(code),
        Err(_) => compiler.command.bind(py).call1((code, "<input>", reading.mode())),
    };
    guard.call_method1("__exit__", (py.None(), py.None(), py.None()))?;
    match compiled {
        Err(_) => Ok(IsCompleteReply {
            status: Completeness::Invalid,
            indent: String::new(),
        }),
        Ok(c) if c.is_none() => Ok(incomplete(next_indent(code))),
        Ok(_) => Ok(match open_block_indent(py, code)? {
            Some(indent) => incomplete(indent),
            None => complete(),
        }),
    }
}

fn complete() -> IsCompleteReply {
    IsCompleteReply {
        status: Completeness::Complete,
        indent: String::new(),
    }
}

fn incomplete(indent: String) -> IsCompleteReply {
    IsCompleteReply {
        status: Completeness::Incomplete,
        indent,
    }
}

/// For compilable input that ends inside an indented block: that block's indentation.
/// The block may go on, so the user ends it with an empty line. What counts is where the
/// last logical line starts (found with Python's tokenizer), so a bracket continued on an
/// indented line does not count as a block.
fn open_block_indent(py: Python<'_>, code: &str) -> PyResult<Option<String>> {
    let last = code.rsplit('\n').next().unwrap_or("");
    // One line that compiles starts at column 0 (indented, it would not compile).
    if last.trim().is_empty() || !code.contains('\n') {
        return Ok(None);
    }
    let tokenize = py.import("tokenize")?;
    let readline = py
        .import("io")?
        .getattr("StringIO")?
        .call1((code,))?
        .getattr("readline")?;
    let names = ["NEWLINE", "NL", "COMMENT", "INDENT", "DEDENT", "ENDMARKER"].map(|n| tokenize.getattr(n));
    let skip: Vec<i64> = names.into_iter().map(|n| n?.extract()).collect::<PyResult<_>>()?;
    let newline = skip[0];
    let mut start_row: Option<usize> = None;
    let mut at_line_start = true;
    for token in tokenize.getattr("generate_tokens")?.call1((readline,))?.try_iter()? {
        let token = token?;
        let kind: i64 = token.getattr("type")?.extract()?;
        if kind == newline {
            at_line_start = true;
        } else if at_line_start && !skip.contains(&kind) {
            let (row, _col): (usize, usize) = token.getattr("start")?.extract()?;
            start_row = Some(row);
            at_line_start = false;
        }
    }
    let Some(row) = start_row else {
        return Ok(None);
    };
    let line = code.split('\n').nth(row - 1).unwrap_or("");
    let indent = leading_whitespace(line);
    Ok((!indent.is_empty()).then(|| indent.to_owned()))
}

/// Indentation for the line after incomplete input: one level deeper after a colon.
fn next_indent(code: &str) -> String {
    let last = code.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    let base = leading_whitespace(last).to_owned();
    let stripped = strip_comment(last).trim_end();
    if stripped.ends_with(':') {
        format!("{base}    ")
    } else {
        base
    }
}

fn leading_whitespace(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// The line without a trailing `# comment` (quotes are respected).
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (_, _) if escaped => escaped = false,
            (Some(_), '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '#') => return &line[..i],
            _ => {}
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indentation_follows_blocks() {
        assert_eq!(next_indent("for i in x:"), "    ");
        assert_eq!(next_indent("def f():\n    if y:  # comment"), "        ");
        assert_eq!(next_indent("foo(1,"), "");
        assert_eq!(next_indent("x = '#:'  # c"), "");
    }
}
