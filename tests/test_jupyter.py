"""hotrepl as a Jupyter kernel, driven by the real clients from PyPI: jupyter_client against
a kernel started from the installed kernelspec and against a live asyncio program that
called `hotrepl.start(jupyter=True)`; nbclient running a notebook; `jupyter console
--existing` in a terminal. Skipped where the Jupyter clients are not installed."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import queue
import socket
import stat
import struct
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

jupyter_client = pytest.importorskip("jupyter_client")
from jupyter_client import BlockingKernelClient  # noqa: E402
from jupyter_client.manager import start_new_kernel  # noqa: E402

from hosts import asyncio_app, session_threads  # noqa: E402
from waiting import wait_until  # noqa: E402

TIMEOUT = 20


@pytest.fixture
def kernel(jupyter_kernel):
    """A kernel started from the kernelspec, as Jupyter starts one: (manager, client)."""
    km, kc = start_new_kernel(kernel_name=jupyter_kernel, startup_timeout=TIMEOUT)
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


class Run:
    """What a cell sent on iopub (its parent's messages only) and its reply."""

    def __init__(self, reply: dict, outputs: list[dict]):
        self.reply = reply["content"]
        self.outputs = outputs

    def of_type(self, msg_type: str) -> list[dict]:
        return [m["content"] for m in self.outputs if m["msg_type"] == msg_type]

    @property
    def stdout(self) -> str:
        return "".join(c["text"] for c in self.of_type("stream") if c["name"] == "stdout")

    @property
    def result(self) -> str | None:
        results = self.of_type("execute_result")
        return results[-1]["data"]["text/plain"] if results else None


def run(kc: BlockingKernelClient, code: str, **options) -> Run:
    outputs: list[dict] = []
    reply = kc.execute_interactive(code, output_hook=outputs.append, timeout=TIMEOUT, **options)
    return Run(reply, outputs)


def iopub_until_idle_of(kc: BlockingKernelClient, msg_id: str) -> list[dict]:
    """Every iopub message, up to the idle status of the request `msg_id`."""
    got = []
    while True:
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        got.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle" \
                and msg["parent_header"].get("msg_id") == msg_id:
            return got


def iopub_until_idle(kc: BlockingKernelClient, msg_id: str) -> list[dict]:
    """The iopub messages of the request `msg_id`, up to its idle status."""
    return [m for m in iopub_until_idle_of(kc, msg_id) if m["parent_header"].get("msg_id") == msg_id]


def printed_by_cell(kc: BlockingKernelClient, msg_id: str) -> dict[str, str]:
    """The stream text iopub carries until `msg_id`'s idle status, by the cell (msg_id) each
    piece was sent under."""
    printed: dict[str, str] = {}
    for msg in iopub_until_idle_of(kc, msg_id):
        if msg["msg_type"] == "stream":
            who = msg["parent_header"].get("msg_id")
            printed[who] = printed.get(who, "") + msg["content"]["text"]
    return printed


def wait_for_print(kc: BlockingKernelClient, text: str) -> None:
    """Waits until iopub carries a stream message with `text`: the cell printing it runs."""
    wait_until(lambda: any(
        m["msg_type"] == "stream" and text in m["content"]["text"] for m in [kc.get_iopub_msg(timeout=TIMEOUT)]
    ), TIMEOUT, f"the cell to print {text!r}")


def output_of_a_task_and_a_later_cell(kc: BlockingKernelClient, first_lines: str,
                                      later_cell: str) -> tuple[str, str, dict[str, str]]:
    """Runs a cell (`first_lines`, then a task that prints in 0.3 s), then `later_cell`;
    returns both cells' ids and what was printed under each until the later one ended."""
    first = kc.execute(first_lines + textwrap.dedent("""\
        async def later():
            await asyncio.sleep(0.3)
            print('from the task')
        task = asyncio.create_task(later())"""))
    shell_reply(kc, first)
    second = kc.execute(later_cell)
    return first, second, printed_by_cell(kc, second)


def shell_reply(kc: BlockingKernelClient, msg_id: str, timeout: float = TIMEOUT) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        msg = kc.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg


# -- a kernel from the kernelspec ----------------------------------------------------------


def test_the_kernelspec_runs_the_chosen_python_with_message_interrupts(jupyter_kernel):
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(jupyter_kernel)
    assert spec.interrupt_mode == "message"
    assert spec.language == "python"
    assert os.path.normpath(spec.argv[0]) == os.path.normpath(sys.executable)
    assert "{connection_file}" in spec.argv
    assert {"logo-32x32.png", "logo-64x64.png"} <= set(os.listdir(spec.resource_dir))


def test_cells_await_and_the_loop_runs_between_them(kernel):
    _, kc = kernel
    assert run(kc, "1 + 1").result == "2"
    started = run(kc, textwrap.dedent("""\
        import asyncio
        beats = 0
        async def beat():
            global beats
            while True:
                beats += 1
                await asyncio.sleep(0.01)
        task = asyncio.create_task(beat())
        await asyncio.sleep(0.05)
        beats > 0"""))
    assert started.result == "True"
    before = int(run(kc, "beats").result)
    time.sleep(0.3)  # nobody runs a cell: the loop goes on
    after = int(run(kc, "beats").result)
    assert after > before + 10, (before, after)
    counted = run(kc, "x = 1")
    assert counted.reply["execution_count"] == 5


def test_an_error_shows_its_traceback_as_front_ends_join_it(kernel):
    import re

    _, kc = kernel
    failed = run(kc, "def f():\n    raise ValueError('boom')\nf()")
    (error,) = failed.of_type("error")
    assert (error["ename"], error["evalue"]) == ("ValueError", "boom")
    lines = error["traceback"]
    # Front ends join the lines with newlines, and show ANSI colours.
    assert not any(line.endswith("\n") for line in lines)
    assert any("\x1b[" in line for line in lines)
    shown = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(lines))
    assert shown.startswith("Traceback (most recent call last):\n")
    assert "in f\n    raise ValueError('boom')" in shown and shown.endswith("ValueError: boom")
    assert "hotrepl" not in shown
    assert failed.reply["traceback"] == lines


