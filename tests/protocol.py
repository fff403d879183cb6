"""A small client for hotrepl's native protocol, written from its description (not from the
Rust code): a 12-byte preamble each way, then frames of a 4-byte big-endian length and one
JSON Jupyter message. Tests use it to speak to kernels byte by byte."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections import deque

MAGIC = b"\0hotrepl"
VERSION = (1, 0)


def preamble(major: int = VERSION[0], minor: int = VERSION[1]) -> bytes:
    return MAGIC + struct.pack(">HH", major, minor)


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def connect(address: str, timeout: float | None = None) -> socket.socket:
    """A socket connected to `address`: a Unix socket path or tcp://HOST:PORT."""
    if address.startswith("tcp://"):
        host, port = address[len("tcp://"):].rsplit(":", 1)
        return socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(timeout)
    sock.connect(address)
    return sock


LOCAL_KERNEL = "__import__('sys').exit(__import__('hotrepl._native', fromlist=['_']).serve_local({fd}))"


def start_local_kernel(preexec_fn=None) -> tuple[subprocess.Popen, socket.socket]:
    """The local REPL's kernel, as `hotrepl` starts it: a child of this interpreter serving
    one end of a socket pair. Returns the child and our end."""
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen([sys.executable, "-c", LOCAL_KERNEL.format(fd=theirs.fileno())],
                            pass_fds=[theirs.fileno()], preexec_fn=preexec_fn)
    theirs.close()
    return proc, ours


class Client:
    def __init__(self, sock: socket.socket, handshake: bool = True, timeout: float = 10.0):
        self.sock = sock
        self.timeout = timeout
        self.sock.settimeout(timeout)
        self.buffer = b""
        self.session = uuid.uuid4().hex[:12]
        self.counter = 0
        self.greeting = b""
        # Messages a request() passed over on the way to its reply, for the next readers.
        self.backlog: deque = deque()
        if handshake:
            self.handshake()

    def handshake(self, major: int = VERSION[0], minor: int = VERSION[1]) -> None:
        self.sock.sendall(preamble(major, minor))
        # Anything before the NUL that starts the server's preamble is a greeting for
        # people typing into nc.
        while MAGIC[:1] not in self.buffer:
            self._fill()
        cut = self.buffer.index(MAGIC[:1])
        self.greeting, self.buffer = self.buffer[:cut], self.buffer[cut:]
        while len(self.buffer) < 12:
            self._fill()
        theirs, self.buffer = self.buffer[:12], self.buffer[12:]
        assert theirs[:8] == MAGIC, theirs

    def authenticate(self, token: str) -> dict:
        """The client's half of the TCP token handshake; returns the server's auth_result
        (its proof already checked when it says ok)."""
        challenge = self.recv()
        assert challenge["header"]["msg_type"] == "auth_challenge", challenge
        server_nonce = bytes.fromhex(challenge["content"]["nonce"])
        client_nonce = os.urandom(32)
        proof = hmac.new(token.encode(), b"hotrepl-auth-v1 client" + server_nonce + client_nonce, hashlib.sha256)
        self.send("auth_response", {"nonce": client_nonce.hex(), "proof": proof.hexdigest()})
        result = self.recv()["content"]
        if result["ok"]:
            expected = hmac.new(token.encode(), b"hotrepl-auth-v1 server" + client_nonce + server_nonce, hashlib.sha256)
            assert hmac.compare_digest(expected.hexdigest(), result["proof"]), "the server does not hold the token"
        return result

    def _fill(self) -> None:
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("connection closed")
        self.buffer += data

    def send(self, msg_type: str, content: dict, metadata: dict | None = None) -> str:
        self.counter += 1
        msg_id = f"{self.session}-{self.counter}"
        msg = {
            "header": {"msg_id": msg_id, "session": self.session, "username": "test", "date": "",
                       "msg_type": msg_type, "version": "5.3"},
            "parent_header": {}, "metadata": metadata or {}, "content": content,
        }
        self.sock.sendall(frame(json.dumps(msg).encode()))
        return msg_id

    def recv(self) -> dict:
        if self.backlog:
            return self.backlog.popleft()
        while True:
            if len(self.buffer) >= 4:
                (length,) = struct.unpack(">I", self.buffer[:4])
                if len(self.buffer) >= 4 + length:
                    payload, self.buffer = self.buffer[4:4 + length], self.buffer[4 + length:]
                    return json.loads(payload)
            self._fill()

    def recv_until(self, msg_type: str, parent: str | None = None) -> list[dict]:
        """Messages up to and including the first `msg_type` (answering `parent`)."""
        got = []
        while True:
            msg = self.recv()
            got.append(msg)
            if msg["header"]["msg_type"] == msg_type and (parent is None or msg["parent_header"].get("msg_id") == parent):
                return got

    def request(self, msg_type: str, content: dict, reply_type: str | None = None) -> dict:
        """Sends a request and returns its reply; what came before the reply (a running
        cell's output or its own reply) stays for the next recv()."""
        msg_id = self.send(msg_type, content)
        reply_type = reply_type or msg_type.replace("_request", "_reply")
        *passed, reply = self.recv_until(reply_type, msg_id)
        self.backlog.extendleft(reversed(passed))
        return reply

    def execute(self, code: str, metadata: dict | None = None) -> "Execution":
        return self.finish(self.send("execute_request", {"code": code}, metadata))

    def execute_answering(self, code: str, answers: list[str]) -> "Execution":
        """Runs a cell that asks for input, answering each input request with the next of
        `answers`; the input requests are among the messages returned."""
        msg_id = self.send("execute_request", {"code": code})
        answers = list(answers)
        messages = []
        while True:
            msg = self.recv()
            messages.append(msg)
            kind = msg["header"]["msg_type"]
            if kind == "input_request" and msg["parent_header"].get("msg_id") == msg_id:
                assert answers, f"unexpected input request: {msg['content']}"
                self.send("input_reply", {"value": answers.pop(0)})
            if kind == "execute_reply" and msg["parent_header"].get("msg_id") == msg_id:
                return Execution(messages)

    def finish(self, msg_id: str) -> "Execution":
        """What the cell sent as `msg_id` produces, up to its reply."""
        return Execution(self.recv_until("execute_reply", msg_id))

    def is_closed(self, timeout: float = 5.0) -> bool:
        """True once the server has closed the connection (reading whatever comes first)."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.2)
        try:
            while time.monotonic() < deadline:
                try:
                    if not self.sock.recv(1 << 16):
                        return True
                except socket.timeout:
                    continue
                except ConnectionError:
                    return True
            return False
        finally:
            self.sock.settimeout(self.timeout)

    def close(self) -> None:
        self.sock.close()


class Execution:
    """Everything a cell produced, in order, up to its reply."""

    def __init__(self, messages: list[dict]):
        self.messages = messages
        self.reply = messages[-1]["content"]

    def of_type(self, msg_type: str) -> list[dict]:
        return [m["content"] for m in self.messages if m["header"]["msg_type"] == msg_type]

    @property
    def stdout(self) -> str:
        return "".join(c["text"] for c in self.of_type("stream") if c["name"] == "stdout")

    @property
    def stderr(self) -> str:
        return "".join(c["text"] for c in self.of_type("stream") if c["name"] == "stderr")

    @property
    def result(self) -> str | None:
        results = self.of_type("execute_result")
        return results[-1]["data"]["text/plain"] if results else None

    @property
    def bundle(self) -> dict | None:
        """The MIME bundle of the cell's value."""
        results = self.of_type("execute_result")
        return results[-1]["data"] if results else None

    @property
    def error(self) -> dict | None:
        errors = self.of_type("error")
        return errors[-1] if errors else None

    @property
    def error_text(self) -> str:
        return "".join(self.error["traceback"]) if self.error else ""

    @property
    def page(self) -> str:
        """The help text the cell showed (`obj?`): its reply's page payload."""
        return "".join(p["data"]["text/plain"] for p in self.reply.get("payload", []) if p.get("source") == "page")

