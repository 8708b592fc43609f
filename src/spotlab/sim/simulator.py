"""The market simulator: reference prices plus a mix of agents per market, stepped on a spotlab exchange.

Use::

    clock = SimulatedClock(datetime(2025, 1, 1, tzinfo=UTC))
    exchange = Exchange.open(None, clock=clock)
    sim = Simulator(exchange, SimConfig(seed=7), clock)
    sim.setup()                      # creates and funds the agents' accounts (or finds them: resume)
    for _ in range(600):
        sim.step()                   # dt seconds of market life
    sim.run(stop_event, speed=10)    # or: paced against the wall clock until the event is set

One step: the reference prices move ``dt`` seconds, a ``SimulatedClock`` is advanced by ``dt`` (a
``WallClock`` is not touched: the exchange stamps real time), then every agent acts, takers first
(whales, momentum, noise) and market makers last, so a step always ends with fresh quotes. The step's
commands are pipelined (``Exchange.apply``) and the step waits once for them to be durable.

Invariants
- Deterministic: the same exchange state, config and seed, on a ``SimulatedClock`` from the same
  start, give the same commands and so the same events and trades. The prices draw from one generator
  seeded by ``[seed, 0]``; each agent from its own, seeded by ``[seed, crc32(market), kind, index]``,
  so adding a market or an agent does not change the others' draws.
- ``setup`` is idempotent. Account names are ``{prefix}-{kind}-{BASE}-{QUOTE}-{i}``; an account that
  already exists is reused as it is (no new deposit) and its open orders in its market are cancelled
  (a clean slate); on resume, each agent's inventory target is what it holds then.
- On an exchange whose markets have traded, the reference starts from the last trade prices
  (``spotlab.sim.prices.levels_from_trades`` says how conflicts are settled), unless a market is replayed.
- Agents drained below ``top_up_below`` of their funding get paper money again every ``top_up_every``
  seconds of market time (``top_up``), so a market keeps trading around the clock.
- Agents' refusals are counted, never raised; a stopped exchange (store failure, closed) stops the
  simulator with its error.

Documented bounds (the defaults; ``tests/sim/test_market_quality.py`` asserts them at the end of steps
with a ``dt`` of 1 s on the 9 default markets, for each agent mix: makers only; makers + noise;
makers + noise + momentum + whale)
- Spread: at least one tick (never locked, never crossed) and at most ``2 * max_half_spread_bps`` plus two
  ticks (100 bps + 2 ticks); with makers alone at least ``2 * base_bps`` (8 bps) less two ticks of rounding.
  Seen: 8-33 bps with makers alone (ADA/BTC, whose tick is 10 bps, up to 42); 1 tick to 30 bps with others.
- Depth within 50 bps of the mid, each side, in USD: at least ``level_usd`` (2,000 USD: one maker level);
  with makers alone at most ``levels * level_usd`` (10,000 USD) plus 1 % of lot rounding; with the other
  agents at most 50,000 USD (seen: 4,300-21,000, the low end on ADA/BTC).
Whales are sized (6,000 USD) to walk about three levels of one maker's quotes, not the whole side.

Speed: the agents build integer commands and pipeline them. With ``speed=0`` the default mix on 8 markets
sends 26,000-38,000 commands a second on an in-memory exchange and 12,000-22,000 on SQLite (one core; most
of the time is the engine's placement and cancel). ``stats()["commands_per_second"]`` reports it. In market
time the default mix sends about 23 commands a second over 8 markets (makers re-quote every few seconds),
about 2 million a day: an in-memory exchange keeps them all in memory, so run long sessions on SQLite.
"""

from __future__ import annotations

import math
import threading
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import numpy as np

from spotlab.clock import Clock, SimulatedClock, ns_to_datetime
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.exchange.service import Exchange
from spotlab.sim.agents import (
    Agent,
    MakerParams,
    MarketMaker,
    MomentumParams,
    MomentumTrader,
    NoiseParams,
    NoiseTrader,
    StepContext,
    Venue,
    Whale,
    WhaleParams,
)
from spotlab.sim.prices import (
    DEFAULT_ASSETS,
    DEFAULT_CORRELATION,
    DEFAULT_START_USD,
    NUMERAIRE,
    AssetModel,
    Basis,
    LinkedPrices,
    ReferencePrices,
    ReplayPath,
    levels_from_trades,
    split_market,
)
from spotlab.strategy.data import Bar

