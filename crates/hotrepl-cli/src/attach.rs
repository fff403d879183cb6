//! `hotrepl attach TARGET`: a session in a live process, with the local REPL's prompt (or,
//! when stdin is not a terminal, its lines run as if typed). Ctrl-C interrupts the cell in
//! the process; Ctrl-D or `exit()` end only this session, and the program keeps running.

use hotrepl_config::Config;

use crate::events::Events;
use crate::repl::{self, Ended};
use crate::session::Session;
use crate::target::{self, Target};

/// The session's status (`exit(n)` gives n), or why it was lost.
pub fn run(target: &Target, token: Option<String>, config: Config) -> Result<i32, String> {
    let mut session = open(target, token, config)?;
    let ended = repl::run_on_stdin(&mut session);
    match ended {
        Ended::Exit(status) => Ok(status),
        Ended::Gone(reason) => Err(reason),
    }
}

/// A session in the process at `target` (`token`: see [`target::connect`]).
pub fn open(target: &Target, token: Option<String>, config: Config) -> Result<Session, String> {
    let opened = target::connect(target, token)?;
    // Only now: until the handshake is done, Ctrl-C simply ends this command.
    let events = Events::new().map_err(|e| format!("cannot set up: {e}"))?;
    let conn = opened.start(events.clone()).map_err(|e| e.to_string())?;
    Ok(Session::new(conn, events, false, config))
}
