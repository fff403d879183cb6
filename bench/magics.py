"""Inspection and magics, against the references users know, in one run:

- `%timeit pass` and `%timeit sum(range(100))`: hotrepl's per-loop figure beside CPython's
  own `timeit` and IPython's `%timeit` on the same statement, loop count and runs (goal:
  within 10% of `timeit`'s);
- `obj?` on a class with 5,000 attributes: latency (median, p99) beside IPython's `obj?`;
- `%tasks` in a live asyncio program with 10,000 tasks: how long it takes, and the
  program's loop's worst stall meanwhile.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

from harness import Host, NativeClient, Stats, goal, start_local_kernel, table
from protocol import Client

STATEMENTS = ["pass", "sum(range(100))"]
RUNS = 7
HELP_TRIALS = int(os.environ.get("BENCH_HELP_TRIALS", "200"))
TASKS = int(os.environ.get("BENCH_TASKS", "10000"))
BIG_CLASS = "class Big:\n    '''Many attributes.'''\n\nfor i in range(5000):\n    setattr(Big, f'attribute_{i}', i)"

_UNITS = {"ns": 1e-9, "µs": 1e-6, "\u03bcs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0, "nsec": 1e-9, "usec": 1e-6, "msec": 1e-3, "sec": 1.0}


def seconds(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def timeit_rows() -> list[list[str]]:
    proc, sock = start_local_kernel()
    client = Client(sock, timeout=300)
    rows, verdicts = [], []
    try:
        for statement in STATEMENTS:
            out = client.execute(f"%timeit -r {RUNS} {statement}").stdout
            match = re.match(r"([\d.]+) (\S+) ± [\d.]+ \S+ per loop \(mean ± std\. dev\. of \d+ runs?, ([\d,]+) loops? each\)", out)
            if not match:
                raise RuntimeError(f"%timeit said {out!r}")
            ours = seconds(match.group(1), match.group(2))
            loops = int(match.group(3).replace(",", ""))
            reference = cpython_timeit(statement, loops)
            ipython = ipython_timeit(statement, loops)
            rows.append([statement, f"{loops:,}", f"{ours * 1e9:.1f}", f"{reference * 1e9:.1f}",
                         f"{ipython * 1e9:.1f}" if ipython else "not installed", f"{ours / reference:.3f}x"])
            verdicts.append((statement, abs(ours / reference - 1) <= 0.10))
    finally:
        sock.close()
        proc.wait(timeout=10)
    print(table(
        f"`%timeit` per loop: mean of {RUNS} runs of the same loop count, ns",
        ["statement", "loops per run", "hotrepl %timeit", "CPython timeit", "IPython %timeit", "hotrepl vs timeit"], rows,
    ))
    for statement, met in verdicts:
        print(goal(f"%timeit {statement}: within 10% of CPython's timeit", met))
    return rows


def cpython_timeit(statement: str, loops: int) -> float:
    code = (
        "import statistics, sys, timeit\n"
        f"runs = timeit.Timer({statement!r}).repeat({RUNS}, {loops})\n"
        f"print(statistics.mean(runs) / {loops})"
    )
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def ipython_timeit(statement: str, loops: int) -> float | None:
    ipython = shutil.which("ipython", path=os.path.dirname(sys.executable))
    if ipython is None:
        return None
    done = subprocess.run([ipython, "--no-banner", "--colors=NoColor", "-c", f"%timeit -n {loops} -r {RUNS} {statement}"],
                          capture_output=True, text=True)
    match = re.search(r"([\d.]+) (\S+) ± [\d.]+ \S+ per loop", done.stdout)
    return seconds(match.group(1), match.group(2)) if match else None


def hotrepl_help() -> Stats:
    proc, sock = start_local_kernel()
    client = Client(sock, timeout=60)
    try:
        client.execute(BIG_CLASS)
        client.execute("Big?")  # the first one imports inspect and friends
        samples = []
        for _ in range(HELP_TRIALS):
            started = time.perf_counter()
            page = client.execute("Big?").page
            samples.append(time.perf_counter() - started)
            if "Many attributes." not in page:
                raise RuntimeError(f"Big? showed {page!r}")
        return Stats(samples)
    finally:
        sock.close()
        proc.wait(timeout=10)


IPYTHON_HELP = f"""
import io, sys, time, contextlib
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_cell({BIG_CLASS!r})
with contextlib.redirect_stdout(io.StringIO()):
    shell.run_cell("Big?")
samples = []
for _ in range({HELP_TRIALS}):
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        started = time.perf_counter()
        shell.run_cell("Big?")
        samples.append(time.perf_counter() - started)
    assert "Many attributes." in shown.getvalue(), shown.getvalue()
print(" ".join(map(str, samples)))
"""


def ipython_help() -> Stats | None:
    import importlib.util

    if importlib.util.find_spec("IPython") is None:
        return None
    done = subprocess.run([sys.executable, "-c", IPYTHON_HELP], capture_output=True, text=True)
    if done.returncode:
        print(f"(IPython's obj? failed: {done.stderr.strip()[-300:]})")
        return None
    return Stats([float(s) for s in done.stdout.split()])


def help_rows() -> None:
    ours, theirs = hotrepl_help(), ipython_help()
    rows = [["hotrepl (local kernel, through its socket)", len(ours.samples), f"{ours.median * 1e3:.2f}", f"{ours.percentile(0.99) * 1e3:.2f}"]]
    if theirs:
        rows.append(["IPython (in process)", len(theirs.samples), f"{theirs.median * 1e3:.2f}", f"{theirs.percentile(0.99) * 1e3:.2f}"])
    print(table("`Big?` on a class with 5,000 attributes, ms", ["", "trials", "median ms", "p99 ms"], rows))
    if theirs:
        print(f"IPython takes {theirs.median / ours.median:.1f}x as long (median)")
        print(goal("obj? sooner than IPython's (median)", ours.median < theirs.median))


def tasks_rows() -> None:
    with Host("hotrepl") as host:
        client = NativeClient(host.address).client
        client.execute("import asyncio\nasync def nap():\n    await asyncio.sleep(3600)")
        client.execute(f"naps = [asyncio.create_task(nap(), name=f'nap-{{i}}') for i in range({TASKS})]\n"
                       "await asyncio.sleep(0)")
        client.execute("%tasks")  # the first one imports the magics
        host.reset_gap()
        started = time.perf_counter()
        listing = client.execute("%tasks").stdout
        took = time.perf_counter() - started
        stall = host.max_gap()
        if listing.count(" nap-") != TASKS:
            raise RuntimeError(f"%tasks listed {listing[-200:]!r}")
        # For scale: any plain cell that keeps the interpreter busy shares the GIL with the
        # program's loop thread like this.
        host.reset_gap()
        busy_started = time.perf_counter()
        client.execute("for _ in range(3 * 10**6): pass")
        busy_took = time.perf_counter() - busy_started
        busy_stall = host.max_gap()
        client.close()
    print(table(f"`%tasks` in a live asyncio program with {TASKS:,} tasks", ["", "time", "the program loop's worst stall (ticker every 10 ms)"], [
        ["`%tasks` (round trip)", f"{took * 1e3:.0f} ms", f"{stall * 1e3:.1f} ms"],
        ["for scale: a busy plain cell (`for _ in range(3 * 10**6): pass`)", f"{busy_took * 1e3:.0f} ms", f"{busy_stall * 1e3:.1f} ms"],
    ]))


def main() -> None:
    timeit_rows()
    help_rows()
    tasks_rows()


if __name__ == "__main__":
    main()
