"""The tax core fed by a real exchange: ``account_history`` records and the exchange's own prices.

This is the wiring ``Exchange.tax_report`` is expected to do (the facade itself belongs to the exchange):
``tax_report(*ex.account_history(account), value, year=..., method=..., currency=...)`` with
``value = lambda asset, amount, ts: ex.price_history().value(asset, amount, ts, currency)``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

from spotlab import Exchange, SimulatedClock
from spotlab.tax import tax_report


def test_the_issues_scenario_through_the_exchange():
    clock = SimulatedClock(datetime(2021, 2, 5, 15, tzinfo=UTC))
    ex = Exchange.open(clock=clock)
    try:
        alice, bob = ex.create_account("alice"), ex.create_account("bob")
        ex.deposit(alice, "USD", D("100000"))
        ex.deposit(bob, "USD", D("100000"))
        ex.deposit(bob, "BTC", D("2"))
        ex.place_order(bob, "BTC/USD", side="sell", type="limit", price="30000", quantity="1")
        ex.place_order(alice, "BTC/USD", side="buy", type="market", quantity="1")
        for day, price, quantity in ((5, "35000", "0.5"), (6, "36000", "0.25")):
            clock.set(datetime(2022, 2, day, 15, tzinfo=UTC))
            ex.place_order(bob, "BTC/USD", side="buy", type="limit", price=price, quantity=quantity)
            ex.place_order(alice, "BTC/USD", side="sell", type="market", quantity=quantity)
        history = ex.price_history()
        report = tax_report(
            *ex.account_history(alice),
            lambda asset, amount, ts: history.value(asset, amount, ts, "USD"),
            year=2022,
            method="fifo",
            currency="USD",
        )
    finally:
        ex.close()
    assert [(line.quantity, line.date_acquired, line.date_sold, line.term) for line in report.lines] == [
        (D("0.5"), date(2021, 2, 5), date(2022, 2, 5), "short"),  # the issue: exactly a year is short-term
        (D("0.25"), date(2021, 2, 5), date(2022, 2, 6), "long"),
    ]
    for line in report.lines:
        assert line.gain == line.proceeds - line.cost_basis
        assert line.cost_basis > line.quantity * 30000  # the buy's taker fee is in the cost
    assert sum(lot.quantity for lot in report.open_lots) == D("0.25")
    assert "\n0.5 BTC,02/05/2021,02/05/2022," in report.form_8949_csv()  # the exchange says 0.50000: no zeros
