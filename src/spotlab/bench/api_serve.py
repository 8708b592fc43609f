"""The server of the WebSocket benchmarks: ``spotlab serve`` with benchmark WebSocket options.

    python -m spotlab.bench.api_serve --port 8000 --data-dir /tmp/x [--coalesce-seconds 0.02]

Settings come from ``SPOTLAB_*`` variables exactly as for ``spotlab serve``, and uvicorn
runs with the options ``spotlab serve`` uses (one worker, uvloop and httptools, no access
log, JSON logs at the configured level). The only difference is ``/v1/ws``'s options, which
``spotlab serve`` has no flags for: order entry is not limited per connection
(``order_ops_per_second=None``: the benchmark measures the server, not the per-connection
budget), and the hub's ``coalesce_seconds`` is the flag's value (default: the
server's default). Everything else keeps ``WebSocketOptions``' defaults.

Invariants
- Only ``order_ops_per_second`` and ``coalesce_seconds`` differ from ``spotlab serve``; keep the
  ``uvicorn.run`` arguments here in step with ``spotlab.cli.serve``.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--coalesce-seconds", type=float, default=None)
    args = parser.parse_args(argv)

    import uvicorn

    from spotlab.api.app import create_app
    from spotlab.api.gc_policy import GcPolicy
    from spotlab.api.logs import configure_logging
    from spotlab.api.routes.ws import WebSocketOptions, configure
    from spotlab.api.ws_frames import FrameWebSocketProtocol
    from spotlab.settings import Settings

    settings = Settings(port=args.port, data_dir=args.data_dir)
    configure_logging(settings.log_level)
    options = WebSocketOptions(order_ops_per_second=None)
    if args.coalesce_seconds is not None:
        options = dataclasses.replace(options, coalesce_seconds=args.coalesce_seconds)
    app = create_app(settings)
    configure(app, options)
    GcPolicy().install()  # as spotlab serve
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        ws_ping_interval=20,
        ws_ping_timeout=20,
        ws=FrameWebSocketProtocol,
        ws_per_message_deflate=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
