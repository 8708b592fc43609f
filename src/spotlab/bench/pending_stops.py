"""``spotlab bench pending-stops``: matching with and without 100,000 pending stop orders.

Target (issue 5): with 100,000 pending stop orders the engine's command rate stays within 20 % of its
rate without them. Both sides run the engine benchmark's workload (``spotlab.bench.workload``: the same
seeded commands, about 40 % of them trading) through ``Engine.apply`` alone, in alternating rounds; on
one side ``pending`` stop-limit orders of 100 extra accounts wait far from the price first (half sells
with stops far below it, half buys far above), so every trade checks them and none triggers.

Invariants
- Both sides apply exactly the same workload commands to the same starting book; the pending side's
  orders take ids above the workload's, so every workload command means the same on both sides.
- Each run checks that no pending order triggered (their number is the same before and after) and
  that both sides printed the same number of trades: a run that measured something else fails.
- The collector is frozen before timing (``gc.freeze``) on both sides, so the 100,000 extra objects
  do not turn into collector pauses that the engine does not cause.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from typing import Any

from spotlab.bench.workload import Workload, WorkloadSpec, generate
from spotlab.core.commands import CreateAccount, Deposit, PlaceOrder
from spotlab.core.engine import Engine
from spotlab.core.orders import OrderType, SelfTradePrevention, Side, TimeInForce
from spotlab.exchange import Exchange

TARGET_SLOWDOWN = 0.20
STOP_ACCOUNTS = 100


@dataclass(frozen=True)
class Options:
    commands: int = 300_000
    pending: int = 100_000
    rounds: int = 3


def engine_with(workload: Workload, pending: int) -> Engine:
    """A fresh engine (the catalogue's markets, no store) holding the workload's starting book and
    ``pending`` stop-limit orders that never trigger."""
    exchange = Exchange.open(None)
    engine = exchange._engine  # the engine alone: as ``spotlab bench engine``'s engine-only mode
    exchange.close()
    ts = 1
    for command in (*workload.setup, *workload.prefill):
        engine.apply(command, ts)
    spec = workload.market
    base, quote = spec.base, spec.quote
    for i in range(STOP_ACCOUNTS if pending else 0):
        name = f"stops{i}"
        engine.apply(CreateAccount(name), ts)
        engine.apply(Deposit(name, base.code, 10 * 10**base.precision), ts)
        engine.apply(Deposit(name, quote.code, 2_000_000 * 10**quote.precision), ts)
    workload_ids, engine.next_order_id = engine.next_order_id, 10**12
    for i in range(pending):
        sell = i % 2 == 0
        stop = 100_000 + i if sell else 15_000_000 + i  # 1,000 USDT and up / 150,000 USDT and up: never reached
        command = PlaceOrder(
            f"stops{i % STOP_ACCOUNTS}", spec.symbol, Side.SELL if sell else Side.BUY, OrderType.STOP_LOSS_LIMIT,
            TimeInForce.GTC, SelfTradePrevention.NONE, price=stop, quantity=spec.min_lots * 1000, stop_price=stop,
        )  # fmt: skip
        outcome = engine.apply(command, ts)
        if outcome.error is not None:
            raise RuntimeError(f"a pending stop was refused: {outcome.error}")
    engine.next_order_id = workload_ids
    return engine


def timed(workload: Workload, pending: int) -> dict[str, Any]:
    engine = engine_with(workload, pending)
    waiting = len(engine.pending_orders)
    gc.collect()
    gc.freeze()
    try:
        apply, ts = engine.apply, 2
        started = time.perf_counter()
        for command in workload.commands:
            apply(command, ts)
        seconds = time.perf_counter() - started
    finally:
        gc.unfreeze()
    if len(engine.pending_orders) != waiting or waiting != pending:
        raise RuntimeError(f"{waiting - len(engine.pending_orders)} pending stops triggered: the run measured trades")
    trades = engine.markets[workload.market.symbol].trade_seq
    return {"pending": pending, "commands_per_second": round(len(workload.commands) / seconds), "trades": trades}


def run(options: Options) -> dict[str, Any]:
    workload = generate(WorkloadSpec(commands=options.commands))
    rounds = []
    for number in range(1, options.rounds + 1):
        order = (0, options.pending) if number % 2 else (options.pending, 0)  # alternate who goes first
        sides = {side: timed(workload, side) for side in order}
        without, with_ = sides[0], sides[options.pending]
        if without["trades"] != with_["trades"]:
            raise RuntimeError(f"the sides printed {without['trades']} and {with_['trades']} trades")
        slowdown = 1 - with_["commands_per_second"] / without["commands_per_second"]
        rounds.append({"round": number, "without": without, "with": with_, "slowdown": round(slowdown, 4)})
    mean_without = sum(r["without"]["commands_per_second"] for r in rounds) / len(rounds)
    mean_with = sum(r["with"]["commands_per_second"] for r in rounds) / len(rounds)
    slowdown = 1 - mean_with / mean_without
    return {
        "commands": len(workload.commands),
        "pending": options.pending,
        "rounds": rounds,
        "mean_without": round(mean_without),
        "mean_with": round(mean_with),
        "slowdown": round(slowdown, 4),
        "target_slowdown": TARGET_SLOWDOWN,
        "met": slowdown <= TARGET_SLOWDOWN,
    }
