//! The SQLite database: opening it (WAL mode, a busy timeout, the schema), moving a corrupt
//! one aside, and writing records in transactions. Reading is in [`crate::query`].
//!
//! Layout: `sessions` (one row per session that recorded a cell), `cells` (input, timing,
//! status: narrow, so that searching the inputs reads little), and `outputs` (only for
//! cells that printed, returned or raised something; keyed by the cell's id).

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::record::{Cell, LateOutput, SessionInfo, Stream};

/// Bumped when the layout changes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// How long one statement waits for another process's write to finish before it gives up
/// with "busy" (the caller then retries: no row is ever dropped for being busy).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    number INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    started INTEGER NOT NULL,
    kind TEXT NOT NULL,
    pid INTEGER,
    program TEXT NOT NULL,
    host TEXT NOT NULL,
    address TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cells (
    id INTEGER PRIMARY KEY,
    session INTEGER NOT NULL REFERENCES sessions(number),
    count INTEGER NOT NULL,
    input TEXT NOT NULL,
    started INTEGER NOT NULL,
    duration INTEGER NOT NULL,
    status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cells_by_session ON cells(session, count);
CREATE TABLE IF NOT EXISTS outputs (
    cell INTEGER PRIMARY KEY REFERENCES cells(id),
    stdout TEXT NOT NULL DEFAULT '',
    stdout_omitted INTEGER NOT NULL DEFAULT 0,
    stderr TEXT NOT NULL DEFAULT '',
    stderr_omitted INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    result_omitted INTEGER NOT NULL DEFAULT 0,
    ename TEXT,
    evalue TEXT,
    traceback TEXT,
    traceback_omitted INTEGER NOT NULL DEFAULT 0
);
";

/// A record on its way to the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Cell(Cell),
    Late(LateOutput),
}

/// Why the store cannot be used.
#[derive(Debug)]
pub enum OpenError {
    /// It cannot be opened or created at all (permissions, no home, a newer layout).
    Unusable(String),
    /// Another process holds it longer than the busy timeout; worth retrying.
    Busy,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Unusable(why) => f.write_str(why),
            OpenError::Busy => f.write_str("the history database stayed locked by another process"),
        }
    }
}

pub struct Store {
    pub(crate) conn: Connection,
    path: PathBuf,
    /// (device, inode) of the file opened, to notice when another process moved it aside.
    file_id: FileId,
    /// Session ids already in `sessions`, with their numbers.
    sessions: HashMap<String, i64>,
}

