//! hotrepl's history: every cell's input and output, with where it ran, in one SQLite
//! database per user (WAL mode, written off the critical path by [`Recorder`]); `%history`,
//! the editor's Up and Ctrl-R, `hotrepl history` and Jupyter's `history_request` read it
//! through [`Query`]. Also the append-only audit file a program can keep ([`audit`]).

pub mod audit;
pub mod import;
pub mod paths;
pub mod query;
pub mod record;
pub mod recorder;
pub mod store;

pub use audit::{AuditEntry, AuditLog, Who};
pub use query::{Query, StoredCell, StoredSession, Target, TextMatch};
pub use record::{Budget, Capped, Cell, CellError, LateOutput, Outputs, Place, PlaceKind, SessionInfo, Status, Stream};
pub use recorder::{Recorder, Writer};
pub use regex::Regex;
/// What a query fails with.
pub use rusqlite::Error as SqlError;
pub use store::{OpenError, Record, Store};
