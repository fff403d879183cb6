"""History: every cell of every session (local REPLs, attached sessions) recorded in one
SQLite database per user, read back by `hotrepl history`, the editor's Up, Jupyter's
`history_request` and `%history`; and a program's own audit file. Real processes and
terminals; each test has a data home of its own, so a database of its own."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hosts import asyncio_app, host_env, proc_stat
from waiting import wait_until

# A cell that lists history through the %history logic (registered as a magic elsewhere).
MAGIC = "import hotrepl._native as native; print(native.history_magic({line!r}), end='')"


@pytest.fixture
def db(home: Path) -> Path:
    return home / ".local/share/hotrepl/history.sqlite"


@pytest.fixture
def env(base_env, tmp_path) -> dict[str, str]:
    """For hotrepl commands: the test's data home, a runtime directory of its own."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return host_env(runtime, **base_env)


@pytest.fixture
def hotrepl(hotrepl_bin, env):
    """Runs `hotrepl ARGS...` to the end."""

    def run(*args: str, extra_env: dict | None = None, timeout: float = 20) -> subprocess.CompletedProcess:
        return subprocess.run([hotrepl_bin, *args], env={**env, **(extra_env or {})},
                              capture_output=True, text=True, timeout=timeout)

    return run


@pytest.fixture
def cells(hotrepl):
    """`hotrepl history --json --outputs [ARGS]`: the cells, one dict each."""

    def read(*args: str) -> list[dict]:
        done = hotrepl("history", "--json", "--outputs", *args)
        assert done.returncode == 0 and done.stderr == "", done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()]

    return read


@pytest.fixture
def host(make_host, base_env):
    """An asyncio program serving hotrepl, recording in the test's database."""
    return make_host(env=base_env)


def inputs(found: list[dict]) -> list[str]:
    return [cell["input"] for cell in found]


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def client_pid(term) -> int:
    """The `hotrepl` process in a terminal (under the pane's status recorder)."""
    pane = int(term.tmux("display-message", "-p", "#{pane_pid}").strip())
    return wait_until(lambda: children(pane), what="the client to start")[0]


# -- what is recorded ------------------------------------------------------------------------


def test_print_value_error_and_a_tasks_later_print_are_recorded_with_their_cell(host, cells, db):
    client = host.connect()
    client.execute("import sys; print('to stdout'); print('to stderr', file=sys.stderr); 6 * 7")
    assert client.execute("raise ValueError('bad value')").error["ename"] == "ValueError"
    started = client.execute(
        "import asyncio\n"
        "async def later():\n"
        "    await asyncio.sleep(0.2)\n"
        "    print('printed later')\n"
        "task = asyncio.create_task(later())\n"
        "await asyncio.sleep(0)"
    )
    assert started.reply["status"] == "ok"
    later = ""  # after the cell's reply, in one piece or more
    while not later.endswith("\n"):
        later += client.recv()["content"]["text"]
    assert later == "printed later\n"

    found = wait_until(lambda: [c for c in cells() if c["stdout"] == "printed later\n"] and cells(),
                       what="the later print in history")
    value, error, task = found
    assert (value["stdout"], value["stderr"], value["result"]) == ("to stdout\n", "to stderr\n", "42")
    assert value["status"] == "ok" and value["error"] is None
    assert error["status"] == "error" and error["result"] is None
    assert (error["error"]["ename"], error["error"]["evalue"]) == ("ValueError", "bad value")
    assert error["error"]["traceback"].endswith("ValueError: bad value\n")
    assert task["input"].startswith("import asyncio\nasync def later():")
    assert [c["count"] for c in found] == [1, 2, 3]
    assert len({c["session"] for c in found}) == 1
    where = value["where"]
    assert (where["kind"], where["pid"], where["address"]) == ("attached", host.pid, host.address)
    assert where["host"] == socket.gethostname() and where["program"].endswith(".py")
    assert value["duration"] >= 0 and value["started"].endswith("Z")
    # Cells and what they printed may hold secrets: only the user may read them.
    assert db.stat().st_mode & 0o777 == 0o600


