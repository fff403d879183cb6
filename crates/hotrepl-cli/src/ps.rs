//! `hotrepl ps`: the processes of this user that can be attached to, one line per server
//! (a process serving both a Unix socket and TCP has two; a Jupyter session adds a line
//! whose address is its connection file), as a table under a header line. With none, only the header is printed. Records left behind by processes that
//! died without stopping their server (or whose pid now belongs to another process) are
//! deleted on the way.

use std::io::Write;
use std::path::Path;

use hotrepl_proto::rundir;

use crate::records::{self, Listed};

pub fn run() -> Result<(), String> {
    let dir = rundir::runtime_dir();
    let mut rows = vec![["PID".to_string(), "PYTHON".into(), "ADDRESS".into(), "PROGRAM".into()]];
    for listed in records::read_all(&dir)? {
        if !listed.process_lives() {
            remove_stale(&dir, &listed);
            continue;
        }
        if listed.socket_present() {
            let r = listed.record;
            // A program's Jupyter session: its connection file, for `jupyter console --existing`.
            if let Some(file) = &r.jupyter {
                rows.push([r.pid.to_string(), r.python.clone(), file.clone(), r.program.clone()]);
            }
            rows.push([r.pid.to_string(), r.python, r.address, r.program]);
        }
    }
    // A reader that left early (`hotrepl ps | head -1`) is no error.
    let _ = std::io::stdout().write_all(table(&rows).as_bytes());
    Ok(())
}

/// Deletes a dead process's record, and its socket and Jupyter connection file if they are
/// ours.
fn remove_stale(dir: &Path, listed: &Listed) {
    let _ = std::fs::remove_file(&listed.file);
    let jupyter = listed.record.jupyter.as_deref().map(Path::new);
    for file in [listed.record.socket_path(), jupyter].into_iter().flatten() {
        if file.parent() == Some(dir) {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Columns padded to their widest cell, two spaces apart; the last one is not padded.
fn table(rows: &[[String; 4]]) -> String {
    let mut widths = [0; 4];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let rows = [
            ["PID".to_string(), "PYTHON".into(), "ADDRESS".into(), "PROGRAM".into()],
            [
                "42".into(),
                "3.11.7".into(),
                "/run/42.sock".into(),
                "app.py --port 80".into(),
            ],
        ];
        assert_eq!(
            table(&rows),
            "PID  PYTHON  ADDRESS       PROGRAM\n42   3.11.7  /run/42.sock  app.py --port 80\n"
        );
    }
}
