//! `hotrepl kernel install | uninstall | list`: the Jupyter kernelspec that lets JupyterLab,
//! Notebook, `jupyter console`, nbconvert and VS Code start hotrepl kernels. A kernelspec is
//! a directory named after the kernel, holding `kernel.json` (how to start it) and logos,
//! in one of the directories Jupyter searches: the user's (`~/.local/share/jupyter/kernels`,
//! or under `$JUPYTER_DATA_DIR`), or an environment's (`<sys.prefix>/share/jupyter/kernels`).
//!
//! The kernel is the chosen Python running `hotrepl._native.serve_kernel` on the connection
//! file Jupyter writes; like the local REPL's kernel it may be any CPython 3.9+, which loads
//! this installation's `hotrepl` package.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use hotrepl_proto::jupyter::KERNEL_NAME;

use crate::python;

const LOGOS: [(&str, &[u8]); 3] = [
    ("logo-32x32.png", include_bytes!("../assets/logo-32x32.png")),
    ("logo-64x64.png", include_bytes!("../assets/logo-64x64.png")),
    ("logo-svg.svg", include_bytes!("../assets/logo-svg.svg")),
];

#[derive(Args)]
pub struct KernelArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Install the kernelspec (for this user unless --sys-prefix).
    Install(Location),
    /// Remove an installed kernelspec.
    Uninstall(Location),
    /// List the hotrepl kernels Jupyter finds: name, Python, directory.
    List,
}

#[derive(Args)]
struct Location {
    /// In this user's Jupyter directory (the default).
    #[arg(long, conflicts_with = "sys_prefix")]
    user: bool,
    /// In the environment of the kernel's Python (`<sys.prefix>/share/jupyter`).
    #[arg(long)]
    sys_prefix: bool,
    /// The kernel's name (what `jupyter console --kernel NAME` takes).
    #[arg(long, default_value = KERNEL_NAME)]
    name: String,
}

pub fn run(args: &KernelArgs, python: Option<&Path>) -> Result<i32, String> {
    let place = |l: &Location| if l.sys_prefix { Place::SysPrefix } else { Place::User };
    match &args.action {
        Action::Install(l) => install(place(l), &l.name, python),
        Action::Uninstall(l) => uninstall(place(l), &l.name, python),
        Action::List => list(python),
    }
}

/// Where a kernelspec goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// This user's Jupyter data directory.
    User,
    /// The environment of the kernel's Python (`sys.prefix`).
    SysPrefix,
}

fn install(place: Place, name: &str, python: Option<&Path>) -> Result<i32, String> {
    check_name(name)?;
    let info = describe(&python::interpreter(python))?;
    let interpreter = info.executable.clone();
    let dir = kernels_dir(place, &interpreter)?.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let serve = "__import__('sys').exit(__import__('hotrepl._native', fromlist=['_']).serve_kernel(__import__('sys').argv[1]))\n";
    let spec = json!({
        "argv": [interpreter.display().to_string(), "-c", python::program(serve), "{connection_file}"],
        "display_name": format!("Python {} (hotrepl)", info.version),
        "language": "python",
        "interrupt_mode": "message",
        "kernel_protocol_version": hotrepl_proto::JUPYTER_PROTOCOL_VERSION,
        "metadata": {"hotrepl": env!("CARGO_PKG_VERSION"), "debugger": false},
    });
    write(
        &dir.join("kernel.json"),
        serde_json::to_string_pretty(&spec).unwrap_or_default().as_bytes(),
    )?;
    for (file, bytes) in LOGOS {
        write(&dir.join(file), bytes)?;
    }
    println!(
        "Installed the Jupyter kernel {name:?} ({}) in {}",
        interpreter.display(),
        dir.display()
    );
    Ok(0)
}

fn uninstall(place: Place, name: &str, python: Option<&Path>) -> Result<i32, String> {
    check_name(name)?;
    let dir = kernels_dir(place, &python::interpreter(python))?.join(name);
    match read_spec(&dir) {
        Some(spec) if is_ours(&spec) => {}
        Some(_) => return Err(format!("{} is not a hotrepl kernel: left alone", dir.display())),
        None => {
            return Err(format!(
                "no kernel {name:?} in {}",
                dir.parent().unwrap_or(&dir).display()
            ))
        }
    }
    std::fs::remove_dir_all(&dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
    println!("Removed the Jupyter kernel {name:?} from {}", dir.display());
    Ok(0)
}

/// The hotrepl kernels Jupyter can find, one per line: name, Python, directory.
fn list(python: Option<&Path>) -> Result<i32, String> {
    let mut out = String::new();
    for dir in search_path(python) {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut found: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        found.sort();
        for spec_dir in found {
            let Some(spec) = read_spec(&spec_dir).filter(is_ours) else {
                continue;
            };
            let name = spec_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let python = spec["argv"][0].as_str().unwrap_or("?");
            out.push_str(&format!("{name}  {python}  {}\n", spec_dir.display()));
        }
    }
    // A reader that left early is no error.
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(0)
}

/// Jupyter looks kernels up by directory name: keep it to what it accepts.
fn check_name(name: &str) -> Result<(), String> {
    let fine = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if fine {
        Ok(())
    } else {
        Err(format!(
            "{name:?} cannot name a kernel: use letters, digits, '.', '_' and '-'"
        ))
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn read_spec(dir: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(dir.join("kernel.json")).ok()?).ok()
}

fn is_ours(spec: &Value) -> bool {
    spec["metadata"].get("hotrepl").is_some()
}

/// What install needs to know of the kernel's Python.
struct PythonInfo {
    /// Its full path, as it knows it (a venv's own, not the interpreter it links to).
    executable: PathBuf,
    version: String,
    prefix: PathBuf,
}

fn describe(interpreter: &Path) -> Result<PythonInfo, String> {
    let out = Command::new(interpreter)
        .args([
            "-c",
            "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2]); print(sys.prefix)",
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", interpreter.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    match (out.status.success(), lines.next(), lines.next(), lines.next()) {
        (true, Some(executable), Some(version), Some(prefix)) if !executable.is_empty() => Ok(PythonInfo {
            executable: PathBuf::from(executable),
            version: version.to_owned(),
            prefix: PathBuf::from(prefix),
        }),
        _ => Err(format!("{} is not a working Python", interpreter.display())),
    }
}

/// This user's Jupyter data directory, as Jupyter finds it on Linux.
fn user_data_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("JUPYTER_DATA_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(data).join("jupyter"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share/jupyter"))
}

fn kernels_dir(place: Place, interpreter: &Path) -> Result<PathBuf, String> {
    match place {
        Place::User => user_data_dir()
            .map(|d| d.join("kernels"))
            .ok_or_else(|| "no home directory: pass --sys-prefix".to_owned()),
        Place::SysPrefix => Ok(describe(interpreter)?.prefix.join("share/jupyter/kernels")),
    }
}

/// The kernel directories Jupyter searches, in its order: `$JUPYTER_PATH`, the user's, the
/// environment's (of `--python`, else of this installation), then the system's.
fn search_path(python: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("JUPYTER_PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(user_data_dir());
    if let Ok(info) = describe(&python::interpreter(python)) {
        dirs.push(info.prefix.join("share/jupyter"));
    }
    dirs.push("/usr/local/share/jupyter".into());
    dirs.push("/usr/share/jupyter".into());
    let mut kernels: Vec<PathBuf> = Vec::new();
    for dir in dirs.into_iter().map(|d| d.join("kernels")) {
        if !kernels.contains(&dir) {
            kernels.push(dir);
        }
    }
    kernels
}
