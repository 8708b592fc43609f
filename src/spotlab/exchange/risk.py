"""The exchange's risk service: per-account risk profiles, guards on every entry, sizing, portfolio, day trades.

``exchange.risk`` (``RiskService``) keeps profiles in the side database ``risk``
(``spotlab.store.sql.sql_engine(store_url, "risk")``; memory for an in-memory exchange) and
reads an account's fills from ``spotlab.exchange.account_records`` (the event log, in memory),
its balances and the markets' last trade prices from the engine. Everything it computes comes
from the pure functions of ``spotlab.risk``.

Where the guards run: inside the exchange, for every ``PlaceOrder`` and ``PlaceOrderList``
however it arrives (Python facade, REST, WebSocket, a strategy), after the command is parsed
and before anything is held (DESIGN.md, step 2), under the exchange's lock: the check and the
placement are one atomic step, so two orders sent at once cannot both pass a limit that only
one of them fits. A refusal raises ``RISK_LIMIT`` with the rule and figures and changes
nothing (no event is written). What is checked as an entry:
- a buy order of any type: valued at ``price x quantity``, or its ``quote_quantity``, or (a
  market or stop-loss buy by quantity) ``stop_price`` or the last price ``x quantity``;
- a bracket (its entry buys ``entry_price x quantity``; type ``"bracket"``);
- a buy OCO (``quantity`` x the higher of its two prices; type ``"oco"``).
A repeated ``client_order_id`` is not checked again (the exchange answers it with the original).

Invariants
- Isolation: every read and write is keyed by the account passed in.
- Profiles are cached in memory (loaded at open, updated on write); an account with no active
  guard costs an order one dict lookup. An account with a guard on is tracked by the account
  records from the moment its profile is set or loaded, so its fills are always at hand.
- A profile write is one transaction; a refused profile changes nothing.
- A guarded entry costs the account's activity of the day, not its history: its positions are
  folded once, as its fills arrive (``PositionBook``), and the guards read only today's fills and
  closed trades and each market's last N closed trades (N: the cooldown's), among which are all
  the cooldown reads (``bench/guards.py``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa

from spotlab.core.commands import PlaceOrder, PlaceOrderList
from spotlab.core.orders import Order, OrderType
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.risk.day_trades import DayTradeReport, day_trades
from spotlab.risk.guards import ClosedTrade, Refusal, check_entry
from spotlab.risk.portfolio import Portfolio, PositionBook, conversion_path, convert, value_portfolio
from spotlab.risk.profile import RiskProfile
from spotlab.risk.records import FillRecord, utc_day
from spotlab.risk.sizing import PositionSize, position_size

if TYPE_CHECKING:
    from spotlab.core.engine import Engine
    from spotlab.core.markets import MarketSpec
    from spotlab.exchange.service import Exchange

metadata = sa.MetaData()
risk_profiles = sa.Table(
    "risk_profiles",
    metadata,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("profile_json", sa.Text, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)


@dataclass(frozen=True, slots=True)
class RiskInputs:
    """What the risk functions read about one account at one moment (taken under the exchange's lock)."""

    balances: dict[str, Decimal]  # asset -> available + locked
    fills: list[FillRecord]  # oldest first
    last_prices: dict[str, Decimal]  # market -> last trade price (markets that traded)
    specs: dict[str, MarketSpec]
    waiting_buys: tuple[WaitingBuy, ...] = ()  # the account's buys resting in a book or waiting for a trigger


@dataclass(frozen=True, slots=True)
class WaitingBuy:
    """A buy of the account already waiting: its market, its order list (0: none) and its value in the quote."""

    market: str
    list_id: int
    value: Decimal | None  # None: it cannot be valued (no price to go by)


class RiskService:
    def __init__(self, exchange: Exchange, engine: sa.Engine) -> None:
        self._exchange = exchange
        self._engine = engine
        self._write_lock = threading.Lock()
        metadata.create_all(engine)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(risk_profiles.c.account, risk_profiles.c.profile_json)).all()
        self._profiles = {r.account: RiskProfile.from_dict(json.loads(r.profile_json)) for r in rows}
        self._books: dict[str, PositionBook] = {}  # account -> its positions, folded as its fills come (the lock's)
        for account, profile in self._profiles.items():
            if profile.active():
                exchange._track(account)

    def close(self) -> None:
        self._engine.dispose()

    # -- profiles ------------------------------------------------------------------------------

    def profile(self, account: str) -> RiskProfile:
        """The account's profile (the defaults if it never set one)."""
        return self._profiles.get(account, RiskProfile())

    def guarded(self, account: str) -> bool:
        profile = self._profiles.get(account)
        return profile is not None and profile.active()

    def set_profile(self, account: str, profile: RiskProfile) -> RiskProfile:
        """Replace the account's profile (durable before it returns)."""
        self._exchange.asset_spec(profile.currency)  # UNKNOWN_ASSET if not listed
        self._exchange.balances(account)  # UNKNOWN_ACCOUNT if there is no such account
        if profile.active():
            self._exchange._track(account)  # its fills are at hand before its first guarded order
        row = {"account": account, "profile_json": json.dumps(profile.to_dict()), "updated_at": self._exchange.now_ns()}
        with self._write_lock, self._engine.begin() as conn:
            updated = conn.execute(
                risk_profiles.update().where(risk_profiles.c.account == account).values(**row)
            ).rowcount
            if not updated:
                conn.execute(risk_profiles.insert().values(**row))
            self._profiles[account] = profile
        return profile

    # -- the facade ----------------------------------------------------------------------------

    def fills(self, account: str) -> list[FillRecord]:
        """Every fill of ``account``'s own orders, oldest first."""
        return self._exchange._risk_inputs(account).fills

    def portfolio(self, account: str, currency: str = "USDT") -> Portfolio:
        asset = self._exchange.asset_spec(currency)
        s = self._exchange._risk_inputs(account)
        return value_portfolio(asset, s.balances, s.fills, s.last_prices, s.specs)

    def position_size(
        self, account: str, market: str, entry: Decimal, stop: Decimal, risk_percent: Decimal | None = None
    ) -> tuple[PositionSize, Decimal, Decimal]:
        """``(size, equity, risk_percent)``: equity is valued in the market's quote asset."""
        spec = self._exchange.market_spec(market)
        percent = self.profile(account).risk_per_trade_percent if risk_percent is None else risk_percent
        equity = self.portfolio(account, spec.quote.code).equity
        if equity <= 0:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"the account's equity in {spec.quote.code} is {equity}: deposit first, or price its assets",
                equity=str(equity),
            )
        return position_size(spec, equity, entry, stop, percent), equity, percent

    def day_trades(self, account: str, now_ns: int | None = None) -> DayTradeReport:
        s = self._exchange._risk_inputs(account)
        try:
            usd = self._exchange.asset_spec("USD")
            equity_usd = value_portfolio(usd, s.balances, s.fills, s.last_prices, s.specs).equity
        except SpotlabError:
            equity_usd = None
        now = self._exchange.now_ns() if now_ns is None else now_ns
        return day_trades(s.fills, s.specs, now, equity_usd)

    # -- the guard (called by the exchange under its lock) ---------------------------------------

    def check_locked(self, command: PlaceOrder | PlaceOrderList, state: RiskInputs, now_ns: int) -> None:
        """Raise ``RISK_LIMIT`` if the account's profile refuses ``command``; the caller holds the lock."""
        refusals = self.refusals(command, state, now_ns)
        if refusals:
            raise refusals[0].error()

    def refusals(self, command: PlaceOrder | PlaceOrderList, state: RiskInputs, now_ns: int) -> list[Refusal]:
        profile = self.profile(command.account)
        if command.side != "buy" or not profile.active():
            return []
        spec = state.specs[command.market]
        order_type, order_quote = _entry(command, spec, state.last_prices.get(spec.symbol))
        specs, prices = state.specs, state.last_prices
        currency = self._exchange.asset_spec(profile.currency)
        held = self._books.setdefault(command.account, PositionBook()).update(state.fills, specs)
        valued = value_portfolio(currency, state.balances, state.fills, prices, specs, held)

        def in_currency(amount: Decimal, asset: str) -> Decimal | None:
            path = conversion_path(asset, currency.code, prices, specs)
            return None if path is None else convert(amount, asset, path, prices, specs)

        closed = [
            ClosedTrade(order_id, p.market, time_ns, in_currency(specs[p.market].quote.to_decimal(pnl),
                                                                 specs[p.market].quote.code))
            for p in held.values()
            for order_id, time_ns, pnl in _recent(p.closed_trades, now_ns, profile.cooldown_after_losses or 0)
        ]  # fmt: skip
        order_value = None if order_quote is None else in_currency(order_quote, spec.quote.code)
        asset_value = next((a.value for a in valued.assets if a.asset == spec.base.code), Decimal(0))
        waiting_value = _waiting_value(state.waiting_buys, spec.base.code, specs, in_currency)
        if waiting_value is None:
            order_value = None  # a waiting buy of this asset cannot be valued: neither can the exposure
        else:  # rounded as the portfolio rounds each asset's value
            waiting_value = waiting_value.quantize(currency.unit, rounding=ROUND_HALF_EVEN)
        return check_entry(
            profile, side="buy", asset=spec.base.code, now_ns=now_ns, fills=state.fills, closed=closed,
            equity=valued.equity, asset_value=asset_value, order_value=order_value, order_type=order_type,
            waiting_value=waiting_value or Decimal(0),
        )  # fmt: skip


