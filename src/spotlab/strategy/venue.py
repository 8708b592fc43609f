"""Where a strategy's orders go: the ``Venue`` protocol and its in-process form ``ExchangeVenue``.

A strategy never talks to an exchange directly. Backtest, paper trading and live trading differ
only in the venue (and the clock) they are wired to, never in ``if backtest:`` branches.

Invariants
- A venue acts for ONE account, fixed when it is built: a strategy cannot name another account.
- The protocol holds only what the REST API offers too (orders, order lists, cancels, re-quotes, the
  account's balances and orders, market rules, a market's aggregated book), so ``HttpVenue``
  fits it unchanged.
- Refusals are the exchange's own ``SpotlabError`` s, raised to the caller unchanged.
- Amounts and prices are ``Decimal`` (or ``int``/``str``); answers are the exchange's views.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from spotlab.core.markets import MarketSpec
from spotlab.exchange.service import Exchange
from spotlab.exchange.views import Balance, BookView, OrderListView, OrderView, QuotesView

Amount = Decimal | int | str


@runtime_checkable
class Venue(Protocol):
    """The order interface every client has, bound to one account."""

    @property
    def account(self) -> str: ...

    def place_order(
        self,
        market: str,
        side: str,
        type: str,
        price: Amount | None = None,
        quantity: Amount | None = None,
        **options: Any,
    ) -> OrderView:
        """``options``: quote_quantity, time_in_force, client_order_id, self_trade_prevention,
        stop_price, trailing_distance, trailing_percent, activation_price (as ``Exchange.place_order``)."""

    def place_oco(
        self, market: str, quantity: Amount, take_profit_price: Amount, stop_price: Amount, **options: Any
    ) -> OrderListView: ...

    def place_bracket(
        self,
        market: str,
        quantity: Amount,
        entry_price: Amount,
        take_profit_price: Amount,
        stop_price: Amount,
        **options: Any,
    ) -> OrderListView: ...

    def cancel_order(self, order_id: int) -> OrderView: ...

    def cancel_order_list(self, list_id: int) -> OrderListView: ...

    def cancel_all_orders(self, market: str) -> list[OrderView]: ...

    def replace_quotes(self, market: str, quotes: Iterable[tuple[str, Amount, Amount]]) -> QuotesView:
        """Cancel the account's resting orders in ``market`` and rest ``quotes`` (``(side, price, quantity)``, GTC
        limit orders) in their place, in one step, all or nothing (as ``Exchange.replace_quotes``)."""

    def order(self, order_id: int) -> OrderView: ...

    def order_list(self, list_id: int) -> OrderListView: ...

    def open_orders(self, market: str | None = None) -> list[OrderView]: ...

    def conditional_orders(self, market: str | None = None) -> list[OrderView]: ...

    def balances(self) -> dict[str, Balance]: ...

    def market_spec(self, market: str) -> MarketSpec: ...

    def order_book(self, market: str, depth: int = 10) -> BookView:
        """The market's aggregated depth, ``depth`` levels a side, best first (public: any account sees it)."""


class ExchangeVenue:
    """A ``Venue`` over an in-process ``Exchange`` (backtests now; paper trading on the simulated market)."""

    __slots__ = ("_exchange", "_account")

    def __init__(self, exchange: Exchange, account: str) -> None:
        self._exchange = exchange
        self._account = account

    @property
    def account(self) -> str:
        return self._account

    def place_order(self, market, side, type, price=None, quantity=None, **options) -> OrderView:
        return self._exchange.place_order(self._account, market, side, type, price, quantity, **options)

    def place_oco(self, market, quantity, take_profit_price, stop_price, **options) -> OrderListView:
        return self._exchange.place_oco(self._account, market, quantity, take_profit_price, stop_price, **options)

    def place_bracket(self, market, quantity, entry_price, take_profit_price, stop_price, **options):
        return self._exchange.place_bracket(
            self._account, market, quantity, entry_price, take_profit_price, stop_price, **options
        )

    def cancel_order(self, order_id: int) -> OrderView:
        return self._exchange.cancel_order(self._account, order_id)

    def cancel_order_list(self, list_id: int) -> OrderListView:
        return self._exchange.cancel_order_list(self._account, list_id)

    def cancel_all_orders(self, market: str) -> list[OrderView]:
        return self._exchange.cancel_all_orders(self._account, market)

    def replace_quotes(self, market: str, quotes) -> QuotesView:
        return self._exchange.replace_quotes(self._account, market, quotes)

    def order(self, order_id: int) -> OrderView:
        return self._exchange.order(self._account, order_id)

    def order_list(self, list_id: int) -> OrderListView:
        return self._exchange.order_list(self._account, list_id)

    def open_orders(self, market: str | None = None) -> list[OrderView]:
        return self._exchange.open_orders(self._account, market)

    def conditional_orders(self, market: str | None = None) -> list[OrderView]:
        return self._exchange.conditional_orders(self._account, market)

    def balances(self) -> dict[str, Balance]:
        return self._exchange.balances(self._account)

    def market_spec(self, market: str) -> MarketSpec:
        return self._exchange.market_spec(market)

    def order_book(self, market: str, depth: int = 10) -> BookView:
        return self._exchange.order_book(market, depth)

    def __repr__(self) -> str:
        return f"ExchangeVenue({self._exchange!r}, account={self._account!r})"
