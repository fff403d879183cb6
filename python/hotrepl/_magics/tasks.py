"""What the program is doing: ``%tasks`` (its asyncio tasks, where each is suspended),
``%cancel`` (one of them), ``%threads`` (every thread and its stack). They work from plain
cells: the task list is copied on the loop's own thread, in one step, and read in the
session's thread, so the loop is held only for the copy."""

from __future__ import annotations

import os
import threading
import time
import weakref

from hotrepl._magics import UsageError, builtin, split_options, usage_of

# Tasks get small numbers the first time they are listed, kept while they live, so that
# `%cancel 3` names what `%tasks` showed.
_numbers: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_next_number = [1]
_first_seen: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_numbering = threading.Lock()

# How long a plain cell waits for the loop to hand over its tasks.
LOOP_ANSWER_SECONDS = 5.0


def number_of(task) -> int:
    with _numbering:
        n = _numbers.get(task)
        if n is None:
            n = _numbers[task] = _next_number[0]
            _next_number[0] += 1
            _first_seen[task] = time.monotonic()
        return n


def call_on_loop(loop, function):
    """``function()`` run on ``loop``'s thread (directly, if that is this thread)."""
    import asyncio
    import concurrent.futures

    if asyncio._get_running_loop() is loop:
        return function()
    answer: concurrent.futures.Future = concurrent.futures.Future()

    def run():
        try:
            answer.set_result(function())
        except BaseException as e:  # noqa: BLE001 - handed to the waiting thread
            answer.set_exception(e)

    loop.call_soon_threadsafe(run)
    try:
        return answer.result(LOOP_ANSWER_SECONDS)
    except concurrent.futures.TimeoutError:
        raise UsageError(f"the event loop did not answer within {LOOP_ANSWER_SECONDS:.0f} s: it is busy (see %threads)") from None


def _loop(ctx):
    loop = ctx.event_loop()
    if loop is None:
        raise UsageError("no event loop is running here yet")
    return loop


def _registered_tasks() -> list:
    """A copy of asyncio's registries of live tasks (all loops', done or not), as weak
    references where the registry holds them so. Copying a set is all the loop's thread
    does: following the references and sorting out this loop's pending tasks (the work of
    asyncio.all_tasks, a hundred times as long) happens off it."""
    import asyncio.tasks as registry_module

    found: list = []
    for name in ("_scheduled_tasks", "_eager_tasks", "_all_tasks"):
        registry = getattr(registry_module, name, None)
        if registry is not None:
            # A WeakSet keeps its references in .data; iterating it instead goes through a
            # Python generator, one task at a time.
            found.extend(getattr(registry, "data", registry))
    return found


def _snapshot(loop) -> list:
    import asyncio
    import weakref

    registered = call_on_loop(loop, _registered_tasks)
    live = (r() if isinstance(r, weakref.ref) else r for r in registered)
    tasks = [t for t in live if t is not None and t.get_loop() is loop and not t.done()]
    if not registered:
        # An asyncio whose tasks live elsewhere (C registries): ask it, on the loop.
        tasks = call_on_loop(loop, lambda: list(asyncio.all_tasks(loop)))
    return sorted(tasks, key=number_of)


def _state(task) -> str:
    if task.done():
        if task.cancelled():
            return "cancelled"
        return "failed" if task.exception() is not None else "done"
    cancelling = getattr(task, "cancelling", None)
    if cancelling is not None and cancelling():
        return "cancelling"
    return "pending"


def await_chain(task) -> list:
    """``(coroutine, frame)`` for each coroutine the task is suspended in, outermost first,
    then ``(awaited, None)`` for what the innermost one waits on, if anything."""
    chain = []
    current = task.get_coro()
    seen = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frame = getattr(current, "cr_frame", None) or getattr(current, "gi_frame", None) or getattr(current, "ag_frame", None)
        is_coroutine = any(hasattr(current, a) for a in ("cr_frame", "gi_frame", "ag_frame"))
        chain.append((current, frame if is_coroutine else None))
        if not is_coroutine:
            break
        current = getattr(current, "cr_await", None) or getattr(current, "gi_yieldfrom", None) or getattr(current, "ag_await", None)
    return chain


