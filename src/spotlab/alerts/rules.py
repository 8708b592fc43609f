"""The alert rule language: text -> a typed tree of frozen dataclasses, parsed without ``eval``.

A rule is a condition over the candles of one market and interval, evaluated at the last closed candle::

    rsi(14) < 30 and close > ema(200)
    close crosses_above sma(50)
    macd_hist(12, 26, 9) > 0 or not (volume <= 2 * volume_sma(20))

Grammar (keywords and names are case-insensitive; ``#`` is not a comment, whitespace separates)::

    rule       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := sum [("<" | "<=" | ">" | ">=" | "==" | "!=" | "crosses_above" | "crosses_below") sum]
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := "-" unary | primary
    primary    := NUMBER | FIELD | INDICATOR ["(" [arg ("," arg)*] ")"] | "(" rule ")"
    arg        := ["-"] NUMBER

``FIELD`` is one of open, high, low, close, volume (the candle's own values); ``INDICATOR`` is a name of
``INDICATORS`` below, its arguments literal numbers (periods are integers). Precedence, loosest first:
or, and, not, comparison, + -, * /, unary minus. A comparison does not chain (``a < b < c`` is refused).
``a crosses_above b`` holds when ``a > b`` at the last candle and ``a <= b`` at the one before.

Invariants
- The text is only tokenised and parsed (recursive descent); nothing in it is ever executed or looked up
  outside the fixed tables here, so ``__import__('os')`` is just an unknown name.
- Types are checked while parsing: the rule is a condition; and/or/not take conditions; comparisons and
  arithmetic take numbers. A refusal is ``SpotlabError(INVALID_ARGUMENT)`` whose message says where
  (1-based column, and a caret line) and what was expected; ``details`` holds ``position`` (0-based).
- Limits keep a rule cheap: at most ``MAX_RULE_LENGTH`` characters, ``MAX_DEPTH`` nesting, ``MAX_NODES``
  nodes, ``MAX_INDICATORS`` indicator calls, periods within ``1..MAX_PERIOD``, number literals of at most
  ``MAX_NUMBER_DIGITS`` digits and magnitude below ``MAX_NUMBER``.
- ``warmup(rule)`` is the number of candles the rule needs before it has a value at the last one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

from spotlab.errors import ErrorCode, SpotlabError

__all__ = [
    "FIELDS",
    "INDICATORS",
    "MAX_DEPTH",
    "MAX_PERIOD",
    "MAX_RULE_LENGTH",
    "Arithmetic",
    "Compare",
    "Cross",
    "Field",
    "Indicator",
    "IndicatorSpec",
    "Logical",
    "Negate",
    "Not",
    "Number",
    "Rule",
    "indicators_of",
    "parse",
    "warmup",
]

MAX_RULE_LENGTH = 500
MAX_DEPTH = 20
MAX_NODES = 200
MAX_INDICATORS = 10
MAX_PERIOD = 1000
MAX_NUMBER = 1e15
MAX_NUMBER_DIGITS = 30

FIELDS = ("open", "high", "low", "close", "volume")
COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
CROSSES = ("crosses_above", "crosses_below")
KEYWORDS = ("and", "or", "not", *CROSSES)


# -- the tree ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Number:
    value: float


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # one of FIELDS


@dataclass(frozen=True, slots=True)
class Indicator:
    name: str  # a key of INDICATORS
    args: tuple[float, ...]  # every parameter, defaults filled in (periods as integral floats)

    def __str__(self) -> str:
        shown = ", ".join(str(int(a)) if float(a).is_integer() else repr(a) for a in self.args)
        return f"{self.name}({shown})"


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Expression


@dataclass(frozen=True, slots=True)
class Arithmetic:
    op: str  # + - * /
    left: Expression
    right: Expression


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # one of COMPARISONS
    left: Expression
    right: Expression


@dataclass(frozen=True, slots=True)
class Cross:
    direction: str  # "above" or "below"
    left: Expression
    right: Expression


@dataclass(frozen=True, slots=True)
class Not:
    operand: Condition


@dataclass(frozen=True, slots=True)
class Logical:
    op: str  # "and" or "or"
    operands: tuple[Condition, ...]


Expression = Union[Number, Field, Indicator, Negate, Arithmetic]  # noqa: UP007 (a forward-referencing alias)
Condition = Union[Compare, Cross, Not, Logical]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class Rule:
    """A parsed rule: its normalised ``text`` and its ``condition`` tree."""

    text: str
    condition: Condition


# -- the indicator table ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    default: float
    integer: bool = True  # a period (1..MAX_PERIOD) unless False (a finite multiplier, 0 < x <= 100)
    minimum: int = 2


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """One callable name of the language: its parameters and the candles it needs for its first value."""

    name: str
    params: tuple[Param, ...]
    warmup: Callable[..., int]  # (*args) -> candles needed
    summary: str


def _p(name: str, default: float, minimum: int = 2) -> Param:
    return Param(name, default, True, minimum)


def _period(n: float) -> int:
    return int(n)


def _macd_warmup(fast: float, slow: float, signal: float) -> int:
    return int(max(fast, slow) + signal - 1)


_SPECS = [
    IndicatorSpec("sma", (_p("period", 20),), _period, "simple moving average of close"),
    IndicatorSpec("ema", (_p("period", 20),), _period, "exponential moving average of close"),
    IndicatorSpec("wma", (_p("period", 20),), _period, "weighted moving average of close"),
    IndicatorSpec("rsi", (_p("period", 14),), lambda p: int(p) + 1, "relative strength index of close (0..100)"),
    *(
        IndicatorSpec(name, (_p("fast", 12), _p("slow", 26), _p("signal", 9, 1)), _macd_warmup, summary)
        for name, summary in (
            ("macd", "MACD line"),
            ("macd_signal", "MACD signal line"),
            ("macd_hist", "MACD histogram (line - signal)"),
        )
    ),
    *(
        IndicatorSpec(
            f"bollinger_{band}", (_p("period", 20), Param("stddev", 2.0, integer=False)), lambda p, _k: int(p), summary
        )
        for band, summary in (
            ("upper", "upper Bollinger band"),
            ("middle", "middle Bollinger band (SMA)"),
            ("lower", "lower Bollinger band"),
        )
    ),
    IndicatorSpec("atr", (_p("period", 14, 1),), lambda p: int(p) + 1, "average true range"),
    IndicatorSpec("adx", (_p("period", 14),), lambda p: 2 * int(p), "average directional index (0..100)"),
    *(
        IndicatorSpec(
            name,
            (_p("k_period", 5, 1), _p("k_smooth", 3, 1), _p("d_period", 3, 1)),
            lambda k, s, d: int(k + s + d) - 2,
            summary,
        )
        for name, summary in (("stoch_k", "slow stochastic %K"), ("stoch_d", "slow stochastic %D"))
    ),
    IndicatorSpec("obv", (), lambda: 1, "on-balance volume"),
    *(
        IndicatorSpec(f"donchian_{band}", (_p("period", 20, 1),), _period, f"{band} Donchian channel")
        for band in ("upper", "middle", "lower")
    ),
    IndicatorSpec("volume_sma", (_p("period", 20),), _period, "simple moving average of volume"),
    IndicatorSpec("volume_ema", (_p("period", 20),), _period, "exponential moving average of volume"),
    IndicatorSpec("volume_oscillator", (_p("fast", 5), _p("slow", 10)), lambda _f, s: int(s), "volume oscillator (%)"),
]
INDICATORS: dict[str, IndicatorSpec] = {spec.name: spec for spec in _SPECS}


# -- tokens -----------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|==|!=|[<>+\-*/(),]))"
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # number, name, op, end
    text: str
    position: int  # 0-based offset of its first character


def _refuse(text: str, position: int, message: str) -> SpotlabError:
    caret = f"\n  {text}\n  {' ' * position}^" if len(text) <= 120 else ""
    return SpotlabError(
        ErrorCode.INVALID_ARGUMENT, f"rule error at column {position + 1}: {message}{caret}", position=position
    )


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            tokens.append(Token("end", "", position))
            return tokens
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise _refuse(text, position, f"unexpected character {text[position]!r}")
        kind = match.lastgroup or "op"
        start = match.start(kind)
        token_text = match.group(kind)
        if kind == "name":
            token_text = token_text.lower()
        tokens.append(Token(kind, token_text, start))
        position = match.end()


# -- the parser -------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0
        self.nodes = 0
        self.indicator_calls = 0

    # helpers

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at(self, *texts: str) -> bool:
        return self.token.kind in ("op", "name") and self.token.text in texts

    def expect(self, text: str, what: str) -> Token:
        if not self.at(text):
            raise self.error(f"expected {what}")
        return self.advance()

    def error(self, message: str, token: Token | None = None) -> SpotlabError:
        token = token or self.token
        found = "the end of the rule" if token.kind == "end" else repr(token.text)
        return _refuse(self.text, token.position, f"{message}, found {found}")

    def node(self, made):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _refuse(self.text, self.token.position, f"the rule is too complex (more than {MAX_NODES} parts)")
        return made

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _refuse(self.text, self.token.position, f"the rule nests deeper than {MAX_DEPTH} levels")

    def leave(self) -> None:
        self.depth -= 1

    # grammar

    def rule(self) -> Condition:
        start = self.token
        result = self.disjunction()
        if self.token.kind != "end":
            raise self.error("expected 'and', 'or', a comparison or the end of the rule")
        return self.condition(result, start, "the rule must be a condition (e.g. close > sma(20))")

    def disjunction(self):
        return self.logical("or", self.conjunction)

    def conjunction(self):
        return self.logical("and", self.negation)

    def logical(self, keyword: str, operand: Callable):
        start = self.token
        first = operand()
        if not self.at(keyword):
            return first
        parts = [self.condition(first, start, f"'{keyword}' joins conditions")]
        while self.at(keyword):
            self.advance()
            start = self.token
            parts.append(self.condition(operand(), start, f"'{keyword}' joins conditions"))
        return self.node(Logical(keyword, tuple(parts)))

    def negation(self):
        if self.at("not"):
            self.advance()
            self.enter()
            start = self.token
            operand = self.condition(self.negation(), start, "'not' takes a condition")
            self.leave()
            return self.node(Not(operand))
        return self.comparison()

    def comparison(self):
        start = self.token
        left = self.sum()
        if not self.at(*COMPARISONS, *CROSSES):
            return left
        operator = self.advance()
        self.number(left, start, f"'{operator.text}' compares numbers")
        start = self.token
        right = self.number(self.sum(), start, f"'{operator.text}' compares numbers")
        if self.at(*COMPARISONS, *CROSSES):
            raise self.error("comparisons do not chain; join them with 'and'")
        if operator.text in CROSSES:
            return self.node(Cross(operator.text.removeprefix("crosses_"), left, right))
        return self.node(Compare(operator.text, left, right))

    def sum(self):
        return self.arithmetic(("+", "-"), self.product)

    def product(self):
        return self.arithmetic(("*", "/"), self.unary)

    def arithmetic(self, operators: tuple[str, ...], operand: Callable):
        start = self.token
        left = operand()
        while self.at(*operators):
            operator = self.advance()
            self.number(left, start, f"'{operator.text}' takes numbers")
            start = self.token
            right = self.number(operand(), start, f"'{operator.text}' takes numbers")
            left = self.node(Arithmetic(operator.text, left, right))
        return left

    def unary(self):
        if self.at("-"):
            self.advance()
            self.enter()
            start = self.token
            operand = self.number(self.unary(), start, "'-' takes a number")
            self.leave()
            if isinstance(operand, Number):
                return Number(-operand.value)
            return self.node(Negate(operand))
        return self.primary()

    def primary(self):
        token = self.token
        if token.kind == "number":
            self.advance()
            return self.node(Number(self.literal(token)))
        if self.at("("):
            self.advance()
            self.enter()
            inner = self.disjunction()
            self.expect(")", "')' to close the '(' at column " + str(token.position + 1))
            self.leave()
            return inner
        if token.kind == "name" and token.text in FIELDS:
            self.advance()
            return self.node(Field(token.text))
        if token.kind == "name" and token.text in INDICATORS:
            self.advance()
            return self.node(self.indicator(token))
        if token.kind == "name" and token.text not in KEYWORDS:
            raise _refuse(self.text, token.position, f"unknown name {token.text!r}; {_suggest(token.text)}")
        raise self.error("expected a number, a price field (open, high, low, close, volume), an indicator or '('")

    def indicator(self, name: Token) -> Indicator:
        spec = INDICATORS[name.text]
        self.indicator_calls += 1
        if self.indicator_calls > MAX_INDICATORS:
            raise _refuse(self.text, name.position, f"a rule may use at most {MAX_INDICATORS} indicators")
        given: list[tuple[float, Token]] = []
        if self.at("("):
            self.advance()
            while not self.at(")"):
                if given:
                    self.expect(",", "',' or ')'")
                given.append(self.argument())
            self.advance()
        if len(given) > len(spec.params):
            shown = ", ".join(p.name for p in spec.params) or "none"
            raise _refuse(
                self.text,
                given[len(spec.params)][1].position,
                f"{spec.name} takes at most {len(spec.params)} argument(s) ({shown})",
            )
        args = [self.checked(spec, param, value, token) for param, (value, token) in zip(spec.params, given)]
        args += [param.default for param in spec.params[len(given) :]]
        if spec.name == "volume_oscillator" and args[0] >= args[1]:
            raise _refuse(self.text, name.position, "volume_oscillator needs fast < slow")
        return Indicator(spec.name, tuple(float(a) for a in args))

    def argument(self) -> tuple[float, Token]:
        token = self.token
        sign = 1.0
        if self.at("-"):
            self.advance()
            sign = -1.0
        if self.token.kind != "number":
            raise self.error("indicator arguments are literal numbers; expected a number")
        return sign * self.literal(self.advance()), token

    def checked(self, spec: IndicatorSpec, param: Param, value: float, token: Token) -> float:
        if param.integer:
            if not float(value).is_integer() or not param.minimum <= value <= MAX_PERIOD:
                raise _refuse(
                    self.text,
                    token.position,
                    f"{spec.name}'s {param.name} must be a whole number from {param.minimum} to {MAX_PERIOD}, "
                    f"got {_shown(value)}",
                )
        elif not 0 < value <= 100:
            raise _refuse(self.text, token.position, f"{spec.name}'s {param.name} must be above 0 and at most 100")
        return value

    def literal(self, token: Token) -> float:
        digits = sum(ch.isdigit() for ch in token.text)
        if digits > MAX_NUMBER_DIGITS:
            raise _refuse(self.text, token.position, f"a number may have at most {MAX_NUMBER_DIGITS} digits")
        value = float(token.text)
        if not math.isfinite(value) or abs(value) >= MAX_NUMBER:
            raise _refuse(self.text, token.position, f"numbers must be smaller than {MAX_NUMBER:g} in magnitude")
        return value

    # type checks

    def condition(self, node, start: Token, message: str):
        if not isinstance(node, (Compare, Cross, Not, Logical)):
            raise _refuse(self.text, start.position, message)
        return node

    def number(self, node, start: Token, message: str):
        if isinstance(node, (Compare, Cross, Not, Logical)):
            raise _refuse(self.text, start.position, message + ", not conditions")
        return node


def _shown(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


def _suggest(name: str) -> str:
    import difflib

    known = [*FIELDS, *INDICATORS]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return hint + "names are " + ", ".join(known)


def parse(text: str) -> Rule:
    """Parse ``text`` into a ``Rule``; ``SpotlabError(INVALID_ARGUMENT)`` saying where and what was expected."""
    if not isinstance(text, str):
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"a rule is text, got {type(text).__name__}")
    if len(text) > MAX_RULE_LENGTH:
        raise SpotlabError(
            ErrorCode.INVALID_ARGUMENT,
            f"a rule may be at most {MAX_RULE_LENGTH} characters, got {len(text)}",
            position=MAX_RULE_LENGTH,
        )
    if not text.strip():
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "the rule is empty; write e.g. rsi(14) < 30", position=0)
    parser = _Parser(text)
    return Rule(" ".join(text.split()), parser.rule())


# -- questions about a parsed rule ------------------------------------------------------------------------


def _children(node) -> tuple:
    if isinstance(node, (Number, Field, Indicator)):
        return ()
    if isinstance(node, (Negate, Not)):
        return (node.operand,)
    if isinstance(node, Logical):
        return node.operands
    return (node.left, node.right)


def indicators_of(rule: Rule | Condition) -> list[Indicator]:
    """The distinct indicator calls of ``rule``, in order of first appearance."""
    found: dict[Indicator, None] = {}
    stack = [rule.condition if isinstance(rule, Rule) else rule]
    while stack:
        node = stack.pop()
        if isinstance(node, Indicator):
            found[node] = None
        stack.extend(reversed(_children(node)))
    return list(found)


def _warmup(node) -> int:
    if isinstance(node, Indicator):
        return INDICATORS[node.name].warmup(*node.args)
    own = 1 if isinstance(node, Cross) else 0  # a cross also looks at the candle before
    return max((_warmup(child) for child in _children(node)), default=1) + own


def warmup(rule: Rule | Condition) -> int:
    """How many candles ``rule`` needs before it has a value at the last one (at least 1)."""
    return _warmup(rule.condition if isinstance(rule, Rule) else rule)
