"""Who may attach, and what a program is spared: bad clients, vanishing clients, idle
clients, forks, restarts, exits. Real host processes, real sockets."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from hosts import SYNC_APP, Host, asyncio_app, host_env, session_threads
from waiting import wait_until
from protocol import Client, connect, frame

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root to act as another user")


def test_socket_and_record_are_private_and_go_away(make_host):
    host = make_host(asyncio_app("server_ref = server\nasyncio.run(main())"))
    run_dir = host.runtime_dir / "hotrepl"
    assert Path(host.address).parent == run_dir
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(os.stat(host.address).st_mode) == 0o600
    record_path = run_dir / f"{host.pid}.json"
    assert stat.S_IMODE(record_path.stat().st_mode) == 0o600
    record = json.loads(record_path.read_text())
    assert record["pid"] == host.pid and record["address"] == host.address
    assert "token" not in record
    client = host.connect()
    client.send("execute_request", {"code": "server_ref.stop()"})
    assert client.is_closed(), "stopping ends the sessions, this one too"
    assert not os.path.exists(host.address) and not record_path.exists()


def test_without_xdg_runtime_dir_a_private_temp_dir_is_used(make_host, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    host = make_host(SYNC_APP, env={"XDG_RUNTIME_DIR": "", "TMPDIR": str(tmp)})
    run_dir = tmp / f"hotrepl-{os.geteuid()}"
    assert Path(host.address).parent == run_dir
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700


def start_refused(runtime_dir: Path, call: str = "hotrepl.start()", error: str = "OSError") -> str:
    """Runs `call` in a fresh program; what it printed: `REFUSED <message>` if it raised
    `error`."""
    code = f"import hotrepl\ntry:\n    {call}\nexcept {error} as e:\n    print('REFUSED', e)\n"
    return subprocess.run([sys.executable, "-c", code], env=host_env(runtime_dir), capture_output=True, text=True, timeout=30).stdout


def test_a_loose_runtime_dir_is_refused(tmp_path):
    run = tmp_path / "run"
    (run / "hotrepl").mkdir(parents=True, mode=0o755)
    os.chmod(run / "hotrepl", 0o755)
    said = start_refused(run)
    assert "REFUSED" in said and "mode 755" in said and "0700" in said, said


@needs_root
def test_a_runtime_dir_of_another_user_is_refused(tmp_path):
    run = tmp_path / "run"
    (run / "hotrepl").mkdir(parents=True, mode=0o700)
    os.chown(run / "hotrepl", 65534, 65534)
    said = start_refused(run)
    assert "REFUSED" in said and "belongs to uid 65534" in said, said


@needs_root
def test_another_user_is_refused_even_if_the_socket_is_opened_up(make_host):
    # A directory the other user can reach (pytest's own temp dirs are private).
    workdir = Path(tempfile.mkdtemp(prefix="hotrepl-test-"))
    os.chmod(workdir, 0o755)
    host = make_host(asyncio_app(), workdir=workdir)
    # Undo every file-system protection: only the peer-credential check is left.
    os.chmod(host.runtime_dir, 0o777)
    os.chmod(host.runtime_dir / "hotrepl", 0o777)
    os.chmod(host.address, 0o777)
    probe = (
        "import os, socket, sys\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
        "data = b''\n"
        # The refusal comes before the client says anything: read it first (sending to a
        # socket the server already closed would only fail with a broken pipe).
        "while chunk := s.recv(4096):\n"
        "    data += chunk\n"
        "try:\n"
        "    s.sendall(b'\\0hotrepl\\0\\1\\0\\0' + b'__import__(\"os\").system(\"id\")\\n')\n"
        "    data += s.recv(4096)\n"
        "except OSError as e:\n"
        "    data += f' ({e})'.encode()\n"
        "print(data.decode(errors='replace'))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, host.address], capture_output=True, text=True, timeout=30)
    assert "permission denied" in done.stdout, done
    assert ">>> " not in done.stdout, "nothing was served to the other user"
    host.stop()
    stderr = host.proc.stderr.read()
    shutil.rmtree(workdir, ignore_errors=True)
    assert "refused a connection from uid 65534" in stderr, stderr


def test_connections_are_logged(make_host):
    host = make_host(asyncio_app("import logging\nlogging.basicConfig(level=logging.INFO, format='LOG %(name)s %(message)s')\nasyncio.run(main())"))
    client = host.connect()
    client.execute("1")
    client.close()
    time.sleep(0.3)
    host.proc.kill()
    stderr = host.proc.stderr.read()
    assert f"LOG hotrepl hotrepl: session 1 (uid {os.geteuid()}" in stderr and "opened" in stderr, stderr
    assert "closed" in stderr, stderr


def test_tcp_on_loopback_with_a_generated_token(make_host):
    host = make_host(SYNC_APP, "tcp=('127.0.0.1', 0)")
    assert host.address.startswith("tcp://127.0.0.1:")
    assert len(host.token) >= 32
    record = json.loads((host.runtime_dir / "hotrepl" / f"{host.pid}.json").read_text())
    assert record["address"] == host.address and record["token"] == host.token
    client = host.connect()
    assert client.authenticate(host.token)["ok"] is True
    assert client.execute("counter > 0").result == "True"


def test_tcp_refuses_a_wrong_token_and_runs_nothing(make_host):
    host = make_host(SYNC_APP, "tcp=('127.0.0.1', 0), token='correct horse'")
    assert host.token == "None", "a chosen token is not shown back"
    client = host.connect()
    result = client.authenticate("wrong")
    assert result["ok"] is False and result["reason"] == "wrong token"
    assert client.is_closed()
    good = host.connect()
    assert good.authenticate("correct horse")["ok"] is True


def test_tcp_runs_nothing_before_the_handshake(make_host):
    host = make_host(SYNC_APP, "tcp=('127.0.0.1', 0)")
    port = int(host.address.rsplit(":", 1)[1])
    # What a web page can make a browser send to a local port.
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n__import__('os')._exit(3)\n")
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    assert b"needs a token" in data, data
    time.sleep(0.2)
    assert host.alive()


def test_non_loopback_tcp_without_a_token_is_refused(tmp_path):
    said = start_refused(tmp_path, "hotrepl.start(tcp=('0.0.0.0', 0))", "ValueError")
    assert "REFUSED refusing to serve TCP on 0.0.0.0" in said and "token" in said, said


def test_hotrepl_disable_makes_start_a_no_op(make_host):
    host = make_host(SYNC_APP + "\n", env={"HOTREPL_DISABLE": "1"})
    assert host.address == "None"
    assert not (host.runtime_dir / "hotrepl").exists()
    assert host.threads() == 1, "no thread of hotrepl's was started"


def test_an_idle_client_costs_the_program_nothing(make_host):
    host = make_host()
    client = host.connect()
    client.execute("1 + 1")
    time.sleep(0.5)
    before = session_threads(host)
    time.sleep(3)
    after = session_threads(host)
    assert set(before) == set(after)
    busy = {name: after[name] - before[name] for name in after if after[name] != before[name]}
    assert not busy, f"hotrepl threads used CPU while idle: {busy}"


def test_a_client_killed_mid_cell_leaves_nothing_behind(make_host):
    host = make_host()
    baseline = host.connect()
    baseline.execute("1")
    threads_before = host.threads()
    doomed = host.connect()
    doomed.send("execute_request", {"code": "import time\ntime.sleep(0.5)\nprint('nobody listens')\nfinished_anyway = True"})
    time.sleep(0.1)
    doomed.sock.close()
    wait_until(lambda: baseline.execute("globals().get('finished_anyway')").result == "True", what="the cell to finish")
    wait_until(lambda: host.threads() == threads_before, what="the session's threads to end")


def test_a_thousand_connections_come_and_go(make_host):
    host = make_host()
    first = host.connect()
    first.execute("1")
    first.close()
    time.sleep(0.2)
    threads, fds = host.threads(), host.fds()
    for i in range(1000):
        client = host.connect()
        if i % 50 == 0:
            assert client.execute("1 + 1").result == "2"
        client.close()
    wait_until(lambda: host.threads() == threads and host.fds() == fds, timeout=20, what=f"threads/fds back to {threads}/{fds}")
    assert host.connect().execute("'still serving'").result == "'still serving'"


@pytest.mark.parametrize(
    "garbage, reason",
    [(frame(b"{not json"), "malformed message"), (struct.pack(">I", 1 << 30), "exceeds the limit")],
    ids=["malformed", "oversized"],
)
def test_bad_frames_end_only_that_connection(make_host, garbage, reason):
    host = make_host()
    bystander = host.connect()
    bad = host.connect()
    bad.sock.sendall(garbage)
    error = bad.recv()
    assert error["header"]["msg_type"] == "protocol_error" and reason in error["content"]["reason"], error
    assert bad.is_closed()
    assert bystander.execute("1 + 1").result == "2"


def test_a_half_sent_frame_does_not_hold_up_others(make_host):
    host = make_host()
    stalled = host.connect()
    stalled.sock.sendall(struct.pack(">I", 100) + b'{"header"')
    others = [host.connect() for _ in range(3)]
    for other in others:
        assert other.execute("1 + 1").result == "2"
    stalled.close()


def test_clients_learn_that_the_program_exited(make_host):
    host = make_host("import time\nprint('LOOP RUNNING', flush=True)\ntime.sleep(1)\n")
    clients = [host.connect() for _ in range(3)]
    for c in clients:
        assert c.execute("1").result == "1"
    for c in clients:
        assert c.is_closed(timeout=5)
    assert host.proc.wait(timeout=5) == 0


def test_a_stuck_session_does_not_delay_the_programs_exit(make_host):
    host = make_host("import time\nprint('LOOP RUNNING', flush=True)\ntime.sleep(0.5)\n")
    client = host.connect()
    client.send("execute_request", {"code": "while True: pass"})
    started = time.monotonic()
    assert host.proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 3
    assert client.is_closed()


@pytest.mark.parametrize("ending", ["exit", "stop"])
def test_a_client_that_stopped_reading_holds_up_nothing(make_host, ending):
    """A session printing faster than its client reads waits for that client; the program
    stopping the server or exiting meanwhile neither waits for the client nor crashes, and
    the orphaned cell does not go on printing into the program's own output."""
    after = "server.stop()\nprint('STOPPED', flush=True)\ntime.sleep(1)\nprint('DONE', flush=True)\n"
    host = make_host("import time\nprint('LOOP RUNNING', flush=True)\ntime.sleep(1.5)\n" + (after if ending == "stop" else ""))
    client = host.connect()
    client.send("execute_request", {"code": "while True:\n    print('x' * 100)"})
    started = time.monotonic()
    assert host.proc.wait(timeout=15) == 0, host.proc.stderr.read()
    assert time.monotonic() - started < 5
    rest = "".join(host.output_after_exit())
    assert "x" * 100 not in rest
    if ending == "stop":
        assert rest.split() == ["STOPPED", "DONE"]
    client.close()


