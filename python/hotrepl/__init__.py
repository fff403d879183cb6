"""hotrepl: an async-native Python REPL with its engine in Rust.

``hotrepl`` (the command) opens a prompt where ``await`` works at the top level and the
event loop keeps running between prompts. In any program, ``hotrepl.start()`` lets the
same user attach to it later with ``hotrepl attach <pid>``.
"""

from __future__ import annotations

import sys

from hotrepl._native import Server, TryNext, UsageError, __version__, start, stop
from hotrepl._native import embed_start as _embed_start

# What `%magic` lines become (the input transformation calls these by these names).
from hotrepl._native import run_cell_magic as _cell_magic
from hotrepl._native import run_line_magic as _magic

__all__ = [
    "Server",
    "TryNext",
    "UsageError",
    "__version__",
    "cell_magic",
    "clear_output",
    "display",
    "embed",
    "embed_async",
    "formatters",
    "hooks",
    "host_print",
    "magic",
    "reload",
    "start",
    "stop",
    "update_display",
]

# Submodules loaded when first used (nothing of them costs `import hotrepl` or `start()`).
_LAZY_MODULES = ("formatters", "hooks")


def __getattr__(name):
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module(f"hotrepl.{name}")
    raise AttributeError(f"module 'hotrepl' has no attribute {name!r}")


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


def magic(function=None, *, name=None):
    """Register ``function(line) -> value`` as the line magic ``%name`` (default: the
    function's name) for every session of this process. ``%name -h`` shows its docstring.

    Use as ``@hotrepl.magic`` or ``@hotrepl.magic(name="other")``. An ``async def`` magic is
    awaited (on the event loop awaiting cells run on). The value it returns is shown like a
    cell's value.
    """
    return _registrar("line", function, name)


def cell_magic(function=None, *, name=None):
    """Register ``function(line, cell) -> value`` as the cell magic ``%%name``: ``line`` is
    the rest of the ``%%name`` line, ``cell`` the lines below it."""
    return _registrar("cell", function, name)


def _registrar(kind, function, name):
    from hotrepl._native import register_magic

    def register(function):
        import inspect

        awaits = None
        if inspect.iscoroutinefunction(function):
            awaits = (lambda line: True) if kind == "line" else (lambda line, cell: True)
        register_magic(name or function.__name__, function, kind, awaits=awaits)
        return function

    return register if function is None else register(function)


def host_print(*values, sep=" ", end="\n", file=None, flush=False):
    """``print()`` to the program's own standard output (or ``file="stderr"``), from a
    session, where ``print()`` goes to the session's client."""
    from hotrepl._native import program_stream

    stream = program_stream("stderr" if file == "stderr" else "stdout")
    print(*values, sep=sep, end=end, file=stream, flush=flush)


def display(*objs, **options):
    """Show objects in the session as outputs of their own, each in the richest forms it has
    (HTML, images, ... and text): ``display(obj, display_id=True)`` returns a handle whose
    ``update(obj)`` replaces it. See ``hotrepl._display.display`` for the options."""
    from hotrepl._display import display as show

    return show(*objs, **options)


def update_display(obj, *, display_id, **options):
    """Replace the output shown with ``display_id``."""
    from hotrepl._display import update_display as update

    update(obj, display_id=display_id, **options)


def clear_output(wait=False):
    """Clear the cell's output so far (``wait=True``: when the next output comes)."""
    from hotrepl._display import clear_output as clear

    clear(wait)
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