def _waiting_value(
    buys: Iterable[WaitingBuy],
    asset: str,
    specs: Mapping[str, MarketSpec],
    in_currency: Callable[[Decimal, str], Decimal | None],
) -> Decimal | None:
    """The account's waiting buys of ``asset`` in the profile's currency, an order list counted once at its dearest
    buy; None if one cannot be valued."""
    singles, lists = Decimal(0), {}
    for buy in buys:
        spec = specs[buy.market]
        if spec.base.code != asset:
            continue
        value = None if buy.value is None else in_currency(buy.value, spec.quote.code)
        if value is None:
            return None
        if buy.list_id:
            lists[buy.list_id] = max(lists.get(buy.list_id, value), value)
        else:
            singles += value
    return singles + sum(lists.values(), Decimal(0))


def _recent(closed: list[tuple[int, int, int]], now_ns: int, last: int) -> list[tuple[int, int, int]]:
    """The closed trades the guards read, oldest first: those of the UTC day of ``now_ns`` and the ``last`` ones
    (the daily loss reads the day's, the cooldown the last N of all markets, which are among each market's last N)."""
    today = utc_day(now_ns)
    start = max(len(closed) - last, 0)
    while start > 0 and utc_day(closed[start - 1][1]) >= today:
        start -= 1
    return closed[start:]


