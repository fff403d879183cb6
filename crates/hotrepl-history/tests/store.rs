//! The store end to end: recording through a Recorder and its writer thread, reading back
//! with queries, many writers at once (threads and processes), corruption, caps, import.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotrepl_history::record::now_us;
use hotrepl_history::{
    AuditEntry, AuditLog, Capped, Cell, CellError, LateOutput, Outputs, Place, PlaceKind, Query, Recorder, SessionInfo,
    Status, Store, Stream, Target, TextMatch, Who,
};

const WINDOW: Duration = Duration::from_millis(2);
const FLUSH: Duration = Duration::from_secs(30);

fn temp_dir() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "hotrepl-history-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Warnings said, for tests to look at.
type Said = Arc<Mutex<Vec<String>>>;

fn recorder(db: &Path) -> (Recorder, Said) {
    recorder_with(Some(db.to_owned()), None)
}

fn recorder_with(db: Option<PathBuf>, legacy: Option<PathBuf>) -> (Recorder, Said) {
    let said: Said = Arc::default();
    let sink = said.clone();
    let (recorder, writer) = Recorder::new(
        db,
        legacy,
        WINDOW,
        Box::new(move |w: &str| sink.lock().unwrap().push(w.to_owned())),
    );
    std::thread::spawn(move || writer.run());
    (recorder, said)
}

fn session(kind: PlaceKind, program: &str) -> Arc<SessionInfo> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    Arc::new(SessionInfo {
        id: format!("session-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)),
        started_us: now_us(),
        place: Place::here(kind, program, ""),
    })
}

fn cell(session: &Arc<SessionInfo>, count: u64, input: &str) -> Cell {
    Cell {
        session: session.clone(),
        count,
        input: input.into(),
        started_us: now_us(),
        duration_us: 10,
        status: Status::Ok,
        outputs: Outputs::default(),
    }
}

fn open(db: &Path) -> Store {
    Store::open(db, None, &|w| panic!("unexpected warning: {w}")).unwrap()
}

fn inputs(cells: &[hotrepl_history::StoredCell]) -> Vec<&str> {
    cells.iter().map(|c| c.input.as_str()).collect()
}

fn all(newest_first: bool) -> Query {
    Query {
        newest_first,
        ..Query::default()
    }
}

#[test]
fn cells_come_back_with_their_outputs_and_where_they_ran() {
    let db = temp_dir().join("h.sqlite");
    let (rec, said) = recorder(&db);
    let s = session(PlaceKind::Attached, "app.py --port 8080");
    rec.record(Cell {
        outputs: Outputs {
            stdout: Capped::new("hello\n", 100),
            stderr: Capped::new("warn\n", 100),
            result: Some(Capped::new("42", 100)),
            error: None,
        },
        ..cell(&s, 1, "print('hello'); 42")
    });
    rec.record(Cell {
        status: Status::Error,
        outputs: Outputs {
            error: Some(CellError {
                ename: "ValueError".into(),
                evalue: "bad".into(),
                traceback: Capped::new("Traceback...\nValueError: bad\n", 100),
            }),
            ..Outputs::default()
        },
        ..cell(&s, 2, "raise ValueError('bad')")
    });
    rec.record(cell(&s, 3, "x = 1"));
    // Printed later by a task of cell 3, in two pieces.
    for piece in ["late ", "output\n"] {
        rec.record_late(LateOutput {
            session: s.clone(),
            count: 3,
            stream: Stream::Stdout,
            text: Capped::new(piece, 100),
        });
    }
    assert!(rec.flush(FLUSH));
    assert!(said.lock().unwrap().is_empty(), "{said:?}");

    let store = open(&db);
    let cells = store
        .cells(&Query {
            outputs: true,
            ..all(false)
        })
        .unwrap();
    assert_eq!(
        inputs(&cells),
        ["print('hello'); 42", "raise ValueError('bad')", "x = 1"]
    );
    let first = cells[0].outputs.as_ref().unwrap();
    assert_eq!(
        (first.stdout.text.as_str(), first.stderr.text.as_str()),
        ("hello\n", "warn\n")
    );
    assert_eq!(first.result.as_ref().unwrap().text, "42");
    assert_eq!(cells[1].status, Status::Error);
    let error = cells[1].outputs.as_ref().unwrap().error.as_ref().unwrap();
    assert_eq!((error.ename.as_str(), error.evalue.as_str()), ("ValueError", "bad"));
    assert!(error.traceback.text.ends_with("ValueError: bad\n"));
    assert_eq!(cells[2].outputs.as_ref().unwrap().stdout.text, "late output\n");
    assert!(cells[2].outputs.as_ref().unwrap().result.is_none());

    let place = &cells[0].session.place;
    assert_eq!(place.kind, PlaceKind::Attached);
    assert_eq!(place.pid, Some(std::process::id()));
    assert_eq!(place.program, "app.py --port 8080");
    assert_eq!(place.host, hotrepl_history::record::host_name());
    assert_eq!(cells[0].session.id, s.id);
    assert!(cells.iter().all(|c| c.session.number == cells[0].session.number));
    assert!(cells.iter().all(|c| c.outputs.is_some()));
    let without = store.cells(&all(false)).unwrap();
    assert!(without.iter().all(|c| c.outputs.is_none()));
}

