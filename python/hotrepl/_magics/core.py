"""The magics about magics and the prompt itself: ``%lsmagic``, ``%magic``, ``obj?`` help
(``%pinfo``, ``%pinfo2``) and ``%autoawait``."""

from __future__ import annotations

from hotrepl._magics import UsageError, builtin
from hotrepl._native import list_magics


@builtin("lsmagic")
def lsmagic(ctx, line):
    """List the magics: %lsmagic

    %magic explains each of them; %NAME -h shows how to use one."""
    listed = list_magics()
    lines = []
    for kind, sigil in (("line", "%"), ("cell", "%%")):
        names = [f"{sigil}{name}" for k, name, _ in listed if k == kind]
        lines.append(f"{kind.capitalize()} magics: {'  '.join(names)}")
    lines.append("Also: !COMMAND runs a shell command, x = !COMMAND keeps its output lines, NAME? and NAME?? describe NAME.")
    print("\n".join(lines))


@builtin("magic")
def magic(ctx, line):
    """Explain the magic system and list every magic with what it does: %magic"""
    listed = list_magics()
    width = max(len(name) for _, name, _ in listed) + 3
    lines = [
        "Magics are commands for the prompt, not Python: %NAME ARGS on a line of its own",
        "(also in a block, or as x = %NAME ARGS), and %%NAME ARGS as the first line of a cell,",
        "whose other lines the magic gets. %NAME -h shows how to use one; @hotrepl.magic and",
        "@hotrepl.cell_magic add your own.",
        "",
    ]
    for kind, sigil in (("line", "%"), ("cell", "%%")):
        lines.append(f"{kind.capitalize()} magics:")
        for k, name, summary in listed:
            if k == kind:
                lines.append(f"  {sigil + name:<{width}}{summary}")
        lines.append("")
    print("\n".join(lines).rstrip())


@builtin("pinfo")
def pinfo(ctx, line):
    """Describe an object: %pinfo NAME, or NAME? (also ?NAME)

    Its type, signature, the first paragraph of its docstring, where it was defined, its
    length and value. NAME?? adds the whole docstring and the source."""
    _page(ctx, line, 0)


@builtin("pinfo2")
def pinfo2(ctx, line):
    """Describe an object with its source: %pinfo2 NAME, or NAME?? (also ??NAME)"""
    _page(ctx, line, 1)


def _page(ctx, line, detail):
    name = line.strip()
    if not name:
        raise UsageError("usage: NAME? (or %pinfo NAME)")
    ctx.page(ctx.describe(name, detail))


@builtin("autoawait")
def autoawait(ctx, line):
    """Allow top-level await, or not: %autoawait [on|off]

    On (the default), a cell may await at the top level and runs on the event loop. Off,
    top-level await is a SyntaxError, as in plain python. Without an argument: says which.
    (The `autoawait` option, as %config sets it.)"""
    choice = line.strip().lower()
    if choice:
        _switch("autoawait", choice, "usage: %autoawait [on|off]")
    print(f"top-level await is {'on' if ctx.autoawait else 'off'}")


def _switch(option: str, choice: str, usage: str) -> None:
    """Sets a yes/no option of the session from a magic's on/off."""
    from hotrepl._native import config_set

    if choice not in ("on", "off", "true", "false", "1", "0", "yes", "no"):
        raise UsageError(usage)
    config_set(option, choice)


@builtin("config")
def config(ctx, line):
    """Show or change the session's options: %config, %config NAME, %config NAME VALUE

    Alone: every option with its value, where the value came from (default, the config
    file and line, an environment variable, the command line, %config) and what it does.
    NAME VALUE changes one while the session runs (some only take effect at start-up, and
    say so); the client's own options (colours, images...) change in the client too."""
    from hotrepl._native import config_list, config_set

    words = line.split(None, 1)
    if len(words) == 2:
        print(config_set(words[0], words[1].strip()))
        return
    listed = config_list()
    if words:
        wanted = words[0].replace("-", "_")
        listed = [o for o in listed if o[0] == wanted]
        if not listed:
            config_set(wanted, "")  # raises UsageError, with a near miss
    width = max(len(name) for name, *_ in listed) + 2
    rows = []
    for name, value, source, scope, runtime, doc in listed:
        note = "" if runtime else ", start-up only"
        rows.append(f"{name:<{width}}{value}  ({source}; {scope}{note})\n{'':<{width}}{doc}")
    print("\n".join(rows))


@builtin("hooks")
def hooks(ctx, line):
    """List the hooks registered in this process: %hooks

    Point, name, priority, and for formatters the type and MIME type, in the order each
    point asks them (see help(hotrepl.hooks))."""
    from hotrepl._native import list_hooks

    registered = list_hooks()
    if not registered:
        print("No hooks registered (hotrepl.hooks.register and hotrepl.formatters.register add them).")
        return
    rows = [("POINT", "NAME", "PRIORITY", "FOR")]
    for point, name, priority, for_type, mime in registered:
        target = f"{for_type} as {mime}" if for_type else (mime if point == "display" else "")
        rows.append((point, name, str(priority), target))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print("\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows))
