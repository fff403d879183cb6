"""``%time`` and ``%timeit``, also for awaiting code: ``%time await fetch()`` times the
awaited work on the event loop cells await on; ``%timeit await coro()`` gives that loop back
between two runs of the statement, so a live program's loop is never held longer than one
run of it."""

from __future__ import annotations

import time as clock

from hotrepl._magics import UsageError, awaits_code, builtin, column_of, run_awaiting, split_options, usage_of


def format_time(seconds: float) -> str:
    """A duration with three significant digits, in the unit that fits (s, ms, µs, ns)."""
    if seconds >= 1:
        value, unit = seconds, "s"
    elif seconds >= 1e-3:
        value, unit = seconds * 1e3, "ms"
    elif seconds >= 1e-6:
        value, unit = seconds * 1e6, "µs"
    else:
        value, unit = seconds * 1e9, "ns"
    if value == 0:
        return "0 ns"
    if value >= 100:
        return f"{value:.0f} {unit}"
    if value >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.2f} {unit}"


def _cpu_clock(thread_only: bool):
    """CPU time of this thread (plain code runs in one) or of the whole process."""
    return clock.thread_time if thread_only else clock.process_time


def _report(wall_start: float, cpu_start: float, thread_only: bool) -> None:
    wall = clock.perf_counter() - wall_start
    cpu = _cpu_clock(thread_only)() - cpu_start
    whose = "" if thread_only else " (whole process)"
    print(f"CPU time{whose}: {format_time(cpu)}\nWall time: {format_time(wall)}")


def _time_awaits(line, cell=None):
    return awaits_code(line if cell is None else cell)


@builtin("time", complete="python", awaits=_time_awaits)
@builtin("time", "cell", python_body=True, awaits=_time_awaits)
def time(ctx, line, cell=None):
    """Time one run of a statement, or of the cell: %time STATEMENT, %%time

    Prints the wall time and the CPU time; the value of a final expression is shown as
    without %time. %time await fetch() times the awaited work, on the event loop awaiting
    cells run on (the program's own, in an attached session)."""
    source, line_no = (cell, ctx.line + 1) if cell is not None else (line, ctx.line)
    if not source.strip():
        raise UsageError(f"nothing to time\n{usage_of(time)}")
    column = 0 if cell is not None else column_of(ctx, source)
    code = ctx.compile(source, line=line_no, column=column)
    if code.awaits:
        return _time_awaiting(code)
    wall_start, cpu_start = clock.perf_counter(), _cpu_clock(True)()
    value = code.run()
    _report(wall_start, cpu_start, True)
    return value


async def _time_awaiting(code):
    # Awaited work runs on the loop between other tasks: only the process's CPU time says
    # what it cost.
    wall_start, cpu_start = clock.perf_counter(), _cpu_clock(False)()
    value = await run_awaiting(code)
    _report(wall_start, cpu_start, False)
    return value


TIMEIT_OPTIONS = {"-n": int, "-r": int}
# Auto-ranging stops at the first loop count whose run takes this long (as IPython does).
ENOUGH_SECONDS = 0.2
DEFAULT_RUNS = 7
# An awaiting statement gives the loop back after each run, which costs time of its own:
# its auto-ranging also stops once a run has taken this long in all.
AWAITING_RUN_BUDGET = 0.5


def _timeit_awaits(line, cell=None):
    if cell is not None:
        return awaits_code(cell)
    try:
        return awaits_code(split_options(line, "", TIMEIT_OPTIONS)[1])
    except UsageError:
        return False


