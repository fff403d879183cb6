"""Background jobs: ``%bg STATEMENT`` gives the prompt back at once while the statement runs
(awaiting code as a task on the event loop, other code in a thread of its own); ``%jobs``
lists the process's jobs, whichever session started them; ``%fg N`` waits for one and shows
its output, then its value or its error. A job's output is kept (its last 1 MiB) for
whoever asks."""

from __future__ import annotations

import threading
import time

from hotrepl._magics import UsageError, builtin, run_awaiting, usage_of

OUTPUT_KEPT = 1 << 20


class Job:
    def __init__(self, number: int, statement: str, kind: str, session):
        from hotrepl._native import OutputCapture

        self.number = number
        self.statement = statement
        self.kind = kind
        self.session = session
        self.output = OutputCapture(OUTPUT_KEPT)
        self.started = time.monotonic()
        self.ended = None
        self.result = None
        self.error = None
        self.task = None
        self._done = threading.Condition()

    @property
    def state(self) -> str:
        if self.ended is None:
            return "running"
        if self.error is None:
            return "done"
        return "cancelled" if type(self.error).__name__ == "CancelledError" else "failed"

    def finish(self, result=None, error=None) -> None:
        with self._done:
            self.result, self.error, self.ended = result, error, time.monotonic()
            self._done.notify_all()

    def wait(self, interrupted) -> None:
        with self._done:
            self._done.wait_for(lambda: self.ended is not None or interrupted)

    def wake(self) -> None:
        with self._done:
            self._done.notify_all()


_jobs: dict = {}
_jobs_lock = threading.Lock()


def _new_job(statement, kind, ctx) -> Job:
    with _jobs_lock:
        number = max(_jobs, default=0) + 1
        job = _jobs[number] = Job(number, statement, kind, ctx.session_number)
    return job


@builtin("bg", complete="python")
def bg(ctx, line):
    """Run a statement in the background: %bg STATEMENT

    The prompt comes back at once. Awaiting code runs as a task on the event loop, other
    code in a thread of its own. Its output is kept for %fg; %jobs lists jobs."""
    statement = line.strip()
    if not statement:
        raise UsageError(usage_of(bg))
    code = ctx.compile(statement)
    if code.awaits:
        loop = ctx.event_loop()
        if loop is None:
            raise UsageError("no event loop to run an awaiting job on yet: run a cell that awaits first")
        job = _new_job(statement, "task", ctx)
        _start_task(job, code, loop)
    else:
        job = _new_job(statement, "thread", ctx)
        threading.Thread(target=_run_in_thread, args=(job, code), name=f"hotrepl-job-{job.number}", daemon=True).start()
    print(f"[{job.number}] started ({job.kind}): {statement}")


def _run_in_thread(job: Job, code) -> None:
    job.output.bind_current_thread()
    try:
        result = code.run()
    except BaseException as e:  # noqa: BLE001 - kept for %fg
        job.finish(error=e)
    else:
        job.finish(result=result)


def _start_task(job: Job, code, loop) -> None:
    import contextvars

    from hotrepl._magics.tasks import call_on_loop

    async def run():
        # Output is looked up through the context only while something routes there.
        job.output.open()
        try:
            result = await run_awaiting(code)
        except BaseException as e:  # noqa: BLE001 - kept for %fg
            job.finish(error=e)
            if not isinstance(e, Exception):
                raise
        else:
            job.finish(result=result)
        finally:
            job.output.close()

    def create():
        # The task prints into the job's output: its context says so, and tasks it starts
        # copy that context.
        context = contextvars.copy_context()
        context.run(job.output.enter_context)
        job.task = context.run(loop.create_task, run())
        job.task.set_name(f"hotrepl job {job.number}")
        return job.task

    call_on_loop(loop, create)


@builtin("jobs")
def jobs(ctx, line):
    """List the background jobs of this process: %jobs

    Number, state, how long it has run, where it runs, the session that started it, and
    the statement."""
    with _jobs_lock:
        listed = list(_jobs.values())
    if not listed:
        print("No background jobs (%bg STATEMENT starts one).")
        return
    rows = [("#", "STATE", "ELAPSED", "KIND", "SESSION", "STATEMENT")]
    for job in listed:
        elapsed = (job.ended or time.monotonic()) - job.started
        session = "local" if job.session is None else str(job.session)
        rows.append((str(job.number), job.state, f"{elapsed:.1f}s", job.kind, session, job.statement))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    print("\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows))


def _job(line: str) -> Job:
    text = line.strip()
    with _jobs_lock:
        if not text and _jobs:
            return _jobs[max(_jobs)]
        try:
            return _jobs[int(text)]
        except (ValueError, KeyError):
            raise UsageError(f"no job {text!r} (%jobs lists them)") from None


def _fg_awaits(line):
    from hotrepl._magics.tasks import runs_on_a_loop

    try:
        job = _job(line)
    except UsageError:
        return False
    return job.kind == "task" and job.ended is None and runs_on_a_loop()


@builtin("fg", awaits=_fg_awaits)
def fg(ctx, line):
    """Wait for a background job, then show its output and its value (or error): %fg [N]

    Without N, the latest job. Ctrl-C stops waiting; the job goes on."""
    job = _job(line)
    if job.kind == "task" and job.ended is None and _on_jobs_loop(job):
        return _wait_here(job)
    interrupted = []

    def stop_waiting():
        interrupted.append(True)
        job.wake()

    ctx.add_interrupt_hook(stop_waiting)
    try:
        job.wait(interrupted)
    finally:
        ctx.remove_interrupt_hook(stop_waiting)
    if interrupted and job.ended is None:
        raise KeyboardInterrupt
    return _outcome(job)


def _on_jobs_loop(job: Job) -> bool:
    import asyncio

    return asyncio._get_running_loop() is job.task.get_loop()


async def _wait_here(job: Job):
    import asyncio

    await asyncio.wait({job.task})
    return _outcome(job)


def _outcome(job: Job):
    import sys

    text = job.output.text
    if job.output.dropped:
        sys.stdout.write(f"[{job.output.dropped:,} bytes of earlier output dropped]\n")
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    if job.error is not None:
        raise job.error
    return job.result
