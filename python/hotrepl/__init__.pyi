from types import ModuleType
from typing import Any, Callable, Literal, Optional, TypeVar, Union, overload

from hotrepl._native import Server as Server
from hotrepl._native import UsageError as UsageError
from hotrepl._native import __version__ as __version__
from hotrepl._native import start as start
from hotrepl._native import stop as stop
from hotrepl._patch import ReloadReport

def embed() -> None: ...
async def embed_async() -> None: ...

_F = TypeVar("_F", bound=Callable[..., Any])

@overload
def magic(function: _F) -> _F: ...
@overload
def magic(function: None = None, *, name: Optional[str] = None) -> Callable[[_F], _F]: ...
@overload
def cell_magic(function: _F) -> _F: ...
@overload
def cell_magic(function: None = None, *, name: Optional[str] = None) -> Callable[[_F], _F]: ...
def host_print(
    *values: object,
    sep: str = " ",
    end: str = "\n",
    file: Optional[Literal["stdout", "stderr"]] = None,
    flush: bool = False,
) -> None: ...
def reload(
    module: Union[ModuleType, str], *more: Union[ModuleType, str], remove_deleted: bool = True
) -> ReloadReport: ...