def test_a_forked_child_does_not_serve_the_parents_socket(make_host):
    body = (
        "import os, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    time.sleep(1.5)\n"
        "    os._exit(0)\n"
        "child = pid\n"
        "print('LOOP RUNNING', flush=True)\n"
        "while True:\n"
        "    time.sleep(0.05)\n"
    )
    host = make_host(body)
    for _ in range(5):
        client = host.connect()
        assert client.execute("import os\nos.getpid()").result == str(host.pid), "only the parent answers"
        client.close()
    time.sleep(2)  # the child has exited (and must not have removed the parent's files)
    assert os.path.exists(host.address)
    assert host.connect().execute("os.waitpid(child, 0)[0] == child").result == "True"


def test_a_forked_child_can_serve_on_its_own(make_host):
    body = (
        "import os, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    child_server = hotrepl.start()\n"
        # One write a line: parent and child share the pipe.
        "    os.write(1, f'CHILD {child_server.address}\\n'.encode())\n"
        "    time.sleep(30)\n"
        "    os._exit(0)\n"
        "os.write(1, b'LOOP RUNNING\\n')\n"
        "while True:\n"
        "    time.sleep(0.05)\n"
    )
    host = make_host(body)
    child_address = host.wait_for_output("CHILD").split()[1]
    assert child_address != host.address
    child = Client(connect(child_address))
    child_pid = int(child.execute("import os\nos.getpid()").result)
    assert child_pid != host.pid
    assert host.connect().execute("import os\nos.getpid()").result == str(host.pid)
    os.kill(child_pid, signal.SIGKILL)


