"""Snapshots of the whole engine state, and the state hash that proves two states equal.

Invariants
- ``restore(snapshot(engine))`` gives an engine that behaves exactly like
  ``engine``: the same books in the same queue order, balances, holds, open and
  remembered orders, pending conditional orders, client order ids (of orders and
  of order lists), trade and book sequence numbers, and the same iteration order
  of every collection, so it produces the same events for the same commands.
- ``state_hash`` is the SHA-256 of the canonical snapshot with the event sequence
  number and the last command's time left out: the event log's position is checked on its own, so a rejected
  order (which writes an ``OrderRejected`` event but changes no state) leaves the
  hash unchanged. Everything else the engine holds is covered.
- A snapshot is plain data (msgpack via msgspec): no pickles, no code.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

import msgspec

from spotlab.collector import collector_paused
from spotlab.core.engine import AccountState, Engine, MarketState
from spotlab.core.ledger import FEE_ACCOUNT
from spotlab.core.markets import Asset, MarketSpec, MarketStatus
from spotlab.core.order_lists import EXECUTING, OrderList
from spotlab.core.orders import OPEN, Order, OrderRecord, Side, order_of, record_of

FORMAT = 1


class MarketRecord(msgspec.Struct, array_like=True, gc=False):
    spec: dict[str, str]
    status: MarketStatus
    trade_seq: int
    book_sequence: int
    trades: list[tuple[int, int, int, int, Side]]
    bids: list[int]  # order ids, best price first, queue order within a price
    asks: list[int]


class AccountRecord(msgspec.Struct, array_like=True, gc=False):
    id: str
    rows: list[tuple[str, int, int]]  # asset, available, locked
    client_orders: list[tuple[str, int]]  # client order id, order id


class Snapshot(msgspec.Struct, array_like=True, gc=False):
    format: int
    seq: int
    last_ts: int
    next_order_id: int
    closed_orders_kept: int
    assets: list[tuple[str, int, str, str]]
    markets: list[MarketRecord]
    fee_rows: list[tuple[str, int, int]]
    accounts: list[AccountRecord]
    orders: list[OrderRecord]  # every order the engine holds, by id
    closed_orders: list[int]
    deposited: list[tuple[str, int]]
    withdrawn: list[tuple[str, int]]
    pending: list[int] = []  # pending conditional orders by id, in the engine's order (their data is in ``orders``)
    order_lists: list[OrderList] = []
    next_list_id: int = 1


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Snapshot)


def snapshot(engine: Engine) -> Snapshot:
    """The engine's whole state as plain data."""
    with collector_paused():
        return _snapshot(engine)


def _snapshot(engine: Engine) -> Snapshot:
    orders: dict[int, Order | OrderRecord] = {}
    for order in engine.open_orders.values():
        orders[order.id] = order
    for order in engine.pending_orders.values():
        orders[order.id] = order
    for order in engine.closed_orders.values():
        orders[order.id] = order
    for order in engine.closed_with_client_id.values():
        orders[order.id] = order
    accounts = []
    for account in engine.accounts.values():
        for order in account.client_orders.values():
            orders[order.id] = order
        accounts.append(
            AccountRecord(
                account.id,
                [(asset, row[0], row[1]) for asset, row in account.rows.items()],
                [(cid, order.id) for cid, order in account.client_orders.items()],
            )
        )
    markets = []
    for market in engine.markets.values():
        book = market.book
        bids, asks = book.level3()
        markets.append(
            MarketRecord(
                market.spec.describe(),
                market.status,
                market.trade_seq,
                book.sequence,
                list(market.trades),
                [o.id for o in bids],
                [o.id for o in asks],
            )
        )
    return Snapshot(
        FORMAT,
        engine.seq,
        engine.last_ts,
        engine.next_order_id,
        engine.closed_orders_kept,
        [(a.code, a.precision, str(a.withdrawal_fee), str(a.min_withdrawal)) for a in engine.assets.values()],
        markets,
        [(asset, row[0], row[1]) for asset, row in engine.fee_rows.items()],
        accounts,
        [_as_record(orders[order_id]) for order_id in sorted(orders)],
        list(engine.closed_orders),
        list(engine.ledger.deposited.items()),
        list(engine.ledger.withdrawn.items()),
        list(engine.pending_orders),
        list(engine.order_lists.values()),
        engine.next_list_id,
    )


def restore(snap: Snapshot) -> Engine:
    """An engine in exactly the state ``snap`` describes."""
    # Restoring builds millions of long-lived objects and no garbage; the cyclic
    # collector would only re-scan them over and over.
    with collector_paused():
        return _restore(snap)


