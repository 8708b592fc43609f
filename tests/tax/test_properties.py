"""Properties over random valid histories: lots sum to what is held, money is conserved, gains add up."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotlab.risk.records import FillRecord, TransferRecord
from spotlab.tax.events import ACQUIRE, tax_events
from spotlab.tax.lots import match_lots
from spotlab.tax.uk import match_uk

T0 = 1_577_836_800 * 1_000_000_000  # 2020-01-01 UTC
HOUR = 3_600 * 1_000_000_000
MARKETS = [("BTC/USD", "BTC", "USD", D("30000")), ("ETH/USD", "ETH", "USD", D("2000")),
           ("ETH/BTC", "ETH", "BTC", D("0.07"))]  # fmt: skip
STEP = D("0.001")


def price(asset: str, amount: D, time_ns: int) -> D:
    wiggle = D(100 + (time_ns // HOUR) % 17) / 100
    return amount * {"BTC": D("30000"), "ETH": D("2000")}[asset] * wiggle


operation = st.tuples(
    st.sampled_from(["buy", "sell", "deposit", "withdraw"]),
    st.integers(0, len(MARKETS) - 1),
    st.integers(1, 100),  # a size: lots of 0.001 to buy, or a percentage of the holding to sell/withdraw
    st.integers(90, 110),  # a price factor, percent
    st.integers(0, 24 * 200),  # hours after the previous operation
)


def build(operations):
    """Valid fills and transfers (nothing is ever oversold) and the balance they leave, asset by asset."""
    held = defaultdict(D)
    fills, transfers, now = [], [], T0
    for index, (kind, market_index, size, factor, gap) in enumerate(operations):
        now += gap * HOUR
        market, base, quote, mid = MARKETS[market_index]
        fill_price = (mid * factor / 100).quantize(D("0.00001") if quote == "BTC" else D("0.01"))
        if kind == "deposit":
            transfers.append(TransferRecord("deposit", base, size * STEP, D(0), now, index))
            held[base] += size * STEP
        elif kind == "withdraw":
            amount = (held[base] * size / 100).quantize(STEP, rounding="ROUND_DOWN")
            if amount > STEP:
                transfers.append(TransferRecord("withdrawal", base, amount, STEP, now, index))
                held[base] -= amount
        else:
            quantity = size * STEP if kind == "buy" else (held[base] * size / 100).quantize(STEP, "ROUND_DOWN")
            notional = fill_price * quantity
            fee = (notional / 1000).quantize(D("0.00000001"), "ROUND_DOWN")
            if quantity == 0 or (kind == "sell" and quantity > held[base]):
                continue
            if kind == "buy" and quote != "USD" and notional + fee > held[quote]:
                continue
            fills.append(FillRecord(index, market, kind, fill_price, quantity, fee, now, index))
            sign = 1 if kind == "buy" else -1
            held[base] += sign * quantity
            if quote != "USD":
                held[quote] -= notional + fee if kind == "buy" else fee - notional
    return fills, transfers, {asset: amount for asset, amount in held.items() if amount}


histories = st.lists(operation, min_size=1, max_size=60)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(histories, st.sampled_from(["fifo", "lifo", "hifo"]))
def test_open_lots_sum_to_the_held_quantity_and_cost_is_conserved(operations, method):
    fills, transfers, held = build(operations)
    events = tax_events(fills, transfers, price)
    result = match_lots(events, method)
    lots = defaultdict(D)
    for lot in result.open_lots:
        lots[lot.asset] += lot.quantity
    assert dict(lots) == held
    acquired = sum(event.amount for event in events if event.action == ACQUIRE)
    used = sum(line.cost_basis for line in result.lines) + sum(piece.cost_basis for piece in result.removed)
    assert acquired == used + sum(lot.cost_basis for lot in result.open_lots)
    assert sum(line.gain for line in result.lines) == sum(line.proceeds - line.cost_basis for line in result.lines)


@SETTINGS
@given(histories)
def test_every_disposal_is_matched_whole_and_its_lines_sum_to_its_net_proceeds(operations):
    fills, transfers, _ = build(operations)
    events = tax_events(fills, transfers, price)
    lines_by_disposal = defaultdict(list)
    for line in match_lots(events, "fifo").lines:
        lines_by_disposal[(line.asset, line.disposal_id)].append(line)
    disposals = [event for event in events if event.action == "dispose"]
    assert len(lines_by_disposal) == len(disposals)
    for event in disposals:
        lines = lines_by_disposal[(event.asset, event.id)]
        assert sum(line.quantity for line in lines) == event.quantity
        assert sum(line.proceeds for line in lines) == event.amount - event.fees


@SETTINGS
@given(histories)
def test_uk_pools_sum_to_the_held_quantity_and_all_methods_agree_on_total_proceeds(operations):
    fills, transfers, held = build(operations)
    events = tax_events(fills, transfers, price, money_places=2)
    uk = match_uk(events)
    assert {pool.asset: pool.quantity for pool in uk.pools} == held
    us = match_lots(events, "fifo")
    # UK proceeds are gross with fees in the cost; US proceeds are net: the same money either way
    assert sum(line.proceeds - line.fees for line in uk.lines) == sum(line.proceeds for line in us.lines)
    assert sum(line.quantity for line in uk.lines) == sum(line.quantity for line in us.lines)
