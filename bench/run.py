"""Runs every benchmark; each prints its table with hotrepl and the peers side by side.

    ./dev bench                 all of them
    ./dev bench startup         only those whose name contains "startup"
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHES = ["startup", "local_roundtrip"]
PEERS = ["ipython"]


def ensure_peers() -> None:
    missing = [p for p in PEERS if subprocess.run([sys.executable, "-c", f"import {p.replace('-', '_')}"], capture_output=True).returncode]
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", *missing], check=False)


def main() -> None:
    sys.path.insert(0, HERE)
    wanted = sys.argv[1:]
    ensure_peers()
    for name in BENCHES:
        if wanted and not any(w in name for w in wanted):
            continue
        print(f"\n## {name}", flush=True)
        importlib.import_module(name).main()


if __name__ == "__main__":
    main()