def _restore(snap: Snapshot) -> Engine:
    engine = Engine(closed_orders_kept=snap.closed_orders_kept)
    engine.seq = snap.seq
    engine.last_ts = snap.last_ts
    engine.next_order_id = snap.next_order_id
    for code, precision, withdrawal_fee, min_withdrawal in snap.assets:
        engine.assets[code] = Asset(code, precision, Decimal(withdrawal_fee), Decimal(min_withdrawal))
    ledger = engine.ledger
    for asset, available, locked in snap.fee_rows:
        engine.fee_rows[asset] = [available, locked, FEE_ACCOUNT, asset]
    for record in snap.accounts:
        rows = ledger.open_account(record.id)
        for asset, available, locked in record.rows:
            rows[asset] = [available, locked, record.id, asset]
        engine.accounts[record.id] = AccountState(record.id, rows)
    ledger.deposited.update(snap.deposited)
    ledger.withdrawn.update(snap.withdrawn)

    specs: dict[str, MarketSpec] = {}
    for record in snap.markets:
        spec = record.spec
        base, quote = engine.assets[spec["base"]], engine.assets[spec["quote"]]
        market_spec = MarketSpec(
            symbol=spec["symbol"],
            base=base,
            quote=quote,
            status=MarketStatus(spec["status"]),
            **{
                k: Decimal(spec[k])
                for k in ("tick_size", "lot_size", "min_quantity", "min_notional", "maker_fee", "taker_fee")
            },
        )
        specs[market_spec.symbol] = market_spec
        state = MarketState(market_spec)
        state.status = record.status
        state.trade_seq = record.trade_seq
        state.trades.extend(tuple(t) for t in record.trades)
        engine.markets[market_spec.symbol] = state

    orders: dict[int, Order | OrderRecord] = {}
    rows_for: dict[tuple[str, str], tuple[list, list]] = {}
    for record in snap.orders:
        if record.status not in OPEN:
            orders[record.id] = record  # closed: stays an immutable record
            continue
        order = order_of(record)
        key = (record.account, record.market)
        pair = rows_for.get(key)
        if pair is None:
            spec = specs[record.market]
            pair = rows_for[key] = (
                ledger.row(record.account, spec.base.code),
                ledger.row(record.account, spec.quote.code),
            )
        order.base_balance, order.quote_balance = pair
        orders[record.id] = order

    for record in snap.markets:
        book = engine.markets[record.spec["symbol"]].book
        for order_id in record.bids + record.asks:  # queue order, best price first
            book.add(orders[order_id])
        book.sequence = record.book_sequence
    for order_id in sorted(i for m in engine.markets.values() for i in m.book.orders):
        order = orders[order_id]
        engine.open_orders[order_id] = order
        engine.accounts[order.account].open_orders[order_id] = order
    for record in snap.accounts:
        engine.accounts[record.id].client_orders.update((cid, orders[oid]) for cid, oid in record.client_orders)
    for order_id in snap.pending:
        order = orders[order_id]
        engine.pending_orders[order_id] = order
        engine.accounts[order.account].pending[order_id] = order
        engine.markets[order.market].pending.add(order)
    engine.next_list_id = snap.next_list_id
    for lst in snap.order_lists:
        lst = msgspec.msgpack.decode(msgspec.msgpack.encode(lst), type=OrderList)  # its own copy, never shared
        engine.order_lists[lst.id] = lst
        if lst.client_order_id is not None:
            engine.list_client_ids[lst.account, lst.client_order_id] = lst.id
        if lst.status == EXECUTING:
            engine.list_members.update((order_id, lst.id) for order_id in lst.order_ids)
    for market in engine.markets.values():
        market.pending.checked_trade = market.trade_seq  # after every command every trade has been followed
    engine.closed_orders = {order_id: orders[order_id] for order_id in snap.closed_orders}
    for account in engine.accounts.values():
        for order in account.client_orders.values():
            if type(order) is OrderRecord:
                engine.closed_with_client_id[order.id] = order
    return engine


def encode(snap: Snapshot) -> bytes:
    return _encoder.encode(snap)


def decode(data: bytes) -> Snapshot:
    snap = _decoder.decode(data)
    if snap.format != FORMAT:
        raise ValueError(f"snapshot format {snap.format} is not supported (this spotlab reads format {FORMAT})")
    return snap


def state_hash(engine: Engine) -> str:
    """SHA-256 (hex) of the canonical state, event sequence excluded."""
    snap = snapshot(engine)
    snap.seq = snap.last_ts = 0  # the log's position, not trading state: a rejection moves them
    return hashlib.sha256(encode(snap)).hexdigest()


def _as_record(order: Order | OrderRecord) -> OrderRecord:
    return record_of(order) if type(order) is Order else order
