"""``spotlab paper``: a built-in strategy trading live against a spotlab server (paper money).

    spotlab paper --strategy swing --market BTC/USDT --param fast=12 --interval 1m \\
        --url http://127.0.0.1:8000 --key ak_... --secret ...

A thin shell over ``spotlab.strategy.live``: the strategy (``spotlab.strategy.builtin.STRATEGIES``)
runs through an ``HttpVenue`` for the API key's account and an ``HttpFeed`` of the server's closed
candles, on the wall clock. The key and secret may come from ``SPOTLAB_API_KEY`` and
``SPOTLAB_API_SECRET``, the URL from ``SPOTLAB_URL``. Its orders, fills and risk guards are the
account's, visible through the API like any other client's.

Output: one line per bar, order, cancel, fill and refusal as they happen, then a summary (orders,
fills, fees, refusals, equity at the start and at the end in the report currency, and the P&L
between them). Ctrl-C (or SIGTERM, ``--duration``, ``--max-polls``) stops after the current
poll; with ``--cancel-on-exit`` (the default) the orders this run placed that are still open are
cancelled first. Errors are ``error CODE: message`` with exit status 2 (``spotlab.cli.main``).

Several venues (cross-exchange strategies such as ``cross_arbitrage``): give ``--url``, ``--key``
and ``--secret`` once per server, in the same order; the venues are named ``a``, ``b``, ...
(``LiveRunner.across``: one account per server, ``a`` the main one), and each line about a venue's
order, bar or fill starts with ``[a]``, ``[b]``, ... The arbitrage practice loop::

    spotlab demo --venues 2          # two exchanges whose prices drift apart and converge
    spotlab paper --strategy cross_arbitrage --market BTC/USDT \
        --url http://127.0.0.1:8000 --key ak_1 --secret s_1 --url http://127.0.0.1:8001 --key ak_2 --secret s_2
"""

from __future__ import annotations

import signal
import threading
from decimal import Decimal
from typing import Annotated, Any, Optional

import typer

from spotlab.errors import ErrorCode, SpotlabError


def register(app: typer.Typer) -> None:
    app.command("paper")(paper)


