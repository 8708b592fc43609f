"""Journal statistics against figures worked out by hand, per group and currency."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from spotlab.catalogue import load_catalogue
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.journal.annotations import Annotation
from spotlab.journal.round_trips import round_trips
from spotlab.journal.stats import journal_stats, largest_losing_streak
from tests.journal.test_round_trips import HOUR, fill

SPECS = load_catalogue(None).markets
D = Decimal

# Monday 2024-01-01 (UTC) and Tuesday; "h" is hours after Monday 00:00
#   A BTC/USDT  in Mon 01:00  out 02:00  pnl  5,100 - 5.1  - 5,005 =  89.9   fees 10.1   gross  100
#   B BTC/USDT  in Mon 03:00  out 05:00  pnl  4,900 - 4.9  - 5,005 = -109.9  fees  9.9   gross -100
#   C BTC/USDT  in Tue 01:00  out 02:00  pnl  4,950 - 4.95 - 5,005 = -59.95  fees  9.95  gross  -50
#   D ETH/USDT  in Tue 03:00  out 06:00  pnl  2,300 - 2.3  - 2,002 =  295.7  fees  4.3   gross  300
#   E BTC/USDT  in Tue 07:00, still open: not counted
FILLS = [
    fill(1, "buy", "50000", "0.1", "5", 1),
    fill(2, "sell", "51000", "0.1", "5.1", 2),
    fill(3, "buy", "50000", "0.1", "5", 3),
    fill(4, "sell", "49000", "0.1", "4.9", 5),
    fill(5, "buy", "50000", "0.1", "5", 25),
    fill(6, "sell", "49500", "0.1", "4.95", 26),
    fill(1, "buy", "2000", "1", "2", 27, market="ETH/USDT"),
    fill(2, "sell", "2300", "1", "2.3", 30, market="ETH/USDT"),
    fill(7, "buy", "50000", "0.1", "5", 31),
]


def trips():
    a, b, c, d, e = round_trips(FILLS, SPECS)
    a = replace(a, annotation=Annotation(strategy="orb"))  # tagged on the trip
    c = replace(c, fills=(replace(c.fills[0], annotation=Annotation(strategy="orb")), *c.fills[1:]))  # on its entry
    return [a, b, c, d, e]


def test_all_closed_trips_together():
    (row,) = journal_stats(trips(), "all")
    assert (row.group, row.currency, row.trades, row.wins, row.losses) == ("all", "USDT", 4, 2, 2)
    assert row.win_rate == 0.5
    assert row.average_win == D("192.8")  # (89.9 + 295.7) / 2
    assert row.average_loss == D("-84.925")  # (-109.9 - 59.95) / 2
    assert row.profit_factor == pytest.approx(385.6 / 169.85)
    assert row.expectancy == D("53.9375") and row.net_pnl == D("215.75")  # 215.75 / 4
    assert row.gross_pnl == D("250") and row.fees == D("34.25")
    assert row.fee_drag == pytest.approx(0.137)  # 34.25 / 250
    assert row.average_holding_ns == 7 * HOUR // 4  # (1 + 2 + 1 + 3) h / 4
    assert row.trades_per_day == 2.0 and row.most_trades_in_a_day == 2  # Monday A, B; Tuesday C, D
    assert row.largest_losing_streak == 2  # by exit: A win, B loss, C loss, D win


def test_by_weekday_and_hour_of_the_entry_in_utc():
    monday, tuesday = journal_stats(trips(), "weekday")
    assert (monday.group, monday.trades, monday.net_pnl) == ("Monday", 2, D("-20"))
    assert monday.gross_pnl == D("0") and monday.fee_drag is None  # no gross profit to take a share of
    assert (tuesday.group, tuesday.trades, tuesday.net_pnl) == ("Tuesday", 2, D("235.75"))
    assert tuesday.largest_losing_streak == 1
    one, three = journal_stats(trips(), "hour")
    assert (one.group, one.trades, one.net_pnl, one.trades_per_day) == ("01", 2, D("29.95"), 1.0)  # A and C
    assert (three.group, three.trades, three.net_pnl) == ("03", 2, D("185.8"))  # B and D


def test_by_market_and_by_strategy_with_the_entry_fills_tag_as_fallback():
    btc, eth = journal_stats(trips(), "market")
    assert (btc.group, btc.trades, btc.wins, btc.profit_factor) == ("BTC/USDT", 3, 1, pytest.approx(89.9 / 169.85))
    assert (eth.group, eth.trades, eth.profit_factor, eth.average_loss) == ("ETH/USDT", 1, None, None)
    orb, untagged = journal_stats(trips(), "strategy")
    assert (orb.group, orb.trades, orb.net_pnl, orb.win_rate) == ("orb", 2, D("29.95"), 0.5)  # A and C
    assert (untagged.group, untagged.trades, untagged.net_pnl) == ("untagged", 2, D("185.8"))  # B and D


def test_money_is_never_added_across_currencies():
    more = [*FILLS, fill(3, "buy", "0.05", "1", "0.00005", 40, market="ETH/BTC"),
            fill(4, "sell", "0.06", "1", "0.00006", 41, market="ETH/BTC")]  # fmt: skip
    btc, usdt = journal_stats(round_trips(more, SPECS), "all")
    assert (btc.currency, btc.trades, btc.net_pnl) == ("BTC", 1, D("0.00989"))
    assert (usdt.currency, usdt.trades, usdt.net_pnl) == ("USDT", 4, D("215.75"))


def test_a_break_even_trip_ends_a_losing_streak():
    fills = [
        fill(1, "buy", "50000", "0.1", "5", 0), fill(2, "sell", "49000", "0.1", "0", 1),  # loss
        fill(3, "buy", "50000", "0.1", "0", 2), fill(4, "sell", "50000", "0.1", "0", 3),  # break-even
        fill(5, "buy", "50000", "0.1", "5", 4), fill(6, "sell", "49000", "0.1", "0", 5),  # loss
        fill(7, "buy", "50000", "0.1", "5", 6), fill(8, "sell", "49000", "0.1", "0", 7),  # loss
    ]  # fmt: skip
    trips_ = round_trips(fills, SPECS)
    assert [t.pnl for t in trips_] == [D("-105"), D("0"), D("-105"), D("-105")]
    assert largest_losing_streak(trips_) == 2
    (row,) = journal_stats(trips_, "all")
    assert (row.wins, row.losses, row.win_rate) == (0, 3, 0.0)


def test_no_closed_trips_no_rows_and_an_unknown_grouping_is_refused():
    assert journal_stats([], "market") == []
    with pytest.raises(SpotlabError) as error:
        journal_stats(trips(), "month")
    assert error.value.code is ErrorCode.INVALID_ARGUMENT and error.value.details["field"] == "group_by"
