//! `sys.stdout`, `sys.stderr` and `sys.stdin` stand-ins that route each call to the session
//! it belongs to, and everywhere else behave as the objects they replaced.
//!
//! Which session a call belongs to: the thread's own session (a session's worker thread),
//! else the session in the `hotrepl_session` context variable (it follows a cell into the
//! tasks it creates, because asyncio copies the context when scheduling), else the
//! process-wide default session (only the local REPL has one). With none of these the call
//! goes to the original object untouched, so the host's own output stays where it was.
//!
//! On a transport that broadcasts to several clients (Jupyter), the context variable also
//! names the cell: what a task prints while a later cell runs is shown under the cell that
//! started the task.

use std::cell::RefCell;
use std::os::raw::c_char;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use hotrepl_proto::{Content, ExecutionState, InputCancel, InputReply, InputRequest, Status, StreamName};
use pyo3::exceptions::{PyEOFError, PyKeyboardInterrupt, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyString};

use crate::outbox::{Pressure, Sink};
use crate::pycache::py_attr;
use crate::session::Session;
use crate::transport::{Parent, To};
use crate::unwind;

pyo3::create_exception!(
    hotrepl._native,
    StdinNotImplementedError,
    pyo3::exceptions::PyNotImplementedError,
    "input() (or getpass) in a cell whose front end does not answer input requests (Jupyter's allow_stdin: false)."
);

/// One session's end of the I/O routing: where its output goes and how it asks for input.
pub struct SessionIo {
    sink: Arc<dyn Sink>,
    /// In the local REPL every thread may wait for the terminal to catch up; in a host
    /// process only the session's own worker thread may.
    any_thread_waits: bool,
    input: Mutex<Option<Arc<PendingInput>>>,
    /// The request the running (or last) cell answers: its output and input requests
    /// belong to it.
    cell: Mutex<Option<Parent>>,
    /// Whether the running cell's client takes input requests (`allow_stdin`).
    stdin_allowed: AtomicBool,
    /// The session this is the I/O of (set once the session exists).
    session: OnceLock<Weak<Session>>,
    /// The session's part in history (what its cells print is recorded there).
    pub history: crate::history::SessionLog,
}

struct PendingInput {
    /// A `_thread.lock` held while the answer is awaited. Waiting by acquiring it, rather
    /// than on a Rust condvar, lets a real SIGINT interrupt the wait in the main thread.
    lock: Py<PyAny>,
    answer: Mutex<Option<Answer>>,
}

enum Answer {
    Line(String),
    Cancel(InputCancel),
}

impl SessionIo {
    pub fn new(sink: Arc<dyn Sink>, any_thread_waits: bool) -> Arc<SessionIo> {
        Arc::new(SessionIo {
            sink,
            any_thread_waits,
            input: Mutex::new(None),
            cell: Mutex::new(None),
            stdin_allowed: AtomicBool::new(true),
            session: OnceLock::new(),
            history: crate::history::SessionLog::new(),
        })
    }

    /// Ties this I/O to its session, so code that only knows where its output goes (a
    /// magic called from a cell) can find the session.
    pub fn belongs_to(&self, session: &Arc<Session>) {
        let _ = self.session.set(Arc::downgrade(session));
    }

    pub fn sink(&self) -> &Arc<dyn Sink> {
        &self.sink
    }

    /// Whether the transport broadcasts to several clients: announcements are made, and
    /// the output of tasks is told apart by cell.
    pub fn broadcasts(&self) -> bool {
        self.sink.broadcasts()
    }

    /// A cell answering `parent` starts: its output and input requests belong to it;
    /// `allow_stdin` says whether its client answers input requests.
    pub fn start_cell(&self, parent: &Parent, allow_stdin: bool) {
        *self.cell.lock().unwrap_or_else(|e| e.into_inner()) = Some(parent.clone());
        self.stdin_allowed.store(allow_stdin, Ordering::Relaxed);
        self.sink.set_parent(Some(parent.header.clone()));
    }

