//! Calls into CPython that may be the last thing a thread does. On Python 3.13 and older a
//! non-main thread that wants the GIL back while the interpreter finalizes is ended with
//! `pthread_exit`, a forced unwind; through Rust frames that is undefined and usually aborts
//! the process. Where our code runs user code (a session's cell) or sits in every write of
//! the program (`sys.stdout`), the call is declared `C-unwind` and guarded: if the unwind
//! comes, the thread parks for good instead (what Python 3.14 does itself), and the
//! process exits normally around it.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

#[allow(clashing_extern_declarations)]
extern "C-unwind" {
    #[link_name = "PyEval_EvalCode"]
    fn eval_code_unwinding(
        code: *mut ffi::PyObject,
        globals: *mut ffi::PyObject,
        locals: *mut ffi::PyObject,
    ) -> *mut ffi::PyObject;
    #[link_name = "PyObject_Call"]
    fn call_unwinding(
        callable: *mut ffi::PyObject,
        args: *mut ffi::PyObject,
        kwargs: *mut ffi::PyObject,
    ) -> *mut ffi::PyObject;
}

/// Dropped only by a forced unwind: then the thread stops here, forever.
struct ParkIfUnwound;

impl Drop for ParkIfUnwound {
    fn drop(&mut self) {
        crate::threads::park_forever();
    }
}

/// Makes `call` (one of the declarations above) under the guard and takes its result: a
/// new reference, or NULL with an exception set.
fn guarded<'py>(py: Python<'py>, call: impl FnOnce() -> *mut ffi::PyObject) -> PyResult<Bound<'py, PyAny>> {
    let guard = ParkIfUnwound;
    let result = call();
    std::mem::forget(guard);
    // SAFETY: CPython's calling convention for the functions declared above.
    unsafe { Bound::from_owned_ptr_or_err(py, result) }
}

/// `eval(code, globals, locals)`.
pub fn eval_code<'py>(
    py: Python<'py>,
    code: &Bound<'py, PyAny>,
    globals: &Bound<'py, PyDict>,
    locals: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: all three objects are alive for the call.
    guarded(py, || unsafe {
        eval_code_unwinding(code.as_ptr(), globals.as_ptr(), locals.as_ptr())
    })
}

/// `callable(*args, **kwargs)`.
pub fn call<'py>(
    callable: &Bound<'py, PyAny>,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let kwargs = kwargs.map_or(std::ptr::null_mut(), |k| k.as_ptr());
    // SAFETY: live objects for the call.
    guarded(callable.py(), || unsafe {
        call_unwinding(callable.as_ptr(), args.as_ptr(), kwargs)
    })
}

/// `obj.name(*args)`.
pub fn call_method<'py, A>(obj: &Bound<'py, PyAny>, name: &str, args: A) -> PyResult<Bound<'py, PyAny>>
where
    A: IntoPyObject<'py, Target = PyTuple, Output = Bound<'py, PyTuple>>,
{
    let args = args.into_pyobject(obj.py()).map_err(Into::into)?;
    call(&obj.getattr(name)?, &args, None)
}
