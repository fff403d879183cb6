"""The hot-reload scenarios of issue 11, shared by tests/test_patch.py (hotrepl's reload)
and bench/reload.py (the same edit under IPython's autoreload, importlib.reload and
jurigged): a module `handlers.py` in two versions, an asyncio app that imports it in
several ways and keeps calling it, and checks that say whether the running program now
behaves as the new file says."""

from __future__ import annotations

import time
from pathlib import Path

HANDLERS_V1 = '''\
import asyncio
import dataclasses
import enum
import functools

counters = {"calls": 0}
registry = []
TIMEOUT = 5


def register(fn):
    registry.append(fn)
    return fn


def greet(name):
    counters["calls"] += 1
    return f"hello {name} v1"


@register
def on_tick():
    return "tick v1"


class Handler:
    def handle(self, x):
        return f"handle v1 {x}"

    @property
    def label(self):
        return "label v1"

    @classmethod
    def make(cls):
        return f"make v1 {cls.__name__}"


class SpecialHandler(Handler):
    pass


class Color(enum.Enum):
    RED = 1
    GREEN = 2

    def describe(self):
        return f"{self.name} v1"


@functools.singledispatch
def describe(x):
    return "thing"


@describe.register
def _(x: int):
    return "int v1"


def logged(fn):
    @functools.wraps(fn)
    def wrapper(*args):
        return fn(*args)
    return wrapper


@logged
def compute(x):
    return x + 1


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0

    def norm(self):
        return abs(self.x) + abs(self.y)


def old_util():
    return "old"


async def slow_job(release):
    await release.wait()
    return "job v1"
'''

# Every definition above changed, one function gone, one function and a constant new.
HANDLERS_V2 = (
    HANDLERS_V1.replace(" v1", " v2")
    .replace("return x + 1", "return x + 101")
    .replace("return abs(self.x) + abs(self.y)", "return 100 * (abs(self.x) + abs(self.y))")
    .replace('def old_util():\n    return "old"\n', 'def new_helper():\n    return "new"\n')
    .replace("TIMEOUT = 5", "TIMEOUT = 10")
)

# Another module of the program, holding its own copy of `greet`.
OTHER = '''\
from handlers import greet


def call_greet(name):
    return greet(name)
'''

# The program: imports handlers in several ways, keeps references of every kind (checks use
# those, not handlers.NAME, which a fresh module would also answer), and calls into it from
# a ticker on its event loop. `slow_job` stays suspended inside handlers.
APP = '''
import asyncio
import handlers
from handlers import compute, describe, greet
import other

h = handlers.Handler()
sub = handlers.SpecialHandler()
bound = h.handle
red = handlers.Color.RED
callbacks = [handlers.on_tick]
point = handlers.Point(1, 2)
counters = handlers.counters
seen = None

async def ticker():
    global seen
    while True:
        await asyncio.sleep(0.01)
        now = (greet("tick"), callbacks[0]())
        if now != seen:
            seen = now
            print("TICKER", *now, flush=True)

async def main():
    global app_loop, job, release
    app_loop = asyncio.get_running_loop()
    release = asyncio.Event()
    job = asyncio.ensure_future(handlers.slow_job(release))
    asyncio.ensure_future(ticker())
    print("LOOP RUNNING", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
'''

# (what is checked, an expression over the app's globals that is true once it holds).
SCENARIOS: list[tuple[str, str]] = [
    ("an existing instance's method", "h.handle(1) == 'handle v2 1'"),
    ("`from handlers import greet` copy in another module", "other.call_greet('x') == 'hello x v2'"),
    ("callback stored in a list", "callbacks[0]() == 'tick v2'"),
    ("bound method stored before the reload", "bound(1) == 'handle v2 1'"),
    ("singledispatch function held since before", "describe(1) == 'int v2'"),
    ("functools.wraps-decorated function held since before", "compute(1) == 102"),
    ("subclass instance", "sub.handle(1) == 'handle v2 1'"),
    ("property and classmethod", "h.label == 'label v2' and handlers.Handler.make() == 'make v2 Handler'"),
    ("Enum member keeps its identity", "red is handlers.Color.RED and red.describe() == 'RED v2'"),
    ("isinstance(old instance, handlers.Handler)", "isinstance(h, handlers.Handler) and isinstance(sub, handlers.Handler)"),
    ("dataclass instance's method", "point.norm() == 300"),
    ("module state kept (the counter dict)", "handlers.counters is counters and counters['calls'] > 0"),
    ("changed constant", "handlers.TIMEOUT == 10"),
    ("new function added, deleted one removed", "handlers.new_helper() == 'new' and not hasattr(handlers, 'old_util')"),
    ("the loop's ticker runs the new code", "seen == ('hello tick v2', 'tick v2')"),
]

# A cell printing, for each scenario, whether it holds (a check that raises does not).
CHECK_CELL = """
for _label, _check in {scenarios!r}:
    try:
        _ok = bool(eval(_check))
    except Exception as _error:
        _ok = False
    print("SCENARIO", _ok, _label)
"""


def check_cell() -> str:
    return CHECK_CELL.format(scenarios=SCENARIOS)


def parse_checks(stdout: str) -> dict[str, bool]:
    """What check_cell() printed: scenario -> whether it held."""
    results = {}
    for line in stdout.splitlines():
        if line.startswith("SCENARIO "):
            _, ok, label = line.split(" ", 2)
            results[label] = ok == "True"
    return results


def write_app_modules(workdir: Path) -> None:
    (workdir / "handlers.py").write_text(HANDLERS_V1)
    (workdir / "other.py").write_text(OTHER)


def save(path: Path, text: str) -> None:
    """Writes a new version of a file with a later modification time than the last (two
    saves within the file system's timestamp resolution would otherwise look alike)."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    while path.stat().st_mtime_ns <= before:
        time.sleep(0.01)
        path.write_text(text)
