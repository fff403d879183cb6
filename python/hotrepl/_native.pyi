"""Type stubs for the Rust extension module ``hotrepl._native``."""

import asyncio
from os import PathLike
from typing import Any, Optional, Tuple, Union

__version__: str

class Server:
    """A running server (what ``hotrepl.start()`` returns)."""

    @property
    def address(self) -> Optional[str]:
        """Where it listens: a socket path or ``tcp://host:port`` (None when disabled)."""
    @property
    def token(self) -> Optional[str]:
        """The token a TCP client needs (None for a Unix socket)."""
    @property
    def running(self) -> bool: ...
    def stop(self) -> None:
        """Stop listening and end every session."""

def start(
    namespace: Optional[dict[str, Any]] = None,
    *,
    loop: Optional[asyncio.AbstractEventLoop] = None,
    path: Optional[Union[str, PathLike[str]]] = None,
    tcp: Optional[Tuple[str, int]] = None,
    token: Optional[str] = None,
    audit: Optional[Union[str, PathLike[str]]] = None,
) -> Server:
    """Serve this process to ``hotrepl attach``, in background threads; returns at once.

    namespace: the globals sessions run in (default: ``__main__``'s). loop: the event loop
    cells that ``await`` run on. path: the Unix socket (default: in
    ``$XDG_RUNTIME_DIR/hotrepl/``). tcp: ``(host, port)`` to serve TCP instead, always with
    a token (``token=`` or generated: ``server.token``). audit: a file to append one JSON
    line to for every cell any session runs (who, when, the code, how it ended).
    """
class Embedded:
    """A running embedded REPL (the ``hotrepl`` client on this terminal)."""

    def wait(self) -> int:
        """Wait for the user to leave; return the client's exit status."""

def embed_start(
    globals: dict[str, Any], locals: Optional[dict[str, Any]], event_loop: Optional[asyncio.AbstractEventLoop] = None
) -> Embedded: ...
def stop() -> None:
    """Stop every server started in this process (also runs at exit)."""
def after_fork_in_child() -> None: ...
def before_exit() -> None: ...
def history_magic(line: str) -> str:
    """``%history LINE`` for the session the caller runs in (ValueError on bad arguments)."""
def serve_local(fd: int) -> int:
    """Serve the local REPL's client on socket ``fd`` until it leaves; return the exit status."""
