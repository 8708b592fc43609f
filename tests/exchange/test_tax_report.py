"""``Exchange.tax_report``: the facade the issue names, on a simulated clock, with a crypto-to-crypto trade."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from spotlab import Exchange, SimulatedClock
from spotlab.errors import ErrorCode, SpotlabError


def test_tax_report_lines_are_decimals_and_dates_valued_at_the_exchanges_own_prices():
    clock = SimulatedClock(datetime(2021, 2, 5, tzinfo=UTC))
    ex = Exchange.open(clock=clock)
    try:
        for name in ("alice", "bob"):
            ex.create_account(name)
        ex.deposit("alice", "USD", "100000")
        ex.deposit("bob", "USD", "500000")
        ex.deposit("bob", "BTC", "5")
        ex.deposit("bob", "ETH", "50")
        ex.place_order("bob", "BTC/USD", "sell", "limit", "40000", "1")
        ex.place_order("alice", "BTC/USD", "buy", "market", quantity="1")  # 1 BTC for 40,000 + 0.2 % fee
        clock.set(datetime(2022, 3, 1, tzinfo=UTC))
        ex.place_order("bob", "BTC/USD", "sell", "limit", "50000", "0.01")  # BTC is worth 50,000 now
        ex.place_order("alice", "BTC/USD", "buy", "market", quantity="0.01")
        ex.place_order("bob", "ETH/BTC", "sell", "limit", "0.06", "5")
        ex.place_order("alice", "ETH/BTC", "buy", "market", quantity="5")  # ETH bought with BTC: a BTC disposal
        report = ex.tax_report("alice", year=2022, method="fifo", currency="USD")
        fee = ex.market_spec("ETH/BTC").taker_fee
    finally:
        ex.close()
    trade, fee_line = list(report)  # the BTC paid for the ETH, and the BTC paid as the fee: both disposals
    assert (trade.asset, trade.date_acquired, trade.date_sold, trade.term) == ("BTC", date(2021, 2, 5),
                                                                               date(2022, 3, 1), "long")  # fmt: skip
    assert trade.quantity == D("0.3") and fee_line.quantity == D("0.3") * fee  # 5 ETH x 0.06 BTC, the fee on top
    unit_cost = D("40000") * (1 + ex_fee("BTC/USD"))  # the buy's fee is in the lot's cost
    for line in (trade, fee_line):
        assert line.proceeds == (line.quantity * 50000).quantize(D("0.01"))  # BTC/USD's last trade then
        assert line.cost_basis == (line.quantity * unit_cost).quantize(D("0.01"))
        assert line.gain == line.proceeds - line.cost_basis and line.term == "long"
        assert all(isinstance(v, D) for v in (line.quantity, line.proceeds, line.cost_basis, line.gain))
    assert len(report) == 2 and report[0] is trade


def ex_fee(market: str) -> D:
    from spotlab.catalogue import load_catalogue

    return load_catalogue().markets[market].taker_fee


def test_a_report_needs_a_known_currency_and_method():
    ex = Exchange.open()
    ex.create_account("alice")
    with pytest.raises(SpotlabError) as caught:
        ex.tax_report("alice", year=2022, currency="XYZ")
    assert caught.value.code is ErrorCode.UNKNOWN_ASSET
    with pytest.raises(SpotlabError, match="unknown tax method"):
        ex.tax_report("alice", year=2022, method="average")
    assert list(ex.tax_report("alice", year=2022)) == []