#: The default catalogue's markets.
DEFAULT_MARKETS: tuple[str, ...] = (
    "BTC/USDT", "ETH/USDT", "SOL/USDT", "ADA/USDT", "BTC/USD", "ETH/USD", "ETH/BTC", "ADA/BTC", "DOT/USDC",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class AgentMix:
    """How many agents of each kind trade one market."""

    makers: int = 1
    noise: int = 2
    momentum: int = 1
    whales: int = 1

    def __post_init__(self) -> None:
        for name in ("makers", "noise", "momentum", "whales"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SpotlabError(
                    ErrorCode.INVALID_ARGUMENT, f"AgentMix.{name} must be an integer >= 0, got {value!r}"
                )


MAKERS_ONLY = AgentMix(makers=1, noise=0, momentum=0, whales=0)
MAKERS_AND_NOISE = AgentMix(makers=1, noise=2, momentum=0, whales=0)
FULL_MIX = AgentMix()


@dataclass(frozen=True, slots=True)
class Funding:
    """USD value deposited per agent on each side (base and quote) when its account is created."""

    maker: float = 100_000.0
    noise: float = 20_000.0
    momentum: float = 30_000.0
    whale: float = 200_000.0


@dataclass(frozen=True)
class SimConfig:
    """Everything a simulation needs; the defaults run the 9 catalogue markets with ``FULL_MIX`` each."""

    markets: tuple[str, ...] = DEFAULT_MARKETS
    mix: AgentMix = FULL_MIX
    mixes: Mapping[str, AgentMix] = field(default_factory=dict)  # per-market overrides of ``mix``
    seed: int = 0
    dt: float = 1.0  # seconds of market time per step
    start_usd: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_START_USD))
    assets: Mapping[str, AssetModel] = field(default_factory=lambda: dict(DEFAULT_ASSETS))
    correlation: float = DEFAULT_CORRELATION
    funding: Funding = Funding()
    maker: MakerParams = MakerParams()
    noise: NoiseParams = NoiseParams()
    momentum: MomentumParams = MomentumParams()
    whale: WhaleParams = WhaleParams()
    replay: Mapping[str, Sequence[Bar] | ReplayPath] | None = None  # market -> bars (or a path) it follows
    account_prefix: str = "sim"
    top_up_every: float = 3_600.0  # seconds of market time between top-ups (0: never)
    top_up_below: float = 0.5  # an agent holding less than this share of its funding (in USD) is topped up
    follow: ReferencePrices | None = None  # a second venue: follow this venue's references, apart by ``basis``
    basis: Basis = Basis()

    def __post_init__(self) -> None:
        if not (isinstance(self.dt, int | float) and math.isfinite(self.dt) and self.dt > 0):
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"dt must be a positive number of seconds, got {self.dt!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"seed must be an integer >= 0, got {self.seed!r}")
        if not (self.top_up_every >= 0 and 0 <= self.top_up_below <= 1):
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "top_up_every must be >= 0 and top_up_below within [0, 1]")
        if not self.markets or len(set(self.markets)) != len(self.markets):
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "markets must be a non-empty list without repeats")
        for where, keys in (("mixes", self.mixes), ("replay", self.replay or {})):
            stray = sorted(set(keys) - set(self.markets))
            if stray:
                raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{where} names markets not simulated: {stray}")
        for market in self.markets:
            for asset in split_market(market):
                if asset != NUMERAIRE and (asset not in self.assets or asset not in self.start_usd):
                    raise SpotlabError(
                        ErrorCode.INVALID_ARGUMENT,
                        f"market {market}: asset {asset} needs a model in SimConfig.assets and a level in start_usd",
                    )

    def mix_for(self, market: str) -> AgentMix:
        return self.mixes.get(market, self.mix)


_KINDS = (  # acting order within a step: takers first, makers last
    ("whale", "whales", Whale, "whale"),
    ("momentum", "momentum", MomentumTrader, "momentum"),
    ("noise", "noise", NoiseTrader, "noise"),
    ("maker", "makers", MarketMaker, "maker"),
)


