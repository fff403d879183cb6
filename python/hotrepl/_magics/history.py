"""``%history``: the cells of this session, earlier sessions and other programs, from the
history database (the work is the kernel's: ``hotrepl._native.history_magic``)."""

from __future__ import annotations

from hotrepl._magics import UsageError, builtin


@builtin("history")
def history(ctx, line):
    """List cells from the history: %history [-n] [-o] [-t] [-u] [-l N] [-g [PATTERN]] [-f FILE] [RANGES]

    Without ranges, this session's cells. -n numbers them, -o adds what they printed,
    returned and raised, -g PATTERN searches every session (glob), -t keeps this program's
    only, -u each input once, -l N the last N, -f FILE writes the listing to FILE. Ranges:
    3, 3-5 (or 3:5), ~1/ (the whole previous session), ~2/7 (cell 7 two sessions back),
    12/ (session 12)."""
    from hotrepl._native import history_magic

    try:
        listing = history_magic(line)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if listing:
        print(listing, end="" if listing.endswith("\n") else "\n")
