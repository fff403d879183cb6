"""Attaching to live programs that called `hotrepl.start()`: sessions run in the program's
namespace, await on its loop, never block it, and keep their output to themselves.
Spoken to over the native protocol (tests/protocol.py) and the plain line mode."""

from __future__ import annotations

import threading
import time

import pytest

from hosts import SYNC_APP, asyncio_app


def test_session_reads_and_changes_the_programs_state(make_host):
    host = make_host()
    client = host.connect()
    ticks = int(client.execute("ticks").result)
    assert ticks >= 0
    assert int(client.execute("ticks").result) >= ticks
    # A function redefined at the prompt is what the program calls next.
    assert client.execute("def report():\n    return 'patched at the prompt'").reply["status"] == "ok"
    host.wait_for_output("REPORT patched at the prompt")
    assert client.execute("__name__").result == "'__main__'"


def test_awaiting_cell_runs_on_the_programs_loop(make_host):
    host = make_host()
    client = host.connect()
    run = client.execute("import asyncio\nawait asyncio.sleep(0)\nasyncio.get_running_loop() is app_loop")
    assert run.result == "True", run.messages
    assert client.execute("await asyncio.sleep(0.05, result='slept')").result == "'slept'"
    assert client.execute("ticker_task.done()").result == "False"


def test_plain_cell_never_blocks_the_program(make_host):
    host = make_host()
    client = host.connect()
    client.execute("max_gap = 0.0")
    run = client.execute("import time\nbefore = ticks\ntime.sleep(1)\nticks - before")
    assert int(run.result) >= 70, "the program's loop kept ticking while the cell slept"
    assert float(client.execute("max_gap").result) < 0.1


def test_output_arrives_while_the_cell_runs(make_host):
    host = make_host()
    client = host.connect()
    assert client.execute("1 + 1").result == "2"
    msg_id = client.send("execute_request", {"code": "import time\nprint('first', flush=True)\ntime.sleep(1.5)\nprint('second')"})
    started = time.monotonic()
    arrived: dict[str, float] = {}
    while "reply" not in arrived:
        msg = client.recv()
        if msg["header"]["msg_type"] == "stream":
            for line in msg["content"]["text"].splitlines():
                arrived.setdefault(line, time.monotonic() - started)
        elif msg["header"]["msg_type"] == "execute_reply" and msg["parent_header"]["msg_id"] == msg_id:
            arrived["reply"] = time.monotonic() - started
    assert arrived["first"] < 1.0 < arrived["second"], arrived


def test_any_text_prints(make_host):
    client = make_host().connect()
    assert client.execute("print('é€😀', end='|'); import sys; sys.stdout.write('written')").stdout == "é€😀|written"
    # A lone surrogate cannot be sent as UTF-8: it shows as a replacement character.
    out = client.execute("print('a\\ud800b')").stdout
    assert out.startswith("a\ufffd") and out.endswith("b\n"), out


def test_a_cell_printing_megabytes_streams_every_line(make_host):
    host = make_host()
    client = host.connect()
    assert client.execute("1 + 1").result == "2"
    # 10 MB: well past the point where the session waits for its client to catch up.
    run = client.execute("for i in range(100_000):\n    print(f'{i:08d}' + 'x' * 91)")
    assert run.reply["status"] == "ok"
    lines = run.stdout.splitlines()
    assert len(lines) == 100_000
    assert all(line == f"{i:08d}" + "x" * 91 for i, line in enumerate(lines))


def test_many_sessions_each_see_only_their_own_output(make_host):
    host = make_host()
    clients = [host.connect() for _ in range(20)]
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = clients[i].execute(f"for n in range(3):\n    print('session {i} line', n)").stdout
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    for i in range(20):
        assert results[i] == "".join(f"session {i} line {n}\n" for n in range(3)), results[i]


