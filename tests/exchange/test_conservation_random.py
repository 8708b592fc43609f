"""Thousands of random commands through the facade, with DESIGN.md invariants 1, 2 and 4 checked after each.

Twenty accounts, some rich and some deliberately poor, trade BTC/USDT, ETH/USDT and
the cross pair ETH/BTC with every order type (limit GTC/IOC/FOK, limit_maker, market
by quantity and by quote amount on both sides), cancel, cancel all, reduce, deposit
and withdraw (some too much, some below the minimum), with client order ids that are
sometimes reused, while markets now and then halt and resume. Conditional orders
(stop-loss and take-profit, market and limit, both sides; some would trigger at once
and are rejected) wait with their funds held and trigger as the trades move the last
price; OCOs (sell, and buy with a stop-limit) and brackets (buy entry, then OCO exits) share one
hold between their take-profit and stop, and are canceled whole or piece by piece; some lists carry
client ids, sometimes sent again (the same list: a duplicate) or reused for other terms (refused).
After EVERY command:

- conservation: per asset, the sum of every balance (users and the fee account)
  equals what the test deposited minus what its withdrawals sent out (amount - fee);
- no available or locked balance is negative;
- each account's locked balance equals what its open orders must hold, computed here
  from the orders' prices and remaining quantities (not from the engine's hold field),
  plus what its pending conditional orders hold (base quantity, limit worst case, or
  the quote amount of a market buy); a buy OCO's limit holds for its dearer stop-limit
  leg too while that waits;
- ``ex.check_invariants()`` (book integrity, conservation, holds);
- a refused command (``SpotlabError``) or a repeated client order id left
  ``ex.state_hash()`` unchanged;
- every fill's fees are ``floor(notional * rate)``, an order by quote amount spent
  within its amount, and each time in force ended in a status it allows;
- every 500 commands, a snapshot restored into a new engine has the same state hash.

Reproduce or extend with ``SPOTLAB_RANDOM_SEED`` and ``SPOTLAB_RANDOM_COMMANDS``.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from spotlab import Exchange, SimulatedClock, SpotlabError
from spotlab.core import state
from spotlab.core.events import OrderFilled, OrderTriggered
from spotlab.core.markets import FEE_SCALE
from spotlab.core.orders import Side

SEED = int(os.environ.get("SPOTLAB_RANDOM_SEED", "20240101"))
COMMANDS = int(os.environ.get("SPOTLAB_RANDOM_COMMANDS", "6000"))
ACCOUNTS = [f"t{i:02d}" for i in range(20)]
POOR = set(ACCOUNTS[::4])  # a fifth of the accounts start with little and get refused often
ASSETS = ("BTC", "ETH", "USDT")

# market: (mid price, price step, lot of a typical order, quote amount of a typical market order)
MARKETS = {
    "BTC/USDT": (D("30000"), D("5"), D("0.0001"), D("100")),
    "ETH/USDT": (D("2000"), D("1"), D("0.002"), D("100")),
    "ETH/BTC": (D("0.066"), D("0.00005"), D("0.01"), D("0.003")),
}
RICH = {"BTC": D("5"), "ETH": D("60"), "USDT": D("200000")}
SMALL = {"BTC": D("0.002"), "ETH": D("0.05"), "USDT": D("60")}
STP = [None, "NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"]


class RandomRun:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clock = SimulatedClock(datetime(2024, 1, 1, tzinfo=UTC))
        # a small memory of closed orders, so the state hash stays cheap and eviction is exercised
        self.ex = Exchange.open(clock=self.clock, closed_orders_kept=64)
        self.engine = self.ex._engine
        self.units = {code: self.engine.asset(code) for code in ASSETS}
        self.inside = Counter()  # per asset, minor units: deposited - sent out by withdrawals
        self.orders: list[tuple[str, int, str, D | None]] = []  # (account, id, market, quantity) of accepted orders
        self.client_orders: dict[tuple[str, str], dict] = {}  # (account, client id) -> the place arguments
        self.fills: list[OrderFilled] = []
        self.lists: list[tuple[str, int]] = []  # (account, list id) of accepted order lists
        self.last_list: tuple | None = None  # the last list call with a client id, to send again
        self.last_seq = self.ex.last_sequence
        self.ex.subscribe(self.on_event)
        self.seen = Counter()  # what happened: refusal codes, order outcomes, kinds of command
        for account in ACCOUNTS:
            self.ex.create_account(account)
            for asset, amount in (SMALL if account in POOR else RICH).items():
                self.deposit(account, asset, amount)

    def on_event(self, event) -> None:
        assert event.seq == self.last_seq + 1, f"event {event.seq} follows {self.last_seq}"
        self.last_seq = event.seq
        if type(event) is OrderFilled:
            self.fills.append(event)
        elif type(event) is OrderTriggered:
            self.seen["triggered"] += 1

    # -- commands ------------------------------------------------------------------------

    def deposit(self, account: str, asset: str, amount: D) -> None:
        self.ex.deposit(account, asset, amount)
        self.inside[asset] += int(amount / self.units[asset].unit)

    def withdraw(self, account: str, asset: str, amount: D) -> None:
        sent = self.ex.withdraw(account, asset, amount).sent
        self.inside[asset] -= int(sent / self.units[asset].unit)

    def price(self, market: str, side: str) -> D:
        """Buys mostly below the mid and sells above it, so the book builds depth; a quarter cross."""
        mid, step, _, _ = MARKETS[market]
        away = step * self.rng.randint(-3, 9)
        price = mid - away if side == "buy" else mid + away
        if self.rng.random() < 0.02:
            price += self.engine.markets[market].spec.tick_size / 2  # off the tick: refused
        return price

    def quantity(self, market: str) -> D:
        lot = MARKETS[market][2]
        quantity = lot * self.rng.choice([1, 2, 3, 5, 8, 13, 20, 40, 80, 150])
        if self.rng.random() < 0.02:
            quantity += self.engine.markets[market].spec.lot_size / 2  # off the lot: refused
        return quantity

    def place(self) -> None:
        rng = self.rng
        account = rng.choice(ACCOUNTS)
        market = rng.choice(list(MARKETS))
        side = rng.choice(["buy", "sell"])
        kind = rng.choices(
            ["GTC", "IOC", "FOK", "limit_maker", "market", "market_amount", "conditional"],
            weights=[30, 6, 6, 8, 6, 6, 8],
        )[0]
        args: dict = {"account": account, "market": market, "side": side}
        if kind == "conditional":
            self.conditional(args)
        elif kind == "market":
            args |= {"type": "market", "quantity": self.quantity(market)}
        elif kind == "market_amount":
            args |= {"type": "market", "quote_quantity": MARKETS[market][3] * rng.choice([D("0.01"), 1, 3, 10, 30])}
        elif kind == "limit_maker":
            args |= {"type": "limit_maker", "price": self.price(market, side), "quantity": self.quantity(market)}
        else:
            args |= {"type": "limit", "price": self.price(market, side), "quantity": self.quantity(market)}
            if kind != "GTC" or rng.random() < 0.3:
                args["time_in_force"] = kind
        stp = rng.choice(STP)
        if stp is not None:
            args["self_trade_prevention"] = stp
        if rng.random() < 0.2:
            args["client_order_id"] = f"c-{rng.randrange(40)}"  # a pool per account: reuse becomes common
        self.submit(kind, args)

    def conditional(self, args: dict) -> None:
        """A stop-loss or take-profit a few steps from the mid (so some are crossed at once and rejected)."""
        rng = self.rng
        market, side = args["market"], args["side"]
        mid, step, _, amount = MARKETS[market]
        otype = rng.choice(["stop_loss", "stop_loss_limit", "take_profit", "take_profit_limit", "trailing_stop"])
        if otype == "trailing_stop":
            args |= {"type": otype}
            if rng.random() < 0.5:
                args["trailing_distance"] = step * rng.randint(1, 6)
            else:
                args["trailing_percent"] = D(rng.choice(["0.01", "0.05", "0.2"]))
            if rng.random() < 0.3:
                args["activation_price"] = mid + (1 if side == "sell" else -1) * step * rng.randint(0, 4)
            args |= (
                {"quote_quantity": amount * rng.choice([1, 3])}
                if side == "buy"
                else {"quantity": self.quantity(market)}
            )
            return
        below = (otype.startswith("stop_loss")) is (side == "sell")  # sell stops and buy take-profits wait below
        stop = mid + (-1 if below else 1) * step * rng.randint(0, 6)
        args |= {"type": otype, "stop_price": stop}
        if otype.endswith("_limit"):
            args |= {"price": stop + (-1 if side == "sell" else 1) * step * rng.randint(0, 3)}
            args |= {"quantity": self.quantity(market)}
        elif side == "buy":
            args |= {"quote_quantity": amount * rng.choice([1, 3, 10])}
        else:
            args |= {"quantity": self.quantity(market)}

    def place_list(self) -> None:
        """An OCO selling what an account may hold or buying below / above the mid, or a bracket buying near
        the mid; some refused; some with a client id, sometimes sent again."""
        rng = self.rng
        if self.last_list is not None and rng.random() < 0.1:
            place, args, kwargs = self.last_list  # sent again: the same list (a duplicate), or refused again
        else:
            place, args, kwargs = self.list_call()
            kwargs["client_order_id"] = f"list-{rng.randint(0, 40)}" if rng.random() < 0.3 else None
            if kwargs["client_order_id"] is not None:
                self.last_list = (place, args, kwargs)
        view = place(*args, **kwargs)
        if view.duplicate:
            self.seen["duplicate"] += 1
            self.seen["list duplicate"] += 1
            return
        self.seen[f"{view.side} {view.kind} placed"] += 1
        for order in view.orders:
            self.orders.append((order.account, order.id, order.market, order.quantity))
        self.lists.append((view.account, view.id))

    def list_call(self) -> tuple:
        rng = self.rng
        account, market = rng.choice(ACCOUNTS), rng.choice(list(MARKETS))
        mid, step, _, _ = MARKETS[market]
        quantity = self.quantity(market)
        draw = rng.random()
        if draw < 0.3:  # a buy OCO: a limit below the mid, a stop-limit buy above it (now and then none: refused)
            take_profit, stop = mid - step * rng.randint(-1, 8), mid + step * rng.randint(-1, 8)
            stop_limit = stop + step * rng.randint(0, 3) if rng.random() < 0.95 else None
            return self.ex.place_oco, (account, market, quantity, take_profit, stop), {
                "stop_limit_price": stop_limit, "side": "buy"
            }  # fmt: skip
        take_profit = mid + step * rng.randint(-1, 8)
        stop = mid - step * rng.randint(-1, 8)
        stop_limit = stop - step * rng.randint(0, 3) if rng.random() < 0.4 else None
        if draw < 0.6:
            return self.ex.place_oco, (account, market, quantity, take_profit, stop), {"stop_limit_price": stop_limit}
        entry = mid + step * rng.randint(-4, 2)
        args = (account, market, quantity, entry, take_profit, stop)
        return self.ex.place_bracket, args, {"stop_limit_price": stop_limit}

    def cancel_list(self) -> None:
        if self.lists:
            account, list_id = self.rng.choice(self.lists[-20:])
            self.ex.cancel_order_list(account, list_id)

    def submit(self, kind: str, args: dict) -> None:
        view = self.ex.place_order(**args)
        cid = args.get("client_order_id")
        if view.duplicate:
            self.seen["duplicate"] += 1
            assert self.client_orders[args["account"], cid] == args
            return
        if cid is not None:
            self.client_orders[args["account"], cid] = args
        self.orders.append((view.account, view.id, view.market, view.quantity))
        self.seen[f"{kind} {view.status}"] += 1
        self.check_order_outcome(kind, args, view)

    def resend(self) -> None:
        """Send again an order placed with a client order id: the original comes back, nothing changes."""
        if self.client_orders:
            (account, cid), args = self.rng.choice(sorted(self.client_orders.items(), key=lambda kv: kv[0]))
            self.submit("resent", dict(args))

    def pick_order(self) -> tuple[str, int, str, D | None] | None:
        if not self.orders:
            return None
        recent = self.orders[-40:]
        return self.rng.choice(recent if self.rng.random() < 0.8 else self.orders)

    def cancel(self) -> None:
        picked = self.pick_order()
        if picked is not None:
            account, order_id, _, _ = picked
            if self.rng.random() < 0.1:
                account = self.rng.choice(ACCOUNTS)  # often someone else's: not found
            self.ex.cancel_order(account, order_id)

    def cancel_all(self) -> None:
        self.ex.cancel_all_orders(self.rng.choice(ACCOUNTS), self.rng.choice(list(MARKETS)))

    def reduce(self) -> None:
        picked = self.pick_order()
        if picked is not None and picked[3] is not None:  # orders by quote amount never rest
            account, order_id, market, quantity = picked
            lot = self.engine.markets[market].spec.lot_size
            # a tenth to 110 % of the quantity: below what filled, valid, or not a reduction at all
            new = (quantity * self.rng.choice([1, 2, 3, 5, 8, 11]) / 10 / lot).to_integral_value() * lot
            self.ex.reduce_order(account, order_id, new)

    def halt_or_resume(self) -> None:
        """Now and then a market halts (orders are rejected, cancels still work) and later resumes."""
        halted = [m for m in MARKETS if self.ex.market(m).status == "halted"]
        if halted:
            self.ex.resume_market(halted[0])
        elif self.rng.random() < 0.3:
            self.ex.halt_market(self.rng.choice(list(MARKETS)))

    def move_funds(self) -> None:
        rng = self.rng
        account, asset = rng.choice(ACCOUNTS), rng.choice(ASSETS)
        if rng.random() < 0.4:
            self.deposit(account, asset, (RICH if rng.random() < 0.3 else SMALL)[asset] * rng.choice([1, 2, 5]))
            return
        spec = self.units[asset]
        balance = self.ex.balances(account).get(asset)
        available = balance.available if balance else D(0)
        amount = rng.choice(
            [
                available * rng.choice([D("0.1"), D("0.5"), D(1)]),  # some of it, or all
                available + spec.unit,  # one minor unit too much
                available * 3 + spec.min_withdrawal,  # far too much
                spec.min_withdrawal - spec.unit,  # below the minimum
            ]
        ).quantize(spec.unit)
        self.withdraw(account, asset, amount)

    # -- checks --------------------------------------------------------------------------

    def check_order_outcome(self, kind: str, args: dict, view) -> None:
        status, filled = view.status, view.filled_quantity
        tif = view.time_in_force
        if kind == "conditional":
            assert status == "NEW" and not view.fills and view.stop_price == args.get("stop_price", view.stop_price), (
                view
            )
            return
        if view.type == "limit_maker":
            assert status == "NEW" and not view.fills, view
        elif tif == "FOK":
            assert (status, view.remaining_quantity) == ("FILLED", 0) or (status, filled) == ("EXPIRED", 0), view
        elif tif == "IOC" or view.type == "market":
            assert status in ("FILLED", "EXPIRED"), view
        else:
            assert status in ("NEW", "PARTIALLY_FILLED", "FILLED", "EXPIRED"), view
            if status == "EXPIRED":
                assert view.reason == "self-trade prevention", view
        assert view.filled_notional == sum(f.notional for f in view.fills), view  # all its fills are this command's
        assert view.fees == sum(f.fee for f in view.fills), view
        for fill in view.fills:
            if view.price is not None:
                assert fill.price <= view.price if view.side == "buy" else fill.price >= view.price, view
        if view.quote_quantity is not None:
            if view.side == "buy":
                assert view.filled_notional + view.fees <= view.quote_quantity, view
            else:
                assert view.filled_notional <= view.quote_quantity, view

    def check_fills(self) -> None:
        for event in self.fills:
            spec = self.engine.markets[event.market].spec
            notional = event.price * event.quantity * spec.notional_unit
            assert event.notional == notional, event
            assert event.maker_fee == notional * spec.maker_rate // FEE_SCALE, event
            assert event.taker_fee == notional * spec.taker_rate // FEE_SCALE, event
            self.seen[f"fill {event.market}"] += 1
        self.fills.clear()

    def check_balances(self) -> None:
        totals: Counter = Counter()
        for account, rows in self.engine.ledger.rows.items():
            for asset, (available, locked, *_owner) in rows.items():
                assert available >= 0 and locked >= 0, f"{account} {asset}: {available} available, {locked} locked"
                totals[asset] += available + locked
        for asset in ASSETS:
            assert totals[asset] == self.inside[asset], (
                f"{asset}: balances sum to {totals[asset]}, deposits - withdrawals sent = {self.inside[asset]}"
            )

    def check_holds(self) -> None:
        """Every locked balance is exactly what the open orders need: buys at their limit plus the worst fee."""
        needed: Counter = Counter()
        waiting_stop = {  # a buy OCO's limit -> its stop-limit, still pending: the limit holds for both
            take_profit: self.engine.pending_orders[stop]
            for lst in self.engine.order_lists.values()
            for take_profit, stop in lst.pairs
            if stop in self.engine.pending_orders
        }
        for order in self.engine.open_orders.values():
            spec = self.engine.markets[order.market].spec
            if order.side is Side.BUY:
                notional = order.price * order.remaining * spec.notional_unit
                need = notional + notional * spec.max_rate // FEE_SCALE
                stop = waiting_stop.get(order.id)
                if stop is not None:
                    notional = stop.price * stop.quantity * spec.notional_unit
                    need = max(need, notional + notional * spec.max_rate // FEE_SCALE)
                needed[order.account, spec.quote.code] += need
            else:
                needed[order.account, spec.base.code] += order.remaining * spec.lot_units
        for order in self.engine.pending_orders.values():
            spec = self.engine.markets[order.market].spec
            if order.list_id:
                continue  # an OCO's stop-loss: its take-profit in the book holds for both
            if order.side is Side.SELL:
                needed[order.account, spec.base.code] += order.quantity * spec.lot_units
            elif order.quote_quantity:
                needed[order.account, spec.quote.code] += order.quote_quantity
            else:
                notional = order.price * order.quantity * spec.notional_unit
                needed[order.account, spec.quote.code] += notional + notional * spec.max_rate // FEE_SCALE
        for account, rows in self.engine.ledger.rows.items():
            for asset, row in rows.items():
                assert row[1] == needed[account, asset], (
                    f"{account} {asset}: locked {row[1]}, its open orders need {needed[account, asset]}"
                )

    def check_public_views(self) -> None:
        """The same conservation through the public API, in Decimal."""
        totals: Counter = Counter()
        for account in ACCOUNTS:
            for asset, balance in self.ex.balances(account).items():
                assert balance.available >= 0 and balance.locked >= 0
                totals[asset] += balance.total
        for asset, balance in self.ex.fee_balances().items():
            totals[asset] += balance.total
        for asset in ASSETS:
            assert totals[asset] == self.inside[asset] * self.units[asset].unit, asset

    def check_snapshot_round_trip(self) -> None:
        """What a restart from a snapshot would rebuild, pending conditionals included, hashes the same."""
        restored = state.restore(state.decode(state.encode(state.snapshot(self.engine))))
        restored.check_invariants()
        assert state.state_hash(restored) == self.ex.state_hash(), "the restored state differs"
        assert list(restored.pending_orders) == list(self.engine.pending_orders)

    # -- the run -------------------------------------------------------------------------

    def step(self) -> None:
        action = self.rng.choices(
            [
                self.place,
                self.cancel,
                self.cancel_all,
                self.reduce,
                self.move_funds,
                self.resend,
                self.halt_or_resume,
                self.place_list,
                self.cancel_list,
            ],
            weights=[62, 12, 2, 8, 9, 3, 2, 5, 1],
        )[0]
        before = self.ex.state_hash()
        duplicates = self.seen["duplicate"]
        self.clock.advance(milliseconds=self.rng.randint(0, 50))
        try:
            action()
        except SpotlabError as error:
            self.seen[str(error.code)] += 1
            assert self.ex.state_hash() == before, f"refused with {error.code} but the state changed"
        if self.seen["duplicate"] > duplicates:
            assert self.ex.state_hash() == before, "a repeated client order id changed the state"
        self.seen[action.__name__] += 1
        assert self.last_seq == self.ex.last_sequence, "an event was not published"
        self.check_balances()
        self.check_holds()
        self.check_fills()
        self.ex.check_invariants()

    def run(self, commands: int) -> None:
        for number in range(1, commands + 1):
            try:
                self.step()
            except AssertionError as error:
                raise AssertionError(f"seed {SEED}, command {number}: {error}") from error
            if number % 500 == 0:
                self.check_public_views()
                self.check_snapshot_round_trip()
        self.check_public_views()


@pytest.mark.slow
def test_thousands_of_random_commands_keep_every_balance_conserved_and_every_hold_exact():
    run = RandomRun(SEED)
    try:
        run.run(COMMANDS)
    finally:
        run.ex.close()
    seen = run.seen
    # The mix did what it is for: every kind of refusal and outcome happened, in every market.
    for code in (
        "INSUFFICIENT_FUNDS",
        "POST_ONLY_WOULD_TRADE",
        "DUPLICATE_CLIENT_ORDER_ID",
        "BELOW_MIN_NOTIONAL",
        "BELOW_MIN_WITHDRAWAL",
        "PRICE_NOT_ON_TICK",
        "QUANTITY_NOT_ON_LOT",
        "ORDER_NOT_OPEN",
        "ORDER_NOT_FOUND",
        "INVALID_ARGUMENT",
        "MARKET_HALTED",
    ):
        assert seen[code] > 0, f"no {code} in {COMMANDS} commands: {seen}"
    for outcome in (
        "GTC NEW",
        "GTC PARTIALLY_FILLED",
        "GTC FILLED",
        "IOC FILLED",
        "IOC EXPIRED",
        "FOK FILLED",
        "FOK EXPIRED",
        "limit_maker NEW",
        "market FILLED",
        "market_amount FILLED",
        "market_amount EXPIRED",
        "conditional NEW",
        "triggered",
        "sell oco placed",
        "buy oco placed",
        "buy bracket placed",
        "list duplicate",
    ):
        assert seen[outcome] > 0, f"no {outcome} in {COMMANDS} commands: {seen}"
    assert seen["duplicate"] > 0
    for market in MARKETS:
        assert seen[f"fill {market}"] > 50, seen
    assert run.orders and sum(seen[f"fill {m}"] for m in MARKETS) > 500


# -- found while writing this test -----------------------------------------------------------


@pytest.fixture
def traders(ex):
    for name in ("maker", "taker"):
        ex.create_account(name)
        ex.deposit(name, "BTC", "10")
        ex.deposit(name, "USDT", "1000000")
    return "maker", "taker"


def test_a_closed_order_with_a_client_order_id_can_still_be_looked_up_by_its_id(ex, traders):
    """``Exchange.order``: "open, or closed recently (or ever, if it had a client order id)"."""
    maker, taker = traders
    placed = ex.place_order(maker, "BTC/USDT", "sell", "limit", "30000", "0.01", client_order_id="abc")
    ex.place_order(taker, "BTC/USDT", "buy", "limit", "30000", "0.01")
    assert ex.order_by_client_id(maker, "abc").status == "FILLED"
    assert ex.order(maker, placed.id).status == "FILLED"


def test_cancelling_a_filled_order_with_a_client_order_id_says_it_is_not_open(ex, traders):
    maker, taker = traders
    placed = ex.place_order(maker, "BTC/USDT", "sell", "limit", "30000", "0.01", client_order_id="abc")
    ex.place_order(taker, "BTC/USDT", "buy", "limit", "30000", "0.01")
    with pytest.raises(SpotlabError) as refused:
        ex.cancel_order(maker, placed.id)
    assert refused.value.code == "ORDER_NOT_OPEN"


def test_resending_an_order_after_reducing_it_returns_the_original(ex, traders):
    """A retried placement with the same client order id and the same arguments is the same order."""
    maker, _ = traders
    args = dict(side="sell", type="limit", price="30000", quantity="0.01", client_order_id="abc")
    placed = ex.place_order(maker, "BTC/USDT", **args)
    ex.reduce_order(maker, placed.id, "0.005")
    before = ex.state_hash()
    again = ex.place_order(maker, "BTC/USDT", **args)
    assert again.duplicate and again.id == placed.id
    assert ex.state_hash() == before
