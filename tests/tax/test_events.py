"""What fills, deposits and withdrawals mean for tax: the rules of ``spotlab.tax.events``, case by case."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from spotlab.errors import SpotlabError
from spotlab.risk.records import FillRecord, TransferRecord
from spotlab.tax.events import ACQUIRE, DISPOSE, REMOVE, tax_events

T0 = 1_612_483_200 * 1_000_000_000  # 2021-02-05 00:00 UTC
USD_PRICE = {"BTC": D("40000"), "ETH": D("1600"), "USDT": D("0.999")}


def table(asset: str, amount: D, time_ns: int) -> D:
    """A valuation table: one USD price per asset (the exchange's prices, in the real thing)."""
    return amount * USD_PRICE[asset]


def fill(market, side, price, quantity, fee="0", trade_id=1, order_id=7, ts=T0):
    return FillRecord(order_id, market, side, D(price), D(quantity), D(fee), ts, trade_id)


def shape(events):
    return [(e.action, e.asset, e.quantity, e.amount, e.fees, e.reason, e.id) for e in events]


def test_buy_for_usd_acquires_the_base_at_notional_plus_fee():
    events = tax_events([fill("BTC/USD", "buy", "40000", "0.5", fee="20")], [], table)
    assert shape(events) == [(ACQUIRE, "BTC", D("0.5"), D("20020.00"), D("20.00"), "buy", "fill:BTC/USD:1:buy")]


def test_sell_for_usd_disposes_of_the_base_and_the_fee_reduces_proceeds():
    (event,) = tax_events([fill("BTC/USD", "sell", "41000", "0.5", fee="20.5")], [], table)
    assert (event.action, event.amount, event.fees, event.amount - event.fees) == (
        DISPOSE, D("20500.00"), D("20.50"), D("20479.50"),
    )  # fmt: skip


def test_crypto_to_crypto_buy_disposes_of_the_quote_and_the_fee_in_it_is_a_disposal_too():
    events = tax_events([fill("ETH/BTC", "buy", "0.04", "10", fee="0.0004", trade_id=9)], [], table)
    assert shape(events) == [
        (ACQUIRE, "ETH", D("10"), D("16016.00"), D("16.00"), "buy", "fill:ETH/BTC:9:buy"),
        (DISPOSE, "BTC", D("0.40"), D("16000.00"), D("0"), "trade", "fill:ETH/BTC:9:buy"),
        (DISPOSE, "BTC", D("0.0004"), D("16.00"), D("0"), "fee", "fill:ETH/BTC:9:buy:fee"),
    ]


def test_crypto_to_crypto_sell_acquires_the_quote_net_of_the_fee():
    events = tax_events([fill("ETH/BTC", "sell", "0.04", "10", fee="0.0004", trade_id=9)], [], table)
    assert shape(events) == [
        (DISPOSE, "ETH", D("10"), D("16000.00"), D("16.00"), "sell", "fill:ETH/BTC:9:sell"),
        (ACQUIRE, "BTC", D("0.3996"), D("15984.00"), D("0"), "trade", "fill:ETH/BTC:9:sell"),
    ]


def test_a_stablecoin_is_crypto_not_fiat():
    events = tax_events([fill("BTC/USDT", "buy", "40000", "1")], [], table)
    assert [(e.action, e.asset, e.amount) for e in events] == [
        (ACQUIRE, "BTC", D("39960.00")),
        (DISPOSE, "USDT", D("39960.00")),
    ]


def test_fiat_other_than_the_reporting_currency_can_be_declared():
    events = tax_events([fill("BTC/EUR", "buy", "100", "1")], [], lambda a, x, t: x * 2, fiat=frozenset({"EUR"}))
    assert [(e.action, e.asset, e.amount) for e in events] == [(ACQUIRE, "BTC", D("200.00"))]


def test_deposit_is_an_acquisition_at_market_value_and_withdrawal_a_removal_plus_a_fee_disposal():
    transfers = [
        TransferRecord("deposit", "BTC", D("2"), D("0"), T0, 3),
        TransferRecord("deposit", "USD", D("1000"), D("0"), T0, 4),  # fiat: nothing
        TransferRecord("withdrawal", "BTC", D("1"), D("0.001"), T0 + 10, 5),
    ]
    assert shape(tax_events([], transfers, table)) == [
        (ACQUIRE, "BTC", D("2"), D("80000.00"), D("0"), "deposit", "deposit:3"),
        (REMOVE, "BTC", D("0.999"), D("0"), D("0"), "withdrawal", "withdrawal:5"),
        (DISPOSE, "BTC", D("0.001"), D("40.00"), D("0"), "withdrawal-fee", "withdrawal:5:fee"),
    ]


def test_in_one_nanosecond_deposits_come_before_fills_and_withdrawals_after():
    events = tax_events(
        [fill("BTC/USD", "sell", "40000", "1")],
        [TransferRecord("withdrawal", "BTC", D("1"), D("0"), T0, 9), TransferRecord("deposit", "BTC", D(2), 0, T0, 8)],
        table,
    )
    assert [e.id for e in events] == ["deposit:8", "fill:BTC/USD:1:sell", "withdrawal:9"]


def test_values_are_rounded_half_even_to_the_currency_unit_once():
    (event,) = tax_events([fill("BTC/USD", "buy", "0.125", "0.1")], [], table)  # 0.0125 -> 0.01
    assert event.amount == D("0.01")


@pytest.mark.parametrize(
    "bad",
    [
        ([fill("BTCUSD", "buy", "1", "1")], []),
        ([fill("BTC/USD", "hold", "1", "1")], []),
        ([], [TransferRecord("airdrop", "BTC", D("1"), D("0"), T0, 1)]),
    ],
)
def test_malformed_records_are_refused_clearly(bad):
    with pytest.raises(SpotlabError) as caught:
        tax_events(*bad, table)
    assert caught.value.code == "INVALID_ARGUMENT"
