"""hotrepl: an async-native Python REPL with its engine in Rust.

``hotrepl`` (the command) opens a prompt where ``await`` works at the top level and the
event loop keeps running between prompts. In any program, ``hotrepl.start()`` lets the
same user attach to it later with ``hotrepl attach <pid>``.
"""

from __future__ import annotations

import sys

from hotrepl._native import Server, __version__, start, stop
from hotrepl._native import embed_start as _embed_start

__all__ = ["Server", "__version__", "embed", "embed_async", "reload", "start", "stop"]


def _callers_namespace() -> tuple[dict, dict | None]:
    """The caller's globals, live, and a copy of its locals if it is a function (None at
    module level). Names assigned at the prompt go to that copy: the function's own
    variables are left alone, while the module's globals read as they are now."""
    frame = sys._getframe(2)  # the caller of embed() or embed_async()
    if frame.f_locals is frame.f_globals:
        return frame.f_globals, None
    return frame.f_globals, dict(frame.f_locals)


def embed() -> None:
    """Open a REPL on this terminal, here, with the caller's globals and locals.

    The module's globals are the live ones. Called in a function, the prompt sees a copy
    of its locals: assigning there does not change the function's variables.

    Returns when the user leaves it (Ctrl-D or ``exit()``). The calling thread waits
    meanwhile; cells that ``await`` run on a loop of their own. Inside a coroutine, use
    ``await embed_async()`` instead so the program's loop keeps running.
    """
    _embed_start(*_callers_namespace()).wait()


async def embed_async() -> None:
    """``await hotrepl.embed_async()``: like ``embed()``, without blocking the event loop.

    Other tasks keep running while the user types, and cells that ``await`` run on this
    loop, so they can use the program's own objects.
    """
    import asyncio

    loop = asyncio.get_running_loop()
    repl = _embed_start(*_callers_namespace(), loop)
    await loop.run_in_executor(None, repl.wait)


def reload(module, *more, remove_deleted=True):
    """Patch edited modules into the running program, in place, and say what changed.

    Each module (a module or its name) is read from its file again and compared with what is
    loaded, definition by definition. Changed functions keep their identity and get the new
    code, defaults, annotations and docstring, so every reference to them (``from m import
    f`` copies, bound methods, callbacks, wrappers) runs the new code; classes keep theirs
    and get their new members; top-level statements that did not change are not run again,
    so the module's state is kept; names whose definitions were deleted are removed (unless
    ``remove_deleted=False``).

    Returns a report: printed, one line of what changed, then what could not be patched and
    why (code running in a frame or a suspended coroutine, an Enum's members, a class's
    bases or ``__slots__``, a dataclass's fields); ``report.ok`` says whether everything was
    patched. A SyntaxError, or an error in new top-level code, is raised and changes nothing.
    """
    from hotrepl import _patch

    return _patch.reload((module, *more), remove_deleted=remove_deleted)
