"""``spotlab paper``: a built-in strategy trading live against a running server.

The server runs in this process on a simulated clock (so the test decides when a candle closes);
its signature window is widened because the command signs with the wall clock. The command runs
as a subprocess (``python -m spotlab.cli_paper``, the same command ``spotlab paper`` runs) or,
for strategies only a test has, in process through Typer's runner.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal

import pytest
import typer
from typer.testing import CliRunner

from spotlab import SimulatedClock
from spotlab.cli_paper import register
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.strategy.base import Strategy
from spotlab.strategy.builtin import STRATEGIES
from tests.strategy.remote import START, serve

BTC = "BTC/USDT"
D = Decimal
WIDE_WINDOW = 10**12  # ms: the server's clock is 2024, the command's the wall clock


class Lines:
    """A subprocess's stdout, line by line, readable with a deadline."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, prefix: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line starting {prefix!r} in {timeout} s; seen: {self.seen}") from None
            if line is None:
                raise AssertionError(f"output ended without a line starting {prefix!r}; seen: {self.seen}")
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def rest(self, timeout: float = 20) -> list[str]:
        while True:
            line = self._queue.get(timeout=timeout)
            if line is None:
                return self.seen
            self.seen.append(line)


@pytest.mark.slow
def test_spotlab_paper_runs_a_builtin_strategy_live_until_ctrl_c():
    with serve(signature_window_ms=WIDE_WINDOW) as server:
        user = server.trader("paper", USDT="10000")
        maker, taker = server.counterparty("maker", BTC="2"), server.counterparty("taker", USDT="100000")
        server.exchange.place_order(maker, BTC, "sell", "limit", Decimal("40000"), Decimal("0.01"))
        server.exchange.place_order(taker, BTC, "buy", "market", quantity=Decimal("0.01"))  # the candle's trade
        server.exchange.place_order(maker, BTC, "sell", "limit", Decimal("40000"), Decimal("0.5"))  # to buy from
        env = {**os.environ, "SPOTLAB_API_KEY": user.key_id, "SPOTLAB_API_SECRET": user.secret}
        options = ["--strategy", "buy_and_hold", "--market", BTC, "--param", "fraction=0.5", "--poll-seconds", "0.1"]
        command = [sys.executable, "-u", "-m", "spotlab.cli_paper", "paper", *options, "--url", server.url]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            lines = Lines(process)
            started = lines.wait_for("paper ")
            assert started == f"paper BuyAndHold(fraction=0.5) on BTC/USDT 1m, account paper at {server.url}"
            assert lines.wait_for("start: ") == "start: 0 bars of history, equity 10000.00000000 USDT"
            server.clock.advance(minutes=1)  # the candle closes: the strategy buys
            bar = lines.wait_for("bar ")
            order = lines.wait_for("order ")
            fill = lines.wait_for("fill ")
            process.send_signal(signal.SIGINT)
            summary = lines.rest()[-1]
            assert process.wait(timeout=20) == 0, process.stderr.read()
        finally:
            process.kill()
        assert bar == "bar BTC/USDT close 40000.00 high 40000.00 low 40000.00 volume 0.01000"
        order_id = int(order.split()[1])
        assert order.endswith("FILLED (s1)") and "buy market BTC/USDT 5000.00000000 USDT" in order
        placed = server.exchange.order("paper", order_id)
        assert (placed.status, placed.client_order_id, placed.quote_quantity) == ("FILLED", "s1", Decimal("5000"))
        assert fill.startswith(f"fill order {order_id} buy {placed.filled_quantity} BTC/USDT @ 40000.00 fee")
        assert summary.startswith("summary: ") and "1 bars, 1 orders, 1 fills" in summary and "0 refusals" in summary
        assert "equity 10000.00000000 -> " in summary and "P&L " in summary


def test_an_unknown_strategy_is_an_error_line_and_status_2():
    env = {**os.environ, "SPOTLAB_API_KEY": "ak_x", "SPOTLAB_API_SECRET": "secret"}
    command = [sys.executable, "-m", "spotlab.cli_paper", "paper", "--strategy", "bye_and_hold", "--market", BTC]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert (
        done.stderr.strip() == "error INVALID_ARGUMENT: unknown strategy 'bye_and_hold'; did you mean 'buy_and_hold'?"
    )


