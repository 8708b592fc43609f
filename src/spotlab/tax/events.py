"""Tax events: what an account's fills, deposits and withdrawals mean for tax, valued in the reporting currency.

``tax_events(fills, transfers, value, currency)`` turns ``spotlab.risk.records`` fills and transfers into
``TaxEvent``s, oldest first: acquisitions (a lot is opened), disposals (lots are sold, a gain is realised)
and removals (lots leave the exchange without being sold). ``spotlab.tax.lots`` (US lots) and
``spotlab.tax.uk`` (UK pooling) match them.

Rules (``V`` is the value of a fill's quote amount ``price x quantity`` and ``F`` the value of its fee, both
in the reporting currency at the fill's time; the fill's own price is the exchange's price of base in quote
at that moment, so ``V`` is also the value of the base side, and one valuation serves both legs):
- **Fiat**: the reporting currency and the assets in ``fiat`` (default ``{"USD"}``) have no lots: paying or
  receiving them is neither an acquisition nor a disposal. Stablecoins (USDT, USDC, ...) are crypto here:
  they have lots and a trade into or out of them is a disposal, as the IRS and HMRC treat them.
- **Buy** of BASE with QUOTE: acquisition of BASE, quantity ``q``, cost ``V + F`` (buy fees add to cost).
  If QUOTE is crypto: a disposal of QUOTE ``q x price`` with proceeds ``V`` (the value received), and the fee
  (paid in QUOTE, an asset other than the one bought) is a disposal of its own: QUOTE ``fee``, proceeds
  ``F`` (its market value; HMRC CRYPTO22280, and the issue's "a fee paid in a third asset is a disposal").
- **Sell** of BASE for QUOTE: disposal of BASE, quantity ``q``, proceeds ``V`` with disposal fees ``F``
  (net proceeds ``V - F``: sell fees reduce proceeds). If QUOTE is crypto: acquisition of QUOTE
  ``q x price - fee`` (what arrives; the exchange keeps the fee) at cost ``V - F``.
- **Deposit** of a crypto asset: acquisition of ``amount - fee`` at its market value at the deposit time.
  spotlab is a lab exchange whose deposits are paper money; for real coins moved in from your own wallet
  the true basis is what you paid for them, which the exchange cannot see (a known limitation).
- **Withdrawal** of a crypto asset: ``amount - fee`` leaves (a removal: the lots go with the coins, no
  gain); the ``fee`` is a disposal of that asset at its market value (spent on a service).
- Values are rounded half-even to ``money_places`` (the currency's unit) once, when the event is made;
  quantities are exact.

Every event carries ``id`` (unique, the audit trail's key) and ``order_id``; ids are
``fill:<market>:<trade_id>:<side>`` (``...:fee`` for a fee disposal), ``deposit:<seq>``,
``withdrawal:<seq>`` and ``withdrawal:<seq>:fee``.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from operator import attrgetter
from typing import NamedTuple

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.risk.records import FillRecord, TransferRecord
from spotlab.tax.model import EXACT

ACQUIRE = "acquire"
DISPOSE = "dispose"
REMOVE = "remove"

#: Assets that never have lots besides the reporting currency itself.
DEFAULT_FIAT = frozenset({"USD"})

#: ``value(asset, amount, time_ns) -> Decimal``: ``amount`` of ``asset`` in the reporting currency then.
Valuation = Callable[[str, Decimal, int], Decimal]

_ZERO = Decimal(0)


class TaxEvent(NamedTuple):
    """One acquisition, disposal or removal (immutable; a tuple for speed over millions of fills).

    ``amount`` is the cost (acquire: everything paid, fees included), the gross proceeds (dispose) or zero
    (remove); ``fees`` is the part of the cost that was fees (acquire) or the costs of disposal (dispose:
    net proceeds are ``amount - fees``). ``reason`` says why: buy, sell, trade (the crypto leg of a fill),
    fee, deposit, withdrawal, withdrawal-fee, or whatever a hand-made event says (gift, interest, ...).
    """

    action: str
    asset: str
    quantity: Decimal
    amount: Decimal
    time_ns: int
    id: str
    reason: str
    fees: Decimal = _ZERO
    order_id: int = 0


def acquisition(asset, quantity, cost, time_ns, id, reason="buy", fees=_ZERO, order_id=0) -> TaxEvent:  # noqa: A002
    return TaxEvent(ACQUIRE, asset, quantity, cost, time_ns, id, reason, fees, order_id)


def disposal(asset, quantity, proceeds, time_ns, id, reason="sell", fees=_ZERO, order_id=0) -> TaxEvent:  # noqa: A002
    return TaxEvent(DISPOSE, asset, quantity, proceeds, time_ns, id, reason, fees, order_id)


def removal(asset, quantity, time_ns, id, reason="withdrawal") -> TaxEvent:  # noqa: A002
    return TaxEvent(REMOVE, asset, quantity, _ZERO, time_ns, id, reason)


def split_market(market: str) -> tuple[str, str]:
    base, sep, quote = market.partition("/")
    if not sep or not base or not quote:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"a market is written BASE/QUOTE, got {market!r}", market=market)
    return base, quote


def tax_events(
    fills: Iterable[FillRecord],
    transfers: Iterable[TransferRecord],
    value: Valuation,
    currency: str = "USD",
    *,
    fiat: frozenset[str] = DEFAULT_FIAT,
    money_places: int = 2,
) -> list[TaxEvent]:
    """The account's tax events, oldest first; within one nanosecond deposits come first and withdrawals last
    (the records carry no common sequence number, and a deposit funds what trades after it)."""
    with localcontext(EXACT):  # price x quantity never rounds
        return _tax_events(fills, transfers, value, currency, fiat, money_places)


def _tax_events(fills, transfers, value, currency, fiat, money_places) -> list[TaxEvent]:
    unit = Decimal(1).scaleb(-money_places)
    no_lots = fiat | {currency}
    markets: dict[str, tuple[str, str]] = {}
    events: list[TaxEvent] = []
    append = events.append
    new = tuple.__new__

    def valued(asset: str, amount: Decimal, time_ns: int) -> Decimal:
        if asset == currency:
            return amount.quantize(unit, ROUND_HALF_EVEN)
        return value(asset, amount, time_ns).quantize(unit, ROUND_HALF_EVEN)

    for fill in fills:
        pair = markets.get(fill.market)
        if pair is None:
            pair = markets[fill.market] = split_market(fill.market)
        base, quote = pair
        ts = fill.time_ns
        notional = fill.price * fill.quantity
        if quote == currency:
            v = notional.quantize(unit, ROUND_HALF_EVEN)
            f = fill.fee.quantize(unit, ROUND_HALF_EVEN) if fill.fee else _ZERO
        else:
            v = valued(quote, notional, ts)
            f = valued(quote, fill.fee, ts) if fill.fee else _ZERO
        side, order = fill.side, fill.order_id
        key = f"fill:{fill.market}:{fill.trade_id}:{side}"
        # new(TaxEvent, (...)) is TaxEvent(...) without the keyword machinery: this loop runs once per fill
        if side == "buy":
            if base not in no_lots:
                append(new(TaxEvent, (ACQUIRE, base, fill.quantity, v + f, ts, key, "buy", f, order)))
            if quote not in no_lots:
                append(new(TaxEvent, (DISPOSE, quote, notional, v, ts, key, "trade", _ZERO, order)))
                if fill.fee:
                    append(new(TaxEvent, (DISPOSE, quote, fill.fee, f, ts, key + ":fee", "fee", _ZERO, order)))
        elif side == "sell":
            if base not in no_lots:
                append(new(TaxEvent, (DISPOSE, base, fill.quantity, v, ts, key, "sell", f, order)))
            if quote not in no_lots and notional > fill.fee:
                append(new(TaxEvent, (ACQUIRE, quote, notional - fill.fee, v - f, ts, key, "trade", _ZERO, order)))
        else:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT, f"a fill's side is 'buy' or 'sell', got {fill.side!r}", side=fill.side
            )
    moves: list[TaxEvent] = []
    for transfer in transfers:
        if transfer.asset in no_lots:
            continue
        ts = transfer.time_ns
        net = transfer.amount - transfer.fee
        if transfer.kind == "deposit":
            if net > 0:
                moves.append(acquisition(transfer.asset, net, valued(transfer.asset, net, ts), ts,
                                         f"deposit:{transfer.seq}", "deposit"))  # fmt: skip
        elif transfer.kind == "withdrawal":
            if net > 0:
                moves.append(removal(transfer.asset, net, ts, f"withdrawal:{transfer.seq}"))
            if transfer.fee > 0:
                moves.append(disposal(transfer.asset, transfer.fee, valued(transfer.asset, transfer.fee, ts), ts,
                                      f"withdrawal:{transfer.seq}:fee", "withdrawal-fee"))  # fmt: skip
        else:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"a transfer is a 'deposit' or a 'withdrawal', got {transfer.kind!r}",
                kind=transfer.kind,
            )
    return _merged(events, moves) if moves else events


def _merged(fill_events: list[TaxEvent], moves: list[TaxEvent]) -> list[TaxEvent]:
    """Both lists in time order (each is, as the records are): in one nanosecond deposits before fills,
    withdrawals after. A merge, not a sort: the fills' events are many, the transfers few."""
    moves.sort(key=lambda event: event.time_ns * 2 + (event.reason != "deposit"))  # stable
    out: list[TaxEvent] = []
    start = 0
    for move in moves:
        find = bisect.bisect_left if move.reason == "deposit" else bisect.bisect_right
        end = find(fill_events, move.time_ns, lo=start, key=_time_of)
        out.extend(fill_events[start:end])
        out.append(move)
        start = end
    out.extend(fill_events[start:])
    return out


_time_of = attrgetter("time_ns")
