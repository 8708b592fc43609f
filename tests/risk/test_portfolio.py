"""Portfolio: average entry, realised and unrealised P&L, fees, and valuation walking through pairs."""

from __future__ import annotations

from decimal import Decimal

from spotlab.catalogue import load_catalogue
from spotlab.risk.portfolio import conversion_path, positions, value_portfolio
from spotlab.risk.records import FillRecord

CATALOGUE = load_catalogue(None)
SPECS = CATALOGUE.markets
D = Decimal

FILLS = [
    FillRecord(1, "BTC/USDT", "buy", D("50000"), D("0.1"), D("5"), 1),
    FillRecord(2, "BTC/USDT", "buy", D("60000"), D("0.1"), D("6"), 2),
    FillRecord(3, "BTC/USDT", "sell", D("70000"), D("0.05"), D("3.5"), 3),
]
LAST = {"BTC/USDT": D("70000"), "ADA/BTC": D("0.00001"), "ETH/USDT": None}


def test_average_entry_includes_fees_and_a_sell_realises_against_it():
    # cost 5,005 + 6,006 = 11,011 for 0.2 BTC: average 55,055; selling 0.05 removes 11,011 / 4 = 2,752.75
    # proceeds 3,500 - 3.5 = 3,496.5: realised 743.75; left 0.15 BTC costing 8,258.25
    (view,) = value_portfolio(CATALOGUE.assets["USDT"], {}, FILLS, LAST, SPECS).positions
    assert view.market == "BTC/USDT" and view.quantity == D("0.15")
    assert view.cost == D("8258.25") and view.average_entry_price == D("55055")
    assert view.realised_pnl == D("743.75")
    assert view.unrealised_pnl == D("2241.75")  # 0.15 x 70,000 - 8,258.25
    assert view.fees_paid == D("14.5")


def test_each_losing_or_winning_sell_is_one_closed_trade():
    book = positions([*FILLS, FillRecord(4, "BTC/USDT", "sell", D("40000"), D("0.05"), D("2"), 4)], SPECS)
    trades = book["BTC/USDT"].closed_trades
    assert [(order, realised) for order, _, realised in trades] == [(3, 743_75000000), (4, -754_75000000)]
    # order 4: proceeds 2,000 - 2 = 1,998, minus cost 8,258.25 / 3 = 2,752.75: -754.75 USDT


def test_selling_more_than_the_position_holds_realises_only_the_held_part():
    book = positions([FillRecord(1, "BTC/USDT", "buy", D("100"), D("1"), D("0"), 1),
                      FillRecord(2, "BTC/USDT", "sell", D("110"), D("3"), D("0"), 2)], SPECS)  # fmt: skip
    position = book["BTC/USDT"]
    assert position.quantity == 0 and position.untracked == 2 * 10**8 and position.realised == 10 * 10**8


def test_ada_is_valued_through_btc_when_ada_usdt_has_no_price():
    assert conversion_path("ADA", "USDT", {k: v for k, v in LAST.items() if v}, SPECS) == ("ADA/BTC", "BTC/USDT")
    balances = {"USDT": D("1000"), "BTC": D("0.15"), "ADA": D("1000"), "ETH": D("2")}
    portfolio = value_portfolio(CATALOGUE.assets["USDT"], balances, FILLS, LAST, SPECS)
    # 1,000 ADA x 0.00001 = 0.01 BTC x 70,000 = 700 USDT; 0.15 BTC = 10,500 USDT
    assert portfolio.equity == D("12200")
    rows = {a.asset: (a.value, a.exposure_percent, a.path) for a in portfolio.assets}
    assert rows == {
        "ADA": (D("700"), D("5.74"), ("ADA/BTC", "BTC/USDT")),
        "BTC": (D("10500"), D("86.07"), ("BTC/USDT",)),
        "USDT": (D("1000"), D("8.20"), ()),
    }
    assert portfolio.unvalued == ["ETH"]  # ETH/USDT has no last price, and no other path


def test_walking_a_pair_backwards_divides_and_rounds_once_to_the_currency():
    balances = {"USDT": D("1000"), "BTC": D("0.15"), "ADA": D("1000")}
    portfolio = value_portfolio(CATALOGUE.assets["BTC"], balances, [], LAST, SPECS)
    # 1,000 / 70,000 = 0.0142857142... -> 0.01428571 BTC; + 0.15 + 0.01
    assert {a.asset: a.value for a in portfolio.assets}["USDT"] == D("0.01428571")
    assert portfolio.equity == D("0.17428571")
