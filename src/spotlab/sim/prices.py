"""Reference prices for the market simulator: one USD level per asset, every market's price derived from them.

The model (per asset ``a``, time step ``dt`` seconds, ``h = dt / SECONDS_PER_YEAR``; crypto trades all year)
- Floating assets follow a log-price random walk with Poisson jumps and no drift in the log price::

      ln S(t+dt) = ln S(t) + sigma_a * sqrt(h) * (sqrt(rho) * Z_m + sqrt(1 - rho) * Z_a) + J_a
      N_a ~ Poisson(lambda_a * h),   J_a ~ Normal(N_a * mu_a, sqrt(N_a) * s_a)   (J_a = 0 when N_a = 0)

  ``Z_m`` is one market factor shared by every floating asset, so two assets' diffusion returns have
  correlation ``rho`` (``DEFAULT_CORRELATION`` = 0.7). The annualised volatility of the returns is
  ``sqrt(sigma^2 + lambda * (mu^2 + s^2))`` (``AssetModel.total_volatility``).
- Pegged assets (stablecoins) revert to 1 USD: ``x = ln S`` is an Ornstein-Uhlenbeck process sampled
  exactly, ``x(t+dt) = x(t) * e^(-k dt) + peg_stdev * sqrt(1 - e^(-2 k dt)) * Z_a`` with
  ``k = ln 2 / peg_half_life``; ``peg_stdev`` is its long-run standard deviation (5 bps by default).
- USD is the numeraire: exactly 1, always.
- A market ``BASE/QUOTE``'s reference is ``usd(BASE) / usd(QUOTE)``. Cross rates are therefore consistent
  by construction: ETH/BTC == (ETH/USDT) / (BTC/USDT) up to float rounding. Arbitrage appears only
  between the order books, never in the references.

Default calibration (``DEFAULT_ASSETS``): BTC 55 % a year (the bundled BTC/USDT 1h bars of January 2025,
``shared/data/quantedge-ta``, realise 54 %), ETH 70 %, SOL 95 %, ADA and DOT 90 %: the usual ordering
of the trading guides and of published implied-volatility indices (ETH runs about 1.3x BTC, large
altcoins 1.6-1.8x). Jumps: about one a month, 2.5 % (BTC) to 5 % (altcoins) standard deviation. These
are round, documented figures, not a fit; pass your own ``AssetModel`` s to change them.

Replay: ``ReplayPath`` turns bars into a continuous path (open -> first extreme -> second extreme ->
close -> next open, piecewise linear in time, with knots at 0, 1/4, 1/2 and 3/4 of the bar; a rising
bar visits its low first, a falling one its high first); ``ReplayPath.from_trades`` does the same for
trades (linear between them). A replayed market pins its base asset: ``usd(BASE) = path(t) * usd(QUOTE)``,
so crosses built on it stay consistent too. Replay time is the first knot plus the time stepped.

Invariants
- Deterministic: the same models, start levels and seed give the same path, whatever is replayed
  (each step draws the same random numbers, in the same order, from the one ``numpy.random.Generator``).
- Every level is a positive finite float. Reference prices are model quantities (statistics); agents turn
  them into integer ticks and lots before any order is placed. No money is ever a float.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.strategy.data import Bar

SECONDS_PER_YEAR = 365 * 86_400
DEFAULT_CORRELATION = 0.7
NUMERAIRE = "USD"


@dataclass(frozen=True, slots=True)
class AssetModel:
    """How one asset's USD level moves (see the module docstring for the formulas)."""

    volatility: float = 0.0  # sigma: annualised stdev of the diffusion part of log returns
    jumps_per_year: float = 0.0  # lambda
    jump_mean: float = 0.0  # mu: mean log size of one jump
    jump_stdev: float = 0.0  # s: stdev of the log size of one jump
    pegged: bool = False  # a stablecoin: mean-reverting around 1 USD, no jumps, no market factor
    peg_stdev: float = 0.0005  # long-run stdev of ln(level) around 0 (pegged only)
    peg_half_life: float = 600.0  # seconds for a deviation from the peg to halve (pegged only)

    def __post_init__(self) -> None:
        for name in ("volatility", "jumps_per_year", "jump_stdev", "peg_stdev"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise SpotlabError(
                    ErrorCode.INVALID_ARGUMENT, f"AssetModel.{name} must be a finite number >= 0, got {value!r}"
                )
        if not (math.isfinite(self.jump_mean) and math.isfinite(self.peg_half_life) and self.peg_half_life > 0):
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"AssetModel needs a finite jump_mean and a positive peg_half_life, got {self.jump_mean!r}, "
                f"{self.peg_half_life!r}",
            )

    @property
    def total_volatility(self) -> float:
        """Annualised stdev of log returns, jumps included (floating assets; a pegged one's is set by its peg)."""
        return math.sqrt(self.volatility**2 + self.jumps_per_year * (self.jump_mean**2 + self.jump_stdev**2))