    fn cell(&self) -> Option<Parent> {
        self.cell.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Answers the request `parent`, at once.
    pub fn reply(&self, parent: &Parent, content: impl Into<Content>) {
        let msg = self.sink.headers().message(content.into(), Some(&parent.header));
        self.sink.send(&msg, To::Reply(&parent.origin));
    }

    /// Queues output of the request `parent`: it leaves with the next write.
    pub fn queue_output(&self, parent: &Parent, content: impl Into<Content>) {
        let msg = self.sink.headers().message(content.into(), Some(&parent.header));
        self.sink.queue(&msg, To::Output);
    }

    /// Announces `content` (`status`, `execute_input`) about the request `parent` to every
    /// client, where the transport broadcasts.
    pub fn announce(&self, parent: &Parent, content: impl Into<Content>) {
        if self.sink.broadcasts() {
            let msg = self.sink.headers().message(content.into(), Some(&parent.header));
            self.sink.send(&msg, To::Announcement);
        }
    }

    /// Answers the request `parent` and, where requests are announced, says it is idle
    /// again: both in one write.
    pub fn reply_then_idle(&self, parent: &Parent, content: impl Into<Content>) {
        let msg = self.sink.headers().message(content.into(), Some(&parent.header));
        if !self.sink.broadcasts() {
            return self.sink.send(&msg, To::Reply(&parent.origin));
        }
        self.sink.queue(&msg, To::Reply(&parent.origin));
        let idle = Status {
            execution_state: ExecutionState::Idle,
        };
        let idle = self.sink.headers().message(idle.into(), Some(&parent.header));
        self.sink.send(&idle, To::Announcement);
    }

    /// Sends output (display data) of the cell `cell`, else of the running (or last) one.
    pub fn publish(&self, cell: Option<&Parent>, content: Content) {
        let parent = cell.cloned().or_else(|| self.cell());
        let msg = self
            .sink
            .headers()
            .message(content, parent.as_ref().map(|p| &*p.header));
        self.sink.send(&msg, To::Output);
    }

    /// Output text of the cell `cell`, else of the running (or last) one.
    pub fn write(&self, py: Python<'_>, name: StreamName, text: &str, cell: Option<&Parent>) {
        self.history.output(name, text); // history: record what the session is sent
        let own_thread = is_bound_to_this_thread(self);
        let may_wait = self.any_thread_waits || own_thread;
        if self.sink.push_text(name, text, cell.map(|c| &c.header), may_wait) == Pressure::High && may_wait {
            let sink = self.sink.clone();
            crate::threads::without_python(py, move || sink.wait_drained());
        } else if own_thread {
            yield_gil_now_and_then(py, text.len());
        }
    }

    /// Asks the client for a line (without its newline). Ctrl-C at the client raises
    /// KeyboardInterrupt here, Ctrl-D or a closed connection EOFError.
    pub fn read_line(&self, py: Python<'_>, prompt: &str, password: bool) -> PyResult<String> {
        if self.sink.is_closed() {
            return Err(PyEOFError::new_err("the hotrepl client is gone"));
        }
        if !self.stdin_allowed.load(Ordering::Relaxed) {
            return Err(StdinNotImplementedError::new_err(
                "input was asked for, but the front end that runs this cell does not answer input requests",
            ));
        }
        // A debugger asking what to do next may want to show the cell it stopped in.
        crate::cell::register_deferred_sources(py)?;
        let lock = py.import("_thread")?.call_method0("allocate_lock")?;
        unwind::call_method(&lock, "acquire", ())?;
        let pending = Arc::new(PendingInput {
            lock: lock.clone().unbind(),
            answer: Mutex::new(None),
        });
        {
            let mut slot = self.input.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_some() {
                return Err(PyRuntimeError::new_err(
                    "another thread of this session is already waiting for input",
                ));
            }
            *slot = Some(pending.clone());
        }
        let cell = self.cell();
        let request = self.sink.headers().message(
            InputRequest {
                prompt: prompt.to_owned(),
                password,
            }
            .into(),
            cell.as_ref().map(|c| &*c.header),
        );
        let origin = cell.map(|c| c.origin).unwrap_or_default();
        self.sink.send(&request, To::Input(&origin));
        let waited = unwind::call_method(&lock, "acquire", ());
        self.input.lock().unwrap_or_else(|e| e.into_inner()).take();
        waited?;
        let answer = pending.answer.lock().unwrap_or_else(|e| e.into_inner()).take();
        match answer {
            Some(Answer::Line(line)) => Ok(line),
            Some(Answer::Cancel(InputCancel::Interrupt)) => Err(PyKeyboardInterrupt::new_err(())),
            Some(Answer::Cancel(InputCancel::Eof)) | None => Err(PyEOFError::new_err(())),
        }
    }

    /// Whether a thread of this session waits in `read_line` for the client.
    pub fn awaiting_input(&self) -> bool {
        self.input.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// Delivers the client's answer to whoever is waiting in `read_line`.
    pub fn answer_input(&self, py: Python<'_>, reply: InputReply) -> bool {
        let answer = match reply.cancelled {
            Some(c) => Answer::Cancel(c),
            None => Answer::Line(reply.value),
        };
        self.finish_input(py, answer)
    }

    /// Ends a pending input wait as if the user pressed Ctrl-C (or Ctrl-D).
    pub fn cancel_input(&self, py: Python<'_>, how: InputCancel) -> bool {
        self.finish_input(py, Answer::Cancel(how))
    }

    fn finish_input(&self, py: Python<'_>, answer: Answer) -> bool {
        let pending = self.input.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(pending) = pending else { return false };
        *pending.answer.lock().unwrap_or_else(|e| e.into_inner()) = Some(answer);
        // Releasing can only fail if it was not held, which cannot happen while pending.
        let _ = pending.lock.bind(py).call_method0("release");
        true
    }
}

/// Where a thread's or a task's output goes: its session (with the cell it belongs to, if
/// that is not simply the running one), or the capture of a background job (kept for
/// whoever asks for it later).
#[derive(Clone)]
enum Target {
    Session { io: Arc<SessionIo>, cell: Option<Parent> },
    Capture(Arc<Capture>),
}

impl Target {
    fn route(&self) -> Route {
        match self {
            Target::Session { io, cell } => Route::Session(io.clone(), cell.clone()),
            Target::Capture(c) => Route::Capture(c.clone()),
        }
    }
}

/// A thread's tie to where its output goes (a session's worker, a background job's
/// thread). `alive` is cleared when a worker is abandoned: what its stuck cell prints later
/// is dropped, not shown to anyone.
struct ThreadBinding {
    target: Target,
    alive: Arc<AtomicBool>,
}

thread_local! {
    static THREAD_IO: RefCell<Option<ThreadBinding>> = const { RefCell::new(None) };
    /// Set while the thread speaks for the program itself (see [`as_program`]).
    static AS_PROGRAM: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static LAST_YIELD: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
    /// Bytes written since the clock was last read.
    static UNTIMED_BYTES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How much text a session thread writes between looks at the clock: reading it on every
/// `print()` was a tenth of the cost of printing short lines.
const BYTES_BETWEEN_CLOCK_READS: usize = 4096;

/// How long a session thread that keeps printing holds the GIL at most.
const GIL_YIELD_INTERVAL: Duration = Duration::from_millis(2);

/// A session printing in a loop holds the GIL without pause (its output goes to a buffer,
/// not a blocking write). The program's event loop needs the GIL several times per
/// iteration and would wait the interpreter's switch interval (5 ms) each time, so the
/// session thread lets go of it every two milliseconds while it streams.
fn yield_gil_now_and_then(py: Python<'_>, written: usize) {
    let untimed = UNTIMED_BYTES.with(|b| b.get()) + written;
    if untimed < BYTES_BETWEEN_CLOCK_READS {
        UNTIMED_BYTES.with(|b| b.set(untimed));
        return;
    }
    UNTIMED_BYTES.with(|b| b.set(0));
    let now = Instant::now();
    let due = LAST_YIELD.with(|last| last.get().is_none_or(|t| now.duration_since(t) >= GIL_YIELD_INTERVAL));
    if due {
        crate::threads::without_python(py, std::thread::yield_now);
        LAST_YIELD.with(|last| last.set(Some(Instant::now())));
    }
}

/// Makes every stream call on this thread go to `io` (a session's worker thread). Clearing
/// the returned flag cuts the thread off.
pub fn bind_thread(io: Arc<SessionIo>) -> Arc<AtomicBool> {
    bind_thread_to(Target::Session { io, cell: None })
}

fn bind_thread_to(target: Target) -> Arc<AtomicBool> {
    let alive = Arc::new(AtomicBool::new(true));
    THREAD_IO.with(|t| {
        *t.borrow_mut() = Some(ThreadBinding {
            target,
            alive: alive.clone(),
        })
    });
    alive
}

fn is_bound_to_this_thread(io: &SessionIo) -> bool {
    THREAD_IO.with(|t| {
        t.borrow().as_ref().is_some_and(
            |b| matches!(&b.target, Target::Session { io: bound, .. } if std::ptr::eq(Arc::as_ptr(bound), io)),
        )
    })
}

static DEFAULT_IO: Mutex<Option<Arc<SessionIo>>> = Mutex::new(None);
/// How many sessions route through the context variable; 0 skips looking it up.
static CONTEXT_SESSIONS: AtomicUsize = AtomicUsize::new(0);
static SESSION_VAR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Sends all output and input of the process that belongs to no other session to `io`
/// (the local REPL, where the whole process is the session).
pub fn set_default(io: Option<Arc<SessionIo>>) {
    *DEFAULT_IO.lock().unwrap_or_else(|e| e.into_inner()) = io;
}

/// The value stored in the `hotrepl_session` context variable.
#[pyclass(module = "hotrepl._native", frozen)]
pub struct SessionHandle {
    target: Target,
}

fn session_var(py: Python<'_>) -> PyResult<&Py<PyAny>> {
    SESSION_VAR.get_or_try_init(py, || {
        Ok(py
            .import("contextvars")?
            .getattr("ContextVar")?
            .call1(("hotrepl_session",))?
            .unbind())
    })
}

/// Sets the context variable in the calling thread's current context, so this thread and
/// every task it schedules from now on route to `io`.
pub fn enter_context(py: Python<'_>, io: &Arc<SessionIo>) -> PyResult<()> {
    set_context_target(
        py,
        Target::Session {
            io: io.clone(),
            cell: None,
        },
    )
}

/// Like [`enter_context`], for the cell answering `cell`: what its tasks print later, while
/// other cells run, stays that cell's.
pub fn enter_cell_context(py: Python<'_>, io: &Arc<SessionIo>, cell: &Parent) -> PyResult<()> {
    set_context_target(
        py,
        Target::Session {
            io: io.clone(),
            cell: Some(cell.clone()),
        },
    )
}

fn set_context_target(py: Python<'_>, target: Target) -> PyResult<()> {
    let handle = Bound::new(py, SessionHandle { target })?;
    session_var(py)?.bind(py).call_method1("set", (handle,))?;
    Ok(())
}

/// Counts a session that routes through the context variable (see `CONTEXT_SESSIONS`).
pub fn context_session_started() {
    CONTEXT_SESSIONS.fetch_add(1, Ordering::AcqRel);
}

pub fn context_session_ended() {
    CONTEXT_SESSIONS.fetch_sub(1, Ordering::AcqRel);
}

/// The session the calling code runs for (the same rule as for its output; a background
/// job's is the session that started it), if any.
pub fn current_session(py: Python<'_>) -> Option<Arc<Session>> {
    match route(py) {
        Route::Session(io, _) => io.session.get().and_then(Weak::upgrade),
        Route::Capture(capture) => capture.session.upgrade(),
        Route::Nowhere | Route::Original => None,
    }
}

/// The session whose output the calling code's messages (display data) are (its I/O), and
/// the cell they belong to when that is not simply the running one: the same rule as
/// [`current_session`].
pub fn current_output(py: Python<'_>) -> Option<(Arc<SessionIo>, Option<Parent>)> {
    match route(py) {
        Route::Session(io, cell) => Some((io, cell)),
        Route::Capture(capture) => capture.session.upgrade().map(|s| (s.io.clone(), None)),
        Route::Nowhere | Route::Original => None,
    }
}

/// Where a stream call goes.
enum Route {
    /// A session, and the cell the call belongs to (None: the running or last one).
    Session(Arc<SessionIo>, Option<Parent>),
    /// A background job's output, kept.
    Capture(Arc<Capture>),
    /// A cut-off (abandoned) session thread: nowhere.
    Nowhere,
    /// Not a session's: the object that was replaced.
    Original,
}

/// Runs `f` with the calling thread's output going where the program's goes, whatever
/// session the thread serves: hotrepl's own log lines are the program's, not a cell's.
pub fn as_program<T>(f: impl FnOnce() -> T) -> T {
    let before = AS_PROGRAM.with(|p| p.replace(true));
    let result = f();
    AS_PROGRAM.with(|p| p.set(before));
    result
}

fn route(py: Python<'_>) -> Route {
    if AS_PROGRAM.with(|p| p.get()) {
        return Route::Original;
    }
    let bound = THREAD_IO.with(|t| {
        t.borrow()
            .as_ref()
            .map(|b| (b.target.clone(), b.alive.load(Ordering::Acquire)))
    });
    match bound {
        Some((target, true)) => return target.route(),
        Some((_, false)) => return Route::Nowhere,
        None => {}
    }
    if CONTEXT_SESSIONS.load(Ordering::Acquire) > 0 {
        if let Ok(var) = session_var(py) {
            if let Ok(value) = var.bind(py).call_method1("get", (py.None(),)) {
                if let Ok(handle) = value.cast::<SessionHandle>() {
                    return handle.get().target.route();
                }
            }
        }
    }
    match DEFAULT_IO.lock().unwrap_or_else(|e| e.into_inner()).clone() {
        Some(io) => Route::Session(io, None),
        None => Route::Original,
    }
}

/// The output of a background job: the last `limit` bytes of it, and how much was dropped
/// before them.
#[pyclass(module = "hotrepl._native", frozen)]
pub struct OutputCapture {
    capture: Arc<Capture>,
}

struct Capture {
    text: Mutex<(String, usize)>,
    limit: usize,
    /// The session that started the job (magics used in the job are its).
    session: Weak<Session>,
}

impl Capture {
    fn push(&self, text: &str) {
        let mut kept = self.text.lock().unwrap_or_else(|e| e.into_inner());
        kept.0.push_str(text);
        if kept.0.len() > self.limit {
            let mut cut = kept.0.len() - self.limit;
            while !kept.0.is_char_boundary(cut) {
                cut += 1;
            }
            kept.0.drain(..cut);
            kept.1 += cut;
        }
    }
}

#[pymethods]
impl OutputCapture {
    /// Output kept from the calling code's session, with at most `limit` bytes of it.
    #[new]
    #[pyo3(signature = (limit=1 << 20))]
    fn new(py: Python<'_>, limit: usize) -> OutputCapture {
        let session = current_session(py).map(|s| Arc::downgrade(&s)).unwrap_or_default();
        OutputCapture {
            capture: Arc::new(Capture {
                text: Mutex::new((String::new(), 0)),
                limit,
                session,
            }),
        }
    }

    /// From now on, what the calling thread prints is kept here.
    fn bind_current_thread(&self) {
        bind_thread_to(Target::Capture(self.capture.clone()));
    }

    /// From now on, what the calling context (and tasks created in it) prints is kept here.
    /// Call it inside a context of its own (`contextvars.copy_context().run(...)`).
    fn enter_context(&self, py: Python<'_>) -> PyResult<()> {
        set_context_target(py, Target::Capture(self.capture.clone()))
    }

    /// Starts routing through the context variable (needed while a task routes there).
    fn open(&self) {
        context_session_started();
    }

    fn close(&self) {
        context_session_ended();
    }

    /// The output kept so far.
    #[getter]
    fn text(&self) -> String {
        self.capture.text.lock().unwrap_or_else(|e| e.into_inner()).0.clone()
    }

    /// How many bytes of output were dropped (the oldest) to stay within the limit.
    #[getter]
    fn dropped(&self) -> usize {
        self.capture.text.lock().unwrap_or_else(|e| e.into_inner()).1
    }
}

/// The program's own `sys.stdout` (or `stderr`): what sessions' output was routed away from.
#[pyfunction]
pub fn program_stream(py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
    let current = py.import("sys")?.getattr(name)?;
    Ok(match current.cast::<OutputStream>() {
        Ok(ours) => ours.get().original.clone_ref(py),
        Err(_) => current.unbind(),
    })
}

extern "C" {
    // In every CPython 3.9+ (in the limited API from 3.10, which pyo3's abi3-py39 build
    // does not use): the str's own UTF-8, where pyo3 would copy it into a new bytes object
    // on every write.
    fn PyUnicode_AsUTF8AndSize(unicode: *mut pyo3::ffi::PyObject, size: *mut pyo3::ffi::Py_ssize_t) -> *const c_char;
}

/// `str(s)` for any Python str, lone surrogates included (they become U+FFFD), with its
/// length in characters (what `write()` returns).
fn text_of<'a>(s: &'a Bound<'_, PyAny>) -> PyResult<(std::borrow::Cow<'a, str>, usize)> {
    let s = s.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "write() argument must be str, not {}",
            s.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))
    })?;
    let chars = s.len()?;
    let mut size: pyo3::ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live str; the buffer returned belongs to it and lives as long as it
    // does (borrowed for 'a); NULL means an exception is set (lone surrogates).
    let utf8 = unsafe { PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size) };
    if utf8.is_null() {
        let _ = PyErr::take(s.py());
        return Ok((std::borrow::Cow::Owned(s.to_string_lossy().into_owned()), chars));
    }
    // SAFETY: CPython guarantees `size` bytes of valid UTF-8 at `utf8`.
    let text = unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(utf8.cast::<u8>(), size as usize)) };
    Ok((std::borrow::Cow::Borrowed(text), chars))
}

