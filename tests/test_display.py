"""How values are shown, and the hooks that change it, in the local REPL's kernel and in a
live asyncio program alike: formatters, the display protocol (`_repr_*_`), `display()`
with updates and `clear_output()`, pretty printing to the client's width, hooks at every
point (TryNext, a failing hook), mcpyrate macros, matplotlib figures, IPython's
`display()`."""

from __future__ import annotations

import base64
import re

import pytest

# The canonical example: bytes shown with their middle elided past 75 characters.
BYTES_FORMATTER = """
import hotrepl

@hotrepl.formatters.register(bytes)
def short_bytes(value):
    text = repr(value)
    if len(text) > 75:
        text = text[:41] + "..." + text[-12:]
    return f"<bytes {text} len={len(value)} at {hex(id(value))}>"
"""
HEAD, TAIL = b'{"name":"Luke Skywalker","height":"172",', b'"url":"https://swapi.dev/api/people/1/"}'
SWAPI = HEAD + b'"films":"' + b"x" * (8192 - len(HEAD) - len(TAIL) - 11) + b'",' + TAIL


def test_a_formatter_changes_how_a_type_is_shown(session):
    session.execute(BYTES_FORMATTER)
    session.execute(f"response = {SWAPI!r}")
    shown = session.execute("response").result
    assert len(SWAPI) == 8192
    assert re.fullmatch(r"""<bytes b'\{"name":"Luke Skywalker","height":"172"\.\.\.people/1/"\}' len=8192 at 0x[0-9a-f]+>""", shown), shown
    assert session.execute("b'short'").result.startswith("<bytes b'short' len=5 at 0x")
    # Subclasses too (the lookup follows the MRO); other types are untouched.
    assert session.execute("class Payload(bytes): pass\nPayload(b'ab')").result.startswith("<bytes b'ab' len=2")
    assert session.execute("bytearray(b'ab')").result == "bytearray(b'ab')"


def test_formatters_follow_the_mro_and_pass_with_try_next(session):
    session.execute(
        "import hotrepl\n"
        "class Animal: pass\n"
        "class Dog(Animal): pass\n"
        "class Puppy(Dog):\n"
        "    def __repr__(self): return 'Puppy()'\n"
        "@hotrepl.formatters.register(Animal)\n"
        "def animal(value): return 'an animal'\n"
        "@hotrepl.formatters.register(Dog)\n"
        "def dog(value):\n"
        "    if isinstance(value, Puppy): raise hotrepl.TryNext\n"
        "    return 'a dog'\n"
    )
    assert session.execute("Dog()").result == "a dog"
    assert session.execute("Puppy()").result == "an animal", "the Dog formatter passed to the next one"
    assert session.execute("Animal()").result == "an animal"
    session.execute("hotrepl.formatters.unregister(animal)")
    assert session.execute("Puppy()").result == "Puppy()", "with none left, the value's repr"


def test_the_display_protocol_gives_a_bundle(session):
    session.execute(
        "import base64\n"
        "PNG = base64.b64decode('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==')\n"
        "class Chart:\n"
        "    def _repr_html_(self): return '<b>chart</b>'\n"
        "    def _repr_png_(self): return PNG\n"
        "    def _repr_json_(self): return {'points': [1, 2]}\n"
        "    def __repr__(self): return 'Chart()'\n"
        "class Custom:\n"
        "    def _repr_mimebundle_(self, include=None, exclude=None):\n"
        "        return {'text/markdown': '**bold**', 'text/plain': 'custom text'}, {'text/markdown': {'trusted': True}}\n"
        "class Broken:\n"
        "    def _repr_html_(self): raise ValueError('no html today')\n"
        "    def _repr_markdown_(self): return '*still here*'\n"
    )
    run = session.execute("Chart()")
    bundle = run.bundle
    assert set(bundle) == {"text/plain", "text/html", "image/png", "application/json"}, bundle
    assert bundle["text/plain"] == "Chart()" and bundle["text/html"] == "<b>chart</b>"
    assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")
    assert bundle["application/json"] == {"points": [1, 2]}
    custom = session.execute("Custom()").of_type("execute_result")[0]
    assert custom["data"] == {"text/markdown": "**bold**", "text/plain": "custom text"}
    assert custom["metadata"] == {"text/markdown": {"trusted": True}}
    broken = session.execute("Broken()")
    assert set(broken.bundle) == {"text/plain", "text/markdown"}
    assert "Broken._repr_html_ failed" in broken.stderr and "no html today" in broken.stderr
    assert "failed" not in session.execute("Broken()").stderr, "said once"


