//! Recording without delaying anyone: [`Recorder`] hands records to a queue under a short
//! lock and returns; the [`Writer`], on a thread of its own, writes them in transactions.
//!
//! Durability rule: a record that comes after a quiet spell (a person running cells) is
//! committed at once, in the time the database takes (about a millisecond); records that
//! keep coming (a script running cells back to back) are gathered for [`Recorder::new`]'s
//! `window` (a few milliseconds) and committed together, so that recording costs the cells
//! little. A commit survives the recording process being killed. So a client killed right
//! after a cell completes loses nothing: the kernel or program that ran the cell records
//! it, and outlives the client or flushes on its way out. (The local REPL's kernel is
//! ended together with its client, and has committed a cell typed at the prompt about a
//! millisecond after its reply.) The recording process itself being killed loses at most
//! the records of its last window.
//!
//! Many processes write one database: writes wait for each other (the busy timeout) and a
//! transaction that still finds the database busy is retried, never dropped.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::audit::{AuditEntry, AuditLog};
use crate::record::{Cell, LateOutput};
use crate::store::{is_busy, is_corrupt, OpenError, Record, Store};

enum Job {
    Record(Record),
    Audit(Arc<AuditLog>, AuditEntry),
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// Jobs handed in so far, and jobs the writer is done with (written or given up on).
    queued: u64,
    done: u64,
    /// A flush waits for `done` to reach this.
    flush_to: u64,
    /// The writer waits for a first job: the next one must wake it. (While it gathers a
    /// batch it is not woken: recording a cell then costs no system call.)
    writer_idle: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    work: Condvar,
    progress: Condvar,
    window: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The recording end; cheap to call from any thread, never blocks on the database.
#[derive(Clone)]
pub struct Recorder {
    shared: Arc<Shared>,
}

/// The writing end: [`Writer::run`] is the body of the writer thread.
pub struct Writer {
    shared: Arc<Shared>,
    path: Option<PathBuf>,
    legacy: Option<PathBuf>,
    warn: Box<dyn Fn(&str) + Send>,
    store: Option<Store>,
    /// Set once the database proved unusable: records are dropped (audits go on).
    disabled: bool,
    /// When the last batch was written: a record coming within a window of it is part of
    /// a stream of records, and waits for more.
    last_write: Option<Instant>,
    /// Audit files and errors already warned about, to say each once.
    warned: HashSet<String>,
}

impl Recorder {
    /// A recorder for the database at `path` (None: history is off, audits still work);
    /// `legacy` is imported if the database is created. Records are gathered for `window`
    /// after the first, then written together. `warn` gets one line per problem.
    pub fn new(
        path: Option<PathBuf>,
        legacy: Option<PathBuf>,
        window: Duration,
        warn: Box<dyn Fn(&str) + Send>,
    ) -> (Recorder, Writer) {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            progress: Condvar::new(),
            window,
        });
        let writer = Writer {
            shared: shared.clone(),
            disabled: path.is_none(),
            path,
            legacy,
            warn,
            store: None,
            warned: HashSet::new(),
            last_write: None,
        };
        (Recorder { shared }, writer)
    }

    fn push(&self, job: Job) {
        let mut q = self.shared.lock();
        q.jobs.push(job);
        q.queued += 1;
        let wake = std::mem::take(&mut q.writer_idle);
        drop(q);
        if wake {
            self.shared.work.notify_one();
        }
    }

    pub fn record(&self, cell: Cell) {
        self.push(Job::Record(Record::Cell(cell)));
    }

    /// Output for a recorded cell. Joins the previous piece while that is still queued.
    pub fn record_late(&self, late: LateOutput) {
        let mut q = self.shared.lock();
        if let Some(Job::Record(Record::Late(last))) = q.jobs.last_mut() {
            if last.session.id == late.session.id && last.count == late.count && last.stream == late.stream {
                last.text.text.push_str(&late.text.text);
                last.text.omitted += late.text.omitted;
                return;
            }
        }
        drop(q);
        self.push(Job::Record(Record::Late(late)));
    }

    pub fn audit(&self, log: Arc<AuditLog>, entry: AuditEntry) {
        self.push(Job::Audit(log, entry));
    }

    /// Waits until everything handed in so far is written, or `timeout` passed. True if
    /// it was written.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut q = self.shared.lock();
        let target = q.queued;
        if q.done >= target {
            return true;
        }
        q.flush_to = q.flush_to.max(target);
        self.shared.work.notify_one();
        while q.done < target {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            q = self
                .shared
                .progress
                .wait_timeout(q, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

/// Between retries of a database that another process keeps busy beyond the busy timeout.
const BUSY_PAUSE: Duration = Duration::from_millis(50);

impl Writer {
    /// Opens the database, then writes batches as they come, for the life of the process.
    pub fn run(mut self) {
        self.store();
        loop {
            let jobs = self.next_batch();
            let n = jobs.len() as u64;
            self.write(jobs);
            self.last_write = Some(Instant::now());
            self.shared.lock().done += n;
            self.shared.progress.notify_all();
        }
    }

    /// Waits for a first job; if it belongs to a stream of them, gathers more for the
    /// window (unless a flush waits).
    fn next_batch(&self) -> Vec<Job> {
        let shared = &self.shared;
        let mut q = shared.lock();
        while q.jobs.is_empty() {
            q.writer_idle = true;
            q = shared.work.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        q.writer_idle = false;
        let streaming = self.last_write.is_some_and(|at| at.elapsed() < shared.window);
        let deadline = Instant::now() + shared.window;
        while streaming && q.flush_to <= q.done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            q = shared.work.wait_timeout(q, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        std::mem::take(&mut q.jobs)
    }

    fn write(&mut self, jobs: Vec<Job>) {
        let mut records = Vec::with_capacity(jobs.len());
        for job in jobs {
            match job {
                Job::Record(record) => records.push(record),
                Job::Audit(log, entry) => {
                    if let Err(e) = log.append(&entry) {
                        self.warn_once(format!("cannot append to the audit file {}: {e}", log.path().display()));
                    }
                }
            }
        }
        if !records.is_empty() {
            self.write_records(&records);
        }
    }

    fn write_records(&mut self, records: &[Record]) {
        let mut started_afresh = false;
        loop {
            let Some(store) = self.store() else { return };
            let Err(e) = store.write(records) else { return };
            if is_busy(&e) {
                std::thread::sleep(BUSY_PAUSE);
            } else if is_corrupt(&e) && !started_afresh {
                started_afresh = true;
                let Some(store) = self.store.take() else { return };
                match store.replace_corrupt(&e.to_string(), self.legacy.as_deref(), &*self.warn) {
                    Ok(fresh) => self.store = Some(fresh),
                    Err(why) => self.disable(why),
                }
            } else {
                self.warn_once(format!("cannot write to the history database: {e}"));
                return;
            }
        }
    }

    fn disable(&mut self, why: OpenError) {
        (self.warn)(&format!("history is off: {why}"));
        self.disabled = true;
    }

    /// The store, opened (again) if needed: also when another process moved the file we
    /// had open aside.
    fn store(&mut self) -> Option<&mut Store> {
        if self.disabled {
            return None;
        }
        if self.store.as_ref().is_some_and(|s| !s.is_current()) {
            self.store = None;
        }
        if self.store.is_none() {
            let path = self.path.clone()?;
            loop {
                match Store::open(&path, self.legacy.as_deref(), &*self.warn) {
                    Ok(store) => {
                        self.store = Some(store);
                        break;
                    }
                    Err(OpenError::Busy) => std::thread::sleep(BUSY_PAUSE),
                    Err(why) => {
                        self.disable(why);
                        return None;
                    }
                }
            }
        }
        self.store.as_mut()
    }

    fn warn_once(&mut self, message: String) {
        if self.warned.insert(message.clone()) {
            (self.warn)(&message);
        }
    }
}
