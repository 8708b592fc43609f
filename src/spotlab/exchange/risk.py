"""The risk facade: per-account risk profiles (SQL), and the risk package's functions over the account's records.

``RiskService(engine, exchange, history)`` keeps profiles in the side database ``risk``
(``spotlab.store.sql.sql_engine(store_url, "risk")``) and reads records from the history
read model: the account's fills (all of them, oldest first), the markets' last trade
prices, and balances from the exchange. Everything it computes comes from the pure
functions of ``spotlab.risk``.

Where the guards run: the fills a guard needs exist only in the history read model, so
the guards are enforced at the API's order placement (``spotlab.api.routes.order_schemas.place``
and ``place_list``, shared by REST and WebSocket), not inside ``Exchange.place_order``: a Python
caller of the exchange itself is not guarded. A bracket's entry is checked as a buy of
``entry_price x quantity`` of type ``"bracket"``; an OCO (a spot OCO sells) is never refused.
``RiskService.of(exchange)`` finds the service an API app registered for an exchange.

Invariants
- Isolation: every read and write is keyed by the account passed in (the caller's own).
- Profiles are cached in memory (loaded at open, updated on write): deciding whether an
  account has any guard on costs a dict lookup, so unguarded accounts pay nothing.
- A profile write is one transaction; a refused profile changes nothing.
- Reads wait for the history to apply every event the exchange has answered for, so a
  guard sees the fills of every order placed before it (read-your-writes).
"""

from __future__ import annotations

import asyncio
import json
import weakref
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.risk.day_trades import DayTradeReport, day_trades
from spotlab.risk.guards import ClosedTrade, Refusal, check_entry
from spotlab.risk.portfolio import Portfolio, conversion_path, convert, positions, value_portfolio
from spotlab.risk.profile import RiskProfile
from spotlab.risk.records import FillRecord
from spotlab.risk.sizing import PositionSize, position_size

if TYPE_CHECKING:
    from spotlab.clock import Clock
    from spotlab.exchange.service import Exchange

