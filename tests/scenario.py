"""Order-book scenarios as readable text tables.

``book_table`` renders a market's resting orders (L3), asks above bids, best
prices nearest the middle, each line ``price  quantity  #order_id``::

    asks
      50010.00  0.20000  #4
      50000.00  0.10000  #2
    bids
      49990.00  0.30000  #1

Within one price, orders are listed in queue order (first to fill first).
"""

from __future__ import annotations

import textwrap

from spotlab import Exchange


def book_table(ex: Exchange, market: str) -> str:
    view = ex.order_book_orders(market)
    lines = ["asks"]
    # asks come best (lowest) first; show them highest first, keeping queue order within a price
    by_price: dict = {}
    for order in view.asks:
        by_price.setdefault(order.price, []).append(order)
    for price in sorted(by_price, reverse=True):
        lines += [f"  {o.price}  {o.quantity}  #{o.order_id}" for o in by_price[price]]
    lines.append("bids")
    lines += [f"  {o.price}  {o.quantity}  #{o.order_id}" for o in view.bids]
    return "\n".join(lines)


def assert_book(ex: Exchange, market: str, expected: str) -> None:
    want = [line.split() for line in textwrap.dedent(expected).strip().splitlines()]
    got = [line.split() for line in book_table(ex, market).splitlines()]
    assert got == want, f"book of {market}:\n{book_table(ex, market)}\n\nexpected:\n{textwrap.dedent(expected).strip()}"


def fills_of(order) -> list[tuple[str, str]]:
    """An order view's fills as (price, quantity) strings."""
    return [(str(f.price), str(f.quantity)) for f in order.fills]