def test_display_update_and_clear(session):
    session.execute("import hotrepl")
    run = session.execute("hotrepl.display('first', {'a': 1})")
    shown = run.of_type("display_data")
    assert [d["data"]["text/plain"] for d in shown] == ["'first'", "{'a': 1}"]
    assert run.result is None
    run = session.execute("handle = hotrepl.display('version 1', display_id=True)")
    display_id = run.of_type("display_data")[0]["transient"]["display_id"]
    run = session.execute("handle.update('version 2')")
    updated = run.of_type("update_display_data")[0]
    assert updated["data"] == {"text/plain": "'version 2'"} and updated["transient"] == {"display_id": display_id}
    run = session.execute("print('before'); hotrepl.clear_output(wait=True)")
    assert run.of_type("clear_output") == [{"wait": True}]
    raw = session.execute("hotrepl.display({'text/html': '<i>raw</i>', 'text/plain': 'raw'}, raw=True)")
    assert raw.of_type("display_data")[0]["data"] == {"text/html": "<i>raw</i>", "text/plain": "raw"}


def test_display_outside_a_session_prints_for_the_program(make_host):
    host = make_host()
    client = host.connect()
    client.execute("import threading, hotrepl\n"
                   "threading.Thread(target=lambda: hotrepl.display('from the program')).start()")
    host.wait_for_output("'from the program'")


def test_pretty_printing_fits_the_clients_width(session):
    session.execute(
        "from dataclasses import dataclass, field\n"
        "from collections import namedtuple\n"
        "@dataclass\n"
        "class Order:\n"
        "    customer: str\n"
        "    items: list = field(default_factory=list)\n"
        "Pair = namedtuple('Pair', 'left right')\n"
    )
    wide = session.execute("{'key': list(range(12)), 'other': 'text'}", metadata={"width": 120}).result
    assert wide == "{'key': [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 'other': 'text'}"
    narrow = session.execute("{'key': list(range(12)), 'other': 'text'}", metadata={"width": 30}).result
    assert narrow == "{'key': [0, 1, 2, 3, 4, 5, 6,\n         7, 8, 9, 10, 11],\n 'other': 'text'}", narrow
    order = session.execute("Order('ada', ['tea', 'scones', 'jam', 'cream'])", metadata={"width": 40}).result
    assert order == "Order(customer='ada',\n      items=['tea', 'scones', 'jam',\n             'cream'])", order
    pair = session.execute("Pair('a' * 20, 'b' * 20)", metadata={"width": 40}).result
    assert pair == "Pair(left='aaaaaaaaaaaaaaaaaaaa',\n     right='bbbbbbbbbbbbbbbbbbbb')", pair
    prose = session.execute("'lorem ipsum ' * 12", metadata={"width": 80}).result
    assert prose.startswith("('lorem ipsum lorem ipsum") and prose.count("\n") >= 2 and prose.endswith("')"), prose


def test_a_huge_value_is_shown_cut_short(session):
    run = session.execute("list(range(10_000_000))", metadata={"width": 80})
    assert run.result.endswith(" 998, 999, ... 9,999,000 more]"), run.result[-100:]
    assert run.result.count("\n") < 100


def test_hooks_pass_fail_and_go_on(session):
    session.execute(
        "import hotrepl\n"
        "seen = []\n"
        "@hotrepl.hooks.register('pre_cell')\n"
        "def broken(source):\n"
        "    raise RuntimeError('this hook is broken')\n"
        "@hotrepl.hooks.register('pre_cell', priority=-1)\n"
        "def recorder(source):\n"
        "    seen.append(source)\n"
        "@hotrepl.hooks.register('post_cell')\n"
        "def after(source, outcome):\n"
        "    seen.append(('after', outcome))\n"
    )
    first = session.execute("6 * 7")
    assert first.result == "42", "a broken hook never breaks the cell"
    assert "hotrepl: the pre_cell hook broken failed" in first.stderr and "RuntimeError: this hook is broken" in first.stderr
    assert "broken failed" not in session.execute("1").stderr, "reported once"
    assert session.execute("seen[:2]").result == "['6 * 7', ('after', 42)]"
    listing = session.execute("%hooks").stdout
    assert re.search(r"^pre_cell\s+broken\s+0$", listing, re.M) and re.search(r"^pre_cell\s+recorder\s+-1$", listing, re.M), listing


