"""Type stubs for the Rust extension module ``hotrepl._native``."""

__version__: str

def serve_local(fd: int) -> int:
    """Serve the local REPL's client on socket ``fd`` until it leaves; return the exit status."""
