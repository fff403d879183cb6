"""How values of a type are shown: ``hotrepl.formatters.register(bytes, fn)`` (or
``@hotrepl.formatters.register(bytes)``) makes ``fn(value)`` the text/plain form (or the
``mime=`` form) of every ``bytes`` value, subclasses included, in every session of this
process. The formatter of the nearest type in a value's MRO is asked first; one that raises
``hotrepl.TryNext`` passes to the next, down to the value's own display methods and its
repr. Formatters are hooks of the ``display`` point (see ``hotrepl.hooks``).
"""

from __future__ import annotations

from hotrepl._native import register_hook, unregister_hook

__all__ = ["register", "unregister"]


def register(type_: type, function=None, *, mime: str = "text/plain", priority: int = 0, name: str | None = None):
    """Make ``function(value)`` show values of ``type_``; a decorator without ``function``."""
    if not isinstance(type_, type):
        raise TypeError(f"formatters are registered for a type, not {type_!r}")

    def add(function):
        return register_hook("display", function, priority=priority, name=name, for_type=type_, mime=mime)

    return add if function is None else add(function)


def unregister(function) -> int:
    """Remove the formatter ``function``; returns how many registrations went."""
    return unregister_hook(function, "display")