def _package_dir() -> str:
    import hotrepl

    return os.path.dirname(hotrepl.__file__) + os.sep


def _asyncio_dir() -> str:
    import asyncio

    return os.path.dirname(asyncio.__file__) + os.sep


def _describe_awaited(obj) -> str:
    import asyncio

    if isinstance(obj, asyncio.Task):
        return f"task {number_of(obj)} {obj.get_name()!r}"
    # Awaiting a future leaves its iterator (C) or its __await__ generator (Python) behind.
    if isinstance(obj, asyncio.Future) or type(obj).__name__ == "FutureIter" or getattr(obj, "__name__", "") == "__await__":
        return "a future"
    name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{name}()"


def where(task) -> tuple:
    """The innermost frame of the task's own code (asyncio's are skipped) and what it awaits."""
    chain = await_chain(task)
    asyncio_dir = _asyncio_dir()
    place, awaited = None, None
    for i, (obj, frame) in enumerate(chain):
        if frame is not None and not frame.f_code.co_filename.startswith(asyncio_dir):
            place = frame
            awaited = chain[i + 1][0] if i + 1 < len(chain) else None
    return place, awaited


def _age(task) -> str:
    seen = _first_seen.get(task)
    if seen is None:
        return ""
    return f"{time.monotonic() - seen:.0f}s"


@builtin("tasks")
def tasks(ctx, line):
    """List the asyncio tasks of the event loop: %tasks [-v ID|NAME]

    One line each: number, name, state, coroutine, where it is suspended (file:line) and
    what it awaits, and how long it has been known (since hotrepl first saw it). -v shows
    one task's whole await stack. In an attached session this is the program's loop."""
    usage = usage_of(tasks)
    options, rest = split_options(line, usage, {"-v": None})
    loop = _loop(ctx)
    found = _snapshot(loop)
    if options.get("-v"):
        print(_stack(_pick(found, rest, usage)))
        return
    if rest:
        raise UsageError(usage)
    rows = []
    for task in found:
        coro = task.get_coro()
        name = getattr(coro, "__qualname__", type(coro).__name__)
        frame, awaited = where(task)
        place = f"{_short(frame.f_code.co_filename)}:{frame.f_lineno}" if frame is not None else "-"
        waits = f" awaiting {_describe_awaited(awaited)}" if awaited is not None else ""
        rows.append((str(number_of(task)), task.get_name(), _state(task), f"{name}()", f"{place}{waits}", _age(task)))
    if not rows:
        print("No tasks on this event loop.")
        return
    _print_table(("#", "NAME", "STATE", "COROUTINE", "SUSPENDED AT", "SEEN"), rows)
    print(f"{len(rows)} task{'s' * (len(rows) != 1)}")