@dataclass(frozen=True, slots=True)
class MarketQuality:
    """The top of one book: spread and depth (quote-asset value) within ``within_bps`` of the mid."""

    spread_bps: float | None  # None when a side is empty
    bid_depth: float
    ask_depth: float
    tick_bps: float  # one tick in bps of the mid


def market_quality(exchange: Exchange, market: str, within_bps: float = 50.0) -> MarketQuality:
    book = exchange.order_book(market, None)
    spec = exchange.market_spec(market)
    if not book.bids or not book.asks:
        return MarketQuality(None, 0.0, 0.0, math.nan)
    bid, ask = float(book.bids[0][0]), float(book.asks[0][0])
    mid = (bid + ask) / 2
    low, high = mid * (1 - within_bps / 1e4), mid * (1 + within_bps / 1e4)
    bid_depth = sum(float(p * q) for p, q in book.bids if float(p) >= low)
    ask_depth = sum(float(p * q) for p, q in book.asks if float(p) <= high)
    return MarketQuality((ask - bid) / mid * 1e4, bid_depth, ask_depth, float(spec.tick_size) / mid * 1e4)


class Simulator:
    """Agents trading on ``exchange`` around reference prices; ``clock`` is the exchange's clock."""

    def __init__(self, exchange: Exchange, config: SimConfig | None = None, clock: Clock | None = None) -> None:
        self.exchange = exchange
        self.config = config or SimConfig()
        self.clock = clock
        self.venue = Venue(exchange)
        self.agents: list[Agent] = []
        self.prices: ReferencePrices | LinkedPrices | None = None
        self.steps = 0
        self.topped_up = 0  # deposits made by ``top_up``
        self.context: StepContext | None = None
        self._waited = 0
        self._started: float | None = None  # perf_counter at the first step, for the throughput figures
        self._busy = 0.0  # seconds spent inside step()

    # -- setting up ----------------------------------------------------------------------

    def setup(self) -> None:
        """Build the reference prices and the agents; create and fund missing accounts. Idempotent."""
        if self.prices is not None:
            return
        config, exchange = self.config, self.exchange
        specs = {market: exchange.market_spec(market) for market in config.markets}  # raises UNKNOWN_MARKET
        codes = {a for market in config.markets for a in split_market(market) if a != NUMERAIRE}
        models = {code: config.assets[code] for code in sorted(codes)}
        start = {code: float(config.start_usd[code]) for code in models}
        last = {market: self.last_trade_price(market) for market in config.markets}
        if any(price is not None for price in last.values()):
            start = {code: levels_from_trades(last, start, models)[code] for code in models}
        rng = np.random.default_rng([config.seed, 0])
        if config.follow is not None:  # another venue of the same market: apart by a mean-reverting gap
            self.prices = LinkedPrices(config.follow, config.basis, rng)
        else:
            self.prices = ReferencePrices(models, start, rng, config.correlation, config.replay)
        if self.prices.replay_start_ns is not None and isinstance(self.clock, SimulatedClock):
            if self.clock.now_ns() < self.prices.replay_start_ns:
                self.clock.set(ns_to_datetime(self.prices.replay_start_ns))
        existing = set(exchange.accounts())
        agents: list[Agent] = []
        for kind_index, (kind, attribute, cls, params_name) in enumerate(_KINDS):
            for market in config.markets:
                spec = specs[market]
                for i in range(getattr(config.mix_for(market), attribute)):
                    name = f"{config.account_prefix}-{kind}-{spec.base.code}-{spec.quote.code}-{i}"
                    agent_rng = np.random.default_rng([config.seed, zlib.crc32(market.encode()), kind_index, i])
                    agent = cls(name, spec, agent_rng, getattr(config, params_name))
                    if name in existing:
                        exchange.cancel_all_orders(name, market)
                    else:
                        self._open_account(agent, getattr(config.funding, kind))
                    agent.start(self.venue)
                    agents.append(agent)
        self.agents = agents
        self.context = StepContext(self.prices, self.venue, 0.0, float(config.dt))

    def _open_account(self, agent: Agent, usd: float) -> None:
        exchange, spec, prices = self.exchange, agent.spec, self.prices
        exchange.create_account(agent.account)
        for asset in (spec.base, spec.quote):
            units = int(usd / prices.usd(asset.code) * 10**asset.precision)
            if units > 0:
                exchange.deposit(agent.account, asset.code, asset.to_decimal(units))

    def top_up(self) -> None:
        """Deposit paper money into agents that fees and losses have drained below ``top_up_below`` of their
        funding (USD value of both sides): the poorer side is brought back to its funding. Keeps a market
        alive around the clock; ``topped_up`` counts the deposits."""
        funding, prices = self.config.funding, self.prices
        for agent in self.agents:
            usd = getattr(funding, agent.kind)
            base, quote = agent.holdings(self.venue)
            base_usd = base * prices.usd(agent.spec.base.code)
            quote_usd = quote * prices.usd(agent.spec.quote.code)
            if base_usd + quote_usd >= self.config.top_up_below * 2 * usd:
                continue
            asset, held = (agent.spec.base, base_usd) if base_usd < quote_usd else (agent.spec.quote, quote_usd)
            units = int((usd - held) / prices.usd(asset.code) * 10**asset.precision)
            if units > 0:
                self.exchange.deposit(agent.account, asset.code, asset.to_decimal(units))
                self.topped_up += 1

    def last_trade_price(self, market: str) -> float | None:
        trades = self.exchange.trades(market, 1)
        return float(trades[0].price) if trades else None

    # -- running -------------------------------------------------------------------------

    def step(self) -> None:
        """Advance ``dt`` seconds: prices move, a simulated clock moves, every agent acts."""
        if self.prices is None:
            self.setup()
        began = time.perf_counter()
        if self._started is None:
            self._started = began
        dt = self.config.dt
        ctx = self.context
        self.prices.step(dt)
        if isinstance(self.clock, SimulatedClock):
            self.clock.advance(timedelta(seconds=dt))
        ctx.time += dt
        every = self.config.top_up_every
        if every and ctx.time // every > (ctx.time - dt) // every:
            self.top_up()
        for agent in self.agents:
            agent.act(ctx)
        if self.venue.last_index > self._waited:
            self.exchange.wait_durable(self.venue.last_index)
            self._waited = self.venue.last_index
        self.steps += 1
        self._busy += time.perf_counter() - began

    def run(self, stop: threading.Event, speed: float = 1.0, max_steps: int | None = None) -> None:
        """Step until ``stop`` is set (or ``max_steps`` steps): at ``speed`` x real time, or flat out at 0.

        Paced against ``time.monotonic``: step ``n`` is due ``n * dt / speed`` seconds after the start. If the
        simulator falls more than a second behind (a slow store, a busy machine) it drops the backlog
        instead of bursting to catch up. Returns cleanly when ``stop`` is set, between steps.
        """
        if not (isinstance(speed, int | float) and math.isfinite(speed) and speed >= 0):
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"speed must be a number >= 0, got {speed!r}")
        self.setup()
        interval = self.config.dt / speed if speed > 0 else 0.0
        origin, done = time.monotonic(), 0
        while not stop.is_set() and (max_steps is None or done < max_steps):
            self.step()
            done += 1
            if interval:
                delay = origin + done * interval - time.monotonic()
                if delay < -1.0:
                    origin, done = time.monotonic(), 0
                elif delay > 0 and stop.wait(delay):
                    break

    # -- monitoring ------------------------------------------------------------------------

    def stats(self) -> dict[str, object]:
        """Counters since this simulator started: steps, commands, refusals (by code), trades, throughput."""
        venue = self.venue
        commands = venue.placed + venue.cancels
        return {
            "steps": self.steps,
            "sim_seconds": self.steps * self.config.dt,
            "orders_placed": venue.placed,
            "cancels_sent": venue.cancels,
            "refused": venue.refusals,
            "refused_by_code": dict(sorted(venue.refused.items())),
            "trades": venue.trades,
            "topped_up": self.topped_up,
            "busy_seconds": self._busy,
            "commands_per_second": commands / self._busy if self._busy else 0.0,
        }

    def reference(self, market: str) -> Decimal:
        """The reference price of ``market`` now, on its tick (for display)."""
        if self.prices is None:
            self.setup()
        spec = self.exchange.market_spec(market)
        ticks = round(self.prices.price(market) / float(spec.tick_size))
        return spec.price(ticks)
