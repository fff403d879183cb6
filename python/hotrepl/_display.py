"""The display stage's work on Python objects: a value's MIME bundle, from the formatters
(display hooks) registered for its type, its own ``_repr_mimebundle_`` and ``_repr_*_``
methods (the protocol pandas, rich, matplotlib and IPython implement), and the pretty
printer for text/plain; and ``display()``, which sends such bundles to the session whose
code calls it. Imported the first time a value needs more than its repr."""

from __future__ import annotations

import base64
import json
import sys
import uuid

from hotrepl import _native
from hotrepl._pretty import pretty

# The display protocol: MIME type and the method that makes it, in the order front ends
# prefer them.
REPR_METHODS = [
    ("text/html", "_repr_html_"),
    ("text/markdown", "_repr_markdown_"),
    ("image/svg+xml", "_repr_svg_"),
    ("image/png", "_repr_png_"),
    ("image/jpeg", "_repr_jpeg_"),
    ("application/json", "_repr_json_"),
    ("text/latex", "_repr_latex_"),
]
BINARY = {"image/png", "image/jpeg"}
_failed_methods: set = set()


def _own_method(value, name: str):
    """``value.name`` when the value's class defines it: the protocol's methods are looked
    up on the class, so that an object answering any attribute (a mock, a proxy) is not
    taken for one that displays itself."""
    if isinstance(value, type):
        return None
    for cls in type(value).__mro__:
        if name in vars(cls):
            return getattr(value, name, None)
    return None


def _report(value, what: str, error: BaseException) -> None:
    """Says (once per class and method) that a display method failed; the bundle goes on
    without that form."""
    key = (type(value), what)
    if key in _failed_methods:
        return
    _failed_methods.add(key)
    sys.stderr.write(f"hotrepl: {type(value).__qualname__}.{what} failed, so that form is left out: {type(error).__name__}: {error}\n")


def _as_data(mime: str, result, metadata: dict):
    """A display method's answer as bundle data (str, base64 for images, JSON objects),
    taking ``(data, metadata)`` pairs apart."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict):
        result, extra = result
        metadata[mime] = extra
    if mime in BINARY and isinstance(result, (bytes, bytearray)):
        return base64.b64encode(bytes(result)).decode("ascii")
    if mime == "application/json" and isinstance(result, str):
        return json.loads(result)
    return result


def _wanted(mime: str, include, exclude) -> bool:
    return (include is None or mime in include) and (exclude is None or mime not in exclude)


def mime_bundle(value, width: int = 80, max_items: int = 1000, max_string: int = 10_000, include=None, exclude=None) -> tuple:
    """``(data, metadata)`` for ``value``: what the formatters registered for its type say
    (they come first: they are the user's), else what the value says of itself, with
    text/plain always."""
    data: dict = {}
    metadata: dict = {}
    own_bundle = _own_method(value, "_repr_mimebundle_")
    if own_bundle is not None:
        try:
            answer = own_bundle(include=include, exclude=exclude)
        except Exception as e:  # noqa: BLE001 - one failing form must not cost the others
            _report(value, "_repr_mimebundle_", e)
        else:
            given, given_metadata = answer if isinstance(answer, tuple) else (answer, {})
            for mime, item in (given or {}).items():
                if _wanted(mime, include, exclude):
                    data[mime] = _as_data(mime, item, metadata)
            metadata.update(given_metadata or {})
    for mime in _native.display_hook_mimes(value):
        if mime != "text/plain" and _wanted(mime, include, exclude):
            answer = _native.ask_display_hooks(value, mime)
            if answer is not None:
                data[mime] = _as_data(mime, answer, metadata)
    for mime, method_name in REPR_METHODS:
        if mime in data or not _wanted(mime, include, exclude):
            continue
        method = _own_method(value, method_name)
        if method is None:
            continue
        try:
            answer = method()
        except Exception as e:  # noqa: BLE001
            _report(value, method_name, e)
            continue
        if answer is not None:
            data[mime] = _as_data(mime, answer, metadata)
    plain = _native.ask_display_hooks(value, "text/plain")
    data["text/plain"] = str(plain) if plain is not None else data.get("text/plain") or pretty(value, width, max_items, max_string)
    return data, metadata


class DisplayHandle:
    """An output shown with ``display_id``: ``update(obj)`` replaces it where it is shown."""

    def __init__(self, display_id: str | None = None):
        self.display_id = display_id or uuid.uuid4().hex

    def display(self, obj, **kwargs) -> None:
        display(obj, display_id=self.display_id, **kwargs)

    def update(self, obj, **kwargs) -> None:
        display(obj, display_id=self.display_id, update=True, **kwargs)

    def __repr__(self) -> str:
        return f"<DisplayHandle display_id={self.display_id}>"


def display(*objs, include=None, exclude=None, metadata=None, transient=None, display_id=None, raw=False, clear=False, update=False):
    """Show objects in the session as outputs of their own (``display_data``), each in the
    richest forms it has (see ``mime_bundle``). ``raw``: the objects are MIME bundles
    already. ``display_id``: the output can be replaced later (``update=True``, or the
    returned handle's ``update``); ``True`` makes up an id. ``clear``: clear the output
    first. Outside a session (the program's own code) objects are printed."""
    if clear:
        clear_output(wait=True)
    if display_id is True:
        display_id = uuid.uuid4().hex
    width, max_items, max_string = _native.display_layout()
    for obj in objs:
        if raw:
            data, meta = dict(obj), dict(metadata or {})
        else:
            data, meta = mime_bundle(obj, width, max_items, max_string, include, exclude)
            meta.update(metadata or {})
        extra = dict(transient or {})
        if display_id:
            extra["display_id"] = display_id
        if not _native.publish_display(data, meta, extra, update):
            print(data.get("text/plain", repr(obj)))
    if display_id and not update:
        return DisplayHandle(display_id)
    return None


def update_display(obj, *, display_id, **kwargs) -> None:
    """Replace the output shown with ``display_id``."""
    display(obj, display_id=display_id, update=True, **kwargs)


def clear_output(wait: bool = False) -> None:
    """Clear the cell's output so far (``wait``: when the next output comes)."""
    _native.publish_clear_output(wait)


def choose_matplotlib_backend(matplotlib) -> None:
    """When a session's code imports matplotlib and nothing chose a backend (MPLBACKEND,
    ``matplotlib.use()``), figures are shown in the session: hotrepl's backend. A program's
    own import of matplotlib is left to the program."""
    import os

    if os.environ.get("MPLBACKEND") or not _native.in_session():
        return
    from matplotlib import rcsetup

    if dict.__getitem__(matplotlib.rcParams, "backend") is rcsetup._auto_backend_sentinel:
        matplotlib.rcParams["backend"] = "module://hotrepl.matplotlib_backend"
