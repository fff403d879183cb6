//! What `obj?` and `obj??` show (and Jupyter's `inspect_request` answers): the type, the
//! signature, the docstring, where it was defined, its length and value, and with `??` the
//! source — also of functions and classes defined in cells. Names are resolved by attribute
//! access only, a property's getter is never called for the object asked about, and
//! `__repr__`/`__len__` of the user's objects are given up on after a second.

use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::deadline::{self, USER_CODE_LIMIT};
use crate::magics::{self, UsageError};
use crate::pycache::py_attr;

/// Where names are looked up: locals (any mapping) over globals, then builtins.
pub struct Namespace<'a, 'py> {
    pub globals: &'a Bound<'py, PyDict>,
    pub locals: Option<&'a Bound<'py, PyAny>>,
}

impl<'py> Namespace<'_, 'py> {
    fn lookup(&self, py: Python<'py>, name: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        if let Some(locals) = self.locals {
            match locals.get_item(name) {
                Ok(value) => return Ok(Some(value)),
                Err(e) if e.is_instance_of::<PyKeyError>(py) => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(value) = self.globals.get_item(name)? {
            return Ok(Some(value));
        }
        Ok(py.import("builtins")?.getattr(name).ok())
    }
}

/// Width of the value line, and of the labels before it.
const SCREEN_WIDTH: usize = 80;
const LABEL_WIDTH: usize = 12;

/// The text `name?` (detail 0) or `name??` (detail 1) shows. An unknown name is a
/// UsageError (one line, no traceback).
pub fn describe(py: Python<'_>, namespace: &Namespace<'_, '_>, name: &str, detail: u8) -> PyResult<String> {
    if name.starts_with('%') {
        let help = magics::magic_help(py, name)?;
        return Ok(format!("{name}\n\n{help}\n"));
    }
    let Some(obj) = resolve(py, namespace, name)? else {
        return Err(UsageError::new_err(format!(
            "{name} is not defined here (looked in the namespace and builtins)"
        )));
    };
    Description::new(py, name, &obj).text(detail)
}

/// Follows a dotted name by attribute access. The last attribute, if it is a property, is
/// not called: the property itself is described.
pub fn resolve<'py>(
    py: Python<'py>,
    namespace: &Namespace<'_, 'py>,
    dotted: &str,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let mut parts = dotted.split('.');
    let Some(mut obj) = parts
        .next()
        .map(|first| namespace.lookup(py, first))
        .transpose()?
        .flatten()
    else {
        return Ok(None);
    };
    let mut parts = parts.peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            let missing = py.None().into_bound(py);
            let static_value = py_attr!(py, "inspect", "getattr_static")?.call1((&obj, part, &missing))?;
            if static_value.is_instance(py_attr!(py, "builtins", "property")?)? {
                return Ok(Some(static_value));
            }
        }
        match obj.getattr(part) {
            Ok(next) => obj = next,
            Err(_) => return Ok(None),
        }
    }
    Ok(Some(obj))
}

/// What kind of thing is described decides what is worth saying about it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Module,
    Class,
    /// Functions, methods, builtins.
    Routine,
    Property,
    /// Any other object: a value.
    Value,
}

struct Description<'a, 'py> {
    py: Python<'py>,
    name: &'a str,
    obj: &'a Bound<'py, PyAny>,
    kind: Kind,
    lines: Vec<String>,
}

impl<'a, 'py> Description<'a, 'py> {
    fn new(py: Python<'py>, name: &'a str, obj: &'a Bound<'py, PyAny>) -> Self {
        let inspect = |f: &str| -> bool {
            py.import("inspect")
                .and_then(|m| m.getattr(f))
                .and_then(|f| f.call1((obj,)))
                .and_then(|r| r.is_truthy())
                .unwrap_or(false)
        };
        let kind = if inspect("ismodule") {
            Kind::Module
        } else if inspect("isclass") {
            Kind::Class
        } else if inspect("isroutine") {
            Kind::Routine
        } else if obj
            .is_instance(py_attr!(py, "builtins", "property").expect("builtins.property"))
            .unwrap_or(false)
        {
            Kind::Property
        } else {
            Kind::Value
        };
        Description {
            py,
            name,
            obj,
            kind,
            lines: Vec::new(),
        }
    }