def test_tasks_a_cell_starts_print_to_that_session_only(make_host):
    host = make_host()
    a, b = host.connect(), host.connect()
    a.execute(
        "import asyncio\n"
        "async def later():\n"
        "    await asyncio.sleep(0.2)\n"
        "    print('from the task of session A')\n"
        "await asyncio.sleep(0)\n"
        "task = asyncio.create_task(later())"
    )
    late = ""
    while not late.endswith("\n"):
        msg = a.recv()
        assert msg["header"]["msg_type"] == "stream", msg
        late += msg["content"]["text"]
    assert late == "from the task of session A\n"
    assert b.execute("'b is quiet'").stdout == ""
    assert all("task of session A" not in line for line in host.output)


def test_program_output_and_logging_stay_where_they_were(make_host):
    host = make_host(
        asyncio_app(
            "import logging\n"
            "logging.basicConfig(format='LOG %(message)s')\n"
            "asyncio.run(main())"
        )
    )
    client = host.connect()
    client.execute("import logging")
    run = client.execute("logging.getLogger('app').warning('logged in a session'); print('printed in a session')")
    assert run.stdout == "printed in a session\n"
    # The program's own print (its ticker reporting a change) goes to its stdout, not here.
    run = client.execute("def report():\n    return 'changed'")
    host.wait_for_output("REPORT changed")
    assert "REPORT" not in run.stdout
    time.sleep(0.1)
    assert "REPORT" not in client.execute("1").stdout


def test_input_getpass_and_help_talk_to_the_client(make_host):
    host = make_host()
    client = host.connect()
    msg_id = client.send("execute_request", {"code": "name = input('Name? ')\nname.upper()"})
    asked = client.recv_until("input_request", msg_id)
    assert asked[-1]["content"]["password"] is False
    client.send("input_reply", {"value": "ada"})
    assert [c["data"]["text/plain"] for c in client.finish(msg_id).of_type("execute_result")] == ["'ADA'"]

    msg_id = client.send("execute_request", {"code": "import getpass\nlen(getpass.getpass('Token: '))"})
    asked = client.recv_until("input_request", msg_id)[-1]["content"]
    assert asked == {"prompt": "Token: ", "password": True}
    client.send("input_reply", {"value": "s3cret"})
    assert client.finish(msg_id).of_type("execute_result")[0]["data"]["text/plain"] == "6"

    run = client.execute("help(len)")
    assert "Return the number of items in a container" in run.stdout
    assert all("number of items" not in line for line in host.output)


def test_interrupting_a_busy_plain_cell(make_host):
    host = make_host()
    client = host.connect()
    msg_id = client.send("execute_request", {"code": "print('RUNNING', flush=True)\nwhile True: pass"})
    client.recv_until("stream", msg_id)  # the cell is running
    assert client.request("interrupt_request", {})["content"]["status"] == "ok"
    reply = client.finish(msg_id).reply
    assert reply["ename"] == "KeyboardInterrupt"
    assert client.execute("1 + 1").result == "2"
    assert host.alive()
    ticks = int(client.execute("ticks").result)
    time.sleep(0.2)
    assert int(client.execute("ticks").result) > ticks, "the program never saw the KeyboardInterrupt"


def test_interrupting_an_awaiting_cell_cancels_it(make_host):
    host = make_host()
    client = host.connect()
    msg_id = client.send("execute_request", {"code": "import asyncio\nprint('RUNNING', flush=True)\nawait asyncio.sleep(100)"})
    client.recv_until("stream", msg_id)  # the cell is running
    client.request("interrupt_request", {})
    reply = client.finish(msg_id).reply
    assert reply["ename"] == "KeyboardInterrupt"
    assert client.execute("ticker_task.done()").result == "False", "only the cell's task was cancelled"


def test_interrupting_a_cell_waiting_for_input(make_host):
    host = make_host()
    client = host.connect()
    msg_id = client.send("execute_request", {"code": "input()"})
    client.recv_until("input_request", msg_id)
    client.request("interrupt_request", {})
    assert client.finish(msg_id).reply["ename"] == "KeyboardInterrupt"


