"""The simulator's traders: market makers, noise traders, momentum traders and whales.

Every agent owns one account and trades one market, and acts only through the ``Exchange`` facade:
it builds integer ``PlaceOrder`` / ``CancelOrder`` / ``CancelAllOrders`` commands from the market's spec
(prices in ticks, quantities in lots) and sends them with ``Exchange.apply`` through a ``Venue``, which
pipelines them (the simulator waits for durability once per step). It reads the book with
``Exchange.order_book`` and its inventory with ``Exchange.balances``.

Invariants
- An agent never crashes the simulator on a refusal (not enough funds, below the minimum notional, an
  order that filled before its cancel...): the ``Venue`` counts it by error code and the agent goes on.
  Only a stopped exchange (store failure, closed) propagates.
- Orders are on the tick and the lot, at least the market's minimum quantity, and sized to clear its
  minimum notional at their price (market orders at the reference price).
- All randomness comes from the agent's own ``numpy.random.Generator`` (spawned from the simulation's
  seed), so the same seed gives the same commands.

The models (``h``: bps, 1/10,000)
- ``MarketMaker`` quotes ``levels`` orders a side. Half-spread ``h = min(base_bps + vol_bps * v,
  max_half_spread_bps)`` where ``v`` is the annualised realised volatility of the reference over the last
  ``vol_window`` steps (``sqrt(mean(r^2) * year / dt)``); level ``i`` sits ``h + i * level_step_bps`` from the
  centre (at least one tick apart). The centre is skewed by inventory: ``centre = ref * (1 - skew_bps * q)``,
  ``q = clamp((base value - starting base value) / max_inventory_usd, -1, 1)``; at ``q = 1`` it stops bidding,
  at ``q = -1`` it stops offering (bounded inventory). Quotes never cross others' orders (clamped a tick
  inside the opposite touch). It re-quotes (cancel all, place all) when the reference has moved more than
  ``requote_bps`` since its last quotes or its base balance changed (a quote filled).
- ``NoiseTrader``: Poisson arrivals (``orders_per_minute``); each order is a market order (probability
  ``market_share``) or a GTC limit around the reference (offset ``Exp(limit_offset_bps) - limit_offset_bps / 4``
  bps, so some are marketable); value log-normal around ``mean_usd``. Buys with probability
  ``0.5 - balance_pull * imbalance`` (imbalance = (base value - quote value) / total) so it does not run dry.
  Its limit orders are cancelled after ``order_lifetime_s``.
- ``MomentumTrader``: compares the book's mid with the mid ``lookback_s`` ago; beyond ``threshold_bps`` it buys
  (rise) or sells (fall) ``order_usd`` at market, at most every ``cooldown_s``, within ``max_position_usd``.
- ``Whale``: Poisson arrivals (``orders_per_hour``) of large market orders (``order_usd``, log-normal) that
  walk the book; each one's slippage (average fill price vs the touch before it) is recorded.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass

import numpy as np

from spotlab.core.commands import CancelAllOrders, CancelOrder, PlaceOrder
from spotlab.core.events import OrderFilled
from spotlab.core.markets import MarketSpec
from spotlab.core.orders import OPEN, OrderType, SelfTradePrevention, Side, TimeInForce
from spotlab.core.outcome import Outcome
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.exchange.service import Exchange
from spotlab.sim.prices import SECONDS_PER_YEAR, ReferencePrices

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
GTC, IOC = TimeInForce.GTC, TimeInForce.IOC
STP = SelfTradePrevention.EXPIRE_MAKER
_FATAL = frozenset({ErrorCode.STORE_UNAVAILABLE, ErrorCode.EXCHANGE_CLOSED})


class Venue:
    """The agents' way to the exchange: sends commands pipelined and counts what happened."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.placed = 0  # PlaceOrder commands sent
        self.cancels = 0  # CancelOrder / CancelAllOrders commands sent
        self.trades = 0  # fills (OrderFilled events) the agents' commands caused
        self.refused: Counter[str] = Counter()  # refusals by error code
        self.last_index = 0  # the newest log record to wait for

    def submit(self, agent: Agent, command: PlaceOrder | CancelOrder | CancelAllOrders) -> Outcome | None:
        """Apply ``command``; ``None`` (counted, for the agent and here) if it is refused."""
        if type(command) is PlaceOrder:
            self.placed += 1
        else:
            self.cancels += 1
        agent.sent += 1
        try:
            outcome, index = self.exchange.apply(command)
        except SpotlabError as error:
            if error.code in _FATAL:
                raise
            return self._refuse(agent, error)
        if index > self.last_index:
            self.last_index = index
        if outcome.error is not None:
            return self._refuse(agent, outcome.error)
        for event in outcome.events:
            if type(event) is OrderFilled:
                self.trades += 1
        return outcome

    def _refuse(self, agent: Agent, error: SpotlabError) -> None:
        self.refused[str(error.code)] += 1
        agent.refused[str(error.code)] += 1
        return None

    @property
    def refusals(self) -> int:
        return sum(self.refused.values())

    def touch(self, spec: MarketSpec) -> tuple[int | None, int | None]:
        """Best bid and ask in ticks (``None`` for an empty side)."""
        book = self.exchange.order_book(spec.symbol, 1)
        tick = spec.tick_size
        bid = int(book.bids[0][0] / tick) if book.bids else None
        ask = int(book.asks[0][0] / tick) if book.asks else None
        return bid, ask


