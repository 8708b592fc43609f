"""``spotlab demo``: the README's run command (the exchange, its API and a moving market, with a paper account).

A thin shell over ``spotlab.demo``. Errors are ``error CODE: message`` with exit status 2.
"""

from __future__ import annotations

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
    log_level: Annotated[Optional[str], typer.Option(help="Log level [SPOTLAB_LOG_LEVEL; warning].")] = None,
) -> None:
    """Start the exchange with its API and a simulated market that keeps moving; Ctrl-C stops, a restart resumes."""
    from spotlab.api.logs import configure_logging
    from spotlab.demo import serve_with_market
    from spotlab.settings import Settings

    flags = {"data_dir": data_dir, "host": host, "port": port}
    settings = Settings(**{name: value for name, value in flags.items() if value is not None})
    configure_logging(log_level or "warning")

    def ready(base_url: str, account) -> None:
        state = "created" if account.created else "resumed"
        console.print(f"spotlab demo: the exchange and a simulated market ({state}), store {settings.resolved_store()}",
                      soft_wrap=True)  # fmt: skip
        console.print(f"  API        {base_url}/v1", soft_wrap=True)
        console.print(f"  docs       {base_url}/docs", soft_wrap=True)
        console.print(f"  WebSocket  {base_url.replace('http', 'ws', 1)}/v1/ws", soft_wrap=True)
        console.print(f"  account    {account.username} / {account.password}   (paper money)", soft_wrap=True)
        console.print(f"  API key    {account.key_id}", soft_wrap=True)
        console.print(f"  secret     {account.secret}", soft_wrap=True)
        console.print("  Ctrl-C stops; starting again resumes the same exchange.", soft_wrap=True)

    stats = serve_with_market(settings, seed=seed, speed=speed, on_ready=ready)
    console.print(f"stopped after {stats['steps']} steps of market time; {stats['orders_placed']} orders placed",
                  soft_wrap=True)  # fmt: skip