STABLECOIN = AssetModel(pegged=True)

DEFAULT_ASSETS: Mapping[str, AssetModel] = {
    "BTC": AssetModel(volatility=0.55, jumps_per_year=12, jump_stdev=0.025),
    "ETH": AssetModel(volatility=0.70, jumps_per_year=12, jump_stdev=0.035),
    "SOL": AssetModel(volatility=0.95, jumps_per_year=15, jump_stdev=0.05),
    "ADA": AssetModel(volatility=0.90, jumps_per_year=15, jump_stdev=0.05),
    "DOT": AssetModel(volatility=0.90, jumps_per_year=15, jump_stdev=0.05),
    "USDT": STABLECOIN,
    "USDC": STABLECOIN,
}

#: Starting USD levels (round figures of late 2024 / 2025).
DEFAULT_START_USD: Mapping[str, float] = {
    "BTC": 95_000.0,
    "ETH": 3_300.0,
    "SOL": 190.0,
    "ADA": 0.90,
    "DOT": 7.0,
    "USDT": 1.0,
    "USDC": 1.0,
    "USD": 1.0,
}


def split_market(market: str) -> tuple[str, str]:
    """``"ETH/BTC"`` -> ``("ETH", "BTC")``."""
    base, sep, quote = market.partition("/")
    if not sep or not base or not quote:
        raise SpotlabError(ErrorCode.UNKNOWN_MARKET, f"a market is BASE/QUOTE, got {market!r}", market=market)
    return base, quote


class ReplayPath:
    """A continuous price path through historical bars (see the module docstring) or trades."""

    __slots__ = ("_times", "_values", "start_ns", "end_ns")

    def __init__(self, bars: Sequence[Bar]) -> None:
        if not bars:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "a replay needs at least one bar")
        times: list[int] = []
        values: list[float] = []
        for index, bar in enumerate(bars):
            if times and bar.open_time_ns <= times[-1]:
                raise SpotlabError(
                    ErrorCode.INVALID_ARGUMENT, f"replay bar {index} does not open after the previous bar's close"
                )
            length = bar.close_time_ns - bar.open_time_ns
            first, second = (bar.low, bar.high) if bar.close >= bar.open else (bar.high, bar.low)
            for quarter, price in enumerate((bar.open, first, second, bar.close)):
                times.append(bar.open_time_ns + length * quarter // 4)
                values.append(float(price))
        self._set(times, values)

    @classmethod
    def from_trades(cls, trades: Sequence[tuple[int, Decimal]]) -> ReplayPath:
        """A path through ``(time_ns, price)`` trades, linear between them; trades at one time keep the last."""
        if not trades:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "a replay needs at least one trade")
        path = cls.__new__(cls)
        times: list[int] = []
        values: list[float] = []
        for index, (ns, price) in enumerate(trades):
            if price <= 0 or (times and ns < times[-1]):
                raise SpotlabError(
                    ErrorCode.INVALID_ARGUMENT, f"replay trade {index}: prices must be > 0 and times not go back"
                )
            if times and ns == times[-1]:
                values[-1] = float(price)
            else:
                times.append(ns)
                values.append(float(price))
        path._set(times, values)
        return path

    def _set(self, times: list[int], values: list[float]) -> None:
        self._times = times
        self._values = values
        self.start_ns = times[0]
        self.end_ns = times[-1]

    def at(self, ns: int) -> float:
        """The price at ``ns`` (UTC ns): the first open before the bars, the last close after them."""
        times, values = self._times, self._values
        i = bisect.bisect_right(times, ns)
        if i == 0:
            return values[0]
        if i == len(times):
            return values[-1]
        t0, t1 = times[i - 1], times[i]
        v0, v1 = values[i - 1], values[i]
        return v0 + (v1 - v0) * (ns - t0) / (t1 - t0)


