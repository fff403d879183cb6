"""hotrepl as a Jupyter kernel beside ipykernel, both driven by jupyter_client in this run:
the `1+1` round trip (execute, up to the result and the kernel's idle status and reply) with
a kernel process started from its kernelspec and with a live asyncio program serving
Jupyter (`hotrepl.start(jupyter=True)`, ipykernel embedded on the program's loop), and a
kernel's start-up: from launching its process to its first `kernel_info_reply`.
Goal: hotrepl's kernel at least 5x faster than ipykernel's on both."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from harness import Host, JupyterClient, OneCpu, Stats, goal, installed, skipped, table

ROUNDTRIPS = int(os.environ.get("BENCH_JUPYTER_ROUNDTRIPS", "1000"))
STARTS = int(os.environ.get("BENCH_JUPYTER_STARTS", "10"))
BLOCKS = 10  # the kernels take turns in blocks, so the machine's slow spells fall on all alike
WARM_UP = 50
TIMEOUT = 30.0
GOAL = 5.0


class Kernels:
    """The two kernels' command lines: hotrepl's from the kernelspec `hotrepl kernel
    install` writes, ipykernel's as its own kernelspec runs it; and an environment that
    keeps what they write (history, IPython's profile) in a scratch directory."""

    def __init__(self) -> None:
        self.scratch = tempfile.mkdtemp(prefix="bench-jupyter-")
        self.env = dict(os.environ, JUPYTER_DATA_DIR=os.path.join(self.scratch, "jupyter"),
                        XDG_DATA_HOME=os.path.join(self.scratch, "data"), IPYTHONDIR=os.path.join(self.scratch, "ipython"))
        hotrepl = os.path.join(os.path.dirname(sys.executable), "hotrepl")
        subprocess.run([hotrepl, "--python", sys.executable, "kernel", "install", "--user"], env=self.env, check=True,
                       capture_output=True)
        spec = os.path.join(self.env["JUPYTER_DATA_DIR"], "kernels", "hotrepl", "kernel.json")
        with open(spec) as f:
            self.argv = {"hotrepl": json.load(f)["argv"],
                         "ipykernel": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]}

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


class KernelProcess:
    """A kernel process on a connection file of its own (loopback, fresh ports and key)."""

    def __init__(self, kernels: Kernels, name: str, context=None):
        from jupyter_client import BlockingKernelClient
        from jupyter_client.connect import write_connection_file

        path = os.path.join(kernels.scratch, f"kernel-{uuid.uuid4().hex}.json")
        self.connection_file, _ = write_connection_file(path, ip="127.0.0.1", key=uuid.uuid4().hex.encode())
        self.argv = [a.replace("{connection_file}", self.connection_file) for a in kernels.argv[name]]
        self.env = kernels.env
        self.client = BlockingKernelClient(connection_file=self.connection_file, **({"context": context} if context else {}))
        self.client.load_connection_file()
        self.proc = None

    def launch(self) -> None:
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def close(self) -> None:
        if self.proc is not None:
            try:
                self.client.shutdown()
                self.proc.wait(timeout=5)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        self.client.stop_channels()


def start_up(kernels: Kernels, name: str) -> float:
    """Seconds from launching the kernel's process to its first kernel_info_reply. The client
    is connected first, retrying every millisecond, so the request leaves as soon as the
    kernel listens."""
    import zmq

    context = zmq.Context()
    context.setsockopt(zmq.RECONNECT_IVL, 1)
    kernel = KernelProcess(kernels, name, context)
    kernel.client.start_channels(hb=False)
    try:
        started = time.perf_counter()
        kernel.launch()
        msg_id = kernel.client.kernel_info()
        while kernel.client.get_shell_msg(timeout=TIMEOUT)["parent_header"].get("msg_id") != msg_id:
            pass
        return time.perf_counter() - started
    finally:
        kernel.close()
        context.term()


