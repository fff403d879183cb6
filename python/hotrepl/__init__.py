"""hotrepl: an async-native Python REPL with its engine in Rust.

``hotrepl`` (the command) opens a prompt where ``await`` works at the top level and the
event loop keeps running between prompts. In any program, ``hotrepl.start()`` lets the
same user attach to it later with ``hotrepl attach <pid>``.
"""

from __future__ import annotations

import sys

from hotrepl._native import Server, __version__, start, stop
from hotrepl._native import embed_start as _embed_start

__all__ = ["Server", "__version__", "embed", "embed_async", "start", "stop"]


def _callers_namespace(depth: int) -> dict:
    # A copy: names assigned at the prompt do not leak into the caller's frame.
    frame = sys._getframe(depth + 1)
    return {**frame.f_globals, **frame.f_locals}


def embed() -> None:
    """Open a REPL on this terminal, here, with the caller's globals and locals.

    Returns when the user leaves it (Ctrl-D or ``exit()``). The calling thread waits
    meanwhile; cells that ``await`` run on a loop of their own. Inside a coroutine, use
    ``await embed_async()`` instead so the program's loop keeps running.
    """
    _embed_start(_callers_namespace(1)).wait()


async def embed_async() -> None:
    """``await hotrepl.embed_async()``: like ``embed()``, without blocking the event loop.

    Other tasks keep running while the user types, and cells that ``await`` run on this
    loop, so they can use the program's own objects.
    """
    import asyncio

    loop = asyncio.get_running_loop()
    repl = _embed_start(_callers_namespace(1), loop)
    await loop.run_in_executor(None, repl.wait)
