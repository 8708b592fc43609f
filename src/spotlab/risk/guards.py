"""Risk guards: pure functions over an account's records that refuse a new entry, with the rule and figures.

What is guarded
- Guards refuse **entries**. On spot an entry is a buy (it opens or adds to a position
  in the base asset); a sell reduces exposure and is never refused by a guard: an
  account must always be able to get out, and refusing a stop-loss exit would add risk.
- ``max_trades_per_day``: the orders that traded (at least one fill, either side) in the
  current UTC day; at the limit a new entry is refused (the limit itself is allowed:
  with a limit of 3, the fourth is refused).
- ``max_daily_loss`` / ``max_daily_loss_percent``: the realised P&L of the sells closed
  in the current UTC day, in the profile's currency; once the loss reaches the limit
  (``loss >= limit``) new entries are refused for the rest of the day. The percentage is
  of current equity.
- ``cooldown_after_losses`` + ``cooldown_minutes``: when the last N closed trades (sells,
  by time) all lost money, entries are refused until ``cooldown_minutes`` after the last
  of them (at that instant they are allowed again). A break-even trade is not a loss; a
  further loss after a cooldown starts a new one.
- ``max_exposure_percent``: the base asset's value after the order (current value, plus
  the buys of it the account already has waiting: resting limit buys at their price times what
  is left, conditional buys at their limit, stop or quote amount, an order list counted once
  at its dearest buy; plus the order's value) as a percentage of equity; above the limit is
  refused, at it allowed. Waiting buys count because they fill without another check. An
  order whose value cannot be converted into the profile's currency is refused.
- ``require_stop_loss``: every entry must come with its stop-loss, that is as a bracket
  (``POST /v1/order-lists`` type ``bracket``, ``Exchange.place_bracket``: once the entry fills,
  an OCO of take-profit and stop-loss covers what it bought). Every other buy is refused: a
  plain order (``limit``, ``market``, ``limit_maker``), a conditional buy (a stop or
  take-profit that buys, a trailing buy: it enters when it triggers, with no stop behind it)
  and a buy OCO (two entries, neither protected). A bracket's entry is allowed by this rule
  and checked by the others as a buy of ``entry_price x quantity``.

A closed trade's P&L is in its market's quote (``spotlab.risk.portfolio``) and converted
into the profile's currency at current last prices by the caller (``ClosedTrade``).
The exchange runs these checks and the placement as one step under its lock
(``spotlab.exchange.risk``), so two entries sent at the same moment are checked one after the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.risk.profile import RiskProfile
from spotlab.risk.records import FillRecord, utc_day

NS_PER_MINUTE = 60 * 1_000_000_000
NOT_ENFORCED: tuple[str, ...] = ()  # stored rules not enforced yet (none today)
#: The one way in when ``require_stop_loss`` is on: a bracket brings its stop-loss with its entry.
PROTECTED_ENTRY = "bracket"


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """A sell's realised P&L, converted into the profile's currency (``None``: no conversion path)."""

    order_id: int
    market: str
    time_ns: int
    pnl: Decimal | None


@dataclass(frozen=True, slots=True)
class Refusal:
    rule: str
    message: str
    figures: dict[str, str] = field(default_factory=dict)

    def error(self) -> SpotlabError:
        return SpotlabError(ErrorCode.RISK_LIMIT, f"{self.rule}: {self.message}", rule=self.rule, **self.figures)


def trades_today(fills: Sequence[FillRecord], now_ns: int) -> int:
    """Orders with at least one fill in the UTC day of ``now_ns``; ``fills`` oldest first (read from the newest
    back to the first of an earlier day, so a long history costs nothing here)."""
    today = utc_day(now_ns)
    orders = set()
    for index in range(len(fills) - 1, -1, -1):
        fill = fills[index]
        day = utc_day(fill.time_ns)
        if day < today:
            break
        if day == today:
            orders.add(fill.order_id)
    return len(orders)


def realised_today(closed: Iterable[ClosedTrade], now_ns: int) -> Decimal:
    today = utc_day(now_ns)
    return sum((t.pnl for t in closed if t.pnl is not None and utc_day(t.time_ns) == today), Decimal(0))


def trades_per_day_guard(profile: RiskProfile, fills: Sequence[FillRecord], now_ns: int) -> Refusal | None:
    limit = profile.max_trades_per_day
    if limit is None:
        return None
    count = trades_today(fills, now_ns)
    if count < limit:
        return None
    return Refusal(
        "max_trades_per_day",
        f"{count} orders traded today (UTC), the limit is {limit}; new entries wait until 00:00 UTC",
        {"trades_today": str(count), "limit": str(limit)},
    )


def daily_loss_guard(
    profile: RiskProfile, closed: Sequence[ClosedTrade], now_ns: int, equity: Decimal
) -> Refusal | None:
    if profile.max_daily_loss is not None:
        limit = profile.max_daily_loss
    elif profile.max_daily_loss_percent is not None:
        limit = equity * profile.max_daily_loss_percent / 100
    else:
        return None
    loss = -realised_today(closed, now_ns)
    if loss < limit:
        return None
    return Refusal(
        "max_daily_loss",
        f"realised loss today (UTC) is {loss} {profile.currency}, the limit is {limit} {profile.currency}; "
        "new entries wait until 00:00 UTC",
        {"loss_today": str(loss), "limit": str(limit), "currency": profile.currency},
    )


def cooldown_guard(profile: RiskProfile, closed: Sequence[ClosedTrade], now_ns: int) -> Refusal | None:
    n = profile.cooldown_after_losses
    if n is None or len(closed) < n:
        return None
    last = sorted(closed, key=lambda t: t.time_ns)[-n:]
    if not all(t.pnl is not None and t.pnl < 0 for t in last):
        return None
    until = last[-1].time_ns + profile.cooldown_minutes * NS_PER_MINUTE
    if now_ns >= until:
        return None
    wait_s = (until - now_ns + 999_999_999) // 1_000_000_000
    return Refusal(
        "cooldown_after_losses",
        f"the last {n} closed trades lost money; cooling down for {profile.cooldown_minutes} minutes "
        f"after the last one ({wait_s} s left)",
        {"losing_trades": str(n), "cooldown_minutes": str(profile.cooldown_minutes), "until_ns": str(until)},
    )


def exposure_guard(
    profile: RiskProfile,
    asset: str,
    current_value: Decimal,
    order_value: Decimal | None,
    equity: Decimal,
    waiting_value: Decimal = Decimal(0),
) -> Refusal | None:
    """``max_exposure_percent`` (module docstring); ``waiting_value``: the account's buys of ``asset`` already
    waiting, in the profile's currency."""
    limit = profile.max_exposure_percent
    if limit is None:
        return None
    if order_value is None or equity <= 0:
        return Refusal(
            "max_exposure_percent",
            f"cannot value this {asset} order or the account's equity in {profile.currency}, so its exposure "
            "cannot be checked",
            {"asset": asset, "limit_percent": str(limit), "equity": str(equity)},
        )
    after = current_value + waiting_value + order_value
    percent = after * 100 / equity
    if percent <= limit:
        return None
    waiting = f" (with {waiting_value} {profile.currency} of buys already waiting)" if waiting_value else ""
    return Refusal(
        "max_exposure_percent",
        f"{asset} would be {after} {profile.currency}{waiting}, {percent:.2f} % of equity {equity} "
        f"{profile.currency}; the limit is {limit} %",
        {"asset": asset, "exposure_after": str(after), "percent_after": f"{percent:.2f}", "limit_percent": str(limit),
         "equity": str(equity), "waiting_buys": str(waiting_value)},
    )  # fmt: skip


