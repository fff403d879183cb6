"""Inspection and magics over the native protocol, in the local REPL's kernel and in a session
attached to a live asyncio program alike: `obj?`, `%time`, `%timeit`, `%who`, `%reset`,
`%env`, `%cd`, `%load`, `%run`, `!command`, `%autoawait`, user magics, completion and
`is_complete` of magic syntax. (Tasks, threads, the debugger and jobs: test_live_program.py;
the terminal: test_magics_terminal.py.)"""

from __future__ import annotations

import re
import time


def test_help_describes_an_object(session):
    for ask in ("len?", "?len"):
        page = session.execute(ask).page
        assert "Signature:  len(obj, /)" in page, page
        assert "Return the number of items in a container." in page
        assert "built in" in page
    assert "Source:     not available: len is built in" in session.execute("len??").page
    session.execute("numbers = [1, 2, 3]")
    page = session.execute("numbers?").page
    assert re.search(r"^Type:\s+list$", page, re.M) and re.search(r"^Length:\s+3$", page, re.M), page
    assert re.search(r"^Value:\s+\[1, 2, 3\]$", page, re.M), page
    assert "Docstring" not in page, "a list's own docstring says nothing about this list"


def test_help_shows_source_of_what_cells_defined(session):
    session.execute(
        "def scale(x, factor=2):\n"
        "    '''Scale a number.\n"
        "\n"
        "    The factor defaults to two.\n"
        "    '''\n"
        "    return x * factor"
    )
    page = session.execute("scale?").page
    assert "Signature:  scale(x, factor=2)" in page
    assert "Scale a number." in page and "factor defaults" not in page
    assert "scale?? shows them" in page
    assert re.search(r"Defined in: <cell 1(, session \d+)?>, line 1", page), page
    full = session.execute("scale??").page
    assert "The factor defaults to two." in full
    assert "Source:\ndef scale(x, factor=2):\n" in full and "    return x * factor\n" in full
    session.execute("class Point:\n    '''A point.'''\n    def norm(self):\n        return 0\n\nunrelated = 1")
    page = session.execute("Point??").page
    assert "Source:\nclass Point:\n    '''A point.'''\n    def norm(self):\n        return 0\n" in page, page
    assert "unrelated" not in page


def test_unknown_names_get_one_line(session):
    run = session.execute("no_such_thing?")
    assert run.reply["status"] == "error"
    assert run.error_text == "UsageError: no_such_thing is not defined here (looked in the namespace and builtins)\n"


def test_inspect_request_answers_the_same_text(session):
    session.execute("def greet(name):\n    '''Say hello.'''\n    return 'hi ' + name")
    short = session.request("inspect_request", {"code": "greet(", "cursor_pos": 6, "detail_level": 0})["content"]
    assert short["status"] == "ok" and short["found"] is True
    assert short["data"]["text/plain"] == session.execute("greet?").page
    full = session.request("inspect_request", {"code": "x = greet", "cursor_pos": 9, "detail_level": 1})["content"]
    assert full["data"]["text/plain"] == session.execute("greet??").page
    missing = session.request("inspect_request", {"code": "nothing_here", "cursor_pos": 3, "detail_level": 0})["content"]
    assert missing["status"] == "ok" and missing["found"] is False


def test_inspection_calls_no_getters_and_gives_up_on_slow_reprs(session):
    session.execute(
        "calls = 0\n"
        "class Lazy:\n"
        "    @property\n"
        "    def value(self):\n"
        "        '''Counts its calls.'''\n"
        "        global calls\n"
        "        calls += 1\n"
        "        return 1\n"
        "    def __repr__(self):\n"
        "        while True:\n"
        "            pass\n"
        "lazy = Lazy()"
    )
    page = session.execute("lazy.value?").page
    assert "Counts its calls." in page and re.search(r"^Type:\s+property$", page, re.M), page
    assert session.execute("calls").result == "0", "the getter was not called"
    started = time.monotonic()
    page = session.execute("lazy?").page
    assert "Value:      <repr took more than a second: abandoned>" in page, page
    assert time.monotonic() - started < 5
    assert session.execute("1 + 1").result == "2", "the session goes on"


def test_magic_help_listing_and_near_misses(session):
    usage = session.execute("%time -h").stdout
    assert usage.startswith("Time one run of a statement, or of the cell: %time STATEMENT, %%time\n"), usage
    assert "Time one run" in session.execute("%time?").page
    listing = session.execute("%lsmagic").stdout
    for name in ("%time", "%timeit", "%who", "%tasks", "%threads", "%debug", "%bg", "%%time"):
        assert name in listing, listing
    explained = session.execute("%magic").stdout
    assert re.search(r"^  %cd\s+Change the working directory", explained, re.M), explained
    assert session.execute("%tiem 1").error_text == "UsageError: no magic %tiem; did you mean %time?\n"
    assert session.execute("%%who\nx").error_text == "UsageError: %%who does not exist, but %who does\n"
    assert "must be the first line of its cell" in session.execute("x = 1\n%%time").error_text
    bad = session.execute("%timeit -n many pass")
    assert bad.error_text.startswith("UsageError: -n needs a number, not 'many'\nTime a statement over many runs")


