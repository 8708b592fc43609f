"""Strategies running live: ``LiveRunner`` polls a ``Feed`` and drives a strategy through a ``Venue``.

    venue = HttpVenue(url, key_id, secret)
    runner = LiveRunner(BuyAndHold(), venue, HttpFeed(api=venue.api), ["BTC/USDT"], "1m", WallClock(), "USDT")
    runner.run(stop_event)

The strategy is wired exactly as the backtester wires it (``StrategyContext``: markets, data,
venue, clock, timers, report currency, valuation): the same classes run in both, with no branch
on the mode. Paper trading is this runner against a server's simulated market.

Several venues (cross-exchange strategies): ``LiveRunner.across(strategy, {"a": (venue_a, feed_a),
"b": (venue_b, feed_b)}, markets, ...)``. Each venue is its own account on its own server; the
first named is the main one (``strategy.data``, indicators, ``venue=None``). Every venue must
trade every market of the run; each venue's bars go to ``strategy.data_of(name)`` and each bar and
fill carries its venue's name in ``venue`` (a one-venue run leaves it ``""``).

What one ``poll()`` does, in this order
1. the account's fills since the last poll -> ``on_fill`` (oldest first; with several venues,
   by fill time, the venues' order breaking ties);
2. the candles of each market that have CLOSED since the last one delivered, from the feed ->
   appended to ``strategy.data`` and ``bar_closed`` (indicators fed, then ``on_bar``); bars of
   several markets in order of close time, then market name (as the backtester's instants), then
   the venues' order;
3. the timers due by the clock -> ``on_timer`` (``self.now`` is the clock's now, at or after the
   due time: a live clock cannot be set back to it);
4. if the strategy sent anything to the venue, the fills that made -> ``on_fill``.

Invariants
- Nothing from the future: a bar reaches the strategy only once the feed says it is closed, and
  each bar once (the runner keeps, per venue and market, the open time of the next bar it wants).
- Start (``start()``, or the first ``poll``): the newest ``warmup`` closed candles of each market
  become the strategy's history before ``init`` (indicators warm, nothing traded on them); fills
  the account had before the start are not delivered.
- A refusal raised by the venue out of a callback (an order below the minimum, ``RISK_LIMIT``, the
  server unreachable, ...) is logged and recorded in ``refusals`` and the run goes on, as the
  backtester does; any other exception is a bug in the strategy and ends the run.
- ``value_in`` (the strategy's ``equity``) is the account's balances (every venue's, added up)
  valued at the main venue's last closes delivered (``spotlab.backtest.accounting.Valuer``);
  before a market's first close its base asset is not counted.
- An ``observer`` (optional) hears each bar, fill and timer just before the strategy, and each
  refusal after it (``spotlab paper`` prints them); it never changes what the strategy sees.
- ``run`` stops when its event is set; a poll failing because the server is unreachable, rate
  limited or catching up (``SOURCE_UNAVAILABLE``, ``RATE_LIMITED``, ``STORE_UNAVAILABLE``) is
  logged and retried at the next poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from spotlab.backtest.accounting import Valuer
from spotlab.clock import Clock, datetime_to_ns, ns_to_datetime
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.marketdata.candles import interval_ns
from spotlab.strategy.base import Strategy, StrategyContext
from spotlab.strategy.data import Bar, MarketData, StrategyFill
from spotlab.strategy.http_venue import ApiClient, market_id, symbol
from spotlab.strategy.timers import Timers
from spotlab.strategy.venue import Venue

log = logging.getLogger("spotlab.live")

MAX_WARMUP = 999  # the API's candle page is 1000; one more is asked for, the newest may still be open
TRANSIENT = frozenset({ErrorCode.SOURCE_UNAVAILABLE, ErrorCode.RATE_LIMITED, ErrorCode.STORE_UNAVAILABLE})


class Feed(Protocol):
    """Where a live run learns what happened: closed candles of markets, and the account's fills."""

    def recent_bars(self, market: str, interval: str, count: int) -> list[Bar]:
        """The newest ``count`` CLOSED bars of ``market``, oldest first."""

    def bars_since(self, market: str, interval: str, start_ns: int) -> list[Bar]:
        """Every CLOSED bar of ``market`` opening at or after ``start_ns``, oldest first."""

    def last_fill_id(self) -> int:
        """The id of the account's newest fill (0 without any)."""

    def fills_since(self, fill_id: int) -> list[tuple[int, StrategyFill]]:
        """The account's fills with ids above ``fill_id`` as ``(id, fill)``, oldest first."""


