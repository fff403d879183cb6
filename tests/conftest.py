"""Fixtures for the end-to-end tests: the installed `hotrepl` binary, run in real
terminals (tmux) and as real processes, with the interpreter this suite runs under."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

import subprocess

from hosts import Host, asyncio_app, dies_with_tests
from protocol import Client, start_local_kernel
from terminal import Repl

def find_hotrepl() -> str:
    """The `hotrepl` installed next to this interpreter (the wheel puts it there)."""
    candidate = Path(sys.executable).parent / "hotrepl"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("hotrepl")
    if found is None:
        pytest.exit("hotrepl is not installed in this environment (pip install .)", returncode=3)
    return found


@pytest.fixture(scope="session", autouse=True)
def private_data_home(tmp_path_factory) -> None:
    """Programs a test starts without a HOME of its own (hosts, kernels) keep their history
    in a data home of this run, never in the user's."""
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("data"))
    for name in ("HOTREPL_HISTORY_DB", "HOTREPL_HISTORY"):
        os.environ.pop(name, None)


@pytest.fixture(scope="session")
def hotrepl_bin() -> str:
    return find_hotrepl()


@pytest.fixture(scope="session")
def jupyter_kernel(tmp_path_factory, hotrepl_bin: str) -> str:
    """The name of a hotrepl kernelspec installed for this run, in a Jupyter data directory
    of its own that this process's Jupyter clients search. Skips where the Jupyter clients
    are not installed (only some of the test venvs have them)."""
    pytest.importorskip("jupyter_client")
    data = tmp_path_factory.mktemp("jupyter-data")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JUPYTER_DATA_DIR", str(data))
        env.setenv("JUPYTER_RUNTIME_DIR", str(data / "runtime"))
        name = "hotrepl-tests"
        subprocess.run(
            [hotrepl_bin, "--python", sys.executable, "kernel", "install", "--user", "--name", name],
            check=True, capture_output=True,
        )
        yield name


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A private HOME, so history and config never touch the user's."""
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def base_env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "XDG_DATA_HOME": str(home / ".local/share"), "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"}


@pytest.fixture
def start_terminal(tmp_path: Path, base_env: dict[str, str]):
    """Starts a program in a fresh terminal and waits for its prompt; closes the terminal
    after the test."""
    terminals: list[Repl] = []

    def start(argv: list[str], env: dict[str, str] | None = None, cols: int = 120, rows: int = 50) -> Repl:
        term = Repl(tmp_path, cols=cols, rows=rows)
        terminals.append(term)
        term.start(argv, env={**base_env, **(env or {})})
        term.wait_prompt(timeout=20)
        return term

    yield start
    for term in terminals:
        term.close()


@pytest.fixture
def start_repl(start_terminal, hotrepl_bin: str):
    """Starts `hotrepl [args]` in a fresh terminal."""

    def start(*args: str, env: dict[str, str] | None = None, cols: int = 120, rows: int = 50) -> Repl:
        return start_terminal([hotrepl_bin, *args], env, cols, rows)

    return start


@pytest.fixture
def repl(start_repl) -> Repl:
    return start_repl()


@pytest.fixture
def make_host(tmp_path):
    """Starts programs that called `hotrepl.start()`; kills them after the test."""
    hosts: list[Host] = []

    def make(body: str = asyncio_app(), start_args: str = "", env: dict | None = None, workdir: Path | None = None) -> Host:
        host = Host(workdir or tmp_path, body, start_args, env)
        hosts.append(host)
        if "LOOP RUNNING" in body:
            host.wait_for_output("LOOP RUNNING")
        return host

    yield make
    for host in hosts:
        host.stop()


@pytest.fixture(params=["local", "attached"])
def where(request) -> str:
    """Where a session runs: the local REPL's kernel, or a live asyncio program."""
    return request.param


@pytest.fixture
def session(where, make_host) -> Client:
    """A native-protocol client of the local REPL's kernel, or of a session in a live
    asyncio program (its `host` attribute is the program)."""
    if where == "local":
        proc, sock = start_local_kernel(preexec_fn=dies_with_tests)
        client = Client(sock)
        yield client
        sock.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    else:
        host = make_host()
        client = host.connect()
        client.host = host
        yield client
        client.close()
