"""A second venue's prices follow the first's, apart by a mean-reverting gap: room for arbitrage, never a drift."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from spotlab.errors import SpotlabError
from spotlab.sim import Basis, LinkedPrices
from spotlab.sim.simulator import MAKERS_ONLY, SimConfig
from tests.sim.support import simulated

MARKETS = ("BTC/USDT", "ETH/USDT", "ETH/BTC")


def lockstep(steps: int, basis: Basis = Basis(), seed: int = 3):
    first, ex_a = simulated(SimConfig(markets=MARKETS, mix=MAKERS_ONLY, seed=seed))
    second, ex_b = simulated(SimConfig(markets=MARKETS, mix=MAKERS_ONLY, seed=seed + 1, follow=first.prices,
                                       basis=basis))  # fmt: skip
    for _ in range(steps):
        first.step()
        second.step()
    return first, second, ex_a, ex_b


def test_the_second_venue_prices_each_asset_at_the_first_venues_level_times_its_own_gap():
    first, second, _, _ = lockstep(30)
    linked = second.prices
    assert isinstance(linked, LinkedPrices) and linked.leader is first.prices
    for asset in ("BTC", "ETH"):
        assert linked.usd(asset) == pytest.approx(first.prices.usd(asset) * math.exp(linked.gap(asset)), rel=1e-12)
        assert linked.gap(asset) != 0.0
    assert linked.gap("USDT") == 0.0 and linked.usd("USDT") == first.prices.usd("USDT")  # a peg has no gap
    # within a venue the cross rate stays consistent; between venues it differs by the gaps
    assert linked.price("ETH/BTC") == pytest.approx(linked.price("ETH/USDT") / linked.price("BTC/USDT"), rel=1e-12)
    between = math.log(linked.price("ETH/BTC") / first.prices.price("ETH/BTC"))
    assert between == pytest.approx(linked.gap("ETH") - linked.gap("BTC"), abs=1e-12)


def test_the_gap_has_the_configured_spread_and_half_life():
    """An Ornstein-Uhlenbeck gap: stationary stdev ``stdev``, autocorrelation 1/2 after ``half_life`` (statistical,
    fixed seed, a year of 60 s steps of the price model alone)."""
    from spotlab.sim.prices import DEFAULT_ASSETS, DEFAULT_START_USD, ReferencePrices

    models = {code: DEFAULT_ASSETS[code] for code in ("BTC", "ETH", "USDT")}
    leader = ReferencePrices(models, {c: DEFAULT_START_USD[c] for c in models}, np.random.default_rng(1))
    linked = LinkedPrices(leader, Basis(stdev=0.004, half_life=600), np.random.default_rng(2))
    gaps = []
    for _ in range(40_000):
        linked.step(60.0)
        gaps.append(linked.gap("BTC"))
    series = np.array(gaps)
    assert series.std() == pytest.approx(0.004, rel=0.1)
    lag = 10  # 600 s at 60 s a step
    correlation = np.corrcoef(series[:-lag], series[lag:])[0, 1]
    assert correlation == pytest.approx(0.5, abs=0.05)


def test_the_two_venues_books_trade_apart_and_deterministically():
    first, second, ex_a, ex_b = lockstep(120)
    mids = []
    for ex in (ex_a, ex_b):
        book = ex.order_book("BTC/USDT", 1)
        mids.append((book.bids[0][0] + book.asks[0][0]) / 2)
    apart = abs(mids[1] / mids[0] - 1)
    assert Decimal("0") < apart < Decimal("0.03")  # apart, by about the gap (0.4 % stdev), never by a drift
    _, _, again_a, again_b = lockstep(120)
    assert ex_a.state_hash() == again_a.state_hash() and ex_b.state_hash() == again_b.state_hash()
    ex_a.check_invariants()
    ex_b.check_invariants()


def test_a_basis_is_checked():
    with pytest.raises(SpotlabError):
        Basis(stdev=-0.1)
    with pytest.raises(SpotlabError):
        Basis(half_life=0)
