"""The rule language: what parses into what, what is refused (with where and why), and the limits."""

from __future__ import annotations

import pytest

from spotlab.alerts.rules import (
    INDICATORS,
    MAX_DEPTH,
    MAX_PERIOD,
    MAX_RULE_LENGTH,
    Arithmetic,
    Compare,
    Cross,
    Field,
    Indicator,
    Logical,
    Negate,
    Not,
    Number,
    indicators_of,
    parse,
    warmup,
)
from spotlab.errors import ErrorCode, SpotlabError


def refused(text: str) -> SpotlabError:
    with pytest.raises(SpotlabError) as caught:
        parse(text)
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT
    return caught.value


# -- what parses -------------------------------------------------------------------------------------


def test_the_issue_example_parses_into_an_and_of_two_comparisons():
    rule = parse("rsi(14) < 30 and close > ema(200)")
    assert rule.condition == Logical(
        "and",
        (
            Compare("<", Indicator("rsi", (14.0,)), Number(30.0)),
            Compare(">", Field("close"), Indicator("ema", (200.0,))),
        ),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("close crosses_above sma(50)", Cross("above", Field("close"), Indicator("sma", (50.0,)))),
        ("close crosses_below sma(50)", Cross("below", Field("close"), Indicator("sma", (50.0,)))),
        ("macd_hist(12,26,9) > 0", Compare(">", Indicator("macd_hist", (12.0, 26.0, 9.0)), Number(0.0))),
        (
            "volume > 2 * volume_sma(20)",
            Compare(">", Field("volume"), Arithmetic("*", Number(2.0), Indicator("volume_sma", (20.0,)))),
        ),
        ("not close < open", Not(Compare("<", Field("close"), Field("open")))),
        ("high - low >= -1.5e2", Compare(">=", Arithmetic("-", Field("high"), Field("low")), Number(-150.0))),
        ("-close != 0", Compare("!=", Negate(Field("close")), Number(0.0))),
    ],
)
def test_each_construct_parses_into_its_node(text, expected):
    assert parse(text).condition == expected


def test_defaults_fill_missing_arguments_and_names_are_case_insensitive():
    assert parse("RSI < 30").condition == parse("rsi(14) < 30").condition
    assert parse("MACD_HIST() > 0 AND Close > 1").condition == parse("macd_hist(12, 26, 9) > 0 and close > 1").condition
    assert parse("bollinger_upper(20) > 0").condition.left == Indicator("bollinger_upper", (20.0, 2.0))


@pytest.mark.parametrize(
    ("text", "same_as"),
    [
        ("close > 1 or close > 2 and close > 3", "close > 1 or (close > 2 and close > 3)"),  # and binds tighter
        ("not close > 1 and close > 2", "(not close > 1) and close > 2"),  # not binds tighter than and
        ("close > 1 + 2 * 3", "close > 1 + (2 * 3)"),  # * before +
        ("close > 8 - 4 - 2", "close > (8 - 4) - 2"),  # left-associative
        ("close > 8 / 4 / 2", "close > (8 / 4) / 2"),
        ("close + 1 > 2 * open", "(close + 1) > (2 * open)"),  # arithmetic before comparison
        ("close > -2 * open", "close > (-2) * open"),
    ],
)
def test_precedence_and_associativity(text, same_as):
    assert parse(text).condition == parse(same_as).condition


def test_every_indicator_of_the_table_parses_with_its_defaults():
    for name in INDICATORS:
        assert parse(f"{name} > 0").condition.left.name == name


def test_the_rule_text_is_normalised_for_whitespace():
    assert parse("  rsi(14)   <\t30 ").text == "rsi(14) < 30"


def test_warmup_is_the_candles_the_slowest_indicator_needs():
    assert warmup(parse("close > 1")) == 1
    assert warmup(parse("rsi(14) < 30 and close > ema(200)")) == 200
    assert warmup(parse("rsi(14) < 30")) == 15
    assert warmup(parse("macd_hist > 0")) == 34  # slow + signal - 1, as TA-Lib's first value
    assert warmup(parse("adx(14) > 25")) == 28
    assert warmup(parse("stoch_k < 20")) == 9
    assert warmup(parse("close crosses_above sma(50)")) == 51  # a cross also needs the candle before


