from hotrepl._native import Server as Server
from hotrepl._native import __version__ as __version__
from hotrepl._native import start as start
from hotrepl._native import stop as stop

def embed() -> None: ...
async def embed_async() -> None: ...
