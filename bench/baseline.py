"""An earlier build of hotrepl, for the benchmarks that hold a change to "no slower than
before it": the source of a git revision, built into a venv of its own under
.bench-cache/ (once; later runs reuse it). BENCH_BASELINE_REV picks another revision."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

from harness import REPO

CACHE = os.path.join(REPO, ".bench-cache")


def baseline_python(rev: str) -> str | None:
    """The interpreter of a venv with hotrepl built from `rev`; None (and why, printed) if
    it cannot be built here (no git history in this copy, a build failure)."""
    rev = os.environ.get("BENCH_BASELINE_REV", rev)
    venv = os.path.join(CACHE, f"baseline-{rev}")
    python = os.path.join(venv, "bin", "python")
    if os.path.exists(os.path.join(venv, "built")):
        return python
    print(f"(building hotrepl as of {rev} for comparison; kept in {os.path.relpath(venv, REPO)})", flush=True)
    source = tempfile.mkdtemp(prefix="hotrepl-baseline-")
    try:
        archive = subprocess.run(["git", "-C", REPO, "archive", rev], capture_output=True)
        if archive.returncode:
            print(f"(cannot read revision {rev}: {archive.stderr.decode().strip()}; the comparison is skipped)")
            return None
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(source, **safe)
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        dist = os.path.join(source, "dist")
        env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(CACHE, "target"))
        built = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dist, source],
            env=env, capture_output=True, text=True,
        )
        if built.returncode:
            print(f"(building {rev} failed; the comparison is skipped)\n{built.stderr[-2000:]}")
            return None
        wheel = next(os.path.join(dist, f) for f in os.listdir(dist) if f.endswith(".whl"))
        subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel], check=True)
        open(os.path.join(venv, "built"), "w").close()
        return python
    finally:
        shutil.rmtree(source, ignore_errors=True)