def test_stop_and_start_again(make_host):
    body = (
        "import time\n"
        "print('LOOP RUNNING', flush=True)\n"
        "time.sleep(0.5)\n"
        "server.stop()\n"
        "again = hotrepl.start()\n"
        "print('RESTARTED', again.address, flush=True)\n"
        "time.sleep(30)\n"
    )
    host = make_host(body)
    client = host.connect()
    assert client.execute("1").result == "1"
    new_address = host.wait_for_output("RESTARTED").split()[1]
    assert client.is_closed(), "stopping ends the sessions"
    assert Client(connect(new_address)).execute("1 + 1").result == "2"


def test_the_programs_handlers_and_logging_are_left_alone(make_host):
    host = make_host()
    client = host.connect()
    state = "(signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), list(logging.root.handlers), logging.root.level)"
    client.execute(f"import signal, logging\nbefore = {state}")
    client.execute("print('a session printing')")
    msg_id = client.send("execute_request", {"code": "print('RUNNING', flush=True)\nwhile True: pass"})
    client.recv_until("stream", msg_id)  # the cell is running
    client.request("interrupt_request", {})
    client.finish(msg_id)
    assert client.execute(f"{state} == before").result == "True"


def test_daemon_threads_printing_at_exit_do_not_crash_the_program(tmp_path):
    # Every print of the program goes through hotrepl's sys.stdout; threads still printing
    # while the interpreter finalizes must end as they would without it.
    script = tmp_path / "chatty.py"
    script.write_text(
        "import hotrepl, sys, threading, time\n"
        "hotrepl.start()\n"
        "def chatter():\n"
        "    while True:\n"
        "        print('x' * 50)\n"
        "        sys.stdout.flush()\n"
        "for _ in range(3):\n"
        "    threading.Thread(target=chatter, daemon=True).start()\n"
        "time.sleep(0.1)\n"
    )
    env = host_env(tmp_path)
    os.chmod(tmp_path, 0o700)
    for _ in range(10):
        done = subprocess.run([sys.executable, str(script)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)
        assert done.returncode == 0, done.stderr[-2000:]
