"""Pretty printing for the text/plain form of values: a value that fits the client's width
stays on one line; one that does not is broken over lines and indented, a container at a
time, the innermost staying whole where they fit (as pprint does, with the client's width).
Sequences of short items (numbers, short strings) fill their lines; dataclasses,
namedtuples and dicts get a line per field; long strings are cut into pieces that fit. A
container with more than ``max_items`` items shows that many, then ``... N more``, without
walking the rest (a list of ten million ints is quick).

Objects with ``_repr_pretty_(p, cycle)`` (IPython's protocol) are given a printer ``p``
with its methods: ``text``, ``breakable``, ``begin_group``/``end_group``, ``group``,
``indent``, ``pretty``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import re
from collections import Counter, OrderedDict, defaultdict, deque

# --- documents: text, places where a line may break, and groups that break together ----


class _Text:
    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


class _Break:
    """A place to break the line: ``flat`` when its group stays on one line, else a newline
    and the group's indentation."""

    __slots__ = ("flat",)

    def __init__(self, flat: str):
        self.flat = flat


class _Group:
    """Parts laid out together: on one line if they fit, else every break of this group
    breaks (``fill``: only those where the next part would not fit). Broken lines start
    ``indent`` further in than the enclosing group's (IPython's groups), or, with
    ``aligned``, under the group's first character (hotrepl's containers, like pprint)."""

    __slots__ = ("parts", "indent", "fill", "aligned", "width")

    def __init__(self, indent: int, fill: bool = False, aligned: bool = False):
        self.parts: list = []
        self.indent = indent
        self.fill = fill
        self.aligned = aligned
        self.width: int | None = None

    def flat_width(self) -> int:
        if self.width is None:
            self.width = sum(_flat_width(p) for p in self.parts)
        return self.width


def _flat_width(part) -> int:
    if isinstance(part, _Text):
        return len(part.text)
    if isinstance(part, _Break):
        return len(part.flat)
    return part.flat_width()


def _layout(root: _Group, width: int) -> str:
    out: list[str] = []
    column = 0

    def emit(group: _Group, indent: int, flat: bool) -> None:
        nonlocal column
        parts = group.parts
        for i, part in enumerate(parts):
            if isinstance(part, _Text):
                out.append(part.text)
                column += len(part.text)
            elif isinstance(part, _Break):
                if flat:
                    out.append(part.flat)
                    column += len(part.flat)
                elif group.fill and column + len(part.flat) + _width_to_next_break(parts, i + 1) <= width:
                    out.append(part.flat)
                    column += len(part.flat)
                else:
                    out.append("\n" + " " * indent)
                    column = indent
            else:
                inner = column if part.aligned else indent + part.indent
                emit(part, inner, flat or column + part.flat_width() <= width)

    emit(root, root.indent, root.flat_width() <= width)
    return "".join(out)


def _width_to_next_break(parts: list, start: int) -> int:
    total = 0
    for part in parts[start:]:
        if isinstance(part, _Break):
            break
        total += _flat_width(part)
    return total


# --- the printer: IPython's _repr_pretty_ interface, building a document --------------


