"""A real uvicorn server on 127.0.0.1 for tests that need one (WebSocket, schemathesis)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from spotlab.api.ws_frames import FrameWebSocketProtocol


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(app, port: int | None = None, **config) -> Iterator[str]:
    """Serve ``app`` in a background thread; yields its base URL; stops it on exit (``config``: uvicorn's)."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            **{
                "host": "127.0.0.1",
                "port": port,
                "log_config": None,
                "access_log": False,
                "lifespan": "on",
                "ws": FrameWebSocketProtocol,  # as ``spotlab serve`` runs: fan-out writes frames through
                "ws_per_message_deflate": False,
                **config,
            },
        )
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
