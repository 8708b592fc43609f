"""Account records: the fills of the accounts that risk, portfolio and sizing look at, kept in memory from the log.

``AccountRecords`` answers ``fills(account)`` (every fill of that account's own orders, oldest
first, as ``spotlab.risk.records.FillRecord``) and its deposits and withdrawals
(``TransferRecord``) for the exchange's facade (risk, journal, tax), without any read model or
server: the event log is its single source.

Invariants
- An account is *tracked* from the first time anyone asks for its fills: its past fills are read
  once from the durable log, and from then on every command's events are folded in as the
  command is applied, under the exchange's lock, so a guard checking an order sees every fill
  of every command before it (no lag, no read-your-writes wait).
- The hand-over from the log to the live feed loses nothing and counts nothing twice: tracking
  starts under the lock at sequence ``S`` (later fills go to a buffer), the log is read up to
  ``S`` outside the lock, and the two are joined under the lock.
- Untracked accounts cost nothing: the live fold looks at ``OrderFilled`` events only while at
  least one account is tracked, and keeps only the tracked accounts' fills.
- A self-trade (both sides one account) gives that account two fills, a buy and a sell.

Known limitation: the first question about an account reads the whole log once (a scan that
grows with the log; the API's history read model could answer it from an index instead).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from spotlab.core.events import Deposited, Event, OrderFilled, Withdrawn
from spotlab.risk.records import FillRecord, TransferRecord

if TYPE_CHECKING:
    from spotlab.core.markets import Asset, MarketSpec


class _Tracked:
    __slots__ = ("fills", "transfers", "ready")

    def __init__(self) -> None:
        self.fills: list[FillRecord] = []
        self.transfers: list[TransferRecord] = []
        self.ready = threading.Event()


class AccountRecords:
    """Fills per tracked account. ``lock`` is the exchange's lock; ``spec_of`` gives a market's spec."""

    def __init__(
        self, lock: threading.Lock, spec_of: Callable[[str], MarketSpec], asset_of: Callable[[str], Asset]
    ) -> None:
        self._lock = lock
        self._spec_of = spec_of
        self._asset_of = asset_of
        self._tracked: dict[str, _Tracked] = {}

    @property
    def tracking(self) -> bool:
        return bool(self._tracked)

    # -- the live feed (called under the exchange's lock, after each applied command) ----------

    def apply(self, events: Iterable[Event]) -> None:
        tracked = self._tracked
        for event in events:
            kind = type(event)
            if kind is OrderFilled and (event.maker_account in tracked or event.taker_account in tracked):
                for account, record in self._records(event):
                    found = tracked.get(account)
                    if found is not None:
                        found.fills.append(record)
            elif (kind is Deposited or kind is Withdrawn) and event.account in tracked:
                tracked[event.account].transfers.append(self._transfer(event))

    # -- questions -------------------------------------------------------------------------------

    def fills_locked(self, account: str) -> list[FillRecord] | None:
        """The account's fills if it is tracked and caught up (caller holds the lock), else ``None``."""
        found = self._tracked.get(account)
        return found.fills if found is not None and found.ready.is_set() else None

    def transfers_locked(self, account: str) -> list[TransferRecord] | None:
        """The account's deposits and withdrawals, oldest first, as ``fills_locked``."""
        found = self._tracked.get(account)
        return found.transfers if found is not None and found.ready.is_set() else None

    def track(
        self,
        account: str,
        start: Callable[[], tuple[int, int]],
        wait: Callable[[int], None],
        log: Callable[[], Iterator[Event]],
    ) -> None:
        """Start tracking ``account`` (no-op if it is): ``start()`` (called under the lock) gives
        ``(sequence, log index)`` of the last applied command, ``wait(index)`` waits until it is
        durable, ``log()`` reads the durable events oldest first."""
        with self._lock:
            found = self._tracked.get(account)
            if found is None:
                found = self._tracked[account] = _Tracked()
                upto_seq, index = start()
                owner = True
            else:
                owner = False
        if not owner:
            found.ready.wait()
            return
        try:
            wait(index)
            past, transfers = [], []
            for event in log():
                if event.seq > upto_seq:
                    break
                kind = type(event)
                if kind is OrderFilled and account in (event.maker_account, event.taker_account):
                    past.extend(record for owner_, record in self._records(event) if owner_ == account)
                elif (kind is Deposited or kind is Withdrawn) and event.account == account:
                    transfers.append(self._transfer(event))
        except BaseException:
            with self._lock:
                del self._tracked[account]
            found.ready.set()
            raise
        with self._lock:
            found.fills[:0] = past  # the live feed appended everything after upto_seq meanwhile
            found.transfers[:0] = transfers
            found.ready.set()

    def _records(self, event: OrderFilled) -> Iterator[tuple[str, FillRecord]]:
        spec = self._spec_of(event.market)
        price, quantity = spec.price(event.price), spec.quantity(event.quantity)
        maker_side = "sell" if event.taker_side == "buy" else "buy"
        quote = spec.quote
        yield event.maker_account, FillRecord(
            event.maker_order_id, spec.symbol, maker_side, price, quantity, quote.to_decimal(event.maker_fee), event.ts,
            event.trade_id,
        )  # fmt: skip
        yield event.taker_account, FillRecord(
            event.taker_order_id, spec.symbol, str(event.taker_side), price, quantity,
            quote.to_decimal(event.taker_fee), event.ts, event.trade_id,
        )  # fmt: skip

    def _transfer(self, event: Deposited | Withdrawn) -> TransferRecord:
        asset = self._asset_of(event.asset)
        fee = asset.to_decimal(event.fee) if type(event) is Withdrawn else asset.to_decimal(0)
        kind = "withdrawal" if type(event) is Withdrawn else "deposit"
        return TransferRecord(kind, event.asset, asset.to_decimal(event.amount), fee, event.ts, event.seq)