def start_ups(kernels: Kernels) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in kernels.argv}
    for _ in range(STARTS):
        for name in kernels.argv:
            times[name].append(start_up(kernels, name))
    return times


class Trips:
    """`1+1` round trips through jupyter_client to one kernel, block by block."""

    def __init__(self, connection_file: str):
        self.client = JupyterClient(connection_file)
        for _ in range(WARM_UP):
            self.run()

    def run(self) -> float:
        started = time.perf_counter()
        out = self.client.run("1+1")
        if out.splitlines()[-1:] != ["2"]:
            raise RuntimeError(f"`1+1` gave {out!r}")
        return time.perf_counter() - started

    def block(self, count: int) -> list[float]:
        return [self.run() for _ in range(count)]

    def close(self) -> None:
        self.client.close()


def round_trips(kernels: Kernels) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Round trips per path, the paths taking turns in blocks; and why a path was skipped."""
    samples: dict[str, list[float]] = {}
    failed: dict[str, str] = {}
    trips: dict[str, Trips] = {}
    owned: list = []
    try:
        for name in kernels.argv:
            label = f"{name}: a kernel process from its kernelspec"
            try:
                kernel = KernelProcess(kernels, name)
                owned.append(kernel)
                kernel.launch()
                trips[label] = Trips(kernel.connection_file)
            except Exception as e:
                failed[label] = skipped(e)
        for server, name in (("hotrepl-jupyter", "hotrepl"), ("ipykernel", "ipykernel")):
            label = f"{name}: a live asyncio program's own kernel"
            try:
                host = Host(server, env={"XDG_DATA_HOME": kernels.env["XDG_DATA_HOME"]})
                owned.append(host)
                trips[label] = Trips(host.address)
            except Exception as e:
                failed[label] = skipped(e)
        samples = {label: [] for label in trips}
        for _ in range(BLOCKS):
            for label, t in trips.items():
                samples[label] += t.block(ROUNDTRIPS // BLOCKS)
    finally:
        for t in trips.values():
            t.close()
        for thing in owned:
            thing.close()
    return samples, failed


def main() -> None:
    if not (installed("jupyter_client") and installed("ipykernel")):
        return
    kernels = Kernels()
    try:
        with OneCpu() as where:
            samples, failed = round_trips(kernels)
            starts = start_ups(kernels)
    finally:
        kernels.close()

    rows = []
    for label, trips in samples.items():
        stats = Stats(trips)
        rows.append([label, len(trips), f"{stats.median * 1e6:.1f}", f"{stats.percentile(0.99) * 1e6:.1f}"])
    rows += [[label, "-", reason, ""] for label, reason in failed.items()]
    print(table("`1+1` round trip through jupyter_client (execute, up to the result, the idle status and the reply)",
                ["kernel", "round trips", "median µs", "p99 µs"], rows))
    start_rows = [[name, " / ".join(f"{t * 1e3:.0f}" for t in sorted(times)), f"{statistics.median(times) * 1e3:.1f}"]
                  for name, times in starts.items()]
    print(table(f"Kernel start-up: launching its process to its first kernel_info_reply, {STARTS} starts each",
                ["kernel", "ms per start (sorted)", "median ms"], start_rows))
    print(where)

    def median(label: str) -> float | None:
        return Stats(samples[label]).median if label in samples else None

    for setting in ("a kernel process from its kernelspec", "a live asyncio program's own kernel"):
        mine, theirs = median(f"hotrepl: {setting}"), median(f"ipykernel: {setting}")
        met = None if mine is None or theirs is None else mine * GOAL <= theirs
        print(goal(f"round trip, {setting}: median at least {GOAL:.0f}x faster than ipykernel's", met))
    mine, theirs = statistics.median(starts["hotrepl"]), statistics.median(starts["ipykernel"])
    print(goal(f"start-up to the first kernel_info_reply: median at least {GOAL:.0f}x faster than ipykernel's",
               mine * GOAL <= theirs))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
