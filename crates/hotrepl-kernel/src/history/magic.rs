//! `%history`, as IPython users know it, read from the history database:
//!
//! ```text
//! %history [-n] [-o] [-t] [-u] [-l N] [-f FILE] [RANGE ...]
//! %history -g [PATTERN] [-n] [-o] [-t] [-u] [-l N] [-f FILE]
//! ```
//!
//! - RANGE: `4` (cell 4 of this session), `4-6` (4 to 6), `4:6` (4 and 5), `~1/` (all of
//!   the previous session at this target), `~2/7`, `~1/3-5`, and `12/` or `12/3` for
//!   session number 12 (the number `-g` shows). No range: this whole session.
//! - `-n`: with numbers (`N:` in this session, `S/N:` in others). `-o`: with outputs.
//! - `-g PATTERN`: every session's cells whose input matches the glob `*PATTERN*`
//!   (numbered `S/N:`); without PATTERN, all of them.
//! - `-t`: only cells of this target (this program, or the local REPL).
//! - `-u`: each input once (its latest run). `-l N`: only the last N.
//! - `-f FILE`: write the listing to FILE instead.
//!
//! [`history_magic`] is the magic in the shape line magics take (`(line) -> str`), for the
//! session the calling code runs in; [`magic`] is the same for a session at hand.

use std::path::PathBuf;

use hotrepl_history::{Place, Query, SqlError, Store, StoredCell, Target, TextMatch};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use super::{open_for_reading, SessionLog};

/// Why `%history` did not list anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MagicError {
    /// The arguments are wrong: a usage error, shown without a traceback.
    Usage(String),
    /// The database could not be read, or FILE written.
    Failed(String),
}

impl std::fmt::Display for MagicError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MagicError::Usage(why) => write!(f, "{why}\n{USAGE}"),
            MagicError::Failed(why) => f.write_str(why),
        }
    }
}

const USAGE: &str = "usage: %history [-n] [-o] [-t] [-u] [-l N] [-f FILE] [-g [PATTERN] | RANGE ...]";

/// Which session a range is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRef {
    Current,
    /// `~N/`: N sessions before this one, at this target.
    Back(u32),
    /// `N/`: the session numbered N.
    Number(i64),
}

/// Cells `start` up to (not including) `stop` of a session; no stop: to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub session: SessionRef,
    pub start: u64,
    pub stop: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    pub numbers: bool,
    pub outputs: bool,
    pub this_target: bool,
    pub unique: bool,
    pub limit: Option<usize>,
    /// `-g`: the pattern (empty: everything).
    pub search: Option<String>,
    pub file: Option<PathBuf>,
    pub ranges: Vec<Range>,
}

/// `%history LINE` in the session the caller runs in. Bad arguments raise ValueError (with
/// the usage), an unreadable database or FILE OSError.
#[pyfunction]
pub fn history_magic(py: Python<'_>, line: &str) -> PyResult<String> {
    let session = crate::output::current_session(py)
        .ok_or_else(|| PyRuntimeError::new_err("%history lists a hotrepl session's cells: call it in one"))?;
    magic(py, &session.io.history, line).map_err(|e| match e {
        MagicError::Usage(_) => PyValueError::new_err(e.to_string()),
        MagicError::Failed(_) => PyOSError::new_err(e.to_string()),
    })
}

/// `%history LINE` in the session `log` belongs to: the listing, or an empty string when it
/// went to a file.
pub fn magic(py: Python<'_>, log: &SessionLog, line: &str) -> Result<String, MagicError> {
    let args = parse(line)?;
    let listing = crate::threads::without_python(py, || listing(log, &args))?;
    match &args.file {
        Some(file) => {
            std::fs::write(file, listing)
                .map_err(|e| MagicError::Failed(format!("cannot write {}: {e}", file.display())))?;
            Ok(String::new())
        }
        None => Ok(listing),
    }
}

