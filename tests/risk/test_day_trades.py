"""Day trades over the rolling 5 business days, and the legacy pattern-day-trader test as information."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from spotlab.catalogue import load_catalogue
from spotlab.risk.day_trades import day_trades, window_start_day
from spotlab.risk.records import NS_PER_DAY, FillRecord

SPECS = load_catalogue(None).markets
MONDAY = 19_723 * NS_PER_DAY  # 2024-01-01, a Monday
HOUR = NS_PER_DAY // 24


def at(day: int, hour: int = 12) -> int:
    return MONDAY + day * NS_PER_DAY + hour * HOUR


def trade(order_id: int, side: str, time_ns: int, market: str = "BTC/USDT") -> FillRecord:
    return FillRecord(order_id, market, side, Decimal("100"), Decimal("0.001"), Decimal("0"), time_ns)


def test_the_window_is_the_last_five_business_days_including_today():
    assert date.fromordinal(date(1970, 1, 1).toordinal() + window_start_day(at(4))) == date(2024, 1, 1)  # Fri
    assert window_start_day(at(6)) == window_start_day(at(4))  # Sunday: Mon-Fri of that week
    assert window_start_day(at(7)) == at(1) // NS_PER_DAY  # next Monday: Tue..Fri + Mon


def test_a_buy_and_a_sell_of_one_asset_on_one_utc_day_is_a_day_trade():
    fills = [
        trade(1, "buy", at(0, 9)), trade(1, "buy", at(0, 9)),  # one order, two fills
        trade(2, "sell", at(0, 15)),  # day trade 1 (Monday, BTC)
        trade(3, "buy", at(0, 16), "BTC/USD"), trade(4, "sell", at(0, 17), "BTC/USD"),  # day trade 2: same asset
        trade(5, "buy", at(1, 23)), trade(6, "sell", at(2, 1)),  # across midnight UTC: not a day trade
        trade(7, "buy", at(3), "ETH/USDT"), trade(8, "sell", at(3), "ETH/BTC"),  # ETH on Thursday: day trade 3
    ]  # fmt: skip
    report = day_trades(fills, SPECS, at(4))
    assert report.day_trades == 3 and report.total_trades == 8
    assert [(d.day.isoformat(), d.asset, d.day_trades) for d in report.days] == [
        ("2024-01-01", "BTC", 2),
        ("2024-01-04", "ETH", 1),
    ]
    assert report.day_trade_percent == Decimal("37.50")


def test_trades_before_the_window_do_not_count():
    fills = [trade(1, "buy", at(0)), trade(2, "sell", at(0)), trade(3, "buy", at(7)), trade(4, "sell", at(7))]
    report = day_trades(fills, SPECS, at(7, 20))  # window Tue 2024-01-02 .. Mon 2024-01-08
    assert report.window_start == date(2024, 1, 2) and report.window_end == date(2024, 1, 8)
    assert report.day_trades == 1 and report.total_trades == 2


def four_day_trades_among(total_orders: int) -> list[FillRecord]:
    fills = [trade(2 * i + s, side, at(i % 4)) for i in range(4) for s, side in enumerate(("buy", "sell"))]
    fills += [trade(100 + i, "buy", at(0, 1 + i % 20)) for i in range(total_orders - 8)]
    return fills


def test_the_legacy_pattern_day_trader_test_never_applies_to_a_spot_account():
    report = day_trades(four_day_trades_among(10), SPECS, at(4), equity_usd=Decimal("1000"))
    legacy = report.legacy_pattern_day_trader
    assert report.day_trades == 4 and legacy.day_trades_at_least_4 and legacy.over_6_percent_of_trades
    assert legacy.equity_under_25000_usd and not legacy.margin_account
    assert not legacy.applies and not legacy.would_be_flagged


def test_the_legacy_test_would_flag_a_margin_account_only_above_six_percent_and_under_25000():
    flagged = day_trades(four_day_trades_among(10), SPECS, at(4), Decimal("24999.99"), margin_account=True)
    assert flagged.legacy_pattern_day_trader.would_be_flagged and flagged.legacy_pattern_day_trader.applies
    rich = day_trades(four_day_trades_among(10), SPECS, at(4), Decimal("25000"), margin_account=True)
    assert not rich.legacy_pattern_day_trader.would_be_flagged
    # 4 day trades among 67 orders = 5.97 %: not more than 6 %
    busy = day_trades(four_day_trades_among(67), SPECS, at(4), Decimal("1000"), margin_account=True)
    assert busy.day_trade_percent == Decimal("5.97") and not busy.legacy_pattern_day_trader.would_be_flagged
