"""Shadow L2 order books kept from the durable event log: snapshots and gap-detectable diffs.

Invariants
- Integers inside: prices in ticks, quantities in lots; ``Decimal`` strings only in
  the messages (``snapshot_message``, ``diff_message``), never floats.
- A ``ShadowBook`` starts from ``exchange.resting_orders(market)`` (the engine's book
  as of event ``S``) and applies only events with ``seq > S``. Since the engine
  takes that picture between two commands, this skips whole records.
- It applies one whole log record at a time: a new order that will rest is held
  aside until the end of its record (its fills and expiry are known by then), so
  the book never passes through a state the engine never showed (a crossed taker).
  After each record it equals the engine's book after that record: the same
  orders with the same remaining quantities, the same level totals.
- A level exists only with a positive total; a level that reaches 0 is deleted.
- Messages chain: every book message carries ``sequence``; a diff also carries
  ``previous_sequence``, the ``sequence`` of the book's previous message. A diff is
  made (``ShadowBook.flush``) only when some level's total differs from what it was
  at the last message; it lists only those levels, with their new absolute total
  ("0": the level is gone), best first, and its ``sequence`` is the seq of the
  last event of that market it reflects. Between two messages the L2 state did not
  change, so a snapshot taken between batches carries the last message's
  ``sequence`` and the next diff follows it. A client holding sequence ``S``
  applies a diff iff ``previous_sequence == S``; anything else is a gap: it
  subscribes again for a fresh snapshot.
- Not thread-safe: one thread (the asyncio loop's) applies records and takes
  snapshots; ``snapshot`` must be taken between batches (after ``flush``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sortedcontainers import SortedDict

from spotlab.core.events import (
    MarketListed,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPlaced,
    OrderReduced,
)
from spotlab.core.markets import MarketSpec
from spotlab.core.orders import OrderType, TimeInForce
from spotlab.store.records import LogRecord

if TYPE_CHECKING:
    from spotlab.exchange.service import Exchange

BUY = "buy"  # Side.BUY is a StrEnum equal to this, and resting_orders gives the plain string

Level = tuple[int, int]  # (price in ticks, total in lots)


def channel_market(symbol: str) -> str:
    """How a market is written in channel names and messages: ``BTC/USDT`` -> ``BTC-USDT``."""
    return symbol.replace("/", "-")


def decimal_text(value: Decimal) -> str:
    """A ``Decimal`` as plain digits (never exponent notation): the form money takes in messages."""
    return format(value, "f")


@dataclass(frozen=True, slots=True)
class BookChange:
    """The levels of one market that changed over a batch, with their new totals (0 = gone), best first."""

    market: str
    previous_sequence: int
    sequence: int
    bids: list[Level]
    asks: list[Level]


class ShadowBook:
    """One market's book as integers: order id -> [side, price, remaining], price -> level total."""

    __slots__ = ("market", "sequence", "applied", "orders", "bids", "asks", "_pending", "_before")

    def __init__(self, market: str, sequence: int, resting: list[tuple[int, str, int, int]] = ()) -> None:
        self.market = market
        self.sequence = sequence  # the sequence of the last message (snapshot or diff) this book stands for
        self.applied = sequence  # the seq of the last event applied
        self.orders: dict[int, list] = {}
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self._pending: dict[int, list] = {}  # orders placed in the current record that may rest at its end
        self._before: dict[tuple[str, int], int] = {}  # (side, price) -> total at the last message
        for order_id, side, price, remaining in resting:
            self._rest(order_id, side, price, remaining)
        self._before.clear()

    # -- applying events --------------------------------------------------------------

    def on_order_placed(self, event: OrderPlaced) -> None:
        if event.type is not OrderType.MARKET and event.time_in_force is TimeInForce.GTC:
            self._pending[event.order_id] = [event.side, event.price, event.quantity]

    def on_order_filled(self, event: OrderFilled) -> None:
        maker = self.orders.get(event.maker_order_id)
        if maker is not None:
            self._take(event.maker_order_id, maker, event.quantity)
        taker = self._pending.get(event.taker_order_id)
        if taker is not None:
            taker[2] -= event.quantity

    def on_order_closed(self, event: OrderCanceled | OrderExpired) -> None:
        order = self.orders.get(event.order_id)
        if order is not None:
            self._take(event.order_id, order, order[2])
        else:
            self._pending.pop(event.order_id, None)

    def on_order_reduced(self, event: OrderReduced) -> None:
        order = self.orders.get(event.order_id)
        if order is not None:
            self._take(event.order_id, order, order[2] - event.remaining)

    def end_record(self) -> None:
        """Rest what the record's new GTC orders have left: the engine rested exactly these."""
        for order_id, (side, price, remaining) in self._pending.items():
            if remaining > 0:
                self._rest(order_id, side, price, remaining)
        self._pending.clear()

    def _rest(self, order_id: int, side: str, price: int, lots: int) -> None:
        self.orders[order_id] = [side, price, lots]
        self._change(side, price, lots)

    def _take(self, order_id: int, order: list, lots: int) -> None:
        order[2] -= lots
        if order[2] == 0:
            del self.orders[order_id]
        self._change(order[0], order[1], -lots)

    def _change(self, side: str, price: int, delta: int) -> None:
        levels = self.bids if side == BUY else self.asks
        total = levels.get(price, 0)
        self._before.setdefault((side, price), total)
        total += delta
        if total:
            levels[price] = total
        else:
            del levels[price]

    # -- reading ----------------------------------------------------------------------

    def flush(self) -> BookChange | None:
        """The diff since the last message, or ``None`` if no level's total changed; starts a new batch."""
        before, self._before = self._before, {}
        bids = [
            (p, self.bids.get(p, 0)) for (s, p), total in before.items() if s == BUY and self.bids.get(p, 0) != total
        ]
        asks = [
            (p, self.asks.get(p, 0)) for (s, p), total in before.items() if s != BUY and self.asks.get(p, 0) != total
        ]
        if not bids and not asks:
            return None
        bids.sort(reverse=True)
        asks.sort()
        change = BookChange(self.market, self.sequence, self.applied, bids, asks)
        self.sequence = self.applied
        return change

    def levels(self) -> tuple[list[Level], list[Level]]:
        """``(bids, asks)``, every level, best first."""
        if self._before:
            raise RuntimeError(f"{self.market}: a snapshot needs a flushed book (call flush() after each batch)")
        return list(reversed(self.bids.items())), list(self.asks.items())

    def best_bid(self) -> Level | None:
        return self.bids.peekitem(-1) if self.bids else None

    def best_ask(self) -> Level | None:
        return self.asks.peekitem(0) if self.asks else None


