"""Launch to first prompt, and launch to the first result of a typed `print()`, for hotrepl
and the prompts people use instead, measured in one run on the same pseudo-terminal."""

from __future__ import annotations

import os
import shutil
import tempfile

from harness import Pty, Stats, goal, prompt_programs, ratio, table

RUNS = int(os.environ.get("BENCH_RUNS", "15"))


def measure(argv: list[str], prompt: bytes, home: str) -> tuple[float, float]:
    term = Pty(argv, env={"HOME": home, "PYTHONSTARTUP": ""})
    try:
        at_prompt = term.read_until(prompt)
        mark = len(term.output)
        term.write(b"print('ready' + '!' * 3)\r")
        at_result = term.read_until(b"ready!!!\r\n", start=mark)
        return at_prompt - term.started, at_result - term.started
    finally:
        term.close()


def main() -> None:
    home = tempfile.mkdtemp(prefix="bench-home-")
    results = {}
    for name, argv, prompt in prompt_programs():
        measure(argv, prompt, home)  # warm the page cache and .pyc files
        prompts, firsts = [], []
        for _ in range(RUNS):
            p, r = measure(argv, prompt, home)
            prompts.append(p)
            firsts.append(r)
        results[name] = (Stats(prompts), Stats(firsts))
    shutil.rmtree(home, ignore_errors=True)
    ours_prompt, ours_first = (s.median for s in results["hotrepl"])
    rows = []
    for name, (prompt, first) in results.items():
        rows.append([
            name,
            f"{prompt.median * 1000:.1f}",
            f"{first.median * 1000:.1f}",
            ratio(prompt.median, ours_prompt),
            ratio(first.median, ours_first),
        ])
    print(table(
        f"Start-up on a pseudo-terminal (median of {RUNS} runs)",
        ["program", "launch to prompt, ms", "launch to first print() result, ms", "prompt vs hotrepl", "result vs hotrepl"],
        rows,
    ))
    first = {name: result.median for name, (_, result) in results.items()}
    # Not judged (None) when that peer is not installed here.
    judged = lambda name, test: test(first[name]) if name in first else None
    print(goal("first print() result sooner than `python -m asyncio`",
               judged("python -m asyncio", lambda t: ours_first < t)))
    print(goal("first print() result at least 5x sooner than IPython",
               judged("ipython", lambda t: ours_first * 5 <= t)))
    print(goal("first print() result as soon as bare `python` (aimed for)",
               judged("python (bare, no asyncio)", lambda t: ours_first <= t)))


if __name__ == "__main__":
    main()
