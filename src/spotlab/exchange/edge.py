"""The edge: turning callers' ``Decimal``/string arguments into integer commands.

Invariants
- A float, NaN, an infinity, a bool or a non-number is refused (``INVALID_NUMBER``).
- Prices must sit on the tick, quantities on the lot, amounts on the asset's
  precision; anything else is refused with the nearest valid values, never rounded.
- Enumerations are matched case-insensitively; an unknown value is refused with
  the list of valid ones.
- Nothing here changes state: a refusal leaves the exchange as it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from spotlab.core.commands import PlaceOrder, Quote, ReplaceQuotes
from spotlab.core.markets import Asset, MarketSpec
from spotlab.core.orders import (
    CONDITIONAL_TYPES,
    DEFAULT_SELF_TRADE_PREVENTION,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from spotlab.core.units import parse_decimal, to_units
from spotlab.errors import ErrorCode, SpotlabError

E = TypeVar("E", bound=StrEnum)


_MEMBERS: dict[type, dict[str, StrEnum]] = {}  # an enumeration's members by their lower-case values


def choice(enum: type[E], value: object, field: str) -> E:
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        members = _MEMBERS.get(enum)
        if members is None:
            members = _MEMBERS[enum] = {member.value.lower(): member for member in enum}
        member = members.get(value.strip().lower())
        if member is not None:
            return member
    raise SpotlabError(
        ErrorCode.INVALID_ARGUMENT,
        f"{field} must be one of {', '.join(m.value for m in enum)}; got {value!r}",
        field=field,
    )


def positive(value: object, field: str) -> Decimal:
    number = parse_decimal(value, field)
    if number <= 0:
        raise SpotlabError(ErrorCode.INVALID_NUMBER, f"{field} must be positive, got {number}", field=field)
    return number


def price_ticks(spec: MarketSpec, value: object) -> int:
    return to_units(positive(value, "price"), spec.tick_size, "price", ErrorCode.PRICE_NOT_ON_TICK)


def quantity_lots(spec: MarketSpec, value: object, field: str = "quantity") -> int:
    return to_units(positive(value, field), spec.lot_size, field, ErrorCode.QUANTITY_NOT_ON_LOT)


def amount_units(asset: Asset, value: object, field: str = "amount") -> int:
    return to_units(positive(value, field), asset.unit, f"{field} ({asset.code})", ErrorCode.AMOUNT_NOT_ON_PRECISION)


def account_name(value: object) -> str:
    if not isinstance(value, str):
        raise SpotlabError(ErrorCode.UNKNOWN_ACCOUNT, f"an account id is a string, got {value!r}")
    return value


def order_id(value: object) -> int:
    if isinstance(value, bool):
        value = None
    if isinstance(value, str) and value.isdecimal():
        value = int(value)
    if not isinstance(value, int) or value <= 0:
        raise SpotlabError(ErrorCode.ORDER_NOT_FOUND, f"order ids are positive integers, got {value!r}")
    return value


def place_order_command(
    spec: MarketSpec,
    account: object,
    side: object,
    type: object,
    price: object,
    quantity: object,
    quote_quantity: object,
    time_in_force: object,
    client_order_id: object,
    self_trade_prevention: object,
    stop_price: object = None,
    trailing_distance: object = None,
    trailing_percent: object = None,
    activation_price: object = None,
) -> PlaceOrder:
    """Build a ``PlaceOrder`` for ``spec`` from a caller's arguments, or refuse them.

    Conditional types (``CONDITIONAL_TYPES``) need ``stop_price``; the plain ones (stop_loss,
    take_profit) take their arguments as the market order they become, the ``_limit`` ones as a limit.
    """
    order_side = choice(Side, side, "side")
    order_type = choice(OrderType, type, "type")
    trailing = order_type is OrderType.TRAILING_STOP
    if not trailing and (trailing_distance, trailing_percent, activation_price) != (None, None, None):
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"only trailing_stop orders take trailing_distance, trailing_percent or activation_price, not {order_type}",
        )
    if trailing:
        if (trailing_distance is None) == (trailing_percent is None):
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                "a trailing_stop takes exactly one of trailing_distance (a price distance, e.g. 500) or "
                "trailing_percent (of the best price, e.g. 1.5, in steps of 0.01)",
            )
        distance_ticks = price_ticks(spec, trailing_distance) if trailing_distance is not None else 0
        bps = to_units(positive(trailing_percent, "trailing_percent"), Decimal("0.01"), "trailing_percent",
                       ErrorCode.INVALID_NUMBER) if trailing_percent is not None else 0  # fmt: skip
        activation_ticks = price_ticks(spec, activation_price) if activation_price is not None else 0
        if stop_price is not None:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT, "a trailing_stop computes its stop price: give no stop_price"
            )
    else:
        distance_ticks = bps = activation_ticks = 0
    if not trailing and (stop_price is not None) != (order_type in CONDITIONAL_TYPES):
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"a {order_type} order needs a stop_price"
            if stop_price is None
            else f"only {', '.join(CONDITIONAL_TYPES)} orders take a stop_price, not {order_type}",
        )
    stop_ticks = price_ticks(spec, stop_price) if stop_price is not None else 0
    child_type = CONDITIONAL_TYPES.get(order_type, order_type)
    stp = (
        DEFAULT_SELF_TRADE_PREVENTION
        if self_trade_prevention is None
        else choice(SelfTradePrevention, self_trade_prevention, "self_trade_prevention")
    )
    if child_type is OrderType.MARKET:
        if time_in_force is not None and choice(TimeInForce, time_in_force, "time_in_force") is not TimeInForce.IOC:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"market orders are immediate (IOC); time_in_force={time_in_force!r} does not apply",
            )
        if price is not None:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "a market order takes no price; use type='limit'")
        if (quantity is None) == (quote_quantity is None):
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                "a market order takes exactly one of quantity (base, e.g. 0.1 BTC) or quote_quantity "
                "(quote amount, e.g. spend 100 USDT)",
            )
        tif = TimeInForce.IOC
        ticks = 0
    else:
        tif = TimeInForce.GTC if time_in_force is None else choice(TimeInForce, time_in_force, "time_in_force")
        if price is None:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"a {order_type} order needs a price")
        if quantity is None:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"a {order_type} order needs a quantity")
        if quote_quantity is not None:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "only market orders can be placed by quote_quantity")
        ticks = price_ticks(spec, price)
    lots = quantity_lots(spec, quantity) if quantity is not None else 0
    quote_units = amount_units(spec.quote, quote_quantity, "quote_quantity") if quote_quantity is not None else 0
    if client_order_id is not None and not isinstance(client_order_id, str):
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"client_order_id must be a string, got {client_order_id!r}")
    return PlaceOrder(
        account=account_name(account),
        market=spec.symbol,
        side=order_side,
        type=order_type,
        time_in_force=tif,
        self_trade_prevention=stp,
        price=ticks,
        quantity=lots,
        quote_quantity=quote_units,
        client_order_id=client_order_id,
        stop_price=stop_ticks,
        trailing_distance=distance_ticks,
        trailing_bps=bps,
        activation_price=activation_ticks,
    )


#: The most quotes one re-quote may rest: a ladder, not a book (each is a GTC limit order).
MAX_QUOTES = 100


def replace_quotes_command(spec: MarketSpec, account: object, quotes: Iterable[object]) -> ReplaceQuotes:
    """``ReplaceQuotes`` from ``(side, price, quantity)`` triples; refuses more than ``MAX_QUOTES``."""
    if isinstance(quotes, (str, bytes)) or not isinstance(quotes, Iterable):
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"quotes are (side, price, quantity) triples, got {quotes!r}")
    given = list(quotes)
    if len(given) > MAX_QUOTES:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT, f"at most {MAX_QUOTES} quotes at once, got {len(given)}", field="quotes"
        )
    built = []
    for number, quote in enumerate(given):
        side, price, quantity = quote_triple(number, quote)
        built.append(Quote(choice(Side, side, "side"), price_ticks(spec, price), quantity_lots(spec, quantity)))
    return ReplaceQuotes(account_name(account), spec.symbol, tuple(built))


def quote_triple(number: int, quote: object) -> tuple[object, object, object]:
    """Quote ``number`` of a re-quote as its ``(side, price, quantity)``; anything else is ``INVALID_ARGUMENT``."""
    if isinstance(quote, (str, bytes)) or not isinstance(quote, Iterable) or len(triple := tuple(quote)) != 3:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"quote {number} is not a (side, price, quantity) triple: {quote!r}",
            field="quotes",
        )
    return triple
