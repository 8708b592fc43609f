"""Cross-exchange arbitrage: buy where a market is cheap, sell the same quantity where it is dear, at once.

Idea: two spotlab exchanges list the same market at prices that drift apart and come back
(``spotlab demo --venues 2``). When one venue's best ask is below the other's best bid by more
than the two taker fees, buying at that ask and selling at that bid, the same quantity, turns
quote into more quote: base moves from the dear venue's account to the cheap venue's. The
strategy runs over exactly two venues (``LiveRunner.across``, ``spotlab paper`` with ``--url``
twice), holding money on both: quote to buy with on one, base to sell on the other.

Parameters
- ``min_edge_bps`` (Decimal, 10): trade when the net edge is strictly above this, >= 0.
- ``max_notional`` (Decimal, 1000): the most quote one arbitrage buys for (at the ask, fees aside).

Rules
- When a bar of a market closes (on either venue), once per market and close time, the strategy
  reads the top of both venues' books (``order_book(market, 1, venue=...)``). For each direction
  (buy on venue ``cheap``, sell on venue ``dear``) with an ask on ``cheap`` and a bid on ``dear``:
  ``gross_bps = (bid - ask) / ask x 10_000`` and
  ``edge_bps = gross_bps - (taker fee on cheap + taker fee on dear) x 10_000`` (50 significant
  digits). An ``edge_bps`` above ``min_edge_bps`` is an opportunity (``opportunities``); at most
  one direction can be one (a bid above the other venue's ask and an ask below it cannot both hold
  without a crossed book).
- The quantity is the smallest of: the ask's quantity, the bid's quantity, the base available on
  ``dear``, the quote available on ``cheap`` over ``ask x (1 + the worse of its two fees)`` (what
  the exchange holds for the buy), and ``max_notional / ask``; down to the lot (the coarser of
  the two venues' lots, which must be a multiple of the finer). Below either venue's minimum
  quantity or minimum notional (at the ask, at the bid), nothing is sent: the opportunity records
  why (``skipped``).
- Then, at once: an IOC limit buy of that quantity at the ask on ``cheap``; then an IOC limit sell
  of what it bought (down to ``dear``'s lot) at the bid on ``dear``. IOC at the top price fills
  that level only, so neither leg trades worse than the prices the edge was measured at. Each
  arbitrage sent is recorded in ``taken`` (``Arbitrage``: quantities bought and sold, quote spent
  with fees, quote received net of fees, why it stopped early if it did). A refusal or an empty
  fill ends it there: base bought but not sold stays on ``cheap``.

Known limitations: one book level a side (deeper levels are not walked); the two legs are sent one
after the other, not atomically, so the bid may be gone when the sell arrives (the IOC then expires
and the base stays bought); no inventory rebalancing (quote piles up on the dear venue, base on the
cheap one, until the gap turns round; moving money between exchanges is out of scope); the
backtester has one venue, so this strategy runs live or paper only; the venues need ``order_book``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Context, Decimal

from spotlab.core.markets import MarketSpec
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.exchange.views import OrderView
from spotlab.strategy.base import Strategy
from spotlab.strategy.data import Bar
from spotlab.strategy.params import Param

_WIDE = Context(prec=50)
_BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class Opportunity:
    """An edge above ``min_edge_bps`` between the top of two venues' books."""

    time_ns: int
    market: str
    buy_venue: str  # the cheap one
    sell_venue: str  # the dear one
    ask: Decimal  # best ask on buy_venue
    bid: Decimal  # best bid on sell_venue
    gross_bps: Decimal
    edge_bps: Decimal  # net of both taker fees
    quantity: Decimal  # what the balances, the two levels and max_notional allowed (0 if skipped)
    skipped: str | None  # why nothing was sent, None when it was


@dataclass(frozen=True, slots=True)
class Arbitrage:
    """One arbitrage sent: the buy on ``buy_venue``, then the sell on ``sell_venue``."""

    time_ns: int
    market: str
    buy_venue: str
    sell_venue: str
    edge_bps: Decimal
    quantity: Decimal  # base, asked for on both legs
    bought: Decimal  # base bought on buy_venue
    sold: Decimal  # base sold on sell_venue
    spent: Decimal  # quote paid on buy_venue, fees included
    received: Decimal  # quote received on sell_venue, net of fees
    stopped: str | None  # why it ended early, None when both legs filled in full

    @property
    def profit(self) -> Decimal:
        """Quote received minus quote spent (meaningful when ``bought == sold``)."""
        return self.received - self.spent


