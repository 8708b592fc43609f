"""Position sizing: the largest quantity whose loss from entry to stop, fees included, fits a risk budget.

Rules
- The budget is ``floor(equity * risk_percent / 100)`` in the quote asset's minor units.
- The loss of ``k`` lots between ``entry`` and ``stop`` (both on the market's tick) is the
  price move ``k * |entry - stop|`` plus the taker fee on both legs (entry notional and
  stop notional), counted exactly, i.e. without the exchange's rounding down of each
  fill's fee: the calculator never under-states a loss, by at most 2 minor units.
- The quantity is the largest whole number of lots whose loss is within the budget.
  A long position (``stop < entry``: buy, then sell at the stop) is also capped by
  what ``equity`` can pay for (notional plus fee: spot never borrows); ``limited_by``
  says which cap decided. A short exit (``stop > entry``: sell held base, buy back at
  the stop) is not capped by equity: the base it sells is not counted here.
- A result below the market's minimum quantity or minimum notional is refused
  (``BELOW_MIN_QUANTITY`` / ``BELOW_MIN_NOTIONAL``, with the figures); so is
  ``entry == stop`` (``INVALID_ARGUMENT``: the risk per unit would be only fees).

Known limitation: a stop that triggers in a gap fills at what the book offers, so the
realised loss can exceed the figure here; the calculator prices the stop exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from spotlab.core.markets import FEE_SCALE, MarketSpec
from spotlab.core.units import parse_decimal, to_units
from spotlab.errors import ErrorCode, SpotlabError

DEFAULT_RISK_PERCENT = Decimal(1)


@dataclass(frozen=True, slots=True)
class PositionSize:
    """The calculator's answer; money in the market's quote asset."""

    market: str
    side: str  # "buy" (stop below entry) or "sell" (stop above entry)
    quantity: Decimal
    notional: Decimal  # quantity x entry
    risk_budget: Decimal  # equity x risk percent, rounded down to the quote's minor unit
    loss_at_stop: Decimal  # price move + entry fee + stop fee for ``quantity``
    fees: Decimal  # both legs' taker fees for ``quantity``
    limited_by: str  # "risk" or "equity"


def risk_budget_units(equity_units: int, risk_percent: Decimal) -> int:
    """``floor(equity * risk_percent / 100)`` in minor units, exactly."""
    numerator, denominator = risk_percent.as_integer_ratio()
    return equity_units * numerator // (denominator * 100)


def position_size(
    spec: MarketSpec,
    equity: Decimal | int | str,
    entry: Decimal | int | str,
    stop: Decimal | int | str,
    risk_percent: Decimal | int | str = DEFAULT_RISK_PERCENT,
) -> PositionSize:
    """The largest quantity on ``spec``'s lot risking at most ``risk_percent`` of ``equity`` entry to stop."""
    equity_d = parse_decimal(equity, "equity")
    percent = parse_decimal(risk_percent, "risk_percent")
    if equity_d <= 0:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"equity must be positive, got {equity_d}", equity=str(equity_d))
    if not Decimal(0) < percent <= Decimal(100):
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"risk_percent must be above 0 and at most 100, got {percent}",
            risk_percent=str(percent),
        )
    entry_t = _ticks(spec, entry, "entry")
    stop_t = _ticks(spec, stop, "stop")
    if entry_t == stop_t:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"entry and stop are both {spec.price(entry_t)}: a stop must be at least one tick ({spec.tick_size}) away",
            entry=str(spec.price(entry_t)),
            stop=str(spec.price(stop_t)),
        )
    equity_units = to_units(equity_d, spec.quote.unit, "equity", ErrorCode.AMOUNT_NOT_ON_PRECISION)
    budget = risk_budget_units(equity_units, percent)
    nu, rate = spec.notional_unit, spec.taker_rate
    # per lot, in quote minor units x FEE_SCALE: the move plus both legs' exact fees
    per_lot = abs(entry_t - stop_t) * nu * FEE_SCALE + (entry_t + stop_t) * nu * rate
    lots = budget * FEE_SCALE // per_lot
    limited_by = "risk"
    if stop_t < entry_t:
        cost_per_lot = entry_t * nu * (FEE_SCALE + rate)  # notional + fee, x FEE_SCALE
        affordable = equity_units * FEE_SCALE // cost_per_lot
        if affordable < lots:
            lots, limited_by = affordable, "equity"
    notional = lots * entry_t * nu
    quote = spec.quote
    figures = {
        "quantity": str(spec.quantity(lots)),
        "notional": str(quote.to_decimal(notional)),
        "min_quantity": str(spec.min_quantity),
        "min_notional": str(spec.min_notional),
        "risk_budget": str(quote.to_decimal(budget)),
        "limited_by": limited_by,
    }
    if lots < spec.min_lots:
        raise SpotlabError(
            ErrorCode.BELOW_MIN_QUANTITY,
            f"risking {percent} % of {equity_d} {quote.code} ({quote.to_decimal(budget)}) from {spec.price(entry_t)} "
            f"to {spec.price(stop_t)} allows {spec.quantity(lots)} {spec.base.code} (capped by {limited_by}), below "
            f"{spec.symbol}'s minimum quantity {spec.min_quantity}: widen the budget or tighten the stop",
            **figures,
        )
    if notional < spec.min_notional_units:
        raise SpotlabError(
            ErrorCode.BELOW_MIN_NOTIONAL,
            f"risking {percent} % of {equity_d} {quote.code} allows {spec.quantity(lots)} {spec.base.code} worth "
            f"{quote.to_decimal(notional)} {quote.code} at {spec.price(entry_t)}, below {spec.symbol}'s minimum "
            f"notional {spec.min_notional}",
            **figures,
        )
    fees_scaled = lots * (entry_t + stop_t) * nu * rate
    return PositionSize(
        market=spec.symbol,
        side="buy" if stop_t < entry_t else "sell",
        quantity=spec.quantity(lots),
        notional=quote.to_decimal(notional),
        risk_budget=quote.to_decimal(budget),
        loss_at_stop=_scaled(lots * per_lot, spec),
        fees=_scaled(fees_scaled, spec),
        limited_by=limited_by,
    )


def _ticks(spec: MarketSpec, value: object, field: str) -> int:
    number = parse_decimal(value, field)
    if number <= 0:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{field} must be a positive price, got {number}", field=field)
    return to_units(number, spec.tick_size, field, ErrorCode.PRICE_NOT_ON_TICK)


def _scaled(units_times_fee_scale: int, spec: MarketSpec) -> Decimal:
    """Quote minor units x FEE_SCALE as an exact Decimal amount of the quote asset."""
    amount = (Decimal(units_times_fee_scale).scaleb(-8) * spec.quote.unit).normalize()
    return amount.quantize(Decimal(1)) if amount.as_tuple().exponent > 0 else amount