_HANDLERS = {
    OrderPlaced: ShadowBook.on_order_placed,
    OrderFilled: ShadowBook.on_order_filled,
    OrderCanceled: ShadowBook.on_order_closed,
    OrderExpired: ShadowBook.on_order_closed,
    OrderReduced: ShadowBook.on_order_reduced,
}


class BookStream:
    """Every market's ``ShadowBook``, fed with durable log records.

    Start it (``BookStream.open``) only after subscribing to the exchange's records, so
    that no record newer than a market's starting picture can be missed.
    """

    def __init__(self, books: dict[str, ShadowBook]) -> None:
        self.books = books

    @classmethod
    def open(cls, exchange: Exchange) -> BookStream:
        """Books for every market of ``exchange`` as they are now (``Exchange.resting_orders``)."""
        books = {}
        for market in exchange.markets():
            sequence, resting = exchange.resting_orders(market.symbol)
            books[market.symbol] = ShadowBook(market.symbol, sequence, resting)
        return cls(books)

    def apply(self, records: list[LogRecord]) -> list[BookChange]:
        """Apply ``records`` (a delivered batch) record by record; the diffs, at most one per market."""
        touched: dict[str, ShadowBook] = {}
        for record in records:
            self.apply_record(record, touched)
        changes = []
        for book in touched.values():
            change = book.flush()
            if change is not None:
                changes.append(change)
        return changes

    def apply_record(self, record: LogRecord, touched: dict[str, ShadowBook]) -> None:
        """Apply one whole record; the books it touched are added to ``touched`` (by market)."""
        books = self.books
        in_record: list[ShadowBook] = []  # a record is one command: almost always one market
        for event in record.events:
            handler = _HANDLERS.get(type(event))
            if handler is None:
                if type(event) is MarketListed and event.market not in books:
                    books[event.market] = ShadowBook(event.market, event.seq)
                continue
            book = books.get(event.market)
            if book is None or event.seq <= book.applied:
                continue
            handler(book, event)
            book.applied = event.seq
            if book not in in_record:
                in_record.append(book)
                touched[book.market] = book
        for book in in_record:
            book.end_record()


# -- messages ------------------------------------------------------------------------------


def book_channel(symbol: str) -> str:
    return f"book:{channel_market(symbol)}"


def snapshot_message(book: ShadowBook, spec: MarketSpec) -> dict[str, Any]:
    """The whole book as a message: every level, best first, at the book's current ``sequence``."""
    bids, asks = book.levels()
    return {
        "type": "snapshot",
        "channel": book_channel(book.market),
        "market": channel_market(book.market),
        "sequence": book.sequence,
        "bids": _levels(bids, spec),
        "asks": _levels(asks, spec),
    }


def diff_message(change: BookChange, spec: MarketSpec) -> dict[str, Any]:
    """The changed levels as a message; apply it only if ``previous_sequence`` is the sequence you hold."""
    return {
        "type": "update",
        "channel": book_channel(change.market),
        "market": channel_market(change.market),
        "sequence": change.sequence,
        "previous_sequence": change.previous_sequence,
        "bids": _levels(change.bids, spec),
        "asks": _levels(change.asks, spec),
    }


def _levels(levels: list[Level], spec: MarketSpec) -> list[list[str]]:
    return [
        [decimal_text(spec.price(price)), decimal_text(spec.quantity(lots)) if lots else "0"] for price, lots in levels
    ]
