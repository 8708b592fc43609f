"""Backtests: history replayed bar by bar through the real exchange (engine, ledger, fees, conditional orders).

``run_backtest`` (``runner``) plays a ``Strategy`` over bars (``bars``: loaders for DataStore,
pyarrow tables and candle files) with a ``FillModel`` (``fill_model``) and returns a
``BacktestResult`` (``result``) of ``records``. An account risk profile (``run_backtest(risk_profile=...)``)
is enforced by the exchange itself on every entry, as live (``spotlab.exchange.risk``).
"""

from spotlab.backtest.bars import bars_from_datastore, bars_from_file, bars_from_table, trades_from_file
from spotlab.backtest.fill_model import FillModel
from spotlab.backtest.result import BacktestResult
from spotlab.backtest.runner import run_backtest

__all__ = [
    "BacktestResult",
    "FillModel",
    "bars_from_datastore",
    "bars_from_file",
    "bars_from_table",
    "run_backtest",
    "trades_from_file",
]
