//! `history_request`: Jupyter's access to history, answered from the history database
//! (needs no interpreter).
//!
//! - `tail`: the last `n` cells of all sessions.
//! - `range`: cells `start` up to (not including) `stop` (0: to the end) of `session`:
//!   0 is this one, -1 the one before it at this target, a positive number that session.
//! - `search`: the last `n` cells (0: all) whose input matches the glob `pattern`.
//!
//! Each entry is `[session, count, input]`, or with `output` `[session, count, [input,
//! value]]` where value is the result's text/plain (null without one). Sessions are
//! numbered as `hotrepl history` and `%history` show them.

use hotrepl_history::{Query, SqlError, StoredCell, TextMatch};
use hotrepl_proto::{HistoryAccess, HistoryReply, HistoryRequest, ReplyStatus};
use serde_json::{json, Value};

use crate::history::open_for_reading;
use crate::session::Session;

pub fn reply(session: &Session, request: &HistoryRequest) -> HistoryReply {
    match entries(session, request) {
        Ok(history) => HistoryReply {
            status: ReplyStatus::Ok,
            history,
        },
        Err(_) => HistoryReply {
            status: ReplyStatus::Error,
            history: Vec::new(),
        },
    }
}

fn entries(session: &Session, request: &HistoryRequest) -> Result<Vec<Value>, String> {
    let store = open_for_reading()?;
    let log = &session.io.history;
    let read = |e: SqlError| e.to_string();
    let last = |n: i64| (n > 0).then_some(n as usize);
    let query = Query {
        unique: request.unique,
        outputs: request.output,
        newest_first: true,
        ..Query::default()
    };
    let query = match request.hist_access_type {
        HistoryAccess::Tail => Query {
            limit: Some(request.n.max(0) as usize),
            ..query
        },
        HistoryAccess::Search => Query {
            text: Some(TextMatch::Glob(request.pattern.clone())),
            limit: last(request.n),
            ..query
        },
        HistoryAccess::Range => {
            let current = store.session_by_id(log.id()).map_err(read)?.map(|s| s.number);
            let number = match request.session {
                0 => current,
                n if n < 0 => store
                    .earlier_session(&log.place(), current, n.unsigned_abs() as u32)
                    .map_err(read)?,
                n => Some(n),
            };
            // A session that has recorded nothing has nothing to give.
            let Some(number) = number else { return Ok(Vec::new()) };
            Query {
                session: Some(number),
                counts: Some((request.start.max(0) as u64, last(request.stop).map(|s| s as u64))),
                ..query
            }
        }
    };
    let mut cells = store.cells(&query).map_err(read)?;
    cells.reverse();
    Ok(cells.iter().map(|cell| entry(cell, request.output)).collect())
}

fn entry(cell: &StoredCell, output: bool) -> Value {
    if !output {
        return json!([cell.session.number, cell.count, cell.input]);
    }
    let value = cell
        .outputs
        .as_ref()
        .and_then(|o| o.result.as_ref())
        .map(|r| r.text.clone());
    json!([cell.session.number, cell.count, [cell.input, value]])
}
