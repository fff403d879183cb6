"""Host programs for the attach tests: real Python processes that call `hotrepl.start()`
and then do what a program does (an asyncio app with a ticker, a sync loop, threads)."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from protocol import Client, connect

_PR_SET_PDEATHSIG = 1


def dies_with_tests() -> None:
    """preexec_fn: the child is killed if the test run dies first (a killed pytest would
    otherwise leave hosts running with their servers listening)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

# A ticker task every 10 ms whose longest gap between ticks is kept, so tests can see
# whether a session ever stalled the program's loop.
ASYNCIO_APP = """
import asyncio, time
ticks = 0
max_gap = 0.0
def report():
    return "original"
async def ticker():
    global ticks, max_gap
    last = time.monotonic()
    reported = None
    while True:
        await asyncio.sleep(0.01)
        now = time.monotonic()
        max_gap = max(max_gap, now - last)
        last = now
        ticks += 1
        if report() != reported:
            reported = report()
            print("REPORT", reported, flush=True)
async def main():
    global app_loop, ticker_task
    app_loop = asyncio.get_running_loop()
    ticker_task = asyncio.create_task(ticker())
    print("LOOP RUNNING", flush=True)
    await asyncio.Event().wait()
{runner}
"""

SYNC_APP = """
import time
counter = 0
print("LOOP RUNNING", flush=True)
while True:
    counter += 1
    time.sleep(0.01)
"""


def host_env(runtime_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a program a test starts: ours without HOTREPL_* settings (with
    HOTREPL_DISABLE set, start() would do nothing), and a runtime directory of its own."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("HOTREPL_")}
    return {**inherited, "XDG_RUNTIME_DIR": str(runtime_dir), **extra}


def proc_stat(path: str) -> list[str] | None:
    """The fields of a /proc/.../stat file after the command name; None once that process
    or thread is gone (also when it ends while the file is read: ESRCH)."""
    try:
        return Path(path).read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


class Host:
    """A program that called `hotrepl.start(**start_args)` before running `body`."""

    def __init__(self, workdir: Path, body: str, start_args: str = "", env: dict | None = None):
        self.runtime_dir = workdir / f"run-{os.getpid()}-{time.monotonic_ns()}"
        self.runtime_dir.mkdir(mode=0o700)
        script = self.script = workdir / f"host-{time.monotonic_ns()}.py"
        script.write_text(
            "import hotrepl\n"
            f"server = hotrepl.start({start_args})\n"
            "print('ADDRESS', server.address, flush=True)\n"
            "print('TOKEN', server.token, flush=True)\n" + textwrap.dedent(body)
        )
        self.proc = subprocess.Popen(
            [sys.executable, str(script)],
            env=host_env(self.runtime_dir, PYTHONUNBUFFERED="1", **(env or {})),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=dies_with_tests,
        )
        # Read by a thread of its own, so that waiting for a line has a deadline even when
        # the host prints nothing; `output` keeps every line, in order.
        self.output: list[str] = []
        self._taken: set[int] = set()  # lines a wait has returned
        self._new_line = threading.Condition()
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()
        self.address = self._wait_for_line("ADDRESS ", "did not start").split(" ", 1)[1].strip()
        self.token = self._wait_for_line("TOKEN ", "did not start").split(" ", 1)[1].strip()

    def _read_output(self) -> None:
        for line in self.proc.stdout:
            with self._new_line:
                self.output.append(line)
                self._new_line.notify_all()
        with self._new_line:
            self._new_line.notify_all()

    def _wait_for_line(self, text: str, failure: str, timeout: float = 10.0) -> str:
        """The first line containing `text` that no wait has returned yet."""
        deadline = time.monotonic() + timeout
        with self._new_line:
            while True:
                for i, line in enumerate(self.output):
                    if i not in self._taken and text in line:
                        self._taken.add(i)
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    break
                self._new_line.wait(left)
        stderr = self.proc.stderr.read() if self.proc.poll() is not None else ""
        raise AssertionError(f"host {failure}: no line with {text!r} in {self.output!r}\n{stderr}")

    def wait_for_output(self, text: str, timeout: float = 10.0) -> str:
        """Waits for a line containing `text` (one that no earlier wait returned)."""
        return self._wait_for_line(text, "never printed it", timeout)

    def output_after_exit(self, timeout: float = 10.0) -> list[str]:
        """Once the host has exited: the lines no wait returned."""
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        return [line for i, line in enumerate(self.output) if i not in self._taken]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def connect(self) -> Client:
        return Client(connect(self.address))

    def line_client(self) -> "LineClient":
        return LineClient(connect(self.address))

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait(timeout=10)


class LineClient:
    """Someone typing into `nc -U`."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.sock.settimeout(10)
        self.greeting = self.read_until(">>> ")

    def read_until(self, end: str, timeout: float = 10.0) -> str:
        data = b""
        deadline = time.monotonic() + timeout
        while not data.decode(errors="replace").endswith(end):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {end!r} after {data!r}")
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError(f"closed after {data!r}")
            data += chunk
        return data.decode()

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode())

    def run(self, line: str) -> str:
        """Types one line; returns what came back before the next prompt."""
        self.send(line + "\n")
        out = self.read_until(">>> ")
        return out[: -len(">>> ")]


def asyncio_app(runner: str = "asyncio.run(main())") -> str:
    return ASYNCIO_APP.format(runner=runner)


def session_threads(host: Host) -> dict[str, int]:
    """hotrepl's threads in the host and the CPU ticks each has used."""
    threads = {}
    for tid in os.listdir(f"/proc/{host.pid}/task"):
        try:
            name = Path(f"/proc/{host.pid}/task/{tid}/comm").read_text().strip()
        except (FileNotFoundError, ProcessLookupError):  # the thread ended before or while reading
            continue
        fields = proc_stat(f"/proc/{host.pid}/task/{tid}/stat")
        if fields is None:
            continue
        if name.startswith("hotrepl"):
            threads[f"{name}/{tid}"] = int(fields[11]) + int(fields[12])
    return threads
