//! Reading the history: one [`Query`] type for every reader (the CLI's search, the editor's
//! Up and Ctrl-R, `%history`, Jupyter's `history_request`).
//!
//! Filters that SQLite can apply on the narrow `cells` table (text, session, counts, time,
//! target) are SQL; a regular expression, `unique` and the limit are applied to the rows as
//! they stream out, so a search that wants the last few matches stops reading early.

use std::collections::HashSet;

use regex::Regex;
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row};

use crate::record::{Capped, CellError, Outputs, Place, PlaceKind, Status};
use crate::store::Store;

/// How a cell's input must match.
#[derive(Debug, Clone)]
pub enum TextMatch {
    Substring(String),
    Prefix(String),
    Exact(String),
    /// A glob (`*`, `?`, `[...]`) matched against the whole input, case-sensitive: what
    /// IPython and Jupyter's `history_request` mean by a pattern.
    Glob(String),
    Regex(Regex),
}

/// Which program (or REPL) cells ran in.
#[derive(Debug, Clone)]
pub enum Target {
    Pid(u32),
    /// A substring of the program's command line.
    Program(String),
    /// The same target as this place: the same program (by its command line) on the same
    /// host, whatever its pid (a program restarts under a new one); for the local REPL, any
    /// local REPL on the same host.
    SameAs(Place),
}

#[derive(Debug, Clone, Default)]
pub struct Query {
    pub text: Option<TextMatch>,
    /// Leaves out cells whose input is exactly this.
    pub not_input: Option<String>,
    /// Only this session (by number).
    pub session: Option<i64>,
    /// Leaves out this session (by id).
    pub exclude_session: Option<String>,
    /// Execution counts from `.0` on, up to (not including) `.1`.
    pub counts: Option<(u64, Option<u64>)>,
    pub target: Option<Target>,
    /// Cells started at or after this time (µs since the epoch).
    pub since_us: Option<i64>,
    /// Cells recorded before (after) the cell with this id.
    pub before_id: Option<i64>,
    pub after_id: Option<i64>,
    /// Rows are read newest first (the limit then keeps the most recent).
    pub newest_first: bool,
    pub limit: Option<usize>,
    /// One cell per distinct input: the first one read.
    pub unique: bool,
    /// With their outputs.
    pub outputs: bool,
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub number: i64,
    pub id: String,
    pub started_us: i64,
    pub place: Place,
}

/// A cell as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCell {
    pub id: i64,
    pub session: StoredSession,
    pub count: u64,
    pub input: String,
    pub started_us: i64,
    pub duration_us: i64,
    pub status: Status,
    /// Present when the query asked for outputs.
    pub outputs: Option<Outputs>,
}

const SESSION_COLUMNS: &str = "s.number, s.id, s.started, s.kind, s.pid, s.program, s.host, s.address";

fn session_from(row: &Row<'_>, at: usize) -> rusqlite::Result<StoredSession> {
    let kind: String = row.get(at + 3)?;
    Ok(StoredSession {
        number: row.get(at)?,
        id: row.get(at + 1)?,
        started_us: row.get(at + 2)?,
        place: Place {
            kind: PlaceKind::parse(&kind),
            pid: row.get(at + 4)?,
            program: row.get(at + 5)?,
            host: row.get(at + 6)?,
            address: row.get(at + 7)?,
        },
    })
}

fn outputs_from(row: &Row<'_>, at: usize) -> rusqlite::Result<Outputs> {
    let capped = |text: usize| -> rusqlite::Result<Option<Capped>> {
        let omitted: Option<i64> = row.get(at + text + 1)?;
        Ok(row.get::<_, Option<String>>(at + text)?.map(|text| Capped {
            text,
            omitted: omitted.unwrap_or(0) as u64,
        }))
    };
    let ename: Option<String> = row.get(at + 6)?;
    Ok(Outputs {
        stdout: capped(0)?.unwrap_or_default(),
        stderr: capped(2)?.unwrap_or_default(),
        result: capped(4)?,
        error: match ename {
            Some(ename) => Some(CellError {
                ename,
                evalue: row.get::<_, Option<String>>(at + 7)?.unwrap_or_default(),
                traceback: capped(8)?.unwrap_or_default(),
            }),
            None => None,
        },
    })
}

/// SQL `WHERE` terms and their parameters.
#[derive(Default)]
struct Filter {
    terms: Vec<String>,
    params: Vec<Value>,
}

impl Filter {
    /// A term with `?` placeholders, and their values in order (SQLite binds anonymous
    /// parameters in the order they appear, which is the order terms are added in).
    fn add(&mut self, term: &str, values: impl IntoIterator<Item = Value>) {
        self.terms.push(term.to_owned());
        self.params.extend(values);
    }

    fn sql(&self) -> String {
        if self.terms.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.terms.join(" AND "))
        }
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn int(n: i64) -> Value {
    Value::Integer(n)
}

