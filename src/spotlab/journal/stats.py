"""The journal's statistics over closed round trips, grouped by strategy, market, weekday or hour (UTC).

``journal_stats(trips, group_by)`` returns one ``GroupStats`` per (group, currency). Open round
trips are left out (they have no result yet).

Groups
- ``all``: every closed trip; ``strategy``: the trip's strategy tag, else its entry fill's tag,
  else ``"untagged"``; ``market``: ``BTC/USDT``; ``weekday``: the UTC weekday of the entry
  (``Monday`` .. ``Sunday``); ``hour``: the UTC hour of the entry, ``"00"`` .. ``"23"``.
- Money is never added across currencies: every group is split by the trips' quote asset
  (``currency``), so a journal trading only against USDT has one row per group.
- Rows come in the group's natural order (weekdays Monday first, hours ascending, names
  alphabetically), then by currency.

Formulas (N closed trips of the group, pnl net of fees; the trade-level formulas are
``spotlab.backtest.metrics``', reused as they are)
- win rate = trips with pnl > 0 / N (a break-even trip is neither a win nor a loss);
  average win / loss = mean pnl of the winners / losers; profit factor = sum of wins / |sum of
  losses| (None without a loss); expectancy = mean pnl;
- average holding time = sum(exit - entry) // N (ns);
- gross pnl = sum(pnl + fees) (the result before fees); fee drag = fees / gross pnl, the share
  of the gross profit the fees took (None when the gross pnl is not positive: there was no
  profit for them to take a share of);
- trades per day = N / the number of distinct UTC days on which the group's trips were entered
  (days with no trade do not dilute it: overtrading shows here); most trades in a day likewise;
- largest losing streak = the longest run of consecutive losing trips, in order of exit (then
  entry); a break-even trip ends a run.
Money is ``Decimal`` (exact sums; means in the default decimal context); ratios are ``float``;
an undefined figure is ``None``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from spotlab.backtest.metrics import (
    average_loss,
    average_trade_duration_ns,
    average_win,
    expectancy,
    profit_factor,
    win_rate,
)
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.journal.round_trips import RoundTrip
from spotlab.risk.records import utc_day

GROUP_BY = ("all", "strategy", "market", "weekday", "hour")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
UNTAGGED = "untagged"


@dataclass(frozen=True, slots=True)
class GroupStats:
    """The statistics of one group of closed round trips, in one currency."""

    group_by: str
    group: str
    currency: str
    trades: int
    wins: int
    losses: int
    win_rate: float | None
    average_win: Decimal | None
    average_loss: Decimal | None
    profit_factor: float | None
    expectancy: Decimal | None
    net_pnl: Decimal
    gross_pnl: Decimal
    fees: Decimal
    fee_drag: float | None
    average_holding_ns: int | None
    trades_per_day: float | None
    most_trades_in_a_day: int
    largest_losing_streak: int


def strategy_tag(trip: RoundTrip) -> str:
    """The trip's strategy tag, else its entry fill's, else ``"untagged"``."""
    for annotation in (trip.annotation, trip.fills[0].annotation if trip.fills else None):
        if annotation is not None and annotation.strategy:
            return annotation.strategy
    return UNTAGGED


def _entry_time(trip: RoundTrip) -> datetime:
    return datetime.fromtimestamp(trip.entry_time_ns // 1_000_000_000, UTC)


def check_group_by(group_by: str) -> None:
    if group_by not in GROUP_BY:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT, f"group_by is one of {', '.join(GROUP_BY)}, got {group_by!r}", field="group_by"
        )


def group_of(trip: RoundTrip, group_by: str) -> str:
    """The group ``trip`` falls in (``group_by`` checked by the caller)."""
    if group_by == "all":
        return "all"
    if group_by == "strategy":
        return strategy_tag(trip)
    if group_by == "market":
        return trip.market
    if group_by == "weekday":
        return WEEKDAYS[_entry_time(trip).weekday()]
    return f"{_entry_time(trip).hour:02d}"


def gross_pnl(trips: Sequence[RoundTrip]) -> Decimal:
    return sum((trip.pnl + trip.fees for trip in trips), Decimal(0))


def fee_drag(fees: Decimal, gross: Decimal) -> float | None:
    return float(fees / gross) if gross > 0 else None


def trades_per_day(trips: Sequence[RoundTrip]) -> float | None:
    days = {utc_day(trip.entry_time_ns) for trip in trips}
    return len(trips) / len(days) if days else None


def most_trades_in_a_day(trips: Sequence[RoundTrip]) -> int:
    return max(Counter(utc_day(trip.entry_time_ns) for trip in trips).values(), default=0)


def largest_losing_streak(trips: Sequence[RoundTrip]) -> int:
    longest = run = 0
    for trip in sorted(trips, key=lambda t: (t.exit_time_ns, t.entry_time_ns)):
        run = run + 1 if trip.pnl < 0 else 0
        longest = max(longest, run)
    return longest


def group_stats(group_by: str, group: str, currency: str, trips: Sequence[RoundTrip]) -> GroupStats:
    """The figures of one group (closed trips of one currency; see the module docstring)."""
    fees = sum((trip.fees for trip in trips), Decimal(0))
    gross = gross_pnl(trips)
    return GroupStats(
        group_by=group_by,
        group=group,
        currency=currency,
        trades=len(trips),
        wins=sum(1 for trip in trips if trip.pnl > 0),
        losses=sum(1 for trip in trips if trip.pnl < 0),
        win_rate=win_rate(trips),
        average_win=average_win(trips),
        average_loss=average_loss(trips),
        profit_factor=profit_factor(trips),
        expectancy=expectancy(trips),
        net_pnl=sum((trip.pnl for trip in trips), Decimal(0)),
        gross_pnl=gross,
        fees=fees,
        fee_drag=fee_drag(fees, gross),
        average_holding_ns=average_trade_duration_ns(trips),
        trades_per_day=trades_per_day(trips),
        most_trades_in_a_day=most_trades_in_a_day(trips),
        largest_losing_streak=largest_losing_streak(trips),
    )


def _order(group_by: str, group: str) -> tuple:
    if group_by == "weekday":
        return (WEEKDAYS.index(group), group)
    if group_by == "strategy":
        return (group == UNTAGGED, group)  # the untagged last
    return (0, group)


def journal_stats(trips: Iterable[RoundTrip], group_by: str = "all") -> list[GroupStats]:
    """One ``GroupStats`` per (group, currency) of the closed trips, in the groups' natural order."""
    check_group_by(group_by)
    groups: dict[tuple[str, str], list[RoundTrip]] = {}
    for trip in trips:
        if trip.pnl is not None:
            groups.setdefault((group_of(trip, group_by), trip.quote), []).append(trip)
    keys = sorted(groups, key=lambda key: (_order(group_by, key[0]), key[1]))
    return [group_stats(group_by, group, currency, groups[group, currency]) for group, currency in keys]
