"""Runs every benchmark; each prints its table with hotrepl and the peers side by side.

    ./dev bench                 all of them
    ./dev bench startup         only those whose name contains "startup"
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHES = ["startup", "local_roundtrip", "attach_roundtrip", "attach_throughput", "attach_idle", "attach_startup",
           "pipeline", "magics", "reload", "jupyter", "history"]
# What the benchmarks compare hotrepl with (pip name, import name), installed in this venv
# when missing.
PEERS = [("ipython", "IPython"), ("manhole", "manhole"), ("aioconsole", "aioconsole"), ("unpythonic", "unpythonic"),
         ("ipykernel", "ipykernel"), ("jupyter_client", "jupyter_client"), ("jurigged", "jurigged")]


def ensure_peers() -> None:
    """One at a time, so that a peer that fails to install is only skipped by the benches."""
    for package, module in PEERS:
        if importlib.util.find_spec(module) is not None:
            continue
        print(f"installing {package}", flush=True)
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", package])
        if done.returncode:
            print(f"({package} failed to install: the benchmarks skip it)")


def main() -> None:
    sys.path.insert(0, HERE)
    # The cells benchmarks run are recorded (history is on, as for anyone), in a database
    # of this run rather than the user's.
    os.environ["HOTREPL_HISTORY_DB"] = os.path.join(tempfile.mkdtemp(prefix="bench-history-"), "history.sqlite")
    wanted = sys.argv[1:]
    ensure_peers()
    for name in BENCHES:
        if wanted and not any(w in name for w in wanted):
            continue
        print(f"\n## {name}", flush=True)
        importlib.import_module(name).main()


if __name__ == "__main__":
    main()
