"""The fast path (points skipped while the strategy has nothing a print could fill or trigger) records what the
full path (``print_every_point=True``: every point printed on the engine) records, on real candles, with market,
limit, stop, trailing-stop and OCO orders, order latency and timers.

The two paths run different numbers of exchange commands, so ids differ: records are compared with every order,
order list and trade id replaced by its rank (ids grow in the same order on both paths).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from spotlab.backtest import FillModel, bars_from_file, run_backtest
from spotlab.strategy import Strategy
from spotlab.strategy.builtin import DCA, Breakout, Swing
from tests.shared_data import DATA

D = Decimal


@pytest.fixture(scope="module")
def sol():
    return bars_from_file(DATA / "backtesting.py" / "SOLUSDT_1h.csv", "SOL/USDT", "1h")[:400]


@pytest.fixture(scope="module")
def btc():
    return bars_from_file(DATA / "quantedge-ta" / "btcusdt-1h.csv", "BTC/USDT", "1h")[:400]


class EveryOrderType(Strategy):
    """Limit entries canceled when stale, stop entries, OCO exits on fills, trailing stops."""

    def on_bar(self, bar):
        market, count = bar.market, len(self.data[bar.market])
        if count % 40 == 5:
            self.buy(market, D("0.5"), price=self.round_price(market, bar.close * D("0.99")))
        if count % 40 == 25:
            for order in self.open_orders(market):
                self.cancel(order.id)
        if count % 60 == 30 and self.position(market) == 0:
            stop = self.round_price(market, bar.close * D("1.01"))
            self.place_order(market, "buy", "stop_loss", quote_quantity=D(300), stop_price=stop)
        if count % 50 == 45 and self.position(market) > 0:
            for order in self.conditional_orders(market):
                self.cancel(order.id)
            quantity = self.round_quantity(market, self.position(market))
            self.place_order(market, "sell", "trailing_stop", quantity=quantity, trailing_percent=D(2))

    def on_fill(self, fill):
        market = fill.market
        quantity = self.round_quantity(market, fill.quantity / 2)
        if fill.side == "buy" and quantity > 0 and self.balance(market.split("/")[0]).available >= quantity:
            take_profit = self.round_price(market, fill.price * D("1.03"))
            self.place_oco(market, quantity, take_profit, self.round_price(market, fill.price * D("0.97")))


def ranked(records: tuple) -> tuple:
    """``records`` with order, order list and trade ids replaced by their rank."""
    equity, fills, trades, orders, fees = records
    order_ids = {f.order_id for f in fills} | {o.id for o in orders} | {o.parent_id for o in orders} - {None}
    list_ids = {o.list_id for o in orders} - {None}
    trade_ids = {f.trade_id for f in fills} | {x.trade_id for o in orders for x in o.fills}
    rank = {name: {v: i for i, v in enumerate(sorted(ids))} for name, ids in
            (("order", order_ids), ("list", list_ids), ("trade", trade_ids))}  # fmt: skip
    fills = tuple(
        dataclasses.replace(f, order_id=rank["order"][f.order_id], trade_id=rank["trade"][f.trade_id]) for f in fills
    )
    orders = tuple(
        dataclasses.replace(
            o,
            id=rank["order"][o.id],
            parent_id=rank["order"].get(o.parent_id),
            list_id=rank["list"].get(o.list_id),
            fills=tuple(dataclasses.replace(x, trade_id=rank["trade"][x.trade_id]) for x in o.fills),
        )
        for o in orders
    )
    return equity, fills, trades, orders, fees


CASES = {
    "swing with OCO exits": (lambda: Swing(fast=12, slow=48, stop_percent=D(3), take_profit_percent=D(6)), "sol", {}),
    "breakout with retest limits": (
        lambda: Breakout(exit="take_profit", retest=True, volume_factor=1.2, period=10),
        "btc",
        {},
    ),
    "every order type": (EveryOrderType, "sol", {}),
    "every order type, latency": (EveryOrderType, "btc", {"fill_model": FillModel(latency_bars=1)}),
    "DCA on a timer": (lambda: DCA(amount=D(50), interval="7h"), "btc", {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_fast_path_records_what_printing_every_point_records(case, request):
    build, data, options = CASES[case]
    bars = request.getfixturevalue(data)
    market = bars[0].market
    balances = {"USDT": D(100000), market.split("/")[0]: D(1)} if "latency" in case else {"USDT": D(10000)}
    runs = [
        run_backtest(build(), {market: bars}, balances, progress=False, print_every_point=full, **options)
        for full in (False, True)
    ]
    fast, full = runs
    fast.exchange.check_invariants()
    assert len(full.fills) > 0 and len(full.orders) > 1  # the case trades
    assert ranked(fast.records()) == ranked(full.records())
    assert len(fast.refusals) == len(full.refusals)
    assert fast.commands < full.commands  # the fast path did skip prints
    for run in runs:  # either way, the exchange ends with the last point printed: the last close
        assert run.exchange.trades(market, limit=1)[0].price == bars[-1].close