def test_time_reports_and_keeps_the_value(session):
    run = session.execute("%time sum(range(1000))")
    assert re.match(r"CPU time: \d.*\nWall time: \d", run.stdout), run.stdout
    assert run.result == "499500"
    run = session.execute("%%time\nx = 20\nx + 1")
    assert "Wall time" in run.stdout and run.result == "21"
    run = session.execute("%time 1 / 0")
    assert run.error["ename"] == "ZeroDivisionError"
    assert "hotrepl" not in run.error_text, "no frames of hotrepl's in the traceback"
    assert "%time 1 / 0" in run.error_text


def test_time_awaits_on_the_sessions_loop(session, where):
    session.execute("import asyncio")
    run = session.execute("%time await asyncio.sleep(0.2, result='slept')")
    assert run.result == "'slept'"
    wall = re.search(r"Wall time: ([\d.]+) (ms|s)", run.stdout)
    seconds = float(wall.group(1)) / (1000 if wall.group(2) == "ms" else 1)
    assert 0.19 < seconds < 2, run.stdout
    if where == "attached":
        assert session.execute("%time await asyncio.sleep(0, result=asyncio.get_running_loop() is app_loop)").result == "True"


def test_timeit_formats_like_ipython(session):
    run = session.execute("%timeit -n 200 -r 3 x = 1")
    assert re.fullmatch(
        r"[\d.]+ (ns|µs|ms) ± [\d.]+ (ns|µs|ms) per loop \(mean ± std\. dev\. of 3 runs, 200 loops each\)\n", run.stdout
    ), run.stdout
    auto = session.execute("%timeit -r 2 sum(range(10))").stdout
    loops = int(re.search(r"of 2 runs, ([\d,]+) loops each", auto).group(1).replace(",", ""))
    assert loops >= 1000 and str(loops).strip("0") == "1", auto
    cell = session.execute("%%timeit -n 10 -r 2 data = list(range(100))\nsorted(data)").stdout
    assert "2 runs, 10 loops each" in cell
    session.execute("import asyncio")
    awaited = session.execute("%timeit -n 20 -r 2 await asyncio.sleep(0)").stdout
    assert "2 runs, 20 loops each" in awaited


def test_timeit_in_a_live_program_leaves_its_loop_running(make_host):
    client = make_host().connect()
    client.execute("import asyncio\nmax_gap = 0.0")
    before = int(client.execute("ticks").result)
    client.execute("%timeit -r 3 sum(range(100))")
    client.execute("%timeit -r 2 await asyncio.sleep(0)")
    assert int(client.execute("ticks").result) > before + 20, "the program's ticker kept running"
    gap = float(client.execute("max_gap").result)
    assert gap < 0.1, f"the program's loop stalled for {gap:.3f} s"


def test_who_and_whos(session, where):
    session.execute("alpha = 1\nbeta = 'two'\ndef gamma(): pass\nimport json as jason\nfor delta in range(2): pass")
    assert session.execute("%who").stdout == "alpha  beta  delta  gamma  jason\n"
    assert session.execute("%who str int").stdout == "alpha  beta  delta\n"
    table = session.execute("%whos").stdout.splitlines()
    assert table[0].split() == ["Variable", "Type", "Data/Info"]
    assert any(line.split()[:3] == ["beta", "str", "'two'"] for line in table), table
    assert session.execute("%who_ls").result == "['alpha', 'beta', 'delta', 'gamma', 'jason']"
    if where == "attached":
        everything = session.execute("%who -a").stdout
        assert "ticks" in everything and "ticker" in everything, "the program's own names, with -a"
        assert "ticks" not in session.execute("%who").stdout


def test_reset_asks_and_spares_the_programs_names(session, where):
    session.execute("mine = 1\nalso_mine = 2")
    declined = session.execute_answering("%reset", ["n"])
    assert "Nothing deleted." in declined.stdout
    assert session.execute("mine").result == "1"
    asked = session.execute_answering("%reset", ["y"])
    # input() writes its prompt to stdout before it asks.
    assert "Delete 2 name(s)" in asked.stdout and "also_mine, mine" in asked.stdout, asked.stdout
    assert session.execute("mine").error["ename"] == "NameError"
    session.execute("again = 3")
    assert session.execute("%reset -f").stdout == "Deleted 1 name(s).\n"
    if where == "attached":
        assert session.execute("'ticks' in globals() and not ticker_task.done()").result == "True", "the program's names are left alone"
        refused = session.execute("%reset --all")
        assert refused.error_text.startswith("UsageError: --all deletes the program's own names too: it needs -f")


