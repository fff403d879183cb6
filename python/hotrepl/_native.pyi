"""Type stubs for the Rust extension module ``hotrepl._native``."""

import asyncio
from os import PathLike
from typing import Any, Callable, Dict, Iterable, List, Literal, MutableMapping, Optional, TextIO, Tuple, Union

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
    def jupyter_connection_file(self) -> Optional[str]:
        """With ``start(jupyter=True)``: the Jupyter connection file; else None."""
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
    audit: Optional[Union[str, PathLike[str]]] = None,
    jupyter: bool = False,
) -> Server:
    """Serve this process to ``hotrepl attach``, in background threads; returns at once.

    namespace: the globals sessions run in (default: ``__main__``'s). loop: the event loop
    cells that ``await`` run on. path: the Unix socket (default: in
    ``$XDG_RUNTIME_DIR/hotrepl/``). tcp: ``(host, port)`` to serve TCP instead, always with
    a token (``token=`` or generated: ``server.token``). watch: patch the program's own
    modules whenever their files are saved (True), also the modules named (an iterable of
    names, which may be in site-packages). audit: a file to append one JSON line to for every
    cell any session runs (who, when, the code, how it ended). jupyter: also serve a Jupyter
    session (``jupyter console --existing FILE``), its connection file in
    ``server.jupyter_connection_file``.
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
def serve_kernel(connection_file: Union[str, PathLike[str]]) -> int:
    """The Jupyter kernel process (as the kernelspec starts it): serve the connection file's
    sockets until a front end asks it to shut down; return the exit status."""

class StdinNotImplementedError(NotImplementedError):
    """input() in a cell whose front end does not answer input requests."""

def serve_local(fd: int) -> int:
    """Serve the local REPL's client on socket ``fd`` until it leaves; return the exit status."""

class UsageError(Exception):
    """A magic was used wrongly: shown as its message alone, without a traceback."""

def register_magic(
    name: str,
    function: Callable[..., Any],
    kind: Literal["line", "cell"] = "line",
    *,
    context: bool = False,
    awaits: Optional[Callable[..., bool]] = None,
    complete: Optional[Literal["python", "dirs", "files", "modules"]] = None,
    python_body: bool = False,
) -> None:
    """Register a magic for every session of this process."""
def list_magics() -> List[Tuple[str, str, str]]:
    """Every magic as ``(kind, name, summary)``."""
def magic_help(name: str) -> str: ...
def run_line_magic(name: str, args: str, awaited: bool = False) -> Any:
    """What ``%name args`` becomes."""
def run_cell_magic(name: str, args: str, body: str, awaited: bool = False) -> Any:
    """What a ``%%name args`` cell becomes."""

class CompiledCell:
    @property
    def awaits(self) -> bool: ...
    def run(self) -> Any: ...
    def begin(self) -> Tuple[str, Any]: ...
    def resume(self, value: Any) -> Tuple[str, Any]: ...
    def fail(self, error: BaseException) -> Tuple[str, Any]: ...

class MagicContext:
    """The cell a magic was called from, and its session."""

    @property
    def globals(self) -> Dict[str, Any]: ...
    @property
    def locals(self) -> MutableMapping[str, Any]: ...
    @property
    def filename(self) -> str: ...
    @property
    def line(self) -> int: ...
    @property
    def in_host_program(self) -> bool: ...
    @property
    def session_number(self) -> Optional[int]: ...
    @property
    def execution_count(self) -> int: ...
    @property
    def last_error(self) -> Optional[BaseException]: ...
    @property
    def pdb(self) -> bool: ...
    @property
    def autoawait(self) -> bool: ...
    def compile(
        self, source: str, *, line: Optional[int] = None, filename: Optional[str] = None, globals: Optional[Dict[str, Any]] = None
    ) -> CompiledCell: ...
    def event_loop(self) -> Optional[asyncio.AbstractEventLoop]: ...
    def page(self, text: str) -> None: ...
    def set_next_input(self, text: str) -> None: ...
    def add_interrupt_hook(self, hook: Callable[[], Any]) -> None: ...
    def remove_interrupt_hook(self, hook: Callable[[], Any]) -> None: ...
    def describe(self, name: str, detail: int) -> str: ...
    def safe_repr(self, value: Any, width: int = 80) -> str: ...

class OutputCapture:
    """A background job's output: the last ``limit`` bytes."""

    def __init__(self, limit: int = ...) -> None: ...
    def bind_current_thread(self) -> None: ...
    def enter_context(self) -> None: ...
    def open(self) -> None: ...
    def close(self) -> None: ...
    @property
    def text(self) -> str: ...
    @property
    def dropped(self) -> int: ...

def program_stream(name: Literal["stdout", "stderr"]) -> TextIO:
    """The program's own ``sys.stdout`` or ``sys.stderr``, not a session's."""
def session_cells() -> List[str]: ...
def hotrepl_threads() -> Dict[int, Tuple[int, str]]: ...
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

def config_list() -> List[Tuple[str, str, str, str, bool, str]]:
    """Every option of the calling session: (name, value, source, used by, changeable at
    run time, doc)."""
def config_set(name: str, value: str) -> str:
    """Sets an option of the calling session; returns "name = value". UsageError if the
    name or value is wrong or the option is start-up only."""