def test_a_cell_stuck_in_c_code_can_be_abandoned(make_host):
    host = make_host()
    client = host.connect()
    msg_id = client.send("execute_request", {"code": "import time\nprint('RUNNING', flush=True)\ntime.sleep(3)\nprint('late output')\nafter_abandon = True"})
    client.recv_until("stream", msg_id)  # the cell is in time.sleep
    started = time.monotonic()
    client.send("interrupt_request", {"abandon": True})
    reply = client.finish(msg_id).reply
    client.recv_until("interrupt_reply")
    assert reply["ename"] == "CellAbandoned"
    assert time.monotonic() - started < 1.0
    # The session goes on, on a fresh thread, while the old one is still asleep.
    assert client.execute("1 + 1").result == "2"
    assert client.execute("'after_abandon' in globals()").result == "False"
    time.sleep(3)
    run = client.execute("after_abandon")
    assert run.result == "True", "the abandoned cell finished on its own"
    assert "late output" not in run.stdout, "and its output was dropped"


def test_a_program_without_a_loop_gets_a_private_one(make_host):
    host = make_host(SYNC_APP)
    client = host.connect()
    assert client.execute("counter > 0").result == "True"
    run = client.execute("import asyncio\nawait asyncio.sleep(0.01)\nasyncio.get_running_loop().is_running()")
    assert run.result == "True", run.messages
    client.execute("async def bump():\n    global bumped\n    bumped = True\nawait asyncio.sleep(0)\nt = asyncio.create_task(bump())")
    assert client.execute("await asyncio.sleep(0.05)\nbumped").result == "True", "tasks keep running on the session's loop"
    # Plain cells run on the session's thread, not the program's.
    assert client.execute("import threading\nthreading.current_thread() is threading.main_thread()").result == "False"


def test_exit_ends_the_session_not_the_program(make_host):
    host = make_host()
    client = host.connect()
    run = client.execute("exit()")
    assert run.reply.get("exit_code") == 0
    assert client.is_closed()
    assert host.alive()
    other = host.connect()
    assert other.execute("1 + 1").result == "2"
    assert other.execute("import sys\nsys.stdin.closed").result == "False", "exit() did not close the program's stdin"


def test_plain_line_mode_for_nc(make_host):
    host = make_host()
    nc = host.line_client()
    assert nc.greeting.startswith("Python ")
    assert f"process {host.pid}" in nc.greeting
    assert nc.run("1 + 1") == "2\n"
    assert nc.run("x = 21") == ""
    nc.send("def double(n):\n")
    assert nc.read_until("... ") == "... "
    nc.send("    return n * 2\n")
    assert nc.read_until("... ") == "... "
    assert nc.run("") == ""
    assert nc.run("double(x)") == "42\n"
    # As at python's own prompt, even a one-line compound statement ends with an empty line.
    nc.send("for i in range(2): print(i)\n")
    assert nc.read_until("... ") == "... "
    assert nc.run("") == "0\n1\n"
    assert nc.run("await asyncio.sleep(0, result='awaited')") == "'awaited'\n"
    out = nc.run("1 / 0")
    assert "Traceback (most recent call last)" in out and out.rstrip().endswith("ZeroDivisionError: division by zero")
    assert nc.run("print('hi'); 2 * 21") == "hi\n42\n"
    nc.send("answer = input('Question: ')\n")
    assert nc.read_until("Question: ").endswith("Question: ")
    assert nc.run("forty-two") == ""
    assert nc.run("answer") == "'forty-two'\n"
    # Magics and help work here too; help pages come back as text.
    assert "Return the number of items in a container." in nc.run("len?")
    assert nc.run("%tiem 1") == "UsageError: no magic %tiem; did you mean %time?\n"


def test_uvloop_program(make_host):
    pytest.importorskip("uvloop")
    runner = (
        "import uvloop\n"
        "if hasattr(asyncio, 'Runner') and sys.version_info >= (3, 12):\n"
        "    asyncio.run(main(), loop_factory=uvloop.new_event_loop)\n"
        "else:\n"
        "    uvloop.install()\n"
        "    asyncio.run(main())\n"
    )
    host = make_host(asyncio_app("import sys\n" + runner))
    client = host.connect()
    run = client.execute("import asyncio\nawait asyncio.sleep(0)\n(asyncio.get_running_loop() is app_loop, type(app_loop).__module__)")
    assert run.result == "(True, 'uvloop')", run.messages
    assert int(client.execute("import time\nb = ticks\ntime.sleep(0.3)\nticks - b").result) > 15