def test_output_beyond_the_cap_is_counted_not_kept(make_host, base_env, cells):
    host = make_host(env={**base_env, "HOTREPL_HISTORY_CAP": "1000"})
    host.connect().execute("print('x' * 5000); 'y' * 3000")
    [cell] = wait_until(cells, what="the cell in history")
    assert cell["stdout"] == "x" * 1000 and cell["omitted"]["stdout"] == 4001
    assert len(cell["result"]) == 1000 and cell["omitted"]["result"] == 2002


def test_history_can_be_turned_off(make_host, base_env, db):
    host = make_host(env={**base_env, "HOTREPL_HISTORY_DISABLE": "1"})
    assert host.connect().execute("1 + 1\n").result == "2"
    host.stop()
    assert not db.exists()


# -- many writers ----------------------------------------------------------------------------


def test_ten_exec_sessions_and_two_repls_at_once_lose_no_row(make_host, base_env, start_repl, hotrepl, cells):
    hosts = [make_host(env=base_env) for _ in range(2)]
    repls = [start_repl(env=base_env) for _ in range(2)]
    rounds, failures = 4, []

    def exec_rounds(n: int) -> None:
        for r in range(rounds):
            done = hotrepl("exec", hosts[n % 2].address, f"print('exec {n} round {r}')")
            if done.returncode != 0 or done.stdout != f"exec {n} round {r}\n" or done.stderr:
                failures.append(done)

    threads = [threading.Thread(target=exec_rounds, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for i in range(8):
        for k, repl in enumerate(repls):
            repl.run(f"repl_{k}_cell_{i} = {i}")
    for t in threads:
        t.join()
    assert failures == []
    expected = {f"print('exec {n} round {r}')" for n in range(10) for r in range(rounds)}
    expected |= {f"repl_{k}_cell_{i} = {i}" for k in range(2) for i in range(8)}
    wait_until(lambda: set(inputs(cells())) == expected, what="every cell in history")
    assert len(cells()) == len(expected)
    for repl in repls:
        assert "history" not in repl.screen()
    for h in hosts:
        h.stop()
        assert "history" not in h.proc.stderr.read()


# -- a client killed right after a cell ----------------------------------------------------------


def test_a_killed_local_client_loses_no_completed_cell(start_repl, base_env, cells):
    repl = start_repl(env=base_env)
    repl.run("kept = 'before the kill'")
    client = client_pid(repl)
    [kernel] = children(client)
    os.kill(client, 9)
    # The kernel goes with its client (it is told to by the OS), and the cell stays.
    wait_until(lambda: (proc_stat(f"/proc/{kernel}/stat") or ["Z"])[0] == "Z", what="the kernel to end")
    assert "kept = 'before the kill'" in inputs(cells())


def test_a_killed_attached_client_loses_no_completed_cell(host, start_repl, env, cells):
    term = start_repl("attach", host.address, env=env)
    term.run("kept = 'attached, before the kill'")
    os.kill(client_pid(term), 9)
    wait_until(lambda: "kept = 'attached, before the kill'" in inputs(cells()), what="the cell in history")
    assert host.alive()


# -- a broken database -------------------------------------------------------------------------


def test_a_truncated_database_is_moved_aside_and_a_fresh_one_started(make_host, base_env, hotrepl, cells, db):
    host = make_host(env=base_env)
    client = host.connect()
    for i in range(150):
        client.execute(f"print({i}, 'x' * 1000)")
    wait_until(lambda: len(cells()) == 150, what="the cells in history")
    host.stop()
    # Closing the last connection (this one) leaves everything in the file itself.
    assert hotrepl("history", "-n", "1").returncode == 0
    size = db.stat().st_size
    with open(db, "r+b") as f:
        f.truncate(size // 2)

    done = hotrepl("history")
    assert done.returncode == 0 and done.stdout == ""
    [warning] = done.stderr.splitlines()
    assert warning.startswith(f"hotrepl: the history database {db} was unreadable")
    [aside] = [p for p in db.parent.iterdir() if p.name.startswith("history.sqlite.corrupt-") and p.name[-4:] not in ("-wal", "-shm")]
    assert aside.stat().st_size == size // 2
    assert warning.endswith(f"moved it to {aside} and started a new one")
    # Recording goes on in the new one.
    make_host(env=base_env).connect().execute("after = 'the move'")
    wait_until(lambda: inputs(cells()) == ["after = 'the move'"], what="the new cell")


# -- reading it back ---------------------------------------------------------------------------


def test_hotrepl_history_filters_by_pattern_target_time_and_count(make_host, base_env, hotrepl, cells):
    first, second = make_host(env=base_env), make_host(env=base_env)
    # One at a time: cells are listed in the order they were recorded.
    for n, (where, code) in enumerate([(first, "needle_one = 1"), (second, "needle_two = 2"), (second, "haystack = 3")]):
        where.connect().execute(code)
        wait_until(lambda: len(cells()) == n + 1, what=f"{code} in history")
    assert inputs(cells("needle")) == ["needle_one = 1", "needle_two = 2"]
    assert inputs(cells("needle_(one|two) = [12]", "--regex")) == ["needle_one = 1", "needle_two = 2"]
    assert inputs(cells("--target", str(second.pid))) == ["needle_two = 2", "haystack = 3"]
    assert inputs(cells("--target", "no such program")) == []
    assert inputs(cells("--since", "1h", "-n", "2")) == ["needle_two = 2", "haystack = 3"]
    text = hotrepl("history", "needle_two", "--outputs").stdout
    header, cell = text.splitlines()
    assert header.startswith("# ") and f"pid {second.pid}" in header and "cell 1" in header
    assert cell == "needle_two = 2"
    bad = hotrepl("history", "--since", "soon")
    assert bad.returncode == 2 and "is not a duration" in bad.stderr


def test_the_old_line_history_is_imported_once(home, cells):
    old = home / ".local/share/hotrepl/history"
    old.parent.mkdir(parents=True)
    old.write_text("x = 1\ndef f():<\\n>    return x\n")
    for _ in range(2):
        found = cells()
        assert inputs(found) == ["x = 1", "def f():\n    return x"]
        assert {c["where"]["kind"] for c in found} == {"imported"}


def test_up_offers_this_sessions_cells_first_then_earlier_ones_whole(start_repl, base_env, cells):
    earlier = start_repl(env=base_env)
    earlier.run("def earlier():\n    return 'a multi-line cell'")
    earlier.press("C-d")
    assert earlier.wait_exit() == 0

    mine, other = start_repl(env=base_env), start_repl(env=base_env)
    mine.run("mine = 1")
    other.run("theirs = 2")  # newer, but another session's
    wait_until(lambda: "theirs = 2" in inputs(cells()), what="the other session's cell")
    mine.press("Up")
    mine.wait_for(r"^>>> mine = 1$")
    mine.press("Up")
    mine.wait_for(r"^>>> theirs = 2$")
    mine.press("Up")
    mine.wait_for(r"^>>> def earlier\(\):\n\.\.\.     return 'a multi-line cell'$")
    mine.press("C-c")


def test_history_request_is_answered_from_the_database(host, cells):
    earlier = host.connect()
    earlier.execute("alpha = 1")
    earlier.execute("alpha + 1")
    earlier.close()
    client = host.connect()
    client.execute("beta = 'b'")
    client.execute("beta * 3")

    def history(**request) -> list:
        reply = client.request("history_request", request)["content"]
        assert reply["status"] == "ok", reply
        return reply["history"]

    tail = history(hist_access_type="tail", n=3, output=True)
    assert [entry[2] for entry in tail] == [["alpha + 1", "2"], ["beta = 'b'", None], ["beta * 3", "'bbb'"]]
    theirs, mine = tail[0][0], tail[1][0]
    assert mine != theirs and [entry[1] for entry in tail] == [2, 1, 2]
    assert [e[2] for e in history(hist_access_type="range", session=0, start=1, stop=0)] == ["beta = 'b'", "beta * 3"]
    assert history(hist_access_type="range", session=-1, start=2, stop=3) == [[theirs, 2, "alpha + 1"]]
    assert history(hist_access_type="range", session=theirs, start=1, stop=2) == [[theirs, 1, "alpha = 1"]]
    assert [e[2] for e in history(hist_access_type="search", pattern="*a*1*")] == ["alpha = 1", "alpha + 1"]
    # The client learns which cells are its own from kernel_info_reply.
    info = client.request("kernel_info_request", {})["content"]
    mine_in_json = [c for c in cells() if c["session_number"] == mine]
    assert {c["session"] for c in mine_in_json} == {info["history_session"]}


# -- the names and %history ----------------------------------------------------------------------


def test_inputs_and_values_are_kept_under_ipythons_names_with_a_bounded_out(make_host, base_env):
    client = make_host(env={**base_env, "HOTREPL_OUT_CACHE": "2"}).connect()
    client.execute("1 + 1")
    client.execute("'x' * 2")
    client.execute("[3]")
    shown = client.execute("print(repr(_i), repr(_ii), repr(_iii), repr(_i1), Out, _3, '_1' in globals())").stdout
    assert shown == "'[3]' \"'x' * 2\" '1 + 1' '1 + 1' {2: 'xx', 3: [3]} [3] False\n"


def test_the_history_magic_lists_searches_and_saves(host, cells, tmp_path):
    earlier = host.connect()
    earlier.execute("marker = 'in an earlier session'")
    earlier.close()
    client = host.connect()
    client.execute("marker * 2")
    client.execute("print('not a match')")
    assert client.execute(MAGIC.format(line="-n")).stdout == "1: marker * 2\n2: print('not a match')\n"
    sessions = {c["input"]: c["session_number"] for c in cells()}
    found = client.execute(MAGIC.format(line="-o -g marker")).stdout
    assert found == (
        f"{sessions['marker = ' + repr('in an earlier session')]}/1: marker = 'in an earlier session'\n"
        f"{sessions['marker * 2']}/1: marker * 2\n"
        "Out[1]: 'in an earlier sessionin an earlier session'\n"
    )
    assert client.execute(MAGIC.format(line="~1/")).stdout == "marker = 'in an earlier session'\n"
    saved = tmp_path / "saved.py"
    assert client.execute(MAGIC.format(line=f"-f {saved} 1-2")).stdout == ""
    assert saved.read_text() == "marker * 2\nprint('not a match')\n"
    error = client.execute(MAGIC.format(line="-x")).error
    assert error["ename"] == "ValueError" and error["evalue"].startswith("unknown option -x")


# -- the audit file ---------------------------------------------------------------------------


def test_the_audit_file_lists_the_cells_of_every_session_and_who_ran_them(make_host, base_env, hotrepl_bin, env, tmp_path):
    audit = tmp_path / "audit.jsonl"
    host = make_host(asyncio_app(), start_args=f"audit={str(audit)!r}", env=base_env)
    clients = []
    for code in ["x = 1", "raise KeyError('k')"]:
        proc = subprocess.Popen([hotrepl_bin, "exec", host.address, code], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proc.wait(timeout=20)
        clients.append(proc.pid)
    lines = wait_until(lambda: audit.exists() and len(audit.read_text().splitlines()) == 2 and audit.read_text(),
                       what="two audit lines").splitlines()
    first, second = (json.loads(line) for line in lines)
    assert (first["code"], first["status"], first["count"]) == ("x = 1", "ok", 1)
    assert (second["code"], second["status"], second["error"]) == ("raise KeyError('k')", "error", "KeyError: 'k'")
    assert [first["uid"], second["uid"]] == [os.getuid()] * 2
    assert [first["pid"], second["pid"]] == clients
    assert first["session"] != second["session"]
    assert first["time"] < second["time"] and first["time"].endswith("Z")
    assert audit.stat().st_mode & 0o777 == 0o600


def test_an_audit_file_that_cannot_be_opened_is_refused_at_start(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", f"import hotrepl; hotrepl.start(audit={str(tmp_path / 'no/such/dir/audit')!r})"],
        capture_output=True, text=True, timeout=20,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith("OSError: cannot open the audit file")
