"""Type stubs for the Rust extension module ``hotrepl._native``."""

import asyncio
from os import PathLike
from typing import Any, Callable, Iterable, List, Optional, Tuple, Union

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
    watch: Union[bool, Iterable[str]] = False,
) -> Server:
    """Serve this process to ``hotrepl attach``, in background threads; returns at once.

    namespace: the globals sessions run in (default: ``__main__``'s). loop: the event loop
    cells that ``await`` run on. path: the Unix socket (default: in
    ``$XDG_RUNTIME_DIR/hotrepl/``). tcp: ``(host, port)`` to serve TCP instead, always with
    a token (``token=`` or generated: ``server.token``). watch: patch the program's own
    modules whenever their files are saved (True), also the modules named (an iterable of
    names, which may be in site-packages).
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
def serve_local(fd: int) -> int:
    """Serve the local REPL's client on socket ``fd`` until it leaves; return the exit status."""
def apply_patch(operations: Iterable[tuple]) -> Tuple[str, float]:
    """Carry out a hot patch's prepared operations as one step (hotrepl._patch plans them):
    ``("set_attr", obj, name, value)``, ``("set_class_attr", cls, name, value)``,
    ``("del_class_attr", cls, name)``, ``("set_item", dict, key, value)``, ``("del_item", dict,
    key)``. All or none: a failure undoes the ones before it. Returns where it ran ("loop":
    between two steps of the program's event loop; "here"; "busy": the loop did not get to it
    within a second) and how long the operations took, in seconds."""

class FileWatcher:
    """Watches directories (not recursively) for saved ``.py`` files, from OS file events."""

    def __init__(self, callback: Callable[[List[str]], None]) -> None:
        """``callback(paths)`` runs on a thread of the watcher's, once per burst of events."""
    def watch(self, directories: Iterable[Union[str, PathLike[str]]]) -> None:
        """Add these directories (those already watched, or gone, are skipped)."""
    @property
    def directories(self) -> List[str]: ...
    def stop(self) -> None:
        """Stop for good; the callback is not called again."""