def test_indicators_of_lists_each_distinct_call_once_in_order():
    rule = parse("ema(20) > ema(50) and close > ema(20) or rsi < 30")
    assert indicators_of(rule) == [Indicator("ema", (20.0,)), Indicator("ema", (50.0,)), Indicator("rsi", (14.0,))]


# -- what is refused, and where -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "column", "says"),
    [
        ("rsi(14) <", 10, "expected a number"),
        ("close > (1", 11, "expected ')'"),
        ("close > 1)", 10, "expected 'and', 'or'"),
        ("clse > 1", 1, "did you mean 'close'"),
        ("close", 1, "must be a condition"),
        ("close < 1 < 2", 11, "do not chain"),
        ("close > 1 and 5", 15, "'and' joins conditions"),
        ("(close > 1) + 2 > 0", 1, "takes numbers"),
        ("close > 1 $ 2", 11, "unexpected character '$'"),
        ("rsi(0) < 3", 5, "from 2 to 1000"),
        ("sma(1.5) > 1", 5, "whole number"),
        ("sma(10, 20) > 1", 9, "at most 1 argument"),
        ("sma(close) > 1", 5, "literal numbers"),
        ("volume_oscillator(10, 5) > 0", 1, "fast < slow"),
        ("bollinger_upper(20, 0) > 0", 21, "above 0"),
        ("", 1, "empty"),
    ],
)
def test_a_bad_rule_says_where_and_what_was_expected(text, column, says):
    error = refused(text)
    assert says in error.message
    assert error.details["position"] == column - 1
    if text:
        assert f"column {column}" in error.message


def test_the_message_shows_the_rule_with_a_caret_under_the_fault():
    message = refused("rsi(14) < 30 an close > 1").message
    lines = message.splitlines()
    assert lines[-2].strip() == "rsi(14) < 30 an close > 1"
    assert lines[-1].index("^") - lines[-2].index("r") == 13  # under "an"


@pytest.mark.parametrize(
    "hostile",
    [
        "__import__('os').system('echo pwned') > 0",
        '__import__("os")',
        "close.__class__ > 0",
        "open('/etc/passwd') > 0",
        "exec > 1",
        "eval(1) > 0",
        "lambda: 1",
        "[x for x in close] > 0",
        "close > 1; import os",
        "close > 0x10",
        "close > 1_000",
        "close ** 2 > 0",
    ],
)
def test_hostile_text_is_refused_as_text_and_runs_nothing(hostile, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(hostile)
    assert list(tmp_path.iterdir()) == []


# -- limits ------------------------------------------------------------------------------------------


def test_limits_on_length_depth_periods_numbers_and_size():
    assert "at most 500 characters" in refused("close > " + "1" * MAX_RULE_LENGTH).message
    deep = "(" * (MAX_DEPTH + 1) + "close > 1" + ")" * (MAX_DEPTH + 1)
    assert "nests deeper" in refused(deep).message
    parse("(" * (MAX_DEPTH - 1) + "close > 1" + ")" * (MAX_DEPTH - 1))  # just inside the limit
    assert "nests deeper" in refused("not " * (MAX_DEPTH + 1) + "close > 1").message
    assert "nests deeper" in refused("close > " + "-" * (MAX_DEPTH + 1) + "1").message
    assert f"from 2 to {MAX_PERIOD}" in refused(f"sma({MAX_PERIOD + 1}) > 0").message
    parse(f"sma({MAX_PERIOD}) > 0")
    assert "smaller than" in refused("close > 1e16").message
    assert "smaller than" in refused("close > 1e999").message
    assert "at most 30 digits" in refused("close > " + "9" * 31).message
    assert "at most 10 indicators" in refused(" and ".join(f"sma({n}) > 0" for n in range(2, 13))).message
    assert "too complex" in refused(" or ".join(["1>1"] * 70)).message


def test_a_rule_that_is_not_text_is_refused():
    with pytest.raises(SpotlabError) as caught:
        parse(b"close > 1")  # type: ignore[arg-type]
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT
