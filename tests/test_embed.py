"""hotrepl.embed() and await hotrepl.embed_async(), driven through a real terminal: a script
runs in a tmux pane, drops into the REPL at the call, and carries on once the user leaves."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest

from terminal import Repl

# What the user sees when embed() opens, before the first prompt.
BANNER = r"^hotrepl \d+\.\d+\.\d+"


@pytest.fixture
def start_script(tmp_path: Path, start_terminal):
    """Runs a Python script in a fresh terminal and waits for the embedded REPL's prompt."""

    def start(source: str) -> Repl:
        script = tmp_path / "script.py"
        script.write_text(textwrap.dedent(source))
        return start_terminal([sys.executable, str(script)])

    return start


def leave(term: Repl, how: str) -> None:
    """Leaves the REPL the way a user does: Ctrl-D, or typing a call like exit()."""
    term.wait_prompt()
    if how == "C-d":
        term.press("C-d")
    else:
        term.type(how)
        term.press("Enter")


def after_the_last_prompt(term: Repl) -> list[str]:
    """The lines the script printed once the REPL was left (without the blank rows below
    them and tmux's note that the pane is dead)."""
    lines = term.lines()
    last_prompt = max(i for i, line in enumerate(lines) if line.startswith(">>>"))
    return [line for line in lines[last_prompt + 1:] if line and not line.startswith("Pane is dead")]


# A function's locals over the module's globals; the script reports what it sees after.
FUNCTION_WITH_LOCALS = """
    import hotrepl
    G = "a global"
    def work():
        x = 41
        print("before embed")
        hotrepl.embed()
        print("after embed, x is", x)
    work()
    print("script done")
"""


@pytest.mark.parametrize("how", ["C-d", "exit()"])
def test_embed_sees_the_callers_locals_and_globals_and_returns(start_script, how):
    term = start_script(FUNCTION_WITH_LOCALS)
    term.wait_for(BANNER)
    assert term.lines().index("before embed") < term.lines().index(">>>"), "the REPL opens at the call"
    assert term.run("x + 1") == "42"
    assert term.run("G") == "'a global'"
    assert term.run("x = 100") == ""
    assert term.run("x") == "100"
    assert term.run("y = G.upper(); y") == "'A GLOBAL'"
    # With no loop of the script's, cells that await run on one of the REPL's own.
    assert term.run("import asyncio; await asyncio.sleep(0.05, result='slept')") == "'slept'"
    leave(term, how)
    assert term.wait_exit() == 0
    # The prompt's assignments go to a copy of the function's locals, not into its frame.
    assert after_the_last_prompt(term) == ["after embed, x is 41", "script done"]


def test_embed_at_module_level_sees_the_modules_globals(start_script):
    # The script ends as soon as embed() returns, while the REPL's session is still winding
    # down in its thread: the exit must stay clean (it once aborted the process).
    term = start_script(
        """
        import hotrepl
        answer = 42
        hotrepl.embed()
        print("script done, answer is", answer)
        """
    )
    assert term.run("answer") == "42"
    assert term.run("__name__") == "'__main__'"
    # At module level the prompt works in the module itself.
    assert term.run("answer = 43") == ""
    leave(term, "C-d")
    assert term.wait_exit() == 0
    assert after_the_last_prompt(term) == ["script done, answer is 43"]


# A ticker task on the script's loop counts in a global, which the REPL reads live.
ASYNC_SCRIPT = """
    import asyncio, hotrepl
    ticks = 0
    async def ticker():
        global ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)
    async def main():
        loop_of_the_script = asyncio.get_running_loop()
        ticking = asyncio.create_task(ticker())
        await hotrepl.embed_async()
        ticks_at_return = ticks
        await asyncio.sleep(0.1)
        print("after embed_async, still ticking:", ticks > ticks_at_return, not ticking.done())
    asyncio.run(main())
    print("script done")
"""


def test_embed_async_keeps_the_loop_running_while_at_the_prompt(start_script):
    term = start_script(ASYNC_SCRIPT)
    first = int(term.run("ticks"))
    time.sleep(0.3)  # the user sits at the prompt
    second = int(term.run("ticks"))
    assert second - first >= 5, (first, second)
    assert term.run("ticking.done()") == "False"
    leave(term, "C-d")
    assert term.wait_exit() == 0
    assert after_the_last_prompt(term) == ["after embed_async, still ticking: True True", "script done"]


