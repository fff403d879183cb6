"""Customisation points of hotrepl, one system for all of them: each point holds callables
in priority order (highest first; among equals the latest registered first). A callable
raises ``hotrepl.TryNext`` to leave the decision to the next one; one that fails is reported
in the session (with its name and traceback, the first time) and skipped.

Points and what their callables get:

- ``input(source) -> source``: every cell's text before it is compiled, each transformer
  in turn (magics and ``!`` commands are turned into Python after these);
- ``ast(tree) -> tree``: the cell's syntax tree, before it is compiled (macro expanders);
- ``display(value) -> data``: the form of a value for one MIME type (``mime=``, text/plain
  by default); ``hotrepl.formatters.register`` makes those for one type;
- ``exception(error) -> text``: how an uncaught error is shown;
- ``completion(text_before_cursor) -> [matches]``: more completions for Tab;
- ``pre_cell(source)``, ``post_cell(source, value_or_error)``: around every cell;
- ``shutdown()``: when the session ends.
"""

from __future__ import annotations

from hotrepl._native import TryNext, list_hooks, register_hook, unregister_hook

POINTS = ("input", "ast", "display", "exception", "completion", "pre_cell", "post_cell", "shutdown")

__all__ = ["POINTS", "TryNext", "register", "registered", "unregister"]


def register(point: str, function=None, *, priority: int = 0, name: str | None = None, mime: str = "text/plain"):
    """Register ``function`` at ``point``; as a decorator: ``@hotrepl.hooks.register("pre_cell")``."""

    def add(function):
        return register_hook(point, function, priority=priority, name=name, mime=mime)

    return add if function is None else add(function)


def unregister(function, point: str | None = None) -> int:
    """Remove ``function`` (from ``point`` only, if given); returns how many were removed."""
    return unregister_hook(function, point)


def registered() -> list:
    """``(point, name, priority, for_type, mime)`` of every hook, in the order they are asked."""
    return list_hooks()
