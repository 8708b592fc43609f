"""Properties of ``spotlab.core.fees``: the fee rounding rule, budgets and buy holds.

Exact arithmetic (``Fraction``) is the yardstick; rates are integers over ``FEE_SCALE``
from 0 up to just below 1, as market specs allow.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from spotlab.core.fees import affordable_lots, buy_hold, fee
from spotlab.core.markets import FEE_SCALE

rates = st.one_of(
    st.sampled_from([0, 1, 100_000, 250_000, 400_000, 1_000_000, FEE_SCALE - 1]),  # 0, 1e-8, 0.1 %, ... 0.99999999
    st.integers(0, FEE_SCALE - 1),
)
notionals = st.integers(0, 10**24)
lot_costs = st.one_of(st.integers(1, 1_000), st.integers(1, 10**15))
budgets = st.one_of(st.integers(-(10**6), 10**6), st.integers(-10, 10**24))


def cost(lots: int, lot_cost: int, rate: int) -> int:
    """What ``lots`` lots cost in one fill, fee included (the rule spelled out, not the function under test)."""
    notional = lots * lot_cost
    return notional + notional * rate // FEE_SCALE


# -- the rounding rule -------------------------------------------------------------------


@given(notionals, rates)
def test_a_fee_is_the_exact_fee_rounded_down(notional, rate):
    exact = Fraction(notional * rate, FEE_SCALE)
    assert fee(notional, rate) == int(exact) and 0 <= exact - fee(notional, rate) < 1


@given(notionals, notionals, rates)
def test_fees_of_two_fills_add_to_at_most_the_fee_of_one_and_lose_less_than_a_unit(a, b, rate):
    assert fee(a, rate) + fee(b, rate) <= fee(a + b, rate) <= fee(a, rate) + fee(b, rate) + 1


@given(st.integers(1, 10**9), st.integers(1, 10**6), st.data(), rates)
def test_splitting_one_quantity_into_fills_never_raises_the_total_fee(price, lots, data, rate):
    """So a buy that held the fee of one fill can pay the fees of any split of it."""
    cuts = data.draw(st.lists(st.integers(1, max(lots - 1, 1)), max_size=20, unique=True))
    bounds = [0] + sorted(c for c in cuts if c < lots) + [lots]
    parts = [b - a for a, b in zip(bounds, bounds[1:])]
    assert sum(parts) == lots
    split = sum(fee(price * part, rate) for part in parts)
    whole = fee(price * lots, rate)
    assert split <= whole
    assert whole - split < len(parts)  # each floor loses less than one unit


# -- budgets -------------------------------------------------------------------------------


@given(budgets, lot_costs, rates)
def test_affordable_lots_is_the_most_the_budget_pays_for(budget, lot_cost, rate):
    k = affordable_lots(budget, lot_cost, rate)
    assert k >= 0
    if budget <= 0:
        assert k == 0
        return
    assert cost(k, lot_cost, rate) <= budget, "k lots must be affordable"
    assert cost(k + 1, lot_cost, rate) > budget, "k + 1 lots must not be"


@given(st.integers(1, 10**6), st.integers(0, 10**6), rates)
def test_affordable_lots_of_exactly_the_cost_of_k_lots_is_k(lot_cost, k, rate):
    budget = cost(k, lot_cost, rate)
    assume(budget > 0)
    assert affordable_lots(budget, lot_cost, rate) == k
    assert affordable_lots(budget - 1, lot_cost, rate) == k - 1


@given(budgets, budgets, lot_costs, rates)
def test_a_bigger_budget_never_affords_fewer_lots(a, b, lot_cost, rate):
    low, high = sorted((a, b))
    assert affordable_lots(low, lot_cost, rate) <= affordable_lots(high, lot_cost, rate)


# -- buy holds -------------------------------------------------------------------------------


@given(st.integers(1, 10**9), st.integers(1, 10**6), st.integers(1, 10**4), rates)
def test_a_buy_hold_is_the_notional_at_the_limit_plus_its_fee_at_the_highest_rate(price, lots, unit, rate):
    notional = price * lots * unit
    assert buy_hold(price, lots, unit, rate) == notional + fee(notional, rate)


fills = st.lists(
    st.tuples(
        st.integers(0, 10**6),  # ticks below the limit (0: at the limit)
        st.integers(1, 10**5),  # lots, capped to what is left
        st.booleans(),  # as maker (at the limit, maker rate) or as taker (taker rate)
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=300)
@given(
    st.integers(1, 10**9),
    st.integers(1, 10**6),
    st.integers(1, 10**4),
    rates,
    rates,
    fills,
    st.booleans(),
)
def test_a_buy_hold_covers_the_rest_after_any_fills_at_or_below_the_limit(
    limit, quantity, unit, maker_rate, taker_rate, fill_list, trim
):
    """Hold at the worst case, pay each fill's notional + fee; what is left always covers the rest.

    ``trim``: after each fill the hold is cut back to exactly what the rest needs, as the
    engine does for resting buys; otherwise it only shrinks by what was paid.
    """
    max_rate = max(maker_rate, taker_rate)
    held = buy_hold(limit, quantity, unit, max_rate)
    remaining = quantity
    paid = 0
    for below, lots, as_maker in fill_list:
        if remaining == 0:
            break
        lots = min(lots, remaining)
        price = limit if as_maker else max(1, limit - below)
        rate = maker_rate if as_maker else taker_rate
        notional = price * lots * unit
        charge = notional + fee(notional, rate)
        assert charge <= held, f"a fill costs {charge} but only {held} is held"
        held -= charge
        paid += charge
        remaining -= lots
        need = buy_hold(limit, remaining, unit, max_rate)
        assert held >= need, f"{held} held, the rest of {remaining} lots needs {need}"
        if trim:
            held = need
    assert paid <= buy_hold(limit, quantity, unit, max_rate)
