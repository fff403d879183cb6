"""Hot patching: a module's edited file is compared with what the program has loaded,
definition by definition, and only what changed goes into the live objects.

Functions keep their identity: the function object the program holds gets the new code,
defaults, annotations and docstring, so every reference to it (``from m import f`` copies,
bound methods, registered callbacks, wrappers) runs the new code. Classes keep theirs:
members are added, changed and removed on the class object, so instances, subclasses and
``isinstance`` carry on. Top-level statements that did not change are not run again, so the
module's state survives. What cannot be patched is reported with the reason, never half
applied.

Planning happens here, in the caller's thread, without touching the program: old and new
code are matched by qualified name (the live functions are found among all objects, so
also closures and functions only a registry still holds), new top-level code runs against a
scratch namespace, and an error there leaves everything as it was. The plan is a list of
operations that ``hotrepl._native.apply_patch`` carries out in one step.

Imported on first use only: ``hotrepl.reload``, the ``%reload``/``%autoreload`` magics,
``hotrepl.start(watch=True)``.
"""

from __future__ import annotations

import __future__
import ast
import collections
import contextlib
import copy
import dataclasses
import dis
import enum
import functools
import gc
import importlib.machinery
import importlib.util
import linecache
import logging
import os
import shlex
import site
import sys
import sysconfig
import threading
import time
import types
from typing import Any, Callable, Iterable, Iterator, NamedTuple, NoReturn

from hotrepl import _native

# Names planning binds while it runs the new source: a definition's decorators become
# `__hotrepl_keep__` (not run again), a class statement's metaclass `__hotrepl_class__`.
_KEEP = "__hotrepl_keep__"
_CAPTURE = "__hotrepl_class__"
_MISSING: Any = object()
# What a class body or type.__new__ puts in a class's namespace besides its members.
_CLASS_HOUSEKEEPING = frozenset({
    "__module__", "__qualname__", "__classcell__", "__dict__", "__weakref__", "__firstlineno__",
    "__static_attributes__", "__orig_bases__", "__parameters__", "__slots__",
})
_GENERATOR_TYPES = (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)
_MUTABLE = (list, dict, set, bytearray)
_IMMUTABLE = (int, float, complex, str, bytes, bool, type(None))

_log = logging.getLogger("hotrepl")
_lock = threading.RLock()
# By module name: the source last patched in, or one known to be the loaded one (its text,
# parsed when first needed). Without one, planning compares with the live objects alone.
_baselines: dict[str, _Baseline | str] = {}
# By module name: the file's (mtime_ns, size) when it was loaded or last patched, as known.
_stamps: dict[str, tuple[int, int] | None] = {}
# By file: what the last reload compiled each top-level statement to, by the statement's
# place and text: a statement that did not change is not compiled again.
_compiled: dict[str, dict[tuple, types.CodeType]] = {}
_autoreload = False
_watcher: Any = None
# Modules watched although they are not the program's own (asked for by name).
_watch_also: set[str] = set()


# ---------------------------------------------------------------------------------------
# The report


class NotPatched(NamedTuple):
    """Something a reload could not change, and why."""

    what: str
    reason: str

    def __str__(self) -> str:
        return f"{self.what}: {self.reason}"


class ModuleChanges:
    """What a reload changed in one module."""

    def __init__(self, name: str):
        self.name = name
        self.updated: list[str] = []  # module-level functions with new code or signature
        # By class: how many members were updated, added, removed, replaced, and how many
        # plain attributes changed.
        self.classes: dict[str, collections.Counter[str]] = {}
        self.added: list[str] = []
        self.changed: list[str] = []
        self.removed: list[str] = []
        self.statements_run = 0
        self.not_patched: list[NotPatched] = []

    def count(self, cls: str, what: str) -> None:
        self.classes.setdefault(cls, collections.Counter())[what] += 1

    def summary(self) -> str:
        parts = []
        if self.updated:
            parts.append("updated " + ", ".join(self.updated))
        for cls, counts in self.classes.items():
            words = []
            if counts["updated"]:
                words.append(_plural(counts["updated"], "method") + " updated")
            for what in ("added", "replaced", "removed"):
                if counts[what]:
                    words.append(f"{counts[what]} {what}" if words else _plural(counts[what], "member") + f" {what}")
            if counts["attributes"]:
                words.append(_plural(counts["attributes"], "attribute") + " changed")
            parts.append(f"class {cls}: " + ", ".join(words))
        for label, names in (("added", self.added), ("changed", self.changed), ("removed", self.removed)):
            if names:
                parts.append(f"{label} " + ", ".join(names))
        if self.statements_run:
            parts.append("ran " + _plural(self.statements_run, "new top-level statement"))
        return f"{self.name}: " + ("; ".join(parts) or "no changes")


class ReloadReport:
    """What ``hotrepl.reload()`` did. Printed: a summary line per module, then one line for
    each thing that could not be patched, with the reason. ``ok`` says whether everything
    was patched."""

    def __init__(self, modules: list[ModuleChanges], applied: str | None, apply_seconds: float):
        self.modules = modules
        #: Where the patch was applied: "loop" (between two steps of the program's event
        #: loop), "here" (in the calling thread: no other loop runs), "busy" (the loop did not
        #: get to it within a second, so the calling thread applied it), None (no changes).
        self.applied = applied
        #: How long the program was held for the patch itself, in seconds.
        self.apply_seconds = apply_seconds

    @property
    def ok(self) -> bool:
        return not self.not_patched

    @property
    def not_patched(self) -> list[NotPatched]:
        return [item for module in self.modules for item in module.not_patched]

    @property
    def summary(self) -> str:
        return " | ".join(module.summary() for module in self.modules)

    def one_line(self) -> str:
        """The summary, with what could not be patched appended."""
        missed = self.not_patched
        if not missed:
            return self.summary
        return f"{self.summary} | not patched: " + "; ".join(map(str, missed))

    def __str__(self) -> str:
        lines = [self.summary]
        lines += [f"not patched: {item}" for item in self.not_patched]
        if self.applied == "busy":
            lines.append("(the program's event loop was busy for a second: the patch was applied from this thread)")
        return "\n".join(lines)

    __repr__ = __str__


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# ---------------------------------------------------------------------------------------
# Entry points


def reload(modules: Iterable[types.ModuleType | str], *, remove_deleted: bool = True) -> ReloadReport:
    """Patch the edited files of `modules` into the running program (see ``hotrepl.reload``)."""
    with _lock:
        resolved = [_resolve(m) for m in modules]
        if not resolved:
            raise ValueError("name at least one module to reload")
        sources = {module.__name__: _source_file(module) for module in resolved}
        live = _scan({file for file in sources.values() if file})
        results, plans = [], []
        with _program_objects_set_aside():
            for module in resolved:
                file = sources[module.__name__]
                if file is None:
                    changes = ModuleChanges(module.__name__)
                    changes.not_patched.append(NotPatched(module.__name__, _why_no_source(module)))
                    results.append(changes)
                    continue
                plan = _Plan(module, file, live[file], remove_deleted, _baseline_of(module.__name__, file))
                try:
                    plan.build()
                except BaseException as error:
                    _raise_unchanged(error, module.__name__, file)
                plans.append(plan)
                results.append(plan.changes)
        operations = [op for plan in plans for op in plan.ops]
        applied, seconds = _native.apply_patch(operations) if operations else (None, 0.0)
        for plan in plans:
            plan.after_apply()
        return ReloadReport(results, applied, seconds)