def _short(path: str) -> str:
    """A path as short as it reads well: relative to the working directory if under it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return relative if not relative.startswith("..") else path


def _print_table(header, rows) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    print("\n".join(lines))


def _pick(found, wanted: str, usage: str):
    wanted = wanted.strip()
    if not wanted:
        raise UsageError(f"which task? give its number or name\n{usage}")
    matches = [t for t in found if str(number_of(t)) == wanted or t.get_name() == wanted]
    if not matches:
        raise UsageError(f"no task {wanted!r} on this loop (%tasks lists them)")
    if len(matches) > 1:
        numbers = ", ".join(str(number_of(t)) for t in matches)
        raise UsageError(f"{len(matches)} tasks are named {wanted!r}: use a number ({numbers})")
    return matches[0]


def _stack(task) -> str:
    import linecache

    lines = [f"Task {number_of(task)} {task.get_name()!r} ({_state(task)}), innermost last:"]
    for obj, frame in await_chain(task):
        if frame is None:
            lines.append(f"  awaiting {_describe_awaited(obj)}")
            continue
        code = frame.f_code
        lines.append(f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}')
        source = linecache.getline(code.co_filename, frame.f_lineno).strip()
        if source:
            lines.append(f"    {source}")
    return "\n".join(lines)


def runs_on_a_loop() -> bool:
    """Whether this thread runs an event loop (the local REPL's cells do): a magic called
    here must not block waiting for that loop, and awaits instead."""
    import sys

    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and asyncio._get_running_loop() is not None


def _cancel_awaits(line):
    return runs_on_a_loop()


@builtin("cancel", awaits=_cancel_awaits)
def cancel(ctx, line):
    """Cancel a task and say how it ended: %cancel ID|NAME (%tasks lists them)"""
    import asyncio

    usage = usage_of(cancel)
    loop = _loop(ctx)
    task = _pick(_snapshot(loop), line, usage)
    if asyncio._get_running_loop() is loop:
        return _cancel_here(task)
    call_on_loop(loop, task.cancel)
    finished = threading.Event()
    loop.call_soon_threadsafe(task.add_done_callback, lambda _: finished.set())
    finished.wait(CANCEL_WAIT_SECONDS)
    print(_ending(task))


# How long %cancel waits for the task to end before saying it has not.
CANCEL_WAIT_SECONDS = 2.0


async def _cancel_here(task):
    import asyncio

    task.cancel()
    await asyncio.wait({task}, timeout=CANCEL_WAIT_SECONDS)
    print(_ending(task))


def _ending(task) -> str:
    label = f"task {number_of(task)} {task.get_name()!r}"
    if not task.done():
        return f"{label} is still running {CANCEL_WAIT_SECONDS:.0f} s after it was cancelled (it may be catching CancelledError)"
    if task.cancelled():
        return f"{label} was cancelled"
    error = task.exception()
    if error is not None:
        return f"{label} ended raising {type(error).__name__}: {error}"
    return f"{label} finished anyway, with {task.result()!r}"


def _thread_names() -> dict:
    """Native thread id → name, for every thread of the process (/proc: also those that
    run no Python)."""
    names = {}
    try:
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/comm") as f:
                    names[int(tid)] = f.read().strip()
            except OSError:
                continue
    except OSError:
        pass
    return names


@builtin("threads")
def threads(ctx, line):
    """List every thread of the process with its stack: %threads

    Name, daemon flag and the stack (innermost last); the program's threads first, then
    hotrepl's own (marked as such); threads that run no Python show only their name."""
    import sys
    import traceback

    from hotrepl._native import hotrepl_threads

    frames = sys._current_frames()
    known = {t.ident: t for t in threading.enumerate()}
    ours = hotrepl_threads()
    native_names = _thread_names()
    me = threading.get_ident()
    entries = []  # (hotrepl's, name, thread object, native id, frame, this session)
    for ident, frame in frames.items():
        thread = known.get(ident)
        native, name = ours.get(ident, (getattr(thread, "native_id", None), thread.name if thread else f"thread {ident}"))
        entries.append((ident in ours, name, thread, native, frame, ident == me))
    with_python = {e[3] for e in entries}
    our_names = {native: name for native, name in ours.values()}
    for native, name in sorted(native_names.items()):
        if native not in with_python:
            name = our_names.get(native, name)
            entries.append((native in our_names, name, None, native, None, False))
    entries.sort(key=lambda e: (e[0], e[4] is None, e[1]))
    blocks = []
    for is_ours, name, thread, native, frame, is_me in entries:
        marks = []
        if thread is not None:
            marks.append("daemon" if thread.daemon else "not daemon")
        if thread is threading.main_thread():
            marks.append("main")
        if is_ours:
            marks.append("hotrepl's")
        if is_me:
            marks.append("this session")
        head = f"Thread {name!r} ({', '.join(marks)})" if marks else f"Thread {name!r}"
        if frame is None:
            blocks.append(f"{head}: no Python code")
            continue
        frames = traceback.extract_stack(frame)
        if is_me:
            # This thread is in the middle of listing: hotrepl's own frames are not news.
            frames = [f for f in frames if not f.filename.startswith(_package_dir())]
        stack = "".join(traceback.format_list(frames)).rstrip()
        blocks.append(f"{head}, innermost last:\n{stack}")
    print("\n\n".join(blocks))