#[test]
fn a_cell_after_a_quiet_spell_is_written_at_once_and_a_stream_of_them_together() {
    let db = temp_dir().join("h.sqlite");
    let (rec, writer) = Recorder::new(
        Some(db.clone()),
        None,
        Duration::from_secs(600),
        Box::new(|w| panic!("{w}")),
    );
    std::thread::spawn(move || writer.run());
    let s = session(PlaceKind::Local, "");
    let stored = || open(&db).cells(&all(false)).unwrap().len();
    rec.record(cell(&s, 1, "typed at the prompt"));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while stored() < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first cell waited for the window"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Right after a write: part of a stream, gathered for the (long) window.
    rec.record(cell(&s, 2, "from a script"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(stored(), 1);
    assert!(rec.flush(FLUSH));
    assert_eq!(stored(), 2);
}

#[test]
fn capped_output_keeps_the_count_of_what_was_left_out() {
    let db = temp_dir().join("h.sqlite");
    let (rec, _) = recorder(&db);
    let s = session(PlaceKind::Local, "");
    let big = "x".repeat(5000);
    rec.record(Cell {
        outputs: Outputs {
            stdout: Capped::new(&big, 1000),
            ..Outputs::default()
        },
        ..cell(&s, 1, "print('x' * 5000)")
    });
    rec.record_late(LateOutput {
        session: s.clone(),
        count: 1,
        stream: Stream::Stdout,
        text: Capped {
            text: String::new(),
            omitted: 10,
        },
    });
    assert!(rec.flush(FLUSH));
    let cells = open(&db)
        .cells(&Query {
            outputs: true,
            ..all(false)
        })
        .unwrap();
    let stdout = &cells[0].outputs.as_ref().unwrap().stdout;
    assert_eq!(stdout.text.len(), 1000);
    assert_eq!(stdout.omitted, 4010);
}

#[test]
fn queries_filter_by_text_target_time_session_and_counts() {
    let db = temp_dir().join("h.sqlite");
    let (rec, _) = recorder(&db);
    let local = session(PlaceKind::Local, "");
    let app = Arc::new(SessionInfo {
        place: Place {
            pid: Some(4242),
            ..Place::here(PlaceKind::Attached, "app.py --port 1", "/run/4242.sock")
        },
        ..(*session(PlaceKind::Attached, "app")).clone()
    });
    rec.record(Cell {
        started_us: now_us() - 3_600_000_000, // an hour ago
        ..cell(&local, 1, "import os")
    });
    rec.record(cell(&local, 2, "os.getcwd()"));
    rec.record(cell(&app, 1, "print(stats())"));
    rec.record(cell(&app, 2, "os.getpid()"));
    rec.record(cell(&app, 3, "print(stats())"));
    // The same program, restarted under another pid, is the same target.
    let restarted = Arc::new(SessionInfo {
        place: Place {
            pid: Some(4343),
            address: "/run/4343.sock".into(),
            ..app.place.clone()
        },
        ..(*session(PlaceKind::Attached, "restarted")).clone()
    });
    rec.record(cell(&restarted, 1, "restarted = True"));
    assert!(rec.flush(FLUSH));
    let store = open(&db);
    let find = |q: Query| {
        inputs(&store.cells(&q).unwrap())
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    };

    let text = |m| Query {
        text: Some(m),
        ..all(false)
    };
    assert_eq!(
        find(text(TextMatch::Substring("os.".into()))),
        ["os.getcwd()", "os.getpid()"]
    );
    assert_eq!(
        find(text(TextMatch::Prefix("os".into()))),
        ["os.getcwd()", "os.getpid()"]
    );
    assert_eq!(
        find(text(TextMatch::Glob("*stats*".into()))),
        ["print(stats())", "print(stats())"]
    );
    assert_eq!(find(text(TextMatch::Glob("stats".into()))), Vec::<String>::new());
    assert_eq!(
        find(text(TextMatch::Regex(
            regex::Regex::new(r"^os\.get(pid|cwd)\(\)$").unwrap()
        ))),
        ["os.getcwd()", "os.getpid()"]
    );
    assert_eq!(find(text(TextMatch::Exact("import os".into()))), ["import os"]);

    let target = |t| Query {
        target: Some(t),
        ..all(false)
    };
    assert_eq!(find(target(Target::Pid(4242))).len(), 3);
    assert_eq!(find(target(Target::Program("port 1".into()))).len(), 4);
    assert_eq!(
        find(target(Target::SameAs(local.place.clone()))),
        ["import os", "os.getcwd()"]
    );
    assert_eq!(find(target(Target::SameAs(app.place.clone()))).len(), 4);
    let elsewhere = Place {
        program: "other.py".into(),
        ..app.place.clone()
    };
    assert_eq!(find(target(Target::SameAs(elsewhere))).len(), 0);

    assert_eq!(
        find(Query {
            since_us: Some(now_us() - 60_000_000),
            ..all(false)
        })
        .len(),
        5
    );
    assert_eq!(
        find(Query {
            unique: true,
            ..all(true)
        }),
        [
            "restarted = True",
            "print(stats())",
            "os.getpid()",
            "os.getcwd()",
            "import os"
        ]
    );
    assert_eq!(
        find(Query {
            limit: Some(2),
            ..all(true)
        }),
        ["restarted = True", "print(stats())"]
    );
    let app_number = store.session_by_id(&app.id).unwrap().unwrap().number;
    assert_eq!(
        find(Query {
            session: Some(app_number),
            counts: Some((2, Some(3))),
            ..all(false)
        }),
        ["os.getpid()"]
    );
    assert_eq!(
        find(Query {
            exclude_session: Some(app.id.clone()),
            ..all(false)
        }),
        ["import os", "os.getcwd()", "restarted = True"]
    );
    let local_number = store.session_by_id(&local.id).unwrap().unwrap().number;
    let restarted_number = store.session_by_id(&restarted.id).unwrap().unwrap().number;
    assert_eq!(
        store.earlier_session(&app.place, None, 1).unwrap(),
        Some(restarted_number)
    );
    assert_eq!(
        store.earlier_session(&app.place, Some(restarted_number), 1).unwrap(),
        Some(app_number)
    );
    assert_eq!(store.earlier_session(&app.place, None, 2).unwrap(), Some(app_number));
    assert_eq!(store.earlier_session(&app.place, Some(app_number), 1).unwrap(), None);
    assert_eq!(
        store.earlier_session(&local.place, None, 1).unwrap(),
        Some(local_number)
    );
}

#[test]
fn many_threads_writing_at_once_lose_no_row() {
    let db = temp_dir().join("h.sqlite");
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                // One recorder each: separate connections, as separate processes have.
                let (rec, said) = recorder(&db);
                let s = session(PlaceKind::Local, &format!("thread {t}"));
                for i in 0..300 {
                    rec.record(cell(&s, i, &format!("thread {t} cell {i}")));
                    if i % 50 == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                assert!(rec.flush(FLUSH));
                let said = said.lock().unwrap().clone();
                said
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), Vec::<String>::new());
    }
    assert_eq!(open(&db).cells(&all(false)).unwrap().len(), 6 * 300);
}

