"""Hot patching from the prompt: ``%reload`` (edited modules, patched in place) and
``%autoreload`` (before each cell, or on every save). The work is ``hotrepl._patch``'s."""

from __future__ import annotations

from hotrepl._magics import UsageError, builtin


@builtin("reload", complete="modules")
def reload(ctx, line):
    """Patch edited modules into the running program: %reload [--keep-deleted] MODULE [MODULE...]

    Changed functions and methods get their new code in place (every reference to them
    sees it), classes keep their identity, unchanged top-level statements are not run
    again; what cannot be patched is reported, never half-applied. Names whose definitions
    were deleted from the file are removed, unless --keep-deleted."""
    from hotrepl import _patch

    try:
        return _patch.magic_reload(line)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _before_cell(source):
    from hotrepl import _patch

    report = _patch.autoreload_before_cell()
    if report:
        print(report)


@builtin("autoreload")
def autoreload(ctx, line):
    """Patch edited modules by themselves: %autoreload [on|off|watch]

    on: before each cell, the program's modules whose files changed since they were loaded
    or last patched are patched, with a one-line report. watch: the program patches itself
    as soon as one of its modules' files is saved (file events; reports go to the "hotrepl"
    logger). off: neither. Without an argument: which is on."""
    from hotrepl import _patch
    from hotrepl._native import register_hook, unregister_hook

    try:
        said = _patch.magic_autoreload(line)
    except ValueError as e:
        raise UsageError(str(e)) from None
    mode = line.strip()
    if mode in ("on", "off", "watch"):
        unregister_hook(_before_cell, "pre_cell")
    if mode == "on":
        register_hook("pre_cell", _before_cell, name="autoreload")
    print(said)