/// Replacement for `sys.stdout` / `sys.stderr`.
#[pyclass(module = "hotrepl._native", frozen)]
pub struct OutputStream {
    name: StreamName,
    /// What `sys.stdout` (or `sys.stderr`) was before; None if it was None.
    original: Py<PyAny>,
    buffer: PyOnceLock<Py<BinaryOutput>>,
}

impl OutputStream {
    /// Sends `text` to the session it belongs to; false if it belongs to none.
    fn route(&self, py: Python<'_>, text: &str) -> bool {
        match route(py) {
            Route::Session(io, cell) => io.write(py, self.name, text, cell.as_ref()),
            Route::Capture(capture) => capture.push(text),
            Route::Nowhere => {}
            Route::Original => return false,
        }
        true
    }
}

#[pymethods]
impl OutputStream {
    fn write(&self, py: Python<'_>, s: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let (text, chars) = text_of(s)?;
        if self.route(py, &text) {
            return Ok(chars.into_pyobject(py)?.into_any().unbind());
        }
        let original = self.original.bind(py);
        if original.is_none() {
            return Ok(chars.into_pyobject(py)?.into_any().unbind());
        }
        Ok(unwind::call_method(original, "write", (s,))?.unbind())
    }

    /// Closing from a session (`exit()` closes stdin, for one) must not close the
    /// program's own stream.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        close(py, self.original.bind(py))
    }

    fn writelines(&self, py: Python<'_>, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        for line in lines.try_iter()? {
            self.write(py, &line?)?;
        }
        Ok(())
    }

    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        if !matches!(route(py), Route::Original) {
            // The writer thread sends output as soon as it is queued.
            return Ok(());
        }
        let original = self.original.bind(py);
        if !original.is_none() {
            unwind::call_method(original, "flush", ())?;
        }
        Ok(())
    }

    fn isatty(&self, py: Python<'_>) -> PyResult<bool> {
        isatty(py, self.original.bind(py))
    }

    fn fileno(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        fileno(py, self.original.bind(py))
    }

    fn writable(&self) -> bool {
        true
    }

    fn readable(&self) -> bool {
        false
    }

    fn seekable(&self) -> bool {
        false
    }

    #[getter]
    fn closed(&self) -> bool {
        false
    }

    #[getter]
    fn encoding(&self) -> &'static str {
        "utf-8"
    }

    #[getter]
    fn errors(&self) -> &'static str {
        "strict"
    }

    #[getter]
    fn name(&self) -> &'static str {
        match self.name {
            StreamName::Stdout => "<stdout>",
            StreamName::Stderr => "<stderr>",
        }
    }

    #[getter]
    fn mode(&self) -> &'static str {
        "w"
    }

    #[getter]
    fn line_buffering(&self) -> bool {
        true
    }

    #[getter]
    fn newlines(&self, py: Python<'_>) -> Py<PyAny> {
        py.None()
    }

    /// Binary writes (`sys.stdout.buffer.write(b"...")`), decoded as UTF-8.
    #[getter]
    fn buffer(slf: &Bound<'_, Self>) -> PyResult<Py<BinaryOutput>> {
        let py = slf.py();
        let this = slf.get();
        this.buffer
            .get_or_try_init(py, || {
                Py::new(
                    py,
                    BinaryOutput {
                        text: slf.clone().unbind(),
                        carry: Mutex::new(Vec::new()),
                    },
                )
            })
            .map(|b| b.clone_ref(py))
    }

    /// Anything else (`reconfigure`, `_CHUNK_SIZE`, ...) is the original object's.
    fn __getattr__(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        Ok(self.original.bind(py).getattr(name)?.unbind())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let original = self.original.bind(py).repr().map(|r| r.to_string()).unwrap_or_default();
        format!("<hotrepl {} routing, otherwise {}>", self.name(), original)
    }
}