# -- in process, with a test's own strategy ------------------------------------------------------


class Bidder(Strategy):
    """Bids once, at start: an order left open when the run stops."""

    def init(self) -> None:
        self.buy(self.market, Decimal("0.01"), price=Decimal("30000"))


@pytest.fixture
def cli(monkeypatch):
    monkeypatch.setitem(STRATEGIES, "bidder", Bidder)
    for name in ("SPOTLAB_API_KEY", "SPOTLAB_API_SECRET", "SPOTLAB_URL"):
        monkeypatch.delenv(name, raising=False)
    app = typer.Typer()
    register(app)
    app.callback()(lambda: None)  # keep ``paper`` a subcommand
    return lambda *args, **env: CliRunner().invoke(app, ["paper", *args], env=env)


@pytest.mark.parametrize(("flag", "status"), [("--cancel-on-exit", "CANCELED"), ("--no-cancel-on-exit", "NEW")])
def test_the_runs_open_orders_are_cancelled_on_exit_unless_told_not_to(cli, flag, status):
    with serve(signature_window_ms=WIDE_WINDOW) as server:
        user = server.trader("bidder", USDT="1000")
        mine = server.exchange.place_order("bidder", BTC, "buy", "limit", Decimal("20000"), Decimal("0.01"))
        result = cli("--strategy", "bidder", "--market", BTC, "--url", server.url, "--max-polls", "1", flag,
                     SPOTLAB_API_KEY=user.key_id, SPOTLAB_API_SECRET=user.secret)  # fmt: skip
        assert result.exit_code == 0, result.output
        [placed] = [view for view in server.exchange.open_orders("bidder") if view.id != mine.id] or [
            server.exchange.order("bidder", int(line.split()[1]))
            for line in result.output.splitlines()
            if line.startswith("order ")
        ]
        assert placed.price == Decimal("30000") and placed.status == status
        assert server.exchange.order("bidder", mine.id).status == "NEW"  # not the run's: never cancelled
    lines = result.output.splitlines()
    assert lines[0].startswith("paper Bidder() on BTC/USDT 1m, account bidder at http://127.0.0.1:")
    assert lines[2] == "start: 0 bars of history, equity 1000.00000000 USDT"
    assert lines[1] == f"order {placed.id} buy limit BTC/USDT 0.01000 @ 30000.00 NEW (s1)"
    assert any(line.startswith(f"cancel {placed.id} ") for line in lines) == (status == "CANCELED")
    assert lines[-1].startswith("summary: 1 polls, 0 bars, 1 orders, 0 fills")


def test_a_missing_key_is_refused_before_anything_runs(cli):
    result = cli("--strategy", "bidder", "--market", BTC, "--url", "http://127.0.0.1:9")
    assert isinstance(result.exception, SpotlabError) and result.exception.code is ErrorCode.UNAUTHENTICATED
    assert "SPOTLAB_API_KEY" in result.exception.message


# -- several venues: the arbitrage practice loop --------------------------------------------------


def test_urls_keys_and_secrets_must_pair_up(cli):
    result = cli("--strategy", "bidder", "--market", BTC, "--url", "http://127.0.0.1:9", "--url", "http://127.0.0.1:10",
                 "--key", "ak_1", "--secret", "s_1")  # fmt: skip
    assert isinstance(result.exception, SpotlabError) and result.exception.code is ErrorCode.INVALID_ARGUMENT
    assert result.exception.message.endswith("got 2 URL(s), 1 key(s) and 1 secret(s)")


