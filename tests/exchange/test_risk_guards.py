"""The exchange enforces an account's risk profile on every entry, whoever places it (facade, API, strategy).

The guards themselves are tested as pure functions in tests/risk; here: that the exchange runs them
at the right moment, on the right records, atomically with the placement, and durably.
"""

from __future__ import annotations

import threading
from decimal import Decimal as D

import pytest

from spotlab import Exchange
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.risk.profile import RiskProfile


def funded(ex: Exchange) -> None:
    ex.create_account("alice")
    ex.create_account("bob")
    ex.deposit("alice", "USDT", "100000")
    ex.deposit("bob", "BTC", "10")
    ex.deposit("bob", "USDT", "100000")


def round_trip(ex: Exchange, buy: str, sell: str, quantity: str = "0.1") -> None:
    """alice buys ``quantity`` BTC at ``buy`` from bob, then sells it to bob at ``sell``."""
    ex.place_order("bob", "BTC/USDT", "sell", "limit", buy, quantity)
    ex.place_order("alice", "BTC/USDT", "buy", "market", quantity=quantity)
    ex.place_order("bob", "BTC/USDT", "buy", "limit", sell, quantity)
    ex.place_order("alice", "BTC/USDT", "sell", "market", quantity=quantity)


def refused(call) -> SpotlabError:
    with pytest.raises(SpotlabError) as caught:
        call()
    assert caught.value.code is ErrorCode.RISK_LIMIT
    return caught.value


def test_a_facade_order_is_refused_with_the_rule_and_changes_nothing(ex):
    funded(ex)
    ex.risk.set_profile("alice", RiskProfile(max_trades_per_day=1))
    round_trip(ex, "50000", "50000")  # the buy is the first trade of the day; the sell is an exit
    before, seq = ex.state_hash(), ex.last_sequence
    error = refused(lambda: ex.place_order("alice", "BTC/USDT", "buy", "limit", "40000", "0.1"))
    assert "max_trades_per_day" in error.message and error.details["trades_today"] == "2"
    assert ex.state_hash() == before and ex.last_sequence == seq  # nothing held, nothing logged
    assert ex.place_order("bob", "BTC/USDT", "buy", "limit", "40000", "0.1").status == "NEW"  # bob has no profile


def test_require_stop_loss_lets_only_a_bracket_in_and_never_blocks_an_exit(ex):
    funded(ex)
    ex.deposit("alice", "BTC", "1")
    ex.risk.set_profile("alice", RiskProfile(require_stop_loss=True))
    refused(lambda: ex.place_order("alice", "BTC/USDT", "buy", "limit", "40000", "0.1"))
    refused(lambda: ex.place_order("alice", "BTC/USDT", "buy", "stop_loss", quote_quantity="100", stop_price="60000"))
    refused(lambda: ex.place_order("alice", "BTC/USDT", "buy", "trailing_stop", quote_quantity="100",
                                   trailing_percent="2"))  # fmt: skip
    bracket = ex.place_bracket("alice", "BTC/USDT", "0.1", "40000", "45000", "38000")
    assert bracket.orders[0].side == "buy"
    assert ex.place_order("alice", "BTC/USDT", "sell", "limit", "70000", "0.5").status == "NEW"  # exits pass
    assert ex.place_order("alice", "BTC/USDT", "sell", "stop_loss", quantity="0.2", stop_price="30000")


def test_a_repeated_client_order_id_gets_the_original_even_past_a_limit(ex):
    funded(ex)
    ex.risk.set_profile("alice", RiskProfile(max_trades_per_day=1))
    ex.place_order("bob", "BTC/USDT", "sell", "limit", "50000", "0.1")
    first = ex.place_order("alice", "BTC/USDT", "buy", "market", quantity="0.1", client_order_id="entry-1")
    again = ex.place_order("alice", "BTC/USDT", "buy", "market", quantity="0.1", client_order_id="entry-1")
    assert again.duplicate and again.id == first.id
    refused(lambda: ex.place_order("alice", "BTC/USDT", "buy", "market", quantity="0.1", client_order_id="entry-2"))


def test_fills_before_the_profile_count_once_and_later_fills_count_at_once(ex):
    funded(ex)
    round_trip(ex, "50000", "49000")  # a loss of 100 USDT plus fees, before alice has any profile
    ex.risk.set_profile("alice", RiskProfile(max_daily_loss=D("150")))
    fills = ex.risk.fills("alice")
    assert [(f.side, f.price) for f in fills] == [("buy", D("50000")), ("sell", D("49000"))]
    ex.place_order("bob", "BTC/USDT", "sell", "limit", "50000", "0.1")
    ex.place_order("alice", "BTC/USDT", "buy", "market", quantity="0.1")  # 100 + fees lost so far: allowed
    ex.place_order("bob", "BTC/USDT", "buy", "limit", "49000", "0.1")
    ex.place_order("alice", "BTC/USDT", "sell", "market", quantity="0.1")  # a second loss: over 150
    assert len(ex.risk.fills("alice")) == 4  # the live feed, no duplicate of the two read from the log
    error = refused(lambda: ex.place_order("alice", "BTC/USDT", "buy", "limit", "40000", "0.01"))
    assert "max_daily_loss" in error.message
    realised = -sum((p.realised_pnl for p in ex.risk.portfolio("alice").positions), D(0))
    assert D(error.details["loss_today"]) == realised > D("200")


