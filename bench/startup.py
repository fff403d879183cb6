"""Launch to first prompt, and launch to the first result of a `print()` typed at the prompt
and typed ahead (sent at launch, before any prompt, as an editor's "run selection in
terminal" does), for hotrepl and the prompts people use instead, measured in one run on
the same pseudo-terminal."""

from __future__ import annotations

import os
import shutil
import tempfile

from harness import Pty, Stats, goal, prompt_programs, ratio, table

RUNS = int(os.environ.get("BENCH_RUNS", "15"))


CELL = b"print('ready' + '!' * 3)\r"
RESULT = b"ready!!!\r\n"


def measure(argv: list[str], prompt: bytes, home: str) -> tuple[float, float]:
    """Launch to prompt, and to the result of a cell typed once the prompt is up."""
    term = Pty(argv, env={"HOME": home, "PYTHONSTARTUP": ""})
    try:
        at_prompt = term.read_until(prompt)
        mark = len(term.output)
        term.write(CELL)
        at_result = term.read_until(RESULT, start=mark)
        return at_prompt - term.started, at_result - term.started
    finally:
        term.close()


def measure_typed_ahead(argv: list[str], home: str) -> float:
    """Launch to the result of a cell typed at launch."""
    term = Pty(argv, env={"HOME": home, "PYTHONSTARTUP": ""})
    try:
        term.write(CELL)
        return term.read_until(RESULT) - term.started
    finally:
        term.close()


def main() -> None:
    home = tempfile.mkdtemp(prefix="bench-home-")
    results = {}
    for name, argv, prompt in prompt_programs():
        measure(argv, prompt, home)  # warm the page cache and .pyc files
        prompts, firsts, ahead = [], [], []
        for _ in range(RUNS):
            p, r = measure(argv, prompt, home)
            prompts.append(p)
            firsts.append(r)
            ahead.append(measure_typed_ahead(argv, home))
        results[name] = (Stats(prompts), Stats(firsts), Stats(ahead))
    shutil.rmtree(home, ignore_errors=True)
    ours_prompt, ours_first, ours_ahead = (s.median for s in results["hotrepl"])
    rows = []
    for name, (prompt, first, ahead) in results.items():
        rows.append([
            name,
            f"{prompt.median * 1000:.1f}",
            f"{first.median * 1000:.1f}",
            f"{ahead.median * 1000:.1f}",
            ratio(prompt.median, ours_prompt),
            ratio(first.median, ours_first),
            ratio(ahead.median, ours_ahead),
        ])
    print(table(
        f"Start-up on a pseudo-terminal (median of {RUNS} runs)",
        ["program", "launch to prompt, ms", "first print() result typed at the prompt, ms",
         "typed ahead, ms", "prompt vs hotrepl", "at prompt vs hotrepl", "ahead vs hotrepl"],
        rows,
    ))
    first = {name: result.median for name, (_, result, _) in results.items()}
    # Not judged (None) when that peer is not installed here.
    judged = lambda name, test: test(first[name]) if name in first else None
    print(goal("first print() result sooner than `python -m asyncio`",
               judged("python -m asyncio", lambda t: ours_first < t)))
    print(goal("first print() result at least 5x sooner than IPython",
               judged("ipython", lambda t: ours_first * 5 <= t)))
    print(goal("first print() result as soon as bare `python` (aimed for)",
               judged("python (bare, no asyncio)", lambda t: ours_first <= t)))
    # Both are launch times of a few ms: within a tenth of each other is the same.
    print(goal("typed-ahead input as fast as input typed at the prompt", ours_ahead <= ours_first * 1.1))


if __name__ == "__main__":
    main()
