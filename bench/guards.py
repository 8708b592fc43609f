"""Risk guards on a long history: the time of one guarded entry (a limit buy and its cancel) as fills pile up.

    python bench/guards.py                 # 1,000, 5,000 and 20,000 fills
    python bench/guards.py 2000 10000      # other sizes

An in-memory exchange on a simulated clock. The account ``bot`` trades 0.01 BTC market orders (buy, sell, ...)
against a deep book, 61 s apart (each sell loses the spread, so the cooldown rule is live; each is past its
1-minute cooldown), with every guard of its profile on. At each size, 200 guarded limit buys, each canceled at
once, are timed two minutes after the last fill. The guard runs under the exchange's lock, so its time is time
every other account waits.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from spotlab import Exchange
from spotlab.clock import SimulatedClock
from spotlab.risk.profile import RiskProfile

MARKET = "BTC/USDT"
ENTRIES = 200


def main(sizes: list[int]) -> None:
    clock = SimulatedClock(datetime(2026, 1, 1, tzinfo=UTC))
    exchange = Exchange.open(clock=clock)
    for account in ("maker", "bot"):
        exchange.create_account(account)
    exchange.deposit("maker", "BTC", 100_000)
    exchange.deposit("maker", "USDT", 10**10)
    exchange.deposit("bot", "USDT", 10**9)
    exchange.place_order("maker", MARKET, "sell", "limit", Decimal("30000"), Decimal("50000"))
    exchange.place_order("maker", MARKET, "buy", "limit", Decimal("29990"), Decimal("50000"))
    exchange.place_order("bot", MARKET, "buy", "market", quantity=Decimal("0.01"))  # a last price first
    profile = RiskProfile(
        max_trades_per_day=10**6, max_daily_loss=Decimal(10**9), cooldown_after_losses=3, cooldown_minutes=1,
        max_exposure_percent=Decimal(100),
    )  # fmt: skip
    exchange.risk.set_profile("bot", profile)
    traded = 1
    print(f"{'fills':>8}  {'us per guarded entry (place + cancel)':>38}")
    for size in sorted(sizes):
        for k in range(traded, size):
            clock.advance(timedelta(seconds=61))
            exchange.place_order("bot", MARKET, "sell" if k % 2 else "buy", "market", quantity=Decimal("0.01"))
        traded = max(traded, size)
        clock.advance(timedelta(minutes=2))
        started = time.perf_counter()
        for _ in range(ENTRIES):
            order = exchange.place_order("bot", MARKET, "buy", "limit", Decimal("20000"), Decimal("0.01"))
            exchange.cancel_order("bot", order.id)
        print(f"{len(exchange.risk.fills('bot')):>8,}  {(time.perf_counter() - started) / ENTRIES * 1e6:>38,.0f}")
    exchange.close()


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [1_000, 5_000, 20_000])
