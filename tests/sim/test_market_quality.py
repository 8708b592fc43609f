"""Spreads and depth stay within the bounds ``spotlab.sim.simulator`` documents, under each agent mix.

The bounds, at the end of every step (makers quote last), on the 9 default markets, dt = 1 s:
- spread at least one tick (never locked, never crossed) and at most 2 x max_half_spread_bps + 2 ticks;
  makers alone: at least 2 x base_bps less 2 ticks of rounding;
- depth within 50 bps of the mid, each side, in USD: at least one maker level (level_usd); makers alone at
  most levels x level_usd (plus 1 % of rounding); with other agents at most 50,000 USD.
"""

from __future__ import annotations

import pytest

from spotlab.sim.simulator import (
    DEFAULT_MARKETS,
    FULL_MIX,
    MAKERS_AND_NOISE,
    MAKERS_ONLY,
    MakerParams,
    SimConfig,
    market_quality,
)
from tests.sim.support import assert_no_negative_balance, simulated

MAKER = MakerParams()
WITHIN_BPS = 50.0


@pytest.mark.parametrize("mix", [MAKERS_ONLY, MAKERS_AND_NOISE, FULL_MIX], ids=["makers", "makers+noise", "full"])
def test_spreads_and_depth_stay_within_bounds(mix):
    sim, exchange = simulated(SimConfig(seed=21, mix=mix))
    checked = 0
    for step in range(600):
        sim.step()
        if step % 10:
            continue
        for market in DEFAULT_MARKETS:
            quality = market_quality(exchange, market, WITHIN_BPS)
            usd = sim.prices.usd(market.split("/")[1])
            tick = quality.tick_bps
            assert quality.spread_bps is not None, market
            assert tick * 0.999 <= quality.spread_bps <= 2 * MAKER.max_half_spread_bps + 2 * tick, market
            if mix is MAKERS_ONLY:
                assert quality.spread_bps >= 2 * MAKER.base_bps - 2 * tick, market
            for depth in (quality.bid_depth * usd, quality.ask_depth * usd):
                assert depth >= MAKER.level_usd, market
                ceiling = MAKER.levels * MAKER.level_usd * 1.01 if mix is MAKERS_ONLY else 50_000
                assert depth <= ceiling, market
            checked += 1
    assert checked == 60 * len(DEFAULT_MARKETS)
    exchange.check_invariants()
    assert_no_negative_balance(exchange, [agent.account for agent in sim.agents])
    if mix is not MAKERS_ONLY:
        assert sim.venue.trades > 100
