//! `hotrepl exec TARGET CODE`: runs one cell in a live process and prints what it prints
//! (its stdout on ours, its stderr and traceback on our stderr). Exits 0 if the cell ran,
//! 1 if it raised (Ctrl-C interrupts it remotely: KeyboardInterrupt), the status it gave
//! `SystemExit`, and 2 if it could not run at all. `input()` in the cell reads our stdin.

use crate::events::Events;
use crate::session::{CellEnd, Session};
use crate::target::{self, Target};

pub fn run(target: &Target, code: &str, token: Option<String>) -> Result<i32, String> {
    let opened = target::connect(target, token)?;
    let events = Events::new().map_err(|e| format!("cannot set up: {e}"))?;
    let conn = opened.start(events.clone()).map_err(|e| e.to_string())?;
    let mut session = Session::new(conn, events, false);
    match session.run_cell(code) {
        CellEnd::Ok => {
            session.shut_down();
            Ok(0)
        }
        CellEnd::Failed => {
            session.shut_down();
            Ok(1)
        }
        CellEnd::Exit(status) => {
            session.wait_closed();
            Ok(status)
        }
        CellEnd::Gone(reason) => Err(reason),
    }
}