class FakeKernel:
    """A kernel played by the test, on a Unix socket, for one client at a time: it answers
    kernel_info, is_complete (complete), configure and shutdown requests, and runs a cell
    by sending the messages `cells[code]` lists — (msg_type, content) pairs — then an ok
    execute_reply. Every request it got is kept in `requests`. It listens at once and
    answers once `serve()` has started its thread (so a test can fork before that)."""

    def __init__(self, path: str, cells: dict[str, list[tuple[str, dict]]]):
        self.cells = cells
        self.requests: list[dict] = []
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(path)
        self.server.listen(1)
        self.address = path
        self.thread = None

    def serve(self) -> None:
        import threading

        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            sock, _ = self.server.accept()
        except OSError:
            return  # closed before anyone came
        with sock:
            peer = Client(sock, handshake=False, timeout=None)
            while len(peer.buffer) < 12:
                peer._fill()
            peer.buffer = peer.buffer[12:]
            sock.sendall(preamble())
            try:
                while self._answer(peer, peer.recv()):
                    pass
            except (ConnectionError, OSError):
                pass

    def _answer(self, peer: Client, msg: dict) -> bool:
        self.requests.append(msg)
        kind = msg["header"]["msg_type"]

        def send(msg_type: str, content: dict) -> None:
            peer.counter += 1
            header = {"msg_id": f"k-{peer.counter}", "session": "fake", "username": "test", "date": "",
                      "msg_type": msg_type, "version": "5.3"}
            reply = {"header": header, "parent_header": msg["header"], "metadata": {}, "content": content}
            peer.sock.sendall(frame(json.dumps(reply).encode()))

        if kind == "kernel_info_request":
            send("kernel_info_reply", {
                "status": "ok", "protocol_version": "5.3", "implementation": "fake", "implementation_version": "0",
                "language_info": {"name": "python", "version": "3", "mimetype": "text/x-python", "file_extension": ".py"},
                "banner": "fake kernel\n", "pid": os.getpid(),
            })
        elif kind == "is_complete_request":
            send("is_complete_reply", {"status": "complete"})
        elif kind == "configure_request":
            send("configure_reply", {"status": "ok"})
        elif kind == "execute_request":
            for msg_type, content in self.cells.get(msg["content"]["code"], []):
                send(msg_type, content)
            send("execute_reply", {"status": "ok", "execution_count": 1})
        elif kind == "shutdown_request":
            send("shutdown_reply", {"status": "ok", "restart": False})
            return False
        return True

    def requests_of(self, msg_type: str) -> list[dict]:
        return [m["content"] for m in self.requests if m["header"]["msg_type"] == msg_type]

    def close(self) -> None:
        """Stops listening; once its client is gone, waits for its thread to end (so the
        next test does not fork beside it)."""
        self.server.close()
        if self.thread is not None:
            self.thread.join(5)
