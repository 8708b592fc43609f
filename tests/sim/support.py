"""Helpers for the simulator's tests: an in-memory exchange on a simulated clock, and a simulator on it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from spotlab import Exchange, SimulatedClock
from spotlab.sim.simulator import SimConfig, Simulator

START = datetime(2025, 1, 1, tzinfo=UTC)


def simulated(config: SimConfig, url: str | None = None, start: datetime = START) -> tuple[Simulator, Exchange]:
    clock = SimulatedClock(start)
    exchange = Exchange.open(url, clock=clock)
    sim = Simulator(exchange, config, clock)
    sim.setup()
    return sim, exchange


def assert_no_negative_balance(exchange: Exchange, accounts) -> None:
    for account in accounts:
        for asset, balance in exchange.balances(account).items():
            assert balance.available >= Decimal(0) and balance.locked >= Decimal(0), (account, asset, balance)
