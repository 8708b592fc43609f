"""Scalping by quoting both sides: a post-only bid and ask around a fair price, skewed by inventory.

Idea: a market maker earns the spread. Rest a buy a little below the fair price and a sell a
little above it; when the price swings through both, the account bought low and sold high and
was paid the maker fee rate instead of the taker's. Holding base is the risk, so the quotes lean
toward getting rid of it, a cap stops the bid past a set inventory, and a loss limit can end it all.

Parameters
- ``half_spread_bps`` (Decimal, 10): each quote's distance from the (skewed) fair price, basis points.
- ``quote_size`` (Decimal, 100): each quote's size as a notional in the market's quote asset.
- ``ema_period`` (int, 0): the fair price: 0 for the last close, else an EMA of this many closes
  (its float value read as a Decimal; no quotes while it warms up).
- ``skew_bps`` (Decimal, 10): how far both quotes move down at full inventory, basis points.
- ``max_inventory`` (Decimal, "0.5"), ``inventory_in`` ("equity" or "base", "equity"): the cap
  on base held: a fraction of the account's equity (valued in the market's quote asset), or an
  absolute base amount.
- ``max_loss_percent`` (Decimal, 0): 0 for none; else flatten and stop when the account's
  equity (report currency) falls this many percent below its value at the first bar.

Rules, when a bar of one of its markets closes (``F`` the fair price, ``H`` the base held,
available plus locked, after the cancels; ``E`` the equity in the quote asset at the closes)
1. If stopped by the loss limit: nothing. Else, if the loss limit is reached now: cancel every
   open order of every market, sell the available base of each at market (if it makes a valid
   order; a refusal lands in ``flatten_refusals``), stop for good (``stopped_at`` is set).
2. Cancel the market's open orders (quotes left from the last bar).
3. Inventory ``r = min(1, H * F / (max_inventory * E))`` (``equity``) or
   ``r = min(1, H / max_inventory)`` (``base``); the centre ``C = F * (1 - skew_bps * r / 10_000)``.
4. Bid ``C * (1 - half_spread_bps / 10_000)`` rounded DOWN to the tick; ask
   ``C * (1 + half_spread_bps / 10_000)`` rounded UP to the tick.
5. Bid quantity: ``quote_size / bid`` down to the lot, cut to what the available quote buys with
   the worse fee rate held; not quoted if ``(H + quantity) * F > max_inventory * E`` (``equity``)
   or ``H + quantity > max_inventory`` (``base``), nor below the market's minimums.
   Ask quantity: ``quote_size / ask`` down to the lot, cut to the available base down to the
   lot; not quoted below the minimums (spot never sells what it does not hold).
6. Place the bid, then the ask, as ``limit_maker`` (post-only, GTC). A quote the exchange
   refuses because it would trade at once (``POST_ONLY_WOULD_TRADE``) is recorded, not raised.
Every decision of step 5-6 is recorded in ``quotes`` (``Quote``, with its outcome).

Known limitations: with order latency (``latency_bars=1``) the cancels of step 2 reach the
exchange later, so step 5 sizes against balances still held by the old quotes, and a post-only
refusal happens after the strategy has moved on: the quote is recorded as ``placed`` (sent) and
the refusal lands in the backtest's ``refusals``. The quotes are refreshed once per bar only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from spotlab import indicators
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.strategy.base import Strategy
from spotlab.strategy.data import Bar
from spotlab.strategy.params import Param

_BPS = Decimal(10_000)

PLACED, REFUSED, INVENTORY_LIMIT, TOO_SMALL = "placed", "refused", "inventory_limit", "too_small"


@dataclass(frozen=True, slots=True)
class Quote:
    """One side the strategy decided on at a bar close, and what became of it."""

    time_ns: int
    market: str
    side: str  # "buy" (the bid) or "sell" (the ask)
    price: Decimal
    quantity: Decimal  # after the cuts of rule 5 (zero when nothing was left)
    outcome: str  # "placed", "refused" (post-only would trade), "inventory_limit", "too_small"


class Scalping(Strategy):
    half_spread_bps = Param(Decimal, Decimal(10), "quote distance from the fair price, bps", min=Decimal("0.01"))
    quote_size = Param(Decimal, Decimal(100), "notional per quote, in the quote asset", min=Decimal("0.00000001"))
    ema_period = Param(int, 0, "fair price: 0 = last close, else EMA period (bars)", min=0)
    skew_bps = Param(Decimal, Decimal(10), "both quotes lower at full inventory, bps", min=0, max=5000)
    max_inventory = Param(Decimal, Decimal("0.5"), "base held at most (fraction of equity or base)", min=0)
    inventory_in = Param(
        str, "equity", "max_inventory unit: equity fraction or base amount", choices=("equity", "base")
    )
    max_loss_percent = Param(
        Decimal, Decimal(0), "flatten and stop at this loss of equity, % (0: never)", min=0, max=100
    )

    def __init__(self, **params) -> None:
        super().__init__(**params)
        if self.inventory_in == "equity" and self.max_inventory > 1:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"max_inventory as a fraction of equity must be at most 1, got {self.max_inventory}; "
                "pass inventory_in='base' for an absolute base amount",
                parameter="max_inventory",
            )

    def init(self) -> None:
        self.quotes: list[Quote] = []
        self.start_equity: Decimal | None = None
        self.stopped_at: int | None = None
        self.flatten_refusals: list[SpotlabError] = []
        self.ema = (
            {market: self.indicator(indicators.EMA, self.ema_period, market=market) for market in self.markets}
            if self.ema_period
            else {}
        )

    def on_bar(self, bar: Bar) -> None:
        if self.stopped_at is not None:
            return
        if self.start_equity is None:
            self.start_equity = self.equity()
        if self._loss_limit_reached():
            self._flatten()
            return
        market = bar.market
        if self.open_orders(market):
            self.cancel_all(market)
        fair = self._fair(bar)
        if fair is None:
            return  # the EMA is warming up
        self._quote(market, fair)

    # -- the rules ------------------------------------------------------------------------------

    def _fair(self, bar: Bar) -> Decimal | None:
        if not self.ema_period:
            return bar.close
        value = self.ema[bar.market][-1]
        return None if math.isnan(value) else Decimal(repr(value))

    def _quote(self, market: str, fair: Decimal) -> None:
        spec = self.context.venue.market_spec(market)
        held = self.balance(spec.base.code).total
        equity = self.equity(spec.quote.code)
        centre = fair * (1 - self.skew_bps * self._inventory(held, fair, equity) / _BPS)
        bid = self.round_price(market, centre * (1 - self.half_spread_bps / _BPS), ROUND_DOWN)
        ask = self.round_price(market, centre * (1 + self.half_spread_bps / _BPS), ROUND_UP)

        if bid > 0:
            quantity = self.round_quantity(market, self.quote_size / bid)
            fee = max(spec.maker_fee, spec.taker_fee)
            affordable = self.round_quantity(market, self.balance(spec.quote.code).available / (bid * (1 + fee)))
            quantity = min(quantity, affordable)
            if self.inventory_in == "equity":
                over = (held + quantity) * fair > self.max_inventory * equity
            else:
                over = held + quantity > self.max_inventory
            self._send(market, "buy", bid, quantity, INVENTORY_LIMIT if over else None)

        quantity = min(
            self.round_quantity(market, self.quote_size / ask),
            self.round_quantity(market, self.balance(spec.base.code).available),
        )
        self._send(market, "sell", ask, quantity, None)

    def _inventory(self, held: Decimal, fair: Decimal, equity: Decimal) -> Decimal:
        """``r`` of rule 3: 0 with no base, 1 at (or past) the cap."""
        if self.inventory_in == "equity":
            limit = self.max_inventory * equity
            held = held * fair
        else:
            limit = self.max_inventory
        if limit <= 0:
            return Decimal(1)
        return min(Decimal(1), held / limit)

    def _send(self, market: str, side: str, price: Decimal, quantity: Decimal, outcome: str | None) -> None:
        spec = self.context.venue.market_spec(market)
        if outcome is None and (quantity < spec.min_quantity or quantity * price < spec.min_notional):
            outcome = TOO_SMALL
        if outcome is None:
            try:
                self.place_order(market, side, "limit_maker", price, quantity)
                outcome = PLACED
            except SpotlabError as error:
                if error.code is not ErrorCode.POST_ONLY_WOULD_TRADE:
                    raise
                outcome = REFUSED
        self.quotes.append(Quote(self.now_ns, market, side, price, quantity, outcome))

    # -- the loss limit ---------------------------------------------------------------------------

    def _loss_limit_reached(self) -> bool:
        if not self.max_loss_percent or self.start_equity is None:
            return False
        return self.equity() <= self.start_equity * (1 - self.max_loss_percent / 100)

    def _flatten(self) -> None:
        self.stopped_at = self.now_ns
        for market in self.markets:
            if self.open_orders(market):
                self.cancel_all(market)
        for market in self.markets:
            spec = self.context.venue.market_spec(market)
            quantity = self.round_quantity(market, self.balance(spec.base.code).available)
            last = self.data[market].last.close if len(self.data[market]) else None
            if last is not None and quantity >= spec.min_quantity and quantity * last >= spec.min_notional:
                try:
                    self.sell(market, quantity)
                except SpotlabError as error:  # e.g. the book's bid leaves it below the minimum notional
                    self.flatten_refusals.append(error)