def reload_from_cli(names: list[str], remove_deleted: bool = True) -> None:
    """What ``hotrepl reload TARGET MODULE...`` runs in the program: prints the report, and
    ends the session with status 1 when something could not be patched."""
    report = reload(names, remove_deleted=remove_deleted)
    print(report)
    if not report.ok:
        raise SystemExit(1)


def magic_reload(line: str) -> ReloadReport:
    """The work of %reload (hotrepl._magics.patching): ValueError on bad arguments."""
    words = shlex.split(line)
    keep = "--keep-deleted" in words
    names = [w for w in words if w != "--keep-deleted"]
    unknown = [w for w in names if w.startswith("-")]
    if unknown or not names:
        raise ValueError("usage: %reload [--keep-deleted] MODULE [MODULE...]")
    return reload(names, remove_deleted=not keep)


def magic_autoreload(line: str) -> str:
    """The work of %autoreload (hotrepl._magics.patching): says what is on now; ValueError
    on bad arguments."""
    global _autoreload
    mode = line.strip()
    if mode == "on":
        with _lock:
            _autoreload = True
            _remember_loaded()
        return "autoreload on: modules whose files changed are patched before each cell"
    if mode == "watch":
        watch(True)
        return "autoreload watch: modules are patched as soon as their files are saved"
    if mode == "off":
        with _lock:
            _autoreload = False
        unwatch()
        return "autoreload off"
    if mode == "":
        if _watcher is not None:
            return "autoreload watch"
        return "autoreload on" if _autoreload else "autoreload off"
    raise ValueError("usage: %autoreload [on|off|watch]")


def autoreload_before_cell() -> str | None:
    """With ``%autoreload on``: patch the program's modules whose files changed since they
    were loaded or last patched. Returns a one-line report, or None when nothing changed."""
    if not _autoreload:
        return None
    with _lock:
        due = []
        for module in _own_modules():
            now = _stamp(module.__file__)
            known = _stamps.get(module.__name__, _MISSING)
            if known is _MISSING:
                _remember(module, now)
            elif now is not None and now != known:
                due.append(module)
        return _reload_due(due) if due else None


def watch(modules: bool | Iterable[str] = True) -> None:
    """Patch the program's own modules whenever their files are saved (file events from the
    OS, no polling): those loaded from outside the standard library and site-packages, and
    also `modules` when given as names. Reports go to ``logging.getLogger("hotrepl")``."""
    global _watcher
    with _lock:
        if modules is not True and modules is not False:
            _watch_also.update(modules)
        _remember_loaded()
        if _watcher is None:
            _watcher = _native.FileWatcher(_files_saved)
        _watcher.watch(sorted(_watch_directories()))


def unwatch() -> None:
    """Stop watching files (see ``watch``)."""
    global _watcher
    with _lock:
        watcher, _watcher = _watcher, None
        _watch_also.clear()
    if watcher is not None:
        watcher.stop()


def _files_saved(paths: list[str]) -> None:
    """Called from the watch thread with the .py files a save touched."""
    try:
        with _lock:
            if _watcher is None:
                return
            saved = {os.path.realpath(p) for p in paths}
            due = []
            for module in _own_modules():
                if os.path.realpath(module.__file__) in saved:
                    known = _stamps.get(module.__name__, _MISSING)
                    if known is _MISSING or known != _stamp(module.__file__):
                        due.append(module)
            if due:
                _reload_due(due)
            _watcher.watch(sorted(_watch_directories()))
    except Exception:
        _log.exception("hotrepl: watching files failed")


def _reload_due(modules: list[types.ModuleType]) -> str:
    """Reloads modules whose files changed (for %autoreload and watch mode), logs the
    outcome, and returns it as one line. A failure is told once per change of the file."""
    try:
        report = reload(modules)
    except Exception as error:
        for module in modules:
            _stamps[module.__name__] = _stamp(module.__file__)
        names = ", ".join(m.__name__ for m in modules)
        line = f"{names} not reloaded, nothing was changed: {type(error).__name__}: {error}"
        _log.error("hotrepl: %s", line)
        return line
    line = report.one_line()
    _log.log(logging.INFO if report.ok else logging.WARNING, "hotrepl: %s", line)
    return line


def _resolve(module: types.ModuleType | str) -> types.ModuleType:
    if isinstance(module, types.ModuleType):
        return module
    if isinstance(module, str):
        found = sys.modules.get(module)
        if found is None:
            raise ValueError(f"{module!r} is not imported in this program: only loaded modules can be reloaded")
        return found
    raise TypeError(f"expected a module or a module's name, not {type(module).__name__}")


def _source_file(module: types.ModuleType) -> str | None:
    file = getattr(module, "__file__", None)
    if isinstance(file, str) and file.endswith(".py") and os.path.isfile(file):
        return file
    return None


def _why_no_source(module: types.ModuleType) -> str:
    file = getattr(module, "__file__", None)
    if not isinstance(file, str):
        return "no source file (built in, or a namespace package)"
    if file.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
        return "an extension module: compiled code cannot be patched in place"
    if not file.endswith(".py"):
        return f"no Python source ({os.path.basename(file)})"
    return f"its file {file} is gone"


@contextlib.contextmanager
def _program_objects_set_aside() -> Iterator[None]:
    """Planning allocates a lot (syntax trees, code objects), which sets off the garbage
    collector, and its full passes walk every object of the program with the GIL held: tens
    of milliseconds in which the program's loop stands still. Meanwhile the program's objects
    are set aside (gc.freeze), so those passes only see what planning made; they go back
    after. Not if the program froze objects itself: unfreezing would undo that."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _raise_unchanged(error: BaseException, module: str, file: str) -> NoReturn:
    """Re-raises an error met while planning (nothing was applied), its traceback from the
    module's own code on: what led there is hotrepl's."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != file:
        tb = tb.tb_next
    if hasattr(error, "add_note"):
        error.add_note(f"hotrepl: {module} was not reloaded; nothing was changed")
    raise error.with_traceback(tb)


# ---------------------------------------------------------------------------------------
# What the program holds: one pass over the objects the garbage collector tracks


class _Live:
    """The live objects made from one file's code: function objects grouped by their code
    object (closures and functions only a registry holds included), and the generators and
    coroutines started from it."""

    def __init__(self) -> None:
        self.functions: dict[types.CodeType, list[types.FunctionType]] = {}
        self.suspended: list[Any] = []
        self._qualnames: dict[types.CodeType, str] | None = None

    def qualname(self, code: types.CodeType) -> str:
        if hasattr(code, "co_qualname"):
            return code.co_qualname
        if self._qualnames is None:
            # Before 3.11 a function's __qualname__ can be borrowed (functools.wraps); a
            # code object nested in another of the file's knows its own for certain.
            names = {c: fs[0].__qualname__ for c, fs in self.functions.items()}
            nested: dict[types.CodeType, str] = {}
            for c in self.functions:
                _code_tree(c, nested)
            names.update((c, q) for c, q in nested.items() if c in names)
            self._qualnames = names
        return self._qualnames.get(code, code.co_name)

    def by_qualname(self) -> dict[str, list[types.CodeType]]:
        grouped: dict[str, list[types.CodeType]] = collections.defaultdict(list)
        for code in self.functions:
            grouped[self.qualname(code)].append(code)
        for codes in grouped.values():
            codes.sort(key=lambda c: c.co_firstlineno)
        return grouped


