"""The debugger over the session: ``%debug`` (post-mortem on the last error) and ``%pdb``
(post-mortem on every error). pdb reads and writes through ``sys.stdin``/``sys.stdout``,
which in a session are its client's; a client that leaves while pdb waits ends pdb (and the
cell), and the program goes on."""

from __future__ import annotations

from hotrepl._magics import UsageError, builtin


def post_mortem(error: BaseException) -> None:
    """pdb on the frames of ``error``, as raised. It leaves the program's signal handlers
    alone (nosigint) and the debugger's own exceptions do not escape."""
    import bdb
    import pdb

    debugger = pdb.Pdb(nosigint=True, readrc=False)
    debugger.reset()
    try:
        debugger.interaction(None, error.__traceback__)
    except bdb.BdbQuit:
        pass
    except EOFError:
        pass


@builtin("debug")
def debug(ctx, line):
    """Open the debugger on the last error (post-mortem): %debug

    In the frames of the last uncaught exception of this session: `p x` prints x, `u`/`d`
    move up and down the stack, `q` leaves."""
    if line.strip():
        raise UsageError("usage: %debug")
    error = ctx.last_error
    if error is None or error.__traceback__ is None:
        raise UsageError("no error to debug yet: %debug opens on the last uncaught exception of this session")
    post_mortem(error)


@builtin("pdb")
def pdb_magic(ctx, line):
    """Open the debugger on every uncaught exception: %pdb [on|off]

    Without an argument, switches it. (The `pdb` option, as %config sets it.)"""
    from hotrepl._magics.core import _switch

    choice = line.strip().lower() or ("off" if ctx.pdb else "on")
    _switch("pdb", choice, "usage: %pdb [on|off]")
    print(f"The debugger opens on uncaught exceptions: {'on' if ctx.pdb else 'off'}")