/// `sys.stdout.buffer`: bytes in, routed as text; a UTF-8 sequence split across writes is
/// carried over to the next write.
#[pyclass(module = "hotrepl._native", frozen)]
pub struct BinaryOutput {
    text: Py<OutputStream>,
    carry: Mutex<Vec<u8>>,
}

#[pymethods]
impl BinaryOutput {
    fn write(&self, py: Python<'_>, b: &Bound<'_, PyAny>) -> PyResult<usize> {
        let stream = self.text.get();
        let bytes: Vec<u8> = match b.cast::<PyBytes>() {
            Ok(bytes) => bytes.as_bytes().to_vec(),
            Err(_) => b
                .call_method0("__bytes__")
                .or_else(|_| py.import("builtins")?.getattr("bytes")?.call1((b,)))?
                .extract()?,
        };
        let n = bytes.len();
        if matches!(route(py), Route::Original) {
            let original = stream.original.bind(py);
            if !original.is_none() {
                unwind::call_method(&original.getattr("buffer")?, "write", (PyBytes::new(py, &bytes),))?;
            }
            return Ok(n);
        }
        let text = {
            let mut carry = self.carry.lock().unwrap_or_else(|e| e.into_inner());
            carry.extend_from_slice(&bytes);
            let valid = match std::str::from_utf8(&carry) {
                Ok(_) => carry.len(),
                Err(e) if e.error_len().is_none() => e.valid_up_to(),
                Err(_) => carry.len(),
            };
            let rest = carry.split_off(valid);
            let text = String::from_utf8_lossy(&carry).into_owned();
            *carry = rest;
            text
        };
        stream.route(py, &text);
        Ok(n)
    }

    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        self.text.get().flush(py)
    }

    fn writable(&self) -> bool {
        true
    }

    fn __getattr__(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        Ok(self
            .text
            .get()
            .original
            .bind(py)
            .getattr("buffer")?
            .getattr(name)?
            .unbind())
    }
}

