"""A trading workload to kill: the child process of the crash-recovery test.

Run as ``python -m tests.exchange.crash_workload URL SEED RUN [LIMIT]``. It opens the
exchange in ``URL`` (recovering whatever is there), then applies a seeded random mix
of commands from five accounts, single-threaded, until it is killed (or, with
``LIMIT``, until that many commands were sent; then it closes the exchange).

Commands go in small pipelined batches through ``Exchange.apply`` (no wait), then one
``wait_durable`` for the batch. Every step is printed and flushed at once, so the
parent knows, after a ``SIGKILL``, exactly what the child had done and what it had
been told was durable:

    READY <last_sequence> <state_hash>              opened; the recovered state
    CMD <ts> <hex>                                  about to apply this command (msgpack) at ts
    PENDING <index> <last_sequence> <state_hash>    applied as record <index>; not yet durable
    REFUSED <code>                                  refused: nothing changed, nothing logged
    NOOP                                            accepted, changed nothing, nothing logged
    ACK <index>                                     records up to <index> are durable
    DONE                                            LIMIT reached and the exchange closed

``CMD`` is printed before the command is applied, so every record that can be in
the store has its command in the output, even if the kill came between the commit
and the ``PENDING`` line.
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec

from spotlab import Exchange, SimulatedClock, SpotlabError
from spotlab.core.commands import (
    AnyCommand,
    CancelAllOrders,
    CancelOrder,
    CreateAccount,
    Deposit,
    PlaceOrder,
    ReduceOrder,
    SetMarketStatus,
    Withdraw,
)
from spotlab.core.markets import MarketStatus
from spotlab.core.orders import OrderType, SelfTradePrevention, Side, TimeInForce

#: When the store was created (the catalogue is listed at this time); run ``n`` starts ``n + 1`` days later.
START = datetime(2024, 3, 1, tzinfo=UTC)
ACCOUNTS = ("alice", "bob", "carol", "dave", "erin")
#: Small, so that recovery regularly starts from a snapshot and replays a tail.
SNAPSHOT_EVERY = 40
#: Small, so that the state hash stays cheap while closed orders pile up.
CLOSED_ORDERS_KEPT = 100

UNIT = 10**8  # minor units of BTC, ETH and USDT
MARKETS = {
    # symbol: (mid price in ticks, lot size, lots from, lots to)
    "BTC/USDT": (3_000_000, Decimal("0.00001"), 100, 3_000),  # 30000.00; 0.001 .. 0.03 BTC
    "ETH/USDT": (200_000, Decimal("0.0001"), 100, 5_000),  # 2000.00; 0.01 .. 0.5 ETH
}

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(AnyCommand)


def encode_command(command: object) -> str:
    return _encoder.encode(command).hex()


def decode_command(text: str) -> object:
    return _decoder.decode(bytes.fromhex(text))


def exchange_options() -> dict:
    return {"snapshot_every": SNAPSHOT_EVERY, "closed_orders_kept": CLOSED_ORDERS_KEPT}


def next_command(ex: Exchange, rng: random.Random, step: int) -> object:
    """A random command, sometimes one that will be refused or rejected (that is part of the mix)."""
    if step < len(ACCOUNTS):  # refused as ACCOUNT_EXISTS after the first run
        return CreateAccount(ACCOUNTS[step])
    if step < 3 * len(ACCOUNTS):
        account = ACCOUNTS[step % len(ACCOUNTS)]
        return Deposit(account, ("USDT", "BTC")[step // len(ACCOUNTS) - 1], 50_000 * UNIT if step < 10 else 5 * UNIT)
    account = rng.choice(ACCOUNTS)
    market = rng.choice(list(MARKETS))
    mid, lot, lots_from, lots_to = MARKETS[market]
    side = rng.choice((Side.BUY, Side.SELL))
    r = rng.random()
    if r < 0.06:
        asset = rng.choice(("USDT", "BTC", "ETH"))
        amount = {"USDT": rng.randint(1_000, 20_000) * UNIT, "BTC": rng.randint(1, 30) * UNIT // 10}.get(
            asset, rng.randint(1, 40) * UNIT
        )
        return Deposit(account, asset, amount)
    if r < 0.75:
        kind = rng.random()
        client_order_id = f"{account}-{rng.randint(0, 40)}" if rng.random() < 0.2 else None
        if kind < 0.6:
            tif = TimeInForce.GTC
        elif kind < 0.75:
            tif = TimeInForce.IOC
        elif kind < 0.8:
            tif = TimeInForce.FOK
        else:
            by_quote = side is Side.BUY and rng.random() < 0.4
            return PlaceOrder(
                account,
                market,
                side,
                OrderType.MARKET,
                TimeInForce.IOC,
                SelfTradePrevention.EXPIRE_MAKER,
                price=0,
                quantity=0 if by_quote else rng.randint(lots_from, lots_to),
                quote_quantity=rng.randint(10, 500) * UNIT if by_quote else 0,
                client_order_id=client_order_id,
            )
        return PlaceOrder(
            account,
            market,
            side,
            OrderType.LIMIT,
            tif,
            SelfTradePrevention.EXPIRE_MAKER,
            price=mid + rng.randint(-mid // 10_000, mid // 10_000),  # within 1 % of the mid
            quantity=rng.randint(lots_from, lots_to),
            client_order_id=client_order_id,
        )
    open_orders = ex.open_orders(account)
    if r < 0.88:
        if not open_orders or rng.random() < 0.05:
            return CancelOrder(account, rng.randint(1, 10_000))  # most likely refused
        return CancelOrder(account, rng.choice(open_orders).id)
    if r < 0.93:
        asset = rng.choice(("USDT", "BTC", "ETH"))
        amount = {"USDT": rng.randint(10, 3_000) * UNIT, "BTC": rng.randint(1, 50) * UNIT // 100}.get(
            asset, rng.randint(1, 20) * UNIT // 10
        )
        return Withdraw(account, asset, amount)
    if r < 0.97 and open_orders:
        order = rng.choice(open_orders)
        lot = MARKETS[order.market][1]
        quantity, filled = int(order.quantity / lot), int(order.filled_quantity / lot)
        if quantity - filled >= 2:
            return ReduceOrder(account, order.id, rng.randint(filled + 1, quantity - 1))
    if r < 0.99:
        return CancelAllOrders(account, market)
    halted = ex.market("ETH/USDT").status == "halted"
    return SetMarketStatus("ETH/USDT", MarketStatus.TRADING if halted else MarketStatus.HALTED)


def main(argv: list[str]) -> None:
    url, seed, run = argv[0], int(argv[1]), int(argv[2])
    limit = int(argv[3]) if len(argv) > 3 else None
    out = sys.stdout

    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    clock = SimulatedClock(START + timedelta(days=run + 1))
    ex = Exchange.open(url, clock=clock, **exchange_options())
    say(f"READY {ex.last_sequence} {ex.state_hash()}")
    rng = random.Random(seed)
    step = 0
    while limit is None or step < limit:
        last_index = None
        for _ in range(rng.randint(1, 6)):
            if limit is not None and step >= limit:
                break
            command = next_command(ex, rng, step)
            step += 1
            clock.advance(milliseconds=1)
            say(f"CMD {clock.now_ns()} {encode_command(command)}")
            before = ex.last_sequence
            try:
                outcome, index = ex.apply(command)
            except SpotlabError as error:
                say(f"REFUSED {error.code}")
                continue
            if ex.last_sequence == before:
                say("NOOP")
                continue
            say(f"PENDING {index} {ex.last_sequence} {ex.state_hash()}")
            last_index = index
        if last_index is not None:
            ex.wait_durable(last_index)
            say(f"ACK {last_index}")
    ex.close()
    say("DONE")


if __name__ == "__main__":
    main(sys.argv[1:])
