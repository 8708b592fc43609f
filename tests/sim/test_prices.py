"""Reference prices: one USD level per asset; crosses consistent; calibrated volatility; stablecoins pinned; replay."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from spotlab.backtest import bars_from_file
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.sim.prices import (
    DEFAULT_ASSETS,
    DEFAULT_START_USD,
    SECONDS_PER_YEAR,
    AssetModel,
    ReferencePrices,
    ReplayPath,
    levels_from_trades,
)
from spotlab.strategy.data import Bar
from tests.shared_data import DATA

BTC_FILE = DATA / "quantedge-ta" / "btcusdt-1h.csv"
HOUR = 3_600


def prices(seed: int = 1, models=DEFAULT_ASSETS, **kwargs) -> ReferencePrices:
    start = {code: DEFAULT_START_USD[code] for code in models}
    return ReferencePrices(models, start, np.random.default_rng(seed), **kwargs)


def path(ref: ReferencePrices, assets: list[str], steps: int, dt: float) -> np.ndarray:
    rows = []
    for _ in range(steps):
        ref.step(dt)
        rows.append([ref.usd(a) for a in assets])
    return np.array(rows)


def annualised(levels: np.ndarray, dt: float) -> np.ndarray:
    returns = np.diff(np.log(levels), axis=0)
    return returns.std(axis=0) * math.sqrt(SECONDS_PER_YEAR / dt)


def test_a_cross_rate_is_the_ratio_of_its_legs_at_every_step():
    ref = prices()
    for _ in range(500):
        ref.step(60)
        assert ref.price("ETH/BTC") == pytest.approx(ref.price("ETH/USDT") / ref.price("BTC/USDT"), rel=1e-12)
        assert ref.price("ADA/BTC") == pytest.approx(ref.price("ADA/USDT") / ref.price("BTC/USDT"), rel=1e-12)
        assert ref.price("BTC/USD") == ref.usd("BTC")


def test_the_same_seed_gives_the_same_path_and_another_seed_another():
    a, b, c = prices(7), prices(7), prices(8)
    assets = ["BTC", "ETH", "USDT"]
    first, second, third = path(a, assets, 200, 1.0), path(b, assets, 200, 1.0), path(c, assets, 200, 1.0)
    assert np.array_equal(first, second)
    assert not np.allclose(first, third)


def test_realised_volatility_over_a_year_of_hours_is_the_configured_one():
    ref = prices(3)
    assets = ["BTC", "ETH", "SOL", "ADA", "DOT"]
    realised = annualised(path(ref, assets, 365 * 24, HOUR), HOUR)
    for asset, value in zip(assets, realised, strict=True):
        expected = DEFAULT_ASSETS[asset].total_volatility
        assert value == pytest.approx(expected, rel=0.12), asset


def test_altcoins_are_more_volatile_than_ether_and_ether_than_bitcoin():
    vol = {code: DEFAULT_ASSETS[code].total_volatility for code in ("BTC", "ETH", "SOL", "ADA", "DOT")}
    assert vol["BTC"] < vol["ETH"] < min(vol["SOL"], vol["ADA"], vol["DOT"])


def test_without_jumps_the_diffusion_matches_sigma_closely_and_assets_correlate_as_configured():
    models = {"BTC": AssetModel(volatility=0.5), "ETH": AssetModel(volatility=0.8)}
    ref = prices(5, models, correlation=0.7)
    levels = path(ref, ["BTC", "ETH"], 20_000, 600)
    vol = annualised(levels, 600)
    assert vol[0] == pytest.approx(0.5, rel=0.03)
    assert vol[1] == pytest.approx(0.8, rel=0.03)
    returns = np.diff(np.log(levels), axis=0)
    assert np.corrcoef(returns.T)[0, 1] == pytest.approx(0.7, abs=0.03)


def test_jumps_arrive_at_their_rate():
    models = {"X": AssetModel(volatility=0.0, jumps_per_year=365, jump_stdev=0.01)}
    ref = ReferencePrices(models, {"X": 1.0}, np.random.default_rng(9))
    levels = path(ref, ["X"], 2 * 365 * 24, HOUR)  # two years: 730 jumps expected
    jumps = np.count_nonzero(np.diff(np.log(levels[:, 0])))
    assert 650 < jumps < 810


def test_stablecoins_stay_pinned_near_one_dollar():
    ref = prices(11)
    levels = path(ref, ["USDT", "USDC"], 5_000, 60)
    assert np.all(np.abs(levels - 1.0) < 0.003)  # six long-run standard deviations (5 bps each)
    assert levels.std() > 0  # but not frozen
    assert ref.usd("USD") == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"models": {"BTC": AssetModel(volatility=0.5)}, "start": {}}, "no starting USD level"),
        ({"models": {"BTC": AssetModel(volatility=0.5)}, "start": {"BTC": 0.0}}, "must be > 0"),
        ({"models": {"BTC": AssetModel()}, "start": {"BTC": 1.0}, "correlation": 1.5}, "correlation"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_error(kwargs, message):
    with pytest.raises(SpotlabError, match=message) as raised:
        ReferencePrices(kwargs["models"], kwargs["start"], np.random.default_rng(0), kwargs.get("correlation", 0.7))
    assert raised.value.code == ErrorCode.INVALID_ARGUMENT


def test_a_negative_volatility_and_a_non_positive_step_are_refused():
    with pytest.raises(SpotlabError, match="volatility"):
        AssetModel(volatility=-0.1)
    with pytest.raises(SpotlabError, match="dt"):
        prices().step(0)


# -- replay ----------------------------------------------------------------------------


def bar(open_ns: int, o: str, h: str, low: str, c: str) -> Bar:
    return Bar(
        "BTC/USDT", open_ns, open_ns + HOUR * 10**9, Decimal(o), Decimal(h), Decimal(low), Decimal(c), Decimal(1)
    )


def test_a_replay_path_visits_open_extremes_and_close_in_order():
    rising = bar(0, "100", "110", "95", "105")  # rising: low first
    falling = bar(HOUR * 10**9, "105", "108", "90", "92")  # falling: high first
    replay = ReplayPath([rising, falling])
    quarter = HOUR * 10**9 // 4
    assert [replay.at(i * quarter) for i in range(8)] == [100, 95, 110, 105, 105, 108, 90, 92]
    assert replay.at(quarter // 2) == pytest.approx(97.5)  # linear between knots
    assert replay.at(-1) == 100 and replay.at(10**15) == 92


def test_replayed_bars_pin_their_market_and_crosses_follow():
    bars = bars_from_file(BTC_FILE, "BTC/USDT", "1h")[:48]
    ref = prices(2, replay={"BTC/USDT": bars})
    for b in bars:
        assert ref.price("BTC/USDT") == pytest.approx(float(b.open), rel=1e-9)
        for _ in range(3):
            ref.step(HOUR / 4)
        assert ref.price("BTC/USDT") == pytest.approx(float(b.close), rel=1e-9)
        assert ref.price("ETH/BTC") == pytest.approx(ref.price("ETH/USDT") / ref.price("BTC/USDT"), rel=1e-12)
        ref.step(HOUR / 4)


def test_a_replay_of_a_market_without_models_is_refused():
    bars = [bar(0, "1", "1", "1", "1")]
    with pytest.raises(SpotlabError, match="need models"):
        prices(models={"ETH": DEFAULT_ASSETS["ETH"]}, replay={"BTC/USDT": bars})


# -- resuming from last trades -------------------------------------------------------------


def test_levels_from_trades_follow_stable_quoted_markets_then_crosses():
    last = {"BTC/USDT": 100_000.0, "BTC/USD": 90_000.0, "ETH/USDT": 4_000.0, "ADA/BTC": 0.00001, "ETH/BTC": 0.05}
    levels = levels_from_trades(last, DEFAULT_START_USD, DEFAULT_ASSETS)
    assert levels["BTC"] == pytest.approx(math.sqrt(100_000 * 90_000))  # two direct quotes meet halfway
    assert levels["ETH"] == pytest.approx(4_000.0)  # the direct quote wins over the cross (4,000 vs 0.05 x BTC)
    assert levels["ADA"] == pytest.approx(0.00001 * levels["BTC"])  # known only through a cross
    assert levels["USDT"] == 1.0 and levels["USD"] == 1.0
    assert levels["SOL"] == DEFAULT_START_USD["SOL"]  # never traded: keeps its default


def test_a_replay_from_trades_is_linear_between_them_and_keeps_the_last_of_a_moment():
    trades = [(0, Decimal("100")), (10, Decimal("110")), (10, Decimal("120")), (20, Decimal("100"))]
    replay = ReplayPath.from_trades(trades)
    assert [replay.at(t) for t in (0, 5, 10, 15, 20, 30)] == [100, 110, 120, 110, 100, 100]
    with pytest.raises(SpotlabError, match="times not go back"):
        ReplayPath.from_trades([(10, Decimal(1)), (5, Decimal(1))])
    ref = prices(replay={"ETH/USDT": replay})
    ref.step(15e-9)
    assert ref.price("ETH/USDT") == pytest.approx(110 * 1.0, rel=1e-3)  # USDT sits within bps of 1
