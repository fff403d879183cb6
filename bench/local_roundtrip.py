"""Round trip of `1+1` through the local REPL: at the protocol (a client speaking to the
kernel the `hotrepl` command starts), and at the keyboard (type `1+1` Enter, see `2` and
the next prompt) side by side with the other prompts."""

from __future__ import annotations

import os
import shutil
import tempfile
import time

from harness import OneCpu, ProtocolClient, Pty, Stats, goal, prompt_programs, ratio, start_local_kernel, table

RUNS = int(os.environ.get("BENCH_ROUNDTRIPS", "2000"))
KEY_RUNS = int(os.environ.get("BENCH_KEY_ROUNDTRIPS", "300"))
def protocol_roundtrip() -> Stats:
    kernel, sock = start_local_kernel()
    client = ProtocolClient(sock)
    for _ in range(100):
        client.execute("1+1")
    samples = []
    for _ in range(RUNS):
        t = time.perf_counter()
        client.execute("1+1")
        samples.append(time.perf_counter() - t)
    client.request("shutdown_request", {})
    kernel.wait(10)
    return Stats(samples)


def keyboard_roundtrip(argv: list[str], prompt: bytes, answer: bytes) -> Stats:
    home = tempfile.mkdtemp(prefix="bench-home-")
    term = Pty(argv, env={"HOME": home, "PYTHONSTARTUP": ""})
    try:
        term.read_until(prompt)
        samples = []
        for i in range(KEY_RUNS + 20):
            mark = len(term.output)
            t = time.perf_counter()
            term.write(b"1+1\r")
            term.read_until(answer, start=mark)
            done = term.read_until(prompt, start=mark)
            if i >= 20:
                samples.append(done - t)
        return Stats(samples)
    finally:
        term.close()
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    with OneCpu() as where:
        stats = protocol_roundtrip()
    print(table(
        f"`1+1` through the local kernel, protocol client in Python ({RUNS} round trips)",
        ["path", "median µs", "p99 µs"],
        [["hotrepl kernel (socket pair)", f"{stats.median * 1e6:.0f}", f"{stats.percentile(0.99) * 1e6:.0f}"]],
    ))
    print(where)
    # IPython shows a value after its `Out[n]:` label.
    results = {
        name: keyboard_roundtrip(argv, prompt, b"Out[" if name == "ipython" else b"2\r\n")
        for name, argv, prompt in prompt_programs()
    }
    ours = results["hotrepl"].median
    rows = [[name, f"{s.median * 1e6:.0f}", f"{s.percentile(0.99) * 1e6:.0f}", ratio(s.median, ours)] for name, s in results.items()]
    print(table(
        f"Type `1+1` Enter until the next prompt, on a pseudo-terminal ({KEY_RUNS} round trips)",
        ["program", "median µs", "p99 µs", "vs hotrepl"],
        rows,
    ))
    peer = results.get("python -m asyncio")
    print(goal("the keyboard round trip at least as fast as `python -m asyncio`",
               None if peer is None else ours <= peer.median))


if __name__ == "__main__":
    main()