class CrossExchangeArbitrage(Strategy):
    min_edge_bps = Param(Decimal, Decimal(10), "trade above this net edge between the venues, bps", min=0)
    max_notional = Param(Decimal, Decimal(1000), "quote one arbitrage buys for at most", min=Decimal("0.00000001"))

    def init(self) -> None:
        if len(self.venue_names) != 2:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"cross-exchange arbitrage needs two venues (LiveRunner.across, or spotlab paper with --url, --key "
                f"and --secret twice), this run has {len(self.venue_names)}: {', '.join(self.venue_names)}",
            )
        self.opportunities: list[Opportunity] = []
        self.taken: list[Arbitrage] = []
        self._checked_at: dict[str, int] = {}

    def on_bar(self, bar: Bar) -> None:
        if self._checked_at.get(bar.market) == bar.close_time_ns:
            return  # the other venue's bar of the same instant: already looked
        self._checked_at[bar.market] = bar.close_time_ns
        self.check(bar.market)

    def check(self, market: str) -> Opportunity | None:
        """Compare the two venues' books of ``market`` now; take an opportunity above the threshold."""
        first, second = self.venue_names
        books = {name: self.order_book(market, 1, venue=name) for name in (first, second)}
        specs = {name: self.market_spec(market, venue=name) for name in (first, second)}
        for cheap, dear in ((first, second), (second, first)):
            ask_levels, bid_levels = books[cheap].asks, books[dear].bids
            if not ask_levels or not bid_levels:
                continue
            (ask, ask_quantity), (bid, bid_quantity) = ask_levels[0], bid_levels[0]
            gross = _WIDE.multiply(_WIDE.divide(bid - ask, ask), _BPS)
            edge = gross - _WIDE.multiply(specs[cheap].taker_fee + specs[dear].taker_fee, _BPS)
            if edge <= self.min_edge_bps:
                continue
            quantity, skipped = self._size(specs[cheap], specs[dear], cheap, dear, ask, bid, ask_quantity, bid_quantity)
            found = Opportunity(self.now_ns, market, cheap, dear, ask, bid, gross, edge, quantity, skipped)
            self.opportunities.append(found)
            if skipped is None:
                self.taken.append(self._trade(found))
            return found
        return None

    # -- sizing -----------------------------------------------------------------------------------

    def _size(
        self,
        cheap_spec: MarketSpec,
        dear_spec: MarketSpec,
        cheap: str,
        dear: str,
        ask: Decimal,
        bid: Decimal,
        ask_quantity: Decimal,
        bid_quantity: Decimal,
    ) -> tuple[Decimal, str | None]:
        """The quantity to trade (see Rules), or 0 and the reason it is none."""
        lots = sorted((cheap_spec.lot_size, dear_spec.lot_size))
        if lots[1] % lots[0]:
            return Decimal(0), f"the venues' lots ({lots[0]}, {lots[1]}) are not multiples of one another"
        quote = self.balance(cheap_spec.quote.code, venue=cheap).available
        base = self.balance(dear_spec.base.code, venue=dear).available
        worse_fee = max(cheap_spec.maker_fee, cheap_spec.taker_fee)
        affordable = _WIDE.divide(quote, _WIDE.multiply(ask, 1 + worse_fee))
        cap = _WIDE.divide(self.max_notional, ask)
        quantity = min(ask_quantity, bid_quantity, base, affordable, cap)
        quantity = (quantity / lots[1]).to_integral_value(rounding=ROUND_DOWN) * lots[1]
        if quantity <= 0:
            return Decimal(0), (
                f"nothing to trade: {quote} {cheap_spec.quote.code} free on {cheap}, "
                f"{base} {dear_spec.base.code} free on {dear}"
            )
        for name, spec, price in ((cheap, cheap_spec, ask), (dear, dear_spec, bid)):
            if quantity < spec.min_quantity or quantity * price < spec.min_notional:
                return quantity, f"{quantity} at {price} is below {name}'s minimums"
        return quantity, None

    # -- trading ----------------------------------------------------------------------------------

    def _trade(self, found: Opportunity) -> Arbitrage:
        market, quantity = found.market, found.quantity
        bought = sold = spent = received = Decimal(0)
        stopped: str | None = None
        try:
            buy = self.buy(market, quantity, price=found.ask, time_in_force="IOC", venue=found.buy_venue)
            stopped = _unfilled(buy, "buy", found.buy_venue)
            if buy is not None:
                bought, spent = buy.filled_quantity, buy.filled_notional + buy.fees
            if bought > 0:
                to_sell = self.round_quantity(market, bought, venue=found.sell_venue)
                sell = self.sell(market, to_sell, price=found.bid, time_in_force="IOC", venue=found.sell_venue)
                stopped = stopped or _unfilled(sell, "sell", found.sell_venue)
                if sell is not None:
                    sold, received = sell.filled_quantity, sell.filled_notional - sell.fees
                if stopped is None and sold < bought:
                    stopped = f"{bought - sold} bought on {found.buy_venue} stays unsold (off {found.sell_venue}'s lot)"
        except SpotlabError as error:
            stopped = f"refused: {error.code}: {error.message}"
        return Arbitrage(
            found.time_ns, market, found.buy_venue, found.sell_venue, found.edge_bps, quantity,
            bought, sold, spent, received, stopped,
        )  # fmt: skip


def _unfilled(view: OrderView | None, side: str, venue: str) -> str | None:
    """Why a leg did not fill in full, or None."""
    if view is None:
        return f"the {side} on {venue} was not answered at once (order latency)"
    if view.filled_quantity < view.quantity:
        return f"the {side} on {venue} filled {view.filled_quantity} of {view.quantity}: the level was gone"
    return None
