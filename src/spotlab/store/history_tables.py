"""The history read model's tables (SQLAlchemy Core) and the conversions between rows and orders.

Invariants
- Every number is an integer in the engine's units: prices in ticks, quantities in
  lots, money in minor units, times in UTC nanoseconds. No float column exists.
- Every listing query (newest first, per account or market) has an index that serves
  both its filter and its order, so a page costs O(limit), not O(history).
- ``history_checkpoint`` holds one row: the sequence number of the last event applied
  and a digest of that event, written in the same transaction as the rows it covers.
- An order's row holds the fields of ``OrderRecord`` except ``hold`` and ``peak`` (the
  projection follows neither; records read back have them 0). The conditional fields
  (``stop_price``, ``parent_id``, ``list_id``, trailing) are NULL where they do not apply.
- A fill's id is ``2 x seq + role`` (role 0 maker, 1 taker) of its ``OrderFilled``
  event: unique, increasing with time, and distinct for the two sides of a self-trade.
- ``history_candles`` holds one row per (market, interval, open_time): candles are
  upserted (``upsert_candles``) as their trades arrive, in the batch's transaction.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from spotlab.core.orders import (
    OrderRecord,
    OrderStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from spotlab.marketdata.candles import Candle

metadata = sa.MetaData()
Int = sa.BigInteger


def _id(name: str) -> sa.Column:
    return sa.Column(name, Int, primary_key=True, autoincrement=False)


orders = sa.Table(
    "history_orders",
    metadata,
    _id("id"),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("market", sa.String(32), nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("time_in_force", sa.String(8), nullable=False),
    sa.Column("self_trade_prevention", sa.String(16), nullable=False),
    sa.Column("price", Int, nullable=False),
    sa.Column("quantity", Int, nullable=False),
    sa.Column("placed_quantity", Int, nullable=False),
    sa.Column("quote_quantity", Int, nullable=False),
    sa.Column("client_order_id", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("is_open", sa.Boolean, nullable=False),
    sa.Column("remaining", Int, nullable=False),
    sa.Column("filled", Int, nullable=False),
    sa.Column("filled_notional", Int, nullable=False),
    sa.Column("fees", Int, nullable=False),
    sa.Column("arrival_price", Int, nullable=False),
    sa.Column("created", Int, nullable=False),
    sa.Column("updated", Int, nullable=False),
    sa.Column("reason", sa.Text),
    # conditional orders (stop-loss, take-profit, trailing) and order lists; NULL where they do not apply
    sa.Column("stop_price", Int),
    sa.Column("parent_id", Int),
    sa.Column("list_id", Int),
    sa.Column("trailing_distance", Int),
    sa.Column("trailing_bps", Int),
    sa.Column("activation_price", Int),
    sa.Index("history_orders_by_account", "account", "id"),
    sa.Index("history_orders_by_market", "account", "market", "id"),
    sa.Index("history_orders_by_status", "account", "status", "id"),
    sa.Index("history_orders_open", "account", "is_open", "id"),
)

fills = sa.Table(
    "history_fills",
    metadata,
    _id("id"),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("market", sa.String(32), nullable=False),
    sa.Column("trade_id", Int, nullable=False),
    sa.Column("order_id", Int, nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("role", sa.String(5), nullable=False),
    sa.Column("price", Int, nullable=False),
    sa.Column("quantity", Int, nullable=False),
    sa.Column("notional", Int, nullable=False),
    sa.Column("fee", Int, nullable=False),
    sa.Column("ts", Int, nullable=False),
    sa.Index("history_fills_by_account", "account", "id"),
    sa.Index("history_fills_by_market", "account", "market", "id"),
)

trades = sa.Table(
    "history_trades",
    metadata,
    sa.Column("market", sa.String(32), primary_key=True),
    sa.Column("trade_id", Int, primary_key=True, autoincrement=False),
    sa.Column("seq", Int, nullable=False),
    sa.Column("ts", Int, nullable=False),
    sa.Column("price", Int, nullable=False),
    sa.Column("quantity", Int, nullable=False),
    sa.Column("notional", Int, nullable=False),
    sa.Column("taker_side", sa.String(4), nullable=False),
    sa.Index("history_trades_by_time", "ts"),
)

deposits = sa.Table(
    "history_deposits",
    metadata,
    _id("seq"),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("asset", sa.String(16), nullable=False),
    sa.Column("amount", Int, nullable=False),
    sa.Column("ts", Int, nullable=False),
    sa.Index("history_deposits_by_account", "account", "seq"),
)

withdrawals = sa.Table(
    "history_withdrawals",
    metadata,
    _id("seq"),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("asset", sa.String(16), nullable=False),
    sa.Column("amount", Int, nullable=False),
    sa.Column("fee", Int, nullable=False),
    sa.Column("address", sa.Text),
    sa.Column("ts", Int, nullable=False),
    sa.Index("history_withdrawals_by_account", "account", "seq"),
)

candles = sa.Table(
    "history_candles",
    metadata,
    sa.Column("market", sa.String(32), primary_key=True),
    sa.Column("interval", sa.String(4), primary_key=True),
    sa.Column("open_time", Int, primary_key=True, autoincrement=False),
    sa.Column("open", Int, nullable=False),
    sa.Column("high", Int, nullable=False),
    sa.Column("low", Int, nullable=False),
    sa.Column("close", Int, nullable=False),
    sa.Column("base_volume", Int, nullable=False),
    sa.Column("quote_volume", Int, nullable=False),
    sa.Column("trade_count", Int, nullable=False),
    sa.Column("closed", sa.Boolean, nullable=False),
)

#: The columns an upsert of a candle overwrites.
CANDLE_VALUES = ("open", "high", "low", "close", "base_volume", "quote_volume", "trade_count", "closed")

checkpoint = sa.Table(
    "history_checkpoint",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", Int, nullable=False),
    sa.Column("digest", sa.String(32), nullable=False),
)

#: Tables holding projected rows (everything but the checkpoint), for a rebuild.
PROJECTED = (orders, fills, trades, deposits, withdrawals, candles)

#: The order fields an event can change after placement: what ``order_update`` writes (a trailing
#: stop's ``stop_price`` is the one that triggered it). ``list_id`` is written by ``link_orders``.
ORDER_CHANGES = (
    "status", "is_open", "quantity", "remaining", "filled", "filled_notional", "fees", "updated", "reason",
    "stop_price",
)  # fmt: skip

#: The columns of an order's row added with conditional orders: a file without them is rebuilt.
CONDITIONAL_COLUMNS = ("stop_price", "parent_id", "list_id", "trailing_distance", "trailing_bps", "activation_price")


class BulkWriter:
    """Writes the projector's rows with the driver's bulk paths, bypassing SQLAlchemy's per-row work.

    For tens of thousands of rows a second SQLAlchemy's parameter processing costs more than
    the database, so the statements are generated once from the tables above (with the
    schema ``sql_engine`` maps them onto spelled out) and run on the driver: SQLite gets
    ``executemany``; PostgreSQL gets ``COPY`` for inserts, and a ``COPY`` into a temporary
    table plus one ``UPDATE ... FROM`` for the changed orders. Every call runs inside the
    caller's transaction.
    """

    def __init__(self, engine: sa.Engine) -> None:
        schema = engine.get_execution_options().get("schema_translate_map", {}).get(None)
        self._quote = quote = engine.dialect.identifier_preparer.quote
        self._prefix = f"{quote(schema)}." if schema else ""
        self._copy = engine.dialect.name == "postgresql"
        self._columns = {table: [c.name for c in table.columns] for table in PROJECTED}
        self._update_names = ("b_id", *ORDER_CHANGES)
        if self._copy:
            self._inserts = {table: self._copy_sql(self._name(table), names) for table, names in self._columns.items()}
            changes = ", ".join(f"{quote(n)} = c.{quote(n)}" for n in ORDER_CHANGES)
            self._update = (
                f"UPDATE {self._name(orders)} AS o SET {changes} FROM {_CHANGES_TABLE} AS c WHERE o.id = c.b_id"
            )
        else:
            self._inserts = {
                table: f"INSERT INTO {self._name(table)} ({', '.join(map(quote, names))}) "
                f"VALUES ({', '.join(':' + n for n in names)})"
                for table, names in self._columns.items()
            }
            changes = ", ".join(f"{quote(n)} = :{n}" for n in ORDER_CHANGES)
            self._update = f"UPDATE {self._name(orders)} SET {changes} WHERE id = :b_id"

    def insert(self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        if not self._copy:
            conn.exec_driver_sql(self._inserts[table], rows)
        else:
            self._copy_rows(conn, self._inserts[table], self._columns[table], rows)

    def update_orders(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        """Rows of ``order_update``."""
        if not self._copy:
            conn.exec_driver_sql(self._update, rows)
            return
        conn.exec_driver_sql(_CREATE_CHANGES_TABLE)
        self._copy_rows(conn, self._copy_sql(_CHANGES_TABLE, self._update_names), self._update_names, rows)
        conn.exec_driver_sql(self._update)

    def _name(self, table: sa.Table) -> str:
        return f"{self._prefix}{self._quote(table.name)}"

    def _copy_sql(self, name: str, columns: Any) -> str:
        return f"COPY {name} ({', '.join(map(self._quote, columns))}) FROM STDIN"

    @staticmethod
    def _copy_rows(conn: sa.Connection, sql: str, names: Any, rows: list[dict[str, Any]]) -> None:
        with conn.connection.driver_connection.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row([row[name] for name in names])


_CHANGES_TABLE = "history_order_changes"
_CREATE_CHANGES_TABLE = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_CHANGES_TABLE} (b_id bigint, status text, is_open boolean, "
    "quantity bigint, remaining bigint, filled bigint, filled_notional bigint, fees bigint, updated bigint, "
    "reason text, stop_price bigint) ON COMMIT DELETE ROWS"
)


def candle_row(c: Candle) -> dict[str, Any]:
    return {
        "market": c.market, "interval": c.interval, "open_time": c.open_time, "open": c.open, "high": c.high,
        "low": c.low, "close": c.close, "base_volume": c.base_volume, "quote_volume": c.quote_volume,
        "trade_count": c.trade_count, "closed": c.closed,
    }  # fmt: skip


def candle_of(r: Any) -> Candle:
    return Candle(
        r.market, r.interval, r.open_time, r.open, r.high, r.low, r.close, r.base_volume, r.quote_volume,
        r.trade_count, bool(r.closed),
    )  # fmt: skip


def upsert_candles(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert or overwrite candles by (market, interval, open_time), in the caller's transaction."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(candles)
    statement = statement.on_conflict_do_update(
        index_elements=[candles.c.market, candles.c.interval, candles.c.open_time],
        set_={name: statement.excluded[name] for name in CANDLE_VALUES},
    )
    conn.execute(statement, rows)


def order_row(order: Any) -> dict[str, Any]:
    """The row of an ``Order`` (or ``OrderRecord``)."""
    o = order
    return {
        "id": o.id, "account": o.account, "market": o.market, "side": str(o.side), "type": str(o.type),
        "time_in_force": str(o.time_in_force), "self_trade_prevention": str(o.self_trade_prevention),
        "price": o.price, "quantity": o.quantity, "placed_quantity": o.placed_quantity,
        "quote_quantity": o.quote_quantity, "client_order_id": o.client_order_id, "status": str(o.status),
        "is_open": o.is_open, "remaining": o.remaining, "filled": o.filled, "filled_notional": o.filled_notional,
        "fees": o.fees, "arrival_price": o.arrival_price, "created": o.created, "updated": o.updated,
        "reason": o.reason, "stop_price": o.stop_price or None, "parent_id": o.parent_id or None,
        "list_id": o.list_id or None, "trailing_distance": o.trailing_distance or None,
        "trailing_bps": o.trailing_bps or None, "activation_price": o.activation_price or None,
    }  # fmt: skip


def order_update(order: Any) -> dict[str, Any]:
    """The parameters of an UPDATE of an existing order's row (``b_id`` names the row)."""
    o = order
    return {
        "b_id": o.id, "status": str(o.status), "is_open": o.is_open, "quantity": o.quantity,
        "remaining": o.remaining, "filled": o.filled, "filled_notional": o.filled_notional, "fees": o.fees,
        "updated": o.updated, "reason": o.reason, "stop_price": o.stop_price or None,
    }  # fmt: skip


def link_orders(conn: sa.Connection, links: list[dict[str, Any]]) -> None:
    """Set ``list_id`` of the orders ``{"b_id": order id, "b_list": list id}`` (after their rows are written)."""
    statement = orders.update().where(orders.c.id == sa.bindparam("b_id")).values(list_id=sa.bindparam("b_list"))
    conn.execute(statement, links)


def order_record(row: Any) -> OrderRecord:
    """The ``OrderRecord`` of a row (``hold`` is not projected: 0)."""
    r = row
    return OrderRecord(
        r.id, r.account, r.market, Side(r.side), OrderType(r.type), TimeInForce(r.time_in_force),
        SelfTradePrevention(r.self_trade_prevention), r.price, r.quantity, r.placed_quantity, r.quote_quantity,
        r.client_order_id, OrderStatus(r.status), r.remaining, r.filled, r.filled_notional, r.fees, 0,
        r.arrival_price, r.created, r.updated, r.reason, r.stop_price or 0, r.parent_id or 0,
        r.trailing_distance or 0, r.trailing_bps or 0, r.activation_price or 0, 0, r.list_id or 0,
    )  # fmt: skip