def _scan(files: set[str]) -> dict[str, _Live]:
    live = {file: _Live() for file in files}
    if not live:
        return live
    for obj in gc.get_objects():
        kind = type(obj)
        if kind is types.FunctionType:
            found = live.get(obj.__code__.co_filename)
            if found is not None:
                found.functions.setdefault(obj.__code__, []).append(obj)
        elif kind in _GENERATOR_TYPES:
            found = live.get(_frame_and_code(obj)[1].co_filename)
            if found is not None:
                found.suspended.append(obj)
    return live


def _frame_and_code(generator: Any) -> tuple[types.FrameType | None, types.CodeType]:
    if isinstance(generator, types.CoroutineType):
        return generator.cr_frame, generator.cr_code
    if isinstance(generator, types.AsyncGeneratorType):
        return generator.ag_frame, generator.ag_code
    return generator.gi_frame, generator.gi_code


def _generator_kind(generator: Any) -> str:
    if isinstance(generator, types.CoroutineType):
        return "coroutine"
    return "async generator" if isinstance(generator, types.AsyncGeneratorType) else "generator"


def _is_running(generator: Any) -> bool:
    return bool(getattr(generator, "gi_running", False) or getattr(generator, "cr_running", False)
                or getattr(generator, "ag_running", False))


# ---------------------------------------------------------------------------------------
# Code objects


def _child_codes(code: types.CodeType) -> list[tuple[str, types.CodeType]]:
    """The code objects defined directly in `code`, with their qualified names."""
    if hasattr(code, "co_qualname"):
        return [(c.co_qualname, c) for c in code.co_consts if isinstance(c, types.CodeType)]
    # Before 3.11 the qualified name is the constant loaded right after the code object,
    # for MAKE_FUNCTION.
    found = []
    previous: Any = None
    for instruction in dis.get_instructions(code):
        if instruction.opname == "LOAD_CONST":
            if isinstance(previous, types.CodeType) and isinstance(instruction.argval, str):
                found.append((instruction.argval, previous))
            previous = instruction.argval
        else:
            previous = None
    return found


def _code_tree(code: types.CodeType, into: dict[types.CodeType, str]) -> None:
    """Every code object nested in `code`, with its qualified name, into `into`."""
    for qualname, child in _child_codes(code):
        into[child] = qualname
        _code_tree(child, into)


def _fingerprint(code: types.CodeType) -> tuple:
    """What a code object does, without where it is in the file (its line numbers)."""
    consts = tuple(_fingerprint(c) if isinstance(c, types.CodeType) else (type(c), repr(c)) for c in code.co_consts)
    return (code.co_code, consts, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars,
            code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_flags,
            getattr(code, "co_exceptiontable", b""))


def _lines(code: types.CodeType) -> tuple:
    table = code.co_linetable if hasattr(code, "co_linetable") else code.co_lnotab
    return code.co_firstlineno, table


def _pair(olds: list, news: list, fingerprint: Callable) -> tuple[list, list, list]:
    """Live and new code objects of one qualified name, paired: in order when there are as
    many of each; else identical ones first, then the rest in order if that evens them out.
    Returns the pairs and what is left of each side."""
    if len(olds) == len(news):
        return list(zip(olds, news)), [], []
    pairs = []
    olds, news = list(olds), list(news)
    for old in list(olds):
        same = next((new for new in news if fingerprint(new) == fingerprint(old)), None)
        if same is not None:
            pairs.append((old, same))
            olds.remove(old)
            news.remove(same)
    if len(olds) == len(news):
        return pairs + list(zip(olds, news)), [], []
    return pairs, olds, news


# ---------------------------------------------------------------------------------------
# Source


def _read(file: str) -> tuple[str, tuple[int, int]]:
    with open(file, "rb") as f:
        st = os.fstat(f.fileno())
        data = f.read()
    return importlib.util.decode_source(data), (st.st_mtime_ns, st.st_size)


def _stamp(file: str) -> tuple[int, int] | None:
    try:
        st = os.stat(file)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


_CONTINUATION_WORDS = ("else", "elif", "except", "finally")


def _may_start_statement(line: str) -> bool:
    """Whether a line could begin a top-level statement: it starts in column 0 with
    something other than a comment, a closing bracket or a compound statement's next clause."""
    if not line or line[0] in " \t\f\r\n#)]}":
        return False
    word = line.split(None, 1)[0].rstrip(":")
    return word not in _CONTINUATION_WORDS


# Lines parsed at a time (at least): a parse of this many lines holds the GIL for about a
# millisecond.
_PARSE_LINES = 100


_last_turn = 0.0  # when planning last let the program's threads run


def _let_others_run() -> None:
    """Hands the GIL to the program's threads if planning has held it for a millisecond.
    Left to itself, a thread waiting for the GIL gets it only after the switch interval
    (5 ms), so the program's event loop would stall that long, again and again."""
    global _last_turn
    if time.perf_counter() - _last_turn >= 0.001:
        time.sleep(0)
        _last_turn = time.perf_counter()


def _parse_statements(source: str, file: str) -> list[ast.stmt]:
    """The module's top-level statements, parsed a piece at a time: a single parse of a
    large file holds the GIL for tens of milliseconds, during which the program's threads
    and its event loop wait; parsed in pieces, they get it back in between. A piece ends
    where a top-level statement may start; one cut inside a statement (a string or brackets
    spanning lines) fails to parse and is widened."""
    lines = source.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if _may_start_statement(line)] + [len(lines)]
    # Where pieces may end: starts at least _PARSE_LINES apart, and the end of the file.
    ends = [0]
    for start in starts:
        if start - ends[-1] >= _PARSE_LINES or start == len(lines):
            ends.append(start)
    statements: list[ast.stmt] = []
    first = 0
    while first < len(ends) - 1:
        width = 1
        while True:
            last = min(first + width, len(ends) - 1)
            # Leading newlines keep the line numbers the file's.
            text = "\n" * ends[first] + "".join(lines[ends[first]:ends[last]])
            _let_others_run()
            try:
                tree = ast.parse(text, file)
            except SyntaxError:
                if last == len(ends) - 1:
                    raise
                width *= 2
                continue
            statements.extend(tree.body)
            first = last
            break
    return statements


def _future_flags(statements: list[ast.stmt]) -> int:
    flags = 0
    for statement in statements:
        if _is_future_import(statement):
            for alias in statement.names:
                flags |= getattr(__future__, alias.name).compiler_flag
    return flags


def _imported_names(statements: list[ast.stmt]) -> set[str]:
    """The names import statements bind at module level (also inside if/try blocks)."""
    names: set[str] = set()
    todo: list[ast.AST] = list(statements)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(a.asname or a.name.split(".")[0] for a in node.names if a.name != "*")
        elif not isinstance(node, _SCOPES):
            todo.extend(ast.iter_child_nodes(node))
    return names


def _never_run_imports(names: Iterable[str]) -> ast.If | None:
    """`if False: import a, b`: what the compiler needs to see of a module's imports, at the
    top of a statement compiled on its own (placed on line 1; it makes no code)."""
    if not names:
        return None
    where = {"lineno": 1, "col_offset": 0, "end_lineno": 1, "end_col_offset": 0}
    imports = ast.Import(names=[ast.alias(name=n, **where) for n in names], **where)
    return ast.If(test=ast.Constant(value=False, **where), body=[imports], orelse=[], **where)


