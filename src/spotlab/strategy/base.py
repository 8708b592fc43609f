"""The strategy interface: ``init`` declares, ``on_bar`` / ``on_fill`` / ``on_timer`` react, the venue executes.

    class Crossover(Strategy):
        fast = Param(int, 10, "fast EMA period", min=2)

        def init(self):
            self.ema = self.indicator(indicators.EMA, self.fast)

        def on_bar(self, bar):
            if bar.close > Decimal(str(self.ema[-1])) and not self.position(bar.market):
                self.buy(bar.market, quote_quantity=Decimal("100"))

Invariants
- A strategy only sees the past: ``self.data[market]`` holds the bars closed so far
  (``spotlab.strategy.data``), indicators are fed each closed bar once, ``self.now`` is the clock.
- Every order goes through the venue (``spotlab.strategy.venue``) with the same arguments as any
  client of the exchange; the exchange's refusals reach the strategy as ``SpotlabError``.
  Nothing here knows whether the venue is a backtest, paper trading or a live exchange.
- Orders placed without a ``client_order_id`` get one (``s1``, ``s2``, ... per strategy), so
  each stays findable on the exchange after it closes.
- Parameters are checked when the strategy is built (``spotlab.strategy.params``).
- With order latency (a backtest option), order methods return ``None``: the order reaches
  the exchange later; follow it through ``on_fill`` and ``open_orders``.
- Several venues (``LiveRunner.across``): each has a name (``self.venue_names``, the main one
  first) and its own account, balances, orders and bars (``self.data_of(name)``). Order, balance
  and market-rule methods take ``venue=name`` (default: the main venue); ``self.data`` and
  indicators are the main venue's; bars and fills carry their venue's name. Money never moves
  between venues by itself. A single-venue run has one venue, named ``main``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from spotlab.clock import Clock, datetime_to_ns, ns_to_datetime
from spotlab.core.markets import MarketSpec
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.exchange.views import Balance, BookView, OrderListView, OrderView, QuotesView
from spotlab.risk.sizing import DEFAULT_RISK_PERCENT, PositionSize, position_size
from spotlab.strategy import params as _params
from spotlab.strategy.data import Bar, IndicatorSeries, MarketData, StrategyFill, indicator_inputs
from spotlab.strategy.timers import Timers, to_ns
from spotlab.strategy.venue import Venue


@dataclass(slots=True)
class StrategyContext:
    """What a runner wires a strategy to: its markets, data, venue, clock, timers and valuation."""

    markets: tuple[str, ...]
    data: Mapping[str, MarketData]
    venue: Venue
    clock: Clock
    timers: Timers
    report_currency: str
    value_in: Callable[[str], Decimal]  # the account's equity in an asset, at the last closes
    venues: Mapping[str, Venue] | None = None  # name -> venue, the main first; default {main_venue: venue}
    venue_data: Mapping[str, Mapping[str, MarketData]] | None = None  # name -> its data; default {main: data}
    main_venue: str = "main"

    def __post_init__(self) -> None:
        if self.venues is None:
            self.venues = {self.main_venue: self.venue}
        if self.venue_data is None:
            self.venue_data = {self.main_venue: self.data}
        if (
            self.venues.get(self.main_venue) is not self.venue
            or self.venue_data.get(self.main_venue) is not self.data
            or set(self.venue_data) != set(self.venues)
        ):
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"venues {list(self.venues)} and venue data {list(self.venue_data)} must name the same venues, "
                f"the main one ({self.main_venue!r}) being the context's venue and data",
            )


class Strategy:
    """Subclass it; override ``init`` and ``on_bar`` (and ``on_fill`` / ``on_timer`` if needed)."""

    def __init__(self, **params: Any) -> None:
        self._params = _params.resolve(type(self), params)
        self._context: StrategyContext | None = None
        self._indicators: dict[str, list[IndicatorSeries]] = {}  # market -> every series declared, in order
        self._fed: dict[str, list[IndicatorSeries]] = {}  # market -> the series updated bar by bar (not prepared)
        self._client_ids = 0

    # -- to override --------------------------------------------------------------------

    def init(self) -> None:
        """Declare indicators and timers; called once, before the first bar."""

    def on_bar(self, bar: Bar) -> None:
        """A bar of one of the strategy's markets has closed (it is already in ``self.data``)."""

    def on_fill(self, fill: StrategyFill) -> None:
        """One of the strategy's orders traded."""

    def on_timer(self, name: str) -> None:
        """A timer set with ``every`` or ``at`` is due (``self.now`` is its due time)."""

    # -- wiring (runners call these) -------------------------------------------------------

    @classmethod
    def parameters(cls) -> dict[str, _params.Param]:
        return _params.declared(cls)

    @property
    def params(self) -> dict[str, Any]:
        """The parameter values this strategy was built with."""
        return dict(self._params)

    def attach(self, context: StrategyContext) -> None:
        if self._context is not None:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"{type(self).__name__} is already attached to a run; build a new instance for each run",
            )
        self._context = context
        self._main_venue = context.main_venue

    def bar_closed(self, bar: Bar) -> None:
        """Feed the indicators of ``bar``'s market (bars of the main venue only), then call ``on_bar``."""
        if not bar.venue or bar.venue == self._main_venue:
            for series in self._fed.get(bar.market, ()):
                series._update(bar)
        self.on_bar(bar)

    def prepare_indicators(self) -> None:
        """Take each indicator's outputs for the whole run at once where it can (``IndicatorSeries._prepare``):
        a runner that knows every bar ahead (a backtest) calls it after ``init``, once it has preloaded the bars
        (``MarketData._preload``). The strategy sees the same numbers, revealed bar by bar as before."""
        data = self.context.data
        for market, series in self._fed.items():
            series[:] = [one for one in series if not one._prepare(data[market])]  # the rest: fed bar by bar

    @property
    def context(self) -> StrategyContext:
        if self._context is None:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT, f"{type(self).__name__} is not running yet: run it with a backtest or venue"
            )
        return self._context

    # -- what the strategy sees -----------------------------------------------------------

    @property
    def markets(self) -> tuple[str, ...]:
        return self.context.markets

    @property
    def market(self) -> str:
        """The strategy's market when it trades exactly one."""
        markets = self.context.markets
        if len(markets) != 1:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT, f"this run has {len(markets)} markets; name one ({', '.join(markets)})"
            )
        return markets[0]

    @property
    def data(self) -> Mapping[str, MarketData]:
        """The main venue's closed bars, by market."""
        return self.context.data

    @property
    def venue_names(self) -> tuple[str, ...]:
        """The names of the run's venues, the main one first (``("main",)`` with one venue)."""
        return tuple(self.context.venues)

    def data_of(self, venue: str | None = None) -> Mapping[str, MarketData]:
        """The closed bars of ``venue`` (default: the main venue), by market."""
        if venue is None:
            return self.context.data
        self._venue(venue)  # UNKNOWN venue -> INVALID_ARGUMENT
        return self.context.venue_data[venue]

    def _venue(self, name: str | None) -> Venue:
        """The venue named ``name`` (None: the main one)."""
        context = self.context
        if name is None:
            return context.venue
        venue = context.venues.get(name) if isinstance(name, str) else None
        if venue is None:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT, f"no venue {name!r} in this run; its venues: {', '.join(context.venues)}"
            )
        return venue

    @property
    def now(self) -> datetime:
        return self.context.clock.now()

    @property
    def now_ns(self) -> int:
        return self.context.clock.now_ns()

    def indicator(
        self,
        indicator_class: type,
        *args: Any,
        source: str | tuple[str, ...] | None = None,
        market: str | None = None,
        **kwargs: Any,
    ) -> IndicatorSeries:
        """A streaming indicator over ``market``'s closed bars (default: the only market).

        ``indicator_class(*args, **kwargs)`` is built here; its inputs come from the names of its
        ``update`` arguments (``close``, ``high``, ...) unless ``source`` names them (``source="high"``).
        """
        market = market or self.market
        if market not in self.context.data:
            raise SpotlabError(ErrorCode.UNKNOWN_MARKET, f"{market!r} is not one of this run's markets", market=market)
        instance = indicator_class(*args, **kwargs)
        series = IndicatorSeries(market, instance, indicator_inputs(instance, source))
        for bar in self.context.data[market]:  # declared late: catch up on the bars already closed
            series._update(bar)
        self._indicators.setdefault(market, []).append(series)
        self._fed.setdefault(market, []).append(series)
        return series

    # -- timers -------------------------------------------------------------------------------

    def every(self, interval: timedelta | str, name: str, *, start: datetime | None = None) -> None:
        """Call ``on_timer(name)`` every ``interval`` of clock time, first at ``start`` (default: now + interval)."""
        step = to_ns(_params.Param(timedelta, timedelta(seconds=1)).check(interval))
        first = datetime_to_ns(start) if start is not None else self.now_ns + step
        self._check_future(first)
        self.context.timers.add(first, name, step)

    def at(self, moment: datetime, name: str) -> None:
        """Call ``on_timer(name)`` once, at ``moment`` (UTC)."""
        due = datetime_to_ns(moment)
        self._check_future(due)
        self.context.timers.add(due, name)

    def cancel_timer(self, name: str) -> None:
        self.context.timers.cancel(name)

    def _check_future(self, due: int) -> None:
        if due < self.now_ns:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT, f"a timer cannot be due in the past ({ns_to_datetime(due)} < {self.now})"
            )

    # -- orders -------------------------------------------------------------------------------

    def buy(self, market: str, quantity=None, *, price=None, quote_quantity=None, **options) -> OrderView | None:
        """A market buy (``quantity`` or ``quote_quantity``), or a limit buy when ``price`` is given
        (``venue=name`` in ``options``: on that venue; default the main one)."""
        return self._simple(market, "buy", quantity, price, quote_quantity, options)

    def sell(self, market: str, quantity=None, *, price=None, quote_quantity=None, **options) -> OrderView | None:
        """A market sell (``quantity`` or ``quote_quantity``), or a limit sell when ``price`` is given
        (``venue=name`` in ``options``: on that venue; default the main one)."""
        return self._simple(market, "sell", quantity, price, quote_quantity, options)

    def _simple(self, market, side, quantity, price, quote_quantity, options):
        if quote_quantity is not None:
            options["quote_quantity"] = quote_quantity
        return self.place_order(market, side, "limit" if price is not None else "market", price, quantity, **options)

    def place_order(
        self, market: str, side: str, type: str, price=None, quantity=None, *, venue: str | None = None, **options
    ) -> OrderView | None:
        """Any order type the exchange takes (limit, market, limit_maker, stop_loss[_limit],
        take_profit[_limit], trailing_stop) with ``Exchange.place_order``'s options, on ``venue``
        (a name; default the main venue)."""
        if options.get("client_order_id") is None:
            options["client_order_id"] = self._next_client_id()
        target = self.context.venue if venue is None else self._venue(venue)
        return target.place_order(market, side, type, price, quantity, **options)

    def place_oco(
        self, market: str, quantity, take_profit_price, stop_price, *, venue: str | None = None, **options
    ) -> OrderListView | None:
        return self._venue(venue).place_oco(market, quantity, take_profit_price, stop_price, **options)

    def place_bracket(
        self, market: str, quantity, entry_price, take_profit_price, stop_price, *, venue: str | None = None, **options
    ) -> OrderListView | None:
        return self._venue(venue).place_bracket(market, quantity, entry_price, take_profit_price, stop_price, **options)

    def cancel(self, order_id: int, *, venue: str | None = None) -> OrderView | None:
        return self._venue(venue).cancel_order(order_id)

    def cancel_order_list(self, list_id: int, *, venue: str | None = None) -> OrderListView | None:
        return self._venue(venue).cancel_order_list(list_id)

    def cancel_all(self, market: str, *, venue: str | None = None) -> list[OrderView] | None:
        return self._venue(venue).cancel_all_orders(market)

    def replace_quotes(self, market: str, quotes, *, venue: str | None = None) -> QuotesView | None:
        """Cancel this strategy's resting orders in ``market`` and rest ``quotes`` (``(side, price, quantity)``
        triples, GTC limit orders) in their place, in one step, all or nothing: a market maker's re-quote
        (``Exchange.replace_quotes``). ``None`` where the venue delays commands (a backtest with latency)."""
        return self._venue(venue).replace_quotes(market, quotes)

    def open_orders(self, market: str | None = None, *, venue: str | None = None) -> list[OrderView]:
        return self._venue(venue).open_orders(market)

    def conditional_orders(self, market: str | None = None, *, venue: str | None = None) -> list[OrderView]:
        return self._venue(venue).conditional_orders(market)

    def order_book(self, market: str, depth: int = 10, *, venue: str | None = None) -> BookView:
        """``market``'s aggregated book on ``venue`` (default the main one): ``depth`` levels a side, best first."""
        return self._venue(venue).order_book(market, depth)

    def market_spec(self, market: str, *, venue: str | None = None) -> MarketSpec:
        """``market``'s rules (tick, lot, minimums, fees) on ``venue`` (default the main one)."""
        return self._venue(venue).market_spec(market)

    def _next_client_id(self) -> str:
        self._client_ids += 1
        return f"s{self._client_ids}"

    # -- the account ----------------------------------------------------------------------------

    def balance(self, asset: str, *, venue: str | None = None) -> Balance:
        """The account's balance of ``asset`` on ``venue`` (default the main one; zero if never touched)."""
        target = self.context.venue if venue is None else self._venue(venue)
        return target.balances().get(asset, Balance(Decimal(0), Decimal(0)))

    def position(self, market: str, *, venue: str | None = None) -> Decimal:
        """The base asset of ``market`` held on ``venue`` (available + locked): spot positions are what you own."""
        spec = self._venue(venue).market_spec(market)
        return self.balance(spec.base.code, venue=venue).total

    def equity(self, asset: str | None = None) -> Decimal:
        """Everything the account holds, valued at the last closes in ``asset`` (default: the report currency);
        with several venues, the runner's valuation (``LiveRunner``: every venue's balances added up)."""
        return self.context.value_in(asset or self.context.report_currency)

    def position_size(
        self, market: str, entry, stop, risk_percent: Decimal | int | str = DEFAULT_RISK_PERCENT
    ) -> PositionSize:
        """The quantity risking ``risk_percent`` of the account's equity from ``entry`` to ``stop``
        (``spotlab.risk.sizing.position_size``, equity valued in the market's quote asset)."""
        spec = self.context.venue.market_spec(market)
        equity = self.equity(spec.quote.code).quantize(spec.quote.unit, rounding=ROUND_DOWN)
        return position_size(spec, equity, entry, stop, risk_percent)

    def buy_sized(self, market: str, entry, stop, risk_percent: Decimal | int | str = DEFAULT_RISK_PERCENT) -> bool:
        """A market buy of what risks ``risk_percent`` of equity from ``entry`` to ``stop`` (``position_size``).

        When equity, not the risk, limits the size, the available quote is spent instead (by quote amount: a
        market buy by quantity could cost a little more than ``entry`` and be refused). ``False``, with nothing
        sent, when the size falls below the market's minimums or the stop is on the entry's tick."""
        try:
            size = self.position_size(market, entry, stop, risk_percent)
        except SpotlabError:
            return False
        if size.limited_by == "risk":
            self.buy(market, size.quantity)
            return True
        spec = self.context.venue.market_spec(market)
        available = self.balance(spec.quote.code).available
        if available < spec.min_notional:
            return False
        self.buy(market, quote_quantity=available)
        return True

    def round_price(
        self, market: str, price: Decimal, rounding: str = ROUND_DOWN, *, venue: str | None = None
    ) -> Decimal:
        """``price`` on ``market``'s tick (down by default; the tick of ``venue``, default the main one)."""
        tick = self._venue(venue).market_spec(market).tick_size
        return (price / tick).to_integral_value(rounding=rounding) * tick

    def round_quantity(self, market: str, quantity: Decimal, *, venue: str | None = None) -> Decimal:
        """``quantity`` down to ``market``'s lot (on ``venue``, default the main one)."""
        lot = self._venue(venue).market_spec(market).lot_size
        return (quantity / lot).to_integral_value(rounding=ROUND_DOWN) * lot

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self._params.items())
        return f"{type(self).__name__}({shown})"
