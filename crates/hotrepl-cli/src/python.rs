//! The Python interpreter hotrepl runs code in (the local REPL's kernel, `hotrepl run`),
//! and the start of every `-c` program it gives it: a version check, then this
//! installation's `hotrepl` package, loaded so that any CPython 3.9+ can use it.

use std::path::{Path, PathBuf};

/// The interpreter to run: `explicit` (`--python`), else `HOTREPL_PYTHON`, else the one
/// installed next to this binary (its venv's), else `python3` from PATH.
pub fn interpreter(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("HOTREPL_PYTHON") {
        return PathBuf::from(p);
    }
    if let Some(dir) = std::env::current_exe().ok().as_deref().and_then(Path::parent) {
        for name in ["python3", "python"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    PathBuf::from("python3")
}

/// The directory holding this installation's `hotrepl` Python package: the wheel puts
/// this binary in `<prefix>/bin` and the package in `<prefix>/lib/pythonX.Y/site-packages`.
fn site_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let prefix = exe.parent()?.parent()?;
    for lib in ["lib", "lib64"] {
        let Ok(entries) = std::fs::read_dir(prefix.join(lib)) else {
            continue;
        };
        let mut versions: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        versions.sort();
        for version in versions.iter().rev() {
            let candidate = version.join("site-packages");
            if candidate.join("hotrepl").join("__init__.py").is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Python code for `-c`: refuse interpreters older than 3.9, make `import hotrepl` load
/// this installation's package, then run `main`. It leaves no names behind in `__main__`.
///
/// The package's directory leads `sys.path` only while `hotrepl` is imported, so it wins
/// over any other `hotrepl` the interpreter could see, and nothing else of that directory
/// is imported by accident. (Through `importlib.util` instead, start-up took 3-4 ms
/// longer.)
pub fn program(main: &str) -> String {
    let check = "if __import__('sys').version_info < (3, 9): raise SystemExit('hotrepl needs Python 3.9 or newer, this is ' + __import__('sys').version.split()[0])\n";
    let load = match site_dir() {
        Some(dir) => {
            let dir = python_str(&dir.display().to_string());
            format!(
                "__import__('sys').path.insert(0, {dir})\n\
                 try: __import__('hotrepl')\n\
                 finally: __import__('sys').path.remove({dir})\n"
            )
        }
        None => String::new(),
    };
    format!("{check}{load}{main}")
}

/// A Python string literal for `s`.
pub fn python_str(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' | '\'' => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}
