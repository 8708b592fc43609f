"""``spotlab demo``: the README's run command (the exchange, its API and a moving market, with a paper account).

A thin shell over ``spotlab.demo``. Errors are ``error CODE: message`` with exit status 2.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

console = Console(width=max(Console().width, 120))


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    data_dir: Annotated[
        Optional[Path],
        typer.Option(help="Where the exchange and the demo account live [SPOTLAB_DATA_DIR]."),
    ] = None,
    host: Annotated[Optional[str], typer.Option(help="Interface to listen on [SPOTLAB_HOST; 127.0.0.1].")] = None,
    port: Annotated[Optional[int], typer.Option(help="TCP port [SPOTLAB_PORT; 8000].")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the simulated market (same seed, same market).")] = 0,
    speed: Annotated[float, typer.Option(help="Market time per real second (1: real time).")] = 1.0,
    venues: Annotated[
        int, typer.Option(help="Exchanges to run (2: for arbitrage practice; their prices drift apart and converge).")
    ] = 1,
    log_level: Annotated[Optional[str], typer.Option(help="Log level [SPOTLAB_LOG_LEVEL; warning].")] = None,
) -> None:
    """Start the exchange with its API and a simulated market that keeps moving; Ctrl-C stops, a restart resumes."""
    from spotlab.api.logs import configure_logging
    from spotlab.demo import serve_venues
    from spotlab.errors import ErrorCode, SpotlabError
    from spotlab.settings import Settings

    flags = {"data_dir": data_dir, "host": host, "port": port}
    settings = Settings(**{name: value for name, value in flags.items() if value is not None})
    configure_logging(log_level or "warning")
    if venues < 1:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"--venues must be at least 1, got {venues}")
    sites = [settings] + [
        settings.model_copy(update={"data_dir": settings.data_dir / f"venue-{n + 1}", "port": settings.port + n,
                                    "store": None})
        for n in range(1, venues)
    ]  # fmt: skip

    def ready(index: int, base_url: str, account) -> None:
        state = "created" if account.created else "resumed"
        site = sites[index]
        name = "spotlab demo" if venues == 1 else f"spotlab demo, venue {index + 1} of {venues}"
        lines = [
            f"{name}: the exchange and a simulated market ({state}), store {site.resolved_store()}",
            f"  API        {base_url}/v1",
            f"  docs       {base_url}/docs",
            f"  WebSocket  {base_url.replace('http', 'ws', 1)}/v1/ws",
            f"  account    {account.username} / {account.password}   (paper money)",
            f"  API key    {account.key_id}",
            f"  secret     {account.secret}",
        ]
        if index == venues - 1:
            lines.append("  Ctrl-C stops; starting again resumes the same exchange" + ("s." if venues > 1 else "."))
        with lock:
            for line in lines:
                console.print(line, soft_wrap=True)

    lock = threading.Lock()
    stats = serve_venues(sites, seed=seed, speed=speed, on_ready=ready)
    steps = sum(int(s["steps"]) for s in stats)
    placed = sum(int(s["orders_placed"]) for s in stats)
    console.print(f"stopped after {steps} steps of market time; {placed} orders placed", soft_wrap=True)