pub fn parse(line: &str) -> Result<Args, MagicError> {
    let usage = |why: String| MagicError::Usage(why);
    let mut args = Args::default();
    let mut words = split(line)?.into_iter();
    let mut pattern: Vec<String> = Vec::new();
    while let Some(word) = words.next() {
        let Some(flags) = word
            .strip_prefix('-')
            .filter(|f| !f.is_empty() && !f.starts_with(char::is_numeric))
        else {
            if args.search.is_some() {
                pattern.push(word);
            } else {
                args.ranges.push(parse_range(&word)?);
            }
            continue;
        };
        for flag in flags.chars() {
            match flag {
                'n' => args.numbers = true,
                'o' => args.outputs = true,
                't' => args.this_target = true,
                'u' => args.unique = true,
                'g' => args.search = Some(String::new()),
                'f' => {
                    let file = words.next().ok_or_else(|| usage("-f needs a file name".into()))?;
                    args.file = Some(PathBuf::from(file));
                }
                'l' => {
                    let n = words.next().ok_or_else(|| usage("-l needs a number".into()))?;
                    let n = n.parse().map_err(|_| usage(format!("-l needs a number, not {n:?}")))?;
                    args.limit = Some(n);
                }
                other => return Err(usage(format!("unknown option -{other}"))),
            }
        }
    }
    if let Some(search) = &mut args.search {
        *search = pattern.join(" ");
        if !args.ranges.is_empty() {
            return Err(usage("-g searches every session: give a pattern, not ranges".into()));
        }
    }
    Ok(args)
}

/// Words separated by spaces; quotes ('...' or "...") keep spaces in a word.
fn split(line: &str) -> Result<Vec<String>, MagicError> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    if quote.is_some() {
        return Err(MagicError::Usage("a quote is not closed".into()));
    }
    words.extend(word);
    Ok(words)
}

fn parse_range(word: &str) -> Result<Range, MagicError> {
    let bad = || MagicError::Usage(format!("{word:?} is not a range (like 4, 4-6, 4:6, ~1/ or ~1/4-6)"));
    let number = |s: &str| s.parse::<u64>().map_err(|_| bad());
    let (session, cells) = match word.split_once('/') {
        None => (SessionRef::Current, word),
        Some((session, cells)) => {
            let session = match session.strip_prefix('~') {
                Some(back) => SessionRef::Back(back.parse().ok().filter(|&n| n > 0).ok_or_else(bad)?),
                None => SessionRef::Number(session.parse().map_err(|_| bad())?),
            };
            (session, cells)
        }
    };
    let (start, stop) = if cells.is_empty() {
        (0, None)
    } else if let Some((a, b)) = cells.split_once('-') {
        (number(a)?, Some(number(b)? + 1))
    } else if let Some((a, b)) = cells.split_once(':') {
        (number(a)?, Some(number(b)?))
    } else {
        let n = number(cells)?;
        (n, Some(n + 1))
    };
    if stop.is_some_and(|stop| stop <= start) {
        return Err(bad());
    }
    Ok(Range { session, start, stop })
}

/// The cells the arguments ask for, as text.
fn listing(log: &SessionLog, args: &Args) -> Result<String, MagicError> {
    let store = open_for_reading().map_err(MagicError::Failed)?;
    let failed = |e: SqlError| MagicError::Failed(format!("cannot read the history: {e}"));
    let current = store.session_by_id(log.id()).map_err(failed)?.map(|s| s.number);
    let place = log.place();
    let base = Query {
        target: args.this_target.then(|| Target::SameAs(place.clone())),
        unique: args.unique,
        outputs: args.outputs,
        newest_first: true,
        ..Query::default()
    };
    let mut cells = match (&args.search, args.ranges.is_empty()) {
        (Some(pattern), _) => newest_last(
            &store,
            Query {
                text: (!pattern.is_empty()).then(|| TextMatch::Glob(format!("*{pattern}*"))),
                limit: args.limit,
                ..base
            },
        ),
        // `-l N` alone: the last N cells of all sessions, as in IPython.
        (None, true) if args.limit.is_some() => newest_last(
            &store,
            Query {
                limit: args.limit,
                ..base
            },
        ),
        (None, true) => in_range(
            &store,
            &base,
            current,
            Range {
                session: SessionRef::Current,
                start: 0,
                stop: None,
            },
            &place,
        ),
        (None, false) => {
            let mut cells = Vec::new();
            for range in &args.ranges {
                cells.extend(in_range(&store, &base, current, *range, &place).map_err(failed)?);
            }
            Ok(cells)
        }
    }
    .map_err(failed)?;
    if let Some(n) = args.limit {
        cells.drain(..cells.len().saturating_sub(n));
    }
    let numbered_by_session = args.search.is_some();
    let mut text = String::new();
    for cell in &cells {
        if args.numbers || numbered_by_session {
            if Some(cell.session.number) == current && !numbered_by_session {
                text.push_str(&format!("{}: ", cell.count));
            } else {
                text.push_str(&format!("{}/{}: ", cell.session.number, cell.count));
            }
        }
        text.push_str(&cell.input);
        text.push('\n');
        if let Some(outputs) = &cell.outputs {
            text.push_str(&outputs.shown(cell.count));
        }
    }
    Ok(text)
}

