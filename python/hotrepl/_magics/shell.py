"""The shell where the kernel runs: ``!command`` (``%system``), ``x = !command`` and
``!!command`` (``%sx``), ``%env``, ``%pwd``, ``%cd``. Commands stream their output to the
session as it comes and stop on Ctrl-C; in a live program they run in its working directory
with its environment."""

from __future__ import annotations

import os

from hotrepl._magics import UsageError, builtin, split_options, usage_of


def _run(ctx, command: str, capture: bool):
    """Runs ``command`` with the shell; streams stdout (or keeps it, with ``capture``) and
    streams stderr. Ctrl-C ends the command (its whole process group) and the cell."""
    import selectors
    import signal
    import subprocess
    import sys
    from codecs import getincrementaldecoder

    if not command.strip():
        raise UsageError("usage: !COMMAND")
    # A session of its own: the terminal's Ctrl-C and the program's signals are not the
    # command's; ours ends it through its process group.
    child = subprocess.Popen(
        command,
        shell=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )

    interrupted: list = []

    def stop():
        interrupted.append(True)
        try:
            os.killpg(child.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    ctx.add_interrupt_hook(stop)
    kept: list = []
    decoders = {child.stdout: getincrementaldecoder("utf-8")("replace"), child.stderr: getincrementaldecoder("utf-8")("replace")}
    outputs = {child.stdout: sys.stdout, child.stderr: sys.stderr}
    try:
        with selectors.DefaultSelector() as selector:
            for pipe in (child.stdout, child.stderr):
                selector.register(pipe, selectors.EVENT_READ)
            while selector.get_map():
                for key, _ in selector.select():
                    chunk = os.read(key.fd, 65536)
                    pipe = key.fileobj
                    text = decoders[pipe].decode(chunk, final=not chunk)
                    if not chunk:
                        selector.unregister(pipe)
                    if capture and pipe is child.stdout:
                        kept.append(text)
                    elif text:
                        outputs[pipe].write(text)
        child.wait()
    except BaseException:
        stop()
        child.wait()
        raise
    finally:
        ctx.remove_interrupt_hook(stop)
        child.stdout.close()
        child.stderr.close()
    if interrupted:
        raise KeyboardInterrupt
    return "".join(kept).splitlines() if capture else None


@builtin("system", complete="files")
def system(ctx, line):
    """Run a shell command, showing its output as it comes: !COMMAND (or %system COMMAND)

    Ctrl-C stops it. x = !COMMAND keeps its output lines instead (see %sx)."""
    _run(ctx, line, capture=False)


@builtin("sx", complete="files")
def sx(ctx, line):
    """Run a shell command and return its output lines: x = !COMMAND, !!COMMAND, %sx COMMAND"""
    return _run(ctx, line, capture=True)


@builtin("env")
def env(ctx, line):
    """Show or set environment variables: %env, %env NAME, %env NAME=VALUE (or NAME VALUE)

    In a live program this is the program's environment (child processes inherit it)."""
    text = line.strip()
    if not text:
        return dict(os.environ)
    name, sep, value = text.partition("=") if "=" in text.split(" ", 1)[0] else text.partition(" ")
    name, value = name.strip(), value.strip()
    if not sep:
        if name not in os.environ:
            raise UsageError(f"{name} is not set")
        return os.environ[name]
    os.environ[name] = value
    print(f"env: {name}={value}")


@builtin("pwd")
def pwd(ctx, line):
    """The working directory: %pwd"""
    return os.getcwd()


_previous_dirs: list = []


@builtin("cd", complete="dirs")
def cd(ctx, line):
    """Change the working directory: %cd [DIR], %cd - (back), %cd (home)

    In a live program the working directory is the whole program's, so there it needs -f:
    %cd -f DIR."""
    usage = usage_of(cd)
    options, target = split_options(line, usage, {"-f": None})
    if ctx.in_host_program and not options.get("-f"):
        raise UsageError(
            f"%cd would change the working directory of the whole program (process {os.getpid()}), "
            "not only this session's: use %cd -f DIR"
        )
    target = target.strip()
    if target == "-":
        if not _previous_dirs:
            raise UsageError("no previous directory to go back to")
        destination = _previous_dirs[-1]
    else:
        destination = os.path.expanduser(target or "~")
    here = os.getcwd()
    try:
        os.chdir(destination)
    except OSError as e:
        raise UsageError(f"cannot change to {destination}: {e.strerror}") from None
    if target == "-":
        _previous_dirs.pop()
    else:
        _previous_dirs.append(here)
    print(os.getcwd())