/// Replacement for `sys.stdin`: in a session, reading asks the client for a line.
#[pyclass(module = "hotrepl._native", frozen)]
pub struct InputStream {
    original: Py<PyAny>,
}

#[pymethods]
impl InputStream {
    #[pyo3(signature = (size=-1))]
    fn readline(&self, py: Python<'_>, size: isize) -> PyResult<Py<PyAny>> {
        let io = match route(py) {
            Route::Session(io, _) => io,
            // A background job has nobody to ask: its input is at its end.
            Route::Capture(_) | Route::Nowhere => return Ok(PyString::new(py, "").into_any().unbind()),
            Route::Original => return Ok(unwind::call_method(self.original.bind(py), "readline", (size,))?.unbind()),
        };
        let line = match io.read_line(py, "", false) {
            Ok(mut line) => {
                line.push('\n');
                line
            }
            Err(e) if e.is_instance_of::<PyEOFError>(py) => String::new(),
            Err(e) => return Err(e),
        };
        Ok(PyString::new(py, &line).into_any().unbind())
    }

    #[pyo3(signature = (size=-1))]
    fn read(&self, py: Python<'_>, size: isize) -> PyResult<Py<PyAny>> {
        if matches!(route(py), Route::Original) {
            return Ok(unwind::call_method(self.original.bind(py), "read", (size,))?.unbind());
        }
        let mut all = String::new();
        loop {
            let line: String = self.readline(py, -1)?.extract(py)?;
            if line.is_empty() || (size >= 0 && all.len() + line.len() >= size as usize) {
                all.push_str(&line);
                break;
            }
            all.push_str(&line);
        }
        Ok(PyString::new(py, &all).into_any().unbind())
    }