fn newest_last(store: &Store, query: Query) -> Result<Vec<StoredCell>, SqlError> {
    let mut cells = store.cells(&query)?;
    cells.reverse();
    Ok(cells)
}

fn in_range(
    store: &Store,
    base: &Query,
    current: Option<i64>,
    range: Range,
    place: &Place,
) -> Result<Vec<StoredCell>, SqlError> {
    let session = match range.session {
        SessionRef::Current => current,
        SessionRef::Back(back) => store.earlier_session(place, current, back)?,
        SessionRef::Number(n) => Some(n),
    };
    // A session that has recorded nothing (yet) has nothing to list.
    let Some(session) = session else { return Ok(Vec::new()) };
    newest_last(
        store,
        Query {
            session: Some(session),
            counts: Some((range.start, range.stop)),
            ..base.clone()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(session: SessionRef, start: u64, stop: Option<u64>) -> Range {
        Range { session, start, stop }
    }

    #[test]
    fn ranges_read_as_in_ipython() {
        let ranges = |line| parse(line).unwrap().ranges;
        assert_eq!(ranges("4"), [range(SessionRef::Current, 4, Some(5))]);
        assert_eq!(ranges("4-6"), [range(SessionRef::Current, 4, Some(7))]);
        assert_eq!(ranges("4:6"), [range(SessionRef::Current, 4, Some(6))]);
        assert_eq!(ranges("~1/"), [range(SessionRef::Back(1), 0, None)]);
        assert_eq!(ranges("~2/7"), [range(SessionRef::Back(2), 7, Some(8))]);
        assert_eq!(
            ranges("~1/3-5 12/"),
            [
                range(SessionRef::Back(1), 3, Some(6)),
                range(SessionRef::Number(12), 0, None)
            ]
        );
        assert_eq!(ranges(""), []);
    }

    #[test]
    fn flags_combine_and_take_their_values() {
        let args = parse("-no -t -u -l 5 -f 'my file.py' 3").unwrap();
        assert_eq!(
            args,
            Args {
                numbers: true,
                outputs: true,
                this_target: true,
                unique: true,
                limit: Some(5),
                search: None,
                file: Some(PathBuf::from("my file.py")),
                ranges: vec![range(SessionRef::Current, 3, Some(4))],
            }
        );
    }

    #[test]
    fn g_takes_the_rest_as_its_pattern() {
        let args = parse("-g print(x -o").unwrap();
        assert_eq!(args.search.as_deref(), Some("print(x"));
        assert!(args.outputs);
        assert_eq!(parse("-g").unwrap().search.as_deref(), Some(""));
        assert_eq!(parse("-g \"a  b\"").unwrap().search.as_deref(), Some("a  b"));
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        for line in [
            "-x", "-l", "-l many", "-f", "6-4", "~0/", "~/3", "a-b", "4-", "'open", "~1/2:2",
        ] {
            assert!(
                matches!(parse(line), Err(MagicError::Usage(_))),
                "{line:?} was accepted"
            );
        }
        let shown = parse("-x").unwrap_err().to_string();
        assert!(shown.starts_with("unknown option -x\nusage: %history"), "{shown}");
    }
}
