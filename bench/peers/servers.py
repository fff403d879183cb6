"""How each REPL server is started inside the host program, as its documentation says to
embed it in a running asyncio app. Each returns the address clients connect to: a Unix
socket path, `tcp://HOST:PORT`, or (ipykernel, hotrepl's Jupyter session) the connection file."""

from __future__ import annotations

import asyncio
import os


async def start_hotrepl(workdir: str) -> str:
    import hotrepl

    return hotrepl.start().address


async def start_hotrepl_jupyter(workdir: str) -> str:
    import hotrepl

    return hotrepl.start(jupyter=True).jupyter_connection_file


async def start_manhole(workdir: str) -> str:
    import manhole

    path = os.path.join(workdir, "manhole.sock")
    # daemon_connection: an attached client must not keep the host alive at exit.
    manhole.install(socket_path=path, verbose=False, daemon_connection=True)
    while not os.path.exists(path):  # its thread binds the socket after install() returns
        await asyncio.sleep(0.005)
    return path


async def start_aioconsole(workdir: str) -> str:
    import aioconsole

    path = os.path.join(workdir, "aioconsole.sock")
    await aioconsole.start_interactive_server(path=path)
    return path


async def start_unpythonic(workdir: str) -> str:
    import unpythonic.net.server

    host, repl_port, _control_port = unpythonic.net.server.start(locals={}, repl_port=0, control_port=0)
    return f"tcp://{host}:{repl_port}"


async def start_ipykernel(workdir: str) -> str:
    from ipykernel.kernelapp import IPKernelApp

    # What embed_kernel() does, minus its io_loop.start(): the host's loop is already running,
    # and tornado's IOLoop.current() is that loop.
    path = os.path.join(workdir, "kernel.json")
    app = IPKernelApp.instance()
    app.initialize([f"--IPKernelApp.connection_file={path}", "--ip=127.0.0.1", "--quiet"])
    app.kernel.start()
    return path


START = {
    "hotrepl": start_hotrepl,
    "hotrepl-jupyter": start_hotrepl_jupyter,
    "manhole": start_manhole,
    "aioconsole": start_aioconsole,
    "unpythonic": start_unpythonic,
    "ipykernel": start_ipykernel,
}
