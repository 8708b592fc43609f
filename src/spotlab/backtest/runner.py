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
- While the bars play, CPython's cyclic collector is paused and its young generations are
  collected every 50,000 bars (``spotlab.collector``): a run's records live until its end, and
  the collector's full walks of them and of the caller's heap cost a fifth of a run.
- The strategy acts through an ``ExchangeVenue`` for its account (``DelayedVenue`` with
  ``latency_bars=1``); before each order it sends, the ladder quotes that market, so market
  orders fill against it (``QuotingVenue``). ``on_fill`` is called for each of the account's
  trades, after the exchange command that made it.

The fast path (off with ``print_every_point=True``, the full path)
- A point of a market where the strategy has nothing a print could fill or trigger (no open and
  no conditional order there, no delayed order waiting for it) is not played on the engine: it
  only moves the market's valuation price and is remembered as owed, with the point before it.
  Whether the strategy has orders in a market is asked of the exchange again only after an event
  of its account there (an order placed, filled, canceled, triggered, ...).
- Invariant: whenever the exchange's last trade price can matter it is the one the full path
  would have printed. Before any order the strategy sends, every market that owes a point (all
  of them, in name order: risk guards value the account at every last price), and before a
  played point its own market, prints the owed point from the point before it
  (``MarketTape.move_idle``: the commands an idle point makes on the full path, cancel the
  ladder and print). At the end of the run every owed point is printed, so the exchange ends at
  each market's last close, as on the full path.
- So the strategy meets the same book at the same prices, and the records are the full path's
  (``tests/backtest/test_fast_path.py``): only what the skipped commands would have numbered or
  moved differs (order, list and trade ids, ``commands``, the times of the catch-up prints, the
  backtester's own accounts' balances).
- With one market whose bars do not overlap, a bar's four points are skipped together when no
  timer is due by its last. The account's totals are read again only after an event of the
  account, so an equity point costs one valuation at the new closes.

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

