"""A hand-checkable engine for the core's tests: ``AAA/QQQ`` with tick = lot = one minor unit, no minimum
notional, a 0.1 % maker and a 0.2 % taker fee (so a buy of ``q`` lots at ``p`` holds ``p*q + floor(p*q * 0.002)``,
``spotlab.core.fees.buy_hold``), and accounts funded with 1,000 AAA and 100,000 QQQ each."""

from __future__ import annotations

from spotlab.core.commands import CreateAccount, Deposit, ListAsset, ListMarket
from spotlab.core.engine import Engine
from spotlab.core.markets import MarketStatus

M = "AAA/QQQ"


def unit_market(
    *accounts: str, fees: tuple[str, str] = ("0.001", "0.002"), funds: tuple[int, int] = (1_000, 100_000)
) -> Engine:
    """A new engine with the market listed and ``accounts`` created and funded, all at time 0; ``fees`` (maker,
    taker) and ``funds`` (AAA, QQQ per account) other than the defaults for tests that need them."""
    engine = Engine()
    setup = [
        ListAsset("AAA", 0, "0", "0"),
        ListAsset("QQQ", 0, "0", "0"),
        ListMarket(M, "1", "1", "1", "0", *fees, MarketStatus.TRADING),
    ]
    for account in accounts:
        setup += [CreateAccount(account), Deposit(account, "AAA", funds[0]), Deposit(account, "QQQ", funds[1])]
    for command in setup:
        engine.apply(command, 0)
    return engine
