"""Hot patching a running program (issue 11): an asyncio app keeps calling a module
`handlers.py` that it imported in several ways; the file is edited on disk and reloaded
from an attached session (or by `hotrepl reload`, or by watch mode), and the running
program must behave as the new file says, without losing its state. The scenarios are in
reload_scenarios.py (bench/reload.py runs the same ones under IPython's autoreload,
importlib.reload and jurigged).

Sessions reload with `%reload handlers` (`hotrepl.reload('handlers')` does the same from
Python) and `%autoreload on`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hosts import host_env
from reload_scenarios import (APP, HANDLERS_V1, HANDLERS_V2, SCENARIOS, check_cell, parse_checks, save,
                              write_app_modules)

TESTS = Path(__file__).resolve().parent
GREET_V2 = HANDLERS_V1.replace('f"hello {name} v1"', 'f"hello {name} v2"')
AWAIT_LINE = HANDLERS_V1.splitlines().index("    await release.wait()") + 1


@pytest.fixture
def app(make_host, tmp_path):
    """The app of reload_scenarios.py, running, with its ticker on the v1 code."""
    write_app_modules(tmp_path)
    host = make_host(APP, workdir=tmp_path)
    host.wait_for_output("TICKER hello tick v1 tick v1")
    return host


def reload_handlers(client) -> str:
    run = client.execute("%reload handlers")
    assert run.error is None, "".join(run.error["traceback"])
    return run.result + "\n"


def test_every_reference_runs_the_new_code_and_state_is_kept(app, tmp_path):
    client = app.connect()
    save(tmp_path / "handlers.py", HANDLERS_V2)
    printed = reload_handlers(client)
    assert printed.splitlines() == [
        "handlers: updated greet, on_tick, _, compute, slow_job; class Handler: 3 methods updated; "
        "class Color: 1 method updated; class Point: 1 method updated; added new_helper; changed TIMEOUT; "
        "removed old_util",
        f"not patched: handlers.slow_job: a suspended coroutine at handlers.py:{AWAIT_LINE} keeps the old code "
        "until it finishes",
    ]
    # Applied in one step between two steps of the program's loop (the cell ran in the
    # session's own thread).
    assert client.execute("(_.ok, _.applied)").result == "(False, 'loop')"
    app.wait_for_output("TICKER hello tick v2 tick v2")
    checks = parse_checks(client.execute(check_cell()).stdout)
    assert checks == {label: True for label, _ in SCENARIOS}
    # What the report said: the suspended call finishes on the old code, new calls run the new.
    assert client.execute("release.set()\nawait job").result == "'job v1'"
    assert client.execute("await handlers.slow_job(release)").result == "'job v2'"
    # Reloading the same file again changes nothing.
    assert reload_handlers(client) == "handlers: no changes\n"


def test_a_syntax_error_changes_nothing(app, tmp_path):
    client = app.connect()
    save(tmp_path / "handlers.py", HANDLERS_V2 + "\ndef broken(:\n    pass\n")
    run = client.execute("hotrepl.reload('handlers')")
    assert run.error["ename"] == "SyntaxError"
    assert 'handlers.py", line' in "".join(run.error["traceback"])
    assert client.execute("(h.handle(1), greet('x'), handlers.TIMEOUT, hasattr(handlers, 'old_util'))").result == (
        "('handle v1 1', 'hello x v1', 5, True)")


def test_an_error_in_new_top_level_code_changes_nothing(app, tmp_path):
    client = app.connect()
    save(tmp_path / "handlers.py", HANDLERS_V2 + "\nRATIO = TIMEOUT / 0\n")
    run = client.execute("hotrepl.reload('handlers')")
    assert run.error["ename"] == "ZeroDivisionError"
    traceback = "".join(run.error["traceback"])
    assert f'handlers.py", line {HANDLERS_V2.count(chr(10)) + 2}, in <module>' in traceback
    assert client.execute("(h.handle(1), handlers.TIMEOUT, hasattr(handlers, 'RATIO'), hasattr(handlers, 'new_helper'))"
                          ).result == "('handle v1 1', 5, False, False)"


def test_what_cannot_change_in_place_is_reported_and_the_rest_is_patched(app, tmp_path):
    client = app.connect()
    changed = (HANDLERS_V2.replace("    y: int = 0\n", "    y: int = 0\n    z: int = 0\n")
               .replace("class SpecialHandler(Handler):\n    pass", "class SpecialHandler(Handler, dict):\n    pass")
               .replace("    GREEN = 2\n", "    GREEN = 2\n    BLUE = 3\n")
               .replace("async def slow_job(release):\n    await release.wait()\n    return \"job v2\"",
                        "async def slow_job(release):\n    await release.wait()\n    return \"job v1\""))
    save(tmp_path / "handlers.py", changed)
    lines = reload_handlers(client).splitlines()
    assert lines[1:] == [
        "not patched: class SpecialHandler: its bases changed (Handler -> Handler, dict); "
        "the class was left as it was (a restart applies it)",
        "not patched: class Color: its members changed (added BLUE): an Enum's members are kept as they are "
        "while the program holds them",
        "not patched: class Point: its fields changed (dataclass): the instances the program holds were made "
        "with the old ones; its other members were patched",
    ]
    checks = parse_checks(client.execute(check_cell()).stdout)
    assert checks["dataclass instance's method"] and checks["Enum member keeps its identity"]
    assert client.execute("handlers.SpecialHandler.__bases__ == (handlers.Handler,)").result == "True"


def test_watch_mode_patches_the_program_when_a_file_is_saved(make_host, tmp_path):
    write_app_modules(tmp_path)
    logging_to_stdout = "import logging, sys\nlogging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(message)s')\n"
    host = make_host(logging_to_stdout + APP, start_args="watch=True", workdir=tmp_path)
    host.wait_for_output("TICKER hello tick v1 tick v1")
    save(tmp_path / "handlers.py", GREET_V2)
    host.wait_for_output("TICKER hello tick v2 tick v1")
    host.wait_for_output("hotrepl: handlers: updated greet")
    # The program's directory is watched; the standard library and site-packages are not.
    client = host.connect()
    run = client.execute(
        "import sysconfig\n_w = hotrepl._patch._watcher.directories\n"
        "print(_w)\nprint([d for d in _w if d.startswith(tuple(sysconfig.get_paths().values()))])")
    assert run.error is None, run.error
    watched = run.stdout
    assert str(tmp_path.resolve()) in watched.splitlines()[0]
    assert watched.splitlines()[1] == "[]"
    # A broken save is logged and changes nothing; the fixed one goes in.
    save(tmp_path / "handlers.py", GREET_V2 + "\ndef broken(:\n")
    host.wait_for_output("hotrepl: handlers not reloaded, nothing was changed: SyntaxError")
    save(tmp_path / "handlers.py", GREET_V2.replace("tick v1", "tick v2"))
    host.wait_for_output("TICKER hello tick v2 tick v2")


def test_hotrepl_reload_exit_codes(app, tmp_path, hotrepl_bin):
    def reload(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([hotrepl_bin, "reload", *args], capture_output=True, text=True, timeout=30,
                              env=host_env(app.runtime_dir))

    save(tmp_path / "handlers.py", GREET_V2)
    done = reload(str(app.pid), "handlers")
    assert (done.returncode, done.stdout, done.stderr) == (0, "handlers: updated greet\n", "")
    save(tmp_path / "handlers.py", GREET_V2.replace('"job v1"', '"job v2"'))
    done = reload(str(app.pid), "handlers")
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "handlers: updated slow_job",
        f"not patched: handlers.slow_job: a suspended coroutine at handlers.py:{AWAIT_LINE} keeps the old code "
        "until it finishes",
    ]
    save(tmp_path / "handlers.py", GREET_V2 + "\ndef broken(:\n")
    done = reload(app.address, "handlers")
    assert done.returncode == 1
    assert "SyntaxError" in done.stderr
    done = reload(str(app.pid), "not_imported")
    assert done.returncode == 1
    assert "ValueError: 'not_imported' is not imported in this program" in done.stderr
    done = reload(str(tmp_path / "missing.sock"), "handlers")
    assert done.returncode == 2
    assert "cannot connect to" in done.stderr
    done = reload(str(app.pid), "handlers; import os")
    assert (done.returncode, done.stderr) == (2, "hotrepl: \"handlers; import os\" is not a module name\n")
    assert app.alive()


def test_autoreload_patches_changed_modules_before_a_cell(app, tmp_path):
    client = app.connect()
    assert client.execute("%autoreload").stdout == "autoreload off\n"
    assert client.execute("%autoreload on").stdout.startswith("autoreload on")
    assert client.execute("1").stdout == ""
    save(tmp_path / "handlers.py", GREET_V2)
    run = client.execute("greet('x')")
    assert run.stdout == "handlers: updated greet\n" and run.result == "'hello x v2'", "patched before the cell ran"
    assert client.execute("1").stdout == ""
    assert "pre_cell  autoreload" in client.execute("%hooks").stdout
    for bad in ("%autoreload sometimes", "%reload", "%reload --force handlers"):
        assert client.execute(bad).error["ename"] == "UsageError", bad
    assert client.execute("%autoreload off").stdout == "autoreload off\n"
    assert "autoreload" not in client.execute("%hooks").stdout
    save(tmp_path / "handlers.py", GREET_V2.replace("def old_util():\n    return \"old\"\n", ""))
    assert client.execute("%reload --keep-deleted handlers").result == "handlers: no changes"
    assert client.execute("%reload handlers").result == "handlers: removed old_util"
    assert client.execute("hotrepl.reload('handlers').ok").result == "True", "the Python API, the same"


def test_a_failing_operation_undoes_the_ones_before_it():
    from hotrepl import _native

    namespace = {"kept": 1}

    def plain():
        return "plain"

    def outer():
        x = 1
        return lambda: x

    class Target:
        attribute = "old"

    with pytest.raises(ValueError, match="free vars"):
        _native.apply_patch([
            ("set_item", namespace, "kept", 2),
            ("set_item", namespace, "added", 3),
            ("del_item", namespace, "kept"),
            ("set_class_attr", Target, "attribute", "new"),
            ("set_class_attr", Target, "extra", "new"),
            ("set_attr", plain, "__doc__", "changed"),
            ("set_attr", plain, "__code__", outer().__code__),  # needs a closure `plain` lacks
        ])
    assert namespace == {"kept": 1}
    assert (Target.attribute, hasattr(Target, "extra"), plain.__doc__, plain()) == ("old", False, None, "plain")
    place, seconds = _native.apply_patch([("set_class_attr", Target, "attribute", "new"), ("del_item", namespace, "kept")])
    assert (place, Target.attribute, namespace) == ("here", "new", {})
    assert 0 <= seconds < 1
    with pytest.raises(ValueError, match="unknown patch operation"):
        _native.apply_patch([("replace", namespace, "kept", 1)])


# -- the patching rules, each in a program of its own -------------------------------------

PROGRAM = """
import json, sys
sys.path[:0] = [{workdir!r}, {tests!r}]
from pathlib import Path
from reload_scenarios import save
import hotrepl
import mod
{before}
save(Path(mod.__file__), {new!r})
report = hotrepl.reload("mod")
{after}
print(json.dumps({{"report": str(report), "results": results}}))
"""


def reload_in_program(tmp_path: Path, old: str, new: str, before: str, after: str) -> tuple[list[str], object]:
    """Runs a program that imports `mod` (source `old`), runs `before`, saves `new` and
    reloads it, then runs `after`, which sets `results`. Returns the report's lines and
    the results."""
    (tmp_path / "mod.py").write_text(textwrap.dedent(old))
    program = PROGRAM.format(workdir=str(tmp_path), tests=str(TESTS), new=textwrap.dedent(new),
                             before=textwrap.dedent(before), after=textwrap.dedent(after))
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    return out["report"].splitlines(), out["results"]


def test_closures_get_the_new_code_where_their_variables_still_fit(tmp_path):
    old = """
        import functools
        def counted(fn):
            @functools.wraps(fn)
            def wrapper(*args):
                return ("v1", fn(*args))
            return wrapper
        @counted
        def double(x):
            return 2 * x
        def adder(n):
            return lambda x: x + n
        def scaler(n):
            return lambda x: x * n
    """
    new = (textwrap.dedent(old).replace('("v1", fn(*args))', '("v2", fn(*args))')
           .replace("lambda x: x + n", "lambda x: x + n + 1000")
           .replace("return lambda x: x * n", "m = n + 1\n    return lambda x: x * m"))
    report, results = reload_in_program(tmp_path, old, new, "add5 = mod.adder(5); times3 = mod.scaler(3)",
                                        "results = [mod.double(4), add5(1), times3(2)]")
    assert report == [
        "mod: updated counted, adder, scaler",
        "not patched: mod.scaler.<locals>.<lambda>: the variables it closes over changed (n -> m); "
        "1 function made from it before keeps the old code",
    ]
    assert results == [["v2", 8], 1006, 6]


def test_members_that_change_kind_or_closure_are_replaced_and_caches_cleared(tmp_path):
    old = """
        import functools
        class Base:
            def hello(self):
                return "base"
        class Thing(Base):
            size = 1
            registry = []
            def hello(self):
                return "thing v1"
            def area(self):
                return 10
            def gone(self):
                return "gone"
            @functools.lru_cache(maxsize=None)
            def cached(self):
                return "cached v1"
    """
    new = (textwrap.dedent(old).replace('return "thing v1"', 'return "thing v2 " + super().hello()')
           .replace("    def area(self):", "    @property\n    def area(self):")
           .replace('    def gone(self):\n        return "gone"\n', "")
           .replace("size = 1", "size = 2").replace("registry = []", "registry = []  # kept")
           .replace('"cached v1"', '"cached v2"'))
    before = "thing = mod.Thing(); hello = thing.hello; mod.Thing.registry.append(1); first = thing.cached()"
    after = ("results = [thing.hello(), hello(), thing.area, hasattr(thing, 'gone'), mod.Thing.size, "
             "mod.Thing.registry, first, thing.cached()]")
    report, results = reload_in_program(tmp_path, old, new, before, after)
    assert report == [
        "mod: class Thing: 1 method updated, 2 replaced, 1 removed, 1 attribute changed",
        "not patched: mod.Thing.hello: replaced by a new function object (the variables it closes over changed); "
        "references to the old one taken earlier keep the old code",
    ]
    assert results == ["thing v2 base", "thing v1", 10, False, 2, [1], "cached v1", "cached v2"]


def test_the_second_reload_knows_which_statements_changed(tmp_path):
    old = """
        connections = {}
        LIMIT = int("3")
        def limit():
            return LIMIT
    """
    second = textwrap.dedent(old).replace('int("3")', 'int("4")')
    third = second.replace('int("4")', 'int("5")') + "connections['added'] = True\n"
    after = f"""
        first = [mod.limit(), dict(mod.connections)]
        save(Path(mod.__file__), {third!r})
        again = str(hotrepl.reload("mod"))
        results = [first, again, mod.limit(), mod.connections]
    """
    report, results = reload_in_program(tmp_path, old, second, "mod.connections['live'] = 1", after)
    # The first reload knows only the live objects: a statement that binds an existing name
    # to something other than a plain constant is kept as it was (LIMIT stays 3).
    assert report == ["mod: no changes"]
    # From then on the source it patched in says which statements are new or changed.
    assert results == [[3, {"live": 1}], "mod: changed LIMIT; ran 1 new top-level statement", 5,
                       {"live": 1, "added": True}]


def test_moved_functions_keep_quiet_and_get_their_new_line_numbers(tmp_path):
    old = """
        def fails():
            raise ValueError("here")
    """
    new = "# a comment\n# and another\n" + textwrap.dedent(old)
    after = """
        import traceback
        try:
            mod.fails()
        except ValueError as error:
            results = traceback.extract_tb(error.__traceback__)[-1].lineno
    """
    report, results = reload_in_program(tmp_path, old, new, "", after)
    assert report == ["mod: no changes"]
    assert results == 5


def test_modules_without_source_are_reported(tmp_path):
    report, results = reload_in_program(tmp_path, "X = 1\n", "X = 1\n", "import hotrepl._native",
                                        "results = str(hotrepl.reload(sys, hotrepl._native))")
    assert results.splitlines() == [
        "sys: no changes | hotrepl._native: no changes",
        "not patched: sys: no source file (built in, or a namespace package)",
        "not patched: hotrepl._native: an extension module: compiled code cannot be patched in place",
    ]
