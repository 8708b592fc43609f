"""US lot matching: methods, partial lots, the splitting rule, the holding-period rule and refusals."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from spotlab.errors import SpotlabError
from spotlab.tax.events import acquisition, disposal, removal
from spotlab.tax.lots import match_lots
from spotlab.tax.model import long_term_from


def at(day: str, hour: int = 12) -> int:
    moment = datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000


@pytest.mark.parametrize(
    ("acquired", "sold", "term"),
    [
        ("2021-02-05", "2022-02-05", "short"),  # the case: exactly one year is not more than one year
        ("2021-02-05", "2022-02-06", "long"),
        ("2020-01-01", "2020-12-31", "short"),  # 365 days in a leap year (rp2 would say long)
        ("2020-02-29", "2021-02-28", "short"),
        ("2020-02-29", "2021-03-01", "long"),
        ("2020-02-28", "2021-02-28", "short"),  # the holding period starts on 29 February
        ("2020-02-28", "2021-03-01", "long"),
        ("2023-02-28", "2024-02-29", "short"),  # exactly one year (a leap day in it)
        ("2023-02-28", "2024-03-01", "long"),
        ("2021-12-31", "2022-12-31", "short"),
        ("2021-12-31", "2023-01-01", "long"),
    ],
)
def test_long_term_only_when_sold_after_the_one_year_anniversary(acquired, sold, term):
    events = [
        acquisition("BTC", D(1), D(100), at(acquired, 23), "a"),
        disposal("BTC", D(1), D(150), at(sold, 0), "d"),
    ]
    (line,) = match_lots(events).lines
    assert line.term == term
    assert (sold >= long_term_from(date.fromisoformat(acquired)).isoformat()) == (term == "long")


def three_lots():
    return [
        acquisition("BTC", D(1), D(100), at("2021-01-01"), "lot1"),
        acquisition("BTC", D(1), D(300), at("2021-01-02"), "lot2"),
        acquisition("BTC", D(1), D(200), at("2021-01-03"), "lot3"),
    ]


@pytest.mark.parametrize(
    ("method", "order"),
    [("fifo", ["lot1", "lot2"]), ("lifo", ["lot3", "lot2"]), ("hifo", ["lot2", "lot3"])],
)
def test_each_method_picks_lots_in_its_order_and_splits_the_last(method, order):
    events = [*three_lots(), disposal("BTC", D("1.5"), D(900), at("2021-02-01"), "sale")]
    result = match_lots(events, method)
    assert [line.lot_id for line in result.lines] == order
    assert [line.quantity for line in result.lines] == [D(1), D("0.5")]
    assert sum(line.proceeds for line in result.lines) == D(900)
    assert sum(lot.quantity for lot in result.open_lots) == D("1.5")


def test_hifo_compares_cost_per_unit_exactly_and_breaks_ties_by_age():
    events = [
        acquisition("ETH", D(3), D(10), at("2021-01-01"), "old"),  # 3.333... per unit
        acquisition("ETH", D(6), D(20), at("2021-01-02"), "young"),  # the same per unit
        acquisition("ETH", D(1), D("3.33"), at("2021-01-03"), "cheaper"),
        disposal("ETH", D(1), D(5), at("2021-01-04"), "sale"),
    ]
    assert [line.lot_id for line in match_lots(events, "hifo").lines] == ["old"]


def test_split_parts_are_half_even_and_always_sum_to_the_whole():
    events = [acquisition("BTC", D(3), D(10), at("2021-01-01"), "lot")]
    events += [disposal("BTC", D(1), D(5), at("2021-01-02", hour), f"sale{hour}") for hour in (1, 2, 3)]
    costs = [line.cost_basis for line in match_lots(events).lines]
    assert costs == [D("3.33"), D("3.34"), D("3.33")]  # 10/3 = 3.333; then 6.67/2 = 3.335 -> 3.34; then the rest
    assert sum(costs) == D(10)


def test_proceeds_of_one_disposal_split_over_lots_sum_to_its_net_proceeds():
    events = [acquisition("BTC", D(1), D(1), at("2021-01-01", hour), f"lot{hour}") for hour in (1, 2, 3)]
    events.append(disposal("BTC", D(3), D("10.01"), at("2021-01-02"), "sale", fees=D("0.01")))
    lines = match_lots(events).lines
    assert [line.proceeds for line in lines] == [D("3.33"), D("3.34"), D("3.33")]
    assert [line.fees for line in lines] == [D("0.00"), D("0.00"), D("0.01")]
    assert [line.gain for line in lines] == [line.proceeds - line.cost_basis for line in lines]


def test_specific_identification_takes_the_chosen_lots_and_falls_back_to_fifo():
    events = [
        *three_lots(),
        disposal("BTC", D("1.5"), D(600), at("2021-02-01"), "sale1"),
        disposal("BTC", D("1"), D(400), at("2021-02-02"), "sale2"),
    ]
    select = {"sale1": [("lot3", D("1")), ("lot2", D("0.5"))]}
    lines = match_lots(events, "specific", select=select).lines
    assert [(line.disposal_id, line.lot_id, line.quantity) for line in lines] == [
        ("sale1", "lot3", D(1)),
        ("sale1", "lot2", D("0.5")),
        ("sale2", "lot1", D(1)),  # fifo among what is left
    ]
    assert lines[1].cost_basis == D(150)


@pytest.mark.parametrize(
    ("select", "words"),
    [
        ({"sale": [("lot1", D(1))]}, "add up to 1"),
        ({"sale": [("lot9", D(2))]}, "not an open BTC lot"),
        ({"sale": [("eth", D(2))]}, "not an open BTC lot"),
        ({"sale": [("lot1", D(2))]}, "holds 1 then"),
        ({"sale": [("later", D(2))]}, "not an open BTC lot"),  # a lot from the future
        ({"sale": [("lot1", D(1)), ("lot2", D(1))], "nope": [("lot3", D(1))]}, "not a disposal"),
    ],
)
def test_impossible_choices_are_refused_clearly(select, words):
    events = [
        *three_lots(),
        acquisition("ETH", D(5), D(5), at("2021-01-04"), "eth"),
        disposal("BTC", D(2), D(600), at("2021-02-01"), "sale"),
        acquisition("BTC", D(5), D(5), at("2021-03-01"), "later"),
    ]
    with pytest.raises(SpotlabError) as caught:
        match_lots(events, "specific", select=select)
    assert caught.value.code == "INVALID_ARGUMENT"
    assert words in caught.value.message


def test_selecting_lots_needs_the_specific_method_and_methods_are_named():
    with pytest.raises(SpotlabError, match="only with method='specific'"):
        match_lots(three_lots(), "fifo", select={"x": []})
    with pytest.raises(SpotlabError, match="choose one of fifo, lifo, hifo, specific"):
        match_lots(three_lots(), "average")


def test_selling_more_than_the_lots_hold_is_refused():
    events = [*three_lots(), disposal("BTC", D("3.5"), D(1), at("2021-02-01"), "sale")]
    with pytest.raises(SpotlabError, match="open lots hold only 3"):
        match_lots(events)


def test_a_withdrawal_takes_lots_away_without_a_gain():
    events = [*three_lots(), removal("BTC", D("1.5"), at("2021-02-01"), "out"),
              disposal("BTC", D(1), D(1000), at("2021-02-02"), "sale")]  # fmt: skip
    result = match_lots(events, "fifo")
    assert [(piece.lot_id, piece.quantity, piece.cost_basis) for piece in result.removed] == [
        ("lot1", D(1), D(100)),
        ("lot2", D("0.5"), D(150)),
    ]
    assert [(line.lot_id, line.quantity, line.cost_basis) for line in result.lines] == [
        ("lot2", D("0.5"), D(150)),
        ("lot3", D("0.5"), D(100)),
    ]
    assert [(lot.lot_id, lot.quantity, lot.cost_basis) for lot in result.open_lots] == [("lot3", D("0.5"), D(100))]


def test_values_finer_than_the_money_unit_are_refused_not_rounded():
    with pytest.raises(SpotlabError, match="whole units of the currency"):
        match_lots([acquisition("BTC", D(1), D("0.001"), at("2021-01-01"), "lot")])
