//! Watch mode's ears: file events from the OS (inotify, through `notify`) for the
//! directories `hotrepl._patch` names. A thread of ours sleeps until an event comes, gathers
//! the rest of that burst (one save by an editor is several events: a write, a rename, a
//! close), and hands the `.py` files it touched to a Python callback, which patches their
//! modules. Nothing polls: between saves both threads are asleep in the kernel.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::prelude::*;

use crate::threads;

/// How long a burst of events may pause and still count as one save.
const SETTLE: Duration = Duration::from_millis(50);
/// The longest a burst is gathered before its files are handed over anyway.
const LONGEST_BURST: Duration = Duration::from_millis(500);

/// Watches directories (not recursively) and calls `callback(paths)` from a thread of its
/// own with the `.py` files written in them, a burst at a time.
#[pyclass(module = "hotrepl._native", frozen)]
pub struct FileWatcher {
    /// None once stopped. Dropping it ends notify's thread, whose end of the channel then
    /// closes, which ends ours.
    watcher: Mutex<Option<RecommendedWatcher>>,
    watched: Mutex<HashSet<PathBuf>>,
}

#[pymethods]
impl FileWatcher {
    #[new]
    fn new(callback: Py<PyAny>) -> PyResult<FileWatcher> {
        let (events, received) = mpsc::channel();
        // notify's own thread only moves events: it starts with signals blocked (`threads`).
        let watcher = threads::with_async_signals_blocked(|| notify::recommended_watcher(events))
            .map_err(|e| PyOSError::new_err(format!("cannot watch files: {e}")))?;
        // Ours runs the callback, which runs the program's code: a worker.
        threads::spawn_worker("hotrepl-watch", move || deliver_bursts(received, callback))
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start the watch thread: {e}")))?;
        Ok(FileWatcher {
            watcher: Mutex::new(Some(watcher)),
            watched: Mutex::new(HashSet::new()),
        })
    }

    /// Adds these directories to those watched (ones already watched, or gone, are skipped).
    fn watch(&self, py: Python<'_>, directories: Vec<PathBuf>) -> PyResult<()> {
        threads::without_python(py, || {
            let mut watcher = self.watcher.lock().unwrap_or_else(|e| e.into_inner());
            let Some(watcher) = watcher.as_mut() else {
                return Err(PyRuntimeError::new_err("this watcher was stopped"));
            };
            let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
            for dir in directories {
                if watched.contains(&dir) || !dir.is_dir() {
                    continue;
                }
                watcher
                    .watch(&dir, RecursiveMode::NonRecursive)
                    .map_err(|e| PyOSError::new_err(format!("cannot watch {}: {e}", dir.display())))?;
                watched.insert(dir);
            }
            Ok(())
        })
    }

    /// The directories watched, sorted.
    #[getter]
    fn directories(&self) -> Vec<String> {
        let watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        let sorted: BTreeSet<String> = watched.iter().map(|d| d.to_string_lossy().into_owned()).collect();
        sorted.into_iter().collect()
    }

    /// Stops watching for good; the callback is not called again.
    fn stop(&self, py: Python<'_>) {
        let watcher = self.watcher.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.watched.lock().unwrap_or_else(|e| e.into_inner()).clear();
        threads::without_python(py, move || drop(watcher));
    }
}

/// Whether an event says a file's content may be new: written, closed after writing,
/// created, or renamed into place (an editor's atomic save).
fn is_save(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Access(AccessKind::Close(AccessMode::Write))
    )
}

/// The watch thread: asleep until an event, then the rest of its burst, then the callback.
fn deliver_bursts(received: Receiver<notify::Result<notify::Event>>, callback: Py<PyAny>) {
    let mut burst: BTreeSet<PathBuf> = BTreeSet::new();
    let collect = |event: notify::Result<notify::Event>, burst: &mut BTreeSet<PathBuf>| {
        if let Ok(event) = event {
            if is_save(&event.kind) {
                burst.extend(
                    event
                        .paths
                        .into_iter()
                        .filter(|p| p.extension().is_some_and(|e| e == "py")),
                );
            }
        }
    };
    while let Ok(first) = received.recv() {
        collect(first, &mut burst);
        let started = Instant::now();
        let mut open = true;
        while started.elapsed() < LONGEST_BURST {
            match received.recv_timeout(SETTLE) {
                Ok(event) => collect(event, &mut burst),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        if !burst.is_empty() && open {
            let paths: Vec<String> = std::mem::take(&mut burst)
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            threads::with_python(|py| {
                if let Err(e) = callback.call1(py, (paths,)) {
                    e.write_unraisable(py, Some(callback.bind(py)));
                }
            });
        }
        if !open {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind, RemoveKind, RenameMode};

    #[test]
    fn saves_are_writes_creations_and_renames_into_place() {
        assert!(is_save(&EventKind::Modify(ModifyKind::Any)));
        assert!(is_save(&EventKind::Modify(ModifyKind::Name(RenameMode::To))));
        assert!(is_save(&EventKind::Create(CreateKind::File)));
        assert!(is_save(&EventKind::Access(AccessKind::Close(AccessMode::Write))));
        assert!(!is_save(&EventKind::Access(AccessKind::Close(AccessMode::Read))));
        assert!(!is_save(&EventKind::Access(AccessKind::Open(AccessMode::Any))));
        assert!(!is_save(&EventKind::Remove(RemoveKind::File)));
    }
}
