"""``IPython.display.display`` (and ``clear_output``, ``update_display``) in hotrepl
sessions: code written for notebooks (pandas, rich, matplotlib helpers, your own) calls
IPython's functions, which outside a running IPython only print. When IPython's display
module is imported in a process with hotrepl sessions, its functions are wrapped: called
from a session's code they show what they are given in that session; called from anywhere
else they do what they did."""

from __future__ import annotations

import functools


def adopt(module) -> None:
    """Wraps the display functions of ``IPython.core.display_functions`` (once)."""
    from hotrepl import _display, _native

    ours = {"display": _display.display, "clear_output": _display.clear_output, "update_display": _display.update_display}
    for name, replacement in ours.items():
        original = getattr(module, name, None)
        if original is None or getattr(original, "__hotrepl_wraps__", None) is not None:
            continue

        @functools.wraps(original)
        def routed(*args, __original=original, __replacement=replacement, **kwargs):
            if _native.in_session():
                return __replacement(*args, **kwargs)
            return __original(*args, **kwargs)

        routed.__hotrepl_wraps__ = original
        setattr(module, name, routed)
