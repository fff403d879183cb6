"""hotrepl's own magics. Imported by the magic dispatcher the first time any magic is used
(never when ``hotrepl`` is imported or a server starts); each module registers its magics
on import and imports what it needs only when a magic runs.

Every magic here is called as ``function(ctx, line)`` (``function(ctx, line, cell)`` for a
cell magic), ``ctx`` being the ``hotrepl._native.MagicContext`` of the calling cell.
"""

from __future__ import annotations

from hotrepl._native import UsageError, register_magic

_CO_COROUTINE = 0x0080
_PYCF_ALLOW_TOP_LEVEL_AWAIT = 0x2000


def builtin(name, kind="line", **options):
    """Registers the decorated function as hotrepl's magic ``name`` (see register_magic)."""

    def register(function):
        register_magic(name, function, kind, context=True, **options)
        return function

    return register


def awaits_code(source: str) -> bool:
    """Whether ``source`` awaits at its top level (and so must run on an event loop). Code
    that does not compile does not await: running it reports the SyntaxError."""
    try:
        code = compile(source, "<magic>", "exec", _PYCF_ALLOW_TOP_LEVEL_AWAIT, True)
    except (SyntaxError, ValueError):
        return False
    return bool(code.co_flags & _CO_COROUTINE)


async def run_awaiting(compiled):
    """Runs a ``CompiledCell`` that awaits, on the running loop; returns its value."""
    step = compiled.begin()
    while True:
        kind, value = step
        if kind == "done":
            return value
        try:
            outcome = await value
        except BaseException as error:  # noqa: BLE001 - the code decides what it catches
            step = compiled.fail(error)
        else:
            step = compiled.resume(outcome)


def split_options(line: str, usage: str, flags: dict) -> tuple[dict, str]:
    """Takes leading options (``-n 10``, ``-f``, ``--all``) off ``line``; ``flags`` maps each
    option to None (a switch) or the converter of its value (``int``...). Returns the
    options and the rest of the line, untouched (it is often Python code). An unknown option
    or a bad value raises UsageError with ``usage``."""
    options: dict = {}
    rest = line.strip()
    while rest.startswith("-") and rest[1:2].isalpha() or rest.startswith("--"):
        word, _, after = rest.partition(" ")
        if word not in flags:
            raise UsageError(f"unknown option {word}\n{usage}")
        convert = flags[word]
        rest = after.lstrip()
        if convert is None:
            options[word] = True
            continue
        value, _, after = rest.partition(" ")
        try:
            options[word] = convert(value)
        except ValueError:
            raise UsageError(f"{word} needs a number, not {value!r}\n{usage}") from None
        rest = after.lstrip()
    return options, rest


def column_of(ctx, text: str) -> int:
    """Where ``text`` (a magic's statement) starts on the magic's line, for tracebacks."""
    import linecache

    return max(linecache.getline(ctx.filename, ctx.line).find(text), 0)


def usage_of(function) -> str:
    """The usage lines of a magic: its docstring up to the first blank line after them."""
    doc = (function.__doc__ or "").strip().splitlines()
    return "\n".join(line.strip() for line in doc[: doc.index("") if "" in doc else len(doc)])


from hotrepl._magics import (  # noqa: E402 - each registers its magics on import
    core,
    debugging,
    files,
    history,
    jobs,
    macros,
    namespace,
    patching,
    shell,
    tasks,
    timing,
)

__all__ = ["core", "debugging", "files", "history", "jobs", "macros", "namespace", "patching", "shell", "tasks", "timing"]
