"""Assets and markets as data, validated once at load.

Invariants
- An asset has a fixed precision: its balances are whole numbers of minor units
  (``10 ** -precision``).
- A market trades ``base`` against ``quote``. Its price is a whole number of ticks
  and its quantity a whole number of lots. ``tick_size * lot_size`` must be a whole
  number of the quote asset's minor units, and ``lot_size`` a whole number of the
  base asset's minor units, so every notional and every settlement is exact in
  integers. A spec that breaks this is refused at load with ``INVALID_MARKET_SPEC``.
- Fee rates are fractions ``0 <= rate < 1`` with at most 8 decimal places; inside
  they are integers over ``FEE_SCALE``.
- Specs are immutable. A market's trading status lives in the engine's state, the
  spec only gives the status it is listed with.

Catalogue data comes as a mapping (the parsed TOML file): numbers must be strings
or integers, never TOML floats, and unknown keys are refused with a suggestion.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from spotlab.core.units import exact_product, from_units, ratio_units
from spotlab.errors import ErrorCode, SpotlabError

#: Fee rates are integers over this scale (1e-8 resolution).
FEE_SCALE = 100_000_000

_ASSET_CODE = re.compile(r"^[A-Z0-9]{1,12}$")


class MarketStatus(StrEnum):
    TRADING = "trading"
    HALTED = "halted"


@dataclass(frozen=True, slots=True)
class Asset:
    """A currency or token with a fixed number of decimals."""

    code: str
    precision: int
    withdrawal_fee: Decimal = Decimal(0)
    min_withdrawal: Decimal = Decimal(0)
    unit: Decimal = field(init=False)
    withdrawal_fee_units: int = field(init=False)
    min_withdrawal_units: int = field(init=False)

    def __post_init__(self) -> None:
        if not _ASSET_CODE.match(self.code):
            raise _spec_error(f"asset code {self.code!r} must be 1-12 upper-case letters or digits")
        if not isinstance(self.precision, int) or isinstance(self.precision, bool) or not 0 <= self.precision <= 18:
            raise _spec_error(f"asset {self.code}: precision must be an integer from 0 to 18, got {self.precision!r}")
        unit = Decimal(1).scaleb(-self.precision)
        object.__setattr__(self, "unit", unit)
        for name in ("withdrawal_fee", "min_withdrawal"):
            value = getattr(self, name)
            if value < 0:
                raise _spec_error(f"asset {self.code}: {name} must not be negative, got {value}")
            units = ratio_units(value, unit, f"asset {self.code}: {name} in minor units of {unit}")
            object.__setattr__(self, f"{name}_units", units)

    def to_decimal(self, units: int) -> Decimal:
        return from_units(units, self.unit)


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """A spot market's rules. Derived integer fields are what the engine uses."""

    symbol: str
    base: Asset
    quote: Asset
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: Decimal
    min_notional: Decimal
    maker_fee: Decimal
    taker_fee: Decimal
    status: MarketStatus = MarketStatus.TRADING
    # Derived, exact integers:
    notional_unit: int = field(init=False)  # quote minor units per (1 tick x 1 lot)
    lot_units: int = field(init=False)  # base minor units per lot
    min_lots: int = field(init=False)
    min_notional_units: int = field(init=False)  # quote minor units
    maker_rate: int = field(init=False)  # over FEE_SCALE
    taker_rate: int = field(init=False)
    max_rate: int = field(init=False)

    def __post_init__(self) -> None:
        where = f"market {self.symbol}"
        if self.symbol != f"{self.base.code}/{self.quote.code}":
            raise _spec_error(f"{where}: symbol must be BASE/QUOTE, i.e. {self.base.code}/{self.quote.code}")
        if self.base.code == self.quote.code:
            raise _spec_error(f"{where}: base and quote must differ")
        for name in ("tick_size", "lot_size"):
            if getattr(self, name) <= 0:
                raise _spec_error(f"{where}: {name} must be positive, got {getattr(self, name)}")
        notional_unit = ratio_units(
            exact_product(self.tick_size, self.lot_size),
            self.quote.unit,
            f"{where}: tick_size x lot_size ({self.tick_size} x {self.lot_size}) "
            f"in minor units of {self.quote.code} ({self.quote.unit})",
        )
        lot_units = ratio_units(
            self.lot_size, self.base.unit, f"{where}: lot_size in minor units of {self.base.code} ({self.base.unit})"
        )
        min_lots = ratio_units(self.min_quantity, self.lot_size, f"{where}: min_quantity in lots of {self.lot_size}")
        if min_lots < 1:
            raise _spec_error(f"{where}: min_quantity must be at least one lot ({self.lot_size})")
        if self.min_notional < 0:
            raise _spec_error(f"{where}: min_notional must not be negative")
        min_notional_units = ratio_units(
            self.min_notional, self.quote.unit, f"{where}: min_notional in minor units of {self.quote.code}"
        )
        rates = {}
        for name in ("maker_fee", "taker_fee"):
            rate = getattr(self, name)
            if not Decimal(0) <= rate < Decimal(1):
                raise _spec_error(f"{where}: {name} must be a fraction from 0 (inclusive) to 1, got {rate}")
            rates[name] = ratio_units(rate, Decimal(1) / FEE_SCALE, f"{where}: {name} with at most 8 decimals")
        set_ = object.__setattr__
        set_(self, "status", MarketStatus(self.status))
        set_(self, "notional_unit", notional_unit)
        set_(self, "lot_units", lot_units)
        set_(self, "min_lots", min_lots)
        set_(self, "min_notional_units", min_notional_units)
        set_(self, "maker_rate", rates["maker_fee"])
        set_(self, "taker_rate", rates["taker_fee"])
        set_(self, "max_rate", max(rates.values()))

    def price(self, ticks: int) -> Decimal:
        return from_units(ticks, self.tick_size)

    def quantity(self, lots: int) -> Decimal:
        return from_units(lots, self.lot_size)

    def describe(self) -> dict[str, str]:
        """The spec as strings, the shape of the catalogue file (and of ``MarketListed``)."""
        return {
            "symbol": self.symbol,
            "base": self.base.code,
            "quote": self.quote.code,
            "tick_size": str(self.tick_size),
            "lot_size": str(self.lot_size),
            "min_quantity": str(self.min_quantity),
            "min_notional": str(self.min_notional),
            "maker_fee": str(self.maker_fee),
            "taker_fee": str(self.taker_fee),
            "status": str(self.status),
        }


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The assets and markets an exchange lists."""

    assets: Mapping[str, Asset]
    markets: Mapping[str, MarketSpec]

    def merged(self, other: Catalogue) -> Catalogue:
        """This catalogue with ``other``'s assets and markets added (``other`` wins on a clash)."""
        return Catalogue({**self.assets, **other.assets}, {**self.markets, **other.markets})


