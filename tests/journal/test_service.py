"""The journal through the facade: every fill is in it, annotations persist per account, stats follow tags."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from spotlab import Exchange, SimulatedClock
from spotlab.errors import ErrorCode, SpotlabError
from tests.conftest import fund

D = Decimal


def trade(ex, clock, taker, side, price, quantity, maker="bob", market="BTC/USDT"):
    """``taker`` takes ``maker``'s resting order; the clock then moves on 30 minutes."""
    ex.place_order(maker, market, "sell" if side == "buy" else "buy", "limit", price, quantity)
    ex.place_order(taker, market, side, "limit", price, quantity)
    clock.advance(minutes=30)


@pytest.fixture
def clock():
    return SimulatedClock(datetime(2024, 1, 1, tzinfo=UTC))


def open_funded(url, clock):
    ex = Exchange.open(url, clock=clock)
    fund(ex, "alice", USDT="100000", BTC="1")
    fund(ex, "carol", USDT="100000")
    fund(ex, "bob", USDT="1000000", BTC="100")
    return ex


def test_the_facade_returns_the_round_trips_of_the_accounts_own_fills(clock):
    with open_funded(None, clock) as ex:
        trade(ex, clock, "alice", "sell", "50000", "0.5")  # deposited BTC: outside every trip
        trade(ex, clock, "alice", "buy", "50000", "0.1")
        trade(ex, clock, "alice", "buy", "51000", "0.1")
        trade(ex, clock, "alice", "sell", "52000", "0.05")
        trade(ex, clock, "alice", "sell", "53000", "0.15")
        trade(ex, clock, "carol", "buy", "40000", "0.1")
        (trip,) = ex.journal("alice")
        assert (trip.status, trip.pnl, trip.fees) == ("closed", D("429.35"), D("20.65"))  # taker fee 0.1 %
        assert [f.side for f in trip.fills] == ["buy", "buy", "sell", "sell"]
        (outside,) = ex.journal_service.outside_fills("alice")
        assert (outside.side, outside.quantity) == ("sell", D("0.5"))
        (carols,) = ex.journal("carol")
        assert carols.status == "open" and carols.entry_price == D("40000")
        (bobs,) = ex.journal("bob")  # the maker's side: bought 0.5, sold 0.2, bought 0.2, sold 0.1
        assert (bobs.status, bobs.open_quantity, bobs.quantity) == ("open", D("0.4"), D("0.5"))
        with pytest.raises(SpotlabError) as error:
            ex.journal("nobody")
        assert error.value.code is ErrorCode.UNKNOWN_ACCOUNT


def test_annotations_persist_per_account_and_drive_the_strategy_stats(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/exchange.sqlite"
    with open_funded(url, clock) as ex:
        trade(ex, clock, "alice", "buy", "50000", "0.1")
        trade(ex, clock, "alice", "sell", "51000", "0.1")
        trade(ex, clock, "alice", "buy", "50000", "0.1")
        trade(ex, clock, "alice", "sell", "49000", "0.1")
        first, second = ex.journal("alice")
        journal = ex.journal_service
        note = journal.annotate("alice", round_trip=first.id, strategy="orb", confidence=4, emotion="calm",
                                screenshots=["https://charts.example/1.png"])  # fmt: skip
        assert note.strategy == "orb" and note.updated_ns == clock.now_ns()
        journal.annotate("alice", fill=second.fills[0].trade_id, strategy="fade", notes="entry too early")
        with pytest.raises(SpotlabError) as error:
            journal.annotate("carol", round_trip=first.id, notes="not mine")  # isolation: like a missing id
        assert error.value.code is ErrorCode.NOT_FOUND
        with pytest.raises(SpotlabError) as error:
            journal.annotate("alice", round_trip=first.id, confidence=9)
        assert error.value.details["field"] == "confidence"
    with Exchange.open(url, clock=clock) as ex:  # reopened: the notes are still there
        first, second = ex.journal("alice")
        assert (first.annotation.strategy, first.annotation.confidence) == ("orb", 4)  # the refusal changed nothing
        assert first.annotation.screenshots == ("https://charts.example/1.png",)
        assert second.annotation is None and second.fills[0].annotation.notes == "entry too early"
        rows = {row.group: row for row in ex.journal_service.statistics("alice", "strategy")}
        assert rows["orb"].net_pnl == D("89.9") and rows["fade"].net_pnl == D("-109.9")
        assert [t.id for t in ex.journal_service.round_trips("alice", strategy="fade")] == [second.id]
        assert ex.journal_service.round_trips("carol") == []


def test_fills_are_named_by_id_or_by_an_unambiguous_trade_id(clock):
    with open_funded(None, clock) as ex:
        fund(ex, "dave", ETH="10", USDT="100000")
        trade(ex, clock, "alice", "buy", "50000", "0.1")  # BTC/USDT trade 1
        ex.place_order("dave", "ETH/USDT", "sell", "limit", "2000", "1")
        ex.place_order("alice", "ETH/USDT", "buy", "limit", "2000", "1")  # ETH/USDT trade 1
        journal = ex.journal_service
        with pytest.raises(SpotlabError) as error:
            journal.annotate("alice", fill="1", notes="which one?")
        assert error.value.code is ErrorCode.INVALID_ARGUMENT and "BTC-USDT-1" in error.value.message
        assert journal.annotate_fill("alice", "ETH-USDT-1", {"notes": "eth"})[0] == "ETH-USDT-1"
        assert journal.annotate_fill("dave", 1, {"notes": "dave's"})[0] == "ETH-USDT-1"  # only one market
        for ref in ("BTC-USDT-2", "99", "nonsense"):
            with pytest.raises(SpotlabError) as error:
                journal.annotate_fill("alice", ref, {"notes": "x"})
            assert error.value.code is ErrorCode.NOT_FOUND
        eth = journal.round_trips("alice", market="ETH/USDT")[0]
        assert eth.fills[0].annotation.notes == "eth"
        assert journal.round_trips("dave") == [] and journal.outside_fills("dave")[0].annotation.notes == "dave's"


def test_filters_by_market_status_and_entry_time(clock):
    with open_funded(None, clock) as ex:
        start = clock.now_ns()
        trade(ex, clock, "alice", "buy", "50000", "0.1")
        trade(ex, clock, "alice", "sell", "50000", "0.1")
        middle = clock.now_ns()
        trade(ex, clock, "alice", "buy", "50000", "0.1")
        journal = ex.journal_service
        assert [t.status for t in journal.round_trips("alice", status="open")] == ["open"]
        assert len(journal.round_trips("alice", start_ns=start, end_ns=middle)) == 1
        assert len(journal.round_trips("alice", start_ns=middle)) == 1
        assert journal.round_trips("alice", market="ETH/USDT") == []
        for bad in ({"market": "NOPE/USDT"}, {"status": "won"}):
            with pytest.raises(SpotlabError):
                journal.round_trips("alice", **bad)
