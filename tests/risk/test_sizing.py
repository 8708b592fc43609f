"""The position-size calculator against hand-computed cases: fees on both legs, lots, minimums, equity cap."""

from __future__ import annotations

from decimal import Decimal

import pytest

from spotlab.catalogue import load_catalogue
from spotlab.core.markets import Asset, MarketSpec
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.risk.sizing import position_size

CATALOGUE = load_catalogue(None)
BTC_USDT = CATALOGUE.markets["BTC/USDT"]
ADA_BTC = CATALOGUE.markets["ADA/BTC"]
USD = Asset("USD", 6)
XYZ = Asset("XYZ", 4)


def spec(lot: str = "0.1", fee: str = "0", min_notional: str = "1") -> MarketSpec:
    return MarketSpec("XYZ/USD", XYZ, USD, Decimal("0.1"), Decimal(lot), Decimal(lot), Decimal(min_notional),
                      Decimal(fee), Decimal(fee))  # fmt: skip


def test_fees_on_both_legs_count_against_the_budget():
    # budget 1 % of 10,000 = 100; per BTC: move 1,000 + fee 0.1 % x 50,000 + fee 0.1 % x 49,000 = 1,099
    # 100 / 1,099 = 0.0909918... -> 0.09099 on the 0.00001 lot
    size = position_size(BTC_USDT, "10000", "50000", "49000")
    assert size.side == "buy" and size.limited_by == "risk"
    assert size.quantity == Decimal("0.09099")
    assert size.notional == Decimal("4549.5")
    assert size.risk_budget == Decimal("100")
    assert size.loss_at_stop == Decimal("99.99801")  # 0.09099 x 1,099
    assert size.fees == Decimal("9.00801")  # 0.09099 x 99


def test_without_fees_a_loss_exactly_at_the_budget_is_allowed():
    # 2 % of 1,000 = 20; 5 per unit -> exactly 4 units, lot 0.1
    size = position_size(spec(), "1000", "100", "95", risk_percent="2")
    assert size.quantity == Decimal("4") and size.loss_at_stop == Decimal("20") and size.fees == 0


def test_the_quantity_is_rounded_down_to_the_lot():
    # 4 units would fit; on a 0.3 lot that is 13 lots = 3.9
    assert position_size(spec(lot="0.3"), "1000", "100", "95", risk_percent="2").quantity == Decimal("3.9")


def test_a_tight_stop_is_capped_by_what_the_equity_can_pay_for():
    # risk allows 100 / (0.1 + fees) units, far more than 1,000 / (100 x 1.001) = 9.99000999 -> 9.990 on a 0.001 lot
    size = position_size(spec(lot="0.001", fee="0.001"), "1000", "100", "99.9", risk_percent="10")
    assert size.limited_by == "equity"
    assert size.quantity == Decimal("9.99")
    assert size.notional == Decimal("999")


def test_a_stop_above_entry_sizes_a_sell():
    size = position_size(spec(), "1000", "100", "105", risk_percent="2")
    assert size.side == "sell" and size.quantity == Decimal("4")


def test_below_the_minimum_notional_is_refused_with_the_figures():
    # budget 0.1 USDT: 0.1 / 1,099 -> 0.00009 BTC, worth 4.5 USDT < 5
    with pytest.raises(SpotlabError) as refused:
        position_size(BTC_USDT, "10", "50000", "49000")
    assert refused.value.code == ErrorCode.BELOW_MIN_NOTIONAL
    assert refused.value.details["quantity"] == "0.00009"
    assert refused.value.details["notional"] == "4.50000000" and refused.value.details["min_notional"] == "5"


def test_below_the_minimum_quantity_is_refused_with_the_figures():
    # budget 1 % of 0.0001 BTC = 0.000001 BTC; per ADA 0.000001 move + fees > budget -> 0 lots of 1 ADA
    with pytest.raises(SpotlabError) as refused:
        position_size(ADA_BTC, "0.0001", "0.00001", "0.000009")
    assert refused.value.code == ErrorCode.BELOW_MIN_QUANTITY
    assert refused.value.details["quantity"] == "0" and refused.value.details["min_quantity"] == "1"
    assert "minimum quantity 1" in refused.value.message


@pytest.mark.parametrize(
    ("entry", "stop", "code"),
    [
        ("50000", "50000", ErrorCode.INVALID_ARGUMENT),
        ("50000.001", "49000", ErrorCode.PRICE_NOT_ON_TICK),
        ("50000", "-1", ErrorCode.INVALID_ARGUMENT),
        (50000.0, "49000", ErrorCode.INVALID_NUMBER),
    ],
)
def test_bad_prices_are_refused(entry, stop, code):
    with pytest.raises(SpotlabError) as refused:
        position_size(BTC_USDT, "10000", entry, stop)
    assert refused.value.code == code


@pytest.mark.parametrize(("equity", "percent"), [("0", "1"), ("100", "0"), ("100", "101")])
def test_equity_and_percent_must_make_sense(equity, percent):
    with pytest.raises(SpotlabError) as refused:
        position_size(BTC_USDT, equity, "50000", "49000", risk_percent=percent)
    assert refused.value.code == ErrorCode.INVALID_ARGUMENT
