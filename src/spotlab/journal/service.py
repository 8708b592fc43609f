"""The journal service: an account's round trips with its annotations, and their statistics.

``JournalService(exchange, engine)`` is what the facade (``Exchange.journal``,
``Exchange.journal_service``), the REST routes and the CLI call. Every fill of an account is in
the journal automatically: the round trips are computed from the event log's fills
(``Exchange.account_history``) on each call, with ``spotlab.journal.round_trips``, and joined with
the annotations kept in the side database ``journal`` (``spotlab.journal.store``).

Invariants
- Isolation: every call is keyed by one account; a round trip or fill id of another account is
  ``NOT_FOUND``, exactly as an id that does not exist (nothing tells them apart).
- An annotation can only be written for a round trip or fill the account has; a refused
  annotation changes nothing.
- Fill references: a fill id ``BTC-USDT-77`` (market and trade id), or a bare trade id ``77`` when
  only one of the account's markets has that trade id (trade ids are per market).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.journal.annotations import Annotation
from spotlab.journal.round_trips import Grouping, RoundTrip, TripFill, fill_id, group_fills
from spotlab.journal.stats import GroupStats, check_group_by, journal_stats, strategy_tag
from spotlab.journal.store import JournalStore

if TYPE_CHECKING:
    from spotlab.exchange.service import Exchange


def _not_found(what: str, ref: object) -> SpotlabError:
    return SpotlabError(ErrorCode.NOT_FOUND, f"no {what} {str(ref)[:80]!r} in this account's journal", id=str(ref)[:80])


class JournalService:
    def __init__(self, exchange: Exchange, engine: sa.Engine) -> None:
        self._exchange = exchange
        self._store = JournalStore(engine)

    def close(self) -> None:
        self._store.close()

    # -- reading ---------------------------------------------------------------------------------

    def _grouping(self, account: str) -> Grouping:
        fills, _ = self._exchange.account_history(account)  # UNKNOWN_ACCOUNT
        specs = {market: self._exchange.market_spec(market) for market in {fill.market for fill in fills}}
        return group_fills(fills, specs)

    def _annotated(self, account: str, grouping: Grouping) -> tuple[list[RoundTrip], list[TripFill]]:
        notes = self._store.annotations(account)
        if not notes:
            return grouping.round_trips, grouping.outside

        def fill(part: TripFill) -> TripFill:
            found = notes.get(("fill", part.id))
            return part if found is None else replace(part, annotation=found)

        trips = [
            replace(trip, annotation=notes.get(("round_trip", trip.id)), fills=tuple(fill(f) for f in trip.fills))
            for trip in grouping.round_trips
        ]
        return trips, [fill(part) for part in grouping.outside]

    def round_trips(
        self,
        account: str,
        *,
        market: str | None = None,
        strategy: str | None = None,
        status: str | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[RoundTrip]:
        """The account's round trips (open ones included) in the order they opened, with their annotations.

        Filters: ``market`` (``BTC/USDT``), ``strategy`` (a tag, or ``"untagged"``: see
        ``spotlab.journal.stats.strategy_tag``), ``status`` (``open``/``closed``), and the entry time
        in ``[start_ns, end_ns)``."""
        if market is not None:
            market = self._exchange.market_spec(market).symbol  # UNKNOWN_MARKET
        if status not in (None, "open", "closed"):
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"status is open or closed, got {status!r}", field="status")
        trips, _ = self._annotated(account, self._grouping(account))
        return [
            trip
            for trip in trips
            if (market is None or trip.market == market)
            and (strategy is None or strategy_tag(trip) == strategy)
            and (status is None or trip.status == status)
            and (start_ns is None or trip.entry_time_ns >= start_ns)
            and (end_ns is None or trip.entry_time_ns < end_ns)
        ]

    def round_trip(self, account: str, trip_id: str) -> RoundTrip:
        """One round trip by id (``BTC-USDT-77``); ``NOT_FOUND`` if the account has none such."""
        for trip in self.round_trips(account):
            if trip.id == trip_id:
                return trip
        raise _not_found("round trip", trip_id)

    def outside_fills(self, account: str) -> list[TripFill]:
        """Sells (or parts of sells) of base no round trip held, e.g. deposited base (``round_trips`` module)."""
        return self._annotated(account, self._grouping(account))[1]

    def statistics(self, account: str, group_by: str = "all", **filters: Any) -> list[GroupStats]:
        """``spotlab.journal.stats.journal_stats`` over the closed round trips ``round_trips(**filters)`` gives."""
        check_group_by(group_by)
        return journal_stats(self.round_trips(account, **filters), group_by)

    # -- writing ---------------------------------------------------------------------------------

    def annotate_round_trip(self, account: str, trip_id: str, changes: Mapping[str, Any]) -> RoundTrip:
        """Apply ``changes`` (``spotlab.journal.annotations``) to the round trip's annotation; returns the trip."""
        trip = self.round_trip(account, trip_id)
        note = self._store.annotate(account, "round_trip", trip.id, changes, self._exchange.now_ns())
        return replace(trip, annotation=note)

    def annotate_fill(self, account: str, ref: str | int, changes: Mapping[str, Any]) -> tuple[str, Annotation]:
        """Apply ``changes`` to a fill's annotation; returns ``(fill id, annotation)``."""
        target = self.resolve_fill(account, ref)
        return target, self._store.annotate(account, "fill", target, changes, self._exchange.now_ns())

    def annotate(
        self, account: str, *, round_trip: str | None = None, fill: str | int | None = None, **changes: Any
    ) -> Annotation:
        """Annotate one round trip (``round_trip=id``) or one fill (``fill=id or trade id``): e.g.
        ``annotate("alice", round_trip="BTC-USDT-77", strategy="orb", confidence=4)``."""
        if (round_trip is None) == (fill is None):
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "give exactly one of round_trip= or fill=")
        if round_trip is not None:
            return self.annotate_round_trip(account, round_trip, changes).annotation
        return self.annotate_fill(account, fill, changes)[1]  # type: ignore[arg-type]

    def resolve_fill(self, account: str, ref: str | int) -> str:
        """The fill id ``ref`` names among the account's fills, else ``NOT_FOUND`` (see the module docstring)."""
        fills, _ = self._exchange.account_history(account)
        text = str(ref).strip()
        if text.isdigit():
            markets = sorted({fill.market for fill in fills if fill.trade_id == int(text)})
            if len(markets) > 1:
                examples = ", ".join(fill_id(m, int(text)) for m in markets)
                raise SpotlabError(
                    ErrorCode.INVALID_ARGUMENT,
                    f"trade id {text} is in several of your markets; name the fill: {examples}",
                    field="fill",
                )
            if markets:
                return fill_id(markets[0], int(text))
        elif any(fill_id(fill.market, fill.trade_id) == text for fill in fills):
            return text
        raise _not_found("fill", ref)