/// Whether an error means the file is not a usable database (corrupt, truncated, not SQLite).
pub fn is_corrupt(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

/// Whether an error means another connection holds a lock: try again later.
pub fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

impl Store {
    /// Opens the database at `path`, creating it (and importing the line editor's old history
    /// file, `legacy`, if there is one) when it does not exist. A file that is not a usable
    /// database is moved aside (see [`Store::start_afresh`]).
    pub fn open(path: &Path, legacy: Option<&Path>, warn: &dyn Fn(&str)) -> Result<Store, OpenError> {
        match Store::open_once(path, legacy) {
            Err(Opening::Corrupt { why, file }) => Store::start_afresh(path, file, &why, legacy, warn),
            other => other.map_err(Opening::into_open_error),
        }
    }

    /// Moves the unusable database `file` at `path` to `<path>.corrupt-<time>` (unless another
    /// process did already) and starts a fresh one; `warn` gets one line saying so.
    fn start_afresh(
        path: &Path,
        file: FileId,
        why: &str,
        legacy: Option<&Path>,
        warn: &dyn Fn(&str),
    ) -> Result<Store, OpenError> {
        let moved = move_aside(path, file).map_err(|m| OpenError::Unusable(format!("{why}; {m}")))?;
        if let Some(moved) = moved {
            warn(&format!(
                "the history database {} was unreadable ({why}); moved it to {} and started a new one",
                path.display(),
                moved.display()
            ));
        }
        Store::open_once(path, legacy).map_err(Opening::into_open_error)
    }

    /// After a write found the database corrupt: moves it aside and starts afresh.
    pub fn replace_corrupt(self, why: &str, legacy: Option<&Path>, warn: &dyn Fn(&str)) -> Result<Store, OpenError> {
        let (path, file) = (self.path.clone(), self.file_id);
        drop(self);
        Store::start_afresh(&path, file, why, legacy, warn)
    }

    fn open_once(path: &Path, legacy: Option<&Path>) -> Result<Store, Opening> {
        create_private(path).map_err(|e| Opening::Unusable(format!("cannot create {}: {e}", path.display())))?;
        let file_id = file_id(path).map_err(|e| Opening::Unusable(format!("{}: {e}", path.display())))?;
        let sqlite = |e| Opening::from_sqlite(e, path, file_id);
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        let mut store = Store {
            conn,
            path: path.to_owned(),
            file_id,
            sessions: HashMap::new(),
        };
        store.prepare(legacy)?;
        Ok(store)
    }

    /// WAL mode, the schema, and a look at the last page of each table: a truncated file
    /// fails here rather than on some later write.
    fn prepare(&mut self, legacy: Option<&Path>) -> Result<(), Opening> {
        let path = self.path.clone();
        let file = self.file_id;
        let sqlite = |e| Opening::from_sqlite(e, &path, file);
        // WAL: readers never wait for writers, and writers of other processes only wait for
        // each other, briefly. (Where the file system cannot do WAL, SQLite keeps its
        // rollback journal, which works too.) NORMAL: a commit survives the process being
        // killed; a power cut may lose the last commits but never corrupts the file.
        let _mode: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(sqlite)?;
        self.conn.pragma_update(None, "synchronous", "NORMAL").map_err(sqlite)?;
        let version = user_version(&self.conn).map_err(sqlite)?;
        if version > SCHEMA_VERSION {
            return Err(Opening::Unusable(format!(
                "{} was written by a newer hotrepl (layout {version}; this one knows {SCHEMA_VERSION})",
                path.display()
            )));
        }
        if version == 0 {
            self.create_schema(legacy).map_err(sqlite)?;
        }
        self.conn
            .query_row(
                "SELECT (SELECT max(id) FROM cells), (SELECT max(number) FROM sessions)",
                [],
                |_| Ok(()),
            )
            .map_err(sqlite)?;
        Ok(())
    }

    fn create_schema(&mut self, legacy: Option<&Path>) -> rusqlite::Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have created it meanwhile.
        if user_version(&tx)? == 0 {
            tx.execute_batch(SCHEMA)?;
            if let Some(legacy) = legacy {
                crate::import::import_legacy(&tx, legacy)?;
            }
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        tx.commit()
    }

    /// Whether the file at our path is still the one we opened (another process may have
    /// moved a corrupt database aside and started a new one).
    pub fn is_current(&self) -> bool {
        file_id(&self.path).is_ok_and(|id| id == self.file_id)
    }

    /// Writes records in one transaction. On error nothing is written (the caller retries
    /// a busy database, and moves a corrupt one aside).
    pub fn write(&mut self, records: &[Record]) -> rusqlite::Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut new_sessions = Vec::new();
        for record in records {
            match record {
                Record::Cell(cell) => {
                    let session = session_number(&tx, &self.sessions, &mut new_sessions, &cell.session)?;
                    insert_cell(&tx, session, cell)?;
                }
                Record::Late(late) => {
                    let session = session_number(&tx, &self.sessions, &mut new_sessions, &late.session)?;
                    append_output(&tx, session, late)?;
                }
            }
        }
        tx.commit()?;
        self.sessions.extend(new_sessions);
        Ok(())
    }
}

/// A file's (device, inode).
type FileId = (u64, u64);

/// What went wrong opening, before deciding what to do about it.
enum Opening {
    Corrupt { why: String, file: FileId },
    Busy,
    Unusable(String),
}

impl Opening {
    fn from_sqlite(e: rusqlite::Error, path: &Path, file: FileId) -> Opening {
        if is_corrupt(&e) {
            Opening::Corrupt {
                why: e.to_string(),
                file,
            }
        } else if is_busy(&e) {
            Opening::Busy
        } else {
            Opening::Unusable(format!("cannot open {}: {e}", path.display()))
        }
    }

    fn into_open_error(self) -> OpenError {
        match self {
            Opening::Corrupt { why, .. } => {
                OpenError::Unusable(format!("still unreadable after starting afresh: {why}"))
            }
            Opening::Busy => OpenError::Busy,
            Opening::Unusable(e) => OpenError::Unusable(e),
        }
    }
}

