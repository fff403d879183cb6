"""`1+1` round trips through the REPL server of a live asyncio host (bench/peers/host.py):
hotrepl's plain line mode and native protocol, side by side with the peers' servers, each
driven by its natural client, all measured in this run."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from harness import (
    HOTREPL, RTT_CLIENT, Host, LineClient, NativeClient, Stats, available_peers, goal, natural_client, ratio,
    rtt_client, table,
)

RUNS = int(os.environ.get("BENCH_ATTACH_ROUNDTRIPS", "2000"))
# A slow peer stops sooner: unpythonic's prompt waits on TCP's delayed ACK (~44 ms a trip).
SECONDS = float(os.environ.get("BENCH_ATTACH_SECONDS", "15"))
WARM_UP = 200


def python_round_trips(client) -> Stats:
    deadline = time.perf_counter() + 2
    for _ in range(WARM_UP):
        client.run("1+1")
        if time.perf_counter() > deadline:
            break
    samples = []
    deadline = time.perf_counter() + SECONDS
    while len(samples) < RUNS and time.perf_counter() < deadline:
        started = time.perf_counter()
        out = client.run("1+1")
        samples.append(time.perf_counter() - started)
        if out.strip() != "2":
            raise RuntimeError(f"`1+1` gave {out!r}")
    client.close()
    return Stats(samples)


def rust_round_trips(address: str) -> Stats:
    """bench/rtt-client warms up by itself and prints microseconds."""
    return Stats([float(us) / 1e6 for us in rtt_client(address, str(RUNS), "1+1")])


def measure(server: str, run: Callable[[str], Stats]) -> Stats | str:
    """Round trips against a fresh host serving `server`; why not, if that failed."""
    try:
        with Host(server) as host:
            return run(host.address)
    except Exception as e:  # a peer that breaks is reported, the benchmark goes on
        return f"skipped: {type(e).__name__}: {e}"


def main() -> None:
    # (server, path, run, whether hotrepl's goals are judged on it): the goals are about the
    # two ways people reach hotrepl, nc-style line mode and the native client.
    paths = [("hotrepl", "line mode, Python line client", lambda a: python_round_trips(LineClient(a, HOTREPL)), True)]
    if os.path.exists(RTT_CLIENT):
        paths.append(("hotrepl", "native protocol, Rust client", rust_round_trips, True))
    else:
        print(f"({RTT_CLIENT} is not built: the Rust client row is skipped)")
    paths.append(("hotrepl", "native protocol, Python client (tests/protocol.py)",
                  lambda a: python_round_trips(NativeClient(a)), False))
    for peer in available_peers():
        client = "Python line client" if peer.prompt else "jupyter_client BlockingKernelClient"
        paths.append((peer.name, f"{peer.transport}, {client}",
                      lambda a, peer=peer: python_round_trips(natural_client(peer, a)), False))
    results = [(server, path, measure(server, run), judged) for server, path, run, judged in paths]

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
        f"(up to {RUNS} round trips or {SECONDS:.0f} s, after a warm-up)",
        ["server", "path / client", "round trips", "median µs", "p99 µs", "max µs", "median vs manhole"],
        rows,
    ))
    for server, path, stats, judged in results:
        if not judged:
            continue
        measured = isinstance(stats, Stats)
        median_met = stats.median <= 0.75 * manhole.median if measured and manhole else None
        print(goal(f"hotrepl {path}: median <= 0.75x manhole's", median_met))
        print(goal(f"hotrepl {path}: p99 < 100 µs", stats.percentile(0.99) < 100e-6 if measured else None))


if __name__ == "__main__":
    main()
