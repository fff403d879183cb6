//! `hotrepl run SCRIPT [ARGS...]`: runs a script as `python SCRIPT ARGS...` would, with
//! `hotrepl.start()` called first so it can be attached to. hotrepl replaces itself with
//! the interpreter, so the script's exit status, signals and output are the
//! interpreter's own.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::python;

/// Runs with `sys.argv == ['-c', SCRIPT, *ARGS]`. It sets up what `python SCRIPT` would
/// (`sys.argv`, `sys.path[0]` — unless safe_path — and an absolute `__file__`), starts
/// the server, and runs the script as `__main__` (the namespace sessions see while it
/// runs). An uncaught exception is re-raised so that the interpreter reports it and sets
/// the exit status as usual (1, or death by SIGINT for KeyboardInterrupt); a one-shot
/// excepthook first drops this code's and runpy's frames from its traceback.
const BOOTSTRAP: &str = r#"
def _hotrepl_run(script):
    import os, runpy, sys
    sys.argv = sys.argv[1:]
    if not getattr(sys.flags, 'safe_path', False):
        sys.path[0] = os.path.dirname(os.path.realpath(script))
    try:
        __import__('hotrepl').start()
    except Exception as e:
        print('hotrepl: running without a server:', e, file=sys.stderr)
    try:
        runpy.run_path(os.path.abspath(script), run_name='__main__')
    except SystemExit:
        raise
    except BaseException:
        hook = sys.excepthook
        def report(kind, value, tb):
            sys.excepthook = hook
            while tb is not None and (tb.tb_frame.f_code.co_filename == '<string>' or tb.tb_frame.f_globals is vars(runpy)):
                tb = tb.tb_next
            hook(kind, value.with_traceback(tb), tb)
        sys.excepthook = report
        raise
_hotrepl_run(__import__('sys').argv[1])
"#;

/// Only returns if the interpreter could not be started.
pub fn run(python: Option<&Path>, script: &Path, args: &[OsString]) -> String {
    if let Err(e) = std::fs::metadata(script) {
        return format!("can't open file '{}': {e}", script.display());
    }
    let interpreter = python::interpreter(python);
    let error = Command::new(&interpreter)
        .arg("-c")
        .arg(python::program(BOOTSTRAP.trim_start()))
        .arg(script)
        .args(args)
        .exec();
    format!("cannot run {}: {error}", interpreter.display())
}