impl Query {
    fn filter(&self) -> Filter {
        let mut f = Filter::default();
        match &self.text {
            Some(TextMatch::Substring(s)) => f.add("instr(c.input, ?) > 0", [text(s)]),
            Some(TextMatch::Prefix(s)) => f.add("substr(c.input, 1, ?) = ?", [int(s.chars().count() as i64), text(s)]),
            Some(TextMatch::Exact(s)) => f.add("c.input = ?", [text(s)]),
            Some(TextMatch::Glob(s)) => f.add("c.input GLOB ?", [text(s)]),
            Some(TextMatch::Regex(_)) | None => {}
        }
        if let Some(s) = &self.not_input {
            f.add("c.input != ?", [text(s)]);
        }
        if let Some(n) = self.session {
            f.add("c.session = ?", [int(n)]);
        }
        if let Some(id) = &self.exclude_session {
            f.add("s.id != ?", [text(id)]);
        }
        if let Some((start, stop)) = self.counts {
            f.add("c.count >= ?", [int(start as i64)]);
            if let Some(stop) = stop {
                f.add("c.count < ?", [int(stop as i64)]);
            }
        }
        match &self.target {
            Some(Target::Pid(pid)) => f.add("s.pid = ?", [int(i64::from(*pid))]),
            Some(Target::Program(p)) => f.add("instr(s.program, ?) > 0", [text(p)]),
            Some(Target::SameAs(place)) => {
                let kinds = match place.kind {
                    PlaceKind::Attached | PlaceKind::Embedded => "('attached', 'embedded')",
                    PlaceKind::Local => "('local')",
                    PlaceKind::Imported => "('imported')",
                };
                f.add(
                    &format!("s.kind IN {kinds} AND s.host = ? AND s.program = ?"),
                    [text(&place.host), text(&place.program)],
                );
            }
            None => {}
        }
        if let Some(t) = self.since_us {
            f.add("c.started >= ?", [int(t)]);
        }
        if let Some(id) = self.before_id {
            f.add("c.id < ?", [int(id)]);
        }
        if let Some(id) = self.after_id {
            f.add("c.id > ?", [int(id)]);
        }
        f
    }
}

impl Store {
    /// The cells `query` asks for, in the order it reads them.
    pub fn cells(&self, query: &Query) -> rusqlite::Result<Vec<StoredCell>> {
        let filter = query.filter();
        let (output_columns, output_join) = if query.outputs {
            (
                ", o.stdout, o.stdout_omitted, o.stderr, o.stderr_omitted, o.result, o.result_omitted, \
                 o.ename, o.evalue, o.traceback, o.traceback_omitted",
                "LEFT JOIN outputs o ON o.cell = c.id",
            )
        } else {
            ("", "")
        };
        // Without a regex or `unique` to apply here, SQLite can stop at the limit itself.
        let sql_limit = match (query.limit, &query.text, query.unique) {
            (Some(n), text, false) if !matches!(text, Some(TextMatch::Regex(_))) => format!("LIMIT {n}"),
            _ => String::new(),
        };
        let sql = format!(
            "SELECT c.id, c.count, c.input, c.started, c.duration, c.status, {SESSION_COLUMNS}{output_columns}
             FROM cells c JOIN sessions s ON s.number = c.session {output_join}
             {} ORDER BY c.id {} {sql_limit}",
            filter.sql(),
            if query.newest_first { "DESC" } else { "ASC" },
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let mut rows = statement.query(rusqlite::params_from_iter(filter.params.iter()))?;
        let regex = match &query.text {
            Some(TextMatch::Regex(r)) => Some(r),
            _ => None,
        };
        let mut seen = HashSet::new();
        let mut found = Vec::new();
        while let Some(row) = rows.next()? {
            if query.limit.is_some_and(|n| found.len() >= n) {
                break;
            }
            let input: String = row.get(2)?;
            if regex.is_some_and(|r| !r.is_match(&input)) {
                continue;
            }
            if query.unique && !seen.insert(input.clone()) {
                continue;
            }
            let status: String = row.get(5)?;
            found.push(StoredCell {
                id: row.get(0)?,
                count: row.get::<_, i64>(1)? as u64,
                input,
                started_us: row.get(3)?,
                duration_us: row.get(4)?,
                status: Status::parse(&status),
                session: session_from(row, 6)?,
                outputs: if query.outputs {
                    Some(outputs_from(row, 14)?)
                } else {
                    None
                },
            });
        }
        Ok(found)
    }

    /// The session recorded under `id`, if it has recorded a cell.
    pub fn session_by_id(&self, id: &str) -> rusqlite::Result<Option<StoredSession>> {
        self.conn
            .prepare_cached(&format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id = ?1"))?
            .query_row([id], |r| session_from(r, 0))
            .optional()
    }

    /// The session `back` sessions before the one numbered `before` (None: before all of
    /// them) among sessions at the same target as `place`: `~1/` in `%history`.
    pub fn earlier_session(&self, place: &Place, before: Option<i64>, back: u32) -> rusqlite::Result<Option<i64>> {
        let mut f = Query {
            target: Some(Target::SameAs(place.clone())),
            ..Query::default()
        }
        .filter();
        f.add("s.number < ?", [int(before.unwrap_or(i64::MAX))]);
        let sql = format!(
            "SELECT s.number FROM sessions s {} ORDER BY s.number DESC LIMIT 1 OFFSET {}",
            f.sql(),
            back.saturating_sub(1)
        );
        self.conn
            .prepare_cached(&sql)?
            .query_row(rusqlite::params_from_iter(f.params.iter()), |r| r.get(0))
            .optional()
    }
}
