"""The fill model's pure parts: the intrabar path and the ladder a bar implies; its settings checked."""

from __future__ import annotations

from decimal import Decimal

import pytest

from spotlab.backtest.fill_model import FillModel, intrabar_path, ladder, minimum_lots
from spotlab.errors import SpotlabError
from tests.backtest.support import spec

D = Decimal


@pytest.mark.parametrize(
    ("path", "bar", "expected"),
    [
        ("open-high-low-close", (100, 110, 90, 105), (100, 110, 90, 105)),
        ("open-low-high-close", (100, 110, 90, 105), (100, 90, 110, 105)),
        ("nearest-first", (100, 103, 90, 95), (100, 103, 90, 95)),  # the high is nearer the open
        ("nearest-first", (100, 110, 97, 95), (100, 97, 110, 95)),  # the low is nearer
        ("nearest-first", (100, 105, 95, 95), (100, 105, 95, 95)),  # a tie: the high first
    ],
)
def test_the_intrabar_path(path, bar, expected):
    assert intrabar_path(*bar, path) == expected


def test_the_ladder_around_a_price_in_ticks():
    model = FillModel(spread_bps=D(20), level_step_bps=D(5), levels=3, depth_quantity=D("0.5"))
    bids, asks = ladder(spec(), model, 10_000, D(0))  # 100.00
    assert bids == [(9_990, 500), (9_985, 500), (9_980, 500)]  # half spread 10 ticks, step 5 ticks, 500 lots
    assert asks == [(10_010, 500), (10_015, 500), (10_020, 500)]


def test_depth_follows_the_bars_volume_and_never_goes_below_the_markets_minimums():
    model = FillModel(depth_fraction=D("0.1"), levels=1)
    bids, asks = ladder(spec(), model, 10_000, D(250))
    assert bids == [(9_998, 25_000)] and asks == [(10_002, 25_000)]  # 25 TST; half spread 2 bps -> 2 ticks
    thin_bids, _ = ladder(spec(), model, 10_000, D(0))
    assert thin_bids == [(9_998, minimum_lots(spec(), 9_998))]
    assert minimum_lots(spec(), 10_000) == 10  # min notional 1 USDT at 100.00: 0.010 TST


def test_the_spread_is_at_least_one_tick_each_side():
    bids, asks = ladder(spec(), FillModel(spread_bps=D(0), levels=1, depth_quantity=D(1)), 500, D(0))
    assert bids[0][0] == 499 and asks[0][0] == 501


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"spread_bps": 2.5}, "spread_bps must be a Decimal"),
        ({"depth_fraction": D(-1)}, ">= 0"),
        ({"depth_quantity": D(0)}, "depth_quantity must be positive"),
        ({"levels": 0}, "levels must be an integer from 1 to 50"),
        ({"path": "open-close"}, "path must be one of"),
        ({"latency_bars": 2}, "latency_bars must be 0 or 1"),
    ],
)
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(SpotlabError, match=message):
        FillModel(**settings)
