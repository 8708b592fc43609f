"""Typed strategy parameters: declared once as class attributes, checked when a strategy is built.

A strategy declares ``fast = Param(int, 10, "fast EMA period", min=2)``; ``MyStrategy(fast=12)``
sets it, ``MyStrategy(fats=12)`` is refused with "did you mean 'fast'?".

Invariants
- Every value a strategy sees has passed its ``Param``: the declared type (``bool`` is not an
  ``int``), ``min``/``max`` inclusive, ``choices`` if given. A refusal raises
  ``SpotlabError(INVALID_ARGUMENT)`` naming the parameter, what it takes and what it got.
- Money and prices are ``Decimal``: a ``Decimal`` parameter takes a ``Decimal``, an ``int`` or a
  decimal string and refuses a ``float`` (binary floats are not exact). ``float`` parameters are
  for ratios and statistics only; they take ints and floats.
- ``timedelta`` parameters also take interval texts (``"1h"``, ``"1d"``, ``"15m"``).
- Defaults are checked when the class is created, so a bad default fails at import.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from spotlab.errors import ErrorCode, SpotlabError

_TYPES = (int, float, Decimal, str, bool, timedelta)
_INTERVAL = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_EXPECTED = {
    int: "an integer",
    float: "a number",
    Decimal: "a Decimal",
    str: "a string",
    bool: "True or False",
    timedelta: "a timedelta or an interval like '1d'",
}


class Param:
    """One typed parameter with a default, a description and optional bounds or choices."""

    __slots__ = ("type", "default", "description", "min", "max", "choices", "name")

    def __init__(
        self,
        type: type,
        default: Any,
        description: str = "",
        *,
        min: Any = None,
        max: Any = None,
        choices: Iterable[Any] | None = None,
    ) -> None:
        if type not in _TYPES:
            names = ", ".join(t.__name__ for t in _TYPES)
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"a Param's type must be one of {names}, got {type!r}")
        self.type = type
        self.description = description
        self.name = "?"
        self.min = None if min is None else self._convert(min, "min")
        self.max = None if max is None else self._convert(max, "max")
        self.choices = None if choices is None else tuple(self._convert(c, "choice") for c in choices)
        self.default = self.check(default)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.default = self.check(self.default)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return instance._params[self.name]

    def __set__(self, instance: Any, value: Any) -> None:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT, f"parameter {self.name!r} is fixed once the strategy is built; pass it then"
        )

    def check(self, value: Any) -> Any:
        """``value`` as this parameter's type, or ``SpotlabError(INVALID_ARGUMENT)`` saying why not."""
        converted = self._convert(value, "value")
        if self.min is not None and converted < self.min:
            raise self._error(f"must be at least {self.min}, got {value!r}")
        if self.max is not None and converted > self.max:
            raise self._error(f"must be at most {self.max}, got {value!r}")
        if self.choices is not None and converted not in self.choices:
            raise self._error(f"must be one of {', '.join(repr(c) for c in self.choices)}, got {value!r}")
        return converted

    def _convert(self, value: Any, what: str) -> Any:
        kind = self.type
        if kind is bool:
            if isinstance(value, bool):
                return value
        elif kind is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif kind is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        elif kind is Decimal:
            if isinstance(value, float):
                raise self._error(
                    f"takes an exact Decimal (money and prices are never floats), got the float {value!r}; "
                    f'write Decimal("{value}") or the string "{value}"'
                )
            if isinstance(value, Decimal) or (isinstance(value, int) and not isinstance(value, bool)):
                return Decimal(value)
            if isinstance(value, str):
                try:
                    number = Decimal(value)
                except InvalidOperation:
                    raise self._error(f"takes a decimal number, got {value!r}") from None
                if number.is_finite():
                    return number
        elif kind is timedelta:
            if isinstance(value, timedelta):
                return value
            if isinstance(value, str) and (match := _INTERVAL.match(value)):
                return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        elif isinstance(value, str):
            return value
        expected = _EXPECTED[kind]
        raise self._error(f"takes {expected} ({what}), got {type(value).__name__} {value!r}")

    def _error(self, message: str) -> SpotlabError:
        return SpotlabError(ErrorCode.INVALID_ARGUMENT, f"parameter {self.name!r} {message}", parameter=self.name)

    def __repr__(self) -> str:
        return f"Param({self.type.__name__}, {self.default!r}, {self.description!r})"


def declared(cls: type) -> dict[str, Param]:
    """The parameters ``cls`` declares, its bases' included (a subclass may redeclare one)."""
    found: dict[str, Param] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, Param):
                found[name] = value
    return found


def resolve(cls: type, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter of ``cls``: the given values checked, the defaults for the rest."""
    params = declared(cls)
    for name in given:
        if name not in params:
            close = difflib.get_close_matches(name, sorted(params), n=1)
            if close:
                hint = f"; did you mean {close[0]!r}?"
            elif params:
                hint = f"; it takes {', '.join(sorted(params))}"
            else:
                hint = "; it takes no parameters"
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT, f"{cls.__name__} has no parameter {name!r}{hint}", parameter=name
            )
    return {name: param.check(given[name]) if name in given else param.default for name, param in params.items()}