def test_env_pwd_and_cd(session, where, tmp_path):
    assert session.execute("%env HOTREPL_TEST_VAR=set by a magic").stdout == "env: HOTREPL_TEST_VAR=set by a magic\n"
    assert session.execute("%env HOTREPL_TEST_VAR").result == "'set by a magic'"
    assert session.execute("import os; os.environ['HOTREPL_TEST_VAR']").result == "'set by a magic'"
    (tmp_path / "sub").mkdir()
    if where == "attached":
        refused = session.execute(f"%cd {tmp_path}")
        assert "working directory of the whole program" in refused.error_text and "%cd -f" in refused.error_text
        assert session.execute("%cd -f " + str(tmp_path / "sub")).stdout == f"{tmp_path / 'sub'}\n"
    else:
        assert session.execute(f"%cd {tmp_path / 'sub'}").stdout == f"{tmp_path / 'sub'}\n"
    assert session.execute("%pwd").result == repr(str(tmp_path / "sub"))
    session.execute("%cd -f -" if where == "attached" else "%cd -")
    assert session.execute("%pwd").result != repr(str(tmp_path / "sub"))


def test_load_puts_a_file_in_the_next_input(session, tmp_path):
    script = tmp_path / "snippet.py"
    script.write_text("total = 0\nfor i in range(3):\n    total += i\n")
    run = session.execute(f"%load {script}")
    payload = run.reply["payload"]
    assert payload == [{"source": "set_next_input", "text": f"# %load {script}\n{script.read_text()}", "replace": False}]
    assert session.execute("%load /no/such/file.py").error_text.startswith("UsageError: cannot read /no/such/file.py")


def test_run_runs_a_script_with_args_and_await(session, tmp_path):
    script = tmp_path / "job.py"
    script.write_text(
        "import asyncio, sys\n"
        "argv_seen = list(sys.argv)\n"
        "name_seen = __name__\n"
        "slept = await asyncio.sleep(0, result='awaited')\n"
        "print('ran with', sys.argv[1:])\n"
    )
    run = session.execute(f"%run {script} one 'two words'")
    assert run.stdout == "ran with ['one', 'two words']\n", run.error_text
    assert session.execute("argv_seen[1:], name_seen, slept").result == "(['one', 'two words'], '__main__', 'awaited')"
    assert session.execute("import sys; sys.argv[0] != argv_seen[0]").result == "True", "sys.argv is put back"
    failing = tmp_path / "fails.py"
    failing.write_text("x = 1\nraise ValueError('from the script')\n")
    error = session.execute(f"%run {failing}").error_text
    assert f'File "{failing}", line 2' in error and "ValueError: from the script" in error, error


def test_shell_commands_stream_and_capture(session, tmp_path):
    (tmp_path / "listed").mkdir()
    (tmp_path / "listed" / "a.txt").write_text("")
    (tmp_path / "listed" / "b.txt").write_text("")
    run = session.execute("!echo out; echo err >&2")
    assert run.stdout == "out\n" and run.stderr == "err\n"
    assert session.execute(f"files = !ls {tmp_path / 'listed'}").reply["status"] == "ok"
    assert session.execute("files").result == "['a.txt', 'b.txt']"
    assert session.execute("!!echo captured").result == "['captured']"
    assert session.execute("for word in ['x', 'y']:\n    !echo $HOME-ok > /dev/null\n").reply["status"] == "ok"


def test_a_shell_command_streams_and_stops_on_interrupt(session, tmp_path):
    marker = tmp_path / "still-running"
    msg_id = session.send(
        "execute_request", {"code": f"!echo started; sleep 30; touch {marker}"}
    )
    first = session.recv_until("stream", msg_id)[-1]["content"]
    assert first["text"] == "started\n", "output arrives while the command runs"
    started = time.monotonic()
    session.request("interrupt_request", {})
    reply = session.finish(msg_id).reply
    assert reply["ename"] == "KeyboardInterrupt"
    assert time.monotonic() - started < 5
    time.sleep(0.2)
    assert not marker.exists()
    assert session.execute("1 + 1").result == "2"


def test_autoawait_off_makes_await_a_syntax_error(session):
    session.execute("import asyncio")
    assert session.execute("%autoawait off").stdout == "top-level await is off\n"
    assert session.execute("await asyncio.sleep(0)").error["ename"] == "SyntaxError"
    session.execute("%autoawait on")
    assert session.execute("await asyncio.sleep(0, result=3)").result == "3"


