//! The one-time import of the line editor's old history file, made when the database is
//! created. That file is reedline's `FileBackedHistory`: one entry per line, oldest first,
//! a newline inside an entry written as the four characters `<\n>`.

use std::io::{self, BufRead};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rusqlite::{params, Transaction};

use crate::record::{host_name, PlaceKind};

/// How reedline escapes a newline inside an entry.
const NEWLINE_ESCAPE: &str = "<\\n>";

/// The entries of a reedline history file, oldest first, with their newlines back.
pub fn read_legacy(reader: impl BufRead) -> io::Result<Vec<String>> {
    let mut entries = Vec::new();
    for line in reader.split(b'\n') {
        let line = String::from_utf8_lossy(&line?).into_owned();
        let entry = line.replace(NEWLINE_ESCAPE, "\n");
        if !entry.trim().is_empty() {
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// Imports `path` (if it exists and can be read) as one session of kind "imported", its
/// cells numbered in the file's order and dated by the file's last change.
pub fn import_legacy(tx: &Transaction<'_>, path: &Path) -> rusqlite::Result<()> {
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(());
    };
    let changed_us = file.metadata().map_or(0, |m| m.mtime() * 1_000_000);
    let Ok(entries) = read_legacy(io::BufReader::new(file)) else {
        return Ok(());
    };
    if entries.is_empty() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO sessions (id, started, kind, pid, program, host, address) VALUES (?1, ?2, ?3, NULL, '', ?4, '')",
        params![
            format!("imported:{}", path.display()),
            changed_us,
            PlaceKind::Imported.as_str(),
            host_name()
        ],
    )?;
    let session = tx.last_insert_rowid();
    let mut insert = tx.prepare(
        "INSERT INTO cells (session, count, input, started, duration, status) VALUES (?1, ?2, ?3, ?4, 0, 'ok')",
    )?;
    for (i, entry) in entries.iter().enumerate() {
        insert.execute(params![session, i as i64 + 1, entry, changed_us])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_entries_get_their_newlines_back() {
        let file = "x = 1\ndef f():<\\n>    return 2\n\nprint('<not an escape>')\n";
        let entries = read_legacy(file.as_bytes()).unwrap();
        assert_eq!(entries, ["x = 1", "def f():\n    return 2", "print('<not an escape>')"]);
    }
}
