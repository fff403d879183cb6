from types import ModuleType
from typing import Union

from hotrepl._native import Server as Server
from hotrepl._native import __version__ as __version__
from hotrepl._native import start as start
from hotrepl._native import stop as stop
from hotrepl._patch import ReloadReport

def embed() -> None: ...
async def embed_async() -> None: ...
def reload(
    module: Union[ModuleType, str], *more: Union[ModuleType, str], remove_deleted: bool = True
) -> ReloadReport: ...