@dataclass(slots=True)
class StepContext:
    """What an agent sees when it acts: the references, the time (seconds since the start) and the step."""

    prices: ReferencePrices
    venue: Venue
    time: float = 0.0
    dt: float = 1.0


class Agent:
    """One trader on one market with its own account."""

    kind = "agent"

    def __init__(self, account: str, spec: MarketSpec, rng: np.random.Generator) -> None:
        self.account = account
        self.spec = spec
        self.market = spec.symbol
        self.rng = rng
        self.sent = 0
        self.refused: Counter[str] = Counter()
        self._tick = float(spec.tick_size)
        self._lot = float(spec.lot_size)
        self.start_base: float | None = None  # base held when the agent started (its inventory target)

    def act(self, ctx: StepContext) -> None:
        raise NotImplementedError

    def start(self, venue: Venue) -> None:
        """Called once the account is funded (or found, on resume): remember the inventory target."""
        self.start_base = self.holdings(venue)[0]

    # -- helpers ------------------------------------------------------------------------

    def holdings(self, venue: Venue) -> tuple[float, float]:
        """(base, quote) held, available plus locked, as floats (for sizing decisions only)."""
        balances = venue.exchange.balances(self.account)
        base = balances.get(self.spec.base.code)
        quote = balances.get(self.spec.quote.code)
        return (
            float(base.available + base.locked) if base else 0.0,
            float(quote.available + quote.locked) if quote else 0.0,
        )

    def ticks(self, price: float, up: bool) -> int:
        """``price`` on the tick, rounded up or down, at least one tick."""
        value = price / self._tick
        return max(1, math.ceil(value - 1e-9) if up else math.floor(value + 1e-9))

    def lots(self, value: float, price_ticks: int) -> int:
        """Lots worth about ``value`` (in the quote asset) at ``price_ticks``, above the minimums."""
        spec = self.spec
        wanted = int(value / (price_ticks * self._tick * self._lot))
        least = -(-spec.min_notional_units // (price_ticks * spec.notional_unit))
        return max(wanted, least, spec.min_lots)

    def place(self, ctx: StepContext, side: Side, type_: OrderType, price: int, lots: int, tif=GTC):
        command = PlaceOrder(self.account, self.market, side, type_, tif, STP, price=price, quantity=lots)
        return ctx.venue.submit(self, command)

    def imbalance(self, ctx: StepContext) -> float:
        """(base value - quote value) / total value, in [-1, 1]; 0 when empty."""
        base, quote = self.holdings(ctx.venue)
        base_value = base * ctx.prices.price(self.market)
        total = base_value + quote
        return 0.0 if total <= 0 else (base_value - quote) / total


@dataclass(frozen=True, slots=True)
class MakerParams:
    levels: int = 5
    level_usd: float = 2_000.0  # value of each quote
    base_bps: float = 4.0  # half-spread floor
    vol_bps: float = 10.0  # extra half-spread per 100 % of annualised realised volatility
    max_half_spread_bps: float = 50.0
    level_step_bps: float = 4.0
    skew_bps: float = 10.0  # centre shift at full inventory
    max_inventory_usd: float = 40_000.0
    requote_bps: float = 2.0
    vol_window: int = 120  # steps


class MarketMaker(Agent):
    kind = "maker"

    def __init__(self, account: str, spec: MarketSpec, rng: np.random.Generator, params: MakerParams) -> None:
        super().__init__(account, spec, rng)
        self.params = params
        self._returns: deque[float] = deque(maxlen=params.vol_window)
        self._sum_sq = 0.0
        self._last_ref: float | None = None
        self._quoted_ref: float | None = None
        self._quoted_base: float | None = None
        self.half_spread_bps = params.base_bps

    def realised_volatility(self, dt: float) -> float:
        n = len(self._returns)
        return 0.0 if n < 2 else math.sqrt(max(self._sum_sq, 0.0) / n * SECONDS_PER_YEAR / dt)

    def _observe(self, ref: float) -> None:
        if self._last_ref is not None:
            r = math.log(ref / self._last_ref)
            if len(self._returns) == self._returns.maxlen:
                self._sum_sq -= self._returns[0] ** 2
            self._returns.append(r)
            self._sum_sq += r * r
        self._last_ref = ref

    def act(self, ctx: StepContext) -> None:
        ref = ctx.prices.price(self.market)
        self._observe(ref)
        base, _ = self.holdings(ctx.venue)
        moved = self._quoted_ref is None or abs(math.log(ref / self._quoted_ref)) * 1e4 > self.params.requote_bps
        if not moved and base == self._quoted_base:
            return
        self.requote(ctx, ref, base)

    def requote(self, ctx: StepContext, ref: float, base: float) -> None:
        p = self.params
        ctx.venue.submit(self, CancelAllOrders(self.account, self.market))
        self.half_spread_bps = min(p.base_bps + p.vol_bps * self.realised_volatility(ctx.dt), p.max_half_spread_bps)
        quote_usd = ctx.prices.usd(self.spec.quote.code)
        deviation = (base - (self.start_base or 0.0)) * ref * quote_usd / p.max_inventory_usd
        q = max(-1.0, min(1.0, deviation))
        centre = ref * (1 - p.skew_bps * q / 1e4) / self._tick  # in ticks, as a float
        half = max(1.0, centre * self.half_spread_bps / 1e4)
        step = max(1.0, centre * p.level_step_bps / 1e4)
        value = p.level_usd / quote_usd
        best_bid, best_ask = ctx.venue.touch(self.spec)  # others' orders only: ours are cancelled
        for i in range(p.levels):
            if q < 1.0:
                price = max(1, math.floor(centre - half - i * step))
                if best_ask is not None and price >= best_ask:
                    price = best_ask - 1
                if price >= 1:
                    self.place(ctx, BUY, LIMIT, price, self.lots(value, price))
            if q > -1.0:
                price = math.ceil(centre + half + i * step)
                if best_bid is not None and price <= best_bid:
                    price = best_bid + 1
                self.place(ctx, SELL, LIMIT, price, self.lots(value, price))
        self._quoted_ref = ref
        self._quoted_base = self.holdings(ctx.venue)[0]


@dataclass(frozen=True, slots=True)
class NoiseParams:
    orders_per_minute: float = 6.0
    market_share: float = 0.4
    mean_usd: float = 300.0
    size_sigma: float = 0.8  # of the log-normal order value
    limit_offset_bps: float = 15.0
    order_lifetime_s: float = 300.0
    balance_pull: float = 0.4


class NoiseTrader(Agent):
    kind = "noise"

    def __init__(self, account: str, spec: MarketSpec, rng: np.random.Generator, params: NoiseParams) -> None:
        super().__init__(account, spec, rng)
        self.params = params
        self._open: deque[tuple[float, object]] = deque()  # (placed at, the live order)

    def act(self, ctx: StepContext) -> None:
        p = self.params
        while self._open and self._open[0][0] <= ctx.time - p.order_lifetime_s:
            _, order = self._open.popleft()
            if order.status in OPEN:
                ctx.venue.submit(self, CancelOrder(self.account, order.id))
        arrivals = self.rng.poisson(p.orders_per_minute * ctx.dt / 60.0)
        if not arrivals:
            return
        ref = ctx.prices.price(self.market)
        quote_usd = ctx.prices.usd(self.spec.quote.code)
        buy_odds = 0.5 - p.balance_pull * self.imbalance(ctx)
        for _ in range(arrivals):
            u_side, u_type, offset, size = (
                self.rng.random(),
                self.rng.random(),
                self.rng.exponential(),
                self.rng.normal(),
            )
            side = BUY if u_side < buy_odds else SELL
            value = p.mean_usd * math.exp(p.size_sigma * size - p.size_sigma**2 / 2) / quote_usd
            if u_type < p.market_share:
                price = self.ticks(ref, up=True)
                self.place(ctx, side, MARKET, 0, self.lots(value, price), IOC)
                continue
            bps = (offset - 0.25) * p.limit_offset_bps
            price = (
                self.ticks(ref * (1 - bps / 1e4), up=False) if side is BUY else self.ticks(ref * (1 + bps / 1e4), True)
            )
            outcome = self.place(ctx, side, LIMIT, price, self.lots(value, price))
            if outcome is not None and outcome.order is not None and outcome.order.status in OPEN:
                self._open.append((ctx.time, outcome.order))


@dataclass(frozen=True, slots=True)
class MomentumParams:
    lookback_s: float = 300.0
    threshold_bps: float = 20.0
    order_usd: float = 1_000.0
    cooldown_s: float = 60.0
    max_position_usd: float = 10_000.0


class MomentumTrader(Agent):
    kind = "momentum"

    def __init__(self, account: str, spec: MarketSpec, rng: np.random.Generator, params: MomentumParams) -> None:
        super().__init__(account, spec, rng)
        self.params = params
        self._mids: deque[tuple[float, float]] = deque()
        self._last_trade = -math.inf

    def act(self, ctx: StepContext) -> None:
        p = self.params
        bid, ask = ctx.venue.touch(self.spec)
        if bid is None or ask is None:
            return
        mid = (bid + ask) / 2
        mids = self._mids
        mids.append((ctx.time, mid))
        horizon = ctx.time - p.lookback_s
        while len(mids) > 1 and mids[1][0] <= horizon:
            mids.popleft()
        then, past = mids[0]
        if then > horizon or ctx.time - self._last_trade < p.cooldown_s:
            return
        signal = math.log(mid / past) * 1e4
        if abs(signal) < p.threshold_bps:
            return
        ref = ctx.prices.price(self.market)
        quote_usd = ctx.prices.usd(self.spec.quote.code)
        base, _ = self.holdings(ctx.venue)
        position = (base - (self.start_base or 0.0)) * ref * quote_usd
        side = BUY if signal > 0 else SELL
        if (side is BUY and position >= p.max_position_usd) or (side is SELL and position <= -p.max_position_usd):
            return
        self._last_trade = ctx.time
        price = self.ticks(ref, up=True)
        self.place(ctx, side, MARKET, 0, self.lots(p.order_usd / quote_usd, price), IOC)


@dataclass(frozen=True, slots=True)
class WhaleParams:
    orders_per_hour: float = 2.0
    order_usd: float = 6_000.0
    size_sigma: float = 0.3
    balance_pull: float = 0.4


class Whale(Agent):
    kind = "whale"

    def __init__(self, account: str, spec: MarketSpec, rng: np.random.Generator, params: WhaleParams) -> None:
        super().__init__(account, spec, rng)
        self.params = params
        self.slippages_bps: deque[float] = deque(maxlen=100)  # the newest last

    def act(self, ctx: StepContext) -> None:
        p = self.params
        if not self.rng.poisson(p.orders_per_hour * ctx.dt / 3600.0):
            return
        u_side, size = self.rng.random(), self.rng.normal()
        self.trade(ctx, BUY if u_side < 0.5 - p.balance_pull * self.imbalance(ctx) else SELL, size)

    def trade(self, ctx: StepContext, side: Side, size: float = 0.0) -> float | None:
        """Send one large market order; returns its slippage in bps (``None`` if nothing filled)."""
        p = self.params
        bid, ask = ctx.venue.touch(self.spec)
        touch = ask if side is BUY else bid
        if touch is None:
            return None
        quote_usd = ctx.prices.usd(self.spec.quote.code)
        value = p.order_usd * math.exp(p.size_sigma * size - p.size_sigma**2 / 2) / quote_usd
        outcome = self.place(ctx, side, MARKET, 0, self.lots(value, touch), IOC)
        fills = [e for e in outcome.events if type(e) is OrderFilled] if outcome is not None else []
        lots = sum(e.quantity for e in fills)
        if not lots:
            return None
        average = sum(e.price * e.quantity for e in fills) / lots
        slippage = (average - touch) / touch * 1e4 if side is BUY else (touch - average) / touch * 1e4
        self.slippages_bps.append(slippage)
        return slippage