def test_output_of_a_task_keeps_the_cell_that_started_it(kernel):
    _, kc = kernel
    first, second, printed = output_of_a_task_and_a_later_cell(
        kc, "import asyncio\n", "await asyncio.sleep(0.6); print('from the second cell')")
    # The task printed while the second cell ran, under the first cell.
    assert printed == {first: "from the task\n", second: "from the second cell\n"}


def test_an_interrupt_message_stops_only_the_running_cell(kernel):
    km, kc = kernel
    km.interrupt_kernel()  # nothing runs: nothing happens
    assert run(kc, "'still here'").result == "'still here'"
    msg_id = kc.execute("import time\nprint('spinning', flush=True)\nwhile True: pass")
    wait_for_print(kc, "spinning")
    km.interrupt_kernel()
    reply = shell_reply(kc, msg_id)["content"]
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
    msg_id = kc.execute("import asyncio\nprint('waiting', flush=True)\nawait asyncio.sleep(60)")
    wait_for_print(kc, "waiting")
    km.interrupt_kernel()
    assert shell_reply(kc, msg_id)["content"]["ename"] == "KeyboardInterrupt"
    assert run(kc, "6 * 7").result == "42"


def test_input_and_getpass_ask_the_front_end_with_their_prompts(kernel):
    _, kc = kernel
    prompts = []

    def answer(msg):
        prompts.append(msg["content"])
        kc.input("typed " + str(len(prompts)))

    done = run(kc, "import getpass\n(input('Name? '), getpass.getpass('Secret: '))", allow_stdin=True,
               stdin_hook=answer)
    assert done.result == "('typed 1', 'typed 2')"
    assert prompts == [{"prompt": "Name? ", "password": False}, {"prompt": "Secret: ", "password": True}]
    refused = run(kc, "input('no stdin here? ')", allow_stdin=False)
    assert refused.reply["status"] == "error"
    assert refused.reply["ename"] == "StdinNotImplementedError"


def test_execute_options_silent_store_history_user_expressions(kernel):
    _, kc = kernel
    assert run(kc, "a = 20").reply["execution_count"] == 1
    silent = run(kc, "a += 1\na", silent=True)
    assert silent.reply["execution_count"] == 1 and silent.of_type("execute_result") == []
    assert [m["msg_type"] for m in silent.outputs if m["msg_type"] == "execute_input"] == []
    unstored = run(kc, "a += 1\na", store_history=False)
    assert unstored.reply["execution_count"] == 1 and unstored.result == "22"
    asked = run(kc, "b = 2", user_expressions={"sum": "a + b", "bad": "1/0"})
    expressions = asked.reply["user_expressions"]
    assert expressions["sum"]["status"] == "ok" and expressions["sum"]["data"]["text/plain"] == "24"
    assert expressions["bad"]["status"] == "error" and expressions["bad"]["ename"] == "ZeroDivisionError"