def test_two_entries_at_once_cannot_both_pass_a_limit_only_one_fits(ex):
    funded(ex)
    ex.risk.set_profile("alice", RiskProfile(max_trades_per_day=1))
    ex.place_order("bob", "BTC/USDT", "sell", "limit", "50000", "1")
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def buy() -> None:
        start.wait()
        try:
            ex.place_order("alice", "BTC/USDT", "buy", "market", quantity="0.01")
            outcomes.append("filled")
        except SpotlabError as error:
            outcomes.append(str(error.code))

    threads = [threading.Thread(target=buy) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["RISK_LIMIT"] * 7 + ["filled"]


def test_the_profile_and_its_guards_survive_a_restart(tmp_path, clock):
    url = f"sqlite:///{tmp_path / 'ex.sqlite'}"
    with Exchange.open(url, clock=clock) as ex:
        funded(ex)
        ex.risk.set_profile("alice", RiskProfile(max_trades_per_day=1, require_stop_loss=False))
        round_trip(ex, "50000", "50000")
    with Exchange.open(url, clock=clock) as ex:
        assert ex.risk.profile("alice").max_trades_per_day == 1
        refused(lambda: ex.place_order("alice", "BTC/USDT", "buy", "limit", "40000", "0.1"))
        assert len(ex.risk.fills("alice")) == 2  # read back from the log
        ex.check_invariants()


def test_an_unknown_account_or_currency_cannot_get_a_profile(ex):
    funded(ex)
    with pytest.raises(SpotlabError) as caught:
        ex.risk.set_profile("nobody", RiskProfile(max_trades_per_day=1))
    assert caught.value.code is ErrorCode.UNKNOWN_ACCOUNT
    with pytest.raises(SpotlabError) as caught:
        ex.risk.set_profile("alice", RiskProfile(currency="XYZ", max_trades_per_day=1))
    assert caught.value.code is ErrorCode.UNKNOWN_ASSET
    assert not ex.risk.guarded("alice")


def test_a_repeated_list_client_id_gets_the_original_list_and_a_buy_oco_needs_a_bracket(ex):
    funded(ex)
    ex.risk.set_profile("alice", RiskProfile(max_trades_per_day=1))
    first = ex.place_bracket("alice", "BTC/USDT", "0.1", "40000", "45000", "38000", client_order_id="swing-1")
    round_trip(ex, "50000", "50000")  # now at the day's limit
    again = ex.place_bracket("alice", "BTC/USDT", "0.1", "40000", "45000", "38000", client_order_id="swing-1")
    assert again.duplicate and again.id == first.id
    refused(lambda: ex.place_bracket("alice", "BTC/USDT", "0.1", "40000", "45000", "38000", client_order_id="swing-2"))
    ex.risk.set_profile("alice", RiskProfile(require_stop_loss=True))
    error = refused(lambda: ex.place_oco("alice", "BTC/USDT", "0.1", "40000", "52000", stop_limit_price="52100",
                                         side="buy"))  # fmt: skip
    assert error.details["order_type"] == "oco"


def test_the_exposure_guard_counts_the_buys_already_waiting_so_several_cannot_pass_one_by_one(ex):
    funded(ex)  # alice: 100,000 USDT and no BTC; the book's last price comes from a first trade
    ex.place_order("bob", "BTC/USDT", "sell", "limit", "50000", "0.01")
    ex.place_order("alice", "BTC/USDT", "buy", "market", quantity="0.01")  # alice now holds 0.01 BTC (500 USDT)
    ex.risk.set_profile("alice", RiskProfile(max_exposure_percent=D("30")))
    first = ex.place_order("alice", "BTC/USDT", "buy", "limit", "40000", "0.5")  # 500 + 20,000: about 20.5 %
    error = refused(lambda: ex.place_order("alice", "BTC/USDT", "buy", "limit", "40000", "0.5"))
    assert (
        D(error.details["waiting_buys"]) == D(20000) and "20000.00000000 USDT of buys already waiting" in error.message
    )
    ex.cancel_order("alice", first.id)
    assert ex.place_order("alice", "BTC/USDT", "buy", "limit", "40000", "0.5").status == "NEW"


def test_a_waiting_buy_oco_counts_once_at_its_dearer_leg(ex):
    funded(ex)
    ex.place_order("bob", "BTC/USDT", "sell", "limit", "50000", "0.01")
    ex.place_order("alice", "BTC/USDT", "buy", "market", quantity="0.01")
    ex.risk.set_profile("alice", RiskProfile(max_exposure_percent=D("30")))
    # a buy OCO needs no bracket without require_stop_loss: a limit buy at 40,000 and a stop-limit buy at 52,100
    ex.place_oco("alice", "BTC/USDT", "0.2", "40000", "52000", stop_limit_price="52100", side="buy")
    # waiting: 0.2 x 52,100 = 10,420 (not 10,420 + 8,000); 500 + 10,420 + 16,000 = 26,920, under 30 % of ~100,000
    assert ex.place_order("alice", "BTC/USDT", "buy", "limit", "40000", "0.4").status == "NEW"
    error = refused(lambda: ex.place_order("alice", "BTC/USDT", "buy", "limit", "40000", "0.1"))
    assert D(error.details["waiting_buys"]) == D(10420) + D(16000)
