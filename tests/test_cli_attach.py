"""The client for live processes: `hotrepl exec`, `attach`, `ps` and `run` against real
programs that called `hotrepl.start()`. Every program gets its own runtime directory
(XDG_RUNTIME_DIR), so tests never see each other's discovery records."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hosts import dies_with_tests, host_env
from protocol import Client, connect
from waiting import wait_until

# An asyncio program with a ticker task. `--tcp` serves TCP too, with a generated token
# (kept in the discovery record); `--token T` serves TCP with token T (not recorded).
ASYNC_APP = """
import asyncio, signal, sys, hotrepl

greeting = "hello"
ticks = 0

async def tick():
    global ticks
    while True:
        ticks += 1
        await asyncio.sleep(0.01)

async def main():
    global loop
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    unix = hotrepl.start()
    tcp = None
    if "--tcp" in sys.argv:
        tcp = hotrepl.start(tcp=("127.0.0.1", 0))
    elif "--token" in sys.argv:
        tcp = hotrepl.start(tcp=("127.0.0.1", 0), token=sys.argv[sys.argv.index("--token") + 1])
    signal.signal(signal.SIGUSR1, lambda *_: hotrepl.stop())
    print("READY", unix.address, tcp.address if tcp else "-", flush=True)
    ticker = asyncio.create_task(tick())
    await done.wait()
    ticker.cancel()

asyncio.run(main())
"""

# A plain program that sleeps in a loop.
SYNC_APP = """
import time, hotrepl

state = {"rounds": 0}
server = hotrepl.start()
print("READY", server.address, "-", flush=True)
while True:
    state["rounds"] += 1
    time.sleep(0.05)