def stop_loss_guard(profile: RiskProfile, order_type: str) -> Refusal | None:
    """``require_stop_loss``: a buy without a stop behind it is refused; a bracket is the way in."""
    if not profile.require_stop_loss or order_type == PROTECTED_ENTRY:
        return None
    return Refusal(
        "require_stop_loss",
        f"this profile requires a stop-loss with every entry, and a {order_type} buy comes without one; "
        "place the entry as a bracket (POST /v1/order-lists with type bracket, or Exchange.place_bracket: "
        "entry_price, quantity, take_profit_price, stop_price) so the stop comes with the entry",
        {"order_type": order_type, "use": "bracket"},
    )


def check_entry(
    profile: RiskProfile,
    *,
    side: str,
    asset: str,
    now_ns: int,
    fills: Sequence[FillRecord],
    closed: Sequence[ClosedTrade],
    equity: Decimal,
    asset_value: Decimal,
    order_value: Decimal | None,
    order_type: str = "limit",
    waiting_value: Decimal = Decimal(0),
) -> list[Refusal]:
    """Every refusal for an order of ``side`` on ``asset`` (the base); sells are never refused.

    ``order_type`` is the order's type, ``"bracket"`` for a bracket list's entry, ``"oco"`` for a buy OCO."""
    if side != "buy" or not profile.active():
        return []
    found = [
        stop_loss_guard(profile, order_type),
        trades_per_day_guard(profile, fills, now_ns),
        daily_loss_guard(profile, closed, now_ns, equity),
        cooldown_guard(profile, closed, now_ns),
        exposure_guard(profile, asset, asset_value, order_value, equity, waiting_value),
    ]
    return [r for r in found if r is not None]
