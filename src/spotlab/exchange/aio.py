"""``exchange.aio``: the exchange's commands for asyncio callers.

Each method applies its command when it is called (in call order, like the blocking call)
and returns an ``Applied``: awaiting it gives the answer once the command's events are
durable, exactly as the blocking call returns it, without blocking the event loop. A
refusal raises at the call, and changes nothing.

``Applied`` also lets a pipelining caller (WebSocket order entry) apply many commands and
answer each when it is durable without a task per command: ``applied.durable`` says whether
it may be answered now, ``exchange.durable_index`` up to where commands are durable, and
``exchange.wait_durable_async(index)`` waits for an index (a store failure raises
``STORE_UNAVAILABLE``, as awaiting does).

Invariants
- ``Applied.value`` is the answer; it is not to be shown to anyone before ``durable``
  (or the await) says its record is durable: a crash before then loses the command.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from spotlab.core.engine import Outcome
from spotlab.exchange.views import OrderListView, OrderView, QuotesView

if TYPE_CHECKING:
    from spotlab.exchange.service import Exchange

T = TypeVar("T")


class Applied(Generic[T]):
    """A command the exchange has applied: ``value`` is its answer, final once record ``index`` is durable.
    Await it for the value after durability."""

    __slots__ = ("_exchange", "index", "value")

    def __init__(self, exchange: Exchange, value: T, index: int) -> None:
        self._exchange = exchange
        self.value = value
        self.index = index

    @property
    def durable(self) -> bool:
        return self._exchange.durable_index >= self.index

    def __await__(self) -> Generator[Any, None, T]:
        if self._exchange.durable_index < self.index:
            yield from self._exchange.wait_durable_async(self.index).__await__()
        return self.value

    def __repr__(self) -> str:
        return f"Applied(index={self.index}, value={self.value!r})"


class AsyncExchange:
    """``exchange.aio``: the commands, applied at the call, awaited for durability without blocking the loop."""

    def __init__(self, exchange: Exchange) -> None:
        self._exchange = exchange

    def _applied(self, command: Any, shape) -> Applied:
        value, index = self._exchange._submit(command, shape)
        return Applied(self._exchange, value, index)

    def place_order(
        self,
        account,
        market,
        side,
        type,
        price=None,
        quantity=None,
        *,
        quote_quantity=None,
        time_in_force=None,
        client_order_id=None,
        self_trade_prevention=None,
        stop_price=None,
        trailing_distance=None,
        trailing_percent=None,
        activation_price=None,
    ) -> Applied[OrderView]:
        ex = self._exchange
        return self._applied(
            *ex._place_order(
                account, market, side, type, price, quantity, quote_quantity, time_in_force, client_order_id,
                self_trade_prevention, stop_price, trailing_distance, trailing_percent, activation_price,
            )
        )  # fmt: skip

    def place_oco(
        self,
        account,
        market,
        quantity,
        take_profit_price,
        stop_price,
        *,
        stop_limit_price=None,
        side="sell",
        self_trade_prevention=None,
        client_order_id=None,
    ) -> Applied[OrderListView]:
        ex = self._exchange
        return self._applied(
            *ex._place_list(
                account, market, "oco", side, quantity, take_profit_price, stop_price, stop_limit_price, None,
                self_trade_prevention, client_order_id,
            )
        )  # fmt: skip

    def place_bracket(
        self,
        account,
        market,
        quantity,
        entry_price,
        take_profit_price,
        stop_price,
        *,
        stop_limit_price=None,
        side="buy",
        self_trade_prevention=None,
        client_order_id=None,
    ) -> Applied[OrderListView]:
        ex = self._exchange
        return self._applied(
            *ex._place_list(
                account, market, "bracket", side, quantity, take_profit_price, stop_price, stop_limit_price,
                entry_price, self_trade_prevention, client_order_id,
            )
        )  # fmt: skip

    def cancel_order_list(self, account: str, list_id: int | str) -> Applied[OrderListView]:
        return self._applied(*self._exchange._cancel_order_list(account, list_id))

    def cancel_order(self, account: str, order_id: int | str) -> Applied[OrderView]:
        return self._applied(*self._exchange._cancel_order(account, order_id))

    def cancel_all_orders(self, account: str, market: str) -> Applied[list[OrderView]]:
        return self._applied(*self._exchange._cancel_all_orders(account, market))

    def reduce_order(self, account: str, order_id: int | str, quantity) -> Applied[OrderView]:
        return self._applied(*self._exchange._reduce_order(account, order_id, quantity))

    def replace_quotes(self, account: str, market: str, quotes) -> Applied[QuotesView]:
        return self._applied(*self._exchange._replace_quotes(account, market, quotes))

    def execute(self, command: Any) -> Applied[Outcome]:
        return self._applied(command, lambda outcome: outcome)