def test_user_magics(session, where):
    session.execute(
        "import hotrepl\n"
        "@hotrepl.magic\n"
        "def shout(line):\n"
        "    '''Say it louder: %shout TEXT'''\n"
        "    return line.upper()\n"
        "@hotrepl.cell_magic\n"
        "def lines(line, cell):\n"
        "    return [line, len(cell.splitlines())]\n"
        "@hotrepl.magic(name='later')\n"
        "async def sleepy(line):\n"
        "    import asyncio\n"
        "    return await asyncio.sleep(0.01, result=line)\n"
        "@hotrepl.magic\n"
        "def broken(line):\n"
        "    return 1 / 0\n"
    )
    assert session.execute("%shout hello").result == "'HELLO'"
    assert session.execute("%shout -h").stdout == "Say it louder: %shout TEXT\n"
    assert session.execute("%%lines tag\na\nb\nc").result == "['tag', 3]"
    assert session.execute("%later value").result == "'value'"
    assert session.execute("loud = %shout quiet\nloud").result == "'QUIET'"
    error = session.execute("%broken").error_text
    assert "ZeroDivisionError" in error and "return 1 / 0" in error and "in broken" in error, error
    assert session.execute("1 + 1").result == "2"
    if where == "attached":
        other = session.host.connect()
        assert other.execute("%shout from another session").result == "'FROM ANOTHER SESSION'"


def test_cell_numbers_in_tracebacks_match_execution_counts(session, where):
    session.execute("1")
    run = session.execute("1\nraise ValueError('here')")
    count = run.reply["execution_count"]
    expected = f'File "<cell {count}>' if where == "local" else f'File "<cell {count}, session '
    assert expected in run.error_text, run.error_text
    again = session.execute("1\nraise ValueError('here')")
    assert f"<cell {again.reply['execution_count']}" in again.error_text, "the same source again gets its own number"


def test_is_complete_follows_magic_syntax(session):
    def status(code):
        return session.request("is_complete_request", {"code": code})["content"]["status"]

    assert status("%time sum(range(3))") == "complete"
    assert status("len?") == "complete"
    assert status("%%time\nfor i in range(3):") == "incomplete"
    assert status("%%time\nfor i in range(3):\n    pass\n") == "complete"
    assert status("%%time") == "incomplete"
    assert status("%%time\nx = 1") == "incomplete", "a cell magic's body ends with an empty line"
    assert status("%%time\nx = 1\n") == "complete"
    assert status("%%time\nx = (1,\n") == "incomplete"
    assert status("!ls \\") == "incomplete"
    assert status("for i in range(2):\n    %time i") == "incomplete"
    assert status("for i in range(2):\n    %time i\n") == "complete"


def test_completion_of_magic_syntax(session, tmp_path):
    def complete(code):
        reply = session.request("complete_request", {"code": code, "cursor_pos": len(code)})["content"]
        return reply["matches"], code[reply["cursor_start"]:reply["cursor_end"]]

    matches, replaced = complete("%ti")
    assert matches == ["%time", "%timeit"] and replaced == "%ti"
    assert complete("%%ti")[0] == ["%%time", "%%timeit"]
    (tmp_path / "subdir").mkdir()
    (tmp_path / "subfile.txt").write_text("")
    matches, replaced = complete(f"%cd {tmp_path}/sub")
    assert matches == [f"{tmp_path}/subdir/"] and replaced == f"{tmp_path}/sub"
    assert complete(f"!cat {tmp_path}/sub")[0] == [f"{tmp_path}/subdir/", f"{tmp_path}/subfile.txt"]
    session.execute("import os")
    matches, replaced = complete("%time os.pa")
    assert "path" in matches and replaced == "pa"


def test_magics_load_only_when_used(make_host):
    host = make_host()
    client = host.connect()
    assert client.execute("import sys; 'hotrepl._magics' in sys.modules").result == "False"
    client.execute("%pwd")
    assert client.execute("'hotrepl._magics' in sys.modules").result == "True"


def test_host_print_reaches_the_programs_output(make_host):
    host = make_host()
    client = host.connect()
    run = client.execute("import hotrepl\nhotrepl.host_print('to the program', 42)\nprint('to the client')")
    assert run.stdout == "to the client\n"
    host.wait_for_output("to the program 42")


def test_commands_started_from_a_session_can_be_signalled(make_host):
    # Threads inherit the signal mask of the thread that starts them, and so do the
    # commands a session runs: with the server's mask they could not be stopped.
    client = make_host().connect()
    run = client.execute(
        "import subprocess, time\n"
        "child = subprocess.Popen(['sleep', '30'])\n"
        "child.terminate()\n"
        "started = time.monotonic()\n"
        "status = child.wait(timeout=10)\n"
        "status, time.monotonic() - started < 5"
    )
    assert run.result == "(-15, True)", run.error_text
