//! `complete_request`: completions from the live namespace. The text before the cursor
//! decides what is completed: magic names after `%`, a magic's arguments as that magic says
//! (Python code, paths, modules), paths after `!`, module names after `import`/`from`,
//! names a module offers after `from m import`, dictionary keys after `d["`, attributes
//! after `obj.`, else names (namespace, builtins, keywords). Only plain dotted names are
//! ever evaluated — attribute lookups, never calls — so completing cannot run arbitrary code
//! paths of the user's.

use std::collections::BTreeSet;

use hotrepl_proto::{CompleteReply, CompleteRequest, ReplyStatus};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use serde_json::Map;

use crate::magics::{self, Completes, MagicKind};
use crate::session::Session;

pub fn reply(py: Python<'_>, session: &Session, request: &CompleteRequest) -> CompleteReply {
    let before: String = request.code.chars().take(request.cursor_pos).collect();
    let line = before.rsplit('\n').next().unwrap_or("");
    let (mut word_len, mut matches) = complete_line(py, session, line).unwrap_or((0, Vec::new()));
    if crate::hooks::any() {
        let offered = from_hooks(py, line);
        if !offered.is_empty() {
            if matches.is_empty() {
                word_len = line.chars().rev().take_while(|c| is_identifier_char(*c)).count();
            }
            for m in offered {
                if !matches.contains(&m) {
                    matches.push(m);
                }
            }
        }
    }
    CompleteReply {
        status: ReplyStatus::Ok,
        matches,
        cursor_start: request.cursor_pos - word_len,
        cursor_end: request.cursor_pos,
        metadata: Map::new(),
        error: None,
    }
}

/// The length (in chars) of the text being replaced, and its candidates.
fn complete_line(py: Python<'_>, session: &Session, line: &str) -> PyResult<(usize, Vec<String>)> {
    if let Some(completed) = complete_escape(py, session, line)? {
        return Ok(completed);
    }
    if let Some(c) = import_context(line) {
        return Ok(match c {
            Import::Module(dotted) => {
                let (parent, prefix) = split_last_dot(dotted);
                (prefix.chars().count(), filter(module_names(py, parent)?, prefix))
            }
            Import::FromName { module, prefix } => {
                (prefix.chars().count(), filter(module_members(py, module)?, prefix))
            }
        });
    }
    if let Some((base, quote, prefix)) = dict_key_context(line) {
        let keys = match resolve(py, session, base)? {
            Some(obj) => string_keys(&obj)?,
            None => Vec::new(),
        };
        let matches = filter(keys, prefix)
            .into_iter()
            .map(|k| format!("{k}{quote}]"))
            .collect();
        return Ok((prefix.chars().count(), matches));
    }
    let word = trailing_dotted(line);
    let (base, prefix) = split_last_dot(word);
    let candidates = if base.is_empty() && !word.contains('.') {
        global_names(py, session)?
    } else {
        match resolve(py, session, base)? {
            Some(obj) => dir_names(&obj)?,
            None => Vec::new(),
        }
    };
    Ok((prefix.chars().count(), filter(candidates, prefix)))
}

/// What the `completion` hooks offer for the line before the cursor: each returns matches
/// for the word there (they join hotrepl's own).
fn from_hooks(py: Python<'_>, line: &str) -> Vec<String> {
    let mut offered = Vec::new();
    let Ok(args) = pyo3::types::PyTuple::new(py, [line]) else {
        return offered;
    };
    for hook in crate::hooks::at("completion") {
        if let crate::hooks::Answer::Value(found) = hook.ask(py, &args) {
            offered.extend(found.extract::<Vec<String>>().unwrap_or_default());
        }
    }
    offered
}

/// Completion on a `%magic` or `!command` line (also after `x = `), if the line is one.
fn complete_escape(py: Python<'_>, session: &Session, line: &str) -> PyResult<Option<(usize, Vec<String>)>> {
    let mut text = line.trim_start();
    if let Some((target, value)) = text.split_once('=') {
        let value = value.trim_start();
        if !target.contains(['(', '\'', '"']) && value.starts_with(['%', '!']) {
            text = value;
        }
    }
    if let Some(command) = text.strip_prefix('!') {
        let word = command.rsplit(char::is_whitespace).next().unwrap_or("");
        return Ok(Some((word.chars().count(), paths(word, false))));
    }
    let (kind, sigil, rest) = if let Some(rest) = text.strip_prefix("%%") {
        (MagicKind::Cell, "%%", rest)
    } else if let Some(rest) = text.strip_prefix('%') {
        (MagicKind::Line, "%", rest)
    } else {
        return Ok(None);
    };
    let Some((name, args)) = rest.split_once(char::is_whitespace) else {
        let names = magics::all(py)?
            .iter()
            .filter(|m| m.kind == kind && m.name.starts_with(rest))
            .map(|m| format!("{sigil}{}", m.name))
            .collect();
        return Ok(Some((sigil.len() + rest.chars().count(), names)));
    };
    let args = args.trim_start();
    let word = args.rsplit(char::is_whitespace).next().unwrap_or("");
    let completes = magics::find(py, kind, name)?.map_or(Completes::Nothing, |m| m.completes);
    Ok(Some(match completes {
        Completes::Nothing => (0, Vec::new()),
        Completes::Python => complete_line(py, session, args)?,
        Completes::Directories => (word.chars().count(), paths(word, true)),
        Completes::Files => (word.chars().count(), paths(word, false)),
        Completes::Modules => {
            let loaded: Vec<String> = py.import("sys")?.getattr("modules")?.call_method0("keys")?.extract()?;
            (word.chars().count(), filter(loaded, word))
        }
    }))
}

