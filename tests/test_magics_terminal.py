"""Inspection and magics at the local REPL's prompt, in a real terminal (tmux): what the user
types and sees."""

from __future__ import annotations

import re


def test_help_and_magics_at_the_prompt(repl):
    page = repl.run("len?")
    assert re.search(r"^Signature:\s+len\(obj, /\)$", page, re.M), page
    assert "Return the number of items in a container." in page
    out = repl.run("%time sum(range(10))")
    assert re.search(r"^CPU time: .+\nWall time: .+\n45$", out, re.M), out
    assert re.search(r"^[\d.]+ (ns|µs) ± [\d.]+ (ns|µs) per loop \(mean ± std\. dev\. of 2 runs, 10 loops each\)$",
                     repl.run("%timeit -n 10 -r 2 pass"), re.M)
    assert repl.run("!echo from the shell") == "from the shell"
    assert repl.run("%tiem 1") == "UsageError: no magic %tiem; did you mean %time?"
    assert "Line magics: %autoawait" in repl.run("%lsmagic")
    repl.run("files = !printf 'a\\nb\\n'")
    assert repl.run("files") == "['a', 'b']"


def test_a_cell_magic_waits_for_its_block(repl):
    repl.type("%%time")
    repl.press("Enter")
    repl.wait_for(r"^\.\.\.\s*$")
    repl.type("total = 0")
    repl.press("Enter")
    repl.type("for i in range(4):")
    repl.press("Enter")
    repl.type("    total += i")
    repl.press("Enter")
    repl.press("Enter")
    repl.wait_prompt(2)
    out = repl.output_of_last_cell()
    assert "Wall time:" in out, out
    assert repl.run("total") == "6"


def test_tab_completes_magics(repl, tmp_path):
    repl.type("%timei")
    repl.press("Tab")
    repl.wait_for(r"^>>> %timeit$")
    repl.press("C-c")
    (tmp_path / "only-dir").mkdir()
    repl.wait_prompt()
    repl.type(f"%cd {tmp_path}/only")
    repl.press("Tab")
    repl.wait_for(rf"^>>> %cd {re.escape(str(tmp_path))}/only-dir/$")
    repl.press("Enter")
    assert repl.run("%pwd") == repr(str(tmp_path / "only-dir"))


def test_load_puts_the_file_at_the_prompt(repl, tmp_path):
    script = tmp_path / "loaded.py"
    script.write_text("loaded_value = 6 * 7\n")
    repl.type(f"%load {script}")
    repl.press("Enter")
    repl.wait_for(rf"^>>> # %load {re.escape(str(script))}\n\.\.\. loaded_value = 6 \* 7$")
    repl.press("Enter")
    repl.wait_prompt()
    assert repl.run("loaded_value") == "42"


def test_ctrl_c_stops_a_shell_command(repl):
    before = repl.prompts()
    repl.type("!echo RUN''NING; sleep 30")
    repl.press("Enter")
    repl.wait_for(r"^RUNNING$")
    repl.press("C-c")
    repl.wait_prompt(before + 1, timeout=3)
    assert repl.output_of_last_cell().endswith("KeyboardInterrupt")
    assert repl.run("1 + 1") == "2"


def test_debugging_after_an_error(repl):
    repl.run("def half(n):\n    doubled = n * 2\n    return doubled / 0")
    assert "ZeroDivisionError" in repl.run("half(21)")
    repl.type("%debug")
    repl.press("Enter")
    repl.wait_for(r"^\(Pdb\)$")
    repl.type("p doubled")
    repl.press("Enter")
    repl.wait_for(r"^42$")
    repl.type("q")
    repl.press("Enter")
    repl.wait_prompt()
    assert repl.run("1 + 1") == "2"


def test_tasks_threads_and_jobs_in_the_local_repl(repl):
    repl.run("import asyncio")
    repl.run("async def nap():\n    await asyncio.sleep(3600)")
    repl.run("t = asyncio.create_task(nap(), name='napper')")
    listing = repl.run("%tasks")
    assert re.search(r"^\d+\s+napper\s+pending\s+nap\(\)\s+<cell 2>:2 awaiting sleep\(\)", listing, re.M), listing
    number = re.search(r"^(\d+)\s+napper", listing, re.M).group(1)
    assert repl.run(f"%cancel {number}") == f"task {number} 'napper' was cancelled"
    assert "Thread 'MainThread' (not daemon, main, this session)" in repl.run("%threads")
    repl.run("%bg import time; time.sleep(0.3); 'background'")
    assert repl.run("%fg") == "'background'"


def test_namespace_files_and_settings_at_the_prompt(repl, tmp_path):
    repl.run("kept = 1; also = 'two'")
    assert repl.run("%who") == "also  kept"
    assert re.search(r"^kept\s+int\s+1$", repl.run("%whos"), re.M)
    repl.type("%reset")
    repl.press("Enter")
    repl.wait_for(r"Delete 2 name\(s\) from the namespace \(also, kept\)\? .*\[y/N\]$")
    repl.type("y")
    repl.press("Enter")
    repl.wait_for(r"^Deleted 2 name\(s\)\.$")
    assert "NameError" in repl.run("kept")
    assert repl.run("%env HOTREPL_PROMPT_TEST=yes") == "env: HOTREPL_PROMPT_TEST=yes"
    script = tmp_path / "script.py"
    script.write_text("import sys\nprint('args', sys.argv[1:])\nfrom_script = await __import__('asyncio').sleep(0, 'ok')\n")
    assert repl.run(f"%run {script} a b") == "args ['a', 'b']"
    assert repl.run("from_script") == "'ok'"
    assert repl.run("%autoawait off") == "top-level await is off"
    assert "SyntaxError" in repl.run("await __import__('asyncio').sleep(0)")
    repl.run("%autoawait on")
    repl.run("import hotrepl\n@hotrepl.magic\ndef twice(line):\n    return line * 2")
    assert repl.run("%twice ab") == "'abab'"
    assert repl.run("%pdb on") == "The debugger opens on uncaught exceptions: on"
    repl.type("boom = 'value'; 1 / 0")
    repl.press("Enter")
    repl.wait_for(r"^\(Pdb\)$")
    repl.type("p boom")
    repl.press("Enter")
    repl.wait_for(r"^'value'$")
    repl.type("q")
    repl.press("Enter")
    repl.wait_prompt()
