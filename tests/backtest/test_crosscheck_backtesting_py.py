"""Cross-check against backtesting.py: the same SMA(10)/SMA(30) crossover on the same SOL/USDT hours.

backtesting.py (a test-only dependency) fills a market order at the next bar's open, with no
spread and unlimited depth, and charges ``commission`` of the order's value on entry and on exit.

Matched assumptions on our side
- ``latency_bars=1``: an order sent when a bar closes reaches the exchange at the next open;
- ``fill_at_print=True`` with a large ``depth_quantity``: the side a market order takes starts at
  that open (no spread) and holds far more than the order (no slippage);
- the market's taker fee equals backtesting.py's ``commission`` (0.1 %); cash is ample on both sides;
- the strategy is the same on both sides: on the bar that just closed, the fast SMA crossing above
  the slow one (``a[-2] < b[-2] and a[-1] > b[-1]``, backtesting.py's ``crossover``) buys 20 SOL
  when flat (backtesting.py trades whole units), crossing below sells everything held.

Then every closed trade is the same: entry and exit time, entry and exit price and size exactly
(backtesting.py's floats are read with ``Decimal(str(x))``, which must land on the 0.01 tick), and
P&L within two USDT minor units (0.00000002): our fee is the exact rate times the notional rounded
down to the minor unit, once per fill, two fills per trade; backtesting.py's float P&L is within
about 1e-12 of the exact value. (On this file both fees are exact, so the difference is only float noise.)

A trade still open at the end: backtesting.py (``finalize_trades=False``, its default) leaves it
out of ``stats._trades``; our ``result.trades`` are closed round trips only. Both sides compare
closed trades, and both still hold the open one (checked on a cut of the file that ends mid-trade).

Under our default fill model the same signals trade at other prices (last test; the README states why).
"""

from __future__ import annotations

import math
import warnings
from decimal import ROUND_DOWN, Decimal

import pytest

from spotlab.backtest import FillModel, bars_from_file, run_backtest
from spotlab.backtest.result import BacktestResult
from spotlab.core.markets import Asset, MarketSpec
from spotlab.indicators import SMA
from spotlab.strategy import Bar, Param, Strategy
from tests.shared_data import DATA

backtesting = pytest.importorskip("backtesting", reason="the cross-check needs backtesting.py (a test extra)")
pd = pytest.importorskip("pandas")
from backtesting.lib import crossover  # noqa: E402
from backtesting.test import SMA as BT_SMA  # noqa: E402

D = Decimal
SOL_FILE = DATA / "backtesting.py" / "SOLUSDT_1h.csv"
MARKET = "SOL/USDT"
TICK = D("0.01")
FEE = D("0.001")
SIZE = 20
CASH = 10_000
MINOR = D("0.00000001")  # one USDT minor unit
PNL_TOLERANCE = 2 * MINOR  # two fills per trade, each fee rounded down to the minor unit
SOL_USDT = MarketSpec(
    MARKET, Asset("SOL", 8), Asset("USDT", 8), TICK, D("0.001"), D("0.001"), D(5), FEE, FEE
)  # fmt: skip
MATCHED = FillModel(spread_bps=D(0), levels=1, depth_quantity=D(100_000), latency_bars=1, fill_at_print=True)


class SmaCross(Strategy):
    """Ours: long ``size`` units while the fast SMA is above the slow one, decided at each close."""

    fast = Param(int, 10, "fast SMA period", min=2)
    slow = Param(int, 30, "slow SMA period", min=3)
    size = Param(Decimal, D(SIZE), "units bought on a cross up", min=0)

    def init(self) -> None:
        self.fast_sma = self.indicator(SMA, self.fast)
        self.slow_sma = self.indicator(SMA, self.slow)

    def on_bar(self, bar: Bar) -> None:
        if len(self.fast_sma) < 2:
            return
        fast, slow = self.fast_sma, self.slow_sma
        held = self.position(bar.market)
        if fast[-2] < slow[-2] and fast[-1] > slow[-1] and not held:
            self.buy(bar.market, self.size)
        elif slow[-2] < fast[-2] and slow[-1] > fast[-1] and held:
            self.sell(bar.market, held)


