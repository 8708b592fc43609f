"""What one command did: its events, and the order(s) it concerned."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spotlab.core.events import Event
    from spotlab.core.orders import Order
    from spotlab.errors import SpotlabError


class Outcome:
    __slots__ = ("events", "order", "orders", "duplicate", "error")

    def __init__(
        self,
        events: list[Event],
        order: Order | None = None,
        orders: list[Order] | None = None,
        duplicate: bool = False,
        error: SpotlabError | None = None,
    ) -> None:
        self.events = events
        self.order = order
        self.orders = orders
        self.duplicate = duplicate
        self.error = error
