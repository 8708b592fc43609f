"""``spotlab demo``, as a newcomer runs it: a real process, a real server on 127.0.0.1, Ctrl-C, and a restart."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal

import httpx
import pytest

from spotlab.strategy.http_venue import HttpVenue

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Demo:
    """``spotlab demo`` in a subprocess; ``lines`` is what it printed once ready."""

    def __init__(self, data_dir, port: int, *flags: str, ready_lines: int = 1) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "spotlab.cli", "demo", "--data-dir", str(data_dir), "--port", str(port),
                   *flags]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        deadline = time.monotonic() + 120
        while sum(line.strip().startswith("secret") for line in self.lines) < ready_lines:
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError(f"demo ended early: {self.process.stderr.read()}")
            self.lines.append(line)
            assert time.monotonic() < deadline, self.lines
        self.url = f"http://127.0.0.1:{port}"

    def value(self, label: str) -> str:
        line = next(line for line in self.lines if line.strip().startswith(label))
        return line.split()[1]

    def stop(self) -> str:
        self.process.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = self.process.communicate(timeout=90)
        assert self.process.returncode == 0, err
        assert "Traceback" not in err, err
        return out


def trades(url: str, market: str = "BTC-USDT") -> list[dict]:
    return httpx.get(f"{url}/v1/markets/{market}/trades", params={"limit": 100}).json()["items"]


def wait_for(check, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError("timed out")


def test_the_demo_starts_trades_stops_and_resumes_with_nothing_lost(tmp_path):
    port = free_port()
    demo = Demo(tmp_path / "data", port)
    assert "created" in demo.lines[0] and demo.value("docs") == f"{demo.url}/docs"
    assert httpx.get(f"{demo.url}/docs").status_code == 200
    secret = demo.value("secret")
    key = next(line.split()[2] for line in demo.lines if line.strip().startswith("API key"))
    account = demo.value("account")
    assert account == "demo" and re.fullmatch(r"ak_[0-9a-f]+", key)

    # the market moves: the simulator's agents trade, with quotes on both sides
    first = wait_for(lambda: trades(demo.url))
    book = httpx.get(f"{demo.url}/v1/markets/BTC-USDT/book", params={"depth": 5}).json()
    assert book["bids"] and book["asks"] and Decimal(book["bids"][0][0]) < Decimal(book["asks"][0][0])

    # the demo account trades with its key: a resting bid far below the market, and a market buy that fills
    venue = HttpVenue(demo.url, key, secret)
    best_bid = Decimal(book["bids"][0][0])
    resting = venue.place_order("BTC/USDT", "buy", "limit", price=(best_bid * Decimal("0.5")).quantize(Decimal("0.01")),
                                quantity=Decimal("0.001"))  # fmt: skip
    bought = venue.place_order("BTC/USDT", "buy", "market", quantity=Decimal("0.001"))
    assert resting.status == "NEW" and bought.status == "FILLED"
    balances = venue.balances()
    out = demo.stop()
    assert "stopped after" in out

    again = Demo(tmp_path / "data", port)
    try:
        assert "resumed" in again.lines[0]
        key_again = next(line.split()[2] for line in again.lines if line.strip().startswith("API key"))
        assert key_again == key and again.value("secret") == secret  # the same account, the same key
        venue = HttpVenue(again.url, key, secret)
        assert venue.order(resting.id).status == "NEW"  # the resting order survived the restart
        assert venue.order(bought.id).filled_quantity == Decimal("0.001")
        assert venue.balances() == balances  # nothing lost, nothing added
        last_id = max(t["id"] for t in first)
        wait_for(lambda: max(t["id"] for t in trades(again.url)) > last_id)  # and the market moves on
    finally:
        again.stop()


def test_two_venues_run_side_by_side_with_prices_apart(tmp_path):
    """``--venues 2``: two exchanges, each with its API, market and demo account; the second's prices follow the
    first's apart by a mean-reverting gap (``spotlab.sim.prices.LinkedPrices``), room for arbitrage."""
    port = free_port()
    while True:  # the second venue listens on the next port
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 1))
            break
        except OSError:
            port = free_port()
    demo = Demo(tmp_path / "data", port, "--venues", "2", ready_lines=2)
    try:
        urls = [line.split()[1].removesuffix("/v1") for line in demo.lines if line.split()[:1] == ["API"]
                and line.split()[1].startswith("http")]  # fmt: skip
        assert urls == [f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"]
        keys = [line.split()[2] for line in demo.lines if line.strip().startswith("API key")]
        assert len(set(keys)) == 2  # a demo account on each exchange
        mids = []
        for url in urls:
            wait_for(lambda url=url: trades(url))
            book = httpx.get(f"{url}/v1/markets/BTC-USDT/book", params={"depth": 1}).json()
            mids.append((Decimal(book["bids"][0][0]) + Decimal(book["asks"][0][0])) / 2)
        assert mids[0] != mids[1] and abs(mids[1] / mids[0] - 1) < Decimal("0.05")
        assert (tmp_path / "data" / "venue-2" / "exchange.sqlite").exists()
    finally:
        assert "stopped after" in demo.stop()


def test_a_port_in_use_is_a_plain_error_before_anything_opens(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "spotlab.cli", "demo", "--data-dir", str(tmp_path / "data"), "--port", str(port)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 2 and f"127.0.0.1:{port} is in use" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "data" / "exchange.sqlite").exists()
