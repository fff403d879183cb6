"""The local kernel (`hotrepl._native.serve_local`) spoken to byte by byte over a socket
pair, as the `hotrepl` client does: the messages it answers, and how it treats bad input."""

from __future__ import annotations

import struct
import subprocess
import sys
import time

import pytest

from hosts import dies_with_tests
from protocol import Client, frame, start_local_kernel

@pytest.fixture
def kernel():
    proc, ours = start_local_kernel(preexec_fn=dies_with_tests)
    yield proc, ours
    ours.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


@pytest.fixture
def client(kernel) -> Client:
    _, sock = kernel
    return Client(sock)


def test_kernel_info_names_the_interpreter(client):
    info = client.request("kernel_info_request", {})["content"]
    assert info["status"] == "ok"
    assert info["implementation"] == "hotrepl"
    assert info["language_info"]["name"] == "python"
    assert info["language_info"]["version"] == "%d.%d.%d" % sys.version_info[:3]
    assert info["language_info"]["file_extension"] == ".py"
    assert info["banner"].startswith("Python ")


def test_execute_answers_with_result_and_reply(client):
    msg_id = client.send("execute_request", {"code": "21 * 2"})
    messages = client.recv_until("execute_reply", msg_id)
    kinds = [m["header"]["msg_type"] for m in messages]
    assert kinds == ["execute_result", "execute_reply"], kinds
    assert messages[0]["content"]["data"] == {"text/plain": "42"}
    assert messages[0]["content"]["execution_count"] == 1
    assert messages[1]["content"]["status"] == "ok"
    assert all(m["parent_header"]["msg_id"] == msg_id for m in messages)
    assert client.execute("1").reply["execution_count"] == 2
    silent = client.send("execute_request", {"code": "x = 1", "silent": True})
    assert client.finish(silent).reply["execution_count"] == 2


def test_errors_are_reported_in_output_and_reply(client):
    run = client.execute("{}['missing']")
    assert run.reply["status"] == "error"
    assert run.reply["ename"] == "KeyError"
    assert run.error["ename"] == "KeyError" and run.error["evalue"] == "'missing'"
    assert run.error["traceback"][0].startswith("Traceback")


@pytest.mark.parametrize(
    "code, status, indent",
    [
        ("x = 1", "complete", ""),
        ("await asyncio.sleep(0)", "complete", ""),
        ("for i in range(3):", "incomplete", "    "),
        ("def f():\n    if x:", "incomplete", "        "),
        ("for i in range(3):\n    print(i)", "incomplete", "    "),
        ("for i in range(3):\n    print(i)\n", "complete", ""),
        ("values = [\n    1,\n    2]", "complete", ""),
        ("f(1,", "incomplete", ""),
        ("x = 1 + \\", "incomplete", ""),
        ("s = '''open", "incomplete", ""),
        ("@decorator", "incomplete", ""),
        ("1 +* 2", "invalid", ""),
        ("async with lock:\n    pass\n", "complete", ""),
        ("", "complete", ""),
    ],
)
def test_is_complete_uses_the_kernels_python(client, code, status, indent):
    reply = client.request("is_complete_request", {"code": code})["content"]
    assert reply["status"] == status, reply
    assert reply.get("indent", "") == indent


def test_completion_offers_names_attributes_keys_and_modules(client):
    client.execute("import collections\nsettings = {'alpha': 1, 'beta': 2}\nmy_value = 3")
    cases = [
        ("my_va", 5, ["my_value"], 0),
        ("collections.Ordered", 19, ["OrderedDict"], 12),
        ("settings['al", 12, ["alpha']"], 10),
        ("import collec", 13, ["collections"], 7),
        ("x = (1 + my_va", 14, ["my_value"], 9),
    ]
    for code, pos, expected, start in cases:
        reply = client.request("complete_request", {"code": code, "cursor_pos": pos})["content"]
        assert reply["status"] == "ok"
        assert reply["matches"] == expected, (code, reply)
        assert (reply["cursor_start"], reply["cursor_end"]) == (start, pos), (code, reply)


def test_completion_hides_private_names_unless_asked(client):
    client.execute("class C:\n    _hidden = 1\n    shown = 2\nobj = C()")
    names = client.request("complete_request", {"code": "obj.", "cursor_pos": 4})["content"]["matches"]
    assert "shown" in names and "_hidden" not in names
    names = client.request("complete_request", {"code": "obj._", "cursor_pos": 5})["content"]["matches"]
    assert "_hidden" in names


def test_input_requests_go_to_the_client(client):
    msg_id = client.send("execute_request", {"code": "answer = input('Question? ')\nanswer.upper()"})
    messages = client.recv_until("input_request", msg_id)
    assert messages[-1]["content"] == {"prompt": "", "password": False}
    assert "".join(m["content"]["text"] for m in messages if m["header"]["msg_type"] == "stream") == "Question? "
    client.send("input_reply", {"value": "yes"})
    assert [c["data"]["text/plain"] for c in client.finish(msg_id).of_type("execute_result")] == ["'YES'"]


