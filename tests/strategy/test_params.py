"""Strategy parameters: declared with types and defaults, checked when the strategy is built."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.strategy import Param, Strategy


class Crossover(Strategy):
    fast = Param(int, 10, "fast EMA period", min=2)
    slow = Param(int, 30, "slow EMA period", min=3, max=500)
    stake = Param(Decimal, Decimal("100"), "quote per trade")
    ratio = Param(float, 0.5, "a statistic, not money", min=0.0, max=1.0)
    every = Param(timedelta, "1d", "rebalancing period")
    mode = Param(str, "long", "direction", choices=("long", "flat"))


def test_defaults_apply_when_nothing_is_given():
    strategy = Crossover()
    assert (strategy.fast, strategy.slow, strategy.stake, strategy.ratio) == (10, 30, Decimal("100"), 0.5)
    assert strategy.every == timedelta(days=1)
    assert strategy.params == {
        "fast": 10, "slow": 30, "stake": Decimal("100"), "ratio": 0.5, "every": timedelta(days=1), "mode": "long",
    }  # fmt: skip


def test_given_values_are_converted_and_kept():
    strategy = Crossover(fast=5, stake="250.5", every="4h", ratio=1)
    assert strategy.fast == 5
    assert strategy.stake == Decimal("250.5")
    assert strategy.every == timedelta(hours=4)
    assert strategy.ratio == 1.0 and isinstance(strategy.ratio, float)


def test_a_misspelled_name_suggests_the_right_one():
    with pytest.raises(SpotlabError) as caught:
        Crossover(fats=12)
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT
    assert "did you mean 'fast'?" in caught.value.message


def test_an_unknown_name_with_no_close_match_lists_the_parameters():
    with pytest.raises(SpotlabError, match="it takes every, fast, mode, ratio, slow, stake"):
        Crossover(zzz=1)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"fast": 2.5}, "parameter 'fast' takes an integer"),
        ({"fast": True}, "parameter 'fast' takes an integer"),
        ({"fast": "10"}, "parameter 'fast' takes an integer"),
        ({"fast": 1}, "parameter 'fast' must be at least 2, got 1"),
        ({"slow": 501}, "parameter 'slow' must be at most 500"),
        ({"stake": 100.5}, "never floats"),
        ({"stake": "abc"}, "takes a decimal number"),
        ({"every": 5}, "a timedelta or an interval like '1d'"),
        ({"mode": "short"}, "must be one of 'long', 'flat'"),
    ],
)
def test_wrong_types_and_out_of_range_values_are_refused_with_the_reason(given, expected):
    with pytest.raises(SpotlabError) as caught:
        Crossover(**given)
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT
    assert expected in caught.value.message


def test_a_float_default_for_money_fails_when_the_class_is_defined():
    with pytest.raises(SpotlabError, match="never floats"):

        class Bad(Strategy):
            stake = Param(Decimal, 100.0)


def test_parameters_cannot_be_changed_after_construction():
    strategy = Crossover()
    with pytest.raises(SpotlabError, match="fixed once the strategy is built"):
        strategy.fast = 3


def test_subclasses_inherit_and_may_redeclare_parameters():
    class Faster(Crossover):
        fast = Param(int, 3, "faster", min=2)

    assert Faster().fast == 3 and Faster().slow == 30
    assert list(Faster.parameters()) == ["fast", "slow", "stake", "ratio", "every", "mode"]
