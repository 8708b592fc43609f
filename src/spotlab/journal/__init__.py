"""The trading journal: every fill of an account, grouped into round trips, with the trader's notes and statistics.

- ``round_trips``: fills -> round trips per market (entry to flat, partial exits), pure;
- ``annotations``: strategy tag, setup, notes, emotion, confidence, screenshot links, and their checks;
- ``stats``: win rate, average win/loss, profit factor, expectancy, holding time, fee drag, trades per
  day and losing streaks, by strategy, market, weekday or hour (UTC), pure;
- ``store``: the annotations in the side database ``journal``;
- ``service``: ``JournalService``, behind ``Exchange.journal`` / ``Exchange.journal_service``, the
  REST routes ``/v1/journal/...`` and ``spotlab journal``.
"""

from spotlab.journal.annotations import Annotation
from spotlab.journal.round_trips import Grouping, RoundTrip, TripFill, group_fills, round_trips

__all__ = ["Annotation", "Grouping", "RoundTrip", "TripFill", "group_fills", "round_trips"]