class Printer:
    """What ``_repr_pretty_(p, cycle)`` gets; also what hotrepl itself prints with."""

    def __init__(self, max_items: int, max_string: int = 0):
        self.max_items = max_items
        self.max_string = max_string
        self._stack = [_Group(0)]
        self._path: list[int] = []  # ids of containers being printed, for cycles
        self.indentation = 0

    # IPython's API ------------------------------------------------------------------
    def text(self, text: str) -> None:
        self._stack[-1].parts.append(_Text(str(text)))

    def breakable(self, sep: str = " ") -> None:
        self._stack[-1].parts.append(_Break(sep))

    def begin_group(self, indent: int = 0, open: str = "") -> None:  # noqa: A002 - IPython's name
        if open:
            self.text(open)
        group = _Group(indent)
        self._stack[-1].parts.append(group)
        self._stack.append(group)
        self.indentation += indent

    def end_group(self, dedent: int = 0, close: str = "") -> None:
        self.indentation -= dedent
        self._stack.pop()
        if close:
            self.text(close)

    @contextlib.contextmanager
    def group(self, indent: int = 0, open: str = "", close: str = ""):  # noqa: A002
        self.begin_group(indent, open)
        try:
            yield
        finally:
            self.end_group(indent, close)

    @contextlib.contextmanager
    def indent(self, indent: int):
        self.indentation += indent
        group = _Group(indent)
        self._stack[-1].parts.append(group)
        self._stack.append(group)
        try:
            yield
        finally:
            self._stack.pop()
            self.indentation -= indent

    def pretty(self, obj) -> None:
        """Prints ``obj`` here, by the rules of this module."""
        key = id(obj)
        if key in self._path:
            self.text(_cycle_text(obj))
            return
        method = _method(obj, "_repr_pretty_")
        printer = None if method is not None else _printer_for(obj)
        if method is None and printer is None:
            self.text(repr(obj))
            return
        self._path.append(key)
        try:
            if method is not None:
                method(self, False)
            else:
                printer(obj, self)
        finally:
            self._path.pop()

    # hotrepl's helpers ------------------------------------------------------------------
    def items(self, open: str, close: str, items, total: int, each, fill: bool = False, trailing: str = "") -> None:  # noqa: A002
        """``open item, item, ... close``, breaking after each comma when it must, with at
        most max_items items and then how many more there are."""
        self.text(open)
        group = _Group(len(open), fill=fill, aligned=True)
        self._stack[-1].parts.append(group)
        self._stack.append(group)
        shown = 0
        for item in items:
            if shown:
                self.text(",")
                self.breakable()
            each(item)
            shown += 1
        if total > shown:
            if shown:
                self.text(",")
                self.breakable()
            self.text(f"... {total - shown:,} more")
        elif trailing and shown == 1:
            self.text(trailing)
        self._stack.pop()
        self.text(close)

    def document(self) -> _Group:
        return self._stack[0]


def pretty(value, width: int = 80, max_items: int = 1000, max_string: int = 10_000) -> str:
    """The text/plain form of ``value`` for a screen ``width`` characters wide, with at most
    ``max_items`` items of a container and ``max_string`` characters of a string shown (0:
    all of it)."""
    printer = Printer(max_items, max_string)
    printer.pretty(value)
    return _layout(printer.document(), max(width, 20))


# --- how each kind of value is printed -------------------------------------------------


def _method(obj, name: str):
    """``obj.name`` if the object's class defines it (not a dynamic ``__getattr__`` answer,
    and not on a class itself: a class's ``_repr_pretty_`` is for its instances)."""
    if isinstance(obj, type):
        return None
    for cls in type(obj).__mro__:
        if name in vars(cls):
            return getattr(obj, name)
    return None


def _cycle_text(obj) -> str:
    if isinstance(obj, list):
        return "[...]"
    if isinstance(obj, dict):
        return "{...}"
    if isinstance(obj, tuple):
        return "(...)"
    return f"<{type(obj).__name__}...>"


def _is_small(obj) -> bool:
    """Items that fill lines rather than take a line each."""
    if isinstance(obj, (bool, int, float, complex)) or obj is None:
        return True
    return isinstance(obj, (str, bytes)) and len(obj) <= 16


def _sequence(obj, p: Printer) -> None:
    if isinstance(obj, list):
        open_, close, trailing = "[", "]", ""
    elif isinstance(obj, tuple):
        open_, close, trailing = "(", ")", ","
    elif isinstance(obj, deque):
        open_, close, trailing = "deque([", "])", ""
    else:  # set, frozenset
        if not obj:
            p.text(repr(obj))
            return
        open_, close, trailing = ("{", "}", "") if isinstance(obj, set) else ("frozenset({", "})", "")
    head = list(itertools.islice(obj, p.max_items + 1 if not isinstance(obj, (set, frozenset)) else len(obj) if len(obj) <= 10_000 else p.max_items))
    if isinstance(obj, (set, frozenset)) and len(obj) <= 10_000:
        with contextlib.suppress(TypeError):
            head.sort()
    head = head[: p.max_items]
    fill = all(_is_small(item) for item in head)
    p.items(open_, close, head, len(obj), p.pretty, fill=fill, trailing=trailing)


