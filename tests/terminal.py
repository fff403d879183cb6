"""Drive a program in a real terminal: a tmux pane with its own server.

tmux is a full terminal emulator: it answers the cursor-position queries line editors
send, supports bracketed paste, and lets a test read the screen as the user sees it.
Where a test must play the terminal itself (to answer, or not, the queries a program
sends), `PtyTerminal` is a bare pseudo-terminal read as raw bytes.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from waiting import wait_until

PROMPT = ">>> "


class Terminal:
    def __init__(self, workdir: Path, cols: int = 120, rows: int = 50):
        if shutil.which("tmux") is None:
            raise RuntimeError("tmux is required for terminal tests")
        self.socket = f"hotrepl-test-{uuid.uuid4().hex[:10]}"
        self.workdir = workdir
        self.cols, self.rows = cols, rows
        self.started = False

    def tmux(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True)
        if check and done.returncode != 0:
            raise RuntimeError(f"tmux {args[0]} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        env_args = [f"{k}={v}" for k, v in (env or {}).items()]
        # tmux does not always learn a dead pane's exit status, so a small parent records
        # it. It survives Ctrl-C (a no-op handler) while leaving the program's signal
        # dispositions at their defaults (handlers do not survive exec).
        self.status_file = self.workdir / f"status-{uuid.uuid4().hex[:6]}"
        recorder = (
            "import signal, subprocess, sys; signal.signal(signal.SIGINT, lambda *a: None); "
            "code = subprocess.call(sys.argv[2:]); "
            "open(sys.argv[1], 'w').write(str(code if code >= 0 else 128 - code))"
        )
        command = shlex.join(["env", *env_args, sys.executable, "-c", recorder, str(self.status_file), *argv])
        self.tmux(
            "-f", "/dev/null", "new-session", "-d", "-x", str(self.cols), "-y", str(self.rows),
            "-c", str(self.workdir), command,
        )
        self.tmux("set-option", "-g", "history-limit", "50000")
        # Keep the pane after the program exits, to read its screen and exit status.
        self.tmux("set-option", "-g", "remain-on-exit", "on")
        self.started = True

    def close(self) -> None:
        if self.started:
            self.tmux("kill-server", check=False)
            self.started = False

    # -- input ---------------------------------------------------------------------------

    def type(self, text: str) -> None:
        """Types text literally, as keystrokes."""
        self.tmux("send-keys", "-l", text)

    def press(self, *keys: str) -> None:
        """Presses keys by tmux name: Enter, Tab, C-c, C-d, Up, BSpace ..."""
        self.tmux("send-keys", *keys)

    def paste(self, text: str) -> None:
        """Pastes text the way a terminal does (bracketed, if the program asked for it)."""
        buffer = self.workdir / f"paste-{uuid.uuid4().hex[:6]}.txt"
        buffer.write_text(text)
        self.tmux("load-buffer", str(buffer))
        self.tmux("paste-buffer", "-p", "-d")

    # -- output --------------------------------------------------------------------------

    def screen(self, escapes: bool = False) -> str:
        """Everything shown so far (scrollback included), wrapped lines joined."""
        args = ["capture-pane", "-p", "-J", "-S", "-"]
        if escapes:
            args.append("-e")
        # Line editors clear lines by writing spaces; they are not part of what is shown.
        return "\n".join(line.rstrip() for line in self.tmux(*args).splitlines())

    def lines(self) -> list[str]:
        lines = [line.rstrip() for line in self.screen().splitlines()]
        while lines and not lines[-1]:
            lines.pop()
        return lines

    def wait_for(self, pattern: str, timeout: float = 10.0) -> re.Match:
        regex = re.compile(pattern, re.MULTILINE)
        return self.wait_until(lambda: regex.search(self.screen()), timeout, repr(pattern))

    def wait_until(self, predicate, timeout: float = 10.0, what: str = "condition"):
        return wait_until(predicate, timeout, what, detail=lambda: f"screen:\n{self.screen()}")

    def exit_status(self) -> int | None:
        """The program's exit status (128 + N if killed by signal N), once it has exited."""
        try:
            return int(self.status_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def wait_exit(self, timeout: float = 10.0) -> int:
        # 0 is a status too: wait for there being one, then return it.
        self.wait_until(lambda: self.exit_status() is not None, timeout, "the program to exit")
        return self.exit_status()


class Repl(Terminal):
    """A terminal running `hotrepl`, with helpers that speak in cells."""

    def prompts(self) -> int:
        return sum(1 for line in self.lines() if line.startswith(PROMPT.rstrip()))

    def at_empty_prompt(self) -> bool:
        lines = self.lines()
        return bool(lines) and lines[-1] == PROMPT.rstrip()

    def wait_prompt(self, count: int | None = None, timeout: float = 10.0) -> None:
        """Waits for an empty prompt (the `count`-th one, if given)."""
        self.wait_until(
            lambda: self.at_empty_prompt() and (count is None or self.prompts() >= count),
            timeout,
            f"prompt #{count}" if count else "prompt",
        )

    def run(self, code: str, timeout: float = 10.0) -> str:
        """Types one cell — a line, or a block line by line — presses Enter after each line
        (and once more to close a block) and returns what the cell printed."""
        self.wait_prompt(timeout=timeout)
        before = self.prompts()
        for line in code.split("\n"):
            self.type(line)
            self.press("Enter")
        if "\n" in code:
            # A block needs an empty line to end it (as at any Python prompt).
            self.press("Enter")
        self.wait_prompt(before + 1, timeout)
        return self.output_of_last_cell()

    def output_of_last_cell(self) -> str:
        lines = self.lines()
        starts = [i for i, line in enumerate(lines) if line.startswith(PROMPT.rstrip())]
        if len(starts) < 2:
            return ""
        body = lines[starts[-2]:starts[-1]]
        out = [line for line in body if not line.startswith((">>>", "..."))]
        return "\n".join(out)


class PtyTerminal:
    """A program on a pseudo-terminal whose other side is this test: everything it writes
    is kept as bytes, and each query in `answers` (bytes it may write) is answered with
    the bytes given, every time it is asked. Line editors' cursor-position query is
    always answered."""

    def __init__(self, argv: list[str], env: dict[str, str], answers: dict[bytes, bytes] | None = None):
        self.answers = {b"\x1b[6n": b"\x1b[1;1R", **(answers or {})}
        self.output = b""
        self.scanned = 0  # how far the output has been searched for queries
        env = {"TERM": "xterm-256color", **env}
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)

    def read_until(self, needle: bytes, since: int = 0, timeout: float = 10.0) -> int:
        """Reads (answering queries) until `needle` has been written after offset `since`;
        returns the offset where it ends."""
        deadline = time.monotonic() + timeout
        while (at := self.output.find(needle, since)) < 0:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{needle!r} not written; got {self.output[-600:]!r}")
            self.pump(left)
        return at + len(needle)

    def pump(self, wait: float) -> None:
        """Reads what the program writes within `wait` seconds, answering queries."""
        ready, _, _ = select.select([self.fd], [], [], wait)
        if not ready:
            return
        try:
            data = os.read(self.fd, 1 << 16)
        except OSError:
            raise AssertionError(f"the program exited; got {self.output[-600:]!r}")
        self.output += data
        longest = max(map(len, self.answers))
        while True:
            hits = [(self.output.find(q, self.scanned), q) for q in self.answers]
            hits = [(at, q) for at, q in hits if at >= 0]
            if not hits:
                break
            at, query = min(hits)
            os.write(self.fd, self.answers[query])
            self.scanned = at + len(query)
        # A query may be cut between two reads: its start is searched again next time.
        self.scanned = max(self.scanned, len(self.output) - longest + 1)

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def close(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self.fd)