def _is_future_import(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.ImportFrom) and statement.module == "__future__"


def _is_docstring(statement: ast.stmt) -> bool:
    return (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
            and isinstance(statement.value.value, str))


def _is_main_guard(statement: ast.stmt) -> bool:
    """`if __name__ == "__main__":` — never run by a reload (its code is the program's start)."""
    if not isinstance(statement, ast.If) or not isinstance(statement.test, ast.Compare):
        return False
    test = statement.test
    sides = [test.left, *test.comparators]
    return (len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
            and any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
            and any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides))


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp, ast.SetComp,
           ast.DictComp, ast.GeneratorExp)


def _bound_names(statement: ast.stmt) -> set[str]:
    """The names a statement binds in the scope it runs in."""
    names: set[str] = set()
    todo: list[ast.AST] = [statement]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, _SCOPES):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(a.asname or a.name.split(".")[0] for a in node.names if a.name != "*")
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        else:
            for field in ("name", "rest"):  # match patterns: MatchAs, MatchStar, MatchMapping
                value = getattr(node, field, None)
                if isinstance(value, str) and not isinstance(node, ast.alias):
                    names.add(value)
        todo.extend(ast.iter_child_nodes(node))
    return names


def _as_planned(statement: ast.stmt) -> ast.stmt:
    """The statement as planning compiles it: a definition's decorators are not run again
    (each becomes `__hotrepl_keep__`, on the same line, so the code's line numbers stay
    right), and a class statement's body runs without a class being made (no bases,
    `metaclass=__hotrepl_class__`)."""
    if not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return statement
    planned = copy.copy(statement)
    planned.decorator_list = [_name(_KEEP, d) for d in statement.decorator_list]
    if isinstance(statement, ast.ClassDef):
        planned.bases = []
        planned.keywords = [ast.copy_location(ast.keyword(arg="metaclass", value=_name(_CAPTURE, statement)), statement)]
    return planned


def _name(identifier: str, where: ast.AST) -> ast.Name:
    return ast.copy_location(ast.Name(id=identifier, ctx=ast.Load()), where)


def _keep(obj: Any) -> Any:
    return obj


class _ClassBody(dict):
    """A class body's namespace that also sees the names the new source bound before it:
    a class body's lookups go from its own namespace straight to the globals, past the
    scratch namespace the top-level code runs in."""

    __slots__ = ("_scratch",)

    def __init__(self, scratch: dict):
        super().__init__()
        self._scratch = scratch

    def __missing__(self, key: str) -> Any:
        return self._scratch[key]


class _Captured:
    """What a captured class statement leaves behind: its body's namespace."""

    def __init__(self, namespace: dict):
        self.namespace = namespace


class _Capture:
    """Stands in for a class statement's metaclass: the body runs, and no class is made (no
    metaclass, no __init_subclass__, no decorators run). Methods that use super() get the
    live class in their `__class__` cell."""

    def __init__(self, scratch: dict, live: type | None):
        self.scratch = scratch
        self.live = live

    def __prepare__(self, name: str, bases: tuple, **keywords: Any) -> _ClassBody:
        return _ClassBody(self.scratch)

    def __call__(self, name: str, bases: tuple, namespace: dict, **keywords: Any) -> _Captured:
        cell = namespace.get("__classcell__")
        if cell is not None and self.live is not None:
            cell.cell_contents = self.live
        return _Captured(dict(namespace))


def _filler(body: dict) -> Callable[[Any], None]:
    """For types.new_class: puts a captured body into the real metaclass's namespace."""

    def fill(namespace: Any) -> None:
        for key, value in body.items():
            namespace[key] = value

    return fill


# ---------------------------------------------------------------------------------------
# Values


def _functions_in(obj: Any) -> list[types.FunctionType]:
    """The plain functions an object is made of: itself if it is one, and what it wraps —
    staticmethod, classmethod, property, bound methods, functools' wrappers (wraps,
    lru_cache, partial, partialmethod, cached_property, singledispatch) and closures."""
    found = []
    seen: set[int] = set()
    todo = [obj]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, types.FunctionType):
            found.append(item)
            for cell in item.__closure__ or ():
                try:
                    contents = cell.cell_contents
                except ValueError:  # an empty cell
                    continue
                if callable(contents) or isinstance(contents, (staticmethod, classmethod, property)):
                    todo.append(contents)
            todo.extend(_own_attributes(item, ("__wrapped__", "registry")))
        elif isinstance(item, (staticmethod, classmethod, types.MethodType)):
            todo.append(item.__func__)
        elif isinstance(item, property):
            todo.extend(f for f in (item.fget, item.fset, item.fdel) if f is not None)
        elif isinstance(item, types.MappingProxyType):  # a singledispatch registry
            todo.extend(item.values())
        elif isinstance(item, (functools.partial, functools.partialmethod, functools.cached_property)):
            todo.append(item.func)
        elif isinstance(item, functools.singledispatchmethod):
            todo.extend((item.dispatcher, item.func))
        elif not isinstance(item, type):
            todo.extend(_own_attributes(item, ("__wrapped__",)))
    return found


def _own_attributes(obj: Any, names: tuple[str, ...]) -> list[Any]:
    """Those of `names` in the object's own __dict__ (no __getattr__ hook runs)."""
    try:
        attributes = object.__getattribute__(obj, "__dict__")
    except Exception:
        return []
    if not isinstance(attributes, (dict, types.MappingProxyType)):
        return []
    return [attributes[n] for n in names if n in attributes]


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return False


def _same_value(a: Any, b: Any) -> bool:
    return a is b or (type(a) is type(b) and _equal(a, b))


def _same_default(live: Any, new: Any) -> bool:
    """Whether a live default counts as the new one: equal, or a container of the same type
    (a mutable default may hold what the program put in it)."""
    if live is new:
        return True
    if type(live) is not type(new):
        return False
    return isinstance(live, _MUTABLE) or _equal(live, new)


def _merged_defaults(live: tuple | None, new: tuple | None) -> Any:
    """The defaults a live function gets: _MISSING when its own count as the new ones; else
    the new ones, with the live objects kept where they count as the same."""
    if live is None or new is None or len(live) != len(new):
        return _MISSING if live is None and new is None else new
    if all(map(_same_default, live, new)):
        return _MISSING
    return tuple(o if _same_default(o, n) else n for o, n in zip(live, new))


def _merged_kwdefaults(live: dict | None, new: dict | None) -> Any:
    """Like _merged_defaults, for keyword-only defaults."""
    live, new = live or {}, new or {}
    if list(live) == list(new) and all(_same_default(live[k], new[k]) for k in new):
        return _MISSING
    return {k: live[k] if k in live and _same_default(live[k], v) else v for k, v in new.items()} or None


def _same_mapping(a: dict | None, b: dict | None) -> bool:
    a, b = a or {}, b or {}
    return list(a) == list(b) and all(a[k] is b[k] or _equal(a[k], b[k]) for k in a)


def _immutable(value: Any) -> bool:
    if isinstance(value, (tuple, frozenset)):
        return all(_immutable(v) for v in value)
    return isinstance(value, _IMMUTABLE)


def _constant_changed(statement: ast.stmt, namespace: dict) -> bool:
    """Whether a statement assigns a plain constant (a number, a string, a tuple of them...)
    that differs from the name's live value."""
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target, value = statement.targets[0], statement.value
    elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
        target, value = statement.target, statement.value
    else:
        return False
    if not isinstance(target, ast.Name) or target.id not in namespace:
        return False
    try:
        new = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return _immutable(new) and not _same_value(namespace[target.id], new)