def test_with_two_urls_the_strategy_runs_over_venues_a_and_b(cli):
    clock = SimulatedClock(START)
    with serve(clock, signature_window_ms=WIDE_WINDOW) as a, serve(clock, signature_window_ms=WIDE_WINDOW) as b:
        first, second = a.trader("arb", USDT="1000"), b.trader("arb", BTC="1")
        result = cli("--strategy", "cross_arbitrage", "--market", BTC, "--max-polls", "1",
                     "--url", a.url, "--key", first.key_id, "--secret", first.secret,
                     "--url", b.url, "--key", second.key_id, "--secret", second.secret)  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        f"paper CrossExchangeArbitrage(min_edge_bps=10, max_notional=1000) on BTC/USDT 1m, "
        f"venue a: account arb at {a.url}, venue b: account arb at {b.url}"
    )
    # equity adds both venues up: 1000 USDT, and 1 BTC not valued before the first close
    assert lines[1] == "start: 0 bars of history, equity 1000.00000000 USDT"
    assert lines[-1].startswith("summary: 1 polls, 0 bars, 0 orders, 0 fills")


@pytest.mark.slow
def test_spotlab_paper_runs_cross_arbitrage_between_two_servers():
    clock = SimulatedClock(START)
    with serve(clock, signature_window_ms=WIDE_WINDOW) as a, serve(clock, signature_window_ms=WIDE_WINDOW) as b:
        first, second = a.trader("arb", USDT="20000"), b.trader("arb", BTC="1")
        for server, side, price in ((a, "sell", "40000"), (b, "buy", "40200")):  # 30 bps net of both fees
            server.counterparty("resting", BTC="10", USDT="1000000")
            server.exchange.place_order("resting", BTC, side, "limit", D(price), D("0.3"))
        options = ["--strategy", "cross_arbitrage", "--market", BTC, "--poll-seconds", "0.1", "--warmup", "0"]
        venues = ["--url", a.url, "--key", first.key_id, "--secret", first.secret,
                  "--url", b.url, "--key", second.key_id, "--secret", second.secret]  # fmt: skip
        command = [sys.executable, "-u", "-m", "spotlab.cli_paper", "paper", *options, *venues]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            lines = Lines(process)
            lines.wait_for("start: ")
            taker = a.counterparty("taker", USDT="1000")
            a.exchange.place_order("resting", BTC, "sell", "limit", D("40100"), D("0.001"))
            a.exchange.place_order(taker, BTC, "buy", "limit", D("40100"), D("0.001"))  # a trade: a candle on a
            clock.advance(minutes=1)
            bar = lines.wait_for("[a] bar ")
            buy = lines.wait_for("[a] order ")
            sell = lines.wait_for("[b] order ")
            process.send_signal(signal.SIGINT)
            summary = lines.rest()[-1]
            assert process.wait(timeout=20) == 0, process.stderr.read()
        finally:
            process.kill()
        assert bar.startswith("[a] bar BTC/USDT close 40000.00")  # the limit buy met the 40000 ask
        # 1000 USDT at most (max_notional): 0.025 BTC
        assert " buy limit BTC/USDT 0.02500 @ 40000.00 FILLED (s1)" in buy
        assert " sell limit BTC/USDT 0.02500 @ 40200.00 FILLED (s2)" in sell
        assert a.exchange.balances("arb")["BTC"].total == D("0.025")
        assert b.exchange.balances("arb")["USDT"].total == D("1005") - D("1.005")
        assert "2 orders, 2 fills" in summary


def test_the_paper_venue_prints_a_re_quote_and_cancels_its_quotes_on_exit(capsys):
    from spotlab import Exchange
    from spotlab.cli_paper import _cancel_open, _Echo
    from spotlab.strategy.venue import ExchangeVenue

    with Exchange.open() as exchange:
        exchange.create_account("mm")
        exchange.deposit("mm", "USDT", "10000")
        echo = _Echo(ExchangeVenue(exchange, "mm"))
        first = echo.place_order(BTC, "buy", "limit", "30000", "0.01")
        answer = echo.replace_quotes(BTC, [("buy", "30100", "0.01"), ("buy", "30050", "0.01")])
        lines = capsys.readouterr().out.splitlines()
        assert lines[1] == f"cancel {first.id} buy limit BTC/USDT 0.01000 @ 30000.00 CANCELED"
        assert lines[2:] == [f"quote {o.id} buy limit BTC/USDT 0.01000 @ {o.price} NEW" for o in answer.placed]
        _cancel_open(echo)  # what --cancel-on-exit does
        assert exchange.open_orders("mm") == []