def _mapping(obj, p: Printer) -> None:
    prefix = ""
    if isinstance(obj, defaultdict):
        prefix = f"defaultdict({obj.default_factory!r}, "
    elif isinstance(obj, OrderedDict):
        prefix = "OrderedDict("
    elif isinstance(obj, Counter):
        prefix = "Counter("
    pairs = obj.most_common(p.max_items) if isinstance(obj, Counter) else obj.items()
    head = list(itertools.islice(pairs, p.max_items))

    def pair(item):
        key, value = item
        p.pretty(key)
        p.text(": ")
        p.pretty(value)

    if not obj:
        p.text(repr(obj))
        return
    p.items(prefix + "{", "}" + (")" if prefix else ""), head, len(obj), pair)


def _fields(name: str, pairs: list, total: int, p: Printer) -> None:
    """``Name(field=value, ...)``: dataclasses and namedtuples."""

    def field(item):
        key, value = item
        p.text(f"{key}=")
        p.pretty(value)

    p.items(f"{name}(", ")", pairs[: p.max_items], total, field)


def _dataclass(obj, p: Printer) -> None:
    shown = [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.repr]
    _fields(type(obj).__qualname__, shown, len(shown), p)


def _namedtuple(obj, p: Printer) -> None:
    _fields(type(obj).__name__, list(zip(obj._fields, obj)), len(obj), p)


_WORDS = re.compile(r"\S*\s*")


def _string(obj, p: Printer) -> None:
    """A string too long for its line becomes pieces of it, one per line, in parentheses;
    one longer than max_string shows its start and its end, and how much is left out."""
    if p.max_string and len(obj) > p.max_string:
        half = p.max_string // 2
        _string(obj[:half], p)
        p.text(f" ... {len(obj) - 2 * half:,} more characters ... ")
        _string(obj[-half:], p)
        return
    text = repr(obj)
    if len(text) <= 60 or "\n" in obj and len(obj) < 60:
        p.text(text)
        return
    pieces, current = [], ""
    for word in _WORDS.findall(obj):
        if current and len(repr(current + word)) > 60:
            pieces.append(current)
            current = ""
        current += word
    if current:
        pieces.append(current)
    if len(pieces) == 1:
        p.text(text)
        return
    p.text("(")
    group = _Group(1, aligned=True)
    p._stack[-1].parts.append(group)
    p._stack.append(group)
    for i, piece in enumerate(pieces):
        if i:
            p.breakable()
        p.text(repr(piece))
    p._stack.pop()
    p.text(")")


def _printer_for(obj):
    """The printer for ``obj``'s kind, or None (then it is its repr). Containers whose class
    has a repr of its own are printed by that repr."""
    cls = type(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type) and _generated_by_dataclasses(cls):
        return _dataclass
    if isinstance(obj, tuple) and hasattr(cls, "_fields") and getattr(cls.__repr__, "__module__", None) == "collections":
        return _namedtuple
    for base, printer in _BY_TYPE:
        if isinstance(obj, base) and cls.__repr__ is base.__repr__:
            return printer
    if isinstance(obj, str) and cls.__repr__ is str.__repr__:
        return _string
    return None


def _generated_by_dataclasses(cls) -> bool:
    """Whether the class's repr is the one @dataclass wrote (wrapped against recursion), not
    one of its own."""
    params = getattr(cls, "__dataclass_params__", None)
    wrapped = getattr(cls.__repr__, "__wrapped__", None)
    return bool(params is not None and params.repr and wrapped is not None and wrapped.__name__ == "__repr__")


_BY_TYPE = [
    (deque, _sequence),
    (list, _sequence),
    (tuple, _sequence),
    (set, _sequence),
    (frozenset, _sequence),
    (defaultdict, _mapping),
    (OrderedDict, _mapping),
    (Counter, _mapping),
    (dict, _mapping),
]
