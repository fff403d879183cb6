"""Shared pieces of the benchmarks: a pseudo-terminal driver that answers the cursor
position queries line editors send, statistics, and side-by-side tables."""

from __future__ import annotations

import os
import pty
import select
import signal
import statistics
import time
from dataclasses import dataclass


class Pty:
    """A program on a pseudo-terminal, read as raw bytes."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, cols: int = 120, rows: int = 40):
        self.started = time.perf_counter()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ.update(env or {})
            os.environ.setdefault("TERM", "xterm-256color")
            os.execvp(argv[0], argv)
        import fcntl, struct, termios

        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.output = b""

    def read_until(self, needle: bytes, start: int = 0, timeout: float = 30.0) -> float:
        """Reads until `needle` appears after offset `start`; returns the time it did."""
        deadline = time.perf_counter() + timeout
        while needle not in self.output[start:]:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"{needle!r} not seen; got {self.output[-300:]!r}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                continue
            try:
                data = os.read(self.fd, 1 << 16)
            except OSError:
                raise EOFError(f"program exited; got {self.output[-300:]!r}")
            if b"\x1b[6n" in data:  # where is the cursor? (reedline, prompt_toolkit ask)
                os.write(self.fd, b"\x1b[1;1R")
            self.output += data
        return time.perf_counter()

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def close(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self.fd)


@dataclass
class Stats:
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def table(title: str, columns: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)), *(len(str(r[i])) for r in rows)) for i, c in enumerate(columns)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    out = [f"\n### {title}\n", line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}x"