``init`` runs at the run's first instant, as if at the open of the markets whose first bar opens
then: an order sent from ``init`` meets the book of that open (the open is printed and the ladder
quoted first, with the first bar's depth), so a strategy can enter before its first bar closes. A
market whose first bar opens later has no price yet: an order there meets an empty book (a market
order expires), as it would live before the market's first trade.

Determinism: the run depends only on its inputs (no wall clock, no randomness); two runs give
equal records and equal ``exchange.state_hash()``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from decimal import ROUND_HALF_EVEN, Decimal
from operator import attrgetter
from pathlib import Path

import pyarrow as pa

from spotlab.backtest.accounting import Valuer, unreachable
from spotlab.backtest.bars import bars_from_table, check_bars
from spotlab.backtest.fill_model import FillModel, intrabar_path
from spotlab.backtest.progress import no_progress, progress_bar
from spotlab.backtest.records import EquityPoint
from spotlab.backtest.result import BacktestResult
from spotlab.backtest.schedule import by_time, in_order, instants
from spotlab.backtest.tape import LIQUIDITY_ACCOUNT, TAPE_ACCOUNT, MarketTape
from spotlab.backtest.venues import DelayedVenue, QuotingVenue
from spotlab.catalogue import load_catalogue
from spotlab.clock import SimulatedClock, ns_to_datetime
from spotlab.collector import collector_paused
from spotlab.core.events import ConditionalOrderPlaced, Event, OrderFilled, OrderPlaced
from spotlab.core.markets import Catalogue, MarketSpec
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.exchange.service import Exchange
from spotlab.exchange.views import OrderView
from spotlab.risk.profile import RiskProfile
from spotlab.strategy.base import Strategy, StrategyContext
from spotlab.strategy.data import Bar, MarketData, StrategyFill
from spotlab.strategy.timers import Timers
from spotlab.strategy.venue import ExchangeVenue

STRATEGY_ACCOUNT = "strategy"
_COLLECT_EVERY = 50_000  # bars closed between two collections of the young generations (spotlab.collector)
_COUNT_EVERY = 64  # bars the one-market loop closes between two counts (progress bar, collector)
_ZERO = Decimal(0)


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
    trades: Mapping[str, Sequence[tuple[int, Decimal]]] | None = None,
    progress: bool = True,
    print_every_point: bool = False,
) -> BacktestResult:
    """Run ``strategy`` over ``bars`` (market -> bars, or candle tables with ``interval``) from ``balances``.

    ``markets``: extra market specs (``MarketSpec`` s, a ``Catalogue`` or a catalogue TOML file) for
    markets the default catalogue lacks. ``risk_profile``: the strategy account's risk profile; the
    exchange enforces its guards on every entry, as it does live (``spotlab.exchange.risk``), and the
    clock is the backtest's, so "today" is the simulated UTC day. ``warmup``: bars from before the run
    (market -> bars closing by its first bar's open) that the strategy sees as history: its data and
    indicators start from them, so indicators are warm at the first bar; nothing trades on them.
    ``trades``: where the data has them, a market's trades as ``(time_ns, price)``, oldest first: a bar
    with trades walks its trades' prices at their own times instead of the four-point path (the bar
    still sets the ladder's depth); a bar without trades keeps the path. ``progress``: a progress bar on
    stderr. ``print_every_point``: play every point of every bar on the
    engine, even where the strategy has nothing a print could fill or trigger (the full path: slower, the
    same records but for the numbering of ids; see "The fast path" in the module docstring).
    """
    if not isinstance(strategy, Strategy):
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"strategy must be a Strategy instance, got {strategy!r}")
    if not bars:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "a backtest needs the bars of at least one market")
    series = {market: _bars(market, given, interval) for market, given in sorted(bars.items())}
    run = _Run(strategy, series, balances, fill_model or FillModel(), report_currency, _catalogue(markets))
    run.print_every_point = print_every_point
    if trades:
        run.use_trades(trades)
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
        self.clock = _RunClock(ns_to_datetime(start))
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
        self.print_every_point = False
        self.trades: dict[str, list[tuple[int, Decimal]]] = {}  # market -> trades replayed inside its bars
        self._advance = no_progress  # counts bars closed on the progress bar
        self._due: int | None = None  # the next timer's due time (read again after every strategy callback)
        # market -> (point, point before, None) not printed; (close, None, bar) when a whole bar was skipped (its
        # third point, the one before its close, is worked out only if it is printed)
        self._owed: dict[str, tuple[Decimal, Decimal | None, Bar | None]] = {}
        self._last_point: dict[str, Decimal | None] = dict.fromkeys(series)
        self._dirty = set(series)  # markets where the strategy's orders may have changed since last looked at
        self._busy: dict[str, bool] = dict.fromkeys(series, False)  # orders there a print could fill or trigger
        self._totals: dict[str, Decimal] | None = None  # the account's totals; None when an event changed them
        self.pending: list[StrategyFill] = []
        self.fills: list[tuple[StrategyFill, Decimal]] = []
        self.order_ids: list[int] = []
        self._closed: dict[int, OrderView] = {}  # answers to placements that closed the order at once: final
        self.equity: list[EquityPoint] = []
        self.refusals: list[tuple[int, str, SpotlabError]] = []
        exchange.subscribe(self._on_event)
        venue = QuotingVenue(ExchangeVenue(exchange, STRATEGY_ACCOUNT), self._quote, self._answered)
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

    def use_trades(self, trades: Mapping[str, Sequence[tuple[int, Decimal]]]) -> None:
        """Replay these markets' trades inside their bars (see ``run_backtest``)."""
        for market, rows in trades.items():
            if market not in self.series:
                raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"trades for {market}, which this run lacks")
            rows = list(rows)
            for (t0, _), (t1, _) in zip(rows, rows[1:]):
                if t1 < t0:
                    raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{market}: trades must be oldest first")
            for time_ns, price in rows:
                if not isinstance(price, Decimal) or not isinstance(time_ns, int):
                    raise SpotlabError(
                        ErrorCode.INVALID_ARGUMENT, f"{market}: a trade is (time_ns int, price Decimal), got "
                        f"{(time_ns, price)!r}",
                    )  # fmt: skip
            self.trades[market] = rows

    def _check_prices(self) -> None:
        """Refuse, before anything runs, a market whose lowest price is below one tick."""
        for market, bars in self.series.items():
            _ticks(self.specs[market], min(map(_LOW, bars)))

    # -- playing ---------------------------------------------------------------------------------

    def play(self, progress: bool) -> BacktestResult:
        self._check_prices()
        for market, bars in self.series.items():  # the float columns of every bar, revealed one by one
            self.data[market]._preload(bars)
        opens = self._opens_at_start()
        self.strategy.init()  # a strategy that cannot start is a bug: its error ends the run
        for market, owed in opens.items():
            if self._owed.get(market) is owed:  # nothing was sent from init: the first bar prints its own open
                del self._owed[market]
        self.strategy.prepare_indicators()  # every output at once where the indicator has a batch form
        self._due = self.timers.next_due()
        self._deliver()
        self._record_equity(self.clock.now_ns())  # the starting balances at the first opens
        total = sum(len(bars) for bars in self.series.values())
        with (
            progress_bar(progress, total, type(self.strategy).__name__) as advance,
            collector_paused(every=_COLLECT_EVERY) as collector,
        ):  # a run's records live until its end: the collector's walks of them were a fifth of a run

            def counted(bars: int) -> None:
                advance(bars)
                collector.tick(bars)

            self._advance = counted
            market, bars = next(iter(self.series.items()))
            if (
                len(self.series) == 1
                and not self.trades
                and in_order(bars)
                and all(b.close_time_ns - b.open_time_ns >= 4000 for b in bars)
            ):
                self._play_one_market(market, bars)
            else:
                for at, closes, points in instants(self.series, self.trades, self.model.path):
                    self._instant(at, closes, points)
        for market in sorted(self._owed):  # the exchange ends at every market's last point, as if all printed
            self._catch_up(market)
        return self._result()

    def _opens_at_start(self) -> dict[str, tuple[Decimal, None, None]]:
        """Owe the open of each market whose first bar opens at the first instant, so an order sent from ``init``
        prints it and meets its ladder (with the first bar's depth) before it arrives; returns what it owes."""
        start = self.clock.now_ns()
        opens = {}
        for market, bars in self.series.items():
            if bars[0].open_time_ns == start:
                self.tapes[market].volume = bars[0].volume
                self._owed[market] = opens[market] = (bars[0].open, None, None)
        return opens

    def _instant(self, at: int, closes: Sequence[Bar], points: Sequence[tuple[str, int, Decimal, Bar]]) -> None:
        if self._due is not None and self._due < at:  # timers due before the instant
            self._fire_timers(before=at)
        if closes:
            self._set_clock(at)
            self._close(closes, at)
            self._advance(len(closes))
        if self._due is not None and self._due <= at:  # timers due at the instant
            self._fire_timers(before=at + 1)
        for market, k, price, bar in points:
            self._point(at, market, k, price, bar)

    def _play_one_market(self, market: str, bars: list[Bar]) -> None:
        """The instants of one market whose bars do not overlap and last 4 us or more (so a bar's four points
        are four instants); a bar's last three points only move the valuation price when nothing can happen at
        them (the fast path, and no timer due by the last).

        The hot loop of most backtests: a close that no timer precedes is played inline (what ``_instant`` and
        ``_close`` do for it, without their calls), and so is the skip test (``_skips``)."""
        path, instant, none = self.model.path, self._instant, ()
        tape, valuer, equity, clock, currency = self.tapes[market], self.valuer, self.equity, self.clock, self.currency
        reveal, bar_closed, next_due = self.data[market]._append, self.strategy.bar_closed, self.timers.next_due
        closes, owed, last_point, dirty, busy = valuer.closes, self._owed, self._last_point, self._dirty, self._busy
        value, advance, refusals, raised = valuer.value, self._advance, self.refusals, self.venue.raised
        closed = 0  # bars closed inline and not yet counted (counted in batches: the counting is a call)
        may_skip, delayed = not self.print_every_point, self.delayed
        before: Bar | None = None  # the bar whose close is still to come
        for bar in bars:
            start = bar.open_time_ns
            length = bar.close_time_ns - start
            if before is not None and before.close_time_ns != start:
                instant(before.close_time_ns, (before,), none)
                before = None
            due = self._due
            if before is None or (due is not None and due <= start):
                instant(start, none if before is None else (before,), none)  # the open's point follows at once
            else:  # _instant(start, (before,), ()) with no timer due by start
                ns = start // 1000 * 1000
                if ns > clock._ns:
                    clock._ns = ns
                reveal(before)
                raised.clear()
                try:
                    bar_closed(before)
                except SpotlabError as error:
                    if not any(error is seen for seen in raised):
                        raise
                    refusals.append((clock.now_ns(), "on_bar", error))
                finally:
                    due = self._due = next_due()
                if self.pending:
                    self._deliver()
                totals = self._totals
                if totals is None:
                    totals = self._account_totals()
                worth = value(totals, currency)
                equity.append(EquityPoint(start, worth, worth - totals.get(currency, _ZERO)))
                closed += 1
                if closed == _COUNT_EVERY:
                    advance(closed)
                    closed = 0
                if due is not None and due <= start:  # a timer the callback set for now
                    self._fire_timers(before=start + 1)
            due = self._due
            at = start + length * 3 // 4 // 1000 * 1000
            if (
                (due is None or due > at)
                and may_skip
                and (delayed is None or not delayed.waiting(market))
                and not (busy[market] if market not in dirty else self._has_orders(market))
            ):
                tape.volume = bar.volume  # all four points skipped
                last = bar.close
                owed[market] = (last, None, bar)  # the point before the close: worked out if printed
                last_point[market] = last
                closes[market] = last  # valuer.set_close: the market is priced since the run began
            else:
                first, second, third, last = intrabar_path(bar.open, bar.high, bar.low, bar.close, path)
                self._point(start, market, 0, first, bar)
                instant(start + length // 4 // 1000 * 1000, none, ((market, 1, second, bar),))
                instant(start + length * 2 // 4 // 1000 * 1000, none, ((market, 2, third, bar),))
                instant(at, none, ((market, 3, last, bar),))
            before = bar
        advance(closed)
        if before is not None:
            instant(before.close_time_ns, (before,), none)

    def _close(self, closes: list[Bar], at: int) -> None:
        for bar in closes:  # markets in name order (series is sorted)
            self.data[bar.market]._append(bar)
            self._callback("on_bar", self.strategy.bar_closed, bar)
            if self.pending:
                self._deliver()
        self._record_equity(at)

    def _record_equity(self, at: int) -> None:
        totals = self._totals
        if totals is None:
            totals = self._account_totals()
        equity = self.valuer.value(totals, self.currency)
        self.equity.append(EquityPoint(at, equity, equity - totals.get(self.currency, _ZERO)))

    def _account_totals(self) -> dict[str, Decimal]:
        """The strategy account's totals per asset, read again only after an event of the account."""
        if self._totals is None:
            balances = self.exchange.balances(STRATEGY_ACCOUNT)
            self._totals = {asset: balance.total for asset, balance in balances.items()}
        return self._totals

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
        finally:
            self._due = self.timers.next_due()  # only callbacks set or cancel timers

    def _point(self, at: int, market: str, k: int, price: Decimal, bar: Bar) -> None:
        tape = self.tapes[market]
        if k == 0:
            tape.volume = bar.volume
        if self._skips(market):  # the fast path
            self._owed[market] = (price, self._last_point[market], None)
            self._last_point[market] = price
            self.valuer.set_close(market, price)
            return
        self._set_clock(at)
        self._catch_up(market)
        waiting = self.delayed is not None and self.delayed.waiting(market)
        tape.move(_ticks(tape.spec, price), force_quote=waiting)
        self._last_point[market] = price
        self.valuer.set_close(market, price)
        self._deliver()
        if waiting and k == 0:
            self.delayed.release(market)
            self._deliver()

    def _fire_timers(self, before: int) -> None:
        while True:
            due = self._due = self.timers.next_due()
            if due is None or due >= before:
                return
            _, name = self.timers.pop_due(due)
            self._set_clock(due)
            self._callback("on_timer", self.strategy.on_timer, name)
            self._deliver()

    def _skips(self, market: str) -> bool:
        """Whether the fast path may skip printing ``market``'s next point (see the module docstring)."""
        if self.print_every_point or (self.delayed is not None and self.delayed.waiting(market)):
            return False
        return not self._has_orders(market)

    def _has_orders(self, market: str) -> bool:
        """Whether the strategy has open or conditional orders in ``market`` (asked again after its events there)."""
        if market in self._dirty:
            self._dirty.discard(market)
            exchange = self.exchange
            self._busy[market] = bool(
                exchange.open_orders(STRATEGY_ACCOUNT, market) or exchange.conditional_orders(STRATEGY_ACCOUNT, market)
            )
        return self._busy[market]

    def _catch_up(self, market: str, side: str | None = None) -> bool:
        """Print the last point the fast path skipped in ``market`` (the strategy has no orders there) as the
        full path printed it, from the point before it: the exchange's last trade price is that point again.
        With the ``side`` of an order the strategy is about to send there, the print comes from the side of
        the ladder that order takes (``MarketTape.print_and_quote``). Returns whether a print was owed."""
        owed = self._owed.pop(market, None)
        if owed is None:
            return False
        price, previous, bar = owed
        spec, tape = self.specs[market], self.tapes[market]
        if side is not None:
            tape.print_and_quote(_ticks(spec, price), side)
            return True
        if bar is not None:  # a whole bar skipped: the point before its close is the third of its path
            previous = intrabar_path(bar.open, bar.high, bar.low, bar.close, self.model.path)[2]
        tape.move_idle(_ticks(spec, price), None if previous is None else _ticks(spec, previous))
        return True

    def _quote(self, market: str, side: str | None = None) -> None:
        side = str(side).lower() if side is not None else None
        if side not in ("buy", "sell"):
            side = None  # not an order side: the exchange refuses the order itself
        printed = False
        for owing in sorted(self._owed):  # every market: risk guards value the account at all last prices
            if owing == market:
                printed = self._catch_up(owing, side)
            else:
                self._catch_up(owing)
        tape = self.tapes.get(market)
        if tape is not None and not (printed and side is not None):
            tape.ensure_quoted(side)

    def _answered(self, view: OrderView) -> None:
        """Keep the answer to a placement that closed the order at once (a market order that filled): a closed
        order never changes, so the result need not read it again. It is kept as a later read shows it: without
        the fills and slippage only the answer carries."""
        if not view.is_open and not view.duplicate:
            self._closed[view.id] = _as_read(view)

    def _set_clock(self, at: int) -> None:
        self.clock.set_ns(at)

    # -- fills -----------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        """Runs inside the exchange's command (in-memory store): only record, never call back. An event of the
        strategy's account marks its totals stale and its market to be looked at again (the fast path)."""
        kind = type(event)
        if kind is not OrderFilled:
            if getattr(event, "account", None) == STRATEGY_ACCOUNT:
                self._totals = None
                market = getattr(event, "market", None)
                if market is not None:
                    self._dirty.add(market)
                if kind is OrderPlaced or kind is ConditionalOrderPlaced:
                    self.order_ids.append(event.order_id)
            return
        if event.taker_account == STRATEGY_ACCOUNT:
            side, role, order_id, fee = str(event.taker_side), "taker", event.taker_order_id, event.taker_fee
        elif event.maker_account == STRATEGY_ACCOUNT:
            side = "sell" if event.taker_side == "buy" else "buy"
            role, order_id, fee = "maker", event.maker_order_id, event.maker_fee
        else:
            return
        self._totals = None
        self._dirty.add(event.market)
        spec = self.specs.get(event.market) or self.exchange.market_spec(event.market)
        self.pending.append(
            StrategyFill(
                event.market, order_id, event.trade_id, side, spec.price(event.price),
                spec.quantity(event.quantity), spec.quote.to_decimal(event.notional), spec.quote.to_decimal(fee),
                spec.quote.code, role, event.ts,
            )
        )  # fmt: skip

    def _deliver(self) -> None:
        while self.pending:
            fill = self.pending.pop(0)
            rate = self.valuer.rate(fill.fee_asset, self.currency)
            self.fills.append((fill, rate if rate is not None else Decimal(0)))
            self._callback("on_fill", self.strategy.on_fill, fill)

    def _value_in(self, asset: str) -> Decimal:
        return self.valuer.value(self._account_totals(), asset)

    # -- the result --------------------------------------------------------------------------------

    def _result(self) -> BacktestResult:
        orders = []
        closed = self._closed
        for order_id in self.order_ids:
            view = closed.get(order_id)
            if view is not None:
                orders.append(view)
                continue
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
            refusals=sorted(self.refusals + (list(self.delayed.refusals) if self.delayed else []), key=by_time),
            bars=self.series,
            commands=sum(tape.commands for tape in self.tapes.values()),
        )


class _RunClock(SimulatedClock):
    """The run's simulated clock, also set from nanoseconds (kept at the clock's microsecond resolution)."""

    def set_ns(self, ns: int) -> None:
        """Move to ``ns`` if it is later (the clock never goes back; an earlier time leaves it where it is)."""
        ns = ns // 1000 * 1000
        if ns > self._ns:
            self._ns = ns


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

        setattr(self, name, call)  # built once: later lookups find it without __getattr__
        return call


_LOW = attrgetter("low")
_VIEW_FIELDS = tuple(field.name for field in fields(OrderView))
_VIEW_VALUES = attrgetter(*_VIEW_FIELDS)
_ANSWER_ONLY = {_VIEW_FIELDS.index(name): empty for name, empty in (("fills", ()), ("slippage", None),
                ("slippage_bps", None))}  # fmt: skip


def _as_read(view: OrderView) -> OrderView:
    """``view`` without what only a placement's answer carries (``dataclasses.replace``, without its overhead)."""
    values = list(_VIEW_VALUES(view))
    for index, empty in _ANSWER_ONLY.items():
        values[index] = empty
    return OrderView(*values)


def _ticks(spec: MarketSpec, price: Decimal) -> int:
    ticks = int((price / spec.tick_size).to_integral_value(rounding=ROUND_HALF_EVEN))
    if ticks < 1:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"{spec.symbol}: price {price} is below one tick ({spec.tick_size}); give a spec with a finer tick",
        )
    return ticks
