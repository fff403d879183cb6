"""Images in the terminal client. A kernel played by the test sends a cell's value with an
image/png in its MIME bundle (as Jupyter kernels do), and the test plays the terminal:
it answers the client's queries like a kitty terminal, a sixel one, or one that knows
neither, and checks the escape sequences the client writes."""

from __future__ import annotations

import base64
import re
import struct
import zlib
from pathlib import Path

import pytest

from protocol import FakeKernel
from terminal import PtyTerminal

KITTY_QUERY = b"\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\"
DEVICE_ATTRIBUTES = b"\x1b[c"


def png(width: int, height: int) -> bytes:
    """A red RGB PNG, made by hand (zlib and struct)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xc8\x1e\x1e" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


IMAGE = png(4, 3)
CELLS = {
    "figure": [("execute_result", {
        "execution_count": 1,
        "data": {"text/plain": "<Figure size 4x3>", "image/png": base64.b64encode(IMAGE).decode()},
        "metadata": {},
    })],
    "drawing": [("display_data", {
        "data": {"text/plain": "<Drawing>",
                 "image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">'
                                  '<rect width="40" height="20" fill="blue"/></svg>'},
        "metadata": {}, "transient": {},
    })],
    "quiet": [("config_changed", {"name": "image_protocol", "value": "none"})],
}
PLACEHOLDER = f"<image/png 4x3, {len(IMAGE)} B>".encode()


@pytest.fixture
def attach_to_fake(tmp_path: Path, base_env: dict[str, str], hotrepl_bin: str):
    """Starts `hotrepl attach` on a pseudo-terminal the test plays, to a fake kernel."""
    started: list[tuple[FakeKernel, PtyTerminal]] = []

    def start(answers: dict[bytes, bytes], *args: str, env: dict[str, str] | None = None) -> tuple[FakeKernel, PtyTerminal]:
        kernel = FakeKernel(str(tmp_path / f"kernel{len(started)}.sock"), CELLS)
        term = PtyTerminal([hotrepl_bin, *args, "attach", kernel.address], {**base_env, **(env or {})}, answers)
        kernel.serve()
        started.append((kernel, term))
        term.read_until(b">>> ")
        return kernel, term

    yield start
    for kernel, term in started:
        term.close()
        kernel.close()


def run(term: PtyTerminal, code: str) -> bytes:
    """Types a cell; returns what the client wrote while it ran: from the editor letting
    go of the terminal (bracketed paste off) until it takes it again for the next prompt."""
    mark = len(term.output)
    term.write(code.encode() + b"\r")
    start = term.read_until(b"\x1b[?2004l", since=mark)
    end = term.read_until(b"\x1b[?2004h", since=start)
    return term.output[start:end]


def test_a_kitty_terminal_gets_the_png(attach_to_fake):
    _, term = attach_to_fake({KITTY_QUERY: b"\x1b_Gi=31;OK\x1b\\", DEVICE_ATTRIBUTES: b"\x1b[?62;22c"})
    out = run(term, "figure")
    assert KITTY_QUERY in out, "the terminal is asked when the first image comes"
    transfers = re.findall(rb"\x1b_G([^;]*);([^\x1b]*)\x1b\\", out.split(DEVICE_ATTRIBUTES, 1)[1])
    assert transfers[0][0] == b"a=T,f=100,q=2,m=0", transfers
    assert base64.b64decode(transfers[0][1]) == IMAGE
    assert PLACEHOLDER not in out
    # Asked once per client: the second image is drawn without asking again.
    again = run(term, "figure")
    assert KITTY_QUERY not in again and b"\x1b_Ga=T,f=100" in again


def test_a_sixel_terminal_gets_sixels(attach_to_fake):
    _, term = attach_to_fake({DEVICE_ATTRIBUTES: b"\x1b[?62;4;22c"})
    out = run(term, "figure")
    assert DEVICE_ATTRIBUTES in out
    after = out.split(DEVICE_ATTRIBUTES, 1)[1]
    sixel = re.search(rb"\x1bP[0-9;]*q(.*?)\x1b\\", after, re.S)
    assert sixel, after
    assert b"\x1b_G" not in after and PLACEHOLDER not in out
    # An SVG is rasterised and drawn too.
    assert re.search(rb"\x1bP[0-9;]*q", run(term, "drawing"))


def test_a_terminal_that_knows_neither_gets_a_placeholder(attach_to_fake):
    _, term = attach_to_fake({DEVICE_ATTRIBUTES: b"\x1b[?62;22c"})
    out = run(term, "figure")
    assert DEVICE_ATTRIBUTES in out
    assert PLACEHOLDER + b"\r\n" in out
    assert b"\x1b_Ga=" not in out and not re.search(rb"\x1bP[0-9;]*q", out)


def test_images_can_be_turned_off(attach_to_fake):
    _, term = attach_to_fake({KITTY_QUERY: b"\x1b_Gi=31;OK\x1b\\", DEVICE_ATTRIBUTES: b"\x1b[?62;22c"},
                             "--image-protocol", "none")
    out = run(term, "figure")
    assert PLACEHOLDER in out and DEVICE_ATTRIBUTES not in out, "no query when images are off"


def test_the_kernel_can_change_the_protocol(attach_to_fake):
    _, term = attach_to_fake({KITTY_QUERY: b"\x1b_Gi=31;OK\x1b\\", DEVICE_ATTRIBUTES: b"\x1b[?62;22c"})
    run(term, "quiet")  # as `%config image_protocol none` in the kernel would
    out = run(term, "figure")
    assert PLACEHOLDER in out and KITTY_QUERY not in out


def test_inside_tmux_the_kitty_sequences_go_through_passthrough(attach_to_fake):
    wrapped_query = b"\x1bPtmux;" + KITTY_QUERY.replace(b"\x1b", b"\x1b\x1b") + b"\x1b\\"
    _, term = attach_to_fake({wrapped_query: b"\x1b_Gi=31;OK\x1b\\", DEVICE_ATTRIBUTES: b"\x1b[?62;22c"},
                             env={"TMUX": "/tmp/tmux-0/default,1,0"})
    out = run(term, "figure")
    assert wrapped_query in out
    assert b"\x1bPtmux;\x1b\x1b_Ga=T,f=100,q=2,C=1,m=0;" in out


def test_keys_typed_while_the_terminal_answers_are_kept(attach_to_fake):
    # The "terminal" answers DA1 with a key the user typed just before the answer.
    _, term = attach_to_fake({DEVICE_ATTRIBUTES: b"x\x1b[?62;22c"})
    run(term, "figure")
    term.read_until(b">>> \x1b")  # the next prompt, drawn by the editor
    term.write(b"yz\r")
    term.read_until(b"xyz")


def test_the_client_tells_the_kernel_its_configuration(attach_to_fake, tmp_path):
    config = tmp_path / "home" / ".config" / "hotrepl" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("pretty_width = 60\n")
    kernel, term = attach_to_fake({}, "--pdb", "on", env={"HOTREPL_AUTOAWAIT": "off"})
    run(term, "1")
    (request,) = kernel.requests_of("configure_request")
    options = {o["name"]: (o["value"], o["source"]) for o in request["options"]}
    assert options["autoawait"] == ("off", "$HOTREPL_AUTOAWAIT")
    assert options["pdb"] == ("on", "command line")
    assert options["pretty_width"] == ("60", f"{config}:1")
    assert options["confirm_exit"] == ("off", "default")
    kinds = [m["header"]["msg_type"] for m in kernel.requests]
    assert kinds.index("configure_request") < kinds.index("execute_request"), "configured before any cell"
