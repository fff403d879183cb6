"""Files as input: ``%load FILE`` puts a file's text in the next input for editing;
``%run FILE [ARGS]`` runs a script as ``python FILE ARGS`` would (``__name__`` is
``"__main__"``, ``sys.argv`` is ``[FILE, ARGS...]`` while it runs), top-level ``await``
allowed, and the names it defines join the namespace."""

from __future__ import annotations

import os

from hotrepl._magics import UsageError, awaits_code, builtin, run_awaiting, usage_of


def _read(path: str) -> str:
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None


@builtin("load", complete="files")
def load(ctx, line):
    """Put a file's text in the next input, to edit and run: %load FILE"""
    path = line.strip()
    if not path:
        raise UsageError(usage_of(load))
    ctx.set_next_input(f"# %load {path}\n{_read(path)}")


def _split(line: str) -> list:
    import shlex

    try:
        return shlex.split(line)
    except ValueError as e:
        raise UsageError(f"{e}\n{usage_of(run)}") from None


def _run_awaits(line):
    words = _split(line)
    if not words:
        return False
    try:
        return awaits_code(_read(words[0]))
    except UsageError:
        return False


@builtin("run", complete="files", awaits=_run_awaits)
def run(ctx, line):
    """Run a Python script here: %run FILE [ARGS...]

    As `python FILE ARGS` would run it (__name__ == "__main__", sys.argv == [FILE, ARGS...]
    while it runs), with top-level await allowed; then the names it defined are in the
    namespace."""
    words = _split(line)
    if not words:
        raise UsageError(usage_of(run))
    path = os.path.abspath(os.path.expanduser(words[0]))
    import builtins

    script_globals = {"__name__": "__main__", "__file__": path, "__builtins__": builtins}
    code = ctx.compile(_read(path), line=1, filename=path, globals=script_globals)
    if code.awaits:
        return _run_awaiting(ctx, code, script_globals, [path, *words[1:]])
    with _argv([path, *words[1:]]):
        try:
            code.run()
        finally:
            _keep_names(ctx, script_globals)


async def _run_awaiting(ctx, code, script_globals, argv):
    with _argv(argv):
        try:
            await run_awaiting(code)
        finally:
            _keep_names(ctx, script_globals)


def _keep_names(ctx, script_globals):
    ctx.locals.update({k: v for k, v in script_globals.items() if not (k.startswith("__") and k.endswith("__"))})


class _argv:
    """``sys.argv`` set for the script while it runs (as IPython's %run does: it is the
    process's, so in a live program the program sees it for that long)."""

    def __init__(self, argv):
        self.argv = argv

    def __enter__(self):
        import sys

        self.saved = sys.argv
        sys.argv = self.argv

    def __exit__(self, *exc):
        import sys

        sys.argv = self.saved