class HttpFeed:
    """A ``Feed`` over a spotlab server's REST API: candles (public) and the API key's fills (signed)."""

    PAGE = 1000

    def __init__(
        self,
        base_url: str | None = None,
        key_id: str | None = None,
        secret: str | None = None,
        *,
        api: ApiClient | None = None,
        **client_options: Any,
    ) -> None:
        if api is None:
            if base_url is None:
                raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "HttpFeed needs base_url, key_id and secret (or api=)")
            api = ApiClient(base_url, key_id or "", secret or "", **client_options)
        self.api = api

    def _candles(self, market: str, interval: str, **params: Any) -> list[dict]:
        _, answer = self.api.request(
            "GET", f"/v1/markets/{market_id(market)}/candles", {"interval": interval, **params}, signed=False
        )
        return answer

    def recent_bars(self, market: str, interval: str, count: int) -> list[Bar]:
        if count <= 0:
            return []
        candles = self._candles(market, interval, limit=min(count + 1, self.PAGE))
        return [_bar(market, c) for c in candles if c["closed"]][-count:]

    def bars_since(self, market: str, interval: str, start_ns: int) -> list[Bar]:
        bars: list[Bar] = []
        while True:
            start = ns_to_datetime(start_ns).isoformat()
            candles = self._candles(market, interval, start=start, limit=self.PAGE)
            closed = [c for c in candles if c["closed"]]
            bars.extend(_bar(market, c) for c in closed)
            if len(candles) < self.PAGE or len(closed) < len(candles):
                return bars
            start_ns = bars[-1].open_time_ns + 1

    def last_fill_id(self) -> int:
        _, page = self.api.request("GET", "/v1/fills", {"limit": 1})
        return page["items"][0]["id"] if page["items"] else 0

    def fills_since(self, fill_id: int) -> list[tuple[int, StrategyFill]]:
        found = []
        for item in self.api.pages("/v1/fills", {"limit": 100}):
            if item["id"] <= fill_id:
                break
            found.append((item["id"], _fill(item)))
        found.reverse()
        return found

    def __repr__(self) -> str:
        return f"HttpFeed({self.api.base_url!r})"


def _bar(market: str, candle: dict) -> Bar:
    return Bar(
        market=symbol(market),
        open_time_ns=datetime_to_ns(datetime.fromisoformat(candle["open_time"])),
        close_time_ns=datetime_to_ns(datetime.fromisoformat(candle["close_time"])),
        open=Decimal(candle["open"]),
        high=Decimal(candle["high"]),
        low=Decimal(candle["low"]),
        close=Decimal(candle["close"]),
        volume=Decimal(candle["base_volume"]),
    )


def _fill(item: dict) -> StrategyFill:
    return StrategyFill(
        market=symbol(item["market"]),
        order_id=item["order_id"],
        trade_id=item["trade_id"],
        side=item["side"],
        price=Decimal(item["price"]),
        quantity=Decimal(item["quantity"]),
        notional=Decimal(item["notional"]),
        fee=Decimal(item["fee"]),
        fee_asset=item["fee_asset"],
        role=item["role"],
        time_ns=datetime_to_ns(datetime.fromisoformat(item["time"])),
    )