/// Run by `many_processes_writing_at_once_lose_no_row` in child processes.
#[test]
#[ignore]
fn child_writer() {
    let Some(db) = std::env::var_os("HOTREPL_TEST_DB") else {
        return;
    };
    let me = std::env::var("HOTREPL_TEST_WRITER").unwrap();
    let (rec, said) = recorder(Path::new(&db));
    let s = session(PlaceKind::Attached, &format!("process {me}"));
    for i in 0..400 {
        rec.record(cell(&s, i, &format!("process {me} cell {i}")));
    }
    assert!(rec.flush(FLUSH));
    assert!(said.lock().unwrap().is_empty(), "{said:?}");
}

#[test]
fn many_processes_writing_at_once_lose_no_row() {
    let db = temp_dir().join("h.sqlite");
    let children: Vec<_> = (0..5)
        .map(|n| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child_writer", "--include-ignored", "--quiet"])
                .env("HOTREPL_TEST_DB", &db)
                .env("HOTREPL_TEST_WRITER", n.to_string())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let store = open(&db);
    assert_eq!(store.cells(&all(false)).unwrap().len(), 5 * 400);
    let sessions: std::collections::HashSet<i64> = store
        .cells(&all(false))
        .unwrap()
        .iter()
        .map(|c| c.session.number)
        .collect();
    assert_eq!(sessions.len(), 5);
}

fn filled(db: &Path, cells: u64) {
    let (rec, _) = recorder(db);
    let s = session(PlaceKind::Local, "");
    for i in 0..cells {
        rec.record(Cell {
            outputs: Outputs {
                stdout: Capped::new(&"output line\n".repeat(20), 1 << 20),
                ..Outputs::default()
            },
            ..cell(&s, i, &format!("cell_number_{i} = {i}"))
        });
    }
    assert!(rec.flush(FLUSH));
}

fn moved_aside(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.contains(".corrupt-") && !name.ends_with("-wal") && !name.ends_with("-shm")
        })
        .collect()
}