    fn field(&mut self, label: &str, value: impl AsRef<str>) {
        let label = format!("{label}:");
        let mut value = value.as_ref().lines();
        let first = value.next().unwrap_or("");
        self.lines.push(format!("{label:<LABEL_WIDTH$}{first}"));
        for more in value {
            self.lines.push(format!("{:LABEL_WIDTH$}{more}", ""));
        }
    }

    fn text(mut self, detail: u8) -> PyResult<String> {
        self.field("Type", type_name(self.obj)?);
        if let Some(signature) = self.signature() {
            self.field("Signature", signature);
        }
        if self.kind == Kind::Value {
            if let Some(length) = self.length() {
                self.field("Length", length);
            }
            let width = SCREEN_WIDTH - LABEL_WIDTH;
            self.field("Value", safe_repr(self.obj, width));
        }
        if let Some(doc) = self.docstring()? {
            let (label, shown) = docstring_shown(&doc, detail, self.name);
            self.field(label_for_doc(self.kind, label), shown);
        }
        if let Some(place) = self.place()? {
            self.field("Defined in", place);
        }
        let mut text = self.lines.join("\n");
        text.push('\n');
        if detail > 0 && self.kind != Kind::Value {
            match self.source()? {
                Ok(source) => {
                    text.push_str("Source:\n");
                    text.push_str(&source);
                    if !source.ends_with('\n') {
                        text.push('\n');
                    }
                }
                Err(why) => text.push_str(&format!("Source:     not available: {why}\n")),
            }
        }
        Ok(text)
    }

    /// The object whose code is described: properties by their getter, decorated
    /// functions by what they wrap.
    fn code_owner(&self) -> PyResult<Bound<'py, PyAny>> {
        let target = if self.kind == Kind::Property {
            self.obj.getattr("fget")?
        } else {
            self.obj.clone()
        };
        if self.kind == Kind::Routine || self.kind == Kind::Property {
            return py_attr!(self.py, "inspect", "unwrap")?.call1((target,));
        }
        Ok(target)
    }

    fn signature(&self) -> Option<String> {
        if !matches!(self.kind, Kind::Class | Kind::Routine) {
            return None;
        }
        let signature = py_attr!(self.py, "inspect", "signature")
            .ok()?
            .call1((self.obj,))
            .ok()?;
        let short = self.name.rsplit('.').next().unwrap_or(self.name);
        Some(format!("{short}{}", signature.str().ok()?))
    }

    fn length(&self) -> Option<String> {
        if !self.obj.hasattr("__len__").unwrap_or(false) {
            return None;
        }
        match deadline::within(self.py, USER_CODE_LIMIT, || self.obj.len()) {
            Ok(Ok(n)) => Some(n.to_string()),
            Ok(Err(_)) => None,
            Err(()) => Some("(len() took more than a second: abandoned)".into()),
        }
    }

    /// The docstring worth showing: an instance of a builtin type is not explained by its
    /// type's docstring (every int would show int's).
    fn docstring(&self) -> PyResult<Option<String>> {
        if self.kind == Kind::Value {
            let ty = self.obj.get_type();
            let module: String = ty.getattr("__module__")?.extract().unwrap_or_default();
            if module == "builtins" {
                return Ok(None);
            }
        }
        let doc = py_attr!(self.py, "inspect", "getdoc")?.call1((self.obj,))?;
        Ok(doc.extract::<Option<String>>()?.filter(|d| !d.trim().is_empty()))
    }

    /// `file, line N` where it was defined, `<cell 3>, line 2` for cells.
    fn place(&self) -> PyResult<Option<String>> {
        if self.kind == Kind::Value {
            return Ok(None);
        }
        let owner = self.code_owner()?;
        if self.kind == Kind::Module {
            return Ok(file_of(self.py, &owner));
        }
        if let Some((file, line)) = code_location(&owner) {
            return Ok(Some(format!("{file}, line {line}")));
        }
        if self.kind == Kind::Class {
            if let Some(found) = class_in_cells(self.py, &owner)? {
                return Ok(Some(format!("{}, line {}", found.file, found.first_line)));
            }
            if let Some(file) = file_of(self.py, &owner) {
                let line = py_attr!(self.py, "inspect", "findsource")?
                    .call1((&owner,))
                    .and_then(|found| found.get_item(1)?.extract::<usize>())
                    .ok();
                return Ok(Some(match line {
                    Some(l) => format!("{file}, line {}", l + 1),
                    None => file,
                }));
            }
        }
        Ok(built_in_place(&owner))
    }

    /// The source, or why there is none.
    fn source(&self) -> PyResult<Result<String, String>> {
        let owner = self.code_owner()?;
        if self.kind == Kind::Class {
            if let Some(found) = class_in_cells(self.py, &owner)? {
                return Ok(Ok(found.source));
            }
        }
        match py_attr!(self.py, "inspect", "getsource")?.call1((&owner,)) {
            Ok(source) => Ok(Ok(source.extract()?)),
            Err(e) => {
                if built_in_place(&owner).is_some() {
                    Ok(Err(format!("{} is built in (written in C)", self.name)))
                } else {
                    Ok(Err(e.value(self.py).str()?.to_string()))
                }
            }
        }
    }
}

