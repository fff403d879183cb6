//! What Up, Down and Ctrl-R go through: whole cells (a multi-line cell is one entry),
//! newest first — this session's cells, then every other session's from the history
//! database (the local REPL's earlier runs, attached sessions, ...).
//!
//! The editor records nothing: the kernel that runs a cell records it. This session's cells
//! are kept as they were submitted here (so Up finds the last one at once, before the kernel
//! has written it); the database is read for the others, leaving out this session's cells
//! by the id the kernel gives in `kernel_info_reply`, asked for on first use.
//!
//! Ids: a stored cell keeps its id in the database; this session's cells come after all of
//! them, from `OWN_BASE` up, so that ordering by id is the order cells are offered in.

use std::cell::OnceCell;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::Duration;

use hotrepl_history::{paths, Query, Store, StoredCell, TextMatch};
use hotrepl_proto::{Content, KernelInfoRequest};
use reedline::{
    CommandLineSearch, History, HistoryItem, HistoryItemId, HistorySessionId, ReedlineError, ReedlineErrorVariants,
    SearchDirection, SearchQuery,
};

use crate::connection::Connection;

/// Where this session's ids start: above any id the database will hand out.
const OWN_BASE: i64 = 1 << 62;
const KERNEL_INFO_TIMEOUT: Duration = Duration::from_secs(3);

pub struct EditorHistory {
    conn: Arc<Connection>,
    /// Cells submitted in this session, oldest first.
    own: Vec<String>,
    /// Opened on first use (None: there is no usable database).
    store: OnceCell<Option<Store>>,
    /// This session's id in the database, asked of the kernel on first use.
    session: OnceCell<Option<String>>,
    /// Where warnings go: printed above the prompt.
    printer: SyncSender<String>,
    /// How many of the latest stored cells Up and Ctrl-R reach (the `history_size` option).
    reach: usize,
    /// The id of the oldest of those, found on first use.
    oldest_reached: OnceCell<i64>,
}

impl EditorHistory {
    pub fn new(conn: Arc<Connection>, printer: SyncSender<String>, reach: usize) -> EditorHistory {
        EditorHistory {
            conn,
            own: Vec::new(),
            store: OnceCell::new(),
            session: OnceCell::new(),
            printer,
            reach,
            oldest_reached: OnceCell::new(),
        }
    }

    /// The id below which stored cells are out of reach (0: none is).
    fn oldest_reached(&self, store: &Store) -> i64 {
        *self.oldest_reached.get_or_init(|| {
            let newest = Query {
                newest_first: true,
                limit: Some(1),
                ..Query::default()
            };
            let newest_id = store
                .cells(&newest)
                .ok()
                .and_then(|c| c.first().map(|c| c.id))
                .unwrap_or(0);
            newest_id.saturating_sub(i64::try_from(self.reach).unwrap_or(i64::MAX))
        })
    }

    fn store(&self) -> Option<&Store> {
        self.store
            .get_or_init(|| {
                let path = paths::database()?;
                let warn = |w: &str| {
                    let _ = self.printer.try_send(format!("hotrepl: {w}"));
                };
                Store::open(&path, paths::legacy_file().as_deref(), &warn)
                    .map_err(|e| warn(&format!("the history of earlier sessions is not available: {e}")))
                    .ok()
            })
            .as_ref()
    }

    fn session(&self) -> Option<&String> {
        self.session
            .get_or_init(|| match self.conn.request(KernelInfoRequest {}, KERNEL_INFO_TIMEOUT) {
                Ok(reply) => match reply.content {
                    Content::KernelInfoReply(info) => info.history_session,
                    _ => None,
                },
                Err(_) => None,
            })
            .as_ref()
    }

    /// This session's cells with ids in `(after, before)` that match, in `direction`.
    fn own_cells(
        &self,
        after: i64,
        before: i64,
        matches: &dyn Fn(&str) -> bool,
        direction: SearchDirection,
    ) -> Vec<HistoryItem> {
        let found = self
            .own
            .iter()
            .enumerate()
            .map(|(i, cell)| (OWN_BASE + i as i64, cell))
            .filter(|&(id, cell)| id > after && id < before && matches(cell))
            .map(|(id, cell)| item(id, cell.clone()));
        match direction {
            SearchDirection::Backward => found.rev().collect(),
            SearchDirection::Forward => found.collect(),
        }
    }

    /// Other sessions' cells with ids in `(after, before)` that match, in `direction`.
    fn stored_cells(
        &self,
        after: i64,
        before: i64,
        text: Option<TextMatch>,
        not_input: Option<String>,
        direction: SearchDirection,
        limit: Option<usize>,
    ) -> Result<Vec<HistoryItem>, ReedlineError> {
        if after >= OWN_BASE - 1 || limit == Some(0) {
            return Ok(Vec::new());
        }
        let Some(store) = self.store() else {
            return Ok(Vec::new());
        };
        let query = Query {
            text,
            not_input,
            exclude_session: self.session().cloned(),
            after_id: Some(after.max(self.oldest_reached(store))),
            before_id: Some(before.min(OWN_BASE)),
            newest_first: direction == SearchDirection::Backward,
            limit,
            ..Query::default()
        };
        let cells = store
            .cells(&query)
            .map_err(|_| ReedlineError(ReedlineErrorVariants::OtherHistoryError("cannot read the history")))?;
        Ok(cells
            .into_iter()
            .map(|StoredCell { id, input, .. }| item(id, input))
            .collect())
    }
}