/// Paths that start with `word` (directories end with `/`; `~` is the home directory).
fn paths(word: &str, directories_only: bool) -> Vec<String> {
    let (dir_part, prefix) = match word.rfind('/') {
        Some(i) => (&word[..=i], &word[i + 1..]),
        None => ("", word),
    };
    let expanded = match dir_part.strip_prefix('~') {
        Some(rest) => format!("{}{rest}", std::env::var("HOME").unwrap_or_default()),
        None => dir_part.to_owned(),
    };
    let lookup = if expanded.is_empty() { "." } else { expanded.as_str() };
    let Ok(entries) = std::fs::read_dir(lookup) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name().into_string().ok()?;
            if !name.starts_with(prefix) || (name.starts_with('.') && !prefix.starts_with('.')) {
                return None;
            }
            let is_dir = std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir());
            if directories_only && !is_dir {
                return None;
            }
            Some(format!("{dir_part}{name}{}", if is_dir { "/" } else { "" }))
        })
        .collect();
    found.sort();
    found
}

enum Import<'a> {
    /// `import a.b` / `from a.b` (module path being typed)
    Module(&'a str),
    /// `from m import pre`
    FromName { module: &'a str, prefix: &'a str },
}

fn import_context(line: &str) -> Option<Import<'_>> {
    let stmt = line.rsplit(';').next()?.trim_start();
    if let Some(rest) = stmt.strip_prefix("import ") {
        let last = rest.rsplit(',').next()?.trim_start();
        return is_dotted(last).then_some(Import::Module(last));
    }
    let rest = stmt.strip_prefix("from ")?;
    match rest.split_once(" import ") {
        None if is_dotted(rest) => Some(Import::Module(rest)),
        None => None,
        Some((module, names)) => {
            let prefix = names
                .rsplit(',')
                .next()?
                .trim_start()
                .trim_start_matches('(')
                .trim_start();
            (is_dotted(module.trim()) && is_identifier_prefix(prefix)).then(|| Import::FromName {
                module: module.trim(),
                prefix,
            })
        }
    }
}

/// `d["pre` or `obj.attr['pre` → (`d`, quote, `pre`).
fn dict_key_context(line: &str) -> Option<(&str, char, &str)> {
    let quote_at = line.rfind(['"', '\''])?;
    let quote = line[quote_at..].chars().next()?;
    let prefix = &line[quote_at + 1..];
    if prefix.contains(['"', '\'']) {
        return None;
    }
    let before = line[..quote_at].trim_end();
    let before = before.strip_suffix('[')?.trim_end();
    let base = trailing_dotted(before);
    (!base.is_empty() && !base.ends_with('.')).then_some((base, quote, prefix))
}

fn is_identifier_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_identifier_prefix(s: &str) -> bool {
    s.chars().all(is_identifier_char)
}

fn is_dotted(s: &str) -> bool {
    s.chars().all(|c| is_identifier_char(c) || c == '.')
}

/// The dotted name that ends the line (`a.b.c`, `a.b.`, or a bare word).
fn trailing_dotted(line: &str) -> &str {
    let start = line
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_identifier_char(*c) || *c == '.')
        .last()
        .map(|(i, _)| i)
        .unwrap_or(line.len());
    let word = &line[start..];
    // A leading dot or digit is not a name to look up (`.5`, `1.`).
    word.trim_start_matches('.')
}

fn split_last_dot(word: &str) -> (&str, &str) {
    match word.rfind('.') {
        Some(i) => (&word[..i], &word[i + 1..]),
        None => ("", word),
    }
}

/// Candidates starting with `prefix`, sorted, with `_private` names only if asked for.
fn filter(candidates: impl IntoIterator<Item = String>, prefix: &str) -> Vec<String> {
    let show_private = prefix.starts_with('_');
    let set: BTreeSet<String> = candidates
        .into_iter()
        .filter(|c| c.starts_with(prefix) && (show_private || !c.starts_with('_')))
        .collect();
    set.into_iter().collect()
}

