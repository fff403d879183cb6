"""The host program of the attach benchmarks: an asyncio app whose ticker task runs every
10 ms and remembers the longest gap between two ticks, serving one REPL server in process.

    python host.py SERVER WORKDIR REPORT_FD

SERVER is `none` or one of `servers.START`; WORKDIR holds its sockets and files. The host
writes `ready ADDRESS` on REPORT_FD once the server listens, then answers commands read
from stdin, one a line: `reset` (forget the longest gap; answers `ok`) and `gap` (answers
the longest gap since, in seconds). It exits at the end of stdin.

Reports go to their own pipe, written with os.write, because some peers take over
sys.stdout (manhole while a client is connected, ipykernel for good, even file descriptor 1).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import servers

TICK = 0.010


class Ticker:
    def __init__(self) -> None:
        self.max_gap = 0.0

    async def run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            self.max_gap = max(self.max_gap, now - last)
            last = now


async def main(server: str, workdir: str, report_fd: int) -> None:
    ticker = Ticker()
    ticking = asyncio.create_task(ticker.run())
    address = await servers.START[server](workdir) if server != "none" else "-"
    os.write(report_fd, f"ready {address}\n".encode())

    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), os.fdopen(0, "rb", 0))
    while line := await commands.readline():
        command = line.decode().strip()
        if command == "reset":
            ticker.max_gap = 0.0
            os.write(report_fd, b"ok\n")
        elif command == "gap":
            os.write(report_fd, f"{ticker.max_gap:.6f}\n".encode())
    ticking.cancel()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
