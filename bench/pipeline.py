"""What the cell pipeline's stages cost on the hot path, against the builds before they came:
the `1+1` round trip through a live asyncio host's Unix socket, and 200,000 lines of output
streamed from a cell, with this build and with each baseline build, in turns within one
run. Goal: at most 5% slower (round trip), at most 5% less throughput (streaming)."""

from __future__ import annotations

import os
import statistics
import sys

from attach_roundtrip import BLOCKS, RUNS, SECONDS, PythonTrips, RustTrips
from attach_throughput import LINES, MEGABYTES, rust_stream
from baseline import baseline_python
from harness import HOTREPL, Host, OneCpu, Stats, goal, natural_client, rtt_client_built, table

# The builds just before each stage came: the input transformation and magics (issue 8),
# the display stage with its formatters and hooks (issue 9), and the separation of the
# kernel logic from its transports, for Jupyter's (issue 12).
BASELINES = {
    "before the transform stage": "a56acc7",
    "before the display stage and hooks": "c899962",
    "before the transports": "b9f353a",
}
STREAM_RUNS = int(os.environ.get("BENCH_PIPELINE_STREAMS", "3"))
# History has a budget of its own (bench/history.py): this build runs without it here, so
# the comparison is of the pipeline alone.
WITHOUT_HISTORY = {"HOTREPL_HISTORY_DISABLE": "1"}


def round_trips(builds: dict[str, str]) -> dict[tuple[str, str], list[float]]:
    """`1+1` round trips per (build, client), the builds taking turns in blocks."""
    openers = {
        "native protocol, Rust client": RustTrips,
        "line mode, Python line client": lambda address: PythonTrips(natural_client(HOTREPL, address)),
    }
    samples = {(b, o): [] for b in builds for o in openers}
    hosts, trips = {}, {}
    try:
        for build, python in builds.items():
            hosts[build] = Host("hotrepl", python, env=WITHOUT_HISTORY)
            for label, opener in openers.items():
                trips[build, label] = opener(hosts[build].address)
            hosts[build].pause()
        for _ in range(BLOCKS):
            for build in builds:
                hosts[build].resume()
                for label in openers:
                    samples[build, label] += trips[build, label].block(RUNS // BLOCKS, SECONDS / BLOCKS)
                hosts[build].pause()
    finally:
        for t in trips.values():
            t.close()
        for h in hosts.values():
            h.close()
    return samples


def streams(builds: dict[str, str]) -> dict[str, list[float]]:
    """MB/s of each build streaming LINES lines to the Rust client, in turns."""
    speeds: dict[str, list[float]] = {b: [] for b in builds}
    hosts = {}
    try:
        for build, python in builds.items():
            hosts[build] = Host("hotrepl", python, env=WITHOUT_HISTORY)
            hosts[build].pause()
        for _ in range(STREAM_RUNS):
            for build in builds:
                hosts[build].resume()
                seconds, intact, done = rust_stream(hosts[build].address)
                hosts[build].pause()
                if not done or intact != LINES:
                    raise RuntimeError(f"{build}: {intact} of {LINES} lines arrived")
                speeds[build].append(MEGABYTES / seconds)
    finally:
        for h in hosts.values():
            h.close()
    return speeds


def main() -> None:
    if not rtt_client_built():
        return
    builds = {"this build": sys.executable}
    for label, rev in BASELINES.items():
        python = baseline_python(rev)
        if python is not None:
            builds[f"{label} ({rev})"] = python
    if len(builds) == 1:
        return
    with OneCpu() as where:
        samples = round_trips(builds)
        speeds = streams(builds)
    rows = []
    for (build, label), trips in samples.items():
        stats, mine = Stats(trips), Stats(samples["this build", label])
        rows.append([label, build, len(trips), f"{stats.median * 1e6:.1f}", f"{stats.percentile(0.99) * 1e6:.1f}",
                     f"{mine.median / stats.median:.3f}x"])
    print(table("`1+1` round trip through a live asyncio host, the builds in turns",
                ["path / client", "build", "round trips", "median µs", "p99 µs", "this build vs it"], rows))
    stream_rows = [[build, " / ".join(f"{s:.0f}" for s in runs), f"{statistics.median(runs):.1f}",
                    f"{statistics.median(speeds['this build']) / statistics.median(runs):.3f}x"]
                   for build, runs in speeds.items()]
    print(table(f"Streaming {LINES:,} lines ({MEGABYTES:.1f} MB) from a cell to the Rust client, the builds in turns",
                ["build", "MB/s per run", "MB/s (median)", "this build vs it"], stream_rows))
    print(where)
    for build in list(builds)[1:]:
        for (b, label), trips in samples.items():
            if b == build:
                mine = Stats(samples["this build", label]).median
                print(goal(f"{label}: median round trip at most 1.05x {build}'s", mine <= 1.05 * Stats(trips).median))
        mine, theirs = statistics.median(speeds["this build"]), statistics.median(speeds[build])
        print(goal(f"streaming: at least 0.95x {build}'s MB/s", mine >= 0.95 * theirs))


if __name__ == "__main__":
    main()
