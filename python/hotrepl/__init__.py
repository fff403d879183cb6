"""hotrepl: an async-native Python REPL with its engine in Rust.

``hotrepl`` (the command) opens a prompt where ``await`` works at the top level and the
event loop keeps running between prompts. In any program, ``hotrepl.start()`` lets the
same user attach to it later with ``hotrepl attach <pid>``.
"""

from __future__ import annotations

import sys

from hotrepl._native import Server, __version__
from hotrepl._native import embed_start as _embed_start
from hotrepl._native import start as _start
from hotrepl._native import stop_all as _stop_all

__all__ = ["Server", "__version__", "embed", "embed_async", "start", "stop"]


def start(namespace=None, *, loop=None, path=None, tcp=None, token=None) -> Server:
    """Serve this process to ``hotrepl attach``, in background threads; returns at once.

    namespace: the globals sessions run in (default: ``__main__``'s, looked up when a
        session starts). Shared by all sessions and the program.
    loop: the event loop cells that ``await`` run on (default: the loop running where
        ``start()`` is called, else the main thread's running loop when a cell arrives,
        else a private loop per session).
    path: the Unix socket to listen on (default: in ``$XDG_RUNTIME_DIR/hotrepl/``).
    tcp: ``(host, port)`` to listen on TCP instead (port 0 picks one). Always with a
        token: ``token=`` or a generated one (``server.token``); a non-loopback host
        without a token is refused.

    Only the same user (or root) may attach to the Unix socket. ``HOTREPL_DISABLE=1`` in
    the environment makes this a no-op. Servers stop at exit, or with ``stop()``.
    """
    return _start(namespace, loop=loop, path=path, tcp=tcp, token=token)


def stop() -> None:
    """Stop every server started in this process."""
    _stop_all()


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