def test_input_exception_and_completion_hooks(session):
    session.execute(
        "import hotrepl\n"
        "@hotrepl.hooks.register('input')\n"
        "def shout_to_print(source):\n"
        "    if not source.startswith('shout '): raise hotrepl.TryNext\n"
        "    return 'print(' + repr(source[6:].upper()) + ')'\n"
        "@hotrepl.hooks.register('exception')\n"
        "def short_errors(error):\n"
        "    if not isinstance(error, KeyError): raise hotrepl.TryNext\n"
        "    return f'missing key: {error}'\n"
        "@hotrepl.hooks.register('completion')\n"
        "def offer(line):\n"
        "    return ['fruit_apple', 'fruit_banana'] if line.endswith('fru') else []\n"
    )
    assert session.execute("shout hello").stdout == "HELLO\n"
    assert session.execute("{}['gone']").error_text == "missing key: 'gone'\n"
    assert "ZeroDivisionError" in session.execute("1/0").error_text
    reply = session.request("complete_request", {"code": "x = fru", "cursor_pos": 7})["content"]
    assert reply["matches"] == ["fruit_apple", "fruit_banana"] and reply["cursor_start"] == 4


def test_shutdown_hooks_run_when_the_session_ends(make_host, tmp_path):
    host = make_host()
    client = host.connect()
    marker = tmp_path / "ended"
    client.execute(f"import hotrepl, pathlib\nhotrepl.hooks.register('shutdown', lambda: pathlib.Path({str(marker)!r}).write_text('bye'))")
    client.request("shutdown_request", {"restart": False})
    from waiting import wait_until

    wait_until(marker.exists, what="the shutdown hook")


def test_mcpyrate_macros(session):
    pytest.importorskip("mcpyrate")
    assert session.execute("%macros on").stdout == "mcpyrate macros are expanded in cells\n"
    session.execute("from mcpyrate.quotes import macros, q, u")
    assert session.execute("x = 5\ntree = q[u[x] + y]\ntype(tree).__name__").result == "'BinOp'"
    assert "q" in session.execute("%macros").stdout
    session.execute("%macros off")
    assert session.execute("q[1]").error["ename"] in ("TypeError", "NameError", "SyntaxError")


def test_a_matplotlib_figure_is_shown(session):
    pytest.importorskip("matplotlib")
    run = session.execute("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()")
    figures = run.of_type("display_data")
    assert len(figures) == 1, run.messages
    png = base64.b64decode(figures[0]["data"]["image/png"])
    assert png.startswith(b"\x89PNG") and figures[0]["data"]["text/plain"].startswith("<Figure size")
    assert session.execute("import matplotlib; matplotlib.get_backend()").result == "'module://hotrepl.matplotlib_backend'"
    assert session.execute("len(plt.get_fignums())").result == "0", "shown figures are closed"


def test_ipython_display_reaches_the_session(session):
    pytest.importorskip("IPython")
    run = session.execute("from IPython.display import display, HTML\ndisplay(HTML('<b>hi</b>'), {'a': 1})")
    shown = run.of_type("display_data")
    assert shown[0]["data"]["text/html"] == "<b>hi</b>" and shown[1]["data"] == {"text/plain": "{'a': 1}"}


def test_errors_carry_marks_of_their_parts_and_hook_text_none(session):
    """The kernel marks a traceback's parts (front ends colour them from their own theme);
    text an `exception` hook wrote is its own layout, and carries no marks."""
    session.execute("def f():\n    raise ValueError('no')")
    error = session.execute("f()").error
    text = "".join(error["traceback"])
    parts = [(span["role"], text.encode()[span["start"]:span["end"]].decode()) for span in error["markup"]]
    assert parts[0] == ("header", "Traceback (most recent call last):"), parts
    files = [part for role, part in parts if role == "file"]
    assert len(files) == 2 and all(re.fullmatch(r'"<cell [12](, session \d+)?>"', f) for f in files), parts
    assert ("line_number", "2") in parts and ("function", "f") in parts
    assert ("source", "raise ValueError('no')") in parts
    assert parts[-2:] == [("exception", "ValueError"), ("message", ": no")], parts

    usage = session.execute("%tiem 1").error
    assert [s["role"] for s in usage["markup"]] == ["exception", "message"]

    session.execute(
        "import hotrepl\n"
        "@hotrepl.hooks.register('exception')\n"
        "def short(error):\n"
        "    return f'failed: {error}'\n"
    )
    hooked = session.execute("f()").error
    assert "".join(hooked["traceback"]) == "failed: no\n"
    assert "markup" not in hooked, "unmarked text travels without marks"
