"""A risk profile: an account's limits, as a frozen value validated at construction.

Invariants
- Every limit is optional (``None``: off) except ``risk_per_trade_percent`` (default 1 %),
  which only feeds the position-size calculator. A profile with every guard off is
  ``active() == False`` and costs an order nothing.
- Percentages are ``Decimal`` in ``(0, 100]``; amounts are ``Decimal`` in ``currency``
  (the valuation currency of equity, exposure and the daily loss); counts are
  positive integers. Floats are refused (``INVALID_NUMBER``); anything else out of
  range is ``INVALID_ARGUMENT`` naming the field.
- ``max_daily_loss`` and ``max_daily_loss_percent`` are alternatives: at most one is set.
- ``require_stop_loss`` is a guard too (see ``spotlab.risk.guards``): with it on, buys
  must come as brackets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from typing import Any

from spotlab.core.units import parse_decimal
from spotlab.errors import ErrorCode, SpotlabError

DEFAULT_COOLDOWN_MINUTES = 60


@dataclass(frozen=True, slots=True)
class RiskProfile:
    risk_per_trade_percent: Decimal = Decimal(1)
    currency: str = "USDT"
    max_daily_loss: Decimal | None = None
    max_daily_loss_percent: Decimal | None = None
    max_trades_per_day: int | None = None
    cooldown_after_losses: int | None = None
    cooldown_minutes: int = DEFAULT_COOLDOWN_MINUTES
    max_exposure_percent: Decimal | None = None
    require_stop_loss: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "risk_per_trade_percent", _percent(self.risk_per_trade_percent, "risk_per_trade_percent"))
        for name in ("max_daily_loss_percent", "max_exposure_percent"):
            if getattr(self, name) is not None:
                set_(self, name, _percent(getattr(self, name), name))
        if self.max_daily_loss is not None:
            amount = parse_decimal(self.max_daily_loss, "max_daily_loss")
            if amount <= 0:
                raise _bad("max_daily_loss", f"must be a positive amount of {self.currency}, got {amount}")
            set_(self, "max_daily_loss", amount)
        if self.max_daily_loss is not None and self.max_daily_loss_percent is not None:
            raise _bad("max_daily_loss", "set max_daily_loss (an amount) or max_daily_loss_percent, not both")
        for name in ("max_trades_per_day", "cooldown_after_losses", "cooldown_minutes"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise _bad(name, f"must be a positive integer, got {value!r}")
        if not isinstance(self.require_stop_loss, bool):
            raise _bad("require_stop_loss", f"must be true or false, got {self.require_stop_loss!r}")
        if not isinstance(self.currency, str) or not self.currency:
            raise _bad("currency", f"must be an asset code, got {self.currency!r}")

    def active(self) -> bool:
        """Whether any guard is on (an inactive profile checks nothing)."""
        return self.require_stop_loss or any(
            value is not None
            for value in (
                self.max_daily_loss,
                self.max_daily_loss_percent,
                self.max_trades_per_day,
                self.cooldown_after_losses,
                self.max_exposure_percent,
            )
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data (Decimals as strings), the shape stored and served."""
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RiskProfile:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"unknown risk profile fields: {', '.join(unknown)}")
        return cls(**data)


def _percent(value: Any, name: str) -> Decimal:
    number = parse_decimal(value, name)
    if not Decimal(0) < number <= Decimal(100):
        raise _bad(name, f"must be a percentage above 0 and at most 100, got {number}")
    return number


def _bad(name: str, message: str) -> SpotlabError:
    return SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{name} {message}", field=name)
