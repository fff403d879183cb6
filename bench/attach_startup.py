"""What serving a REPL costs a program at start-up: `python -c "<import + start>;
os._exit(0)"` timed with hyperfine against `python -c pass`, and the resident memory the
import and start add, read from /proc/self/status before and after in one process."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile

from harness import Stats, goal, installed, ratio, table

RUNS = int(os.environ.get("BENCH_STARTUP_RUNS", "40"))
ROUNDS = 4
RSS_RUNS = 3
# Each server's import and start as its documentation shows them; files go to the work dir
# ($BENCH_WORKDIR), named by pid so that runs cut short by os._exit do not collide.
CASES = [
    ("python -c pass (baseline)", None, "pass"),
    ("import asyncio + new loop (baseline for asyncio servers)", None,
     "import asyncio; asyncio.new_event_loop()"),
    ("hotrepl: import + start()", "hotrepl", "import hotrepl; hotrepl.start()"),
    ("manhole: import + install()", "manhole",
     "import manhole; manhole.install(socket_path=f\"{os.environ['BENCH_WORKDIR']}/m{os.getpid()}\", verbose=False)"),
    ("aioconsole: import + start_interactive_server()", "aioconsole",
     "import asyncio, aioconsole; asyncio.new_event_loop().run_until_complete("
     "aioconsole.start_interactive_server(path=f\"{os.environ['BENCH_WORKDIR']}/a{os.getpid()}\"))"),
    ("unpythonic: import + start()", "unpythonic",
     "import unpythonic.net.server as s; s.start(locals={}, repl_port=0, control_port=0)"),
    ("ipykernel: import + initialize() + kernel.start()", "ipykernel",
     "from ipykernel.kernelapp import IPKernelApp; app = IPKernelApp.instance(); app.initialize(["
     "f\"--IPKernelApp.connection_file={os.environ['BENCH_WORKDIR']}/k{os.getpid()}.json\", '--quiet']); "
     "app.kernel.start()"),
]
# ipykernel takes over sys.stdout and file descriptor 1: the answer leaves by a copy of it.
RSS_PROBE = """
import os, time
answer = os.dup(1)
def rss_kb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
before = rss_kb()
{code}
time.sleep(0.2)  # let the threads it started run
os.write(answer, b"%d\\n" % (rss_kb() - before))
os._exit(0)
"""


def hyperfine(cases: list[tuple[str, str]], env: dict[str, str], workdir: str) -> dict[str, Stats]:
    """Each command's run times (seconds). hyperfine runs one command after the other, so it
    is called for ROUNDS rounds: a slow spell of this machine then falls on all commands
    alike instead of on whichever ran during it."""
    export = os.path.join(workdir, "hyperfine.json")
    argv = ["hyperfine", "-N", "--style", "basic", "--warmup", "1", "--runs", str(max(2, RUNS // ROUNDS)),
            "--export-json", export]
    for name, code in cases:
        argv += ["-n", name, shlex.join([sys.executable, "-c", f"import os; {code}; os._exit(0)"])]
    times: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _ in range(ROUNDS):
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"hyperfine failed: {done.stderr.strip()}")
        with open(export) as f:
            for result in json.load(f)["results"]:
                times[result["command"]] += result["times"]
    return {name: Stats(samples) for name, samples in times.items()}


def rss_added_mb(code: str, env: dict[str, str]) -> float:
    samples = []
    for _ in range(RSS_RUNS):
        done = subprocess.run([sys.executable, "-c", RSS_PROBE.format(code=code)], env=env,
                              capture_output=True, text=True, check=True)
        samples.append(int(done.stdout.split()[-1]) * 1024 / 1e6)
    return statistics.median(samples)


def main() -> None:
    if shutil.which("hyperfine") is None:
        print("(hyperfine is not installed: skipped; `./dev bench` installs it)")
        return
    cases = [(name, code) for name, module, code in CASES if module is None or installed(module)]
    workdir = tempfile.mkdtemp(prefix="bench-startup-")
    # hotrepl's socket and discovery record, and ipykernel's files, go to the work dir too.
    env = dict(os.environ, BENCH_WORKDIR=workdir, XDG_RUNTIME_DIR=workdir,
               IPYTHONDIR=os.path.join(workdir, "ipython"), JUPYTER_RUNTIME_DIR=workdir)
    try:
        times = hyperfine(cases, env, workdir)
        rss = {name: rss_added_mb(code, env) for name, code in cases}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    # Medians: one slow run (this machine has its spells) moves a mean by milliseconds.
    base = times[cases[0][0]].median
    hotrepl = times["hotrepl: import + start()"].median
    rows = []
    for name, _ in cases:
        t = times[name]
        added = t.median - base
        rows.append([
            name, f"{t.median * 1e3:.1f}",
            f"{statistics.mean(t.samples) * 1e3:.1f} ± {statistics.stdev(t.samples) * 1e3:.1f}",
            f"{min(t.samples) * 1e3:.1f}",
            f"{added * 1e3:+.1f}", ratio(t.median, hotrepl),
            f"{rss[name]:+.1f}",
        ])
    runs = len(times[cases[0][0]].samples)
    print(table(
        f"Start-up cost: `python -c \"<import + start>; os._exit(0)\"` (hyperfine, {runs} runs in {ROUNDS} rounds), "
        f"and resident memory added (median of {RSS_RUNS} processes)",
        ["command", "median ms", "mean ms", "min ms", "added ms vs pass (medians)", "median vs hotrepl",
         "RSS added MB"],
        rows,
    ))
    print(goal("`import hotrepl; hotrepl.start()` adds < 5 ms", hotrepl - base < 0.005))
    print(goal("`import hotrepl; hotrepl.start()` adds < 3 MB RSS", rss["hotrepl: import + start()"] < 3.0))


if __name__ == "__main__":
    main()
