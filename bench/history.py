"""What history costs: the `1+1` round trip through a live asyncio host (bench/peers/host.py)
with history on and off, hosts taking turns in one run; and `hotrepl history PATTERN` over
100,000 cells a host recorded, from the shell (process start included)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

from attach_roundtrip import Path, PythonTrips, RustTrips, measure
from harness import (
    HOTREPL, Host, NativeClient, OneCpu, Stats, goal, natural_client, ratio, rtt_client_built, skipped, table,
)

CELLS = int(os.environ.get("BENCH_HISTORY_CELLS", "100000"))
CELLS_PER_SESSION = 10_000
SEARCHES = int(os.environ.get("BENCH_HISTORY_SEARCHES", "20"))
HOTREPL_BIN = os.path.join(os.path.dirname(sys.executable), "hotrepl")
SEARCH_GOAL = 0.100  # seconds
# Inputs like `value_4242 = 4242 * 2`: what to look for, and how many cells it finds.
PATTERNS = [
    (["value_4242 "], "a substring, 1 cell"),
    (["value_42[0-9]{2} ", "--regex"], "a regular expression, 100 cells"),
    (["no such text"], "a substring, no cell"),
]


def roundtrip_paths(db: str) -> list[Path]:
    """The same paths with history on (recording in `db`) and off."""
    found = []
    for state, env in [("on", {"HOTREPL_HISTORY_DB": db}), ("off", {"HOTREPL_HISTORY_DISABLE": "1"})]:
        if rtt_client_built():
            found.append(Path("hotrepl", f"native protocol, Rust client, history {state}", RustTrips, True, env))
        else:
            found.append(Path("hotrepl", f"native protocol, Python client, history {state}",
                              lambda a: PythonTrips(NativeClient(a)), True, env))
        found.append(Path("hotrepl", f"line mode, Python line client, history {state}",
                          lambda a: PythonTrips(natural_client(HOTREPL, a)), False, env))
    return found


def cost_per_cell(db: str) -> None:
    paths = roundtrip_paths(db)
    with OneCpu() as where:
        measure(paths)
    by_label = {p.label: p for p in paths}
    rows, verdicts = [], []
    for path in paths:
        if not path.label.endswith("on"):
            continue
        off = by_label[path.label[: -len("on")] + "off"]
        if path.failure or off.failure:
            rows.append([path.label.removesuffix(", history on"), path.failure or off.failure, "", "", ""])
            continue
        on_s, off_s = Stats(path.samples), Stats(off.samples)
        extra = on_s.median - off_s.median
        rows.append([path.label.removesuffix(", history on"), f"{off_s.median * 1e6:.1f}", f"{on_s.median * 1e6:.1f}",
                     f"{extra * 1e6:+.1f}", ratio(on_s.median, off_s.median)])
        if path.judged:
            allowed = max(0.05 * off_s.median, 5e-6)
            verdicts.append(goal(f"{path.label.removesuffix(', history on')}: history adds at most +5% or +5 µs "
                                 f"(here {allowed * 1e6:.1f} µs) to the median", extra <= allowed))
    print(table("`1+1` round trip through a live asyncio host, history off and on (hosts in turns, medians)",
                ["path / client", "off µs", "on µs", "history costs µs", "on vs off"], rows))
    print(where)
    for verdict in verdicts:
        print(verdict)


def fill(db: str) -> int:
    """Runs CELLS cells in a host recording in `db`, CELLS_PER_SESSION per session; returns
    how many seconds that took."""
    started = time.perf_counter()
    with Host("hotrepl", env={"HOTREPL_HISTORY_DB": db}) as host:
        n = 0
        while n < CELLS:
            client = NativeClient(host.address).client
            for _ in range(min(CELLS_PER_SESSION, CELLS - n)):
                client.execute(f"value_{n} = {n} * 2")
                n += 1
            client.close()
    # The host has exited: whatever it recorded is written.
    return time.perf_counter() - started


def search_times(db: str, args: list[str]) -> tuple[Stats, int]:
    """Seconds each `hotrepl history ARGS` took, and how many cells it listed."""
    env = dict(os.environ, HOTREPL_HISTORY_DB=db)
    samples, found = [], 0
    for _ in range(SEARCHES):
        started = time.perf_counter()
        done = subprocess.run([HOTREPL_BIN, "history", *args], env=env, capture_output=True, text=True)
        samples.append(time.perf_counter() - started)
        if done.returncode:
            raise RuntimeError(f"hotrepl history failed: {done.stderr.strip()}")
        found = sum(1 for line in done.stdout.splitlines() if line.startswith("# "))
    return Stats(samples), found


def search(db: str) -> None:
    try:
        seconds = fill(db)
    except Exception as e:
        print(f"(search benchmark {skipped(e)})")
        return
    print(f"(recorded {CELLS} cells in {seconds:.1f} s through the native protocol: "
          f"{seconds / CELLS * 1e6:.0f} µs a cell, round trip included)")
    rows, verdicts = [], []
    for args, what in PATTERNS:
        stats, found = search_times(db, args)
        rows.append([shlex.join(["hotrepl", "history", *args]), what, found, f"{stats.median * 1e3:.1f}",
                     f"{max(stats.samples) * 1e3:.1f}"])
        verdicts.append(goal(f"`hotrepl history` {what}, over {CELLS} cells: median < {SEARCH_GOAL * 1e3:.0f} ms",
                             stats.median < SEARCH_GOAL))
    print(table(f"`hotrepl history PATTERN` over {CELLS} stored cells, {SEARCHES} runs each (process start included)",
                ["command", "searches", "cells found", "median ms", "max ms"], rows))
    for verdict in verdicts:
        print(verdict)


def main() -> None:
    workdir = tempfile.mkdtemp(prefix="bench-history-")
    try:
        cost_per_cell(os.path.join(workdir, "roundtrip.sqlite"))
        search(os.path.join(workdir, "search.sqlite"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
