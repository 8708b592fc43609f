"""Replay: a market's reference follows historical bars and its book follows the reference."""

from __future__ import annotations

import pytest

from spotlab.backtest import bars_from_file
from spotlab.sim.simulator import MAKERS_AND_NOISE, SimConfig, market_quality
from tests.shared_data import DATA
from tests.sim.support import simulated

BTC_FILE = DATA / "quantedge-ta" / "btcusdt-1h.csv"
QUARTER = 900.0  # seconds: a step is a quarter of an hourly bar


@pytest.fixture(scope="module")
def bars():
    return bars_from_file(BTC_FILE, "BTC/USDT", "1h")[:24]


def test_the_reference_passes_through_each_bar_open_and_close_and_the_book_follows(bars):
    config = SimConfig(seed=3, markets=("BTC/USDT", "ETH/USDT", "ETH/BTC"), mix=MAKERS_AND_NOISE, dt=QUARTER,
                       replay={"BTC/USDT": bars})  # fmt: skip
    sim, exchange = simulated(config)
    assert exchange.now_ns() == bars[0].open_time_ns  # the clock jumps to the first bar
    for bar in bars:
        assert exchange.now_ns() == bar.open_time_ns
        assert sim.prices.price("BTC/USDT") == pytest.approx(float(bar.open), rel=1e-9)
        for _ in range(3):
            sim.step()
        assert sim.prices.price("BTC/USDT") == pytest.approx(float(bar.close), rel=1e-9)
        book = exchange.order_book("BTC/USDT", 1)
        mid = float(book.best_bid + book.best_ask) / 2
        assert abs(mid / float(bar.close) - 1) < 0.007  # within the makers' widest half-spread plus skew
        assert market_quality(exchange, "ETH/BTC").spread_bps is not None
        sim.step()
    exchange.check_invariants()
