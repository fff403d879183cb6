"""What a live program is doing, from a session: `%tasks`, `%cancel`, `%threads`, the
debugger (`%debug`, `%pdb`, `breakpoint()`), background jobs (`%bg`, `%jobs`, `%fg`) — in a
real asyncio host process, and in the local REPL's kernel where it applies."""

from __future__ import annotations

import re
import time

import pytest

from waiting import wait_until

# Named tasks stuck at known awaits, and a thread asleep at a known line.
BUSY_APP = """
import asyncio, threading, time
ticks = 0

def sleeper():
    time.sleep(3600)  # THE SLEEPER'S LINE

async def wait_for(event):
    await event.wait()  # THE WAITER'S LINE

async def ticker():
    global ticks
    while True:
        await asyncio.sleep(0.01)
        ticks += 1

async def main():
    global app_loop, gate
    app_loop = asyncio.get_running_loop()
    gate = asyncio.Event()
    threading.Thread(target=sleeper, name="sleepy-worker", daemon=True).start()
    asyncio.create_task(wait_for(gate), name="gatekeeper")
    asyncio.create_task(ticker(), name="ticker")
    print("LOOP RUNNING", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def line_of(host, marker: str) -> int:
    return next(i for i, line in enumerate(host.script.read_text().splitlines(), 1) if marker in line)


@pytest.fixture
def busy(make_host):
    host = make_host(BUSY_APP)
    return host, host.connect()


def test_tasks_shows_names_states_and_where_they_wait(busy):
    host, client = busy
    listing = client.execute("%tasks").stdout
    waiter_line = line_of(host, "THE WAITER'S LINE")
    row = next(line for line in listing.splitlines() if "gatekeeper" in line)
    assert re.search(rf"^\d+\s+gatekeeper\s+pending\s+wait_for\(\)\s+\S*{host.script.name}:{waiter_line} awaiting Event\.wait\(\)", row), listing
    assert any("ticker" in line and "pending" in line for line in listing.splitlines()), listing
    assert listing.rstrip().endswith("3 tasks"), listing
    stack = client.execute("%tasks -v gatekeeper").stdout
    assert f'File "{host.script}", line {waiter_line}, in wait_for' in stack and "await event.wait()" in stack, stack
    assert "awaiting a future" in stack, stack


def test_cancel_ends_a_task_and_says_how(busy):
    host, client = busy
    number = re.search(r"^(\d+)\s+gatekeeper", client.execute("%tasks").stdout, re.M).group(1)
    assert client.execute(f"%cancel {number}").stdout == f"task {number} 'gatekeeper' was cancelled\n"
    assert "gatekeeper" not in client.execute("%tasks").stdout
    assert client.execute("%cancel nothing-like-it").error_text == "UsageError: no task 'nothing-like-it' on this loop (%tasks lists them)\n"
    ticks = int(client.execute("ticks").result)
    wait_until(lambda: int(client.execute("ticks").result) > ticks, what="the ticker to go on")


def test_tasks_with_ten_thousand_tasks(make_host):
    host = make_host()
    client = host.connect()
    client.execute("import asyncio\nasync def nap():\n    await asyncio.sleep(3600)")
    client.execute("await asyncio.gather(*[asyncio.sleep(0) for _ in range(1)])\n"
                   "naps = [asyncio.create_task(nap(), name=f'nap-{i}') for i in range(10_000)]")
    client.execute("max_gap = 0.0")
    listing = client.execute("%tasks").stdout
    assert listing.rstrip().endswith("10002 tasks"), listing[-200:]
    assert sum(1 for line in listing.splitlines() if "nap-" in line) == 10_000
    assert float(client.execute("max_gap").result) < 0.5


def test_threads_shows_a_sleeping_thread_where_it_sleeps(busy):
    host, client = busy
    listing = client.execute("%threads").stdout
    sleeper_line = line_of(host, "THE SLEEPER'S LINE")
    block = next(b for b in listing.split("\n\n") if b.startswith("Thread 'sleepy-worker'"))
    assert block.startswith("Thread 'sleepy-worker' (daemon), innermost last:"), block
    assert block.rstrip().endswith(f'File "{host.script}", line {sleeper_line}, in sleeper\n    time.sleep(3600)  # THE SLEEPER\'S LINE'), block
    main = next(b for b in listing.split("\n\n") if b.startswith("Thread 'MainThread'"))
    assert "main" in main.splitlines()[0]
    assert re.search(r"^Thread 'hotrepl-session' \(hotrepl's, this session\)", listing, re.M), listing
    assert re.search(r"^Thread 'hotrepl-writer' \(hotrepl's\): no Python code$", listing, re.M), listing
    assert listing.index("sleepy-worker") < listing.index("hotrepl-writer"), "the program's threads come first"


def test_debug_after_an_error_in_an_attached_cell(busy):
    host, client = busy
    client.execute("def divide(x):\n    y = x * 2\n    return y / 0")
    assert client.execute("divide(21)").error["ename"] == "ZeroDivisionError"
    run = client.execute_answering("%debug", ["p y", "p x + 1", "q"])
    assert "return y / 0" in run.stdout, run.stdout
    assert "(Pdb) 42\n" in run.stdout and "(Pdb) 22\n" in run.stdout, run.stdout
    assert run.reply["status"] == "ok"
    wait_until(lambda: int(client.execute("ticks").result) > 0, what="the program's ticker to tick")


def test_pdb_opens_on_every_error(busy):
    host, client = busy
    assert client.execute("%pdb on").stdout == "The debugger opens on uncaught exceptions: on\n"
    run = client.execute_answering("secret = 'found'\nraise KeyError(secret)", ["p secret", "q"])
    assert run.error["ename"] == "KeyError"
    assert "(Pdb) 'found'" in run.stdout, run.stdout
    client.execute("%pdb off")
    assert client.execute("1/0").error["ename"] == "ZeroDivisionError"


def test_debug_without_an_error_says_so(busy):
    _, client = busy
    assert client.execute("%debug").error_text.startswith("UsageError: no error to debug yet")


def test_a_client_killed_in_breakpoint_leaves_the_program_running(busy):
    host, client = busy
    client.execute("1")
    other = host.connect()
    other.execute("1")
    threads = host.threads()
    msg_id = client.send("execute_request", {"code": "value = 5\nbreakpoint()\nafter_debugger = True"})
    asked = client.recv_until("input_request", msg_id)
    assert any("(Pdb)" in m["content"].get("text", "") for m in asked), asked
    client.sock.close()
    ticks = int(other.execute("ticks").result)
    wait_until(lambda: int(other.execute("ticks").result) > ticks + 10, what="the program's ticker to go on")
    assert host.alive()
    # The debugger ended with the client, and so did the cell and its session's threads.
    wait_until(lambda: host.threads() == threads - 2, what="the debugged session's threads to end")


def test_background_jobs(session):
    started = time.monotonic()
    run = session.execute("%bg import time; time.sleep(0.5); print('job output'); 6 * 7")
    assert run.stdout == "[1] started (thread): import time; time.sleep(0.5); print('job output'); 6 * 7\n"
    assert time.monotonic() - started < 0.4, "the prompt comes back at once"
    listing = session.execute("%jobs").stdout
    assert re.search(r"^1\s+running\s+\d+\.\ds\s+thread\s+\S+\s+import time", listing, re.M), listing
    finished = session.execute("%fg 1")
    assert finished.stdout == "job output\n" and finished.result == "42"
    assert re.search(r"^1\s+done\s", session.execute("%jobs").stdout, re.M)
    session.execute("import asyncio")
    session.execute("%bg print('in a task'); await asyncio.sleep(0.2, result='awaited')")
    assert "task" in session.execute("%jobs").stdout
    waited = session.execute("%fg 2")
    assert waited.stdout == "in a task\n" and waited.result == "'awaited'"
    session.execute("%bg 1 / 0")
    failed = session.execute("%fg 3")
    assert failed.error["ename"] == "ZeroDivisionError" and "%bg 1 / 0" in failed.error_text
    assert session.execute("%fg 99").error_text == "UsageError: no job '99' (%jobs lists them)\n"


def test_jobs_are_seen_from_every_session_of_the_program(make_host):
    host = make_host()
    first, second = host.connect(), host.connect()
    first.execute("%bg import time; time.sleep(0.3); print('from the first'); 'result'")
    assert re.search(r"^1\s+running", second.execute("%jobs").stdout, re.M)
    run = second.execute("%fg 1")
    assert run.stdout == "from the first\n" and run.result == "'result'"


def test_waiting_for_a_job_can_be_interrupted(make_host):
    client = make_host().connect()
    client.execute("%bg import time; time.sleep(30)")
    msg_id = client.send("execute_request", {"code": "print('WAITING', flush=True)\n%fg 1"})
    client.recv_until("stream", msg_id)
    client.request("interrupt_request", {})
    assert client.finish(msg_id).reply["ename"] == "KeyboardInterrupt"
    assert re.search(r"^1\s+running", client.execute("%jobs").stdout, re.M), "the job goes on"
