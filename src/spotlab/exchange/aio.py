"""``exchange.aio``: the exchange's commands as coroutines.

Invariants
- Each coroutine applies its command at once (in call order, like the blocking call) and
  then awaits durability without blocking the event loop; the answer comes only once the
  command's events are durable, exactly as for ``Exchange``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spotlab.core.engine import Outcome
from spotlab.exchange.views import OrderListView, OrderView

if TYPE_CHECKING:
    from spotlab.exchange.service import Exchange


class AsyncExchange:
    """``exchange.aio``: the commands as coroutines that await durability without blocking the loop."""

    def __init__(self, exchange: Exchange) -> None:
        self._exchange = exchange

    async def place_order(
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
    ) -> OrderView:
        ex = self._exchange
        return await ex._run_async(
            *ex._place_order(
                account, market, side, type, price, quantity, quote_quantity, time_in_force, client_order_id,
                self_trade_prevention, stop_price, trailing_distance, trailing_percent, activation_price,
            )
        )  # fmt: skip

    async def place_oco(
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
    ) -> OrderListView:
        ex = self._exchange
        return await ex._run_async(
            *ex._place_list(
                account, market, "oco", side, quantity, take_profit_price, stop_price, stop_limit_price, None,
                self_trade_prevention, client_order_id,
            )
        )  # fmt: skip

    async def place_bracket(
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
    ) -> OrderListView:
        ex = self._exchange
        return await ex._run_async(
            *ex._place_list(
                account, market, "bracket", side, quantity, take_profit_price, stop_price, stop_limit_price,
                entry_price, self_trade_prevention, client_order_id,
            )
        )  # fmt: skip

    async def cancel_order_list(self, account: str, list_id: int | str) -> OrderListView:
        return await self._exchange._run_async(*self._exchange._cancel_order_list(account, list_id))

    async def cancel_order(self, account: str, order_id: int | str) -> OrderView:
        return await self._exchange._run_async(*self._exchange._cancel_order(account, order_id))

    async def cancel_all_orders(self, account: str, market: str) -> list[OrderView]:
        return await self._exchange._run_async(*self._exchange._cancel_all_orders(account, market))

    async def reduce_order(self, account: str, order_id: int | str, quantity) -> OrderView:
        return await self._exchange._run_async(*self._exchange._reduce_order(account, order_id, quantity))

    async def execute(self, command: Any) -> Outcome:
        return await self._exchange._run_async(command, lambda outcome: outcome)
