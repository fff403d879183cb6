"""Output throughput of a cell printing LINES lines of 100 characters through the REPL
server of a live asyncio host, and the longest the host's loop stalled meanwhile (its
ticker runs every 10 ms): hotrepl's line mode and native protocol beside the peers."""

from __future__ import annotations

import os
import queue
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from harness import (
    HOTREPL, Host, available_peers, goal, natural_client, ratio, rtt_client, rtt_client_built, skipped,
    table,
)

LINES = int(os.environ.get("BENCH_THROUGHPUT_LINES", "200000"))
RUNS = int(os.environ.get("BENCH_THROUGHPUT_RUNS", "3"))
LINE = "x" * 100
CELL = f"for i in range({LINES}): print('x' * 100)"
MEGABYTES = LINES * (len(LINE) + 1) / 1e6
TICK = 0.010  # the host's ticker period: a gap beyond it is time the loop was stalled


@dataclass
class Run:
    seconds: float
    intact: int | None  # lines exactly LINE; None when a stalled client could not tell
    done: bool
    gap: float  # the host's longest gap between ticks during the run


# A stream connects to the host's address, runs `1+1` (a session in use), then CELL, and
# returns (seconds, lines intact or None, whether the reply came).


def python_stream(make_client) -> Callable[[str], tuple[float, int | None, bool]]:
    def stream(address: str) -> tuple[float, int | None, bool]:
        client = make_client(address)
        client.run("1+1")
        started = time.perf_counter()
        try:
            out = client.run(CELL)
        except (TimeoutError, queue.Empty):
            return time.perf_counter() - started, None, False
        finally:
            client.close()
        return time.perf_counter() - started, out.split("\n").count(LINE), True
    return stream


def rust_stream(address: str) -> tuple[float, int | None, bool]:
    seconds, _bytes, intact, outcome = rtt_client("stream", address, CELL, LINE)
    return float(seconds), int(intact), outcome == "done"


def measure(server: str, stream: Callable[[str], tuple[float, int | None, bool]]) -> list[Run] | str:
    """RUNS streams against one host serving `server`; why not, if that failed."""
    try:
        with Host(server) as host:
            runs = []
            for _ in range(RUNS):
                host.reset_gap()
                seconds, intact, done = stream(host.address)
                runs.append(Run(seconds, intact, done, host.max_gap()))
                if not done:  # a stalled session would only stall again
                    break
            return runs
    except Exception as e:
        return skipped(e)


def idle_gap(seconds: float) -> float:
    """The host's longest tick gap with no server at all: the noise floor."""
    with Host("none") as host:
        host.reset_gap()
        time.sleep(seconds)
        return host.max_gap()


def main() -> None:
    # (server, path, stream, whether hotrepl's goals are judged on it)
    paths = [("hotrepl", "line mode, Python line client", python_stream(lambda a: natural_client(HOTREPL, a)), True)]
    if rtt_client_built():
        paths.append(("hotrepl", "native protocol, Rust client", rust_stream, True))
    for peer in available_peers():
        paths.append((peer.name, peer.path, python_stream(lambda a, peer=peer: natural_client(peer, a)), False))
    results = [(server, path, measure(server, stream), judged) for server, path, stream, judged in paths]

    def mb_per_s(runs: list[Run]) -> float | None:
        done = [r.seconds for r in runs if r.done]
        return MEGABYTES / statistics.median(done) if done else None

    manhole = next((mb_per_s(r) for s, _, r, _ in results if s == "manhole" and not isinstance(r, str)), None)
    rows = []
    for server, path, runs, _ in results:
        if isinstance(runs, str):
            rows.append([server, path, runs, "", "", "", "", ""])
            continue
        speed = mb_per_s(runs)
        gap = max(r.gap for r in runs)
        rows.append([
            server, path,
            f"{speed:.1f}" if speed else "-",
            " / ".join(f"{r.seconds:.2f}" if r.done else f"stalled ({r.seconds:.0f})" for r in runs),
            " / ".join("?" if r.intact is None else f"{r.intact:,}" for r in runs),
            " / ".join(f"{r.gap * 1e3:.1f}" for r in runs), f"{max(0.0, gap - TICK) * 1e3:.1f}",
            ratio(speed, manhole) if speed and manhole else "-",
        ])
    floor = idle_gap(2.0)
    rows.append(["(no server)", "host alone for 2 s: the noise floor", "", "", "", f"{floor * 1e3:.1f}",
                 f"{max(0.0, floor - TICK) * 1e3:.1f}", ""])
    print(table(
        f"Output throughput: {LINES:,} lines of 100 characters ({MEGABYTES:.1f} MB) printed by one cell, "
        f"{RUNS} runs, each on a new connection after `1+1`; the host loop's worst stall meanwhile",
        ["server", "path / client", "MB/s (median)", "seconds per run", f"lines intact (of {LINES:,})",
         "host max tick gap per run, ms", "worst loop stall, ms (gap - 10)", "MB/s vs manhole"],
        rows,
    ))
    print("(stalled (N): no output and no reply for N seconds; the run was given up)")
    for server, path, runs, judged in results:
        if not judged:
            continue
        measured = not isinstance(runs, str)
        speed = mb_per_s(runs) if measured else None
        lossless = measured and all(r.done and r.intact == LINES for r in runs)
        print(goal(f"hotrepl {path}: MB/s >= 1.5x manhole's, nothing lost",
                   (speed is not None and speed >= 1.5 * manhole and lossless) if measured and manhole else None))
        print(goal(f"hotrepl {path}: host loop stalls <= 15 ms while streaming",
                   max(r.gap for r in runs) - TICK <= 0.015 if measured else None))


if __name__ == "__main__":
    main()
