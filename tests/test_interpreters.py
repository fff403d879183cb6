"""`hotrepl --python PATH`: the kernel runs under another interpreter (CPython 3.9+), found
on this machine the way `./dev test` finds them (pyenv, then PATH)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

import pytest


def find_python(minor: int) -> str | None:
    """The newest CPython 3.<minor> pyenv holds, else python3.<minor> on PATH."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    paths = sorted(glob.glob(f"{root}/versions/3.{minor}.*/bin/python3.{minor}")) or [shutil.which(f"python3.{minor}")]
    return paths[-1]


def other_interpreters() -> list[tuple[str, str]]:
    found = []
    for minor in range(9, 14):
        python = find_python(minor) if (3, minor) != sys.version_info[:2] else None
        if python:
            found.append((f"3.{minor}", python))
    return found


OTHERS = other_interpreters()


@pytest.mark.skipif(not OTHERS, reason="no other CPython 3.9+ interpreter on this machine")
@pytest.mark.parametrize("version, python", OTHERS, ids=[v for v, _ in OTHERS])
def test_kernel_runs_under_another_interpreter(hotrepl_bin, base_env, version, python):
    script = "import sys, asyncio\n'%d.%d' % sys.version_info[:2]\nawait asyncio.sleep(0, result='awaited')\n"
    done = subprocess.run([hotrepl_bin, "--python", python], input=script, capture_output=True, text=True, timeout=60, env={**base_env, "PATH": os.environ["PATH"]})
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"'{version}'\n'awaited'\n"


@pytest.mark.skipif(not OTHERS, reason="no other CPython 3.9+ interpreter on this machine")
def test_prompt_under_another_interpreter(start_repl):
    version, python = OTHERS[0]
    repl = start_repl("--python", python)
    repl.wait_for(rf"^Python {version}\.")
    assert repl.run("import sys; sys.version_info[:2]") == "(%s, %s)" % tuple(version.split("."))
    assert repl.run("import hotrepl; hotrepl.__version__ != ''") == "True", "the package loads under that interpreter too"


def test_too_old_interpreter_is_refused_clearly(hotrepl_bin, base_env):
    old = find_python(8)
    if not old:
        pytest.skip("no CPython 3.8 on this machine to try")
    done = subprocess.run([hotrepl_bin, "--python", old], input="", capture_output=True, text=True, timeout=60, env=base_env)
    assert done.returncode != 0
    assert "needs Python 3.9 or newer" in done.stderr


def test_missing_interpreter_is_reported(hotrepl_bin, base_env):
    done = subprocess.run([hotrepl_bin, "--python", "/nonexistent/python"], input="", capture_output=True, text=True, timeout=30, env=base_env)
    assert done.returncode == 2
    assert "cannot start /nonexistent/python" in done.stderr
