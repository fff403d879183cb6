"""What an idle REPL server costs its host: CPU and memory of the asyncio host (ticker
every 10 ms) with a server started and one client attached doing nothing, against the
same host with no server at all.

All hosts run side by side through the same windows: between two windows this machine
drifts by more than the effect measured (the bare host's 10 s vary by ~30 ms), while
hosts sharing a window agree to a few ms; two identical no-server hosts show what is left
of the noise."""

from __future__ import annotations

import glob
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from harness import HOTREPL, Host, NativeClient, available_peers, goal, natural_client, skipped, table

SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "10"))
RUNS = int(os.environ.get("BENCH_IDLE_RUNS", "3"))
SETTLE = 2.0
PER_10S = 10.0 / SECONDS
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


@dataclass
class Usage:
    """A process's CPU so far (and its size now)."""

    ticks: int  # utime + stime, in clock ticks
    on_cpu_ns: int  # schedstat, all threads
    off_loop_ns: int  # schedstat, threads other than the main (loop) thread
    threads: int
    rss_kb: int

    @staticmethod
    def of(pid: int) -> "Usage":
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        per_thread = {}
        for task in glob.glob(f"/proc/{pid}/task/*"):
            try:
                with open(f"{task}/schedstat") as f:
                    per_thread[int(os.path.basename(task))] = int(f.read().split()[0])
            except OSError:  # the thread ended meanwhile
                pass
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return Usage(
            ticks=int(fields[11]) + int(fields[12]),
            on_cpu_ns=sum(per_thread.values()),
            off_loop_ns=sum(ns for tid, ns in per_thread.items() if tid != pid),
            threads=len(per_thread),
            rss_kb=rss,
        )


@dataclass
class Config:
    label: str
    server: str
    attach: Callable[[str], object] | None  # opens the idle client, given the address
    judged: bool = False  # hotrepl's goal is judged on it


def configs() -> list[Config]:
    found = [
        Config("no server (ticker only) a", "none", None),
        Config("no server (ticker only) b", "none", None),
        Config("hotrepl: server, no client", "hotrepl", None),
        Config("hotrepl: server + 1 idle line-mode client", "hotrepl", lambda a: natural_client(HOTREPL, a), True),
        Config("hotrepl: server + 1 idle native client", "hotrepl", NativeClient, True),
    ]
    for peer in available_peers():
        found.append(Config(f"{peer.name}: server + 1 idle client", peer.name,
                            lambda a, peer=peer: natural_client(peer, a)))
    return found


def one_window(configs: list[Config]) -> dict[str, tuple[Usage, Usage] | str]:
    """Starts every host with its client, lets them settle, and measures one window."""
    hosts, clients, results = {}, [], {}
    try:
        for config in configs:
            try:
                hosts[config.label] = host = Host(config.server)
                if config.attach:
                    clients.append(config.attach(host.address))
            except Exception as e:
                results[config.label] = skipped(e)
                if config.label in hosts:
                    hosts.pop(config.label).close()
        time.sleep(SETTLE)
        before = {label: Usage.of(host.pid) for label, host in hosts.items()}
        time.sleep(SECONDS)
        results.update({label: (before[label], Usage.of(host.pid)) for label, host in hosts.items()})
        return results
    finally:
        for client in clients:
            client.close()
        for host in hosts.values():
            host.close()


def main() -> None:
    chosen = configs()
    windows = [one_window(chosen) for _ in range(RUNS)]

    def median(label: str, field: str) -> float | None:
        """Median over the windows of a field's growth, per 10 s (None if never measured)."""
        values = [(getattr(w[label][1], field) - getattr(w[label][0], field)) * PER_10S
                  for w in windows if not isinstance(w[label], str)]
        return statistics.median(values) if values else None

    def last(label: str) -> Usage | None:
        measured = [w[label][1] for w in windows if not isinstance(w[label], str)]
        return measured[-1] if measured else None

    bases = [c.label for c in chosen if c.server == "none"]
    base_ms = statistics.mean(median(b, "on_cpu_ns") for b in bases) / 1e6
    base_ticks = statistics.mean(median(b, "ticks") for b in bases)
    base_rss = statistics.mean(last(b).rss_kb for b in bases)
    rows = []
    for config in chosen:
        end = last(config.label)
        if end is None:
            rows.append([config.label, next(w[config.label] for w in windows), "", "", "", "", "", "", ""])
            continue
        on_cpu = median(config.label, "on_cpu_ns") / 1e6
        ticks = median(config.label, "ticks")
        rows.append([
            config.label, end.threads,
            f"{on_cpu:.1f}", f"{on_cpu - base_ms:+.1f}", f"{median(config.label, 'off_loop_ns') / 1e6:.2f}",
            f"{ticks:.0f}", f"{ticks - base_ticks:+.1f}",
            f"{end.rss_kb / 1024:.1f}", f"{(end.rss_kb - base_rss) / 1024:+.1f}",
        ])
    print(table(
        f"Idle host (ticker every 10 ms), per 10 s: median of {RUNS} windows of {SECONDS:.0f} s after "
        f"{SETTLE:.0f} s to settle, all hosts side by side; Δ against the mean of the two no-server hosts",
        ["host", "threads", "on-CPU ms (schedstat)", "Δ ms", "ms off the loop thread",
         f"CPU ticks (utime+stime, {TICK_MS:.0f} ms)", "Δ ticks", "VmRSS MiB", "Δ RSS MiB"],
        rows,
    ))
    for config in chosen:
        if config.judged:
            on_cpu = median(config.label, "on_cpu_ns")
            met = on_cpu / 1e6 - base_ms <= TICK_MS if on_cpu is not None else None
            print(goal(f"{config.label}: at most 1 extra CPU tick ({TICK_MS:.0f} ms on CPU) per 10 s", met))


if __name__ == "__main__":
    main()