metadata = sa.MetaData()
risk_profiles = sa.Table(
    "risk_profiles",
    metadata,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("profile_json", sa.Text, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

_SERVICES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PAGE = 1000


class RiskService:
    def __init__(self, engine: sa.Engine, exchange: Exchange, history, clock: Clock) -> None:
        self._engine = engine
        self.now_ns = clock.now_ns
        self._locks: dict[str, asyncio.Lock] = {}
        self._exchange = exchange
        self._history = history
        metadata.create_all(engine)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(risk_profiles.c.account, risk_profiles.c.profile_json)).all()
        self._profiles = {r.account: RiskProfile.from_dict(json.loads(r.profile_json)) for r in rows}

    # -- registration (the API's order placement finds the service of its exchange) --------

    def register(self) -> None:
        _SERVICES[self._exchange] = self

    def unregister(self) -> None:
        if _SERVICES.get(self._exchange) is self:
            del _SERVICES[self._exchange]

    @staticmethod
    def of(exchange: Exchange) -> RiskService | None:
        return _SERVICES.get(exchange)

    def lock(self, account: str) -> asyncio.Lock:
        """Serialises one account's guarded orders (check, then place) on the event loop."""
        return self._locks.setdefault(account, asyncio.Lock())

    async def caught_up(self) -> None:
        if not await self._history.wait_async(self._exchange.last_sequence):
            raise SpotlabError(ErrorCode.STORE_UNAVAILABLE, "order history is behind the exchange; retry shortly")

    # -- profiles ------------------------------------------------------------------------------

    def profile(self, account: str) -> RiskProfile:
        """The account's profile (the defaults if it never set one)."""
        return self._profiles.get(account, RiskProfile())

    def guarded(self, account: str) -> bool:
        profile = self._profiles.get(account)
        return profile is not None and profile.active()

    def set_profile(self, account: str, profile: RiskProfile, now_ns: int) -> RiskProfile:
        self._exchange.asset_spec(profile.currency)  # UNKNOWN_ASSET if not listed
        row = {"account": account, "profile_json": json.dumps(profile.to_dict()), "updated_at": now_ns}
        with self._engine.begin() as conn:
            updated = conn.execute(
                risk_profiles.update().where(risk_profiles.c.account == account).values(**row)
            ).rowcount
            if not updated:
                conn.execute(risk_profiles.insert().values(**row))
        self._profiles[account] = profile
        return profile

    # -- records -------------------------------------------------------------------------------

    def fills(self, account: str) -> list[FillRecord]:
        """Every fill of ``account``, oldest first."""
        found, before = [], None
        while True:
            page = self._history.fills(account, limit=_PAGE, before=before)
            found.extend(page.items)
            if page.next_before is None:
                break
            before = page.next_before
        return [
            FillRecord(f.order_id, f.market, f.side, f.price, f.quantity, f.fee, _ns(f.time)) for f in reversed(found)
        ]

    def last_prices(self) -> dict[str, Decimal]:
        prices = {}
        for market in self._exchange.markets():
            trades = self._history.trades(market.symbol, limit=1).items
            if trades:
                prices[market.symbol] = trades[0].price
        return prices

    def _specs(self):
        return {m.symbol: self._exchange.market_spec(m.symbol) for m in self._exchange.markets()}

    # -- the facade ----------------------------------------------------------------------------

    def portfolio(self, account: str, currency: str = "USDT") -> Portfolio:
        asset = self._exchange.asset_spec(currency)
        balances = {code: b.available + b.locked for code, b in self._exchange.balances(account).items()}
        return value_portfolio(asset, balances, self.fills(account), self.last_prices(), self._specs())

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

    def day_trades(self, account: str, now_ns: int) -> DayTradeReport:
        try:
            equity_usd = self.portfolio(account, "USD").equity
        except SpotlabError:
            equity_usd = None
        return day_trades(self.fills(account), self._specs(), now_ns, equity_usd)

    def refusals(
        self,
        account: str,
        market: str,
        side: str,
        price: Decimal | None,
        quantity: Decimal | None,
        quote_quantity: Decimal | None,
        now_ns: int,
        order_type: str = "limit",
    ) -> list[Refusal]:
        """What the account's profile refuses about this order (empty: go ahead); ``order_type`` is the
        order's type, or ``"bracket"`` for a bracket's entry."""
        profile = self.profile(account)
        if side != "buy" or not profile.active():
            return []
        spec = self._exchange.market_spec(market)
        specs, prices, fills = self._specs(), self.last_prices(), self.fills(account)
        currency = self._exchange.asset_spec(profile.currency)
        balances = {code: b.available + b.locked for code, b in self._exchange.balances(account).items()}
        valued = value_portfolio(currency, balances, fills, prices, specs)

        def in_currency(amount: Decimal, asset: str) -> Decimal | None:
            path = conversion_path(asset, currency.code, prices, specs)
            return None if path is None else convert(amount, asset, path, prices, specs)

        closed = [
            ClosedTrade(order_id, p.market, time_ns, in_currency(specs[p.market].quote.to_decimal(pnl),
                                                                 specs[p.market].quote.code))
            for p in positions(fills, specs).values()
            for order_id, time_ns, pnl in p.closed_trades
        ]  # fmt: skip
        if quote_quantity is not None:
            order_quote = quote_quantity
        else:
            unit_price = price if price is not None else prices.get(spec.symbol)
            order_quote = None if unit_price is None or quantity is None else unit_price * quantity
        order_value = None if order_quote is None else in_currency(order_quote, spec.quote.code)
        asset_value = next((a.value for a in valued.assets if a.asset == spec.base.code), Decimal(0))
        return check_entry(
            profile, side=side, asset=spec.base.code, now_ns=now_ns, fills=fills, closed=closed,
            equity=valued.equity, asset_value=asset_value, order_value=order_value, order_type=order_type,
        )  # fmt: skip


def _ns(time) -> int:
    seconds = int(time.timestamp())
    return seconds * 1_000_000_000 + time.microsecond * 1000
