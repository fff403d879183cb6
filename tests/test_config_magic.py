"""`%config` over the native protocol, in the local REPL's kernel and in a session attached to
a live program alike: it lists every option with its value and where the value came from,
changes the kernel's own options while the session runs (pretty printing's limits, top-level
await, the debugger on errors), passes the client's options back to the client, and refuses
what cannot change at run time or does not exist, saying why. (The terminal side, with a
config file: test_client_config.py.)"""

from __future__ import annotations

import re


def listed(session, name: str) -> str:
    """`%config NAME`'s first line: the option, its value and its source."""
    return session.execute(f"%config {name}").stdout.splitlines()[0]


def test_config_alone_lists_every_option_with_its_source(session):
    out = session.execute("%config").stdout
    for name in ("color", "theme", "pretty_width", "pretty_max_items", "pretty_max_string", "history_size",
                 "autoawait", "pdb", "elapsed_threshold", "image_protocol", "confirm_exit", "editing_mode",
                 "macros"):
        assert re.search(rf"^{name} +\S", out, re.M), f"{name} missing from:\n{out}"
    assert re.search(r"^pretty_max_items +1000  \(default; kernel\)$", out, re.M), out
    assert re.search(r"^history_size +10000  \(default; client, start-up only\)$", out, re.M), out
    assert "How many items of a container are shown" in out, "each option says what it does"


def test_pretty_limits_change_while_the_session_runs(session):
    assert session.execute("%config pretty_max_items 10").stdout == "pretty_max_items = 10\n"
    shown = session.execute("list(range(10_000_000))").result
    assert shown == "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ... 9,999,990 more]", shown
    assert listed(session, "pretty_max_items").split() == ["pretty_max_items", "10", "(%config;", "kernel)"]

    session.execute("%config pretty_max_string 20")
    text = session.execute("'a' * 50 + 'z' * 50").result
    assert text == "'aaaaaaaaaa' ... 80 more characters ... 'zzzzzzzzzz'", text

    session.execute("%config pretty_width 30")
    wrapped = session.execute("[100_000 + n for n in range(8)]").result
    assert "\n" in wrapped and all(len(line) <= 30 for line in wrapped.splitlines()), wrapped


def test_autoawait_and_pdb_switch_through_config_and_their_magics_alike(session):
    assert session.execute("await __import__('asyncio').sleep(0, result=1)").result == "1"
    session.execute("%config autoawait off")
    refused = session.execute("await __import__('asyncio').sleep(0, result=1)")
    assert refused.reply["status"] == "error" and "SyntaxError" in refused.error_text, refused.error_text
    assert session.execute("%autoawait").stdout == "top-level await is off\n"
    assert listed(session, "autoawait").split()[:3] == ["autoawait", "off", "(%config;"]

    session.execute("%autoawait on")
    assert session.execute("await __import__('asyncio').sleep(0, result=2)").result == "2"
    assert listed(session, "autoawait").split()[:2] == ["autoawait", "on"], "the magic changes the option"

    session.execute("%pdb on")
    assert listed(session, "pdb").split()[:2] == ["pdb", "on"]
    session.execute("%config pdb off")
    assert session.execute("%pdb").stdout == "The debugger opens on uncaught exceptions: on\n", "alone, %pdb switches"
    assert listed(session, "pdb").split()[:2] == ["pdb", "on"]


def test_client_options_are_passed_back_to_the_client(session):
    run = session.execute("%config elapsed_threshold 2.5")
    assert run.stdout == "elapsed_threshold = 2.5\n"
    assert run.of_type("config_changed") == [{"name": "elapsed_threshold", "value": "2.5"}]
    kernel_only = session.execute("%config pretty_max_items 50")
    assert kernel_only.of_type("config_changed") == [], "the kernel's own options stay in the kernel"


def test_what_cannot_change_is_refused_and_nothing_is_lost(session):
    startup = session.execute("%config history_size 5")
    assert startup.reply["status"] == "error"
    assert startup.error_text == (
        "UsageError: history_size can only be set at start-up: in the config file, with "
        "$HOTREPL_HISTORY_SIZE or with --history-size\n"
    )
    misspelt = session.execute("%config pretty_max_itmes 5")
    assert misspelt.error_text == "UsageError: unknown option 'pretty_max_itmes' (did you mean 'pretty_max_items'?)\n"
    assert session.execute("%config pretty_max_itmes").error_text == misspelt.error_text
    bad = session.execute("%config autoawait maybe")
    assert bad.error_text == 'UsageError: autoawait: expected on or off, got "maybe"\n', bad.error_text
    assert listed(session, "autoawait").split()[:3] == ["autoawait", "on", "(default;"], "a refused value changes nothing"
    assert session.execute("x = 41\nx + 1").result == "42", "the session goes on"