def _derived_metaclass(bases: tuple) -> type:
    winner: type = type
    for base in bases:
        candidate = type(base)
        if issubclass(winner, candidate):
            continue
        if issubclass(candidate, winner):
            winner = candidate
            continue
        return candidate  # conflicting metaclasses: making the class would fail
    return winner


def _slot_names(slots: Any) -> tuple | None:
    if slots is _MISSING:
        return None
    return (slots,) if isinstance(slots, str) else tuple(slots)


def _layout_change(live: type, bases: tuple, metaclass: type, slots: Any) -> str | None:
    """Why a class cannot take its new definition in place, or None."""
    if len(bases) != len(live.__bases__) or any(a is not b for a, b in zip(bases, live.__bases__)):
        names = lambda classes: ", ".join(c.__name__ for c in classes) or "object"  # noqa: E731
        return f"its bases changed ({names(live.__bases__)} -> {names(bases)})"
    if metaclass is not type(live):
        return f"its metaclass changed ({type(live).__name__} -> {metaclass.__name__})"
    old_slots = live.__dict__.get("__slots__", _MISSING)
    # dataclass(slots=True) adds __slots__ the source never had.
    if slots is not _MISSING or (old_slots is not _MISSING and "__dataclass_fields__" not in live.__dict__):
        if _slot_names(slots) != _slot_names(old_slots):
            return "its __slots__ changed"
    return None


def _live_field_default(cls: type, name: str) -> tuple[Any, Any]:
    """(default, default factory) of a live dataclass's or NamedTuple's field."""
    field = cls.__dict__.get("__dataclass_fields__", {}).get(name)
    if field is not None:
        return field.default, field.default_factory
    return cls.__dict__.get("_field_defaults", {}).get(name, dataclasses.MISSING), dataclasses.MISSING


def _field_default(value: Any) -> tuple[Any, Any]:
    """(default, default factory) of a field, from what its class body assigned."""
    if isinstance(value, dataclasses.Field):
        return value.default, value.default_factory
    return (value if value is not _MISSING else dataclasses.MISSING), dataclasses.MISSING


# ---------------------------------------------------------------------------------------
# Baselines


class _Baseline:
    """What the source last patched in (or one known to be the loaded one) said, for what
    the live objects cannot tell: which top-level statements other than definitions it had,
    the names it bound, its classes' plain attributes, and decorators."""

    def __init__(self, statements: list[ast.stmt]):
        self.statements: collections.Counter[str] = collections.Counter()
        self.bound: set[str] = set()
        self.class_attributes: dict[str, dict[str, str]] = {}
        self.decorators: dict[str, list[str]] = {}
        for statement in statements:
            if _is_main_guard(statement) or _is_future_import(statement):
                continue
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self._definition(statement, "")
            else:
                self.statements[ast.dump(statement)] += 1
            self.bound |= _bound_names(statement)

    def _definition(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, prefix: str) -> None:
        qualname = prefix + node.name
        self.decorators.setdefault(qualname, []).append("|".join(ast.dump(d) for d in node.decorator_list))
        if isinstance(node, ast.ClassDef):
            attributes = self.class_attributes.setdefault(qualname, {})
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    self._definition(item, qualname + ".")
                else:
                    for name in _bound_names(item):
                        attributes[name] = ast.dump(item)


def _baseline_of(name: str, file: str) -> _Baseline | None:
    known = _baselines.get(name)
    if isinstance(known, str):
        known = _baselines[name] = _Baseline(_parse_statements(known, file))
    return known


# ---------------------------------------------------------------------------------------
# Planning