"""


class Host:
    """A running program that serves hotrepl."""

    def __init__(self, proc: subprocess.Popen, ready: str):
        self.proc = proc
        self.pid = proc.pid
        _, self.socket, tcp = ready.split()
        self.tcp = None if tcp == "-" else tcp

    def alive(self) -> bool:
        return self.proc.poll() is None


@pytest.fixture
def runtime_dir(tmp_path: Path) -> Path:
    """A private XDG_RUNTIME_DIR; hotrepl keeps its sockets and records in `hotrepl/`."""
    path = tmp_path / "run"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def env(base_env, runtime_dir) -> dict[str, str]:
    """The environment of hosts and clients alike (no token unless a test sets one)."""
    return host_env(runtime_dir, **base_env)


@pytest.fixture
def start_host(tmp_path, env):
    """Starts a program (source text) with the given arguments; kills it after the test."""
    hosts: list[Host] = []

    def start(source: str, *args: str) -> Host:
        script = tmp_path / f"app{len(hosts)}.py"
        script.write_text(textwrap.dedent(source))
        proc = subprocess.Popen(
            [sys.executable, str(script), *args], env=env, cwd=tmp_path,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, preexec_fn=dies_with_tests,
        )
        host = Host(proc, proc.stdout.readline())
        hosts.append(host)
        return host

    yield start
    for host in hosts:
        host.proc.kill()
        host.proc.wait()
        host.proc.stdout.close()


@pytest.fixture
def app(start_host) -> Host:
    return start_host(ASYNC_APP)


@pytest.fixture
def hotrepl(hotrepl_bin, env):
    """Runs `hotrepl ARGS...` to the end; returns the CompletedProcess."""

    def run(*args: str, input: str | None = None, timeout: float = 10, **kw) -> subprocess.CompletedProcess:
        kw["env"] = {**env, **kw.get("env", {})}
        return subprocess.run(
            [hotrepl_bin, *args], input=input, capture_output=True, text=True, timeout=timeout, **kw
        )

    return run


# -- exec -----------------------------------------------------------------------------------


def test_exec_prints_output_on_the_right_streams(app, hotrepl):
    done = hotrepl("exec", str(app.pid), "import sys\nprint('out')\nprint('err', file=sys.stderr)\ngreeting")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "out\n'hello'\n"
    assert done.stderr == "err\n"


def test_exec_exits_1_with_the_traceback_on_stderr(app, hotrepl):
    done = hotrepl("exec", str(app.pid), "def f():\n    1 / 0\nf()")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.rstrip().endswith("ZeroDivisionError: division by zero")
    assert app.alive()


def test_exec_passes_system_exit_status_and_leaves_the_program_running(app, hotrepl):
    assert hotrepl("exec", str(app.pid), "raise SystemExit(3)").returncode == 3
    assert hotrepl("exec", str(app.pid), "exit()").returncode == 0
    assert app.alive()
    assert hotrepl("exec", str(app.pid), "greeting").stdout == "'hello'\n"


def test_exec_exits_2_when_it_cannot_connect(hotrepl, runtime_dir, tmp_path):
    # A live process that never called hotrepl.start(): this test's own.
    done = hotrepl("exec", str(os.getpid()), "1")
    assert done.returncode == 2
    assert done.stderr == (
        f"hotrepl: process {os.getpid()} is not running hotrepl.start() (no record in {runtime_dir / 'hotrepl'})\n"
    )
    dead = subprocess.Popen(["true"])
    dead.wait()
    done = hotrepl("exec", str(dead.pid), "1")
    assert (done.returncode, done.stderr) == (2, f"hotrepl: there is no process {dead.pid}\n")
    done = hotrepl("exec", str(tmp_path / "missing.sock"), "1")
    assert done.returncode == 2
    assert "cannot connect to" in done.stderr and "No such file or directory" in done.stderr
    done = hotrepl("exec", "tcp://127.0.0.1:1", "1", "--token", "t")
    assert done.returncode == 2
    assert done.stderr.startswith("hotrepl: cannot connect to tcp://127.0.0.1:1: ")


def test_exec_exits_2_when_the_program_goes_away(app, hotrepl):
    done = hotrepl("exec", str(app.pid), "import os\nos._exit(0)")
    assert done.returncode == 2
    assert done.stderr == "hotrepl: the program closed the session (it exited or stopped serving)\n"


# (A cell blocked in C, like time.sleep(60), only sees the interrupt when the call returns:
# a second Ctrl-C abandons it. That is the kernel's business, not the client's.)
@pytest.mark.parametrize("cell", ["while True: pass", "import asyncio\nawait asyncio.sleep(60)"])
def test_ctrl_c_interrupts_the_remote_cell(app, hotrepl_bin, hotrepl, env, cell):
    client = subprocess.Popen(
        [hotrepl_bin, "exec", str(app.pid), f"print('started', flush=True)\n{cell}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert client.stdout.readline() == "started\n"
    client.send_signal(signal.SIGINT)
    out, err = client.communicate(timeout=3)
    assert client.returncode == 1, err
    assert err.rstrip().endswith("KeyboardInterrupt")
    assert app.alive()
    # The program was not disturbed: its loop ticks on, and it serves the next client.
    first = int(hotrepl("exec", str(app.pid), "ticks").stdout)
    time.sleep(0.1)
    assert int(hotrepl("exec", str(app.pid), "ticks").stdout) > first


def test_interrupts_as_a_cell_starts_to_await_never_wedge_the_program(app, hotrepl):
    # An interrupt that raced the cell into its await once deadlocked the whole program.
    for _ in range(40):
        with connect(app.socket) as sock:
            client = Client(sock, timeout=5)
            parent = client.send("execute_request", {"code": "print('go', flush=True)\nimport asyncio\nawait asyncio.sleep(5)"})
            client.recv_until("stream", parent)
            client.send("interrupt_request", {})
            reply = client.finish(parent).reply
            assert reply["ename"] == "KeyboardInterrupt"
    assert hotrepl("exec", str(app.pid), "ticks > 0").stdout == "True\n"


def test_exec_input_reads_lines_from_stdin(app, hotrepl):
    done = hotrepl("exec", str(app.pid), "a = input('a? ')\nb = input('b? ')\nprint([a, b])", input="one\ntwo\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "a? b? ['one', 'two']\n"
    done = hotrepl("exec", str(app.pid), "input()", input="")
    assert done.returncode == 1
    assert "EOFError" in done.stderr


def test_exec_in_a_sync_program(start_host, hotrepl):
    host = start_host(SYNC_APP)
    done = hotrepl("exec", str(host.pid), "state['rounds'] > 0, __name__")
    assert (done.returncode, done.stdout) == (0, "(True, '__main__')\n")


# -- targets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["pid", "path", "fd"])
def test_attach_to_a_unix_socket(app, hotrepl, how):
    script = "print(greeting)\nimport os\nos.getpid()\n"
    if how == "fd":
        with connect(app.socket) as sock:
            done = hotrepl("attach", f"fd:{sock.fileno()}", input=script, pass_fds=[sock.fileno()])
    else:
        done = hotrepl("attach", str(app.pid) if how == "pid" else app.socket, input=script)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"hello\n{app.pid}\n"
    assert app.alive()


@pytest.mark.parametrize("how", ["--token", "HOTREPL_TOKEN"])
def test_attach_over_tcp_with_a_token(start_host, hotrepl, how):
    host = start_host(ASYNC_APP, "--token", "sesame")
    if how == "--token":
        done = hotrepl("attach", host.tcp, "--token", "sesame", input="greeting\n")
    else:
        done = hotrepl("attach", host.tcp, input="greeting\n", env={"HOTREPL_TOKEN": "sesame"})
    assert (done.returncode, done.stdout) == (0, "'hello'\n"), done.stderr


def test_attach_over_tcp_with_the_token_from_the_record(start_host, hotrepl):
    host = start_host(ASYNC_APP, "--tcp")
    done = hotrepl("attach", host.tcp, input="greeting\n")
    assert (done.returncode, done.stdout) == (0, "'hello'\n"), done.stderr


def test_wrong_or_missing_tcp_token_is_refused(start_host, hotrepl):
    host = start_host(ASYNC_APP, "--token", "sesame")
    done = hotrepl("exec", host.tcp, "greeting", "--token", "wrong")
    assert done.returncode == 2
    assert done.stderr == f"hotrepl: cannot attach to {host.tcp}: the token was refused (wrong token)\n"
    done = hotrepl("exec", host.tcp, "greeting", env={"HOTREPL_TOKEN": "wrong"})
    assert done.returncode == 2
    done = hotrepl("attach", host.tcp, input="greeting\n")
    assert done.returncode == 2
    assert done.stderr.startswith(f"hotrepl: {host.tcp} needs a token: pass --token or set HOTREPL_TOKEN")
    assert host.alive()


def test_bad_targets_are_explained(hotrepl):
    done = hotrepl("exec", "tcp://nowhere", "1")
    assert done.returncode == 2
    assert "tcp://nowhere is not tcp://HOST:PORT" in done.stderr
    done = hotrepl("exec", "fd:0", "1", stdin=subprocess.DEVNULL)
    assert (done.returncode, done.stderr) == (2, "hotrepl: cannot use fd:0: it is not a socket\n")


# -- ps ---------------------------------------------------------------------------------------


def ps_rows(hotrepl) -> list[list[str]]:
    done = hotrepl("ps")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"PID +PYTHON +ADDRESS +PROGRAM", lines[0])
    return [line.split(None, 3) for line in lines[1:]]


def test_ps_lists_attachable_processes(start_host, hotrepl, tmp_path, runtime_dir):
    assert ps_rows(hotrepl) == []
    python = "%d.%d.%d" % sys.version_info[:3]
    served = start_host(ASYNC_APP, "--tcp")
    plain = start_host(SYNC_APP)
    killed = start_host(SYNC_APP)
    stopped = start_host(ASYNC_APP)
    stopped.proc.send_signal(signal.SIGUSR1)  # the program calls hotrepl.stop()
    killed.proc.kill()
    killed.proc.wait()
    wait_until(lambda: not Path(stopped.socket).exists(), timeout=5, what="the stopped server's socket to go")
    rows = ps_rows(hotrepl)
    assert rows == [
        [str(served.pid), python, served.socket, str(tmp_path / "app0.py") + " --tcp"],
        [str(served.pid), python, served.tcp, str(tmp_path / "app0.py") + " --tcp"],
        [str(plain.pid), python, plain.socket, str(tmp_path / "app1.py")],
    ]
    # The dead process's record was cleaned up on the way.
    assert not list((runtime_dir / "hotrepl").glob(f"{killed.pid}*"))


def test_a_record_whose_pid_was_reused_is_not_offered(hotrepl, runtime_dir):
    """A program killed without a word leaves its record and socket behind; once its pid
    goes to an unrelated process, neither ps nor attach may take that process for it."""
    records = runtime_dir / "hotrepl"
    records.mkdir(mode=0o700)
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        socket_path = records / f"{stranger.pid}.sock"
        socket_path.touch(mode=0o600)
        record = records / f"{stranger.pid}.json"
        record.write_text(json.dumps({
            "pid": stranger.pid, "address": str(socket_path), "program": "gone.py",
            "python": "3.11.7", "started": time.time() - 3600,
        }))
        record.chmod(0o600)
        done = hotrepl("exec", str(stranger.pid), "1")
        assert done.returncode == 2
        assert f"process {stranger.pid} is not running hotrepl.start()" in done.stderr
        assert ps_rows(hotrepl) == []
        assert not record.exists() and not socket_path.exists()
    finally:
        stranger.kill()
        stranger.wait()


# -- run --------------------------------------------------------------------------------------


def run_both(hotrepl, tmp_path, source: str, *args: str) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    """The script run by `hotrepl run` and by `python`."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    ours = hotrepl("run", "--python", sys.executable, str(script), *args)
    theirs = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=10)
    return ours, theirs