def test_a_failing_cell_aborts_the_cells_queued_behind_it(kernel):
    _, kc = kernel
    failing = kc.execute("import time\ntime.sleep(0.3)\nraise RuntimeError('stop here')")
    queued = [kc.execute("print('must not run')") for _ in range(2)]
    assert shell_reply(kc, failing)["content"]["status"] == "error"
    assert [shell_reply(kc, q)["content"]["status"] for q in queued] == ["aborted", "aborted"]
    # Without stop_on_error the next ones run.
    failing = kc.execute("time.sleep(0.3)\nraise RuntimeError('go on')", stop_on_error=False)
    after = kc.execute("print('ran')")
    assert shell_reply(kc, failing)["content"]["status"] == "error"
    assert shell_reply(kc, after)["content"]["status"] == "ok"


def test_two_clients_of_one_kernel_both_see_its_output(kernel):
    km, kc = kernel
    other = km.client()
    other.start_channels()
    try:
        other.wait_for_ready(timeout=TIMEOUT)
        msg_id = kc.execute("print('for everyone')")
        seen = iopub_until_idle(other, msg_id)
        kinds = [m["msg_type"] for m in seen]
        assert kinds[0] == "status" and "execute_input" in kinds
        assert "".join(m["content"]["text"] for m in seen if m["msg_type"] == "stream") == "for everyone\n"
        # Both share the session: the other client sees the first's names.
        run(kc, "shared = 'by both'")
        assert run(other, "shared").result == "'by both'"
    finally:
        other.stop_channels()


def test_comms_are_answered_without_error(kernel):
    _, kc = kernel
    msg = kc.session.msg("comm_info_request", {"target_name": "jupyter.widget"})
    kc.shell_channel.send(msg)
    reply = shell_reply(kc, msg["header"]["msg_id"])["content"]
    assert reply == {"status": "ok", "comms": {}}
    kc.comm_info()
    opened = kc.session.msg("comm_open", {"comm_id": "c1", "target_name": "jupyter.widget", "data": {}})
    kc.shell_channel.send(opened)
    closed = [m for m in iopub_until_idle(kc, opened["header"]["msg_id"]) if m["msg_type"] == "comm_close"]
    assert closed and closed[0]["content"]["comm_id"] == "c1"


def test_restart_and_shutdown(kernel):
    km, kc = kernel
    run(kc, "x = 'before'")
    pid = int(run(kc, "import os; os.getpid()").result)
    km.restart_kernel(now=False)
    kc.wait_for_ready(timeout=TIMEOUT)
    assert int(run(kc, "import os; os.getpid()").result) != pid
    assert run(kc, "'x' in globals()").result == "False"
    started = time.monotonic()
    km.shutdown_kernel(now=False)
    assert not km.is_alive()
    assert time.monotonic() - started < 5


def test_a_display_is_updated_and_cleared_in_place(kernel):
    _, kc = kernel
    shown = run(kc, "import hotrepl\nhandle = hotrepl.display('first', display_id=True)\nhandle.update('second')")
    (first,) = shown.of_type("display_data")
    (second,) = shown.of_type("update_display_data")
    assert first["data"]["text/plain"] == "'first'" and second["data"]["text/plain"] == "'second'"
    assert first["transient"]["display_id"] == second["transient"]["display_id"]
    cleared = run(kc, "print('gone'); hotrepl.clear_output(wait=True)")
    assert cleared.of_type("clear_output") == [{"wait": True}]


def test_an_idle_kernel_costs_nothing_but_its_heartbeats(kernel):
    from hosts import proc_stat

    km, kc = kernel
    assert kc.hb_channel.is_beating()
    pid = int(run(kc, "import os; os.getpid()").result)

    def ticks() -> int:
        fields = proc_stat(f"/proc/{pid}/stat")
        return int(fields[11]) + int(fields[12])

    time.sleep(0.5)
    before = ticks()
    time.sleep(3)
    # A heartbeat a second costs microseconds: nothing else runs.
    assert ticks() - before <= 2


