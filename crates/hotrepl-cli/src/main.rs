//! `hotrepl`: an async-native Python REPL, and the client for live processes.

mod batch;
mod connection;
mod editor;
mod events;
mod highlight;
mod input;
mod kernel;
mod python;
mod render;
mod repl;
mod session;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::connection::Connection;
use crate::events::Events;
use crate::repl::Ended;
use crate::session::Session;

/// An async-native Python REPL: top-level `await`, and an event loop that keeps running
/// between prompts.
#[derive(Parser)]
#[command(name = "hotrepl", version, about, long_about = None)]
struct Cli {
    /// Python interpreter to run the REPL's kernel with (3.9 or newer).
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let status = match local_repl(cli.python) {
        Ok(status) => status,
        Err(message) => {
            eprintln!("hotrepl: {message}");
            2
        }
    };
    ExitCode::from(status.clamp(0, 255) as u8)
}

/// How long a kernel that was told to exit gets before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(3);

fn local_repl(python: Option<PathBuf>) -> Result<i32, String> {
    let events = Events::new().map_err(|e| format!("cannot set up: {e}"))?;
    let mut kernel = kernel::spawn(python.as_deref()).map_err(|e| e.to_string())?;
    let stream = kernel.stream.try_clone().map_err(|e| e.to_string())?;
    let conn = Connection::start(stream, events.clone()).map_err(|e| e.to_string())?;
    let mut session = Session::new(conn, events, true);
    let ended = if std::io::stdin().is_terminal() {
        repl::run(&mut session)
    } else {
        batch::run(&mut session)
    };
    let status = wait_for_exit(&mut kernel.child);
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
