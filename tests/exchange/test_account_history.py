"""``Exchange.account_history``: an account's fills and transfers, from the log, the same before and after a restart."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from spotlab import Exchange
from spotlab.errors import ErrorCode, SpotlabError


def trade(ex: Exchange) -> None:
    ex.place_order("bob", "BTC/USDT", "sell", "limit", "50000", "0.01")
    ex.place_order("alice", "BTC/USDT", "buy", "market", quantity="0.01")


def test_fills_and_transfers_of_the_account_in_order_before_and_after_it_is_first_asked(tmp_path, clock):
    url = f"sqlite:///{tmp_path / 'ex.sqlite'}"
    with Exchange.open(url, clock=clock) as ex:
        for name, asset, amount in (("alice", "USDT", "2000"), ("bob", "BTC", "1")):
            ex.create_account(name)
            ex.deposit(name, asset, amount)
        trade(ex)  # before anyone asked: read from the log
        fills, transfers = ex.account_history("alice")
        assert [(f.side, f.price, f.quantity, f.fee, f.trade_id) for f in fills] == [
            ("buy", D("50000.00"), D("0.01000"), D("0.50000000"), 1)
        ]
        assert [(t.kind, t.asset, t.amount) for t in transfers] == [("deposit", "USDT", D("2000"))]
        trade(ex)  # after: folded in as it happens
        ex.withdraw("bob", "BTC", "0.5")
        assert [f.trade_id for f in ex.account_history("alice")[0]] == [1, 2]
        bob_fills, bob_transfers = ex.account_history("bob")
        assert [f.side for f in bob_fills] == ["sell", "sell"]
        assert [(t.kind, t.amount, t.fee) for t in bob_transfers] == [
            ("deposit", D("1"), D("0")), ("withdrawal", D("0.5"), D("0.0002"))
        ]  # fmt: skip
        before = ex.account_history("alice"), ex.account_history("bob")
    with Exchange.open(url, clock=clock) as ex:
        assert (ex.account_history("alice"), ex.account_history("bob")) == before


def test_an_unknown_account_has_no_history(ex):
    with pytest.raises(SpotlabError) as caught:
        ex.account_history("nobody")
    assert caught.value.code is ErrorCode.UNKNOWN_ACCOUNT