class _Plan:
    """The changes for one module, worked out without touching it: `ops` for apply_patch,
    `changes` for the report."""

    def __init__(self, module: types.ModuleType, file: str, live: _Live, remove_deleted: bool,
                 baseline: _Baseline | None):
        self.name = module.__name__
        self.ns = module.__dict__
        self.file = file
        self.live = live
        self.remove_deleted = remove_deleted
        self.baseline = baseline
        # Statements of the baseline not yet met in the new source.
        self.unmatched = collections.Counter(baseline.statements) if baseline else None
        self.changes = ModuleChanges(self.name)
        self.ops: list[tuple] = []
        # Where new top-level code binds names: moved into the module when the patch applies.
        self.scratch: dict[str, Any] = {}
        self.flags = 0
        self.imported_names: tuple[str, ...] = ()  # module globals that import statements bind
        self.imported: ast.If | None = None  # `if False: import ...` of those
        self.new_codes: dict[types.CodeType, str] = {}  # every function code of the new source
        self.definitions: dict[types.CodeType, types.FunctionType] = {}  # new code -> function made of it
        self.old_for_new: dict[types.CodeType, types.CodeType] = {}
        self.bound: set[str] = set()
        self.classes: list[tuple[type, dict]] = []  # live classes that take new members
        self.frozen: set[str] = set()  # qualified names of classes left as they are
        self.incompatible: dict[types.FunctionType, tuple[str, tuple, tuple]] = {}
        self.changed_codes: set[types.CodeType] = set()  # live code objects replaced by different ones
        self.caches: list[Any] = []  # lru_cache wrappers whose function changed
        self.fingerprints: dict[types.CodeType, tuple] = {}
        self.stamp: tuple[int, int] | None = None
        self.new_baseline: _Baseline | None = None
        self.compiled_before = _compiled.get(file, {})
        self.compiled: dict[tuple, types.CodeType] = {}

    def build(self) -> None:
        source, self.stamp = _read(self.file)
        statements = _parse_statements(source, self.file)
        self.flags = _future_flags(statements)
        self.imported_names = tuple(sorted(_imported_names(statements)))
        self.imported = _never_run_imports(self.imported_names)
        self.new_baseline = _Baseline(statements)
        lines = source.splitlines(keepends=True)
        compiled = [self._compile_planned(s, lines) for s in statements]
        for code in compiled:
            _code_tree(code, self.new_codes)
        self._pair_codes()
        has_docstring = bool(statements) and _is_docstring(statements[0])
        if not has_docstring and isinstance(self.ns.get("__doc__"), str):
            self.ops.append(("set_item", self.ns, "__doc__", None))
        for index, (statement, code) in enumerate(zip(statements, compiled)):
            if index == 0 and has_docstring:
                doc = statement.value.value
                if self.ns.get("__doc__") != doc:
                    self.ops.append(("set_item", self.ns, "__doc__", doc))
            elif not (_is_future_import(statement) or _is_main_guard(statement)):
                self._statement(statement, code)
        self._patch_functions()
        for cls, namespace in self.classes:
            self._members(cls, namespace)
        self._report_incompatible()
        self._bind()
        if self.remove_deleted:
            self._delete()
        self._find_stale_caches()

    def after_apply(self) -> None:
        """Once the patch is in: remember this source, and say what still runs old code."""
        _baselines[self.name] = self.new_baseline
        _compiled[self.file] = self.compiled
        _stamps[self.name] = self.stamp
        linecache.checkcache(self.file)
        for cache in self.caches:
            cache.cache_clear()
        self.changes.not_patched += self._still_running()

    # -- statements

    def _compile_planned(self, statement: ast.stmt, lines: list[str]) -> types.CodeType:
        """_compile(_as_planned(statement)), or what the last reload made of the same text
        in the same place."""
        first = min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", ())])
        text = "".join(lines[first - 1:statement.end_lineno])
        key = (first, statement.col_offset, text, self.flags, self.imported_names)
        code = self.compiled_before.get(key)
        if code is None:
            _let_others_run()
            code = self._compile(_as_planned(statement))
        self.compiled[key] = code
        return code

    def _compile(self, statement: ast.stmt) -> types.CodeType:
        """Compiles one top-level statement as it compiles within its module. Since 3.11 the
        compiler looks at which module globals come from imports (`module.f()` is then an
        attribute load, not a method call), so those names are imported in a block that
        never runs."""
        body = [self.imported, statement] if self.imported is not None else [statement]
        return compile(ast.Module(body=body, type_ignores=[]), self.file, "exec", flags=self.flags, dont_inherit=True)

    def _eval(self, node: ast.expr) -> Any:
        code = compile(ast.Expression(body=node), self.file, "eval", flags=self.flags, dont_inherit=True)
        return eval(code, self.ns, collections.ChainMap({}, self.scratch))

    def _statement(self, statement: ast.stmt, code: types.CodeType) -> None:
        _let_others_run()
        self.bound |= _bound_names(statement)
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self._function(statement, code)
        elif isinstance(statement, ast.ClassDef):
            self._class(statement, code)
        elif self._must_run(statement):
            exec(code, self.ns, self.scratch)
            if not _bound_names(statement):
                self.changes.statements_run += 1

    def _must_run(self, statement: ast.stmt) -> bool:
        """Whether a top-level statement other than a definition is new or changed."""
        if self.unmatched is not None:
            dump = ast.dump(statement)
            if self.unmatched[dump] > 0:
                self.unmatched[dump] -= 1
                return False
            return True
        # No earlier source known: judged by the live module. Assigning a name it lacks is
        # new; one that holds a definition the new source no longer has replaces it; a
        # plain constant that differs has changed. Anything else is kept as it is (the
        # program's state), and a statement that binds no name is not run again.
        names = _bound_names(statement)
        if any(n not in self.ns for n in names):
            return True
        if any(self._defined_at_top(n, self.ns[n]) for n in names):
            return True
        return _constant_changed(statement, self.ns)

    def _function(self, statement: ast.FunctionDef | ast.AsyncFunctionDef, code: types.CodeType) -> None:
        new_code = next(c for q, c in _child_codes(code) if q == statement.name)
        if new_code not in self.old_for_new:
            exec(self._compile(statement), self.ns, self.scratch)
            return
        # It replaces a live function: made here (without its decorators) only for its new
        # defaults, annotations and docstring.
        made: dict[str, Any] = {_KEEP: _keep}
        exec(code, self.ns, collections.ChainMap(made, self.scratch))
        self.definitions[new_code] = made[statement.name]
        self._check_decorators(statement.name)

    def _class(self, statement: ast.ClassDef, code: types.CodeType) -> None:
        live = self.ns.get(statement.name)
        existing = isinstance(live, type) and live.__module__ == self.name and live.__qualname__ == statement.name
        made: dict[str, Any] = {_KEEP: _keep, _CAPTURE: _Capture(self.scratch, live if existing else None)}
        exec(code, self.ns, collections.ChainMap(made, self.scratch))
        body = made[statement.name].namespace
        bases = self._eval_bases(statement)
        keywords = self._eval_keywords(statement)
        if not existing:
            decorators = [self._eval(d) for d in statement.decorator_list]
            cls = types.new_class(statement.name, bases, keywords, _filler(body))
            for decorator in reversed(decorators):
                cls = decorator(cls)
            self.scratch[statement.name] = cls
            return
        for function in self._body_functions(body, statement.name):
            self.definitions[function.__code__] = function
        resolved = types.resolve_bases(bases) or (object,)
        metaclass = keywords.get("metaclass") or _derived_metaclass(resolved)
        why = _layout_change(live, resolved, metaclass, body.get("__slots__", _MISSING))
        if why is not None:
            # A metaclass may make other bases than the statement names (NamedTuple,
            # TypedDict): a class made for real settles it.
            trial_body = {k: v for k, v in body.items() if k != "__classcell__"}
            try:
                trial = types.new_class(statement.name, bases, keywords, _filler(trial_body))
            except Exception:
                trial = None
            if trial is not None:
                why = _layout_change(live, trial.__bases__, type(trial), body.get("__slots__", _MISSING))
        if why is not None:
            self._freeze(statement.name, why)
            return
        self._check_decorators(statement.name)
        self._nested_layouts(live, body)
        self.classes.append((live, body))

    def _eval_bases(self, statement: ast.ClassDef) -> tuple:
        bases: list[Any] = []
        for node in statement.bases:
            if isinstance(node, ast.Starred):
                bases.extend(self._eval(node.value))
            else:
                bases.append(self._eval(node))
        return tuple(bases)

    def _eval_keywords(self, statement: ast.ClassDef) -> dict[str, Any]:
        keywords: dict[str, Any] = {}
        for keyword in statement.keywords:
            if keyword.arg is None:
                keywords.update(self._eval(keyword.value))
            else:
                keywords[keyword.arg] = self._eval(keyword.value)
        return keywords

    def _nested_layouts(self, live: type, body: dict) -> None:
        """Freezes the classes nested in `live` whose layout changed."""
        for key, new in body.items():
            old = live.__dict__.get(key)
            if isinstance(new, type) and self._is_nested(live, key, old):
                why = _layout_change(old, new.__bases__, type(new), vars(new).get("__slots__", _MISSING))
                if why is not None:
                    self._freeze(old.__qualname__, why)
                else:
                    self._nested_layouts(old, dict(vars(new)))

    def _freeze(self, qualname: str, why: str) -> None:
        self.frozen.add(qualname)
        self._not_patched(f"class {qualname}", f"{why}; the class was left as it was (a restart applies it)")

    def _body_functions(self, namespace: dict, qualname: str) -> Iterable[types.FunctionType]:
        """The new functions a class body made, nested classes' included."""
        for key, value in namespace.items():
            if isinstance(value, type):
                if value.__qualname__ == f"{qualname}.{key}":
                    yield from self._body_functions(dict(vars(value)), value.__qualname__)
            else:
                yield from (f for f in _functions_in(value) if f.__code__.co_filename == self.file)

    def _check_decorators(self, qualname: str) -> None:
        if self.baseline is None or self.new_baseline is None:
            return
        before = self.baseline.decorators.get(qualname)
        if before is not None and before != self.new_baseline.decorators.get(qualname):
            self._not_patched(f"{self.name}.{qualname}", "its decorators changed; they are not run again on the live object")

    # -- functions

    def _fingerprint(self, code: types.CodeType) -> tuple:
        found = self.fingerprints.get(code)
        if found is None:
            found = self.fingerprints[code] = _fingerprint(code)
        return found

    def _pair_codes(self) -> None:
        news: dict[str, list[types.CodeType]] = collections.defaultdict(list)
        for code, qualname in self.new_codes.items():
            news[qualname].append(code)
        for qualname, olds in self.live.by_qualname().items():
            candidates = sorted(news.get(qualname, ()), key=lambda c: c.co_firstlineno)
            pairs, left_old, left_new = _pair(olds, candidates, self._fingerprint)
            self.old_for_new.update((new, old) for old, new in pairs)
            if left_old and left_new:
                self._not_patched(f"{self.name}.{qualname}",
                                  f"{len(left_old)} of its live versions could not be told apart from the new ones; "
                                  "they keep their old code")

    def _patch_functions(self) -> None:
        updated: set[str] = set()
        for new, old in sorted(self.old_for_new.items(), key=lambda pair: pair[0].co_firstlineno):
            qualname = self.new_codes[new]
            if any(qualname == f or qualname.startswith(f + ".") for f in self.frozen):
                continue
            changed = self._fingerprint(old) != self._fingerprint(new)
            definition = self.definitions.get(new)
            patched = signature_changed = False
            for function in self.live.functions[old]:
                if changed or _lines(old) != _lines(new):
                    if function.__code__.co_freevars != new.co_freevars:
                        self.incompatible[function] = (qualname, old.co_freevars, new.co_freevars)
                        continue
                    self.ops.append(("set_attr", function, "__code__", new))
                    patched = True
                if definition is not None:
                    signature_changed |= self._update_definition(function, definition)
            if changed:
                self.changed_codes.add(old)
            if ((changed and patched) or signature_changed) and qualname not in updated:
                updated.add(qualname)
                self._note_updated(qualname)

    def _update_definition(self, live: types.FunctionType, new: types.FunctionType) -> bool:
        """Ops giving a live function the new defaults, keyword defaults, annotations and
        docstring; whether any differ."""
        updates = [("__defaults__", _merged_defaults(live.__defaults__, new.__defaults__)),
                   ("__kwdefaults__", _merged_kwdefaults(live.__kwdefaults__, new.__kwdefaults__))]
        if not _same_mapping(live.__annotations__, new.__annotations__):
            updates.append(("__annotations__", new.__annotations__))
        if live.__doc__ != new.__doc__:
            updates.append(("__doc__", new.__doc__))
        changed = [(name, value) for name, value in updates if value is not _MISSING]
        self.ops += [("set_attr", live, name, value) for name, value in changed]
        return bool(changed)

    def _note_updated(self, qualname: str) -> None:
        if "<" in qualname:  # a closure or a lambda: what defines it is reported
            return
        owner, _, _ = qualname.rpartition(".")
        if owner:
            self.changes.count(owner, "updated")
        else:
            self.changes.updated.append(qualname)

    def _report_incompatible(self) -> None:
        grouped: dict[str, list[tuple[tuple, tuple]]] = collections.defaultdict(list)
        for qualname, old, new in self.incompatible.values():
            grouped[qualname].append((old, new))
        for qualname, items in grouped.items():
            old, new = items[0]
            made = "1 function made from it before keeps" if len(items) == 1 else f"{len(items)} functions made from it before keep"
            self._not_patched(f"{self.name}.{qualname}",
                              f"the variables it closes over changed ({', '.join(old) or 'none'} -> "
                              f"{', '.join(new) or 'none'}); {made} the old code")

    # -- classes

    def _is_nested(self, cls: type, key: str, value: Any) -> bool:
        return (isinstance(value, type) and value.__qualname__ == f"{cls.__qualname__}.{key}"
                and value.__module__ == self.name)

    def _made_of_code(self, value: Any) -> bool:
        return any(f.__code__.co_filename == self.file for f in _functions_in(value))

    def _members(self, cls: type, body: dict) -> None:
        """Ops bringing a live class's members in line with its new body."""
        qualname = cls.__qualname__
        own = cls.__dict__
        skip = set(_CLASS_HOUSEKEEPING) | self._fields(cls, body) | self._enum_members(cls, body)
        if body.get("__doc__") != own.get("__doc__"):
            self._set(cls, "__doc__", body.get("__doc__"))
        for key, new in body.items():
            if key in skip or key == "__doc__":
                continue
            old = own.get(key, _MISSING)
            if key == "__annotations__":
                if not _same_mapping(old if old is not _MISSING else None, new):
                    self._set(cls, key, new)
                continue
            if old is _MISSING:
                self._set(cls, key, new)
                self.changes.count(qualname, "added")
            elif isinstance(new, type) and self._is_nested(cls, key, old):
                if old.__qualname__ not in self.frozen:
                    self._members(old, dict(vars(new)))
            elif self._made_of_code(new) or self._made_of_code(old):
                self._function_member(cls, key, old, new)
            elif self._attribute_changed(qualname, key, old, new):
                self._set(cls, key, new)
                self.changes.count(qualname, "attributes")
        if self.remove_deleted:
            for key, old in list(own.items()):
                if key not in body and key not in skip and self._defined_in_class(cls, key, old):
                    self.ops.append(("del_class_attr", cls, key))
                    self.changes.count(qualname, "removed")

    def _function_member(self, cls: type, key: str, old: Any, new: Any) -> None:
        qualname = f"{cls.__qualname__}.{key}"
        stuck = [f for f in _functions_in(old) if f in self.incompatible]
        reshaped = type(old) is not type(new) or (
            isinstance(old, property) and [f is None for f in (old.fget, old.fset, old.fdel)]
            != [f is None for f in (new.fget, new.fset, new.fdel)])
        if not (reshaped or stuck):
            self._check_decorators(qualname)
            return
        # A different kind of member (a method now a property, say), or code that no longer
        # fits the old function's closure (a method that now uses super()): the class gets
        # the new object.
        self._set(cls, key, new)
        self.changes.count(cls.__qualname__, "replaced")
        if stuck:
            for function in stuck:
                del self.incompatible[function]
            self._not_patched(f"{self.name}.{qualname}",
                              "replaced by a new function object (the variables it closes over changed); "
                              "references to the old one taken earlier keep the old code")

    def _attribute_changed(self, qualname: str, key: str, old: Any, new: Any) -> bool:
        if _same_value(old, new):
            return False
        if self.baseline is not None and self.new_baseline is not None:
            before = self.baseline.class_attributes.get(qualname, {}).get(key)
            return before != self.new_baseline.class_attributes.get(qualname, {}).get(key)
        # No earlier source: a plain constant that differs has changed; anything else may
        # be state the program keeps there.
        return _immutable(new)

    def _defined_in_class(self, cls: type, key: str, value: Any) -> bool:
        """Whether a live class member came from the source (so deleting it there deletes it)."""
        qualname = f"{cls.__qualname__}.{key}"
        if self._is_nested(cls, key, value):
            return True
        if any(f.__code__.co_filename == self.file and self.live.qualname(f.__code__) == qualname
               for f in _functions_in(value)):
            return True
        return self.baseline is not None and key in self.baseline.class_attributes.get(cls.__qualname__, {})

    def _fields(self, cls: type, body: dict) -> set[str]:
        """A dataclass's or NamedTuple's fields: left alone, and reported when they changed
        (the instances the program holds were made with the old ones)."""
        own = cls.__dict__
        if "__dataclass_fields__" in own:
            kind = "dataclass"
        elif "_fields" in own and issubclass(cls, tuple):
            kind = "NamedTuple"
        else:
            return set()
        before = own.get("__annotations__", {})
        after = body.get("__annotations__", {})
        changed = list(before) != list(after) or not _same_mapping(before, after) or any(
            not self._same_field(_live_field_default(cls, name), _field_default(body.get(name, _MISSING)))
            for name in after)
        if changed:
            self._not_patched(f"class {cls.__qualname__}",
                              f"its fields changed ({kind}): the instances the program holds were made with the old "
                              "ones; its other members were patched")
        return set(before) | set(after) | {"__annotations__"}

    def _same_field(self, a: tuple, b: tuple) -> bool:
        for x, y in zip(a, b):
            if isinstance(x, types.FunctionType) and isinstance(y, types.FunctionType):
                if self._fingerprint(x.__code__) != self._fingerprint(y.__code__):
                    return False
            elif not _same_value(x, y):
                return False
        return True

    def _enum_members(self, cls: type, body: dict) -> set[str]:
        """An Enum's members: kept as they are (the program holds them), and reported when
        the new source adds, removes or revalues one."""
        if not isinstance(cls, enum.EnumMeta):
            return set()
        members = cls.__members__
        ignored = body.get("_ignore_", ())
        ignored = ignored.split() if isinstance(ignored, str) else list(ignored)
        nonmember = getattr(enum, "nonmember", ())
        new = [k for k, v in body.items()
               if not (k.startswith("_") and k.endswith("_")) and k not in ignored and not isinstance(v, nonmember)
               and not any(hasattr(type(v), h) for h in ("__get__", "__set__", "__delete__"))]
        problems = []
        added = [k for k in new if k not in members]
        if added:
            problems.append("added " + ", ".join(added))
        removed = [k for k in cls._member_names_ if k not in new]
        if removed:
            problems.append("removed " + ", ".join(removed))
        if "__new__" not in body:
            revalued = [k for k in new if k in members and not isinstance(body[k], enum.auto)
                        and not _same_value(members[k]._value_, body[k])]
            if revalued:
                problems.append("new values for " + ", ".join(revalued))
        if problems:
            self._not_patched(f"class {cls.__qualname__}",
                              f"its members changed ({'; '.join(problems)}): an Enum's members are kept as they "
                              "are while the program holds them")
        return set(members) | set(new) | {"_ignore_", "_order_", "__order__"}

    def _set(self, cls: type, key: str, value: Any) -> None:
        self.ops.append(("set_class_attr", cls, key, value))

    # -- module namespace

    def _defined_at_top(self, key: str, value: Any) -> bool:
        """Whether a module global holds a definition (def or class) of this file by that name."""
        if isinstance(value, type):
            return value.__module__ == self.name and value.__qualname__ == key
        return any(f.__code__.co_filename == self.file and self.live.qualname(f.__code__) == key
                   for f in _functions_in(value))

    def _bind(self) -> None:
        for key, value in self.scratch.items():
            old = self.ns.get(key, _MISSING)
            if old is value:
                continue
            self.ops.append(("set_item", self.ns, key, value))
            (self.changes.added if old is _MISSING else self.changes.changed).append(key)

    def _delete(self) -> None:
        for key, value in list(self.ns.items()):
            if key in self.bound or key in self.scratch or (key.startswith("__") and key.endswith("__")):
                continue
            if self._defined_at_top(key, value) or (self.baseline is not None and key in self.baseline.bound):
                self.ops.append(("del_item", self.ns, key))
                self.changes.removed.append(key)

    def _find_stale_caches(self) -> None:
        """lru_cache wrappers (module-level or in a class) whose function's code changed:
        their cached results came from the old code, so they are cleared once it is in."""
        if not self.changed_codes:
            return
        holders: list[Any] = list(self.ns.values())
        holders += [v for cls, _ in self.classes for v in vars(cls).values()]
        for value in holders:
            wrapped = _own_attributes(value, ("__wrapped__",))
            if callable(getattr(type(value), "cache_clear", None)) and any(
                    f.__code__ in self.changed_codes for w in wrapped for f in _functions_in(w)):
                self.caches.append(value)

    def _not_patched(self, what: str, reason: str) -> None:
        self.changes.not_patched.append(NotPatched(what, reason))

    def _still_running(self) -> list[NotPatched]:
        """What runs the replaced code still: calls in progress in some thread, suspended
        coroutines and generators. Each keeps the old code until it returns."""
        if not self.changed_codes:
            return []
        where = os.path.basename(self.file)
        found = []
        threads = {t.ident: t.name for t in threading.enumerate()}
        for ident, frame in sys._current_frames().items():
            while frame is not None:
                if frame.f_code in self.changed_codes:
                    found.append(NotPatched(
                        f"{self.name}.{self.live.qualname(frame.f_code)}",
                        f"a call running in thread {threads.get(ident, ident)!r} at {where}:{frame.f_lineno} "
                        "keeps the old code until it returns"))
                frame = frame.f_back
        for generator in self.live.suspended:
            frame, code = _frame_and_code(generator)
            if frame is None or code not in self.changed_codes or _is_running(generator):
                continue
            found.append(NotPatched(
                f"{self.name}.{self.live.qualname(code)}",
                f"a suspended {_generator_kind(generator)} at {where}:{frame.f_lineno} keeps the old code "
                "until it finishes"))
        return found