class LiveRunner:
    """Runs ``strategy`` live on ``markets`` (see the module docstring)."""

    def __init__(
        self,
        strategy: Strategy,
        venue: Venue | None,
        feed: Feed | None,
        markets: Sequence[str],
        interval: str,
        clock: Clock,
        report_currency: str = "USDT",
        *,
        warmup: int = 100,
        observer: Callable[[str, Any], None] | None = None,
        venues: Mapping[str, tuple[Venue, Feed]] | None = None,
    ) -> None:
        """Either ``venue`` and ``feed`` (one venue, named ``main``), or ``venues`` (``LiveRunner.across``).

        ``observer(kind, item)``, if given, hears each event just before the strategy does: ``("bar", Bar)``,
        ``("fill", StrategyFill)``, ``("timer", name)``, and each refusal after it: ``("refused", (where, error))``."""
        if not isinstance(strategy, Strategy):
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"strategy must be a Strategy instance, got {strategy!r}")
        if not markets:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "a live run needs at least one market")
        if not isinstance(warmup, int) or not 0 <= warmup <= MAX_WARMUP:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"warmup must be 0 to {MAX_WARMUP} bars, got {warmup!r}")
        interval_ns(interval)  # INVALID_ARGUMENT naming the intervals
        wiring = _wiring(venue, feed, venues)
        self.strategy = strategy
        self.markets = tuple(sorted(dict.fromkeys(symbol(m) for m in markets)))
        self.interval = interval
        self.clock = clock
        self.currency = report_currency
        self.warmup = warmup
        self.observer = observer or _ignore
        self.labelled = venues is not None  # bars and fills carry their venue's name
        self.venues = {name: _RefusalsSeen(v) for name, (v, _) in wiring.items()}
        self.feeds = {name: f for name, (_, f) in wiring.items()}
        self.main = next(iter(wiring))
        self.venue = self.venues[self.main]
        self.feed = self.feeds[self.main]
        self.specs = {market: self.venue.market_spec(market) for market in self.markets}  # UNKNOWN_MARKET early
        for name, other in self.venues.items():
            if name != self.main:
                for market in self.markets:
                    other.market_spec(market)  # every venue trades every market of the run
        self.valuer = Valuer(self.specs)
        self.venue_data = {name: {market: MarketData(market) for market in self.markets} for name in self.venues}
        self.data = self.venue_data[self.main]
        self.timers = Timers()
        self.fills: list[StrategyFill] = []
        self.refusals: list[tuple[int, str, SpotlabError]] = []
        self.polls = 0
        self.bars_delivered = 0  # live bars (not the warm-up history)
        self.started = False
        self._order = {name: index for index, name in enumerate(self.venues)}
        self._next_open: dict[tuple[str, str], int] = {}
        self._last_fill = dict.fromkeys(self.venues, 0)
        wired = {"venues": self.venues, "venue_data": self.venue_data, "main_venue": self.main}
        strategy.attach(
            StrategyContext(
                self.markets, self.data, self.venue, clock, self.timers, report_currency, self.value_in, **wired
            )
        )

    @classmethod
    def across(
        cls,
        strategy: Strategy,
        venues: Mapping[str, tuple[Venue, Feed]],
        markets: Sequence[str],
        interval: str,
        clock: Clock,
        report_currency: str = "USDT",
        **options: Any,
    ) -> LiveRunner:
        """A run over several venues: ``venues`` maps a name to its ``(venue, feed)``, the first being the main
        one; every venue must trade every market. ``options``: ``warmup``, ``observer``."""
        return cls(strategy, None, None, markets, interval, clock, report_currency, venues=venues, **options)

    # -- the account ---------------------------------------------------------------------------

    def value_in(self, asset: str) -> Decimal:
        """The balances of every venue added up, valued at the main venue's last closes."""
        totals: dict[str, Decimal] = {}
        for venue in self.venues.values():
            for code, balance in venue.balances().items():
                totals[code] = totals.get(code, Decimal(0)) + balance.total
        return self.valuer.value(totals, asset)

    # -- running -------------------------------------------------------------------------------

    def start(self) -> None:
        """Load the warm-up history, call ``init``, and remember where the account's fills stand (once)."""
        if self.started:
            return
        count = max(self.warmup, 1)
        recent = {
            (name, market): self.feeds[name].recent_bars(market, self.interval, count)
            for name in self.venues
            for market in self.markets
        }
        last_fills = {name: feed.last_fill_id() for name, feed in self.feeds.items()}  # a failed start changes nothing
        for (name, market), bars in recent.items():
            bars = [self._labelled(bar, name) for bar in bars]
            for bar in bars[-self.warmup :] if self.warmup else ():
                self.venue_data[name][market]._append(bar)
            if bars and name == self.main:
                self.valuer.set_close(market, bars[-1].close)
            self._next_open[name, market] = bars[-1].open_time_ns + 1 if bars else 0
        self._last_fill = last_fills
        self.started = True
        self.strategy.init()  # a strategy that cannot start is a bug: its error ends the run

    def poll(self) -> int:
        """One pass (see the module docstring); the number of callbacks made."""
        self.start()
        self.polls += 1
        made = self._deliver_fills()
        for venue in self.venues.values():
            venue.calls = 0
        fetched = {
            (name, market): self.feeds[name].bars_since(market, self.interval, self._next_open[name, market])
            for name in self.venues
            for market in self.markets
        }
        for name, bar in sorted(self._new_bars(fetched), key=self._bar_order):
            self._next_open[name, bar.market] = bar.open_time_ns + 1
            self.venue_data[name][bar.market]._append(bar)
            if name == self.main:
                self.valuer.set_close(bar.market, bar.close)
            self.bars_delivered += 1
            self.observer("bar", bar)
            self._callback("on_bar", self.strategy.bar_closed, bar)
            made += 1
        now = self.clock.now_ns()
        while (due := self.timers.pop_due(now)) is not None:
            self.observer("timer", due[1])
            self._callback("on_timer", self.strategy.on_timer, due[1])
            made += 1
        if any(venue.calls for venue in self.venues.values()):
            made += self._deliver_fills()
        return made

    def run(
        self,
        stop: threading.Event,
        poll_seconds: float = 1.0,
        *,
        max_polls: int | None = None,
        after_poll: Callable[[LiveRunner], None] | None = None,
    ) -> None:
        """Poll every ``poll_seconds`` until ``stop`` is set (or after ``max_polls`` polls)."""
        done = 0
        while not stop.is_set() and (max_polls is None or done < max_polls):
            try:
                self.poll()
            except SpotlabError as error:
                if error.code not in TRANSIENT:
                    raise
                log.warning("poll failed, retrying next poll: %s", error)
            done += 1
            if after_poll is not None:
                after_poll(self)
            if max_polls is None or done < max_polls:
                stop.wait(poll_seconds)

    # -- the parts of a poll ----------------------------------------------------------------------

    def _labelled(self, item: Any, name: str) -> Any:
        return replace(item, venue=name) if self.labelled else item

    def _bar_order(self, item: tuple[str, Bar]) -> tuple[int, str, int]:
        name, bar = item
        return bar.close_time_ns, bar.market, self._order[name]

    def _new_bars(self, fetched: dict[tuple[str, str], list[Bar]]) -> list[tuple[str, Bar]]:
        """The bars not delivered yet, with their venue's name (never one twice, whatever the feed sends)."""
        new = []
        for (name, market), bars in fetched.items():
            after = self._next_open[name, market]
            for bar in bars:
                if bar.open_time_ns >= after:
                    new.append((name, self._labelled(bar, name)))
                    after = bar.open_time_ns + 1
        return new

    def _deliver_fills(self) -> int:
        found: list[StrategyFill] = []
        for name, feed in self.feeds.items():
            for fill_id, fill in feed.fills_since(self._last_fill[name]):
                self._last_fill[name] = max(self._last_fill[name], fill_id)
                found.append(self._labelled(fill, name))
        found.sort(key=_fill_time)  # stable: one venue's fills keep their order, the main venue's first at a tie
        for fill in found:
            self.fills.append(fill)
            self.observer("fill", fill)
            self._callback("on_fill", self.strategy.on_fill, fill)
        return len(found)

    def _callback(self, where: str, call: Callable, *args: Any) -> None:
        """Run a strategy callback; a venue refusal it did not catch is logged and recorded, the run goes on."""
        for venue in self.venues.values():
            venue.raised.clear()
        try:
            call(*args)
        except SpotlabError as error:
            if not any(error is seen for venue in self.venues.values() for seen in venue.raised):
                raise
            self.refusals.append((self.clock.now_ns(), where, error))
            log.warning("%s: %s refused: %s", type(self.strategy).__name__, where, error)
            self.observer("refused", (where, error))

    def __repr__(self) -> str:
        venues = f", venues {', '.join(self.venues)}" if self.labelled else ""
        return f"LiveRunner({self.strategy!r}, {', '.join(self.markets)}, {self.interval}{venues}, polls={self.polls})"