_ASSET_KEYS = {"precision", "withdrawal_fee", "min_withdrawal"}
_MARKET_KEYS = {"tick_size", "lot_size", "min_quantity", "min_notional", "maker_fee", "taker_fee", "status"}
_MARKET_REQUIRED = _MARKET_KEYS - {"status"}


def parse_catalogue(data: Mapping[str, Any], known_assets: Mapping[str, Asset] | None = None) -> Catalogue:
    """Build a validated catalogue from parsed catalogue data (``[assets.X]`` and ``[markets."B/Q"]`` tables).

    ``known_assets`` lets an extra file list markets on assets defined elsewhere (the default catalogue).
    """
    _refuse_unknown(data.keys(), {"assets", "markets"}, "catalogue")
    assets: dict[str, Asset] = dict(known_assets or {})
    for code, table in _table(data, "assets").items():
        where = f"assets.{code}"
        _refuse_unknown(table.keys(), _ASSET_KEYS, where)
        if "precision" not in table:
            raise _spec_error(f"{where}: precision is required")
        assets[code] = Asset(
            code=code,
            precision=table["precision"],
            withdrawal_fee=_number(table.get("withdrawal_fee", "0"), f"{where}.withdrawal_fee"),
            min_withdrawal=_number(table.get("min_withdrawal", "0"), f"{where}.min_withdrawal"),
        )
    markets: dict[str, MarketSpec] = {}
    for symbol, table in _table(data, "markets").items():
        where = f'markets."{symbol}"'
        _refuse_unknown(table.keys(), _MARKET_KEYS, where)
        missing = sorted(_MARKET_REQUIRED - table.keys())
        if missing:
            raise _spec_error(f"{where}: missing {', '.join(missing)}")
        base_code, _, quote_code = symbol.partition("/")
        for code in (base_code, quote_code):
            if code not in assets:
                raise _spec_error(f"{where}: unknown asset {code!r}; define it under [assets.{code}]")
        status = table.get("status", "trading")
        if status not in {s.value for s in MarketStatus}:
            raise _spec_error(f"{where}.status must be 'trading' or 'halted', got {status!r}")
        markets[symbol] = MarketSpec(
            symbol=symbol,
            base=assets[base_code],
            quote=assets[quote_code],
            status=MarketStatus(status),
            **{key: _number(table[key], f"{where}.{key}") for key in _MARKET_REQUIRED},
        )
    return Catalogue(assets, markets)


def _table(data: Mapping[str, Any], name: str) -> Mapping[str, Mapping[str, Any]]:
    table = data.get(name, {})
    if not isinstance(table, Mapping) or not all(isinstance(v, Mapping) for v in table.values()):
        raise _spec_error(f"[{name}] must be a table of tables")
    return table


def _number(value: Any, where: str) -> Decimal:
    if isinstance(value, float):
        raise _spec_error(f'{where} = {value!r} is a float; write it as a string, e.g. "{value}", so it stays exact')
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _spec_error(f"{where} must be a decimal string or an integer, got {value!r}")
    try:
        number = Decimal(value)
    except Exception:
        raise _spec_error(f"{where} is not a decimal number: {value!r}") from None
    if not number.is_finite():
        raise _spec_error(f"{where} must be finite, got {value!r}")
    return number


def _refuse_unknown(keys: Any, allowed: set[str], where: str) -> None:
    for key in keys:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(sorted(allowed))}"
            raise _spec_error(f"{where}: unknown key {key!r}{hint}")


def _spec_error(message: str) -> SpotlabError:
    return SpotlabError(ErrorCode.INVALID_MARKET_SPEC, message)
