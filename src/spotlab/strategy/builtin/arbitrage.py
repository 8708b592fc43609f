"""Triangular arbitrage: three markets over three assets; trade the cycle whose rates multiply to a profit.

Idea: with ADA/BTC, BTC/USDT and ADA/USDT, USDT can go round USDT -> BTC -> ADA -> USDT or the
other way. At consistent prices (ADA/USDT = ADA/BTC x BTC/USDT) both cycles lose the three fees;
when the direct rate drifts from the implied cross rate, one cycle ends with more USDT than it
started with. The strategy measures both cycles at every common bar close and runs the profitable
one at once, one leg after the other.

Parameters
- ``triangle`` (str, "ADA/BTC BTC/USDT ADA/USDT"): the three markets (spaces or commas between);
  together they must trade exactly three assets, each in two of the markets.
- ``home`` (str, "USDT"): the asset a cycle starts and ends in (one of the three).
- ``amount`` (Decimal, 100): the home asset put into a cycle, capped at the available balance.
- ``min_edge_bps`` (Decimal, 10): a cycle runs when its net edge is strictly above this, >= 0.
- ``slippage_bps`` (Decimal, 0): 0 for market orders; else each leg is an immediate-or-cancel
  limit order at most this far past its market's close (buys at ``close x (1 + s)`` rounded
  down to the tick, sells at ``close x (1 - s)`` rounded up), so a thin book cannot fill it worse.

Rules
- The cycles: with ``X`` < ``Y`` the two other assets (by code), ``home>X>Y>home`` and
  ``home>Y>X>home``. A leg from asset ``a`` to ``b`` trades the market holding both: a BUY if
  it is ``b/a`` (rate ``1 / close``), a SELL if it is ``a/b`` (rate ``close``).
- When a bar of a triangle market closes and the last bars of all three markets closed at this
  same instant (so at the last of the three), once per instant: each cycle's ``gross`` is the
  product of its three rates at those closes and its edge
  ``edge_bps = (gross x (1 - f1) x (1 - f2) x (1 - f3) - 1) x 10_000`` with ``f`` the markets'
  taker fees (50 significant digits). Both go to ``edges``; those above ``min_edge_bps`` to
  ``opportunities``. The one with the larger edge above ``min_edge_bps`` runs (the two grosses
  multiply to 1, so with fees at most one is ever above 0).
- Running a cycle: leg 1 spends ``min(amount, available home)``, each later leg what the leg
  before it added to its asset's balance (never more than is available): a buy as a market
  order by quote amount (that amount, fees included, down to the quote asset's unit), a sell as
  a market order of that quantity down to the lot. A leg below the market's minimums (quantity,
  or notional at the last close), refused by the exchange, or that fills nothing ends the cycle
  there: what the last leg bought stays in that asset. With ``slippage_bps``, a buy leg's
  quantity is the amount over ``limit x (1 + the worse fee rate)`` down to the lot, a sell's as
  above, and what the IOC does not fill expires (the next leg trades what did fill).
  Each run is recorded in ``taken`` (``TakenCycle``: home spent, home received, legs done, why
  it stopped).

Known limitations: the edge is measured at the closes, the legs fill at the book (spread and
depth), so the realised profit is smaller than the edge. The legs need immediate orders: with
order latency (``latency_bars=1``) only the first leg goes out and the cycle stops there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Context, Decimal

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.strategy.base import Strategy
from spotlab.strategy.data import Bar
from spotlab.strategy.params import Param

_WIDE = Context(prec=50)
_BPS = Decimal(10_000)
_SYMBOL = re.compile(r"^([A-Z0-9]{1,12})/([A-Z0-9]{1,12})$")


@dataclass(frozen=True, slots=True)
class Leg:
    market: str
    side: str  # "buy" or "sell"
    source: str  # the asset the leg spends
    target: str  # the asset it receives


@dataclass(frozen=True, slots=True)
class Cycle:
    name: str  # "USDT>BTC>ADA>USDT"
    legs: tuple[Leg, Leg, Leg]


@dataclass(frozen=True, slots=True)
class Edge:
    """One cycle measured at one common close."""

    time_ns: int
    cycle: str
    gross: Decimal  # the product of the three rates at the closes
    edge_bps: Decimal  # net of the three taker fees


@dataclass(frozen=True, slots=True)
class TakenCycle:
    """One cycle the strategy ran."""

    time_ns: int
    cycle: str
    edge_bps: Decimal
    spent: Decimal  # home asset, by leg 1
    received: Decimal  # home asset, by leg 3 (0 if the cycle stopped before)
    legs_done: int
    stopped: str | None  # why the cycle ended early, None when all three legs traded

    @property
    def profit(self) -> Decimal:
        return self.received - self.spent


class TriangularArbitrage(Strategy):
    triangle = Param(str, "ADA/BTC BTC/USDT ADA/USDT", "the three markets, separated by spaces or commas")
    home = Param(str, "USDT", "the asset each cycle starts and ends in")
    amount = Param(Decimal, Decimal(100), "home asset put into a cycle", min=Decimal("0.00000001"))
    min_edge_bps = Param(Decimal, Decimal(10), "run a cycle above this net edge, bps", min=0)
    slippage_bps = Param(Decimal, Decimal(0), "0: market orders; else IOC limits this far past the close", min=0)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.triangle_markets, self.cycles = _cycles(self.triangle, self.home)

    def init(self) -> None:
        missing = [market for market in self.triangle_markets if market not in self.markets]
        if missing:
            raise SpotlabError(
                ErrorCode.UNKNOWN_MARKET,
                f"the triangle's market(s) {', '.join(missing)} are not in this run ({', '.join(self.markets)})",
                market=missing[0],
            )
        self.edges: list[Edge] = []
        self.opportunities: list[Edge] = []
        self.taken: list[TakenCycle] = []
        self._measured_at: int | None = None

    def on_bar(self, bar: Bar) -> None:
        if bar.market not in self.triangle_markets or self._measured_at == bar.close_time_ns:
            return
        closes = {}
        for market in self.triangle_markets:
            data = self.data[market]
            if not len(data) or data.last.close_time_ns != bar.close_time_ns:
                return  # wait for the other markets' bars of this instant
            closes[market] = data.last.close
        self._measured_at = bar.close_time_ns
        best: Edge | None = None
        for cycle in self.cycles:
            edge = self._measure(cycle, closes, bar.close_time_ns)
            self.edges.append(edge)
            if edge.edge_bps > self.min_edge_bps:
                self.opportunities.append(edge)
                if best is None or edge.edge_bps > best.edge_bps:
                    best = edge
        if best is not None:
            self._run(next(c for c in self.cycles if c.name == best.cycle), best)

    # -- measuring ------------------------------------------------------------------------------

    def _measure(self, cycle: Cycle, closes: dict[str, Decimal], time_ns: int) -> Edge:
        gross = net = Decimal(1)
        for leg in cycle.legs:
            close = closes[leg.market]
            rate = _WIDE.divide(Decimal(1), close) if leg.side == "buy" else close
            gross = _WIDE.multiply(gross, rate)
            taker = self.context.venue.market_spec(leg.market).taker_fee
            net = _WIDE.multiply(net, _WIDE.multiply(rate, 1 - taker))
        return Edge(time_ns, cycle.name, gross, _WIDE.multiply(net - 1, _BPS))

    # -- running --------------------------------------------------------------------------------

    def _run(self, cycle: Cycle, edge: Edge) -> None:
        have = min(self.amount, self.balance(self.home).available)
        spent = received = Decimal(0)
        done, stopped = 0, None
        for leg in cycle.legs:
            source_before = self.balance(leg.source).total
            target_before = self.balance(leg.target).total
            stopped = self._trade(leg, min(have, self.balance(leg.source).available))
            got = self.balance(leg.target).total - target_before
            if done == 0:
                spent = source_before - self.balance(leg.source).total
            if stopped is None and got <= 0:
                stopped = "the order filled nothing at once"
            if stopped is not None:
                break
            done += 1
            have = got
        if done == 3:
            received = have
        self.taken.append(TakenCycle(edge.time_ns, cycle.name, edge.edge_bps, spent, received, done, stopped))

    def _trade(self, leg: Leg, amount: Decimal) -> str | None:
        """Send one leg spending ``amount`` of its source asset; the reason it was not sent, or None."""
        spec = self.context.venue.market_spec(leg.market)
        close = self.data[leg.market].last.close
        try:
            if leg.side == "buy" and not self.slippage_bps:
                budget = amount.quantize(spec.quote.unit, rounding=ROUND_DOWN)
                if budget < spec.min_notional or budget <= 0:
                    return f"{leg.market}: {budget} {leg.source} is below the minimum notional {spec.min_notional}"
                self.buy(leg.market, quote_quantity=budget)
                return None
            if leg.side == "buy":
                limit = self.round_price(leg.market, close * (1 + self.slippage_bps / _BPS), ROUND_DOWN)
                fee = max(spec.maker_fee, spec.taker_fee)
                quantity = self.round_quantity(leg.market, amount / (limit * (1 + fee)))
            else:
                limit = self.round_price(leg.market, close * (1 - self.slippage_bps / _BPS), ROUND_UP)
                quantity = self.round_quantity(leg.market, amount)
            if quantity < spec.min_quantity or quantity * limit < spec.min_notional:
                return f"{leg.market}: {leg.side} {quantity} is below the market's minimums"
            if self.slippage_bps:
                self.place_order(leg.market, leg.side, "limit", limit, quantity, time_in_force="IOC")
            else:
                self.sell(leg.market, quantity)
        except SpotlabError as error:
            return f"{leg.market}: refused: {error.message}"
        return None


def _cycles(triangle: str, home: str) -> tuple[tuple[str, str, str], tuple[Cycle, Cycle]]:
    """The triangle's markets and its two cycles from ``home`` (refusing anything but a triangle)."""
    symbols = tuple(part for part in re.split(r"[\s,]+", triangle.strip()) if part)
    parsed = []
    for symbol in symbols:
        match = _SYMBOL.match(symbol)
        if match is None or match[1] == match[2]:
            raise _refuse(f"{symbol!r} is not a market symbol like 'ADA/BTC'")
        parsed.append((symbol, match[1], match[2]))
    assets = sorted({asset for _, base, quote in parsed for asset in (base, quote)})
    pairs = {frozenset((base, quote)) for _, base, quote in parsed}
    if len(parsed) != 3 or len(assets) != 3 or len(pairs) != 3:
        raise _refuse(
            f"triangle needs three markets over three assets, each pair once (like 'ADA/BTC BTC/USDT ADA/USDT'), "
            f"got {triangle!r}"
        )
    if home not in assets:
        raise _refuse(f"home {home!r} is not one of the triangle's assets ({', '.join(assets)})", "home")
    x, y = (asset for asset in assets if asset != home)

    def leg(source: str, target: str) -> Leg:
        symbol, base, _ = next(p for p in parsed if {p[1], p[2]} == {source, target})
        return Leg(symbol, "buy" if base == target else "sell", source, target)

    cycles = tuple(
        Cycle(f"{home}>{a}>{b}>{home}", (leg(home, a), leg(a, b), leg(b, home))) for a, b in ((x, y), (y, x))
    )
    return (symbols[0], symbols[1], symbols[2]), cycles  # type: ignore[return-value]


def _refuse(message: str, parameter: str = "triangle") -> SpotlabError:
    return SpotlabError(ErrorCode.INVALID_ARGUMENT, message, parameter=parameter)