def test_a_matplotlib_figure_is_shown_as_an_image(kernel):
    pytest.importorskip("matplotlib")
    _, kc = kernel
    shown = run(kc, "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()")
    images = [d for d in shown.of_type("display_data") if "image/png" in d["data"]]
    assert len(images) == 1, shown.outputs


# -- a notebook --------------------------------------------------------------------------


def test_a_notebook_runs_with_nbclient(jupyter_kernel, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("matplotlib")
    cells = [
        "import asyncio\nawait asyncio.sleep(0.01)\n'awaited'",
        textwrap.dedent("""\
            ticks = 0
            async def tick():
                global ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.01)
            task = asyncio.create_task(tick())
            print('started')"""),
        "import time\nbefore = ticks\nawait asyncio.sleep(0.2)\nticks > before",
        "import matplotlib.pyplot as plt\nplt.plot([3, 1, 2])\nplt.show()",
        "print('last')",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(nb, kernel_name=jupyter_kernel, timeout=TIMEOUT)
    client.execute()
    outputs = [cell.outputs for cell in nb.cells]
    assert outputs[0][0]["data"]["text/plain"] == "'awaited'"
    assert outputs[1] == [nbformat.v4.new_output("stream", name="stdout", text="started\n")]
    assert outputs[2][0]["data"]["text/plain"] == "True"
    assert [o["output_type"] for o in outputs[3]] == ["display_data"]
    assert "image/png" in outputs[3][0]["data"]
    assert outputs[4][0]["text"] == "last\n"
    assert [cell.execution_count for cell in nb.cells] == [1, 2, 3, 4, 5]


# -- a live program ------------------------------------------------------------------------

JUPYTER_APP = asyncio_app("print('JUPYTER', server.jupyter_connection_file, flush=True)\nasyncio.run(main())")


@pytest.fixture
def live(make_host):
    """An asyncio program with a ticker that called `start(jupyter=True)`, and a client of
    its Jupyter session."""
    host = make_host(JUPYTER_APP, start_args="jupyter=True")
    connection_file = host.wait_for_output("JUPYTER").split(" ", 1)[1].strip()
    kc = BlockingKernelClient(connection_file=connection_file)
    kc.load_connection_file()
    kc.start_channels()
    kc.wait_for_ready(timeout=TIMEOUT)
    kc.host = host
    kc.connection_file_path = connection_file
    yield kc
    kc.stop_channels()


def test_a_live_program_serves_jupyter_on_loopback_with_a_private_connection_file(live, hotrepl_bin):
    path = live.connection_file_path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    info = json.loads(open(path).read())
    assert info["ip"] == "127.0.0.1" and len(info["key"]) >= 32
    env = {**os.environ, "XDG_RUNTIME_DIR": str(live.host.runtime_dir)}
    listed = subprocess.run([hotrepl_bin, "ps"], capture_output=True, text=True, env=env).stdout
    assert path in listed and str(live.host.pid) in listed


def test_awaiting_cells_run_on_the_programs_loop_while_it_ticks(live):
    assert run(live, "await asyncio.sleep(0)\nasyncio.get_running_loop() is app_loop").result == "True"
    before = int(run(live, "ticks").result)
    assert run(live, "await asyncio.sleep(0.5); ticks > %d + 20" % before).result == "True"
    # A plain cell runs off the loop: the ticker goes on while it sleeps.
    run(live, "import time\nstart = ticks\ntime.sleep(0.5)")
    assert int(run(live, "ticks - start").result) > 20
    assert run(live, "max_gap < 0.3").result == "True"


def test_a_live_tasks_output_keeps_the_cell_that_started_it(live):
    first, second, printed = output_of_a_task_and_a_later_cell(
        live, "await asyncio.sleep(0)\n", "import time\ntime.sleep(0.6)\nprint('from the second cell')")
    assert printed == {first: "from the task\n", second: "from the second cell\n"}


def test_a_live_cell_is_interrupted_by_message_and_the_program_goes_on(live):
    msg_id = live.execute("print('spinning', flush=True)\nwhile True: pass")
    wait_for_print(live, "spinning")
    msg = live.session.msg("interrupt_request", {})
    live.control_channel.send(msg)
    assert live.get_control_msg(timeout=TIMEOUT)["content"]["status"] == "ok"
    assert shell_reply(live, msg_id)["content"]["ename"] == "KeyboardInterrupt"
    before = int(run(live, "ticks").result)
    time.sleep(0.2)
    assert int(run(live, "ticks").result) > before
    assert live.host.alive()


def test_a_live_session_completes_and_asks_for_input(live):
    run(live, "settings = {'alpha': 1}")
    msg_id = live.complete("sett", 4)
    assert shell_reply(live, msg_id)["content"]["matches"] == ["settings"]
    done = run(live, "input('Say: ')", allow_stdin=True, stdin_hook=lambda m: live.input("hi"))
    assert done.result == "'hi'"


def test_an_idle_jupyter_session_costs_nothing_but_its_heartbeats(live):
    assert live.hb_channel.is_beating()
    run(live, "1 + 1")
    time.sleep(0.5)
    before = session_threads(live.host)
    time.sleep(3)
    after = session_threads(live.host)
    used = {name: after[name] - before[name] for name in after if name in before}
    sockets = {name: ticks for name, ticks in used.items() if name.startswith("hotrepl-jupyter/")}
    # The sockets' thread answers a heartbeat a second (microseconds each); the rest sleep.
    assert sum(ticks for name, ticks in used.items() if name not in sockets) == 0, used
    assert max(sockets.values()) <= 2, used


def test_stopping_the_programs_server_ends_its_jupyter_session(live):
    info = json.loads(open(live.connection_file_path).read())
    native = live.host.connect()
    native.send("execute_request", {"code": "server.stop()"})
    assert native.is_closed(), "stopping ends every session, this one too"
    wait_until(lambda: not os.path.exists(live.connection_file_path), TIMEOUT, "the connection file to go")

    def refused() -> bool:
        try:
            socket.create_connection(("127.0.0.1", info["shell_port"]), timeout=1).close()
            return False
        except ConnectionRefusedError:
            return True

    wait_until(refused, TIMEOUT, "the Jupyter sockets to close")
    assert live.host.alive()


def test_a_shutdown_request_leaves_the_program_running(live):
    live.shutdown()
    assert live.get_control_msg(timeout=TIMEOUT)["content"]["status"] == "ok"
    time.sleep(0.2)
    assert live.host.alive()
    assert run(live, "'still serving'").result == "'still serving'"


def signed(key: bytes, msg_type: str, content: dict, session: str) -> list[bytes]:
    """A message's frames, signed with `key`."""
    header = {"msg_id": uuid.uuid4().hex, "session": session, "username": "test", "date": "2026-01-01T00:00:00Z",
              "msg_type": msg_type, "version": "5.3"}
    parts = [json.dumps(p).encode() for p in (header, {}, {}, content)]
    signature = hmac.new(key, b"".join(parts), hashlib.sha256).hexdigest().encode()
    return [b"<IDS|MSG>", signature, *parts]


def test_a_message_with_a_bad_signature_is_dropped_and_logged(live, tmp_path):
    import zmq

    info = json.loads(open(live.connection_file_path).read())
    marker = tmp_path / "ran"
    context = zmq.Context()
    shell = context.socket(zmq.DEALER)
    shell.connect(f"tcp://127.0.0.1:{info['shell_port']}")
    try:
        code = f"open({str(marker)!r}, 'w').write('x')"
        shell.send_multipart(signed(b"not the key", "execute_request", {"code": code}, "forger"))
        assert shell.poll(1000) == 0, "a forged request was answered"
        assert not marker.exists()
        # Malformed but signed: an error, no crash.
        key = info["key"].encode()
        shell.send_multipart([b"<IDS|MSG>", b"no signature and no parts"])
        assert shell.poll(TIMEOUT * 1000)
        error = shell.recv_multipart()
        assert json.loads(error[2])["msg_type"] == "protocol_error"
        shell.send_multipart(signed(key, "execute_request", {"silent": True}, "confused"))
        assert shell.poll(TIMEOUT * 1000)
        reply = shell.recv_multipart()
        assert json.loads(reply[2])["msg_type"] == "execute_reply"
        assert json.loads(reply[5])["status"] == "error"
    finally:
        shell.close(linger=0)
        context.term()
    assert run(live, "'alive'").result == "'alive'"
    live.host.stop()
    stderr = live.host.proc.stderr.read()
    assert "bad signature" in stderr, stderr


def zmtp_peer(port: int) -> socket.socket:
    """A raw ZeroMQ peer (ZMTP 3, NULL mechanism) that has greeted the socket at `port` and
    said it is a DEALER: what anyone on this machine can do without the key."""
    peer = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    peer.sendall(b"\xff" + bytes(8) + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\0") + bytes(32))
    greeting = b""
    while len(greeting) < 64:
        greeting += peer.recv(64 - len(greeting))
    ready = b"\x05READY" + b"\x0bSocket-Type" + struct.pack(">I", 6) + b"DEALER"
    peer.sendall(bytes([0x04, len(ready)]) + ready)
    return peer


def test_a_peer_announcing_a_huge_message_is_cut_off_and_the_program_goes_on(live):
    info = json.loads(open(live.connection_file_path).read())
    for channel in ("shell_port", "control_port", "iopub_port", "hb_port"):
        peer = zmtp_peer(info[channel])
        # A frame that claims a terabyte: its length comes before any signature is checked.
        peer.sendall(b"\x02" + struct.pack(">Q", 1 << 40))
        try:
            while peer.recv(4096):  # what the socket said before (its READY), then the end
                pass
        except ConnectionResetError:
            pass
        except socket.timeout:
            pytest.fail(f"{channel}: the connection stays open")
        peer.close()
    assert live.host.alive()
    assert run(live, "'still serving'").result == "'still serving'"
    live.host.stop()
    stderr = live.host.proc.stderr.read()
    assert "Jupyter shell channel: a message of 1099511627776 bytes exceeds the limit" in stderr, stderr
    assert "Jupyter heartbeat channel: a message of" in stderr, stderr


def test_sockets_left_by_a_killed_kernel_are_removed_by_the_next(live):
    gone = subprocess.Popen(["true"])
    gone.wait()
    run_dir = live.host.runtime_dir / "hotrepl"
    left = [run_dir / f"{gone.pid}-jupyter-{name}.sock" for name in ("shell", "iopub")]
    for path in left:
        path.touch()
    ours = sorted(p.name for p in run_dir.glob(f"{live.host.pid}-jupyter-*.sock"))
    assert len(ours) == 5, ours
    # A second server of the program's, on a socket path short enough for any test directory.
    short = f"/tmp/hotrepl-test-{live.host.pid}.sock"
    started = run(live, f"import hotrepl\nsecond = hotrepl.start(path={short!r}, jupyter=True)\nsecond.stop()")
    assert started.reply["status"] == "ok", started.reply
    assert not any(path.exists() for path in left)
    # The second server's sockets go with its thread, soon after stop(), though stop() came
    # before its Jupyter session had opened.
    wait_until(lambda: sorted(p.name for p in run_dir.glob(f"{live.host.pid}-jupyter-*.sock")) == ours,
               TIMEOUT, "only the first server's sockets")


def test_jupyter_console_attaches_to_a_live_program(make_host, tmp_path, base_env):
    console = os.path.join(os.path.dirname(sys.executable), "jupyter-console")
    if not os.path.exists(console):
        pytest.skip("jupyter_console is not installed")
    from terminal import Terminal

    host = make_host(JUPYTER_APP, start_args="jupyter=True")
    connection_file = host.wait_for_output("JUPYTER").split(" ", 1)[1].strip()
    term = Terminal(tmp_path)
    try:
        term.start([console, "--existing", connection_file], env=base_env)
        term.wait_for(r"In \[1\]:", timeout=TIMEOUT)
        term.type("6 * 7")
        term.press("Enter")
        term.wait_for(r"Out\[1\]: 42", timeout=TIMEOUT)
        # Awaited on the program's own loop, whose ticker goes on meanwhile.
        term.type("t = ticks; await asyncio.sleep(0.3); ticks - t > 10")
        term.press("Enter")
        term.wait_for(r"Out\[2\]: True", timeout=TIMEOUT)
        term.type("print('printed'); undefined_name")
        term.press("Enter")
        term.wait_for(r"printed", timeout=TIMEOUT)
        term.wait_for(r"NameError", timeout=TIMEOUT)
        term.wait_for(r"In \[4\]:", timeout=TIMEOUT)
    finally:
        term.close()
    assert host.alive()