#[test]
fn a_truncated_database_is_moved_aside_and_a_fresh_one_started() {
    let dir = temp_dir();
    let db = dir.join("h.sqlite");
    filled(&db, 500);
    // Everything in the main file (no WAL left over), then cut it in half.
    open(&db)
        .cells(&Query::default())
        .map(|_| ())
        .and_then(|_| rusqlite::Connection::open(&db)?.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)"))
        .unwrap();
    let size = std::fs::metadata(&db).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(size / 2)
        .unwrap();

    let said: Said = Arc::default();
    let sink = said.clone();
    let store = Store::open(&db, None, &move |w| sink.lock().unwrap().push(w.to_owned())).unwrap();
    let said = said.lock().unwrap().clone();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].contains("moved it to") && said[0].contains(".corrupt-"),
        "{said:?}"
    );
    assert_eq!(store.cells(&all(false)).unwrap().len(), 0);
    let aside = moved_aside(&dir);
    assert_eq!(aside.len(), 1);
    assert_eq!(std::fs::metadata(&aside[0]).unwrap().len(), size / 2);
}

#[test]
fn a_file_that_is_no_database_is_moved_aside_by_the_writer_and_recording_goes_on() {
    let dir = temp_dir();
    let db = dir.join("h.sqlite");
    std::fs::write(
        &db,
        "this is not a database, it is a text file that got here somehow\n".repeat(100),
    )
    .unwrap();
    let (rec, said) = recorder(&db);
    let s = session(PlaceKind::Local, "");
    rec.record(cell(&s, 1, "after = 'the move'"));
    assert!(rec.flush(FLUSH));
    assert_eq!(said.lock().unwrap().len(), 1, "{said:?}");
    assert_eq!(moved_aside(&dir).len(), 1);
    assert_eq!(inputs(&open(&db).cells(&all(false)).unwrap()), ["after = 'the move'"]);
}

