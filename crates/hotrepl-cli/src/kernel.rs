//! Starting the local REPL's kernel: a Python child running `hotrepl._native.serve_local`
//! on one end of a socket pair. The child keeps the terminal as its stdin/stdout/stderr and
//! stays in our process group, so programs it runs can use the terminal and Ctrl-C reaches
//! it as a real SIGINT.

use std::ffi::OsString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// The fd number the kernel finds its end of the socket pair on.
const KERNEL_FD: i32 = 3;

pub struct Kernel {
    pub child: Child,
    pub stream: UnixStream,
}

/// Where the `hotrepl` Python package of this installation lives: the wheel puts this
/// binary in `<prefix>/bin` and the package in `<prefix>/lib/pythonX.Y/site-packages`.
/// `HOTREPL_PACKAGE_DIR` overrides it.
fn package_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("HOTREPL_PACKAGE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().ok()?;
    let prefix = exe.parent()?.parent()?;
    for lib in ["lib", "lib64"] {
        let Ok(entries) = std::fs::read_dir(prefix.join(lib)) else {
            continue;
        };
        let mut versions: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        versions.sort();
        for version in versions.iter().rev() {
            let candidate = version.join("site-packages").join("hotrepl");
            if candidate.join("__init__.py").is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// The interpreter to run: `--python`, else `HOTREPL_PYTHON`, else the one installed next
/// to this binary (its venv's), else `python3` from PATH.
fn default_python() -> PathBuf {
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

/// Python code run with `-c`: load the `hotrepl` package from this installation (so any
/// 3.9+ interpreter can run it) and serve. It leaves no names behind in `__main__`.
fn bootstrap(package: Option<&Path>) -> String {
    let check = "if __import__('sys').version_info < (3, 9): raise SystemExit('hotrepl: the kernel needs Python 3.9 or newer, this is ' + __import__('sys').version.split()[0])\n";
    let load = match package {
        Some(dir) => {
            let dir = python_str(&dir.display().to_string());
            format!(
                "import importlib.util as _u\n\
                 _s = _u.spec_from_file_location('hotrepl', {dir} + '/__init__.py', submodule_search_locations=[{dir}])\n\
                 __import__('sys').modules['hotrepl'] = _m = _u.module_from_spec(_s)\n\
                 _s.loader.exec_module(_m)\n\
                 del _u, _s, _m\n"
            )
        }
        None => String::new(),
    };
    format!(
        "{check}{load}__import__('sys').exit(__import__('hotrepl._native', fromlist=['_']).serve_local({KERNEL_FD}))\n"
    )
}

/// A Python string literal for `s`.
fn python_str(s: &str) -> String {
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

pub fn spawn(python: Option<&Path>) -> io::Result<Kernel> {
    let python = python.map(Path::to_path_buf).unwrap_or_else(default_python);
    let (ours, theirs) = UnixStream::pair()?;
    let theirs_fd = theirs.as_raw_fd();
    let mut command = Command::new(&python);
    command
        .arg("-c")
        .arg(OsString::from(bootstrap(package_dir().as_deref())));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if theirs_fd == KERNEL_FD {
                let flags = libc::fcntl(KERNEL_FD, libc::F_GETFD);
                libc::fcntl(KERNEL_FD, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
            } else if libc::dup2(theirs_fd, KERNEL_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            // If the client dies without a word, the kernel goes too.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let child = command
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot start {}: {e}", python.display())))?;
    drop(theirs);
    Ok(Kernel { child, stream: ours })
}
