//! Input that is not a terminal (`hotrepl < script.py`, `echo ... | hotrepl`): each line is
//! taken as if typed at the prompt, without prompts or editing, so a cell runs when the
//! kernel says it is complete — the same rule as pressing Enter.

use std::io::BufRead;

use crate::connection::{Connection, RequestError};
use crate::editor;
use crate::repl::Ended;
use crate::session::{CellEnd, Session};

pub fn run(session: &mut Session) -> Ended {
    let stdin = std::io::stdin();
    let mut cells = Cells::default();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        match cells.push(&session.conn, &line) {
            Ok(Some(cell)) => {
                if let Some(end) = run_cell(session, &cell) {
                    return end;
                }
            }
            Ok(None) => {}
            Err(e) => return Ended::Gone(e.to_string()),
        }
    }
    let rest = cells.take_rest();
    if !rest.trim().is_empty() {
        if let Some(end) = run_cell(session, &rest) {
            return end;
        }
    }
    session.shut_down();
    Ended::Exit(0)
}

/// Lines gathered into cells by the rule Enter follows.
#[derive(Default)]
pub struct Cells {
    cell: String,
}

impl Cells {
    /// Adds a line; returns the cell it completes, if it completes one.
    pub fn push(&mut self, conn: &Connection, line: &str) -> Result<Option<String>, RequestError> {
        if !self.cell.is_empty() {
            self.cell.push('\n');
        }
        self.cell.push_str(line);
        if self.cell.trim().is_empty() {
            self.cell.clear();
            return Ok(None);
        }
        Ok(editor::is_complete(conn, &self.cell)?.then(|| std::mem::take(&mut self.cell)))
    }

    /// The lines of a cell not complete yet.
    pub fn take_rest(&mut self) -> String {
        std::mem::take(&mut self.cell)
    }
}

/// Runs a cell and shows what follows it; `Some` if the session ended.
pub fn run_cell(session: &mut Session, code: &str) -> Option<Ended> {
    match session.run_cell(code) {
        CellEnd::Ok | CellEnd::Failed => {
            session.show_queued();
            None
        }
        CellEnd::Exit(status) => {
            session.wait_closed();
            Some(Ended::Exit(status))
        }
        CellEnd::Gone(reason) => Some(Ended::Gone(reason)),
    }
}