#[test]
fn a_writer_follows_when_another_process_starts_the_database_afresh() {
    let dir = temp_dir();
    let db = dir.join("h.sqlite");
    let (rec, said) = recorder(&db);
    let s = session(PlaceKind::Local, "");
    rec.record(cell(&s, 1, "before"));
    assert!(rec.flush(FLUSH));
    // What another process does when it finds the file corrupt.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::rename(
            format!("{}{suffix}", db.display()),
            format!("{}.old{suffix}", db.display()),
        );
    }
    rec.record(cell(&s, 2, "after"));
    assert!(rec.flush(FLUSH));
    assert!(said.lock().unwrap().is_empty());
    assert_eq!(inputs(&open(&db).cells(&all(false)).unwrap()), ["after"]);
}

#[test]
fn a_database_that_cannot_be_created_turns_recording_off_with_one_warning() {
    let dir = temp_dir();
    std::fs::write(dir.join("a-file"), "").unwrap();
    // Its directory would have to be inside a regular file.
    let (rec, said) = recorder(&dir.join("a-file/h.sqlite"));
    let s = session(PlaceKind::Local, "");
    for i in 0..3 {
        rec.record(cell(&s, i, "x"));
        assert!(rec.flush(FLUSH));
    }
    let said = said.lock().unwrap().clone();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].starts_with("history is off: cannot create"), "{said:?}");
}

#[test]
fn the_old_line_history_is_imported_once_when_the_database_is_created() {
    let dir = temp_dir();
    let legacy = dir.join("history");
    std::fs::write(&legacy, "a = 1\ndef f():<\\n>    return a\n").unwrap();
    let db = dir.join("h.sqlite");
    for _ in 0..2 {
        let store = Store::open(&db, Some(&legacy), &|w| panic!("{w}")).unwrap();
        let cells = store.cells(&all(false)).unwrap();
        assert_eq!(inputs(&cells), ["a = 1", "def f():\n    return a"]);
        assert_eq!(cells[0].session.place.kind, PlaceKind::Imported);
        assert_eq!(cells.iter().map(|c| c.count).collect::<Vec<_>>(), [1, 2]);
    }
}

/// A new audit file, and the log appending to it.
fn audit_file() -> (PathBuf, Arc<AuditLog>) {
    let path = temp_dir().join("audit.jsonl");
    let log = Arc::new(AuditLog::open(&path).unwrap());
    (path, log)
}

fn audit_entry() -> AuditEntry {
    AuditEntry {
        time_us: 1_700_000_000_123_456,
        session: "abc".into(),
        who: Who::Uid { uid: 1000, pid: 42 },
        count: 3,
        code: "x = 1\ny = 2".into(),
        status: Status::Error,
        error: Some("ValueError: bad".into()),
        exit_code: None,
        duration_us: 1500,
    }
}

#[test]
fn audit_lines_are_written_by_the_writer_even_with_history_off() {
    let (path, log) = audit_file();
    let (rec, said) = recorder_with(None, None);
    let entry = audit_entry();
    rec.audit(log.clone(), entry.clone());
    rec.audit(
        log,
        AuditEntry {
            who: Who::Peer("127.0.0.1:5555".into()),
            status: Status::Ok,
            error: None,
            ..entry
        },
    );
    assert!(rec.flush(FLUSH));
    assert!(said.lock().unwrap().is_empty());
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["time"], "2023-11-14T22:13:20.123456Z");
    assert_eq!(
        (lines[0]["uid"].as_u64(), lines[0]["pid"].as_u64()),
        (Some(1000), Some(42))
    );
    assert_eq!(lines[0]["code"], "x = 1\ny = 2");
    assert_eq!(lines[0]["status"], "error");
    assert_eq!(lines[0]["error"], "ValueError: bad");
    assert_eq!(lines[0]["duration"], 0.0015);
    assert_eq!(lines[1]["peer"], "127.0.0.1:5555");
    assert!(lines[1].get("uid").is_none() && lines[1].get("error").is_none());
}

#[test]
fn an_audit_file_that_fails_is_warned_about_once() {
    let (path, log) = audit_file();
    let (rec, said) = recorder_with(None, None);
    let full = Arc::new(AuditLog::open(Path::new("/dev/full")).unwrap());
    let entry = audit_entry();
    for _ in 0..3 {
        rec.audit(full.clone(), entry.clone());
        assert!(rec.flush(FLUSH));
    }
    rec.audit(log, entry);
    assert!(rec.flush(FLUSH));
    assert_eq!(said.lock().unwrap().len(), 1, "{said:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
}