/// Looks up a dotted name in the session's namespace (then builtins) by attribute access.
fn resolve<'py>(py: Python<'py>, session: &Session, dotted: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    let mut parts = dotted.split('.');
    let Some(first) = parts.next().filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let mut obj = match lookup_name(py, session, first)? {
        Some(o) => o,
        None => return Ok(None),
    };
    for part in parts {
        match obj.getattr(part) {
            Ok(next) => obj = next,
            Err(_) => return Ok(None),
        }
    }
    Ok(Some(obj))
}

fn lookup_name<'py>(py: Python<'py>, session: &Session, name: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    if let Some(locals) = &session.locals {
        if let Some(v) = locals.bind(py).get_item(name)? {
            return Ok(Some(v));
        }
    }
    if let Some(v) = session.globals.bind(py).get_item(name)? {
        return Ok(Some(v));
    }
    Ok(py.import("builtins")?.getattr(name).ok())
}

fn global_names(py: Python<'_>, session: &Session) -> PyResult<Vec<String>> {
    let mut names = dict_keys(session.globals.bind(py));
    if let Some(locals) = &session.locals {
        names.extend(dict_keys(locals.bind(py)));
    }
    names.extend(dir_names(py.import("builtins")?.as_any())?);
    let keywords: Vec<String> = py.import("keyword")?.getattr("kwlist")?.extract()?;
    names.extend(keywords);
    Ok(names)
}

fn dict_keys(d: &Bound<'_, PyDict>) -> Vec<String> {
    d.keys().iter().filter_map(|k| k.extract::<String>().ok()).collect()
}

fn dir_names(obj: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    Ok(obj.dir()?.iter().filter_map(|n| n.extract::<String>().ok()).collect())
}

fn string_keys(obj: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if !obj.hasattr("keys")? {
        return Ok(Vec::new());
    }
    let keys = obj.call_method0("keys")?;
    Ok(keys
        .try_iter()?
        .filter_map(|k| k.ok()?.cast_into::<PyString>().ok().map(|s| s.to_string()))
        .collect())
}

/// Top-level modules (when `parent` is empty) or the submodules of an imported package.
fn module_names(py: Python<'_>, parent: &str) -> PyResult<Vec<String>> {
    let pkgutil = py.import("pkgutil")?;
    let sys = py.import("sys")?;
    if parent.is_empty() {
        let mut names: Vec<String> = sys.getattr("builtin_module_names")?.extract()?;
        for info in pkgutil.call_method0("iter_modules")?.try_iter()? {
            names.push(info?.getattr("name")?.extract()?);
        }
        return Ok(names);
    }
    let Some(package) = crate::arrival::loaded(py, parent) else {
        return Ok(Vec::new());
    };
    let Ok(path) = package.getattr("__path__") else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    for info in pkgutil.call_method1("iter_modules", (path,))?.try_iter()? {
        names.push(info?.getattr("name")?.extract()?);
    }
    Ok(names)
}

/// What `from module import ...` can name: an already-imported module's attributes and
/// its submodules. Modules are not imported just to complete.
fn module_members(py: Python<'_>, module: &str) -> PyResult<Vec<String>> {
    let mut names = module_names(py, module)?;
    if let Some(m) = crate::arrival::loaded(py, module) {
        names.extend(dir_names(&m)?);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_are_recognised() {
        assert!(matches!(import_context("import os.pa"), Some(Import::Module("os.pa"))));
        assert!(matches!(import_context("import sys, js"), Some(Import::Module("js"))));
        assert!(matches!(
            import_context("from collections.ab"),
            Some(Import::Module("collections.ab"))
        ));
        assert!(matches!(
            import_context("from os import pa"),
            Some(Import::FromName {
                module: "os",
                prefix: "pa"
            })
        ));
        assert!(matches!(
            import_context("from os import (sep, pa"),
            Some(Import::FromName {
                module: "os",
                prefix: "pa"
            })
        ));
        assert!(import_context("x = 1").is_none());
        assert_eq!(dict_key_context("d[\"ke"), Some(("d", '"', "ke")));
        assert_eq!(dict_key_context("x = cfg.opts['"), Some(("cfg.opts", '\'', "")));
        assert_eq!(dict_key_context("print('hel"), None);
        assert_eq!(trailing_dotted("x = os.path.jo"), "os.path.jo");
        assert_eq!(trailing_dotted("f(1.5"), "1.5");
        assert_eq!(split_last_dot("os.path.jo"), ("os.path", "jo"));
    }

    #[test]
    fn private_names_only_on_request() {
        let names = vec!["_x".to_string(), "xa".into(), "xb".into(), "y".into()];
        assert_eq!(filter(names.clone(), "x"), ["xa", "xb"]);
        assert_eq!(filter(names, "_"), ["_x"]);
    }
}
