"""The simulator: deterministic under a seed, never crashed by a refusal, resumable, paced, fast."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from spotlab import Exchange, SimulatedClock, WallClock
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.sim.agents import BUY, SELL
from spotlab.sim.simulator import (
    DEFAULT_MARKETS,
    FULL_MIX,
    MAKERS_AND_NOISE,
    AgentMix,
    Funding,
    SimConfig,
    Simulator,
    WhaleParams,
)
from tests.sim.support import START, assert_no_negative_balance, simulated


def run(config: SimConfig, steps: int):
    sim, exchange = simulated(config)
    for _ in range(steps):
        sim.step()
    return sim, exchange


def history(exchange: Exchange):
    return {market: exchange.trades(market, 1000) for market in DEFAULT_MARKETS}


def test_the_same_seed_gives_the_same_events_and_trades():
    (sim_a, a), (sim_b, b) = run(SimConfig(seed=42), 300), run(SimConfig(seed=42), 300)
    assert sim_a.venue.trades > 50
    assert (sim_a.venue.placed, sim_a.venue.trades) == (sim_b.venue.placed, sim_b.venue.trades)
    assert history(a) == history(b)
    assert list(a.events()) == list(b.events())
    assert a.state_hash() == b.state_hash()


def test_another_seed_gives_other_trades():
    (_, a), (_, b) = run(SimConfig(seed=1), 300), run(SimConfig(seed=2), 300)
    assert history(a) != history(b)


def test_every_step_leaves_sound_books_and_no_negative_balance():
    sim, exchange = simulated(SimConfig(seed=5))
    for _ in range(20):
        for _ in range(30):
            sim.step()
        exchange.check_invariants()  # conservation, no crossed book, holds cover open orders
    assert_no_negative_balance(exchange, [agent.account for agent in sim.agents])
    stats = sim.stats()
    assert stats["steps"] == 600 and stats["trades"] > 100 and stats["orders_placed"] > 1000


def test_a_step_moves_a_simulated_clock_by_dt_and_prices_move():
    sim, exchange = simulated(SimConfig(seed=3, dt=2.5))
    before = exchange.now_ns()
    reference = sim.prices.price("BTC/USDT")
    sim.step()
    assert exchange.now_ns() - before == 2_500_000_000
    assert sim.prices.price("BTC/USDT") != reference


def test_refusals_are_counted_and_the_simulation_goes_on():
    config = SimConfig(seed=4, mix=MAKERS_AND_NOISE, funding=Funding(noise=0.0))  # noise traders hold nothing
    sim, exchange = run(config, 200)
    stats = sim.stats()
    assert stats["steps"] == 200
    assert stats["refused_by_code"].get("INSUFFICIENT_FUNDS", 0) > 10
    broke = [agent for agent in sim.agents if agent.kind == "noise"]
    assert all(agent.refused["INSUFFICIENT_FUNDS"] == agent.sent for agent in broke if agent.sent)
    exchange.check_invariants()


def test_a_whale_walks_the_book_and_pays_slippage():
    quiet_whale = WhaleParams(orders_per_hour=0.0, order_usd=6_000.0, size_sigma=0.0)
    config = SimConfig(markets=("ETH/USDT",), mix=AgentMix(makers=1, noise=0, momentum=0, whales=1), whale=quiet_whale)
    sim, exchange = run(config, 5)
    whale = next(agent for agent in sim.agents if agent.kind == "whale")
    book = exchange.order_book("ETH/USDT", None)
    best_ask = book.best_ask
    slippage = whale.trade(sim.context, BUY)
    assert slippage is not None and slippage > 2.0  # bps: 6,000 USD take three 2,000 USD levels 4 bps apart
    prices = {trade.price for trade in exchange.trades("ETH/USDT", 10)}
    assert len(prices) >= 3 and min(prices) == best_ask
    after = exchange.order_book("ETH/USDT", None)
    assert after.best_ask >= max(prices) and len(after.asks) <= len(book.asks) - 3  # the levels it took are gone
    assert whale.trade(sim.context, SELL) > 0
    assert list(whale.slippages_bps) == [slippage, whale.slippages_bps[-1]]


def test_run_paces_steps_at_speed_times_real_time():
    sim, _ = simulated(SimConfig(seed=6, markets=("BTC/USDT",), dt=1.0))
    began = time.monotonic()
    sim.run(threading.Event(), speed=100.0, max_steps=20)  # 20 s of market time in 0.2 s
    elapsed = time.monotonic() - began
    assert sim.steps == 20
    assert 0.18 <= elapsed < 1.5


def test_run_stops_cleanly_when_its_event_is_set():
    sim, exchange = simulated(SimConfig(seed=7))
    stop = threading.Event()
    worker = threading.Thread(target=sim.run, args=(stop,), kwargs={"speed": 0})
    worker.start()
    time.sleep(0.3)
    stop.set()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert sim.steps > 10
    exchange.check_invariants()


def test_the_simulator_sends_over_a_thousand_orders_a_second_on_eight_markets():
    sim, _ = simulated(SimConfig(seed=8, markets=DEFAULT_MARKETS[:8], mix=FULL_MIX))
    began = time.perf_counter()
    for _ in range(300):
        sim.step()
    stats = sim.stats()
    commands = stats["orders_placed"] + stats["cancels_sent"]
    assert commands / (time.perf_counter() - began) > 1_000


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dt": 0}, "dt must be a positive"),
        ({"seed": -1}, "seed"),
        ({"markets": ("BTC/USDT", "BTC/USDT")}, "without repeats"),
        ({"mixes": {"XRP/USDT": FULL_MIX}}, "not simulated"),
        ({"markets": ("BTC/EUR",)}, "asset EUR needs a model"),
    ],
)
def test_bad_configs_are_refused_with_a_clear_error(kwargs, message):
    with pytest.raises(SpotlabError, match=message) as raised:
        SimConfig(**kwargs)
    assert raised.value.code == ErrorCode.INVALID_ARGUMENT


def test_a_bad_agent_count_and_a_bad_speed_are_refused():
    with pytest.raises(SpotlabError, match="makers"):
        AgentMix(makers=-1)
    sim, _ = simulated(SimConfig(markets=("BTC/USDT",)))
    with pytest.raises(SpotlabError, match="speed"):
        sim.run(threading.Event(), speed=-1)


def test_setup_is_idempotent():
    sim, exchange = simulated(SimConfig(seed=9, markets=("BTC/USDT",)))
    accounts = exchange.accounts()
    sim.setup()
    assert exchange.accounts() == accounts


def test_resume_reuses_the_accounts_and_starts_from_the_last_trade_prices(tmp_path):
    url = f"sqlite:///{tmp_path}/sim.sqlite"
    config = SimConfig(seed=10, mix=MAKERS_AND_NOISE)
    sim, exchange = simulated(config, url)
    for _ in range(300):
        sim.step()
    accounts = exchange.accounts()
    held = {account: exchange.balances(account) for account in accounts}
    last = {market: exchange.trades(market, 1)[0].price for market in DEFAULT_MARKETS}
    exchange.close()

    clock = SimulatedClock(START + timedelta(hours=1))
    with Exchange.open(url, clock=clock) as reopened:
        resumed = Simulator(reopened, config, clock)
        resumed.setup()
        assert reopened.accounts() == accounts  # nobody new
        for account in accounts:  # no new deposit; open orders cancelled, so everything is available again
            after = reopened.balances(account)
            assert {a: b.available + b.locked for a, b in after.items()} == {
                a: b.available + b.locked for a, b in held[account].items()
            }
            assert all(b.locked == 0 for b in after.values())
        for market in ("SOL/USDT", "ADA/USDT", "DOT/USDC"):  # priced by one stablecoin market each
            assert resumed.prices.price(market) == pytest.approx(float(last[market]), rel=1e-12)
        btc = resumed.prices.price("BTC/USDT")  # BTC/USDT and BTC/USD meet halfway
        assert min(last["BTC/USDT"], last["BTC/USD"]) <= btc <= max(last["BTC/USDT"], last["BTC/USD"])
        for _ in range(20):
            resumed.step()
        reopened.check_invariants()


def test_on_a_wall_clock_the_exchange_stamps_real_time():
    exchange = Exchange.open(clock=WallClock())
    sim = Simulator(exchange, SimConfig(seed=11, markets=("BTC/USDT",), mix=MAKERS_AND_NOISE, dt=30.0), WallClock())
    before = time.time_ns()
    for _ in range(20):
        sim.step()  # ten minutes of market time, at once
    stamps = [event.ts for event in exchange.events()]
    assert stamps and before - 60 * 10**9 < min(stamps) and max(stamps) <= time.time_ns()
    assert sim.prices.elapsed_ns == 600 * 10**9
    exchange.close()


def test_drained_agents_are_topped_up_and_the_market_goes_on():
    config = SimConfig(seed=12, markets=("ETH/USD",), mix=MAKERS_AND_NOISE, top_up_every=60.0, top_up_below=0.6)
    sim, exchange = run(config, 1)
    drained = "sim-noise-ETH-USD-0"
    exchange.cancel_all_orders(drained, "ETH/USD")
    exchange.withdraw(drained, "USD", exchange.balances(drained)["USD"].available)  # half of its 40,000 USD
    for _ in range(58):
        sim.step()
    assert sim.topped_up == 0  # top-ups come once a minute of market time
    sim.step()
    assert sim.topped_up == 1
    deposit = [e for e in exchange.events() if type(e).__name__ == "Deposited" and e.account == drained][-1]
    assert deposit.asset == "USD" and 19_000 * 10**8 < deposit.amount <= 20_000 * 10**8
    exchange.check_invariants()
