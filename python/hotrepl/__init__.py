"""hotrepl: an async-native Python REPL with its engine in Rust.

Run ``hotrepl`` for a prompt where ``await`` works at the top level and the event loop
keeps running between prompts.
"""

from hotrepl._native import __version__

__all__ = ["__version__"]
