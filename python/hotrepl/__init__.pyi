import asyncio
from os import PathLike
from typing import Any, Optional, Tuple, Union

from hotrepl._native import Server as Server

__version__: str

def start(
    namespace: Optional[dict[str, Any]] = None,
    *,
    loop: Optional[asyncio.AbstractEventLoop] = None,
    path: Optional[Union[str, PathLike[str]]] = None,
    tcp: Optional[Tuple[str, int]] = None,
    token: Optional[str] = None,
) -> Server: ...
def stop() -> None: ...
def embed() -> None: ...
async def embed_async() -> None: ...