def test_input_cancelled_with_ctrl_d_raises_eof(client):
    msg_id = client.send("execute_request", {"code": "input()"})
    client.recv_until("input_request", msg_id)
    client.send("input_reply", {"value": "", "cancelled": "eof"})
    reply = client.finish(msg_id).reply
    assert reply["ename"] == "EOFError"


def test_interrupt_request_stops_a_busy_cell(client):
    msg_id = client.send("execute_request", {"code": "print('RUNNING', flush=True)\nwhile True: pass"})
    client.recv_until("stream", msg_id)  # the cell is running
    assert client.request("interrupt_request", {})["content"]["status"] == "ok"
    reply = client.finish(msg_id).reply
    assert reply["ename"] == "KeyboardInterrupt"
    assert client.execute("1 + 1").result == "2"


def test_unknown_requests_get_an_error_and_the_connection_goes_on(client):
    reply = client.request("frobnicate_request", {}, reply_type="protocol_error")["content"]
    assert reply["reason"] == "unsupported request type 'frobnicate_request'"
    assert client.execute("1 + 1").result == "2"


def test_malformed_frame_is_refused_and_the_connection_closed(kernel, client):
    proc, sock = kernel
    sock.sendall(frame(b"{this is not json"))
    error = client.recv()
    assert error["header"]["msg_type"] == "protocol_error"
    assert error["content"]["reason"].startswith("malformed message"), error
    assert client.is_closed()
    assert proc.wait(timeout=10) == 0, "the local kernel ends with its only client"


def test_oversized_frame_is_refused_before_it_is_read(kernel, client):
    proc, sock = kernel
    sock.sendall(struct.pack(">I", 1 << 30))
    error = client.recv()
    assert error["header"]["msg_type"] == "protocol_error"
    assert "exceeds the limit" in error["content"]["reason"], error
    assert client.is_closed()


def test_incompatible_protocol_version_is_explained(kernel):
    _, sock = kernel
    client = Client(sock, handshake=False)
    client.handshake(major=99)
    error = client.recv()
    assert error["header"]["msg_type"] == "protocol_error"
    assert "incompatible protocol versions" in error["content"]["reason"]
    assert client.is_closed()


def test_shutdown_ends_the_kernel_cleanly(kernel, client):
    proc, _ = kernel
    client.execute("import atexit\natexit.register(print, 'atexit ran')")
    assert client.request("shutdown_request", {"restart": False})["content"]["status"] == "ok"
    rest = []
    try:
        while True:
            rest.append(client.recv())
    except ConnectionError:
        pass
    assert proc.wait(timeout=10) == 0
    printed = "".join(m["content"]["text"] for m in rest if m["header"]["msg_type"] == "stream")
    assert printed == "atexit ran\n", "exit handlers still print to the client"


def test_future_imports_carry_over_between_cells(client):
    client.execute("from __future__ import annotations")
    run = client.execute("def f(x: undefined_name) -> int: pass\nf.__annotations__['x']")
    assert run.result == "'undefined_name'", run.messages


# The kernel starts without asyncio and makes its loop when something first imports it;
# these cells are each sent as the first, the moment the kernel is up.

FIRST_CELL_STARTING_A_TASK = """\
import asyncio
ticks = 0
async def ticker():
    global ticks
    while True:
        ticks += 1
        await asyncio.sleep(0.01)
task = asyncio.get_running_loop().create_task(ticker())
loop = asyncio.get_event_loop()
loop is asyncio.get_running_loop() and loop.is_running()
"""


def test_a_first_cell_that_imports_asyncio_runs_on_the_loop(client):
    assert client.execute(FIRST_CELL_STARTING_A_TASK).result == "True"
    time.sleep(0.3)  # at the prompt: the task keeps running
    assert client.execute("ticks > 5 and not task.done()").result == "True"
    assert client.execute("task.get_loop() is asyncio.get_running_loop()").result == "True"


def test_a_library_importing_asyncio_in_the_first_cell_finds_the_loop(client, tmp_path):
    (tmp_path / "background.py").write_text(
        "import asyncio\n\ndef start(coro):\n    return asyncio.get_running_loop().create_task(coro)\n")
    run = client.execute(f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\n"
                         "import background\nt = background.start(__import__('asyncio').sleep(0, 'done'))")
    assert run.reply["status"] == "ok", run.messages
    assert client.execute("await t").result == "'done'"


def test_a_first_cells_code_has_its_source_and_clean_tracebacks(client):
    run = client.execute("def boom():\n    raise ValueError('from the cell')\n"
                         "import inspect\nprint(inspect.getsource(boom), end='')\nboom()")
    assert run.stdout == "def boom():\n    raise ValueError('from the cell')\n"
    traceback = "".join(run.error["traceback"])
    assert "raise ValueError('from the cell')" in traceback, traceback
    assert "hotrepl" not in traceback and "asyncio" not in traceback, traceback


def test_a_first_cell_can_exit_with_a_status(kernel, client):
    proc, _ = kernel
    client.send("execute_request", {"code": "import sys; sys.exit(3)"})
    assert proc.wait(timeout=10) == 3