    /// See `OutputStream.close`: `exit()` in a session closes `sys.stdin`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        close(py, self.original.bind(py))
    }

    #[pyo3(signature = (hint=-1))]
    fn readlines(&self, py: Python<'_>, hint: isize) -> PyResult<Vec<Py<PyAny>>> {
        let _ = hint;
        let mut lines = Vec::new();
        loop {
            let line = self.readline(py, -1)?;
            if line.bind(py).len()? == 0 {
                return Ok(lines);
            }
            lines.push(line);
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let line = self.readline(py, -1)?;
        Ok(if line.bind(py).len()? == 0 { None } else { Some(line) })
    }

    fn isatty(&self, py: Python<'_>) -> PyResult<bool> {
        isatty(py, self.original.bind(py))
    }

    fn fileno(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        fileno(py, self.original.bind(py))
    }

    fn readable(&self) -> bool {
        true
    }

    fn writable(&self) -> bool {
        false
    }

    #[getter]
    fn encoding(&self) -> &'static str {
        "utf-8"
    }

    #[getter]
    fn errors(&self) -> &'static str {
        "strict"
    }

    #[getter]
    fn name(&self) -> &'static str {
        "<stdin>"
    }

    #[getter]
    fn closed(&self) -> bool {
        false
    }

    fn __getattr__(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        Ok(self.original.bind(py).getattr(name)?.unbind())
    }
}