@pytest.mark.parametrize(
    "source",
    [
        "import sys\nprint(sys.argv[1:], __name__)\nsys.exit(int(sys.argv[1]))\n",
        "import sys\nsys.exit('bye')\n",
        "def f():\n    raise ValueError('boom')\nf()\n",
        "try:\n    1 / 0\nexcept Exception as e:\n    raise KeyError('k') from e\n",
        pytest.param("x = (\n", marks=pytest.mark.skipif(
            sys.version_info < (3, 10),
            reason="3.9's parser places an unexpected EOF differently in a file (python SCRIPT) and a string (runpy)",
        )),
        "raise KeyboardInterrupt\n",
    ],
    ids=["exit-status", "exit-message", "traceback", "chained", "syntax-error", "keyboard-interrupt"],
)
def test_run_behaves_like_python(hotrepl, tmp_path, source):
    ours, theirs = run_both(hotrepl, tmp_path, source, "7", "--flag")
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)


def test_run_serves_the_script_while_it_runs(hotrepl_bin, hotrepl, env, tmp_path):
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        from helper import NAME
        progress = 0
        finished = False
        print("started", sys.argv[1:], flush=True)
        while not finished:
            progress += 1
            time.sleep(0.01)
        print("done", NAME)
    """))
    (tmp_path / "helper.py").write_text("NAME = 'helper'\n")
    job = subprocess.Popen(
        [hotrepl_bin, "run", str(script), "a", "-b"], env=env, cwd="/",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert job.stdout.readline() == "started ['a', '-b']\n"
        # `hotrepl run` became the interpreter: the same pid serves the session.
        done = hotrepl("exec", str(job.pid), "progress > 0, __file__, NAME")
        assert (done.returncode, done.stdout) == (0, f"(True, {str(script)!r}, 'helper')\n"), done.stderr
        rows = ps_rows(hotrepl)
        assert [row[0] for row in rows] == [str(job.pid)]
        assert rows[0][3] == f"{script} a -b"
        assert hotrepl("exec", str(job.pid), "finished = True").returncode == 0
        out, err = job.communicate(timeout=5)
        assert (job.returncode, out, err) == (0, "done helper\n", "")
    finally:
        job.kill()
        job.wait()


def test_run_reports_a_missing_script(hotrepl, tmp_path):
    done = hotrepl("run", str(tmp_path / "nope.py"))
    assert done.returncode == 2
    assert done.stderr.startswith(f"hotrepl: can't open file '{tmp_path / 'nope.py'}'")


# -- interactive attach -------------------------------------------------------------------------


def test_interactive_attach(app, start_repl, env, hotrepl):
    term = start_repl("attach", str(app.pid), env=env)
    term.wait_for(rf"Attached to process {app.pid}: Ctrl-D detaches")
    assert term.run("greeting") == "'hello'"
    term.run("greeting = 'changed by the session'")
    assert hotrepl("exec", str(app.pid), "greeting").stdout == "'changed by the session'\n"
    # A cell that awaits runs on the program's own loop, which keeps ticking.
    assert term.run("import asyncio") == ""
    assert term.run("await asyncio.sleep(0.05, result=asyncio.get_running_loop() is loop)") == "True"
    first = int(term.run("ticks"))
    assert int(term.run("await asyncio.sleep(0.1, result=ticks)")) > first
    # Ctrl-C interrupts the cell in the program, not the client.
    term.wait_prompt()
    before = term.prompts()
    term.paste("print('RUN' + 'NING')\nwhile True: pass")
    term.press("Enter")
    term.wait_for(r"^RUNNING$")
    term.press("C-c")
    term.wait_prompt(before + 1)
    assert term.output_of_last_cell().endswith("KeyboardInterrupt")
    # Ctrl-D leaves; the program keeps running and serving.
    term.press("C-d")
    assert term.wait_exit() == 0
    assert app.alive()
    assert hotrepl("exec", str(app.pid), "ticks > 0").stdout == "True\n"


def test_interactive_attach_when_the_program_exits(app, start_repl, env):
    term = start_repl("attach", str(app.pid), env=env)
    assert term.run("greeting") == "'hello'"
    app.proc.send_signal(signal.SIGTERM)  # the program ends its main() and exits
    assert app.proc.wait(timeout=5) == 0
    assert term.wait_exit() == 2
    term.wait_for(r"^hotrepl: the program closed the session")


# -- magics in a live program ----------------------------------------------------------------


def test_exec_runs_magics_and_shows_help(app, hotrepl):
    help_page = hotrepl("exec", str(app.pid), "greeting?")
    assert help_page.returncode == 0, help_page.stderr
    assert help_page.stdout == "Type:       str\nLength:     5\nValue:      'hello'\n"
    tasks = hotrepl("exec", str(app.pid), "%tasks")
    assert re.search(r"^\d+\s+\S+\s+pending\s+tick\(\)\s+app0\.py:\d+ awaiting sleep\(\)", tasks.stdout, re.M), tasks.stdout
    timed = hotrepl("exec", str(app.pid), "%time ticks > 0")
    assert re.fullmatch(r"CPU time: .+\nWall time: .+\nTrue\n", timed.stdout), timed.stdout
    wrong = hotrepl("exec", str(app.pid), "%tiem ticks")
    assert wrong.returncode == 1
    assert wrong.stderr == "UsageError: no magic %tiem; did you mean %time?\n"


def test_debugging_in_an_attached_session(app, start_repl, env):
    term = start_repl("attach", str(app.pid), env=env)
    term.run("def failing(x):\n    local_value = x + 1\n    raise RuntimeError('inside')")
    assert "RuntimeError: inside" in term.run("failing(41)")
    term.type("%debug")
    term.press("Enter")
    term.wait_for(r"^\(Pdb\)$")
    term.type("p local_value")
    term.press("Enter")
    term.wait_for(r"^42$")
    term.type("q")
    term.press("Enter")
    term.wait_prompt()
    assert term.run("ticks > 0") == "True"
    term.press("C-d")
    assert term.wait_exit() == 0
    assert app.alive()
