"""Shared pieces of the benchmarks: a pseudo-terminal driver (the tests' own) that answers
the cursor position queries line editors send, statistics, side-by-side tables, and for the attach
benchmarks a host program serving one REPL server plus a client for each kind of server."""

from __future__ import annotations

import importlib.util
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
sys.path.insert(0, os.path.join(REPO, "tests"))
import protocol  # noqa: E402  (tests/protocol.py: the native protocol in Python)
from protocol import Client as ProtocolClient, start_local_kernel  # noqa: E402
from terminal import PtyTerminal  # noqa: E402  (tests/terminal.py: it answers the cursor query)


class Pty(PtyTerminal):
    """A program on a pseudo-terminal, read as raw bytes, with the time it was started
    and the times things appeared."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, cols: int = 120, rows: int = 40):
        self.started = time.perf_counter()
        super().__init__(argv, {**os.environ, **(env or {})})
        import fcntl, struct, termios

        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def read_until(self, needle: bytes, start: int = 0, timeout: float = 30.0) -> float:
        """Reads until `needle` appears after offset `start`; returns the time it did."""
        super().read_until(needle, since=start, timeout=timeout)
        return time.perf_counter()


@dataclass
class Stats:
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def prompt_programs() -> list[tuple[str, list[str], bytes]]:
    """The prompts hotrepl is compared with at the keyboard, installed in this venv: name,
    command line, and the prompt it shows when ready for input."""
    bin_dir = os.path.dirname(sys.executable)
    found = [
        ("hotrepl", [os.path.join(bin_dir, "hotrepl")], b">>> "),
        ("python -m asyncio", [sys.executable, "-m", "asyncio"], b">>> "),
        ("python (bare, no asyncio)", [sys.executable], b">>> "),
    ]
    ipython = os.path.join(bin_dir, "ipython")
    if os.path.exists(ipython):
        found.append(("ipython", [ipython, "--no-banner", "--colors=NoColor"], b"In ["))
    else:
        print("(ipython is not installed in this venv: skipped)")
    return found


def table(title: str, columns: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)), *(len(str(r[i])) for r in rows)) for i, c in enumerate(columns)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    out = [f"\n### {title}\n", line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}x"


def goal(text: str, met: bool | None) -> str:
    """A goal and its verdict; None when it could not be judged (a peer was not measured)."""
    verdict = "not judged (not measured)" if met is None else "met" if met else "missed"
    return f"goal: {text}: {verdict}"


class OneCpu:
    """Runs this process and the children it starts on one CPU, for round trips of tens of
    microseconds. On a VM whose idle vCPUs halt (no guest halt polling), waking a process
    on the other, idle vCPU costs ~20-40 µs: unpinned, round trips here swing between ~20
    and ~70 µs by where the scheduler happens to put each side, which drowns what the
    servers themselves cost. On one CPU every path pays the same context switches and
    nothing else. `with OneCpu() as note:` gives a line saying which CPU, or why not."""

    def __enter__(self) -> str:
        self.before = os.sched_getaffinity(0)
        if os.environ.get("BENCH_ANY_CPU") or len(self.before) < 2:
            return "(round trips on any CPU)"
        cpu = max(self.before)
        os.sched_setaffinity(0, {cpu})
        return f"(client and host pinned to CPU {cpu}; BENCH_ANY_CPU=1 lets them roam)"

    def __exit__(self, *exc) -> None:
        os.sched_setaffinity(0, self.before)


# ---- attach benchmarks ----------------------------------------------------------------

HOST = os.path.join(BENCH_DIR, "peers", "host.py")
RTT_CLIENT = os.path.join(REPO, "target", "release", "hotrepl-rtt-client")
# Seconds of silence after which a host or a server is taken as stuck (the Rust client's
# STALL is the same).
TIMEOUT = 20.0


@dataclass(frozen=True)
class Server:
    """A REPL server the host program can start (see peers/servers.py) and how to talk to it."""

    name: str  # also the module that must be importable for it to run
    transport: str  # as shown in tables
    prompt: str | None = None  # line protocol prompts; None: not a line protocol
    continuation: str | None = None

    @property
    def path(self) -> str:
        """How its natural client reaches it, as shown in tables."""
        client = "Python line client" if self.prompt else "jupyter_client BlockingKernelClient"
        return f"{self.transport}, {client}"


HOTREPL = Server("hotrepl", "Unix socket", ">>> ", "... ")
PEERS = [
    Server("manhole", "Unix socket", ">>> ", "... "),
    Server("aioconsole", "Unix socket", ">>> ", "... "),
    Server("unpythonic", "TCP loopback", ">>>> ", ".... "),
    Server("ipykernel", "ZMQ over TCP loopback"),
]


def installed(module: str) -> bool:
    """Whether `module` can be imported here; says so when it cannot (it is skipped)."""
    found = importlib.util.find_spec(module) is not None
    if not found:
        print(f"({module} is not installed: skipped)")
    return found


def available_peers() -> list[Server]:
    return [peer for peer in PEERS if installed(peer.name)]


def skipped(e: Exception) -> str:
    """A table cell for a measurement that failed: a peer that breaks is reported, and the
    benchmark goes on."""
    return f"skipped: {type(e).__name__}: {e}"


class HostFailed(Exception):
    pass


class Host:
    """bench/peers/host.py serving `server` (or "none"): an asyncio app ticking every 10 ms,
    run by `python` (another installation of hotrepl, for comparisons between builds), with
    `env` added to its environment. Its pid, the address its server listens on, and the
    longest gap between its ticks."""

    def __init__(self, server: str, python: str = sys.executable, env: dict[str, str] | None = None):
        self.server = server
        self.workdir = tempfile.mkdtemp(prefix="bench-host-")
        self.log_path = os.path.join(self.workdir, "host.log")
        reports, report_w = os.pipe()
        # Peers that write files outside their socket keep them in the work dir.
        env = dict(os.environ, IPYTHONDIR=os.path.join(self.workdir, "ipython"), JUPYTER_RUNTIME_DIR=self.workdir,
                   **(env or {}))
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [python, HOST, server, self.workdir, str(report_w)],
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, pass_fds=[report_w], env=env,
            )
        os.close(report_w)
        self.reports = reports
        self.pending = b""
        try:
            self.address = self._answer().removeprefix("ready ")
        except HostFailed:
            self.close()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _answer(self, timeout: float = TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.pending:
            ready, _, _ = select.select([self.reports], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise HostFailed(f"host did not answer in {timeout:.0f} s")
            data = os.read(self.reports, 4096)
            if not data:
                with open(self.log_path, errors="replace") as log:
                    last = (log.read().strip().splitlines() or ["(no output)"])[-1]
                raise HostFailed(f"host exited: {last}")
            self.pending += data
        line, self.pending = self.pending.split(b"\n", 1)
        return line.decode()

    def command(self, line: str) -> str:
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        return self._answer()

    def reset_gap(self) -> None:
        self.command("reset")

    def max_gap(self) -> float:
        """Seconds: the longest gap between two ticks since the last reset_gap()."""
        return float(self.command("gap"))

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def close(self) -> None:
        """Ends the host; says so if its server kept it from exiting or it crashed on the way
        (the benchmarks' numbers stand, but that is a bug to see)."""
        if self.proc.poll() is None:
            self.resume()
        self.proc.stdin.close()  # the host's signal to stop its server and exit
        try:
            if self.proc.wait(10) < 0:
                print(f"(note: the {self.server} host died of signal {-self.proc.returncode} while exiting)")
        except subprocess.TimeoutExpired:
            print(f"(note: the {self.server} host did not exit within 10 s of its end: killed)")
            self.proc.kill()
            self.proc.wait()
        os.close(self.reports)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "Host":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def connect(address: str) -> socket.socket:
    """A Unix socket path or tcp://HOST:PORT; on TCP, small writes leave at once."""
    sock = protocol.connect(address, timeout=TIMEOUT)
    if sock.family != socket.AF_UNIX:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class LineClient:
    """Someone at `nc`: sends a line and reads until the prompt comes back."""

    def __init__(self, address: str, server: Server):
        self.sock = connect(address)
        self.prompt = server.prompt.encode()
        self.continuation = server.continuation.encode()
        self.greeting = self._read_to_prompt()

    def _read_to_prompt(self, answer_continuation: bool = False) -> bytes:
        out = bytearray()
        while not out.endswith(self.prompt):
            # nc's size of read. (A 1 MiB buffer costs each read a fresh mapping, about
            # 40 µs here, which would drown the servers' own differences.)
            data = self.sock.recv(1 << 16)
            if not data:
                raise ConnectionError(f"connection closed; got {bytes(out[-200:])!r}")
            out += data
            # The standard console ends a compound statement with an empty line.
            if answer_continuation and out == self.continuation:
                self.sock.sendall(b"\n")
                out.clear()
        return bytes(out[: -len(self.prompt)])

    def run(self, code: str) -> str:
        """Runs a one-line cell; returns what it printed and its value, up to the next prompt."""
        self.sock.sendall(code.encode() + b"\n")
        return self._read_to_prompt(answer_continuation=True).decode()

    def close(self) -> None:
        self.sock.close()


class NativeClient:
    """hotrepl's native protocol through tests/protocol.py's client (in Python)."""

    def __init__(self, address: str):
        self.client = ProtocolClient(connect(address), timeout=TIMEOUT)

    def run(self, code: str) -> str:
        execution = self.client.execute(code)
        return execution.stdout + (execution.result + "\n" if execution.result is not None else "")

    def close(self) -> None:
        self.client.close()


class JupyterClient:
    """ipykernel's natural client: jupyter_client's BlockingKernelClient on the connection file."""

    def __init__(self, connection_file: str):
        from jupyter_client import BlockingKernelClient

        self.kc = BlockingKernelClient(connection_file=connection_file)
        self.kc.load_connection_file()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=TIMEOUT)

    def run(self, code: str) -> str:
        """Output and value arrive on iopub, up to the kernel's idle status; then the reply."""
        msg_id = self.kc.execute(code)
        out = []
        while True:
            msg = self.kc.get_iopub_msg(timeout=TIMEOUT)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "execute_result":
                out.append(content["data"]["text/plain"] + "\n")
            elif kind == "status" and content["execution_state"] == "idle":
                break
        while self.kc.get_shell_msg(timeout=TIMEOUT)["parent_header"].get("msg_id") != msg_id:
            pass
        return "".join(out)

    def close(self) -> None:
        self.kc.stop_channels()


def natural_client(server: Server, address: str) -> LineClient | JupyterClient:
    """The client people use with each server: a line client, or jupyter_client."""
    return LineClient(address, server) if server.prompt else JupyterClient(address)


def rtt_client_built() -> bool:
    """Whether ./dev bench built bench/rtt-client; says so when it did not (its rows are skipped)."""
    built = os.path.exists(RTT_CLIENT)
    if not built:
        print(f"({RTT_CLIENT} is not built: the Rust client rows are skipped)")
    return built


def rtt_client(*args: str) -> list[str]:
    """Runs the Rust bench client (bench/rtt-client); returns its output, split into words."""
    done = subprocess.run([RTT_CLIENT, *args], capture_output=True, text=True, timeout=TIMEOUT * 5)
    if done.returncode:
        raise RuntimeError(f"hotrepl-rtt-client failed: {done.stderr.strip()}")
    return done.stdout.split()