class TheirSmaCross(backtesting.Strategy):
    """backtesting.py's: the same rules with its own ``SMA`` helper and ``crossover``."""

    fast = 10
    slow = 30

    def init(self):
        self.fast_sma = self.I(BT_SMA, self.data.Close, self.fast)
        self.slow_sma = self.I(BT_SMA, self.data.Close, self.slow)

    def next(self):
        if crossover(self.fast_sma, self.slow_sma) and not self.position:
            self.buy(size=SIZE)
        elif crossover(self.slow_sma, self.fast_sma) and self.position:
            self.position.close()


@pytest.fixture(scope="module")
def bars() -> list[Bar]:
    return bars_from_file(SOL_FILE, MARKET, "1h")


@pytest.fixture(scope="module")
def frame():
    return pd.read_csv(SOL_FILE, index_col="timestamp", parse_dates=True)  # UTC hours, naive


def ours(bars: list[Bar], model: FillModel) -> BacktestResult:
    result = run_backtest(
        SmaCross(), {MARKET: bars}, {"USDT": D(CASH)}, fill_model=model, markets=[SOL_USDT], progress=False
    )
    result.exchange.check_invariants()
    assert result.refusals == []
    return result


def theirs(frame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "some trades remain open" on the cut file: expected there
        backtest = backtesting.Backtest(frame, TheirSmaCross, cash=CASH, commission=float(FEE))
        return backtest.run()


def on_tick(value: float) -> Decimal:
    """backtesting.py's float price as a Decimal, which must be a 0.01 tick exactly."""
    price = D(str(value))
    assert price == price.quantize(TICK), f"{value} is not on the {TICK} tick"
    return price


def ns(timestamp) -> int:
    return pd.Timestamp(timestamp).tz_localize("UTC").value


def fee(notional: Decimal) -> Decimal:
    return (notional * FEE).quantize(MINOR, rounding=ROUND_DOWN)


def half_spread(price: Decimal, spread_bps: Decimal = FillModel().spread_bps) -> Decimal:
    """Half the default spread around ``price``, rounded up to the tick (at least one tick)."""
    ticks = price / TICK
    return max(1, math.ceil(ticks * spread_bps / 2 / 10_000)) * TICK


# -- matched assumptions: the same trades -----------------------------------------------------------


def test_the_data_is_1000_contiguous_hours_read_the_same_by_both(bars, frame):
    assert len(bars) == len(frame) == 1000
    assert all(a.close_time_ns == b.open_time_ns for a, b in zip(bars, bars[1:]))
    assert [bar.open_time_ns for bar in bars] == [ns(t) for t in frame.index]
    assert [bar.open for bar in bars] == [on_tick(x) for x in frame["Open"]]


def test_under_matched_assumptions_every_trade_is_the_same_as_backtesting_pys(bars, frame):
    result, stats = ours(bars, MATCHED), theirs(frame)
    expected = stats._trades
    assert len(expected) == len(result.trades) == 17
    opens = {bar.open_time_ns: bar.open for bar in bars}
    for trip, (_, trade) in zip(result.trades, expected.iterrows(), strict=True):
        assert (trip.entry_time_ns, trip.exit_time_ns) == (ns(trade.EntryTime), ns(trade.ExitTime))
        assert (trip.entry_price, trip.exit_price) == (on_tick(trade.EntryPrice), on_tick(trade.ExitPrice))
        assert trip.entry_price == opens[trip.entry_time_ns] and trip.exit_price == opens[trip.exit_time_ns]
        assert trip.quantity == D(str(trade.Size)) == SIZE
        notional_in, notional_out = SIZE * trip.entry_price, SIZE * trip.exit_price
        assert trip.fees == fee(notional_in) + fee(notional_out)
        assert trip.pnl == notional_out - notional_in - trip.fees
        assert abs(trip.pnl - D(str(trade.PnL))) <= PNL_TOLERANCE
    assert result.final_balances["SOL"].total == 0  # flat at the end: the equities agree too
    assert abs(result.final_equity - D(str(stats["Equity Final [$]"]))) <= len(result.trades) * PNL_TOLERANCE
    assert result.final_equity == D(CASH) + sum(t.pnl for t in result.trades)
    assert [f.role for f in result.fills] == ["taker"] * 34  # market orders, one fill each: no level walked


def test_a_trade_still_open_at_the_end_is_left_out_of_the_trades_on_both_sides(bars, frame):
    cut = 930  # the last trade of the file opens at bar 922 and closes at bar 947
    result, stats = ours(bars[:cut], MATCHED), theirs(frame.iloc[:cut])
    assert len(result.trades) == len(stats._trades) == 16
    assert [t.entry_time_ns for t in result.trades] == [ns(t) for t in stats._trades.EntryTime]
    [still_open] = stats._strategy.trades
    assert (still_open.size, on_tick(still_open.entry_price)) == (SIZE, bars[922].open)
    assert result.final_balances["SOL"].total == SIZE
    assert result.fills[-1].price == bars[922].open and result.fills[-1].side == "buy"


def test_without_fill_at_print_even_a_zero_spread_costs_one_tick_each_way(bars, frame):
    no_print = FillModel(spread_bps=D(0), levels=1, depth_quantity=D(100_000), latency_bars=1)
    result, stats = ours(bars, no_print), theirs(frame)
    assert len(result.trades) == len(stats._trades) == 17  # the same trades, each one tick worse both ways
    for trip, (_, trade) in zip(result.trades, stats._trades.iterrows(), strict=True):
        assert trip.entry_price == on_tick(trade.EntryPrice) + TICK
        assert trip.exit_price == on_tick(trade.ExitPrice) - TICK


# -- our default fill model: the same signals, other prices -----------------------------------------


def test_under_the_default_fill_model_the_same_signals_fill_at_the_signal_close_plus_or_minus_half_the_spread(
    bars, frame
):
    result, stats = ours(bars, FillModel()), theirs(frame)
    by_close = {bar.close_time_ns: bar for bar in bars}
    by_open = {bar.open_time_ns: bar for bar in bars}
    assert len(result.trades) == len(stats._trades) == 17
    assert len(result.fills) == 34 and all(f.role == "taker" for f in result.fills)  # one level each: no slippage
    spread_cost = D(0)
    for trip, (_, trade) in zip(result.trades, stats._trades.iterrows(), strict=True):
        # The same signal bars. No latency: we fill at the signal bar's close instant, which is
        # the next bar's open time, where backtesting.py fills.
        assert (trip.entry_time_ns, trip.exit_time_ns) == (ns(trade.EntryTime), ns(trade.ExitTime))
        assert trip.quantity == D(str(trade.Size)) == SIZE
        # Other prices. Ours: the signal bar's close plus (buy) or minus (sell) half the 4 bps
        # spread; theirs: the next bar's open. The difference: half the spread and the gap.
        entry_signal, exit_signal = by_close[trip.entry_time_ns], by_close[trip.exit_time_ns]
        half_in, half_out = half_spread(entry_signal.close), half_spread(exit_signal.close)
        assert trip.entry_price == entry_signal.close + half_in
        assert trip.exit_price == exit_signal.close - half_out
        gap_in = on_tick(trade.EntryPrice) - entry_signal.close
        gap_out = on_tick(trade.ExitPrice) - exit_signal.close
        assert (gap_in + entry_signal.close, gap_out + exit_signal.close) == (
            by_open[trip.entry_time_ns].open, by_open[trip.exit_time_ns].open,
        )  # fmt: skip
        assert abs(gap_in) <= D("0.02") and abs(gap_out) <= D("0.02")  # the largest close-to-open gap of the file
        # The P&L differs by exactly that: the spread, the gaps, and the fee on the price difference.
        explained = SIZE * (half_in + half_out) + SIZE * (gap_out - gap_in)
        explained += FEE * SIZE * ((half_in - gap_in) - (half_out + gap_out))
        assert abs(D(str(trade.PnL)) - trip.pnl - explained) <= PNL_TOLERANCE
        spread_cost += SIZE * (half_in + half_out)
    ours_total, theirs_total = sum(t.pnl for t in result.trades), D(str(stats._trades.PnL.sum()))
    assert spread_cost == D("24.40")  # 34 fills of 20 SOL, half of 4 bps rounded up to the tick (0.03 or 0.04)
    assert ours_total == D("307.91080000") and abs(theirs_total - D("332.5106")) <= 17 * PNL_TOLERANCE