/// Creates the file (and its directory) readable by the user only: cells and their output
/// may hold secrets. SQLite gives its -wal and -shm files the same mode.
fn create_private(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
    Ok(())
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

fn file_id(path: &Path) -> io::Result<FileId> {
    let meta = fs::metadata(path)?;
    Ok((meta.dev(), meta.ino()))
}

/// Renames the unusable database `file` (with its -wal and -shm files) to
/// `<path>.corrupt-<time>`. Under a lock, and only if `path` is still that file: two
/// processes finding it at once must not move each other's fresh database away. None if
/// another process moved it already.
fn move_aside(path: &Path, file: FileId) -> Result<Option<PathBuf>, String> {
    let lock_path = suffixed(path, ".lock");
    let lock = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    // SAFETY: flock on a file we hold open; released when `lock` is closed.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    if file_id(path).ok() != Some(file) {
        return Ok(None);
    }
    let moved = suffixed(path, &format!(".corrupt-{}", time_stamp()));
    fs::rename(path, &moved).map_err(|e| format!("cannot move it aside: {e}"))?;
    for side in ["-wal", "-shm"] {
        let _ = fs::rename(suffixed(path, side), suffixed(&moved, side));
    }
    Ok(Some(moved))
}

/// `20260501T140211` (UTC): sorts by time, and is safe in a file name.
fn time_stamp() -> String {
    let iso = hotrepl_proto::time::format_utc(crate::record::now_us() / 1_000_000, 0);
    iso[..19].replace(['-', ':'], "")
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn session_number(
    tx: &rusqlite::Transaction<'_>,
    known: &HashMap<String, i64>,
    new: &mut Vec<(String, i64)>,
    session: &SessionInfo,
) -> rusqlite::Result<i64> {
    if let Some(&n) = known.get(&session.id) {
        return Ok(n);
    }
    if let Some((_, n)) = new.iter().find(|(id, _)| *id == session.id) {
        return Ok(*n);
    }
    let place = &session.place;
    tx.prepare_cached(
        "INSERT INTO sessions (id, started, kind, pid, program, host, address) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(id) DO NOTHING",
    )?
    .execute(params![
        session.id,
        session.started_us,
        place.kind.as_str(),
        place.pid,
        place.program,
        place.host,
        place.address
    ])?;
    let n: i64 = tx
        .prepare_cached("SELECT number FROM sessions WHERE id = ?1")?
        .query_row([&session.id], |r| r.get(0))?;
    new.push((session.id.clone(), n));
    Ok(n)
}

fn insert_cell(tx: &rusqlite::Transaction<'_>, session: i64, cell: &Cell) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO cells (session, count, input, started, duration, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        session,
        cell.count as i64,
        cell.input,
        cell.started_us,
        cell.duration_us,
        cell.status.as_str()
    ])?;
    let o = &cell.outputs;
    if o.is_empty() {
        return Ok(());
    }
    let id = tx.last_insert_rowid();
    tx.prepare_cached(
        "INSERT INTO outputs (cell, stdout, stdout_omitted, stderr, stderr_omitted, result, result_omitted,
                              ename, evalue, traceback, traceback_omitted)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        id,
        o.stdout.text,
        o.stdout.omitted as i64,
        o.stderr.text,
        o.stderr.omitted as i64,
        o.result.as_ref().map(|r| &r.text),
        o.result.as_ref().map_or(0, |r| r.omitted as i64),
        o.error.as_ref().map(|e| &e.ename),
        o.error.as_ref().map(|e| &e.evalue),
        o.error.as_ref().map(|e| &e.traceback.text),
        o.error.as_ref().map_or(0, |e| e.traceback.omitted as i64),
    ])?;
    Ok(())
}

fn append_output(tx: &rusqlite::Transaction<'_>, session: i64, late: &LateOutput) -> rusqlite::Result<()> {
    let cell: Option<i64> = tx
        .prepare_cached("SELECT id FROM cells WHERE session = ?1 AND count = ?2 ORDER BY id DESC LIMIT 1")?
        .query_row(params![session, late.count as i64], |r| r.get(0))
        .optional()?;
    // The cell went with a database that was moved aside: nothing to add to.
    let Some(cell) = cell else { return Ok(()) };
    let sql = match late.stream {
        Stream::Stdout => {
            "INSERT INTO outputs (cell, stdout, stdout_omitted) VALUES (?1, ?2, ?3)
             ON CONFLICT(cell) DO UPDATE SET stdout = stdout || excluded.stdout,
                                             stdout_omitted = stdout_omitted + excluded.stdout_omitted"
        }
        Stream::Stderr => {
            "INSERT INTO outputs (cell, stderr, stderr_omitted) VALUES (?1, ?2, ?3)
             ON CONFLICT(cell) DO UPDATE SET stderr = stderr || excluded.stderr,
                                             stderr_omitted = stderr_omitted + excluded.stderr_omitted"
        }
    };
    tx.prepare_cached(sql)?
        .execute(params![cell, late.text.text, late.text.omitted as i64])?;
    Ok(())
}