fn item(id: i64, cell: String) -> HistoryItem {
    HistoryItem {
        id: Some(HistoryItemId::new(id)),
        ..HistoryItem::from_command_line(cell)
    }
}

fn unsupported(feature: &'static str) -> ReedlineError {
    ReedlineError(ReedlineErrorVariants::HistoryFeatureUnsupported {
        history: "hotrepl's history",
        feature,
    })
}

impl History for EditorHistory {
    /// Keeps a submitted cell for this session's Up (not twice in a row, not blank ones).
    fn save(&mut self, h: HistoryItem) -> reedline::Result<HistoryItem> {
        let cell = h.command_line;
        if cell.trim().is_empty() || self.own.last() == Some(&cell) {
            return Ok(HistoryItem::from_command_line(cell));
        }
        self.own.push(cell.clone());
        Ok(item(OWN_BASE + self.own.len() as i64 - 1, cell))
    }

    fn load(&self, id: HistoryItemId) -> reedline::Result<HistoryItem> {
        let found = if id.0 >= OWN_BASE {
            self.own
                .get((id.0 - OWN_BASE) as usize)
                .map(|cell| item(id.0, cell.clone()))
        } else {
            self.stored_cells(id.0 - 1, id.0 + 1, None, None, SearchDirection::Forward, Some(1))?
                .pop()
        };
        found.ok_or(ReedlineError(ReedlineErrorVariants::OtherHistoryError(
            "no such cell in the history",
        )))
    }

    fn count(&self, query: SearchQuery) -> reedline::Result<i64> {
        Ok(self.search(query)?.len() as i64)
    }

    /// Cells in the query's direction from its start id, matching its text. Up skips cells
    /// equal to the one shown (the one at the start id), as a shell skips duplicates.
    fn search(&self, query: SearchQuery) -> reedline::Result<Vec<HistoryItem>> {
        let (from, to) = (query.start_id.map(|i| i.0), query.end_id.map(|i| i.0));
        let (after, before) = match query.direction {
            SearchDirection::Backward => (to.unwrap_or(0), from.unwrap_or(i64::MAX)),
            SearchDirection::Forward => (from.unwrap_or(0), to.unwrap_or(i64::MAX)),
        };
        let shown = match query.start_id {
            Some(id) => self.load(id).ok().map(|h| h.command_line),
            None => None,
        };
        let text = match query.filter.command_line {
            Some(CommandLineSearch::Prefix(p)) => Some(TextMatch::Prefix(p)),
            Some(CommandLineSearch::Substring(s)) => Some(TextMatch::Substring(s)),
            Some(CommandLineSearch::Exact(e)) => Some(TextMatch::Exact(e)),
            None => None,
        };
        let matches = |cell: &str| {
            shown.as_deref() != Some(cell)
                && match &text {
                    Some(TextMatch::Prefix(p)) => cell.starts_with(p.as_str()),
                    Some(TextMatch::Substring(s)) => cell.contains(s.as_str()),
                    Some(TextMatch::Exact(e)) => cell == e,
                    _ => true,
                }
        };
        let limit = query.limit.map(|n| n.max(0) as usize);
        let own = self.own_cells(after, before, &matches, query.direction);
        let stored = |limit: Option<usize>| {
            self.stored_cells(after, before, text.clone(), shown.clone(), query.direction, limit)
        };
        let mut found = match query.direction {
            SearchDirection::Backward => {
                let left = limit.map(|n| n.saturating_sub(own.len()));
                let mut found = own;
                found.extend(stored(left)?);
                found
            }
            SearchDirection::Forward => {
                let mut found = stored(limit)?;
                found.extend(own);
                found
            }
        };
        if let Some(n) = limit {
            found.truncate(n);
        }
        Ok(found)
    }

    fn update(&mut self, _id: HistoryItemId, _updater: &dyn Fn(HistoryItem) -> HistoryItem) -> reedline::Result<()> {
        Err(unsupported("updating cells"))
    }

    fn clear(&mut self) -> reedline::Result<()> {
        Err(unsupported("clearing (hotrepl history keeps every cell)"))
    }

    fn delete(&mut self, _h: HistoryItemId) -> reedline::Result<()> {
        Err(unsupported("deleting cells"))
    }

    /// Nothing to write: the kernel records cells.
    fn sync(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    fn session(&self) -> Option<HistorySessionId> {
        None
    }
}