/// The local REPL's session is the terminal; a remote session is not.
fn isatty(py: Python<'_>, original: &Bound<'_, PyAny>) -> PyResult<bool> {
    match route(py) {
        Route::Session(io, _) if io.any_thread_waits => delegate_bool(original, "isatty"),
        Route::Original => delegate_bool(original, "isatty"),
        _ => Ok(false),
    }
}

/// No descriptor while routed to a session: what goes through it must go through the
/// session, in order (`input()` would otherwise read the terminal behind its back).
fn fileno(py: Python<'_>, original: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    match route(py) {
        Route::Original => Ok(original.call_method0("fileno")?.unbind()),
        _ => Err(unsupported(py, "fileno")),
    }
}

/// Closes the original object only for the program's own calls.
fn close(py: Python<'_>, original: &Bound<'_, PyAny>) -> PyResult<()> {
    if matches!(route(py), Route::Original) && !original.is_none() {
        original.call_method0("close")?;
    }
    Ok(())
}

fn delegate_bool(original: &Bound<'_, PyAny>, method: &str) -> PyResult<bool> {
    if original.is_none() {
        return Ok(false);
    }
    original.call_method0(method)?.is_truthy()
}

fn unsupported(py: Python<'_>, what: &str) -> PyErr {
    let message = format!("{what}: a hotrepl session has no file descriptor");
    match py_attr!(py, "io", "UnsupportedOperation").and_then(|cls| cls.call1((message,))) {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// Puts the routing objects in `sys.stdout`, `sys.stderr` and `sys.stdin` (once).
pub fn install(py: Python<'_>) -> PyResult<()> {
    let sys = py.import("sys")?;
    for (attr, name) in [("stdout", StreamName::Stdout), ("stderr", StreamName::Stderr)] {
        let current = sys.getattr(attr)?;
        if current.is_instance_of::<OutputStream>() {
            continue;
        }
        let stream = match reinstate(py, Some(name), &current) {
            Some(stream) => stream,
            None => Bound::new(
                py,
                OutputStream {
                    name,
                    original: current.unbind(),
                    buffer: PyOnceLock::new(),
                },
            )?
            .into_any()
            .unbind(),
        };
        sys.setattr(attr, stream)?;
    }
    let current = sys.getattr("stdin")?;
    if !current.is_instance_of::<InputStream>() {
        let stream = match reinstate(py, None, &current) {
            Some(stream) => stream,
            None => Bound::new(
                py,
                InputStream {
                    original: current.unbind(),
                },
            )?
            .into_any()
            .unbind(),
        };
        sys.setattr("stdin", stream)?;
    }
    Ok(())
}

/// The retired stand-in for `current` (`sys.stdout` or `sys.stderr` by `name`, else
/// `sys.stdin`), taken back out of retirement: a program that starts and stops its server
/// again and again does not pile up new ones.
fn reinstate(py: Python<'_>, name: Option<StreamName>, current: &Bound<'_, PyAny>) -> Option<Py<PyAny>> {
    let mut retired = RETIRED.lock().unwrap_or_else(|e| e.into_inner());
    let found = retired.iter().position(|r| {
        let r = r.bind(py);
        let original = match (name, r.cast::<OutputStream>(), r.cast::<InputStream>()) {
            (Some(name), Ok(out), _) if out.get().name == name => &out.get().original,
            (None, _, Ok(input)) => &input.get().original,
            _ => return false,
        };
        original.bind(py).is(current)
    })?;
    Some(retired.swap_remove(found))
}

/// Stand-ins taken out of `sys`, kept alive for good. A thread inside `print()` may hold
/// one by a borrowed reference only (CPython before 3.12), and resumes after a write that
/// let go of the GIL; freeing the object under it would crash the program.
static RETIRED: Mutex<Vec<Py<PyAny>>> = Mutex::new(Vec::new());

/// Puts the original objects back where ours are still in place (someone who replaced
/// ours since keeps theirs).
pub fn uninstall(py: Python<'_>) -> PyResult<()> {
    let sys = py.import("sys")?;
    let mut retired = Vec::new();
    for attr in ["stdout", "stderr"] {
        let current = sys.getattr(attr)?;
        if let Ok(ours) = current.cast::<OutputStream>() {
            sys.setattr(attr, ours.get().original.bind(py))?;
            retired.push(current.unbind());
        }
    }
    let current = sys.getattr("stdin")?;
    if let Ok(ours) = current.cast::<InputStream>() {
        sys.setattr("stdin", ours.get().original.bind(py))?;
        retired.push(current.unbind());
    }
    RETIRED.lock().unwrap_or_else(|e| e.into_inner()).extend(retired);
    Ok(())
}

type Args<'a, 'py> = &'a Bound<'py, pyo3::types::PyTuple>;
type Kwargs<'a, 'py> = Option<&'a Bound<'py, pyo3::types::PyDict>>;
/// What a patched function does for a call routed as given; None: what the original does.
type InSession = fn(Python<'_>, Route, Args<'_, '_>, Kwargs<'_, '_>) -> Option<PyResult<Py<PyAny>>>;

/// Replaces `module.name` with a function that does `in_session` for calls made in a
/// session, and calls the original everywhere else. Done once: a function the program put
/// there since is left alone.
fn patch_for_sessions(
    py: Python<'_>,
    module: &str,
    name: &'static std::ffi::CStr,
    doc: &'static std::ffi::CStr,
    original: &'static PyOnceLock<Py<PyAny>>,
    in_session: InSession,
) -> PyResult<()> {
    let module = py.import(module)?;
    let attr = name.to_str().unwrap_or_default();
    let current = module.getattr(attr)?;
    if original.get(py).is_some_and(|orig| !orig.bind(py).is(&current)) {
        return Ok(()); // already ours (or replaced by the program since: leave it alone)
    }
    let original = original.get_or_init(py, || current.unbind()).clone_ref(py);
    let ours = pyo3::types::PyCFunction::new_closure(
        py,
        Some(name),
        Some(doc),
        move |args: Args<'_, '_>, kwargs: Kwargs<'_, '_>| -> PyResult<Py<PyAny>> {
            let py = args.py();
            match in_session(py, route(py), args, kwargs) {
                Some(done) => done,
                None => Ok(original.bind(py).call(args, kwargs)?.unbind()),
            }
        },
    )?;
    module.setattr(attr, ours)
}

static ORIGINAL_GETPASS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Points `getpass.getpass` at the session (asking its client, without echo) for calls made
/// in a session; everywhere else it is the original, which reads the program's terminal.
pub fn patch_getpass(py: Python<'_>) -> PyResult<()> {
    patch_for_sessions(
        py,
        "getpass",
        c"getpass",
        c"Prompt for a password, with echo turned off (in a hotrepl session: at its client).",
        &ORIGINAL_GETPASS,
        |py, route, args, kwargs| {
            let prompt = match (
                args.get_item(0),
                kwargs.and_then(|k| k.get_item("prompt").ok().flatten()),
            ) {
                (Ok(p), _) | (_, Some(p)) => match p.extract::<String>() {
                    Ok(p) => p,
                    Err(e) => return Some(Err(e)),
                },
                _ => "Password: ".to_owned(),
            };
            match route {
                Route::Session(io, _) => Some(asked(py, io.read_line(py, &prompt, true))),
                Route::Capture(_) | Route::Nowhere => Some(Err(PyEOFError::new_err(()))),
                Route::Original => None,
            }
        },
    )
}

static ORIGINAL_INPUT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Points `input` at the session for calls made in a session whose transport broadcasts
/// (Jupyter), with the prompt in the input request: front ends show it with the box that
/// takes the answer. Elsewhere `input` is the original, which writes its prompt to
/// `sys.stdout` and reads `sys.stdin` (both routed as usual).
pub fn patch_input(py: Python<'_>) -> PyResult<()> {
    patch_for_sessions(
        py,
        "builtins",
        c"input",
        c"Read a line, after showing the prompt (in a Jupyter session: at the front end that runs the cell).",
        &ORIGINAL_INPUT,
        |py, route, args, _kwargs| match route {
            Route::Session(io, _) if io.broadcasts() => {
                let prompt = match args.get_item(0).and_then(|p| p.str()) {
                    Ok(p) => p.to_string(),
                    Err(_) => String::new(),
                };
                Some(asked(py, io.read_line(py, &prompt, false)))
            }
            _ => None,
        },
    )
}

/// The answer to an input request, as Python's.
fn asked(py: Python<'_>, line: PyResult<String>) -> PyResult<Py<PyAny>> {
    Ok(PyString::new(py, &line?).into_any().unbind())
}
