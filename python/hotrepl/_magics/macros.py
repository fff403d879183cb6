"""Syntactic macros at the prompt: ``%macros on`` runs mcpyrate's expander on every cell
(an ``ast`` hook), so ``from mcpyrate.quotes import macros, q`` in one cell makes ``q[...]``
expand in the next, as in mcpyrate's own consoles. Needs mcpyrate installed."""

from __future__ import annotations

from hotrepl._magics import UsageError, builtin

# The expander of this process, with the macro bindings the cells imported so far.
_expander = None


def _expand(tree):
    from mcpyrate.expander import find_macros, global_postprocess

    bindings = find_macros(tree, filename=_expander.filename, reload=True)
    if bindings:
        _expander.bindings.update(bindings)
    return global_postprocess(_expander.visit(tree))


def set_enabled(on: bool) -> bool:
    """Turns the expander on or off (the `macros` option); False if mcpyrate is missing."""
    global _expander
    from hotrepl._native import register_hook, unregister_hook

    if not on:
        if _expander is not None:
            unregister_hook(_expand, "ast")
            _expander = None
        return True
    if _expander is None:
        try:
            import mcpyrate.activate  # noqa: F401 - lets modules that use macros be imported
            from mcpyrate.expander import MacroExpander
        except ImportError:
            return False
        _expander = MacroExpander(bindings={}, filename="<hotrepl>")
        register_hook("ast", _expand, name="mcpyrate macro expander")
    return True


@builtin("macros")
def macros(ctx, line):
    """Expand mcpyrate macros in cells: %macros [on|off]

    On: each cell's syntax tree goes through mcpyrate's expander, and macro imports
    (`from mcpyrate.quotes import macros, q`) hold for later cells. Without an argument,
    lists the macros imported so far."""
    choice = line.strip().lower()
    if choice not in ("on", "off", ""):
        raise UsageError("usage: %macros [on|off]")
    from hotrepl._native import config_set

    if choice == "on":
        try:
            import mcpyrate  # noqa: F401
        except ImportError:
            raise UsageError("%macros needs mcpyrate: pip install mcpyrate") from None
        config_set("macros", "on")
        print("mcpyrate macros are expanded in cells")
    elif choice == "off":
        config_set("macros", "off")
        print("mcpyrate macros are not expanded")
    elif _expander is None:
        print("mcpyrate macros are off (%macros on)")
    else:
        from mcpyrate.debug import format_bindings

        print(format_bindings(_expander, color=False), end="")
