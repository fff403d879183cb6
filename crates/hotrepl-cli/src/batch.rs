//! Input that is not a terminal (`hotrepl < script.py`, `echo ... | hotrepl`): each line is
//! taken as if typed at the prompt, without prompts or editing, so a cell runs when the
//! kernel says it is complete — the same rule as pressing Enter.

use std::io::BufRead;

use hotrepl_proto::{Completeness, Content, IsCompleteRequest};

use crate::repl::Ended;
use crate::session::{CellEnd, Session};

const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub fn run(session: &mut Session) -> Ended {
    let stdin = std::io::stdin();
    let mut cell = String::new();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if !cell.is_empty() {
            cell.push('\n');
        }
        cell.push_str(&line);
        if cell.trim().is_empty() {
            cell.clear();
            continue;
        }
        let complete = match session
            .conn
            .request(IsCompleteRequest { code: cell.clone() }, ANSWER_TIMEOUT)
        {
            Ok(reply) => !matches!(reply.content, Content::IsCompleteReply(r) if r.status == Completeness::Incomplete),
            Err(e) => return Ended::Gone(e.to_string()),
        };
        if complete {
            if let Some(end) = run_cell(session, &std::mem::take(&mut cell)) {
                return end;
            }
        }
    }
    if !cell.trim().is_empty() {
        if let Some(end) = run_cell(session, &cell) {
            return end;
        }
    }
    session.shut_down();
    Ended::Exit(0)
}

fn run_cell(session: &mut Session, code: &str) -> Option<Ended> {
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