def paper(
    strategy: Annotated[str, typer.Option("--strategy", help="A built-in strategy (spotlab strategies lists them).")],
    market: Annotated[list[str], typer.Option("--market", help="Market, e.g. BTC/USDT; once per market.")],
    param: Annotated[list[str], typer.Option("--param", help="Strategy parameter name=value; repeatable.")] = [],  # noqa: B006
    interval: Annotated[str, typer.Option(help="Candle interval the strategy trades on: 1m, 5m, 1h, ...")] = "1m",
    url: Annotated[
        list[str], typer.Option(envvar="SPOTLAB_URL", help="The spotlab server; once per venue (a, b, ...).")
    ] = ["http://127.0.0.1:8000"],  # noqa: B006
    key: Annotated[
        list[str], typer.Option(envvar="SPOTLAB_API_KEY", help="API key id (read, trade); once per --url.")
    ] = [],  # noqa: B006
    secret: Annotated[
        list[str], typer.Option(envvar="SPOTLAB_API_SECRET", help="The key's secret; once per --url.")
    ] = [],  # noqa: B006
    currency: Annotated[str, typer.Option(help="Report currency (equity and P&L are valued in it).")] = "USDT",
    warmup: Annotated[int, typer.Option(help="Closed candles loaded as history at the start (0-999).")] = 100,
    poll_seconds: Annotated[float, typer.Option(help="Seconds between polls of the server.")] = 1.0,
    max_polls: Annotated[Optional[int], typer.Option(help="Stop after this many polls.")] = None,
    duration: Annotated[Optional[float], typer.Option(help="Stop after this many seconds.")] = None,
    cancel_on_exit: Annotated[
        bool, typer.Option("--cancel-on-exit/--no-cancel-on-exit", help="Cancel this run's open orders when it stops.")
    ] = True,
) -> None:
    """Run a built-in strategy live against a spotlab server (its simulated market: paper trading)."""
    from spotlab.cli_backtest import _pair, _strategy_class, _typed
    from spotlab.clock import WallClock
    from spotlab.strategy.builtin import STRATEGIES
    from spotlab.strategy.http_venue import HttpVenue
    from spotlab.strategy.live import HttpFeed, LiveRunner

    if not key or not secret:
        raise SpotlabError(
            ErrorCode.UNAUTHENTICATED,
            "paper trading needs an API key with the read and trade scopes: --key and --secret "
            "(or SPOTLAB_API_KEY and SPOTLAB_API_SECRET); create one with POST /v1/api-keys",
        )
    if not (len(url) == len(key) == len(secret) <= len(VENUE_NAMES)):
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"give --url, --key and --secret once per venue, in the same order (at most {len(VENUE_NAMES)}): "
            f"got {len(url)} URL(s), {len(key)} key(s) and {len(secret)} secret(s)",
        )
    if poll_seconds < 0 or (max_polls is not None and max_polls < 1) or (duration is not None and duration <= 0):
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT, "--poll-seconds must be >= 0, --max-polls >= 1 and --duration > 0"
        )
    cls = _strategy_class(strategy, STRATEGIES)
    params = {name: _typed(cls, name, value) for name, value in (_pair(p, "--param") for p in param)}
    instance = cls(**params)
    clock = WallClock()
    names = VENUE_NAMES[: len(url)] if len(url) > 1 else ("",)
    remotes = {name: HttpVenue(u, k, s, clock=clock) for name, u, k, s in zip(names, url, key, secret, strict=True)}
    venues = {name: _Echo(remote, name) for name, remote in remotes.items()}
    options = {"warmup": warmup, "observer": _show}
    if len(url) > 1:
        wiring = {name: (venues[name], HttpFeed(api=remote.api)) for name, remote in remotes.items()}
        runner = LiveRunner.across(instance, wiring, market, interval, clock, currency, **options)
    else:
        remote = remotes[""]
        runner = LiveRunner(
            instance, venues[""], HttpFeed(api=remote.api), market, interval, clock, currency, **options
        )
    shown = ", ".join(f"{k}={v}" for k, v in instance.params.items())
    where = ", ".join(
        f"{f'venue {name}: ' if name else ''}account {remote.account} at {u}"
        for (name, remote), u in zip(remotes.items(), url, strict=True)
    )
    print(f"paper {cls.__name__}({shown}) on {', '.join(runner.markets)} {interval}, {where}", flush=True)
    stop = threading.Event()
    restore = _stop_on_signals(stop)  # before init: a strategy may place orders there
    timer = threading.Timer(duration, stop.set) if duration is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    start_equity = None
    try:
        runner.start()
        start_equity = runner.value_in(currency)
        history = sum(len(d) for d in runner.data.values())
        print(f"start: {history} bars of history, equity {start_equity} {currency}", flush=True)
        runner.run(stop, poll_seconds, max_polls=max_polls)
    finally:
        restore()
        if timer is not None:
            timer.cancel()
        if cancel_on_exit:
            for venue in venues.values():
                _cancel_open(venue)
        _summary(runner, list(venues.values()), start_equity, currency)


VENUE_NAMES = tuple("abcdefghijklmnopqrstuvwxyz")


class _Echo:
    """The strategy's venue, printing each order it places or cancels and remembering the ids."""

    def __init__(self, venue: Any, name: str = "") -> None:
        self._venue = venue
        self.prefix = f"[{name}] " if name else ""  # on each line of a run with several venues
        self.placed: list[int] = []
        self.lists: list[int] = []

    @property
    def account(self) -> str:
        return self._venue.account

    def __getattr__(self, name: str) -> Any:
        return getattr(self._venue, name)

    def place_order(self, market, side, type, price=None, quantity=None, **options):
        view = self._venue.place_order(market, side, type, price, quantity, **options)
        self.placed.append(view.id)
        _order_line(self.prefix + "order", view)
        return view

    def place_oco(self, *args, **options):
        return self._list("oco", self._venue.place_oco(*args, **options))

    def place_bracket(self, *args, **options):
        return self._list("bracket", self._venue.place_bracket(*args, **options))

    def _list(self, kind: str, view):
        self.lists.append(view.id)
        print(f"{self.prefix}{kind} list {view.id} {view.market} {view.quantity} {view.status}", flush=True)
        for order in view.orders:
            self.placed.append(order.id)
            _order_line(self.prefix + "  order", order)
        return view

    def cancel_order(self, order_id: int):
        view = self._venue.cancel_order(order_id)
        _order_line(self.prefix + "cancel", view)
        return view

    def cancel_order_list(self, list_id: int):
        view = self._venue.cancel_order_list(list_id)
        print(f"{self.prefix}cancel list {view.id} {view.market} {view.status}", flush=True)
        return view

    def cancel_all_orders(self, market: str):
        views = self._venue.cancel_all_orders(market)
        for view in views:
            _order_line(self.prefix + "cancel", view)
        return views

    def replace_quotes(self, market: str, quotes):
        answer = self._venue.replace_quotes(market, quotes)
        for view in answer.canceled:
            _order_line(self.prefix + "cancel", view)
        for view in answer.placed:
            self.placed.append(view.id)
            _order_line(self.prefix + "quote", view)
        return answer


