"""`1+1` round trips through the REPL server of a live asyncio host (bench/peers/host.py):
hotrepl's plain line mode and native protocol, side by side with the peers' servers, each
driven by its natural client, all measured in this run."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness import (
    HOTREPL, Host, NativeClient, OneCpu, Stats, available_peers, goal, natural_client, ratio, rtt_client,
    rtt_client_built, skipped, table,
)

RUNS = int(os.environ.get("BENCH_ATTACH_ROUNDTRIPS", "2000"))
# A slow peer stops sooner: unpythonic's prompt can wait on TCP's delayed ACK (~44 ms a trip).
SECONDS = float(os.environ.get("BENCH_ATTACH_SECONDS", "15"))
# Paths take turns in blocks, so that the machine's slow and fast spells (round trips here
# move between ~40 and ~80 µs from one minute to the next) fall on all of them alike.
BLOCKS = 10
WARM_UP = 200  # round trips before the first block
REWARM = 20  # and before each later one, after the host was paused


class PythonTrips:
    """Round trips through a Python client that stays connected from block to block."""

    def __init__(self, client):
        self.client = client
        self.warm_up = WARM_UP

    def block(self, count: int, seconds: float) -> list[float]:
        deadline = time.perf_counter() + 2
        for _ in range(self.warm_up):
            self.client.run("1+1")
            if time.perf_counter() > deadline:
                break
        self.warm_up = REWARM
        samples = []
        deadline = time.perf_counter() + seconds
        while len(samples) < count and time.perf_counter() < deadline:
            started = time.perf_counter()
            out = self.client.run("1+1")
            samples.append(time.perf_counter() - started)
            # The value is the last line (ipykernel may warn first: its output cache is full).
            if out.splitlines()[-1:] != ["2"]:
                raise RuntimeError(f"`1+1` gave {out!r}")
        return samples

    def close(self) -> None:
        self.client.close()


class RustTrips:
    """bench/rtt-client: a new connection each block; it warms up by itself."""

    def __init__(self, address: str):
        self.address = address

    def block(self, count: int, seconds: float) -> list[float]:
        return [float(us) / 1e6 for us in rtt_client(self.address, str(count), "1+1")]

    def close(self) -> None:
        pass


@dataclass
class Path:
    server: str
    label: str
    open: Callable[[str], PythonTrips | RustTrips]  # given the host's address
    judged: bool = False  # hotrepl's goals are judged on it
    env: dict[str, str] | None = None  # added to the host's environment
    host: Host | None = None
    trips: PythonTrips | RustTrips | None = None
    samples: list[float] = field(default_factory=list)
    failure: str | None = None

    def fail(self, e: Exception) -> None:
        self.failure = skipped(e)


def paths() -> list[Path]:
    # The goals are about the two ways people reach hotrepl: nc-style line mode, the native client.
    found = [Path("hotrepl", "line mode, Python line client", lambda a: PythonTrips(natural_client(HOTREPL, a)), True)]
    if rtt_client_built():
        found.append(Path("hotrepl", "native protocol, Rust client", RustTrips, True))
    found.append(Path("hotrepl", "native protocol, Python client (tests/protocol.py)",
                      lambda a: PythonTrips(NativeClient(a))))
    for peer in available_peers():
        found.append(Path(peer.name, peer.path, lambda a, peer=peer: PythonTrips(natural_client(peer, a))))
    return found


def measure(chosen: list[Path]) -> None:
    """Every path gets its own host; hosts not taking their turn are paused (SIGSTOP), so
    that their tickers do not disturb the one measured."""
    try:
        for path in chosen:
            try:
                path.host = Host(path.server, env=path.env)
                path.trips = path.open(path.host.address)
                path.host.pause()
            except Exception as e:
                path.fail(e)
        for _ in range(BLOCKS):
            for path in chosen:
                if path.failure:
                    continue
                path.host.resume()
                try:
                    path.samples += path.trips.block(RUNS // BLOCKS, SECONDS / BLOCKS)
                except Exception as e:
                    path.fail(e)
                path.host.pause()
    finally:
        for path in chosen:
            if path.trips:
                path.trips.close()
            if path.host:
                path.host.close()


def main() -> None:
    chosen = paths()
    with OneCpu() as where:
        measure(chosen)
    results = [(p.server, p.label, p.failure or Stats(p.samples), p.judged) for p in chosen]

    manhole = next((s for server, _, s, _ in results if server == "manhole" and isinstance(s, Stats)), None)
    rows = []
    for server, path, stats, _ in results:
        if isinstance(stats, str):
            rows.append([server, path, stats, "", "", "", ""])
            continue
        vs = ratio(stats.median, manhole.median) if manhole else "-"
        rows.append([server, path, len(stats.samples), f"{stats.median * 1e6:.1f}",
                     f"{stats.percentile(0.99) * 1e6:.1f}", f"{max(stats.samples) * 1e6:.0f}", vs])
    print(table(
        f"`1+1` round trip through a live asyncio host's REPL server, until the next prompt or reply "
        f"(up to {RUNS} round trips or {SECONDS:.0f} s in {BLOCKS} turns, after a warm-up)",
        ["server", "path / client", "round trips", "median µs", "p99 µs", "max µs", "median vs manhole"],
        rows,
    ))
    print(where)
    for server, path, stats, judged in results:
        if not judged:
            continue
        measured = isinstance(stats, Stats)
        median_met = stats.median <= 0.75 * manhole.median if measured and manhole else None
        print(goal(f"hotrepl {path}: median <= 0.75x manhole's", median_met))
        print(goal(f"hotrepl {path}: p99 < 100 µs", stats.percentile(0.99) < 100e-6 if measured else None))


if __name__ == "__main__":
    main()