@builtin("timeit", complete="python", awaits=_timeit_awaits)
@builtin("timeit", "cell", python_body=True, awaits=_timeit_awaits)
def timeit(ctx, line, cell=None):
    """Time a statement over many runs: %timeit [-n N] [-r R] STATEMENT, %%timeit [-n N] [-r R] [SETUP]

    Runs it N times per measurement (chosen so one takes at least 0.2 s, unless -n), R
    measurements (default 7), and prints the mean and standard deviation per run.
    %timeit await coro() times awaiting code on the event loop, which gets control back
    between runs. In an attached session plain statements run in the session's thread, as
    cells do, so the program's loop keeps running."""
    usage = usage_of(timeit)
    options, rest = split_options(line, usage, TIMEIT_OPTIONS)
    setup, statement = (rest, cell) if cell is not None else ("", rest)
    if not statement.strip():
        raise UsageError(f"nothing to time\n{usage}")
    number, runs = options.get("-n"), options.get("-r", DEFAULT_RUNS)
    if (number is not None and number < 1) or runs < 1:
        raise UsageError(f"-n and -r must be at least 1\n{usage}")
    # Compiled first so that a SyntaxError points at the cell, not at timeit's template.
    checked = ctx.compile(statement, line=ctx.line + (cell is not None), column=0 if cell is not None else column_of(ctx, statement))
    namespace = _namespace(ctx)
    if setup.strip():
        exec(compile(setup, ctx.filename, "exec"), namespace)
    if checked.awaits:
        return _timeit_awaiting(ctx, namespace, statement, number, runs)
    import timeit as timeit_module

    timer = timeit_module.Timer(statement, globals=namespace)
    if number is None:
        number = _autorange(timer.timeit)
    _print_timings([t / number for t in timer.repeat(runs, number)], number)


def _namespace(ctx) -> dict:
    """Where the statement's names are found: the cell's globals, with its locals over them
    when it runs in a function (a copy: timing must not change the function's variables)."""
    if ctx.locals is ctx.globals:
        return ctx.globals
    merged = dict(ctx.globals)
    merged.update(ctx.locals)
    return merged


def _autorange(measure) -> int:
    number = 1
    while True:
        if measure(number) >= ENOUGH_SECONDS or number >= 10**9:
            return number
        number *= 10


def _print_timings(per_run: list, number: int) -> None:
    import statistics

    mean = statistics.mean(per_run)
    deviation = statistics.pstdev(per_run) if len(per_run) > 1 else 0.0
    runs = len(per_run)
    print(
        f"{format_time(mean)} ± {format_time(deviation)} per loop (mean ± std. dev. of {runs} run{'s' * (runs != 1)}, "
        f"{number:,} loop{'s' * (number != 1)} each)"
    )


_AWAITING_TEMPLATE = """\
async def _hotrepl_timed(_hotrepl_n, _hotrepl_clock, _hotrepl_yield):
    _hotrepl_total = 0.0
    for _hotrepl_i in range(_hotrepl_n):
        _hotrepl_t0 = _hotrepl_clock()
{body}
        _hotrepl_total += _hotrepl_clock() - _hotrepl_t0
        await _hotrepl_yield(0)
    return _hotrepl_total
"""


async def _timeit_awaiting(ctx, namespace, statement, number, runs):
    import asyncio
    import textwrap
    import types

    body = textwrap.indent(textwrap.dedent(statement), " " * 8)
    module = compile(_AWAITING_TEMPLATE.format(body=body), ctx.filename, "exec")
    code = next(c for c in module.co_consts if isinstance(c, types.CodeType))
    timed = types.FunctionType(code, namespace)
    clock_cost = await _clock_cost(namespace)

    async def measure(n):
        return max(await timed(n, clock.perf_counter, asyncio.sleep) - n * clock_cost, 0.0)

    if number is None:
        number = 1
        while number < 10**9:
            started = clock.perf_counter()
            if await measure(number) >= ENOUGH_SECONDS or clock.perf_counter() - started >= AWAITING_RUN_BUDGET:
                break
            number *= 10
    _print_timings([await measure(number) / number for _ in range(runs)], number)


async def _clock_cost(namespace) -> float:
    """What reading the clock twice per run adds to a run, to take it off again."""
    import asyncio
    import types

    module = compile(_AWAITING_TEMPLATE.format(body=" " * 8 + "pass"), "<timeit>", "exec")
    code = next(c for c in module.co_consts if isinstance(c, types.CodeType))
    empty = types.FunctionType(code, namespace)
    n = 1000
    return min([await empty(n, clock.perf_counter, asyncio.sleep) for _ in range(3)]) / n