MAIN = "main"  # the name of the one venue of a run without ``venues``


def _wiring(
    venue: Venue | None, feed: Feed | None, venues: Mapping[str, tuple[Venue, Feed]] | None
) -> dict[str, tuple[Venue, Feed]]:
    """name -> (venue, feed), checked: one venue named ``main``, or ``venues`` (non-empty names, both parts)."""
    if venues is None:
        if venue is None or feed is None:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "a live run needs a venue and a feed (or venues=)")
        return {MAIN: (venue, feed)}
    if venue is not None or feed is not None:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "give either a venue and a feed, or venues=, not both")
    wiring = dict(venues)
    if not wiring:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "venues= needs at least one name -> (venue, feed)")
    for name, pair in wiring.items():
        if not isinstance(name, str) or not name or not isinstance(pair, tuple) or len(pair) != 2 or None in pair:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT, f"venues= maps a non-empty name to (venue, feed), got {name!r}: {pair!r}"
            )
    return wiring


def _fill_time(fill: StrategyFill) -> int:
    return fill.time_ns


def _ignore(kind: str, item: Any) -> None:
    pass


class _RefusalsSeen:
    """The strategy's venue, remembering the refusals it raised and counting its calls."""

    def __init__(self, venue: Venue) -> None:
        self._venue = venue
        self.raised: list[SpotlabError] = []
        self.calls = 0

    @property
    def account(self) -> str:
        return self._venue.account

    def __getattr__(self, name: str):
        attribute = getattr(self._venue, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            if name in _SENDING:
                self.calls += 1
            try:
                return attribute(*args, **kwargs)
            except SpotlabError as error:
                self.raised.append(error)
                raise

        return call


_SENDING = frozenset(
    {
        "place_order",
        "place_oco",
        "place_bracket",
        "cancel_order",
        "cancel_order_list",
        "cancel_all_orders",
        "replace_quotes",
    }
)
