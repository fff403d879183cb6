//! `hotrepl`: an async-native Python REPL, and the client for live processes.

mod ask;
mod attach;
mod batch;
mod connection;
mod editor;
mod editor_history;
mod elapsed;
mod events;
mod exec;
mod hangup;
mod highlight;
mod history;
mod images;
mod input;
mod kernel;
mod kernelspec;
mod paint;
mod ps;
mod python;
mod records;
mod reload;
mod render;
mod repl;
mod run;
mod session;
mod settings;
mod target;
mod typeahead;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use hotrepl_config::Config;

use crate::connection::Connection;
use crate::events::Events;
use crate::repl::Ended;
use crate::session::Session;
use crate::target::Target;
use hotrepl_proto::socket::Socket;

/// An async-native Python REPL: top-level `await`, and an event loop that keeps running
/// between prompts. With a command, the client for live processes.
#[derive(Parser)]
#[command(name = "hotrepl", version, about, long_about = None)]
struct Cli {
    /// Python interpreter for the REPL's kernel and for `run` (3.9 or newer).
    #[arg(long, value_name = "PATH", global = true)]
    python: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Open a session in a live process (Ctrl-D leaves it running).
    Attach {
        /// A pid, a socket path, tcp://HOST:PORT, or fd:N (a connected Unix socket).
        target: Target,
        /// The token of a TCP server (else $HOTREPL_TOKEN, else its discovery record).
        #[arg(long)]
        token: Option<String>,
    },
    /// Run one cell in a live process and print its output.
    ///
    /// Exit status: 0 it ran, 1 it raised (Ctrl-C interrupts it), n for SystemExit(n),
    /// 2 no connection (or refused, or lost).
    Exec {
        /// A pid, a socket path, tcp://HOST:PORT, or fd:N (a connected Unix socket).
        target: Target,
        /// The Python code to run.
        #[arg(allow_hyphen_values = true)]
        code: String,
        /// The token of a TCP server (else $HOTREPL_TOKEN, else its discovery record).
        #[arg(long)]
        token: Option<String>,
    },
    /// List this user's processes that can be attached to (only a header if none).
    Ps,
    /// Patch edited modules into a live program, in place, and print what changed.
    ///
    /// Exit status: 0 everything was patched, 1 something could not be (the report says
    /// what) or the new source raised (nothing changed), 2 no connection (or refused).
    Reload {
        /// A pid, a socket path, tcp://HOST:PORT, or fd:N (a connected Unix socket).
        target: Target,
        /// The modules to reload, by name (as imported in the program).
        #[arg(required = true)]
        modules: Vec<String>,
        /// Keep names whose definitions were deleted from the file.
        #[arg(long)]
        keep_deleted: bool,
        /// The token of a TCP server (else $HOTREPL_TOKEN, else its discovery record).
        #[arg(long)]
        token: Option<String>,
    },
    /// Search the cells of every session, local and attached (oldest first).
    History(history::HistoryArgs),
    /// Install, remove or list the Jupyter kernelspec (hotrepl kernels for JupyterLab,
    /// Notebook, `jupyter console`, VS Code); `--python` picks the kernel's interpreter.
    Kernel(kernelspec::KernelArgs),
    /// Run a script like `python SCRIPT ARGS...`, with hotrepl.start() called first.
    Run {
        script: PathBuf,
        /// Passed to the script.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
}

fn main() -> ExitCode {
    let matches = settings::with_switches(Cli::command()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let config = match settings::load(&matches) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("hotrepl: {message}");
            return ExitCode::from(2);
        }
    };
    let python = cli.python.as_deref();
    let status = match cli.command {
        None => local_repl(python, config),
        Some(Command::Attach { target, token }) => attach::run(&target, token, config),
        Some(Command::Exec { target, code, token }) => exec::run(&target, &code, token, config),
        Some(Command::Ps) => ps::run().map(|()| 0),
        Some(Command::Reload {
            target,
            modules,
            keep_deleted,
            token,
        }) => reload::run(&target, &modules, keep_deleted, token, config),
        Some(Command::History(args)) => history::run(&args),
        Some(Command::Kernel(args)) => kernelspec::run(&args, python),
        Some(Command::Run { script, args }) => Err(run::run(python, &script, &args)),
    };
    let status = status.unwrap_or_else(|message| {
        eprintln!("hotrepl: {message}");
        2
    });
    ExitCode::from(status.clamp(0, 255) as u8)
}

/// How long a kernel that was told to exit gets before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(3);

fn local_repl(python: Option<&Path>, config: Config) -> Result<i32, String> {
    let events = Events::new().map_err(|e| format!("cannot set up: {e}"))?;
    let kernel::Kernel { mut child, stream } = kernel::spawn(python).map_err(|e| e.to_string())?;
    let conn = Connection::start(Socket::Unix(stream), events.clone()).map_err(|e| e.to_string())?;
    let mut session = Session::new(conn, events, true, config);
    let ended = repl::run_on_stdin(&mut session);
    let status = wait_for_exit(&mut child);
    Ok(match ended {
        Ended::Exit(code) => status.and_then(|s| s.code()).unwrap_or(code),
        Ended::Gone(reason) => match status {
            Some(s) if s.code().is_some() => s.code().unwrap_or(1),
            Some(s) => {
                use std::os::unix::process::ExitStatusExt;
                eprintln!("hotrepl: the kernel died (signal {})", s.signal().unwrap_or(0));
                1
            }
            None => {
                eprintln!("hotrepl: {reason}");
                1
            }
        },
    })
}

/// Waits for the kernel to exit, killing it after a grace period.
fn wait_for_exit(child: &mut std::process::Child) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + EXIT_GRACE;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                return child.wait().ok();
            }
            Err(_) => return None,
        }
    }
}