fn label_for_doc(kind: Kind, label: &'static str) -> &'static str {
    match (kind, label) {
        (Kind::Value, "Docstring") => "Class doc",
        _ => label,
    }
}

/// The docstring as `?` shows it (its first paragraph, saying how much more there is) or as
/// `??` shows it (all of it).
fn docstring_shown(doc: &str, detail: u8, name: &str) -> (&'static str, String) {
    if detail > 0 {
        return ("Docstring", doc.to_owned());
    }
    let paragraph: Vec<&str> = doc.lines().take_while(|l| !l.trim().is_empty()).collect();
    let rest = doc.lines().count() - paragraph.len();
    let mut shown = paragraph.join("\n");
    let more = doc.lines().skip(paragraph.len()).any(|l| !l.trim().is_empty());
    if more {
        shown.push_str(&format!("\n[{rest} more lines: {name}?? shows them]"));
    }
    ("Docstring", shown)
}

fn type_name(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    let ty = obj.get_type();
    let name: String = ty.getattr("__qualname__")?.extract()?;
    let module: String = ty.getattr("__module__")?.extract().unwrap_or_default();
    Ok(if module == "builtins" || module.is_empty() {
        name
    } else {
        format!("{module}.{name}")
    })
}

/// The file and first line of a function's code.
fn code_location(obj: &Bound<'_, PyAny>) -> Option<(String, usize)> {
    let code = obj
        .getattr("__code__")
        .or_else(|_| obj.getattr("__func__")?.getattr("__code__"))
        .ok()?;
    Some((
        code.getattr("co_filename").ok()?.extract().ok()?,
        code.getattr("co_firstlineno").ok()?.extract().ok()?,
    ))
}

fn file_of(py: Python<'_>, obj: &Bound<'_, PyAny>) -> Option<String> {
    let inspect = py.import("inspect").ok()?;
    let file = inspect
        .call_method1("getsourcefile", (obj,))
        .ok()
        .filter(|f| !f.is_none())
        .or_else(|| inspect.call_method1("getfile", (obj,)).ok())?;
    file.extract().ok()
}

/// For things written in C: which module they come from.
fn built_in_place(obj: &Bound<'_, PyAny>) -> Option<String> {
    let module: String = obj.getattr("__module__").ok()?.extract().ok()?;
    let is_c = obj.get_type().name().ok()?.to_string().starts_with("builtin")
        || obj.getattr("__code__").is_err() && obj.getattr("__file__").is_err();
    is_c.then(|| format!("built in (module {module})"))
}

/// A class defined in a cell, found in that cell's source.
struct CellClass {
    file: String,
    first_line: usize,
    source: String,
}

/// Finds where a class defined in a cell is: `inspect` looks for classes in their module's
/// file, and `__main__` (the prompt's module) has none. The cell is the one its methods'
/// code names, else the latest cell that defines a class of that name.
fn class_in_cells(py: Python<'_>, class: &Bound<'_, PyAny>) -> PyResult<Option<CellClass>> {
    let name: String = class.getattr("__name__")?.extract()?;
    let mut candidates: Vec<String> = Vec::new();
    // Only functions (and static and class methods) have code: asking every attribute of a
    // class with thousands of them for one would cost an exception each. Their exact types
    // are compared (FunctionType cannot be subclassed; the wrappers seldom are), which is
    // several times cheaper than isinstance() over thousands of attributes.
    let function = py_attr!(py, "types", "FunctionType")?;
    let wrappers = [
        py_attr!(py, "builtins", "staticmethod")?,
        py_attr!(py, "builtins", "classmethod")?,
    ];
    let members = class.getattr("__dict__")?;
    for value in members.call_method0("values")?.try_iter()? {
        let value = value?;
        let kind = value.get_type();
        let function = if kind.is(function) {
            value
        } else if wrappers.iter().any(|w| kind.is(w)) {
            value.getattr("__func__")?
        } else {
            continue;
        };
        if let Some((file, _)) = code_location(&function) {
            if file.starts_with("<cell ") && !candidates.contains(&file) {
                candidates.push(file);
            }
        }
    }
    if !crate::arrival::imported(py, "linecache") {
        return Ok(None);
    }
    let cache = py_attr!(py, "linecache", "cache")?;
    if candidates.is_empty() {
        let names: Vec<String> = cache
            .call_method0("keys")?
            .try_iter()?
            .filter_map(|k| k.ok()?.extract::<String>().ok())
            .filter(|k| k.starts_with("<cell "))
            .collect();
        candidates = names.into_iter().rev().collect();
    }
    for file in candidates {
        let Ok(entry) = cache.get_item(&file) else { continue };
        let Ok(lines) = entry.get_item(2).and_then(|l| l.extract::<Vec<String>>()) else {
            continue;
        };
        if let Some((first_line, source)) = class_block(&lines, &name) {
            return Ok(Some(CellClass {
                file,
                first_line,
                source,
            }));
        }
    }
    Ok(None)
}

/// The lines of `class name...` in `lines` (1-based first line), up to where its block ends.
fn class_block(lines: &[String], name: &str) -> Option<(usize, String)> {
    let is_header = |line: &str| {
        let code = line.trim_start();
        code.strip_prefix("class ")
            .map(|rest| rest.trim_start())
            .and_then(|rest| rest.strip_prefix(name))
            .is_some_and(|rest| rest.starts_with(['(', ':', ' ']))
    };
    let start = lines.iter().rposition(|l| is_header(l))?;
    let indent = lines[start].len() - lines[start].trim_start().len();
    let mut end = start + 1;
    while end < lines.len() {
        let line = &lines[end];
        let blank = line.trim().is_empty();
        if !blank && line.len() - line.trim_start().len() <= indent {
            break;
        }
        end += 1;
    }
    while end > start + 1 && lines[end - 1].trim().is_empty() {
        end -= 1;
    }
    Some((start + 1, lines[start..end].concat()))
}

/// `repr(value)` on one line of at most `width` characters, with containers shortened by
/// `reprlib` (a list of ten million ints is not turned into one string first), given up on
/// after a second.
pub fn safe_repr(value: &Bound<'_, PyAny>, width: usize) -> String {
    let py = value.py();
    let shortened = deadline::within(py, USER_CODE_LIMIT, || {
        let repr = py.import("reprlib")?.getattr("Repr")?.call0()?;
        for (limit, n) in [
            ("maxlevel", 3),
            ("maxlist", 20),
            ("maxtuple", 20),
            ("maxdict", 20),
            ("maxset", 20),
            ("maxfrozenset", 20),
            ("maxdeque", 20),
            ("maxarray", 20),
            ("maxlong", width),
            ("maxstring", width),
            ("maxother", width),
        ] {
            repr.setattr(limit, n)?;
        }
        repr.call_method1("repr", (value,))?.extract::<String>()
    });
    let text = match shortened {
        Ok(Ok(text)) => text,
        Ok(Err(e)) => format!("<repr failed: {}>", error_line(py, &e)),
        Err(()) => return "<repr took more than a second: abandoned>".into(),
    };
    one_line(&text, width)
}

fn error_line(py: Python<'_>, e: &PyErr) -> String {
    let name = e
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "error".into());
    match e.value(py).str() {
        Ok(s) if !s.to_string().is_empty() => format!("{name}: {s}"),
        _ => name,
    }
}

