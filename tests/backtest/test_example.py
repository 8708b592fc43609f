"""The backtesting example given for the README runs as written and gives consistent records."""

from __future__ import annotations

from tests.shared_data import DATA

EXAMPLE = '''
from decimal import Decimal

from spotlab import indicators
from spotlab.backtest import FillModel, bars_from_file, run_backtest
from spotlab.strategy import Param, Strategy


class EmaTrend(Strategy):
    """Long while the close is above its EMA, flat below it."""

    period = Param(int, 20, "EMA period (bars)", min=2)
    stake = Param(Decimal, Decimal("1000"), "quote spent per entry, fee included")

    def init(self):
        self.ema = self.indicator(indicators.EMA, self.period)  # streaming: the same numbers live

    def on_bar(self, bar):
        above = float(bar.close) > self.ema[-1]  # NaN during warm-up: False
        held = self.round_quantity(bar.market, self.position(bar.market))
        if above and not held:
            self.buy(bar.market, quote_quantity=self.stake)
        elif not above and held:
            self.sell(bar.market, held)


bars = bars_from_file("quantedge-ta/btcusdt-1h.csv", "BTC/USDT", "1h")
result = run_backtest(
    EmaTrend(period=24),
    {"BTC/USDT": bars},
    {"USDT": Decimal("10000")},
    fill_model=FillModel(spread_bps=Decimal(4), path="nearest-first"),
    progress=False,
)
print(result.final_equity, len(result.trades), result.fees_paid)
print(f"{result.metrics.total_return:.2%} vs buy and hold {result.metrics.buy_and_hold_return:.2%}")
'''


def test_the_readme_backtest_example_runs(capsys, monkeypatch):
    monkeypatch.chdir(DATA)
    namespace: dict = {}
    exec(compile(EXAMPLE, "README example", "exec"), namespace)
    result = namespace["result"]
    result.exchange.check_invariants()
    assert result.trades and result.fees_paid > 0
    assert result.equity[-1].equity == result.final_equity
    equity, trades, _ = capsys.readouterr().out.splitlines()[0].split()
    assert int(trades) == len(result.trades)
