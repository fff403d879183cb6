"""The terminal client at work, in a real terminal (tmux): the elapsed-time spinner under
a long cell, and input typed before the prompt is up."""

from __future__ import annotations

import re
import subprocess
import time

from terminal import PROMPT, Repl

SPINNER = re.compile(r"^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] (\d+\.\d) s$")


def spinner_seconds(repl: Repl) -> float | None:
    """The time the spinner shows, if it is the last line on the screen."""
    lines = repl.lines()
    found = SPINNER.match(lines[-1]) if lines else None
    return float(found.group(1)) if found else None


def test_a_long_cell_shows_a_spinner_that_goes_when_it_ends(repl):
    repl.type("import time; time.sleep(2.5); print('done')")
    repl.press("Enter")
    first = repl.wait_until(lambda: spinner_seconds(repl), what="the spinner")
    assert first >= 1.0, "nothing shows in the first second"
    later = repl.wait_until(lambda: (spinner_seconds(repl) or 0) > first and spinner_seconds(repl), what="it to count")
    assert later > first
    repl.wait_prompt(2)
    assert repl.output_of_last_cell() == "done"
    assert not any(SPINNER.match(line) for line in repl.lines())


def test_output_keeps_flowing_above_the_spinner(repl):
    repl.type("for i in range(6): print('tick', i); __import__('time').sleep(0.4)")
    repl.press("Enter")
    lines = repl.wait_until(lambda: (lines := repl.lines()) and SPINNER.match(lines[-1]) and "tick 3" in lines and lines,
                            what="ticks over the spinner")
    ticks = [line for line in lines if line.startswith("tick")]
    assert ticks == [f"tick {i}" for i in range(len(ticks))], lines
    assert lines.index(ticks[-1]) == len(lines) - 2, "the spinner is the line under the output"
    repl.wait_prompt(2)
    assert repl.output_of_last_cell() == "\n".join(f"tick {i}" for i in range(6))


def test_no_spinner_in_batch_mode(hotrepl_bin, base_env):
    done = subprocess.run([hotrepl_bin, "--elapsed-threshold", "0.1"], input="import time\ntime.sleep(1.3)\nprint('end')\n",
                          env=base_env, capture_output=True, text=True, timeout=20)
    assert done.stdout == "end\n"
    assert done.stderr == ""


def test_typed_ahead_input_runs_in_order_and_nothing_is_lost(tmp_path, base_env, hotrepl_bin):
    repl = Repl(tmp_path)
    try:
        repl.start([hotrepl_bin], env=base_env)
        # Typed at once, as an editor's "run selection in terminal" does, before any prompt.
        repl.type("x = 6\r")
        repl.type("for i in range(2):\r    print('line', i * x)\r\r")
        repl.type("print('after', x)\r")
        repl.type("unfinis")
        repl.wait_for(r"^after 6$")
        repl.wait_until(lambda: repl.lines()[-1] == PROMPT + "unfinis", what="the unfinished line in the editor")
        screen = repl.lines()
        text = "\n".join(screen)
        # Keys typed while a cell runs are echoed by the terminal among its output, as at
        # any prompt, so lines may be glued to that echo; what runs is in order all the same.
        assert text.index("line 0") < text.index("line 6") < text.index("after 6"), text
        # The cells show after their prompts, as if typed there.
        assert ">>> for i in range(2):\n...     print('line', i * x)\n...\n" in text, text
        repl.type("hed = 1")
        repl.press("Enter")
        repl.wait_prompt()
        assert repl.run("unfinished") == "1"
    finally:
        repl.close()
