"""The backtester's venue wiring: the ladder quoted before the strategy trades, and order latency.

Both are ``Venue`` s wrapping a ``Venue`` (no ``if backtest:`` anywhere in the strategy or the exchange).

``QuotingVenue(venue, before, answered)`` calls ``before(market, side)`` ahead of every command that
can trade (``side`` is the order's, or None for order lists and re-quotes) and ahead of a read of the book (``side``
None), so the fill model can quote the market first: a strategy that reads the book sees the one
the bar implies around the last print, whatever points were skipped; ``answered(view)`` (optional)
gets each order placement's answer (each placed quote of a re-quote); everything else passes straight through.

``DelayedVenue(venue)`` is a ``Venue``: reads (balances, orders, market rules) go straight
through; commands (place, cancel, re-quote) are queued per market and return ``None``. The backtester
calls ``release(market)`` at that market's next open, after the open has printed; commands then
run in the order they were sent. A command the exchange refuses then is recorded in
``refusals`` as ``(time_ns, market, error)`` (there is no caller left to raise to).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spotlab.errors import SpotlabError
from spotlab.strategy.venue import Venue


class QuotingVenue:
    """A ``Venue`` that calls ``before(market, side)`` ahead of each order placement."""

    def __init__(
        self,
        venue: Venue,
        before: Callable[[str, str | None], None],
        answered: Callable[[Any], None] | None = None,
    ) -> None:
        self._venue = venue
        self._before = before
        self._answered = answered

    @property
    def account(self) -> str:
        return self._venue.account

    def place_order(self, market, side, type, price=None, quantity=None, **options):
        self._before(market, side)
        answer = self._venue.place_order(market, side, type, price, quantity, **options)
        if self._answered is not None:
            self._answered(answer)
        return answer

    def place_oco(self, market, quantity, take_profit_price, stop_price, **options):
        self._before(market, None)
        return self._venue.place_oco(market, quantity, take_profit_price, stop_price, **options)

    def place_bracket(self, market, quantity, entry_price, take_profit_price, stop_price, **options):
        self._before(market, None)
        return self._venue.place_bracket(market, quantity, entry_price, take_profit_price, stop_price, **options)

    def replace_quotes(self, market, quotes):
        self._before(market, None)
        answer = self._venue.replace_quotes(market, quotes)
        if self._answered is not None:
            for order in answer.placed:
                self._answered(order)
        return answer

    def order_book(self, market: str, depth: int = 10):
        self._before(market, None)
        return self._venue.order_book(market, depth)

    def __getattr__(self, name: str) -> Any:  # cancels and the other reads: straight through
        return getattr(self._venue, name)


class DelayedVenue:
    """A ``Venue`` whose commands reach the exchange at the market's next bar open."""

    def __init__(self, venue: Venue, now_ns: Callable[[], int]) -> None:
        self._venue = venue
        self._now_ns = now_ns
        self._queues: dict[str, list[Callable[[], Any]]] = {}
        self.refusals: list[tuple[int, str, SpotlabError]] = []

    @property
    def account(self) -> str:
        return self._venue.account

    def waiting(self, market: str) -> bool:
        return bool(self._queues.get(market))

    def release(self, market: str) -> None:
        queue = self._queues.pop(market, [])
        for command in queue:
            try:
                command()
            except SpotlabError as error:
                self.refusals.append((self._now_ns(), market, error))

    def _queue(self, market: str, command: Callable[[], Any]) -> None:
        self._queues.setdefault(market, []).append(command)

    # -- commands: queued ----------------------------------------------------------------------

    def place_order(self, market, side, type, price=None, quantity=None, **options) -> None:
        self._queue(market, lambda: self._venue.place_order(market, side, type, price, quantity, **options))

    def place_oco(self, market, quantity, take_profit_price, stop_price, **options) -> None:
        self._queue(market, lambda: self._venue.place_oco(market, quantity, take_profit_price, stop_price, **options))

    def place_bracket(self, market, quantity, entry_price, take_profit_price, stop_price, **options) -> None:
        self._queue(
            market,
            lambda: self._venue.place_bracket(market, quantity, entry_price, take_profit_price, stop_price, **options),
        )

    def cancel_order(self, order_id: int) -> None:
        market = self._venue.order(order_id).market
        self._queue(market, lambda: self._venue.cancel_order(order_id))

    def cancel_order_list(self, list_id: int) -> None:
        market = self._venue.order_list(list_id).market
        self._queue(market, lambda: self._venue.cancel_order_list(list_id))

    def cancel_all_orders(self, market: str) -> None:
        self._queue(market, lambda: self._venue.cancel_all_orders(market))

    def replace_quotes(self, market: str, quotes) -> None:
        quotes = list(quotes)  # as they were when sent
        self._queue(market, lambda: self._venue.replace_quotes(market, quotes))

    # -- reads: straight through ----------------------------------------------------------------

    def order(self, order_id: int):
        return self._venue.order(order_id)

    def order_list(self, list_id: int):
        return self._venue.order_list(list_id)

    def open_orders(self, market: str | None = None):
        return self._venue.open_orders(market)

    def conditional_orders(self, market: str | None = None):
        return self._venue.conditional_orders(market)

    def balances(self):
        return self._venue.balances()

    def order_book(self, market: str, depth: int = 10):
        return self._venue.order_book(market, depth)  # a read: answered now, not delayed

    def market_spec(self, market: str):
        return self._venue.market_spec(market)
