"""The backtester: history replayed through the real exchange (engine, ledger, fees), bar by bar.

    result = run_backtest(BuyAndHold(), {"BTC/USDT": bars}, {"USDT": Decimal("10000")})

What a run does
- Opens an in-memory ``Exchange`` on a ``SimulatedClock`` with the default catalogue plus any
  ``markets`` given (specs the catalogue lacks), creates the strategy's account and deposits the
  starting balances, and plays every market's bars through a ``MarketTape`` (the fill model:
  ``spotlab.backtest.fill_model``) with two accounts of its own (liquidity and tape).
- Time order: each bar is four points (open, extremes, close) at its open time plus 0, 1/4, 2/4
  and 3/4 of its interval, and its close event at its close time. At one instant: first the bars
  that close then (appended to ``strategy.data``, indicators fed, ``on_bar`` called, markets in
  name order), then one ``EquityPoint``, then the timers due then, then the price points (markets
  in name order). Timers due between two instants fire at their own due time. The clock is set
  to each instant before anything happens at it.
- The strategy acts through an ``ExchangeVenue`` for its account (``DelayedVenue`` with
  ``latency_bars=1``); before each order it sends, the ladder quotes that market, so market
  orders fill against it (``QuotingVenue``). ``on_fill`` is called for each of the account's
  trades, after the exchange command that made it.

Records (``BacktestResult``)
- ``equity``: an ``EquityPoint`` at the start (the starting balances at the first opens) and at
  each close instant, the account valued at the markets' last printed prices (the closes; before
  a market's first print, its first open) in the report currency (``spotlab.backtest.accounting``);
  ``invested`` is the part not held in the report currency itself.
- ``refusals``: ``(time_ns, where, error)`` for each exchange refusal a strategy callback did not
  catch (an order below the minimum, a risk guard's ``RISK_LIMIT``, ...) and each delayed order
  refused on arrival: the run records it and goes on, as a live strategy gets an error answer.
- ``fills`` (the account's trades), ``trades`` (round trips from them), ``orders`` (each order
  the account placed, as it ended), ``fees_paid`` (every fee the account paid, in the report
  currency at the prices of the moment), ``final_balances``, and the ``exchange`` itself.

Limitations: orders sent from ``init`` meet an empty book (no market has printed yet), so a
market order there expires; trade from ``on_bar``.

Determinism: the run depends only on its inputs (no wall clock, no randomness); two runs give
equal records and equal ``exchange.state_hash()``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pyarrow as pa

from spotlab.backtest.accounting import Valuer, unreachable
from spotlab.backtest.bars import bars_from_table, check_bars
from spotlab.backtest.fill_model import FillModel, intrabar_path
from spotlab.backtest.records import EquityPoint
from spotlab.backtest.result import BacktestResult
from spotlab.backtest.tape import LIQUIDITY_ACCOUNT, TAPE_ACCOUNT, MarketTape
from spotlab.backtest.venues import DelayedVenue, QuotingVenue
from spotlab.catalogue import load_catalogue
from spotlab.clock import SimulatedClock, ns_to_datetime
from spotlab.core.events import ConditionalOrderPlaced, Event, OrderFilled, OrderPlaced
from spotlab.core.markets import Catalogue, MarketSpec
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.exchange.service import Exchange
from spotlab.risk.profile import RiskProfile
from spotlab.strategy.base import Strategy, StrategyContext
from spotlab.strategy.data import Bar, MarketData, StrategyFill
from spotlab.strategy.timers import Timers
from spotlab.strategy.venue import ExchangeVenue

STRATEGY_ACCOUNT = "strategy"


def run_backtest(
    strategy: Strategy,
    bars: Mapping[str, Sequence[Bar] | pa.Table],
    balances: Mapping[str, Decimal | int | str],
    *,
    fill_model: FillModel | None = None,
    report_currency: str = "USDT",
    interval: str | None = None,
    markets: Iterable[MarketSpec] | Catalogue | str | Path | None = None,
    risk_profile: RiskProfile | None = None,
    warmup: Mapping[str, Sequence[Bar]] | None = None,
    progress: bool = True,
) -> BacktestResult:
    """Run ``strategy`` over ``bars`` (market -> bars, or candle tables with ``interval``) from ``balances``.

    ``markets``: extra market specs (``MarketSpec`` s, a ``Catalogue`` or a catalogue TOML file) for
    markets the default catalogue lacks. ``risk_profile``: the strategy account's risk profile; the
    exchange enforces its guards on every entry, as it does live (``spotlab.exchange.risk``), and the
    clock is the backtest's, so "today" is the simulated UTC day. ``warmup``: bars from before the run
    (market -> bars closing by its first bar's open) that the strategy sees as history: its data and
    indicators start from them, so indicators are warm at the first bar; nothing trades on them.
    ``progress``: a progress bar on stderr.
    """
    if not isinstance(strategy, Strategy):
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"strategy must be a Strategy instance, got {strategy!r}")
    if not bars:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "a backtest needs the bars of at least one market")
    series = {market: _bars(market, given, interval) for market, given in sorted(bars.items())}
    run = _Run(strategy, series, balances, fill_model or FillModel(), report_currency, _catalogue(markets))
    if warmup:
        run.warm_up(warmup)
    if risk_profile is not None:
        run.exchange.risk.set_profile(STRATEGY_ACCOUNT, risk_profile)
    return run.play(progress)


def _bars(market: str, given, interval: str | None) -> list[Bar]:
    if isinstance(given, pa.Table):
        if interval is None:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{market}: a candle table needs interval= (e.g. '1h')")
        return bars_from_table(market, given, interval)
    result = list(given)
    if not result:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{market}: no bars")
    check_bars(market, result)
    return result


def _catalogue(markets) -> Catalogue:
    if markets is None or isinstance(markets, (str, Path)):
        return load_catalogue(markets)
    if isinstance(markets, Catalogue):
        return load_catalogue().merged(markets)
    specs = list(markets)
    for spec in specs:
        if not isinstance(spec, MarketSpec):
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"markets must be MarketSpec values, got {spec!r}")
    assets = {asset.code: asset for spec in specs for asset in (spec.base, spec.quote)}
    return load_catalogue().merged(Catalogue(assets, {spec.symbol: spec for spec in specs}))


class _Run:
    def __init__(self, strategy, series, balances, model: FillModel, currency: str, catalogue: Catalogue) -> None:
        self.strategy = strategy
        self.series: dict[str, list[Bar]] = series
        self.model = model
        self.currency = currency
        start = min(bars[0].open_time_ns for bars in series.values())
        self.clock = SimulatedClock(ns_to_datetime(start))
        exchange = self.exchange = Exchange.open(clock=self.clock, catalogue=catalogue)
        self.specs: dict[str, MarketSpec] = {market: exchange.market_spec(market) for market in series}
        exchange.asset_spec(currency)  # UNKNOWN_ASSET if it is not listed
        assets = sorted({*balances, *(a for s in self.specs.values() for a in (s.base.code, s.quote.code))})
        lost = unreachable(self.specs, assets, currency)
        if lost:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"no market of this backtest converts {', '.join(lost)} into the report currency {currency}; "
                "add a market or choose another report_currency",
            )
        for account in (STRATEGY_ACCOUNT, LIQUIDITY_ACCOUNT, TAPE_ACCOUNT):
            exchange.create_account(account)
        for asset, amount in sorted(balances.items()):
            exchange.deposit(STRATEGY_ACCOUNT, asset, amount)
        self.tapes = {m: MarketTape(exchange, spec, model, STRATEGY_ACCOUNT) for m, spec in self.specs.items()}
        self.valuer = Valuer(self.specs)
        for market, bars in series.items():
            self.valuer.set_close(market, bars[0].open)  # the only price known before the market prints
        self.pending: list[StrategyFill] = []
        self.fills: list[tuple[StrategyFill, Decimal]] = []
        self.order_ids: list[int] = []
        self.equity: list[EquityPoint] = []
        self.refusals: list[tuple[int, str, SpotlabError]] = []
        exchange.subscribe(self._on_event)
        venue = QuotingVenue(ExchangeVenue(exchange, STRATEGY_ACCOUNT), self._quote)
        self.delayed = DelayedVenue(venue, self.clock.now_ns) if model.latency_bars else None
        self.timers = Timers()
        self.data = {market: MarketData(market, len(bars)) for market, bars in series.items()}
        self.venue = _RefusalsSeen(self.delayed or venue)
        strategy.attach(
            StrategyContext(tuple(series), self.data, self.venue, self.clock, self.timers, currency, self._value_in)
        )

    def warm_up(self, warmup: Mapping[str, Sequence[Bar]]) -> None:
        """Reveal bars from before the run as the strategy's history (before ``init``: indicators catch up)."""
        for market, bars in sorted(warmup.items()):
            if market not in self.data:
                raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"warm-up bars for {market}, which this run lacks")
            bars = list(bars)
            check_bars(market, bars)
            if bars and bars[-1].close_time_ns > self.series[market][0].open_time_ns:
                raise SpotlabError(
                    ErrorCode.INVALID_ARGUMENT,
                    f"{market}: warm-up bars must close by the run's first open "
                    f"({ns_to_datetime(self.series[market][0].open_time_ns).isoformat()})",
                )
            for bar in bars:
                self.data[market]._append(bar)

    # -- the schedule ------------------------------------------------------------------------

    def _schedule(self) -> list[tuple[int, list[Bar], list[tuple[str, int, Decimal, Bar]]]]:
        moments: dict[int, tuple[list[Bar], list[tuple[str, int, Decimal, Bar]]]] = {}
        for market, bars in self.series.items():
            spec = self.specs[market]
            for bar in bars:
                length = bar.close_time_ns - bar.open_time_ns
                prices = intrabar_path(bar.open, bar.high, bar.low, bar.close, self.model.path)
                for k, price in enumerate(prices):
                    at = bar.open_time_ns + (length * k // 4) // 1000 * 1000
                    moments.setdefault(at, ([], []))[1].append((market, k, price, bar))
                moments.setdefault(bar.close_time_ns, ([], []))[0].append(bar)
                _ticks(spec, bar.open)  # refuse a price below one tick early
        return [(at, closes, points) for at, (closes, points) in sorted(moments.items())]

    # -- playing ---------------------------------------------------------------------------------

    def play(self, progress: bool) -> BacktestResult:
        schedule = self._schedule()
        self.strategy.init()  # a strategy that cannot start is a bug: its error ends the run
        self._deliver()
        self._record_equity(self.clock.now_ns())  # the starting balances at the first opens
        with _progress(progress, len(schedule), type(self.strategy).__name__) as advance:
            for at, closes, points in schedule:
                self._fire_timers(before=at)
                self._set_clock(at)
                if closes:
                    self._close(closes, at)
                self._fire_timers(before=at + 1)
                for market, k, price, bar in points:
                    self._point(market, k, price, bar)
                advance()
        return self._result()

    def _close(self, closes: list[Bar], at: int) -> None:
        for bar in closes:  # markets in name order (series is sorted)
            self.data[bar.market]._append(bar)
            self._callback("on_bar", self.strategy.bar_closed, bar)
            self._deliver()
        self._record_equity(at)

    def _record_equity(self, at: int) -> None:
        totals = {asset: balance.total for asset, balance in self.exchange.balances(STRATEGY_ACCOUNT).items()}
        equity = self.valuer.value(totals, self.currency)
        self.equity.append(EquityPoint(at, equity, equity - totals.get(self.currency, Decimal(0))))

    def _callback(self, where: str, call, *args) -> None:
        """Run a strategy callback; a venue's refusal it did not catch is recorded and the run goes on,
        as a live venue answers an order with an error and carries on (``BacktestResult.refusals``).
        Any other error (a bug in the strategy) ends the run."""
        self.venue.raised.clear()
        try:
            call(*args)
        except SpotlabError as error:
            if not any(error is seen for seen in self.venue.raised):
                raise
            self.refusals.append((self.clock.now_ns(), where, error))

    def _point(self, market: str, k: int, price: Decimal, bar: Bar) -> None:
        tape = self.tapes[market]
        if k == 0:
            tape.volume = bar.volume
        waiting = self.delayed is not None and self.delayed.waiting(market)
        tape.move(_ticks(tape.spec, price), force_quote=waiting)
        self.valuer.set_close(market, price)
        self._deliver()
        if waiting and k == 0:
            self.delayed.release(market)
            self._deliver()

    def _fire_timers(self, before: int) -> None:
        while True:
            due = self.timers.next_due()
            if due is None or due >= before:
                return
            _, name = self.timers.pop_due(due)
            self._set_clock(due)
            self._callback("on_timer", self.strategy.on_timer, name)
            self._deliver()

    def _quote(self, market: str, side: str | None = None) -> None:
        tape = self.tapes.get(market)
        if tape is not None:
            tape.ensure_quoted(side)

    def _set_clock(self, at: int) -> None:
        if at > self.clock.now_ns():
            self.clock.set(ns_to_datetime(at))

    # -- fills -----------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        """Runs inside the exchange's command (in-memory store): only record, never call back."""
        kind = type(event)
        if kind is OrderFilled:
            if event.taker_account == STRATEGY_ACCOUNT:
                side, role, order_id, fee = str(event.taker_side), "taker", event.taker_order_id, event.taker_fee
            elif event.maker_account == STRATEGY_ACCOUNT:
                side = "sell" if event.taker_side == "buy" else "buy"
                role, order_id, fee = "maker", event.maker_order_id, event.maker_fee
            else:
                return
            spec = self.specs.get(event.market) or self.exchange.market_spec(event.market)
            self.pending.append(
                StrategyFill(
                    event.market, order_id, event.trade_id, side, spec.price(event.price),
                    spec.quantity(event.quantity), spec.quote.to_decimal(event.notional), spec.quote.to_decimal(fee),
                    spec.quote.code, role, event.ts,
                )
            )  # fmt: skip
        elif (kind is OrderPlaced or kind is ConditionalOrderPlaced) and event.account == STRATEGY_ACCOUNT:
            self.order_ids.append(event.order_id)

    def _deliver(self) -> None:
        while self.pending:
            fill = self.pending.pop(0)
            rate = self.valuer.rate(fill.fee_asset, self.currency)
            self.fills.append((fill, rate if rate is not None else Decimal(0)))
            self._callback("on_fill", self.strategy.on_fill, fill)

    def _value_in(self, asset: str) -> Decimal:
        totals = {code: balance.total for code, balance in self.exchange.balances(STRATEGY_ACCOUNT).items()}
        return self.valuer.value(totals, asset)

    # -- the result --------------------------------------------------------------------------------

    def _result(self) -> BacktestResult:
        orders = []
        for order_id in self.order_ids:
            try:
                orders.append(self.exchange.order(STRATEGY_ACCOUNT, order_id))
            except SpotlabError:
                pass  # a closed order without a client id, forgotten by the engine
        first = next(iter(self.series))
        return BacktestResult(
            strategy=self.strategy,
            report_currency=self.currency,
            account=STRATEGY_ACCOUNT,
            equity=self.equity,
            fills=[fill for fill, _ in self.fills],
            fill_rates=[rate for _, rate in self.fills],
            orders=orders,
            final_balances=self.exchange.balances(STRATEGY_ACCOUNT),
            exchange=self.exchange,
            benchmark_market=first,
            benchmark_start_price=self.series[first][0].open,
            benchmark_end_price=self.series[first][-1].close,
            refusals=sorted(self.refusals + (list(self.delayed.refusals) if self.delayed else []), key=_first),
            bars=self.series,
            commands=sum(tape.commands for tape in self.tapes.values()),
        )


class _RefusalsSeen:
    """The strategy's venue, remembering the refusals it raised (so the runner can tell them from bugs)."""

    def __init__(self, venue) -> None:
        self._venue = venue
        self.raised: list[SpotlabError] = []

    def __getattr__(self, name: str):
        attribute = getattr(self._venue, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            try:
                return attribute(*args, **kwargs)
            except SpotlabError as error:
                self.raised.append(error)
                raise

        return call


def _first(refusal: tuple) -> int:
    return refusal[0]


def _ticks(spec: MarketSpec, price: Decimal) -> int:
    ticks = int((price / spec.tick_size).to_integral_value(rounding=ROUND_HALF_EVEN))
    if ticks < 1:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"{spec.symbol}: price {price} is below one tick ({spec.tick_size}); give a spec with a finer tick",
        )
    return ticks


class _progress:
    """A rich progress bar on stderr (or nothing): ``with _progress(on, total, label) as advance``."""

    def __init__(self, enabled: bool, total: int, label: str) -> None:
        self.enabled = enabled
        self.total = total
        self.label = label
        self._bar = None

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.console import Console
        from rich.progress import Progress

        self._bar = Progress(console=Console(file=sys.stderr), transient=True)
        self._bar.__enter__()
        task = self._bar.add_task(f"backtest {self.label}", total=self.total)
        return lambda: self._bar.advance(task)

    def __exit__(self, *exc_info) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc_info)