class ReferencePrices:
    """USD levels of a set of assets, moved one step at a time; market references derived from them."""

    def __init__(
        self,
        models: Mapping[str, AssetModel],
        start_usd: Mapping[str, float],
        rng: np.random.Generator,
        correlation: float = DEFAULT_CORRELATION,
        replay: Mapping[str, Sequence[Bar] | ReplayPath] | None = None,
    ) -> None:
        if not 0.0 <= correlation <= 1.0:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"correlation must be within [0, 1], got {correlation!r}")
        missing = sorted(set(models) - set(start_usd))
        if missing:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"no starting USD level for {', '.join(missing)}")
        self.assets = [code for code in models if code != NUMERAIRE]
        for code in self.assets:
            level = start_usd[code]
            if not (isinstance(level, int | float) and math.isfinite(level) and level > 0):
                raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"the starting USD level of {code} must be > 0")
        self.rng = rng
        self.models = dict(models)
        self.elapsed_ns = 0  # time since the start (the sum of the steps, each rounded to the ns)
        self._index = {code: i for i, code in enumerate(self.assets)}
        self._log = np.array([math.log(start_usd[code]) for code in self.assets], dtype=float)
        self._pegged = np.array([models[c].pegged for c in self.assets], dtype=bool)
        self._sigma = np.array([0.0 if models[c].pegged else models[c].volatility for c in self.assets])
        self._lambda = np.array([0.0 if models[c].pegged else models[c].jumps_per_year for c in self.assets])
        self._jump_mean = np.array([models[c].jump_mean for c in self.assets])
        self._jump_stdev = np.array([models[c].jump_stdev for c in self.assets])
        self._peg_stdev = np.array([models[c].peg_stdev for c in self.assets])
        self._peg_rate = np.array([math.log(2) / models[c].peg_half_life for c in self.assets])
        self._loading = math.sqrt(correlation)
        self._own = math.sqrt(1.0 - correlation)
        self._levels: dict[str, float] = {NUMERAIRE: 1.0}
        self._replay: list[tuple[str, str, ReplayPath]] = []
        for market, bars in (replay or {}).items():
            base, quote = split_market(market)
            if base not in self._index or (quote != NUMERAIRE and quote not in self._index):
                raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"replayed market {market}: its assets need models")
            self._replay.append((base, quote, bars if isinstance(bars, ReplayPath) else ReplayPath(bars)))
        self.replay_start_ns = min((path.start_ns for _, _, path in self._replay), default=None)
        self._refresh()

    def step(self, dt: float) -> None:
        """Move every level ``dt`` seconds forward."""
        if not (dt > 0 and math.isfinite(dt)):
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"dt must be a positive number of seconds, got {dt!r}")
        k = len(self.assets)
        h = dt / SECONDS_PER_YEAR
        normals = self.rng.standard_normal(1 + 2 * k)
        jumps = self.rng.poisson(self._lambda * h)
        market, own, jump_noise = normals[0], normals[1 : 1 + k], normals[1 + k :]
        diffusion = self._sigma * math.sqrt(h) * (self._loading * market + self._own * own)
        jump = jumps * self._jump_mean + np.sqrt(jumps) * self._jump_stdev * jump_noise
        decay = np.exp(-self._peg_rate * dt)
        pegged = self._log * decay + self._peg_stdev * np.sqrt(1.0 - decay * decay) * own
        self._log = np.where(self._pegged, pegged, self._log + diffusion + jump)
        self.elapsed_ns += round(dt * 1e9)
        self._refresh()

    def _refresh(self) -> None:
        levels = self._levels
        for code, value in zip(self.assets, np.exp(self._log).tolist(), strict=True):
            levels[code] = value
        if self._replay:
            now = self.replay_start_ns + self.elapsed_ns
            for base, quote, path in self._replay:
                levels[base] = path.at(now) * levels[quote]

    def usd(self, asset: str) -> float:
        """The USD level of ``asset`` (USD itself is 1)."""
        try:
            return self._levels[asset]
        except KeyError:
            raise SpotlabError(ErrorCode.UNKNOWN_ASSET, f"no reference model for {asset!r}", asset=asset) from None

    def price(self, market: str) -> float:
        """The reference price of ``BASE/QUOTE``: ``usd(BASE) / usd(QUOTE)``."""
        base, quote = split_market(market)
        return self.usd(base) / self.usd(quote)