def _entry(command: PlaceOrder | PlaceOrderList, spec: MarketSpec, last: Decimal | None) -> tuple[str, Decimal | None]:
    """``(order type for the guards, quote value of the entry or None)`` of a buy command."""
    quantity = spec.quantity(command.quantity) if command.quantity else None
    if isinstance(command, PlaceOrderList):
        if command.list_type == "bracket":
            return "bracket", spec.price(command.entry_price) * quantity
        top = max(command.price, command.stop_limit_price or command.stop_price)
        return command.list_type, spec.price(top) * quantity
    if command.quote_quantity:
        return str(command.type), spec.quote.to_decimal(command.quote_quantity)
    if command.price:
        unit = spec.price(command.price)
    elif command.stop_price and command.type != OrderType.TRAILING_STOP:
        unit = spec.price(command.stop_price)
    else:
        unit = last
    return str(command.type), None if unit is None or quantity is None else unit * quantity


def risk_inputs(engine: Engine, account: str, fills: list[FillRecord]) -> RiskInputs:
    """The account's balances and the markets' last prices from ``engine`` (the caller holds the exchange's lock)."""
    rows = engine.ledger.rows.get(account, {})
    assets = engine.assets
    balances = {asset: assets[asset].to_decimal(row[0] + row[1]) for asset, row in rows.items()}
    specs, prices = {}, {}
    for symbol, market in engine.markets.items():
        specs[symbol] = market.spec
        if market.trades:
            prices[symbol] = market.spec.price(market.trades[-1][2])
    state = engine.accounts.get(account)
    waiting = () if state is None else tuple(
        WaitingBuy(order.market, order.list_id, _buy_value(order, specs[order.market]))
        for order in (*state.open_orders.values(), *state.pending.values())
        if order.side == "buy"
    )  # fmt: skip
    return RiskInputs(balances, fills, prices, specs, waiting)


def _buy_value(order: Order, spec: MarketSpec) -> Decimal | None:
    """What a waiting buy would spend, in its quote: its quote amount, else what is left at its limit price, else
    at its stop price (a conditional market buy by quantity)."""
    if order.quote_quantity:
        return spec.quote.to_decimal(order.quote_quantity)
    price = order.price or order.stop_price
    return None if not price else spec.price(price) * spec.quantity(order.remaining)
