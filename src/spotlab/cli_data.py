"""``spotlab data ...``: the historical data catalogue from the terminal (import, export, download).

Every subcommand is a thin shell over ``spotlab.marketdata``; errors are printed as
``error CODE: message`` with exit status 2, never as a stack trace.
"""

from __future__ import annotations

import typer

data_app = typer.Typer(help="Historical candles and trades: import, export, download.", no_args_is_help=True)
