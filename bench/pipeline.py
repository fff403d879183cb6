"""What the cell pipeline's stages cost on the hot path: the `1+1` round trip through a live
asyncio host's Unix socket, with this build and with the build before the input-
transformation stage (BASELINE), in turns within one run. Goal: at most 5% slower."""

from __future__ import annotations

import os

from attach_roundtrip import BLOCKS, RUNS, SECONDS, PythonTrips, RustTrips
from baseline import baseline_python
from harness import HOTREPL, Host, OneCpu, Stats, goal, natural_client, rtt_client_built, table

# The last commit before the transform stage (issue 8's starting point).
BASELINE = "a56acc7"


def main() -> None:
    old_python = baseline_python(BASELINE)
    if old_python is None or not rtt_client_built():
        return
    import sys

    builds = {"this build": sys.executable, f"baseline ({os.environ.get('BENCH_BASELINE_REV', BASELINE)})": old_python}
    openers = {
        "native protocol, Rust client": RustTrips,
        "line mode, Python line client": lambda address: PythonTrips(natural_client(HOTREPL, address)),
    }
    samples = {(b, o): [] for b in builds for o in openers}
    hosts, trips = {}, {}
    with OneCpu() as where:
        try:
            for build, python in builds.items():
                hosts[build] = Host("hotrepl", python)
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
    rows = []
    baseline_name = list(builds)[1]
    for label in openers:
        old = Stats(samples[baseline_name, label])
        for build in builds:
            stats = Stats(samples[build, label])
            rows.append([label, build, len(stats.samples), f"{stats.median * 1e6:.1f}",
                         f"{stats.percentile(0.99) * 1e6:.1f}", f"{stats.median / old.median:.3f}x"])
    print(table(
        "`1+1` round trip through a live asyncio host, this build and the baseline in turns",
        ["path / client", "build", "round trips", "median µs", "p99 µs", "median vs baseline"], rows,
    ))
    print(where)
    for label in openers:
        new, old = Stats(samples[list(builds)[0], label]), Stats(samples[baseline_name, label])
        print(goal(f"{label}: median at most 1.05x the baseline's", new.median <= 1.05 * old.median))


if __name__ == "__main__":
    main()
