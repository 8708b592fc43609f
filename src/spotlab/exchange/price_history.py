"""The exchange's own prices through time: what an asset was worth, in a currency, at any past moment.

``PriceHistory`` is read from the event log (every ``OrderFilled``): per market the trade times
and prices, oldest first. ``value(asset, amount, time_ns, currency)`` values an amount at that
moment, as tax lots and the journal need ("valuation in the reporting currency from the
exchange's own prices at the time of each event, multi-hop where needed").

Rules
- A market's price at ``t`` is its last trade at or before ``t`` (a fill is valued at its own
  trade's price, or a later trade in the same nanosecond). A market that has not traded by
  ``t`` has no price then.
- The conversion walks the markets that have a price at ``t``, fewest hops first, ties broken
  by market symbol (``spotlab.risk.portfolio.conversion_path``): ADA -> BTC -> USD when ADA/USD
  never traded. The value is computed at 50 significant digits and rounded half-even to the
  currency's precision once, at the end.
- No path at ``t`` is a ``SpotlabError`` (``INVALID_ARGUMENT``) naming the asset, the currency
  and the moment, never a guess.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Context, Decimal

from spotlab.clock import ns_to_datetime
from spotlab.core.events import Event, OrderFilled
from spotlab.core.markets import Asset, MarketSpec
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.risk.portfolio import conversion_path, convert

_WIDE = Context(prec=50)


class PriceHistory:
    def __init__(self, specs: Mapping[str, MarketSpec], assets: Mapping[str, Asset]) -> None:
        self._specs = dict(specs)
        self._assets = dict(assets)
        self._times: dict[str, list[int]] = {}
        self._ticks: dict[str, list[int]] = {}

    @classmethod
    def from_events(
        cls, events: Iterable[Event], specs: Mapping[str, MarketSpec], assets: Mapping[str, Asset]
    ) -> PriceHistory:
        history = cls(specs, assets)
        times, ticks = history._times, history._ticks
        for event in events:
            if type(event) is OrderFilled:
                found = times.get(event.market)
                if found is None:
                    found = times[event.market] = []
                    ticks[event.market] = []
                found.append(event.ts)
                ticks[event.market].append(event.price)
        return history

    def prices_at(self, time_ns: int) -> dict[str, Decimal]:
        """Every market's last trade price at or before ``time_ns``."""
        prices = {}
        for market, times in self._times.items():
            index = bisect.bisect_right(times, time_ns)
            if index:
                prices[market] = self._specs[market].price(self._ticks[market][index - 1])
        return prices

    def _price(self, market: str, time_ns: int) -> Decimal | None:
        times = self._times.get(market)
        index = bisect.bisect_right(times, time_ns) if times else 0
        return self._specs[market].price(self._ticks[market][index - 1]) if index else None

    def _direct(self, asset: str, currency: str, amount: Decimal, time_ns: int) -> Decimal | None:
        """One hop, when ``asset/currency`` (or ``currency/asset``) has a price then: the path the search would
        take first anyway (one hop is the fewest), without building every market's price."""
        price = self._price(f"{asset}/{currency}", time_ns) if f"{asset}/{currency}" in self._specs else None
        if price is not None:
            return _WIDE.multiply(amount, price)
        price = self._price(f"{currency}/{asset}", time_ns) if f"{currency}/{asset}" in self._specs else None
        if price is not None:
            return _WIDE.divide(amount, price)
        return None

    def value(self, asset: str, amount: Decimal, time_ns: int, currency: str) -> Decimal:
        """``amount`` of ``asset`` in ``currency`` at ``time_ns`` (see the module docstring)."""
        target = self._assets.get(currency)
        if target is None:
            raise SpotlabError(ErrorCode.UNKNOWN_ASSET, f"unknown currency {currency!r}", asset=currency)
        if asset == currency:
            return amount.quantize(target.unit, rounding=ROUND_HALF_EVEN)
        direct = self._direct(asset, currency, amount, time_ns)
        if direct is not None:
            return direct.quantize(target.unit, rounding=ROUND_HALF_EVEN)
        prices = self.prices_at(time_ns)
        path = conversion_path(asset, currency, prices, self._specs)
        if path is None:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"no market of this exchange had traded by {ns_to_datetime(time_ns).isoformat()} that values "
                f"{asset} in {currency}; choose another currency",
                asset=asset,
                currency=currency,
            )
        return convert(amount, asset, path, prices, self._specs).quantize(target.unit, rounding=ROUND_HALF_EVEN)
