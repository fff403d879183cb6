"""The local REPL, driven through a real terminal: what a user typing at `hotrepl` sees."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hosts import proc_stat
from terminal import PROMPT
from waiting import wait_until

needs_311 = pytest.mark.skipif(sys.version_info < (3, 11), reason="TaskGroup and ExceptionGroup are new in Python 3.11")


def test_banner_names_python_and_prompt_is_ready(repl):
    version = "%d.%d.%d" % sys.version_info[:3]
    repl.wait_for(rf"Python {re.escape(version)}")
    repl.wait_for(r"hotrepl \d+\.\d+\.\d+")
    assert repl.lines()[-1] == PROMPT.rstrip()


def test_top_level_await_in_plain_cells(repl):
    repl.run("import asyncio")
    assert repl.run("await asyncio.sleep(0.1)") == ""
    repl.run("async def coro(x):\n    await asyncio.sleep(0.01)\n    return x * 2")
    repl.run("x = await coro(21)")
    assert repl.run("x") == "42"
    assert repl.run("await coro(5)") == "10"
    repl.run("import contextlib")
    repl.run("@contextlib.asynccontextmanager\nasync def opened():\n    yield 'resource'")
    assert repl.run("async with opened() as r:\n    print('using', r)") == "using resource"
    repl.run("async def agen():\n    for i in range(3):\n        await asyncio.sleep(0)\n        yield i")
    assert repl.run("async for i in agen():\n    print('item', i)") == "item 0\nitem 1\nitem 2"
    assert repl.run("[i async for i in agen()]") == "[0, 1, 2]"


@needs_311
def test_task_group_as_a_plain_cell(repl):
    repl.run("import asyncio")
    repl.run("results = []")
    out = repl.run(
        "async with asyncio.TaskGroup() as tg:\n"
        "    for n in range(3):\n"
        "        tg.create_task(asyncio.sleep(0.05 * n, result=n))\n"
        "    print('started', len(tg._tasks))"
    )
    assert out == "started 3"


def test_event_loop_keeps_running_between_prompts(repl):
    repl.run("import asyncio")
    repl.run("count = 0")
    repl.run("async def ticker():\n    global count\n    while True:\n        count += 1\n        await asyncio.sleep(0.01)")
    # A plain statement (no await) creates a task on the running loop.
    repl.run("t = asyncio.create_task(ticker())")
    first = int(repl.run("count"))
    time.sleep(0.5)  # the user sits at the prompt
    second = int(repl.run("count"))
    assert second - first >= 10, (first, second)
    assert repl.run("loop = asyncio.get_running_loop(); loop.is_running()") == "True"
    assert repl.run("asyncio.get_running_loop() is loop") == "True"
    assert repl.run("t.done()") == "False"


def test_block_typed_with_continuation_lines(repl):
    repl.type("for i in range(3):")
    repl.press("Enter")
    repl.wait_for(r"^\.\.\.$")
    repl.type("    print('line', i)")
    repl.press("Enter")
    repl.wait_for(r"^\.\.\.$")
    assert not repl.at_empty_prompt(), "a block waits for an empty line"
    repl.press("Enter")
    repl.wait_prompt(2)
    assert repl.output_of_last_cell() == "line 0\nline 1\nline 2"


@pytest.mark.parametrize(
    "opening, rest, expected",
    [
        ("total = (1 +", "2)", "3"),
        ("items = [1,", "2, 3]", "[1, 2, 3]"),
        ("total = 1 + \\", "2", "3"),
        ("text = '''one", "two'''", "'one\\ntwo'"),
    ],
)
def test_incomplete_input_asks_for_more(repl, opening, rest, expected):
    repl.type(opening)
    repl.press("Enter")
    repl.wait_for(r"^\.\.\.$")
    repl.type(rest)
    repl.press("Enter")
    repl.wait_prompt(2)
    name = opening.split()[0]
    assert repl.run(name) == expected


def test_pasted_script_runs_once_as_one_cell(repl):
    script = "\n".join(
        [
            "runs = globals().get('runs', 0) + 1",
            "import asyncio",
            "",
            "def helper(x):",
            "    doubled = x * 2",
            "",
            "    # a comment after a blank line inside the function",
            "    return doubled",
            "",
            "",
            "class Greeter:",
            "    greeting = 'hello'",
            "",
            "    def greet(self, name):",
            "",
            "        return f'{self.greeting}, {name}'",
            "",
            "    async def later(self, name):",
            "        await asyncio.sleep(0.01)",
            "",
            "        return self.greet(name)",
            "",
            "values = []",
            "for i in range(5):",
            "    values.append(helper(i))",
            "",
            "total = sum(values)",
            "",
            "async def main():",
            "    g = Greeter()",
            "",
            "    return await g.later('paste')",
            "",
            "message = await main()",
            "print('runs', runs)",
            "print('total', total)",
            "print(message)",
            "",
            "# forty lines in all",
            "print('end of script')",
        ]
    )
    assert len(script.split("\n")) == 40
    repl.paste(script + "\n")
    repl.press("Enter")
    repl.wait_prompt(2)
    out = repl.output_of_last_cell()
    assert out == "runs 1\ntotal 20\nhello, paste\nend of script", out
    assert repl.prompts() == 2, "the paste is one cell, not one per line"
    assert repl.run("runs") == "1", "the script ran exactly once"


def test_value_of_last_expression_and_underscore(repl):
    assert repl.run("1 + 1") == "2"
    assert repl.run("_ * 10") == "20"
    assert repl.run("_") == "20"
    assert repl.run("None") == "", "None is not displayed"
    assert repl.run("'text'") == "'text'", "values are shown by their repr"
    assert repl.run("a = 1; a + 1; a + 2") == "3", "only the last expression is shown"
    assert repl.run("x = 5") == "", "assignments show nothing"
    assert repl.run("_") == "3", "_ keeps the last displayed value"


def test_print_goes_to_the_terminal(repl):
    repl.run("import sys")
    out = repl.run("print('to stdout'); print('to stderr', file=sys.stderr); sys.stdout.write('no newline')")
    assert out.splitlines()[:2] == ["to stdout", "to stderr"]
    assert "no newline" in out


def test_traceback_shows_only_user_code(repl):
    repl.run("import asyncio")
    repl.run("def inner():\n    raise ValueError('bad value')")
    repl.run("async def outer():\n    await asyncio.sleep(0)\n    inner()")
    out = repl.run("await outer()")
    assert out.startswith("Traceback (most recent call last):"), out
    assert re.search(r'File "<cell \d+>", line 1, in <module>', out), out
    assert "in outer" in out and "in inner" in out
    assert out.splitlines()[-1] == "ValueError: bad value"
    frames = re.findall(r'File "([^"]+)"', out)
    assert all(f.startswith("<cell") for f in frames), f"machinery frames leaked: {frames}"

    out = repl.run("inner()")
    frames = re.findall(r'File "([^"]+)"', out)
    assert all(f.startswith("<cell") for f in frames), frames
    assert repl.run("1 + 1") == "2", "the REPL carries on"


def test_syntax_error_shows_the_caret(repl):
    out = repl.run("x = (1 +* 2)")
    lines = out.splitlines()
    assert lines[-1].startswith("SyntaxError"), out
    source_line = next(i for i, line in enumerate(lines) if "x = (1 +* 2)" in line)
    assert "^" in lines[source_line + 1], out
    assert "Traceback" not in out


@needs_311
def test_exception_group_shows_every_sub_exception(repl):
    repl.run("import asyncio")
    repl.run("async def fail(exc):\n    await asyncio.sleep(0.01)\n    raise exc")
    out = repl.run(
        "async with asyncio.TaskGroup() as tg:\n"
        "    tg.create_task(fail(ValueError('first')))\n"
        "    tg.create_task(fail(KeyError('second')))"
    )
    assert "ExceptionGroup: unhandled errors in a TaskGroup (2 sub-exceptions)" in out, out
    assert "ValueError: first" in out and "KeyError: 'second'" in out, out


@pytest.mark.parametrize(
    "code",
    ["while True: pass", "import time; time.sleep(100)", "import asyncio; await asyncio.sleep(100)"],
    ids=["busy-loop", "time-sleep", "await-sleep"],
)
def test_ctrl_c_interrupts_and_keeps_state(repl, code):
    repl.run("kept = 'state'")
    before = repl.prompts()
    # Pasted as one cell: the marker says when the cell's code has started.
    repl.paste(f"print('RUN' + 'NING')\n{code}")
    repl.press("Enter")
    repl.wait_for(r"^RUNNING$")
    repl.press("C-c")
    repl.wait_prompt(before + 1, timeout=1.0)
    assert "KeyboardInterrupt" in repl.output_of_last_cell()
    assert repl.run("kept") == "'state'"
    assert repl.run("1 + 1") == "2"


def test_ctrl_c_clears_a_half_typed_line(repl):
    repl.type("cleared = 'half typed")
    repl.press("C-c")
    repl.wait_until(repl.at_empty_prompt, what="a fresh prompt")
    before = repl.prompts()
    repl.press("Enter")
    repl.wait_prompt(before + 1)  # an empty line runs nothing and gives the next prompt
    assert "NameError" in repl.run("cleared")


def test_ctrl_d_on_empty_line_exits_zero(repl):
    repl.run("print('bye')")
    repl.press("C-d")
    assert repl.wait_exit() == 0


def test_ctrl_d_on_a_typed_line_does_not_exit(repl):
    repl.type("abc")
    repl.press("Home", "C-d")
    time.sleep(0.3)
    assert repl.exit_status() is None
    repl.press("C-c")


@pytest.mark.parametrize("call, status", [("exit()", 0), ("quit()", 0), ("exit(3)", 3), ("raise SystemExit(4)", 4)])
def test_exit_and_quit(repl, call, status):
    repl.type(call)
    repl.press("Enter")
    assert repl.wait_exit() == status


def test_history_is_kept_across_runs(start_repl):
    first = start_repl()
    first.run("first_cell = 'one'")
    first.run("def multi():\n    return 'two lines'")
    first.run("last_cell = 3")
    first.press("C-d")
    assert first.wait_exit() == 0

    second = start_repl()
    second.press("Up")
    second.wait_for(r"^>>> last_cell = 3$")
    second.press("Up")
    second.wait_for(r"^>>> def multi\(\):\n\.\.\.     return 'two lines'$")
    second.press("C-c")
    second.wait_until(second.at_empty_prompt, what="a fresh prompt")
    second.press("C-r")
    second.type("first_")
    second.wait_for(r"first_cell = 'one'")
    second.press("Enter")  # takes the found cell into the editor
    second.wait_for(r"^>>> first_cell = 'one'$")
    second.press("Enter")
    second.wait_until(second.at_empty_prompt, what="the search result to run")
    assert second.run("first_cell") == "'one'"


def test_input_is_highlighted(start_repl):
    # The suite runs with NO_COLOR set; the switch overrides it.
    repl = start_repl("--color", "always")
    repl.type("def f(): return 'text'  # note")
    repl.wait_for(r"# note")
    screen = repl.screen(escapes=True)
    line = next(line for line in screen.splitlines() if "note" in line)
    assert re.search(r"\x1b\[[0-9;]*m(\x1b\[[0-9;]*m)*def", line), repr(line)
    assert re.search(r"\x1b\[[0-9;]*m(\x1b\[[0-9;]*m)*'text'", line), repr(line)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", line)
    assert plain.endswith("def f(): return 'text'  # note")
    repl.press("C-c")


@pytest.mark.parametrize(
    "setup, typed, completed",
    [
        ("my_variable = 1", "my_var", "my_variable"),
        ("import collections", "collections.Ordered", "collections.OrderedDict"),
        ("config = {'alpha': 1, 'beta': 2}", "config['al", "config['alpha']"),
        # A prefix no module of a test venv shares (its Jupyter clients bring json-this and that).
        ("", "import zipim", "import zipimport"),
        ("", "from os.path import isab", "from os.path import isabs"),
    ],
    ids=["name", "attribute", "dict-key", "module", "from-import"],
)
def test_tab_completes_from_the_live_namespace(repl, setup, typed, completed):
    if setup:
        repl.run(setup)
    repl.type(typed)
    repl.press("Tab")
    repl.wait_for(rf"^>>> {re.escape(completed)}$")
    repl.press("Enter")
    repl.wait_until(repl.at_empty_prompt, what="the completed cell to run")
    assert "Error" not in repl.output_of_last_cell()


def test_tab_shows_a_menu_of_candidates(repl):
    repl.run("class Thing:\n    alpha_one = 1\n    alpha_two = 2\n    beta = 3")
    repl.type("Thing.alpha_")
    repl.press("Tab")
    repl.wait_for(r"alpha_one\s+alpha_two")
    repl.press("Tab")  # to the second candidate
    repl.press("Enter")  # accept it
    repl.wait_for(r"^>>> Thing\.alpha_two$")
    repl.press("Enter")
    repl.wait_prompt()
    assert repl.output_of_last_cell() == "2"


def test_tab_at_line_start_indents(repl):
    repl.type("if True:")
    repl.press("Enter")
    repl.wait_for(r"^\.\.\.$")
    repl.press("Tab")
    repl.type("print('indented')")
    repl.press("Enter", "Enter")
    repl.wait_prompt(2)
    assert repl.output_of_last_cell() == "indented"


def test_background_output_does_not_corrupt_the_line_being_edited(repl):
    repl.run("import asyncio")
    repl.run("async def chatter():\n    for i in range(4):\n        await asyncio.sleep(0.25)\n        print('background', i)")
    repl.run("task = asyncio.create_task(chatter())")
    repl.type("typed_while_printing = 'still")
    repl.wait_for(r"^background 3$", timeout=5)
    lines = repl.lines()
    assert lines[-1] == ">>> typed_while_printing = 'still", lines[-6:]
    assert [line for line in lines if line.startswith("background")] == [f"background {i}" for i in range(4)]
    repl.type(" intact'")
    repl.press("Enter")
    repl.wait_prompt()
    assert repl.run("typed_while_printing") == "'still intact'"


def test_input_builtin_reads_from_the_terminal(repl):
    repl.type("name = input('Your name: ')")
    repl.press("Enter")
    repl.wait_for(r"^Your name:$")
    repl.type("Ada")
    repl.press("Enter")
    repl.wait_prompt()
    assert repl.run("name") == "'Ada'"


def test_version_and_help(hotrepl_bin):
    version = subprocess.run([hotrepl_bin, "--version"], capture_output=True, text=True, timeout=10)
    assert version.returncode == 0
    assert re.fullmatch(r"hotrepl \d+\.\d+\.\d+\n", version.stdout), version.stdout
    helped = subprocess.run([hotrepl_bin, "--help"], capture_output=True, text=True, timeout=10)
    assert helped.returncode == 0
    assert "Usage: hotrepl" in helped.stdout and "--python" in helped.stdout


def test_piped_input_runs_cells_without_a_terminal(hotrepl_bin, base_env):
    script = "import asyncio\nx = await asyncio.sleep(0, result=6)\nx * 7\nfor i in range(2):\n    print(i)\n\nprint('done')\n"
    done = subprocess.run([hotrepl_bin], input=script, capture_output=True, text=True, timeout=30, env={**base_env, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "42\n0\n1\ndone\n"


def test_post_mortem_debugger_works_at_the_prompt(repl):
    repl.run("def f(x):\n    y = x + 1\n    return y / 0")
    assert "ZeroDivisionError" in repl.run("f(3)")
    repl.type("import pdb; pdb.pm()")
    repl.press("Enter")
    repl.wait_for(r"^\(Pdb\)$")
    repl.type("p y")
    repl.press("Enter")
    repl.wait_for(r"^4$")
    repl.type("q")
    repl.press("Enter")
    repl.wait_prompt()
    assert repl.run("1 + 1") == "2"


def test_getpass_does_not_echo(repl):
    repl.type("import getpass; secret = getpass.getpass('Token: ')")
    repl.press("Enter")
    repl.wait_for(r"^Token:$")
    repl.type("hunter2")
    repl.press("Enter")
    repl.wait_prompt()
    assert "hunter2" not in repl.screen()
    assert repl.run("len(secret)") == "7"


def test_a_closed_terminal_ends_hotrepl(tmp_path, hotrepl_bin, start_terminal):
    """Closing the window ends hotrepl and its kernel, even with SIGHUP ignored (nohup):
    nothing is left reading a dead terminal."""
    pid_file = tmp_path / "hotrepl.pid"
    ignore_hangups_then_exec = (
        "import os, signal, sys; signal.signal(signal.SIGHUP, signal.SIG_IGN); "
        "open(sys.argv[1], 'w').write(str(os.getpid())); os.execv(sys.argv[2], sys.argv[2:])"
    )
    term = start_terminal([sys.executable, "-c", ignore_hangups_then_exec, str(pid_file), hotrepl_bin])
    try:
        pid = int(pid_file.read_text())
        kernels = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        assert kernels, "the local kernel runs as hotrepl's child"
    finally:
        term.close()

    def gone(p: int) -> bool:
        fields = proc_stat(f"/proc/{p}/stat")
        return fields is None or fields[0] == "Z"  # reaped, or a zombie

    try:
        wait_until(lambda: gone(pid) and all(gone(k) for k in kernels), timeout=10, what="hotrepl and its kernel to end")
    finally:
        for p in [pid, *kernels]:
            if not gone(p):
                os.kill(p, signal.SIGKILL)
