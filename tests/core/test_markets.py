"""Markets and assets as data: the default catalogue, TOML additions, and validation at load."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from spotlab.catalogue import default_catalogue, load_catalogue
from spotlab.core.markets import FEE_SCALE, parse_catalogue
from spotlab.errors import ErrorCode, SpotlabError

GUIDE_PAIRS = ["BTC/USDT", "ETH/USDT", "ETH/USD", "BTC/USD", "ADA/BTC", "ETH/BTC", "DOT/USDC", "SOL/USDT", "ADA/USDT"]


def test_the_default_catalogue_lists_every_pair_of_the_spot_trading_guide():
    assert set(GUIDE_PAIRS) <= set(default_catalogue().markets)


@pytest.mark.parametrize("symbol", GUIDE_PAIRS)
def test_every_default_market_settles_exactly_in_integers(symbol):
    spec = default_catalogue().markets[symbol]
    assert spec.tick_size * spec.lot_size == spec.notional_unit * spec.quote.unit
    assert spec.lot_size == spec.lot_units * spec.base.unit
    assert spec.min_quantity == spec.min_lots * spec.lot_size
    assert 0 <= spec.maker_rate < FEE_SCALE and 0 <= spec.taker_rate < FEE_SCALE


def test_derived_integers_of_btc_usdt():
    spec = default_catalogue().markets["BTC/USDT"]
    # 0.01 USDT x 0.00001 BTC = 1e-7 USDT = 10 minor units of 1e-8
    assert (spec.notional_unit, spec.lot_units, spec.min_lots) == (10, 1000, 1)
    assert spec.min_notional_units == 5 * 10**8
    assert spec.taker_rate == FEE_SCALE // 1000


def _catalogue(**market_overrides):
    market = {
        "tick_size": "0.01",
        "lot_size": "0.001",
        "min_quantity": "0.001",
        "min_notional": "1",
        "maker_fee": "0.001",
        "taker_fee": "0.002",
    }
    market.update(market_overrides)
    market = {k: v for k, v in market.items() if v is not None}
    return {
        "assets": {"XYZ": {"precision": 6}, "USDT": {"precision": 8}},
        "markets": {"XYZ/USDT": market},
    }


def test_a_valid_extra_market_loads():
    cat = parse_catalogue(_catalogue())
    spec = cat.markets["XYZ/USDT"]
    assert spec.notional_unit == 1000 and spec.lot_units == 1000 and spec.max_rate == 200_000


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"tick_size": "0.0000001", "lot_size": "0.00001"}, "not a whole multiple"),
        ({"tick_size": "1", "lot_size": "0.0000001"}, "lot_size in minor units of XYZ"),
        ({"min_quantity": "0.0015"}, "min_quantity in lots"),
        ({"min_quantity": "0"}, "at least one lot"),
        ({"tick_size": "0"}, "tick_size must be positive"),
        ({"maker_fee": "1"}, "maker_fee must be a fraction"),
        ({"taker_fee": "-0.001"}, "taker_fee must be a fraction"),
        ({"taker_fee": "0.000000001"}, "at most 8 decimals"),
        ({"tick_size": 0.01}, "is a float; write it as a string"),
        ({"min_notional": None}, "missing min_notional"),
        ({"tick_sise": "0.01"}, "did you mean 'tick_size'"),
        ({"status": "open"}, "'trading' or 'halted'"),
    ],
)
def test_invalid_specs_are_refused_at_load_with_the_reason(overrides, fragment):
    with pytest.raises(SpotlabError) as refused:
        parse_catalogue(_catalogue(**overrides))
    assert refused.value.code == ErrorCode.INVALID_MARKET_SPEC
    assert fragment in refused.value.message


def test_a_market_on_an_unknown_asset_is_refused():
    data = {"markets": {"ABC/USDT": _catalogue()["markets"]["XYZ/USDT"]}}
    with pytest.raises(SpotlabError) as refused:
        parse_catalogue(data, known_assets=default_catalogue().assets)
    assert "unknown asset 'ABC'" in refused.value.message


def test_a_toml_file_adds_markets_to_the_default_catalogue(tmp_path):
    path = tmp_path / "extra.toml"
    path.write_text(
        '[assets.LINK]\nprecision = 8\nwithdrawal_fee = "0.5"\n\n'
        '[markets."LINK/USDT"]\ntick_size = "0.001"\nlot_size = "0.01"\nmin_quantity = "0.01"\n'
        'min_notional = "5"\nmaker_fee = "0.001"\ntaker_fee = "0.001"\n'
    )
    cat = load_catalogue(path)
    assert "LINK/USDT" in cat.markets and "BTC/USDT" in cat.markets
    assert cat.assets["LINK"].withdrawal_fee == D("0.5")


def test_a_broken_toml_file_is_refused_with_its_path(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[markets\n")
    with pytest.raises(SpotlabError) as refused:
        load_catalogue(path)
    assert str(path) in refused.value.message and refused.value.code == ErrorCode.INVALID_MARKET_SPEC


def test_a_missing_toml_file_is_refused(tmp_path):
    with pytest.raises(SpotlabError) as refused:
        load_catalogue(tmp_path / "nope.toml")
    assert "does not exist" in refused.value.message