# ---------------------------------------------------------------------------------------
# Which modules are the program's own, and what is known of them


@functools.lru_cache(maxsize=None)
def _library_dirs() -> tuple[str, ...]:
    """Where the standard library, site-packages and hotrepl itself live."""
    paths = sysconfig.get_paths()
    dirs = [paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths]
    dirs += getattr(site, "getsitepackages", lambda: [])()
    dirs.append(site.getusersitepackages())
    dirs.append(os.path.dirname(os.path.abspath(__file__)))
    return tuple(os.path.join(os.path.realpath(d), "") for d in dirs if d)


def _own_modules() -> list[types.ModuleType]:
    """The program's own modules (a .py file outside the standard library and
    site-packages), and those asked for by name."""
    excluded = _library_dirs()
    own = []
    for name, module in list(sys.modules.items()):
        file = _source_file(module) if isinstance(module, types.ModuleType) else None
        if file is None:
            continue
        asked = name in _watch_also or name.split(".")[0] in _watch_also
        if asked or not os.path.realpath(file).startswith(excluded):
            own.append(module)
    return own


def _watch_directories() -> set[str]:
    """The directories of the program's modules, and its own entries of sys.path with the
    packages under them (so modules imported later are watched too)."""
    dirs = {os.path.dirname(os.path.realpath(m.__file__)) for m in _own_modules()}
    excluded = _library_dirs()
    for entry in sys.path:
        root = os.path.realpath(entry or os.getcwd())
        if not os.path.isdir(root) or os.path.join(root, "").startswith(excluded):
            continue
        dirs.add(root)
        todo = [root]
        while todo:
            try:
                children = list(os.scandir(todo.pop()))
            except OSError:
                continue
            for child in children:
                if (child.is_dir() and not child.name.startswith(".")
                        and os.path.isfile(os.path.join(child.path, "__init__.py"))
                        and not os.path.join(child.path, "").startswith(excluded)):
                    dirs.add(child.path)
                    todo.append(child.path)
    return dirs


def _remember(module: types.ModuleType, stamp: tuple[int, int] | None) -> None:
    """Notes a module's file as loaded; if it has not changed since the program started,
    its source is the loaded one, which later reloads compare with."""
    _stamps[module.__name__] = stamp
    started = _process_start()
    if stamp is not None and started is not None and stamp[0] / 1e9 < started - 1:
        try:
            _baselines.setdefault(module.__name__, _read(module.__file__)[0])
        except OSError:
            pass


def _remember_loaded() -> None:
    for module in _own_modules():
        if module.__name__ not in _stamps:
            _remember(module, _stamp(module.__file__))


@functools.lru_cache(maxsize=None)
def _process_start() -> float | None:
    """When this process started (seconds since the epoch), on Linux; else None."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None