def test_embed_async_cells_that_await_run_on_the_scripts_loop(start_script):
    term = start_script(ASYNC_SCRIPT)
    assert term.run("await asyncio.sleep(0.1); asyncio.get_running_loop() is loop_of_the_script") == "True"
    # The ticker runs alongside the awaiting cell, on the same loop.
    out = term.run("before = ticks; await asyncio.sleep(0.2); ticks - before")
    assert int(out) >= 5, out
    leave(term, "exit()")
    assert term.wait_exit() == 0
    assert after_the_last_prompt(term)[-1] == "script done"


def test_print_and_exceptions_at_the_prompt(start_script):
    term = start_script(
        """
        import hotrepl
        def divide(a, b):
            return a / b
        def work():
            kept = "state"
            hotrepl.embed()
        work()
        print("script done")
        """
    )
    assert term.run("print('printed', 'at the prompt')") == "printed at the prompt"
    assert term.run("import sys; print('to stderr', file=sys.stderr)") == "to stderr"
    out = term.run("divide(kept, 0)")
    assert out.startswith("Traceback (most recent call last):"), out
    assert "in divide" in out, out
    assert out.splitlines()[-1] == "TypeError: unsupported operand type(s) for /: 'str' and 'int'", out
    assert term.run("kept") == "'state'", "the REPL carries on after an exception"
    leave(term, "C-d")
    assert term.wait_exit() == 0
    assert after_the_last_prompt(term) == ["script done"]


# The two ways into the REPL, as a script's main() uses them.
EMBED_IN_A_FUNCTION = "def main():\n    hotrepl.embed()\nmain()\n"
EMBED_IN_A_COROUTINE = "async def main():\n    await hotrepl.embed_async()\nasyncio.run(main())\n"
BOTH_WAYS = pytest.mark.parametrize("main", [EMBED_IN_A_FUNCTION, EMBED_IN_A_COROUTINE], ids=["embed", "embed_async"])


@BOTH_WAYS
@pytest.mark.parametrize("endless", ["spin()", "await asyncio.sleep(100)"], ids=["busy", "awaiting"])
def test_ctrl_c_interrupts_the_cell_not_the_script(start_script, main, endless):
    spin = "def spin():\n    while True:\n        pass\n"
    term = start_script("import asyncio, hotrepl\n" + spin + main + "print('script carried on')\n")
    before = term.prompts()
    term.type(f"print('cell running'); {endless}")
    term.press("Enter")
    term.wait_for(r"^cell running$")
    term.press("C-c")
    term.wait_prompt(before + 1)
    assert term.output_of_last_cell().endswith("KeyboardInterrupt")
    assert term.run("1 + 1") == "2"
    leave(term, "C-d")
    assert term.wait_exit() == 0
    assert after_the_last_prompt(term) == ["script carried on"]


@BOTH_WAYS
def test_the_terminal_is_usable_after_embed_returns(start_script, main):
    after = textwrap.dedent(
        """
        line = input("your line: ")
        print("script read", repr(line))
        try:
            input("now Ctrl-C: ")
        except KeyboardInterrupt:
            print("script got Ctrl-C")
        """
    )
    term = start_script("import asyncio, hotrepl\n" + main + after)
    leave(term, "C-d")
    term.wait_for(r"^your line:$")
    # Echo and the terminal's own line editing (canonical mode) are back: the typo is
    # erased by the terminal, and Enter ends the line.
    term.type("helpp")
    term.press("BSpace", "BSpace")
    term.type("lo")
    term.press("Enter")
    term.wait_for(r"^script read 'hello'$")
    assert "your line: hello" in term.lines()
    # The script is in front of the terminal again: Ctrl-C reaches it.
    term.wait_for(r"^now Ctrl-C:$")
    term.press("C-c")
    term.wait_for(r"script got Ctrl-C$")  # on the line of the echoed ^C
    assert term.wait_exit() == 0
