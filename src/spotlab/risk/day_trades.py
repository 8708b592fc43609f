"""Day trades: buying and selling the same asset within one UTC day, over the rolling 5 business days.

Counting
- Orders, not fills: an order filled in pieces is one trade. On one UTC day, for one
  base asset (in any market), the day trades are ``min(buy orders, sell orders)``: each
  day trade is a round trip, opening one way and closing the other.
- The window is the last 5 business days (Monday to Friday, UTC) up to and including
  today, from 00:00 UTC of the first of them to now; crypto trades every day, so the
  weekend days inside the window count too. ``total_trades`` is the orders that traded
  in the same window.

The legacy US pattern-day-trader test (information only)
- The rule (FINRA Rule 4210): 4 or more day trades within 5 business days that are more
  than 6 % of all trades in that period, in a **margin** account; such an account must
  then keep $25,000 of equity. It was written for securities margin accounts and is being
  replaced; spot crypto accounts were never under it. spotlab has no margin, so
  ``margin_account`` is always false and the test never applies: it is reported so a
  trader practising for a US securities account sees how their activity would count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from spotlab.core.markets import MarketSpec
from spotlab.risk.records import NS_PER_DAY, FillRecord, utc_day

BUSINESS_DAYS = 5
PDT_MIN_DAY_TRADES = 4
PDT_SHARE_PERCENT = Decimal(6)
PDT_MIN_EQUITY_USD = Decimal(25_000)
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class DayTradeCount:
    day: date
    asset: str
    day_trades: int


@dataclass(frozen=True, slots=True)
class LegacyPatternDayTrader:
    """The old US securities test, as information; ``applies`` is always false on spotlab (no margin)."""

    day_trades_at_least_4: bool
    over_6_percent_of_trades: bool
    margin_account: bool
    equity_under_25000_usd: bool | None  # None: equity could not be valued in USD
    would_be_flagged: bool
    applies: bool


@dataclass(frozen=True, slots=True)
class DayTradeReport:
    window_start: date
    window_end: date
    day_trades: int
    total_trades: int
    day_trade_percent: Decimal  # of total trades, two decimals
    days: list[DayTradeCount]
    legacy_pattern_day_trader: LegacyPatternDayTrader


def window_start_day(now_ns: int) -> int:
    """The UTC day number of the first of the last ``BUSINESS_DAYS`` business days up to today."""
    day = utc_day(now_ns)
    counted = 0
    while True:
        if (EPOCH + timedelta(days=day)).weekday() < 5:
            counted += 1
            if counted == BUSINESS_DAYS:
                return day
        day -= 1


def day_trades(
    fills: Iterable[FillRecord],
    specs: Mapping[str, MarketSpec],
    now_ns: int,
    equity_usd: Decimal | None = None,
    margin_account: bool = False,
) -> DayTradeReport:
    """Count day trades in the rolling window and run the legacy pattern-day-trader test on them."""
    start = window_start_day(now_ns)
    since, today = start * NS_PER_DAY, utc_day(now_ns)
    sides: dict[tuple[int, str], dict[str, set[int]]] = defaultdict(lambda: {"buy": set(), "sell": set()})
    orders: set[int] = set()
    for f in fills:
        if not since <= f.time_ns <= now_ns:
            continue
        orders.add(f.order_id)
        sides[(utc_day(f.time_ns), specs[f.market].base.code)][f.side].add(f.order_id)
    days = [
        DayTradeCount(EPOCH + timedelta(days=day), asset, min(len(s["buy"]), len(s["sell"])))
        for (day, asset), s in sorted(sides.items())
        if s["buy"] and s["sell"]
    ]
    count = sum(d.day_trades for d in days)
    total = len(orders)
    percent = (Decimal(count * 100) / total).quantize(Decimal("0.01")) if total else Decimal(0)
    at_least_4 = count >= PDT_MIN_DAY_TRADES
    over_share = total > 0 and count * 100 > PDT_SHARE_PERCENT * total
    under = None if equity_usd is None else equity_usd < PDT_MIN_EQUITY_USD
    legacy = LegacyPatternDayTrader(
        at_least_4, over_share, margin_account, under,
        would_be_flagged=at_least_4 and over_share and margin_account and under is not False,
        applies=margin_account,
    )  # fmt: skip
    return DayTradeReport(
        EPOCH + timedelta(days=start), EPOCH + timedelta(days=today), count, total, percent, days, legacy
    )