/// `text` on one line, cut to `width` characters with "..." where it was cut.
fn one_line(text: &str, width: usize) -> String {
    let flat: String = text.chars().map(|c| if c == '\n' { ' ' } else { c }).collect();
    if flat.chars().count() <= width {
        return flat;
    }
    let kept: String = flat.chars().take(width.saturating_sub(3)).collect();
    format!("{kept}...")
}

/// The dotted name at the cursor, for `inspect_request`: the name the cursor is in or right
/// after, else the function whose call the cursor is inside (`print(x, |`).
pub fn name_at(code: &str, cursor: usize) -> Option<String> {
    let chars: Vec<char> = code.chars().collect();
    let cursor = cursor.min(chars.len());
    let is_part = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    let mut start = cursor;
    while start > 0 && is_part(chars[start - 1]) {
        start -= 1;
    }
    let mut end = cursor;
    while end < chars.len() && is_part(chars[end]) {
        end += 1;
    }
    let word: String = chars[start..end]
        .iter()
        .collect::<String>()
        .trim_matches('.')
        .to_owned();
    if !word.is_empty() && word.chars().next().is_some_and(|c| !c.is_ascii_digit()) {
        return Some(word);
    }
    // Inside a call: the name before the innermost open parenthesis.
    let mut depth = 0i32;
    let mut i = cursor;
    while i > 0 {
        i -= 1;
        match chars[i] {
            ')' => depth += 1,
            '(' if depth == 0 => return name_at(&chars[..i].iter().collect::<String>(), i),
            '(' => depth -= 1,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_at_the_cursor() {
        assert_eq!(name_at("os.path.join", 5).as_deref(), Some("os.path.join"));
        assert_eq!(name_at("print(x, ", 9).as_deref(), Some("print"));
        assert_eq!(name_at("len", 3).as_deref(), Some("len"));
        assert_eq!(name_at("f(g(1), ", 8).as_deref(), Some("f"));
        assert_eq!(name_at("1 + ", 4), None);
    }

    #[test]
    fn docstrings_show_their_first_paragraph() {
        let doc = "Sum things.\n\nMore about it.\nAnd more.";
        let (_, short) = docstring_shown(doc, 0, "f");
        assert_eq!(short, "Sum things.\n[3 more lines: f?? shows them]");
        assert_eq!(docstring_shown(doc, 1, "f").1, doc);
        assert_eq!(docstring_shown("One line.", 0, "f").1, "One line.");
    }

    #[test]
    fn classes_are_found_in_cell_lines() {
        let lines: Vec<String> = [
            "x = 1\n",
            "class Point:\n",
            "    x: int\n",
            "\n",
            "    def f(self):\n",
            "        pass\n",
            "\n",
            "y = 2\n",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (line, source) = class_block(&lines, "Point").unwrap();
        assert_eq!(line, 2);
        assert_eq!(source, "class Point:\n    x: int\n\n    def f(self):\n        pass\n");
        assert!(class_block(&lines, "Poin").is_none());
    }

    #[test]
    fn values_fit_on_a_line() {
        assert_eq!(one_line("[1,\n 2]", 80), "[1,  2]");
        assert_eq!(one_line(&"x".repeat(20), 10), "xxxxxxx...");
    }
}
