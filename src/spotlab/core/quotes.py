"""Replacing an account's quotes in one market in one step: the ``ReplaceQuotes`` handler.

A market maker re-quotes often: cancel what rests, rest a new ladder. ``ReplaceQuotes`` does that
as one command (one log record, one durable write), as exchanges offer market makers a mass quote.

Invariants (on top of ``spotlab.core.engine``'s)
- It is ``CancelAllOrders`` followed by one GTC limit ``PlaceOrder`` per quote, in the quotes' order,
  with the default self-trade prevention and no client order id: the same events (the cancels give
  ``CancelAllOrders``' reason) and the same state as those commands at the same time.
  A quote that crosses the book trades as that order would (it takes liquidity, at the resting prices).
- All or nothing: before anything changes it refuses (raises, no event) a quote that is not a valid
  limit order for the market, a halted market (``MARKET_HALTED``), an account with conditional orders or
  order lists in the market (``INVALID_ARGUMENT``: those are canceled on their own, with their own rules),
  and quotes whose holds together exceed what the account has available once its resting orders there
  are canceled (``INSUFFICIENT_FUNDS``). After those checks no placement can be refused: a quote's hold
  covers whatever it pays when it trades, so each later quote still finds its own hold available.
- Conditional orders the quotes' trades trigger run after the last quote (``Engine.apply``).
- ``Outcome.orders``: the canceled orders, then the placed ones (the last ``len(quotes)``, in the quotes' order).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spotlab.core import placement
from spotlab.core.commands import PlaceOrder, ReplaceQuotes
from spotlab.core.events import Event
from spotlab.core.fees import buy_hold
from spotlab.core.markets import MarketStatus
from spotlab.core.orders import (
    CANCEL_ALL_REASON,
    DEFAULT_SELF_TRADE_PREVENTION,
    Order,
    OrderType,
    Side,
    TimeInForce,
)
from spotlab.core.outcome import Outcome
from spotlab.errors import ErrorCode, SpotlabError

if TYPE_CHECKING:
    from spotlab.core.engine import Engine


def replace_quotes(engine: Engine, command: ReplaceQuotes, ts: int) -> Outcome:
    """Apply ``command`` at ``ts`` (see the module docstring)."""
    account = engine.account(command.account)
    market = engine.market(command.market)
    spec = market.spec
    orders = [
        PlaceOrder(
            account.id, spec.symbol, quote.side, OrderType.LIMIT, TimeInForce.GTC, DEFAULT_SELF_TRADE_PREVENTION,
            quote.price, quote.quantity,
        )
        for quote in command.quotes
    ]  # fmt: skip
    for order in orders:
        if type(order.side) is not Side:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"a quote's side is buy or sell, got {order.side!r}")
        placement.validate(order, spec)
    if market.status is not MarketStatus.TRADING:
        raise SpotlabError(ErrorCode.MARKET_HALTED, f"{spec.symbol} is halted; only cancels are accepted")
    symbol = spec.symbol
    if any(o.market == symbol for o in account.pending.values()) or any(
        o.market == symbol and o.id in engine.list_members for o in account.open_orders.values()
    ):
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"account {account.id!r} has conditional orders or order lists in {symbol}; cancel them before "
            "replacing its quotes",
        )
    resting = [o for o in account.open_orders.values() if o.market == symbol]
    _check_funds(account, spec, resting, orders)

    events: list[Event] = []
    for order in resting:
        engine.cancel_resting(order, ts, CANCEL_ALL_REASON, events)
    placed: list[Order] = []
    for order in orders:
        outcome = placement.place_order(engine, order, ts)
        if outcome.error is not None:  # the checks above rule it out; never leave half a re-quote unexplained
            raise AssertionError(f"a checked quote was refused: {outcome.error}")
        events.extend(outcome.events)
        placed.append(outcome.order)
    return Outcome(events, orders=[*resting, *placed])


def _check_funds(account, spec, resting: list[Order], orders: list[PlaceOrder]) -> None:
    """Refuse quotes whose holds together exceed what is available once ``resting`` is canceled."""
    nu, rate = spec.notional_unit, spec.max_rate
    needs = {
        spec.quote: sum(buy_hold(o.price, o.quantity, nu, rate) for o in orders if o.side is Side.BUY),
        spec.base: sum(o.quantity * spec.lot_units for o in orders if o.side is Side.SELL),
    }
    for asset, needed in needs.items():
        if not needed:
            continue
        row = account.rows.get(asset.code)
        freed = sum(o.hold for o in resting if (o.side is Side.BUY) == (asset is spec.quote))
        available = (row[0] if row is not None else 0) + freed
        if needed > available:
            raise SpotlabError(
                ErrorCode.INSUFFICIENT_FUNDS,
                f"these quotes need {asset.to_decimal(needed)} {asset.code} (fees included) but "
                f"{asset.to_decimal(available)} is available with the account's resting orders in {spec.symbol} "
                "canceled",
                needed=str(asset.to_decimal(needed)),
                available=str(asset.to_decimal(available)),
                asset=asset.code,
            )
