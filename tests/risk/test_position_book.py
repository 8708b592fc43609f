"""The incremental forms the guards use on a long history: they give what the plain folds over everything give."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from spotlab.catalogue import load_catalogue
from spotlab.exchange.risk import _recent
from spotlab.risk.guards import ClosedTrade, cooldown_guard, daily_loss_guard, trades_today
from spotlab.risk.portfolio import PositionBook, positions
from spotlab.risk.profile import RiskProfile
from spotlab.risk.records import FillRecord

SPECS = load_catalogue(None).markets
DAY = 86_400 * 10**9
D = Decimal


def random_fills(seed: int, count: int) -> list[FillRecord]:
    """Buys and sells on two markets over four days, oldest first; some sells in several fills."""
    rng = random.Random(seed)
    fills, time_ns, order_id = [], 20_000 * DAY, 0
    for _ in range(count):
        time_ns += rng.randrange(0, DAY // 6)
        market = rng.choice(["BTC/USDT", "ETH/USDT"])
        same_order = fills and rng.random() < 0.2 and fills[-1].market == market
        order_id = order_id if same_order else order_id + 1
        side = fills[-1].side if same_order else rng.choice(["buy", "sell"])
        price = D(rng.randrange(1000, 3000))
        fills.append(FillRecord(order_id, market, side, price, D(rng.randrange(1, 50)) / 100, D("0.01"), time_ns))
    return fills


def as_tuples(book):
    return {m: (p.quantity, p.cost, p.realised, p.fees, p.untracked, p.closed_trades) for m, p in book.items()}


@pytest.mark.parametrize("seed", range(5))
def test_a_position_book_folded_as_fills_arrive_equals_the_fold_over_all_of_them(seed):
    fills = random_fills(seed, 300)
    growing: list[FillRecord] = []
    book = PositionBook()
    rng = random.Random(seed)
    while len(growing) < len(fills):
        growing.extend(fills[len(growing) : len(growing) + rng.randrange(1, 20)])
        assert as_tuples(book.update(growing, SPECS)) == as_tuples(positions(growing, SPECS))
    other = fills[:50]  # another list: folded from its start, nothing carried over
    assert as_tuples(book.update(other, SPECS)) == as_tuples(positions(other, SPECS))


@pytest.mark.parametrize("seed", range(5))
def test_trades_today_read_from_the_newest_back_counts_what_a_full_scan_counts(seed):
    fills = random_fills(seed, 300)
    for now in (fills[0].time_ns, fills[150].time_ns, fills[-1].time_ns, fills[-1].time_ns + DAY):
        today = now // DAY
        assert trades_today(fills, now) == len({f.order_id for f in fills if f.time_ns // DAY == today})


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("losses", [1, 3])
def test_the_recent_closed_trades_decide_the_daily_loss_and_the_cooldown_as_all_of_them_do(seed, losses):
    book = positions(random_fills(seed, 400), SPECS)
    profile = RiskProfile(max_daily_loss=D("5"), cooldown_after_losses=losses, cooldown_minutes=600)
    last = max(t for p in book.values() for _, t, _ in p.closed_trades)

    def closed(select):
        return [ClosedTrade(o, p.market, t, D(pnl) / 100) for p in book.values() for o, t, pnl in select(p)]

    everything = closed(lambda p: p.closed_trades)
    for now in (last, last + 3_600 * 10**9, last + DAY, last - DAY // 2):
        recent = closed(lambda p, now=now: _recent(p.closed_trades, now, losses))
        assert len(recent) < len(everything)  # the point: fewer to convert and sort on each entry
        assert daily_loss_guard(profile, recent, now, D(1000)) == daily_loss_guard(profile, everything, now, D(1000))
        assert cooldown_guard(profile, recent, now) == cooldown_guard(profile, everything, now)