@dataclass(frozen=True, slots=True)
class Basis:
    """How a second venue's prices wander from the first's: per asset an Ornstein-Uhlenbeck log-gap with
    stationary standard deviation ``stdev`` (0.004: 0.4 %) that halves in ``half_life`` seconds."""

    stdev: float = 0.004
    half_life: float = 600.0

    def __post_init__(self) -> None:
        if not (self.stdev >= 0 and math.isfinite(self.stdev) and self.half_life > 0):
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "a basis needs stdev >= 0 and half_life > 0 seconds")


class LinkedPrices:
    """Another venue's references: the ``leader``'s USD levels times ``exp(gap)`` per asset.

    The gaps follow ``Basis`` (mean 0: the two venues' prices drift apart and come back together),
    drawn from their own generator; pegged assets keep no gap. ``step`` moves the gaps only: the
    leader is stepped by its own simulator. Cross rates stay consistent within the venue (each market
    is ``usd(base) / usd(quote)`` of this venue's levels); between venues they differ by the gaps,
    which is what an arbitrageur trades.
    """

    def __init__(self, leader: ReferencePrices, basis: Basis, rng: np.random.Generator) -> None:
        self.leader = leader
        self.basis = basis
        self.rng = rng
        self.assets = list(leader.assets)
        self.models = leader.models
        self.replay_start_ns = leader.replay_start_ns
        self.elapsed_ns = 0
        self._floating = np.array([not leader.models[c].pegged for c in self.assets], dtype=bool)
        self._gap = np.where(self._floating, rng.standard_normal(len(self.assets)) * basis.stdev, 0.0)
        self._rate = math.log(2) / basis.half_life

    def step(self, dt: float) -> None:
        if not (dt > 0 and math.isfinite(dt)):
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"dt must be a positive number of seconds, got {dt!r}")
        decay = math.exp(-self._rate * dt)
        noise = self.rng.standard_normal(len(self.assets)) * self.basis.stdev * math.sqrt(1.0 - decay * decay)
        self._gap = np.where(self._floating, self._gap * decay + noise, 0.0)
        self.elapsed_ns += round(dt * 1e9)

    def gap(self, asset: str) -> float:
        """This venue's log-gap from the leader for ``asset`` (0 for USD and pegged assets)."""
        if asset == NUMERAIRE:
            return 0.0
        return float(self._gap[self.assets.index(asset)])

    def usd(self, asset: str) -> float:
        return self.leader.usd(asset) * math.exp(self.gap(asset))

    def price(self, market: str) -> float:
        base, quote = split_market(market)
        return self.usd(base) / self.usd(quote)


def levels_from_trades(
    last_prices: Mapping[str, float], defaults: Mapping[str, float], models: Mapping[str, AssetModel]
) -> dict[str, float]:
    """Starting USD levels that agree with markets' last trade prices (for resuming an exchange).

    Rules, in order (a market is ``BASE/QUOTE`` with last price ``p``):
    1. USD is 1 and pegged assets (stablecoins) start at 1: a trade never moves a peg.
    2. A floating asset traded against USD or a pegged asset starts at the geometric mean of the
       levels those markets imply (``p * level(QUOTE)``): BTC/USDT and BTC/USD that disagree meet halfway.
    3. Then, repeatedly, an asset still without a level that trades against one with a level takes the
       geometric mean of what those crosses imply (ADA/BTC once BTC is known).
    4. Anything left keeps its default. A cross whose price disagrees with the levels so chosen (ETH/BTC
       against ETH/USDT / BTC/USDT) is not followed: its book starts off the reference, an arbitrage the
       market makers close as they quote.
    """
    levels = {code: level for code, level in defaults.items()}
    known = {NUMERAIRE} | {code for code, model in models.items() if model.pegged}
    for code in known:
        levels[code] = 1.0
    pending = {}
    for market, price in sorted(last_prices.items()):
        if price is not None and price > 0:
            pending[market] = (*split_market(market), float(price))
    while True:
        implied: dict[str, list[float]] = {}
        for base, quote, price in pending.values():
            if base not in known and quote in known:
                implied.setdefault(base, []).append(math.log(price * levels[quote]))
        if not implied:
            return levels
        for code, logs in sorted(implied.items()):
            levels[code] = math.exp(sum(logs) / len(logs))
            known.add(code)