def _order_line(what: str, view) -> None:
    amount = f"{view.quantity}" if view.quantity is not None else f"{view.quote_quantity} {view.fee_asset}"
    price = f" @ {view.price}" if view.price is not None else ""
    stop = f" stop {view.stop_price}" if view.stop_price is not None else ""
    client = f" ({view.client_order_id})" if view.client_order_id else ""
    print(
        f"{what} {view.id} {view.side} {view.type} {view.market} {amount}{price}{stop} {view.status}{client}",
        flush=True,
    )


def _show(kind: str, item: Any) -> None:
    """One line per event the live runner reports (``LiveRunner(observer=...)``)."""
    if kind == "bar":
        line = f"bar {item.market} close {item.close} high {item.high} low {item.low} volume {item.volume}"
    elif kind == "fill":
        line = (
            f"fill order {item.order_id} {item.side} {item.quantity} {item.market} @ {item.price} "
            f"fee {item.fee} {item.fee_asset} ({item.role})"
        )
    elif kind == "refused":
        where, error = item
        line = f"refused in {where}: {error.code}: {error.message}"
    else:
        line = f"{kind} {item}"
    venue = getattr(item, "venue", "")  # bars and fills of a run with several venues
    print(f"[{venue}] {line}" if venue else line, flush=True)


def _cancel_open(venue: _Echo) -> None:
    """Cancel what this run placed that is still open (its lists, then its orders); report what fails."""
    try:
        for list_id in venue.lists:
            if venue.order_list(list_id).status != "ALL_DONE":
                venue.cancel_order_list(list_id)
        open_ids = {view.id for view in venue.open_orders()} | {view.id for view in venue.conditional_orders()}
    except SpotlabError as error:
        print(f"{venue.prefix}could not cancel this run's orders: {error.code}: {error.message}", flush=True)
        return
    for order_id in venue.placed:
        if order_id in open_ids:
            try:
                venue.cancel_order(order_id)
            except SpotlabError as error:  # it closed meanwhile
                print(f"{venue.prefix}could not cancel order {order_id}: {error.code}: {error.message}", flush=True)


def _summary(runner, venues: list[_Echo], start_equity: Decimal | None, currency: str) -> None:
    fees = sum((fill.fee for fill in runner.fills if fill.fee_asset == currency), Decimal(0))
    try:
        if start_equity is None:
            raise SpotlabError(ErrorCode.SOURCE_UNAVAILABLE, "the run did not start")
        equity = runner.value_in(currency)
        change = equity - start_equity
        percent = f" ({change / start_equity * 100:+.2f} %)" if start_equity else ""
        money = f"equity {start_equity} -> {equity} {currency}, P&L {change:+} {currency}{percent}"
    except SpotlabError as error:
        money = f"equity unavailable ({error.code})"
    print(
        f"summary: {runner.polls} polls, {runner.bars_delivered} bars, "
        f"{sum(len(venue.placed) for venue in venues)} orders, {len(runner.fills)} fills, fees {fees} {currency}, "
        f"{len(runner.refusals)} refusals; {money}",
        flush=True,
    )


def _stop_on_signals(stop: threading.Event):
    """Ctrl-C and SIGTERM set ``stop`` (the run ends after its poll); returns a function restoring the handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


if __name__ == "__main__":  # ``python -m spotlab.cli_paper paper ...``: as ``spotlab paper`` once cli.py registers it
    from spotlab import cli

    if not any(command.name == "paper" for command in cli.app.registered_commands):
        register(cli.app)
    cli.main()
