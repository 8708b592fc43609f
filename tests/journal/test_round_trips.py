"""Round trips: entry to flat per market, with partial exits, scaling in, base from elsewhere, exact money."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotlab.catalogue import load_catalogue
from spotlab.errors import ErrorCode, SpotlabError
from spotlab.journal.round_trips import fill_id, group_fills, round_trips
from spotlab.risk.records import FillRecord

SPECS = load_catalogue(None).markets
D = Decimal
HOUR = 3_600 * 10**9
T0 = 1_704_067_200 * 10**9  # 2024-01-01 00:00 UTC, a Monday


def fill(trade_id, side, price, quantity, fee, hours=0.0, market="BTC/USDT", order_id=None):
    return FillRecord(order_id or trade_id, market, side, D(price), D(quantity), D(fee), T0 + int(hours * HOUR),
                      trade_id)  # fmt: skip


def test_scaling_in_and_two_partial_exits_make_one_round_trip_with_exact_money():
    fills = [
        fill(1, "buy", "50000", "0.1", "5", 0),
        fill(2, "buy", "51000", "0.1", "5.1", 1),
        fill(3, "sell", "52000", "0.05", "2.6", 2),
        fill(4, "sell", "53000", "0.15", "7.95", 3),
    ]
    (trip,) = round_trips(fills, SPECS)
    assert (trip.id, trip.number, trip.status, trip.quote) == ("BTC-USDT-1", 1, "closed", "USDT")
    assert [f.open_after for f in trip.fills] == [D("0.1"), D("0.2"), D("0.15"), D("0")]
    assert trip.quantity == D("0.2") and trip.bought == trip.sold == D("0.2")
    # cost 5,000 + 5 + 5,100 + 5.1; proceeds 2,600 - 2.6 + 7,950 - 7.95
    assert trip.cost == D("10110.1") and trip.proceeds == D("10539.45")
    assert trip.fees == D("20.65") and trip.pnl == D("429.35") and trip.gross_pnl == D("450")
    assert trip.entry_price == D("50500") and trip.exit_price == D("52750")  # quantity-weighted
    assert trip.entry_time_ns == T0 and trip.exit_time_ns == T0 + 3 * HOUR and trip.holding_ns == 3 * HOUR


def test_flat_starts_a_new_trip_and_the_last_one_may_stay_open():
    fills = [
        fill(1, "buy", "50000", "0.1", "5", 0),
        fill(2, "sell", "49000", "0.1", "4.9", 1),
        fill(3, "buy", "48000", "0.2", "9.6", 2),
        fill(4, "sell", "50000", "0.05", "2.5", 3),
    ]
    first, second = round_trips(fills, SPECS)
    assert (first.id, first.status, first.pnl) == ("BTC-USDT-1", "closed", D("-109.9"))  # 4,895.1 - 5,005
    assert (second.id, second.number, second.status, second.pnl) == ("BTC-USDT-3", 2, "open", None)
    assert second.open_quantity == D("0.15") and second.exit_price == D("50000") and second.holding_ns is None


def test_markets_are_separate_positions_even_for_one_base():
    fills = [
        fill(1, "buy", "50000", "0.1", "5", 0),
        fill(1, "buy", "0.05", "1", "0.00005", 1, market="ETH/BTC"),
        fill(2, "sell", "0.06", "1", "0.00006", 2, market="ETH/BTC"),
    ]
    btc, eth = round_trips(fills, SPECS)
    assert (btc.market, btc.status) == ("BTC/USDT", "open")
    assert (eth.market, eth.quote, eth.pnl) == ("ETH/BTC", "BTC", D("0.00989"))  # 0.05994 - 0.05005
    assert eth.id == "ETH-BTC-1" != btc.id


def test_base_bought_in_one_market_and_sold_in_another_leaves_the_first_trip_open():
    usdt = SPECS["BTC/USDT"]
    specs = {**SPECS, "BTC/USDC": replace(usdt, symbol="BTC/USDC", quote=load_catalogue(None).assets["USDC"])}
    fills = [fill(1, "buy", "50000", "0.1", "5", 0), fill(1, "sell", "51000", "0.1", "5.1", 1, market="BTC/USDC")]
    grouping = group_fills(fills, specs)
    (trip,) = grouping.round_trips
    assert (trip.market, trip.status, trip.open_quantity) == ("BTC/USDT", "open", D("0.1"))
    (part,) = grouping.outside
    assert (part.market, part.quantity) == ("BTC/USDC", D("0.1"))


def test_a_sell_of_deposited_base_is_outside_every_trip():
    grouping = group_fills([fill(1, "sell", "50000", "0.1", "5", 0)], SPECS)
    assert grouping.round_trips == []
    (part,) = grouping.outside
    assert (part.id, part.quantity, part.fee, part.open_after) == ("BTC-USDT-1", D("0.1"), D("5"), D("0"))


def test_a_sell_past_the_position_closes_the_trip_and_leaves_the_rest_outside_with_its_share_of_the_fee():
    fills = [fill(1, "buy", "50000", "0.1", "5", 0), fill(2, "sell", "50000", "0.3", "0.00000001", 1)]
    grouping = group_fills(fills, SPECS)
    (trip,) = grouping.round_trips
    (rest,) = grouping.outside
    # a third of one minor unit rounds half-even to 0 inside; the whole unit stays with the outside part
    assert trip.fills[-1].quantity == D("0.1") and trip.fills[-1].fee == D("0")
    assert rest.quantity == D("0.2") and rest.fee == D("0.00000001")
    assert trip.status == "closed" and trip.pnl == D("-5")


def test_bad_fills_are_refused():
    with pytest.raises(SpotlabError) as error:
        round_trips([fill(1, "buy", "50000", "0.1", "5", 1), fill(2, "buy", "50000", "0.1", "5", 0)], SPECS)
    assert error.value.code is ErrorCode.INVALID_ARGUMENT
    with pytest.raises(SpotlabError) as error:
        round_trips([fill(1, "buy", "1", "1", "0", market="XYZ/USDT")], SPECS)
    assert error.value.code is ErrorCode.UNKNOWN_MARKET
    with pytest.raises(SpotlabError) as error:
        round_trips([fill(1, "buy", "50000.001", "0.1", "5")], SPECS)
    assert error.value.code is ErrorCode.PRICE_NOT_ON_TICK


def test_fill_ids_name_the_market_and_the_trade():
    assert fill_id("BTC/USDT", 77) == "BTC-USDT-77"


# -- properties -------------------------------------------------------------------------------------

_fill = st.tuples(
    st.sampled_from(["BTC/USDT", "ETH/USDT"]),
    st.sampled_from(["buy", "sell"]),
    st.integers(1, 10_000_000),  # price ticks
    st.integers(1, 50),  # lots
    st.integers(0, 10_000),  # fee, quote minor units
)


def _records(rows):
    out = []
    for index, (market, side, ticks, lots, fee) in enumerate(rows):
        spec = SPECS[market]
        out.append(FillRecord(index, market, side, spec.price(ticks), spec.quantity(lots), spec.quote.to_decimal(fee),
                              T0 + index, index + 1))  # fmt: skip
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(_fill, max_size=60))
def test_the_open_quantity_after_each_fill_is_bought_minus_sold_since_the_last_flat(rows):
    fills = _records(rows)
    grouping = group_fills(fills, SPECS)
    held = {market: D(0) for market in SPECS}  # the reference: a position that never goes below zero
    expected_after: dict[tuple[str, int], D] = {}
    for f in fills:
        moved = f.quantity if f.side == "buy" else -min(f.quantity, held[f.market])
        held[f.market] += moved
        if moved:
            expected_after[f.market, f.trade_id] = held[f.market]
    seen = {}
    for trip in grouping.round_trips:
        since_flat = D(0)
        for part in trip.fills:
            since_flat += part.quantity if part.side == "buy" else -part.quantity
            assert part.open_after == since_flat == expected_after[part.market, part.trade_id]
            seen[part.market, part.trade_id] = part
        assert trip.open_quantity == since_flat and (trip.status == "closed") == (since_flat == 0)
        assert trip.pnl is None or trip.pnl == trip.proceeds - trip.cost
    for market in SPECS:  # the lots still open sum to the held quantity; only the last trip may be open
        trips = [trip for trip in grouping.round_trips if trip.market == market]
        assert sum((trip.open_quantity for trip in trips), D(0)) == held[market]
        assert all(trip.status == "closed" for trip in trips[:-1])
    for f in fills:  # every fill's quantity and fee are split exactly between trips and outside
        parts = [p for p in grouping.outside if p.trade_id == f.trade_id]
        if (f.market, f.trade_id) in seen:
            parts.append(seen[f.market, f.trade_id])
        assert sum((p.quantity for p in parts), D(0)) == f.quantity
        assert sum((p.fee for p in parts), D(0)) == f.fee
