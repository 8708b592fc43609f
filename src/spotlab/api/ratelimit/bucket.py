"""The token bucket, as pure integer arithmetic: no clock, no I/O, no floats.

A bucket holds up to ``capacity`` tokens and gains ``refill_tokens`` tokens every
``refill_period`` time units, continuously. A request of weight ``cost`` is allowed
when the bucket holds at least ``cost`` tokens, which it then removes; a refused
request removes nothing. An absent bucket is a full one.

Exactness: the level is kept in *units* where one token is ``refill_period`` units,
so one elapsed time unit adds exactly ``refill_tokens`` units and every quantity is
an integer. The time unit is the caller's (nanoseconds in process, microseconds in
Redis); ``units_per_second`` converts waits into whole seconds, rounded up.

Invariants
- ``0 <= level <= capacity * refill_period``, whatever the time given.
- Time going backwards refills nothing (it is treated as no time passing).
- A request heavier than the capacity is refused with a reason and never succeeds.
- ``retry_after_seconds`` is 0 when allowed, at least 1 when refused, and ``None``
  when no wait can help (cost above capacity). Waiting that long is enough.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from spotlab.errors import ErrorCode, SpotlabError


@dataclass(frozen=True, slots=True)
class BucketPolicy:
    """``capacity`` tokens, refilled by ``refill_tokens`` every ``refill_period`` time units."""

    capacity: int
    refill_tokens: int
    refill_period: int
    units_per_second: int
    full_level: int = field(init=False)  # a full bucket, in units (one token is ``refill_period`` units)
    refill_per_second: int = field(init=False)  # units gained per second

    def __post_init__(self) -> None:
        for name in ("capacity", "refill_tokens", "refill_period", "units_per_second"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise SpotlabError(
                    ErrorCode.INVALID_ARGUMENT, f"bucket {name} must be a positive integer, got {value!r}"
                )
        object.__setattr__(self, "full_level", self.capacity * self.refill_period)
        object.__setattr__(self, "refill_per_second", self.refill_tokens * self.units_per_second)


class BucketState(NamedTuple):
    """A bucket that is not full: its ``level`` in units at time ``updated``."""

    level: int
    updated: int


class Decision(NamedTuple):
    """The answer to one ``take``; the figures behind the ``RateLimit-*`` headers."""

    allowed: bool
    limit: int  # the bucket's capacity, in tokens (request weight)
    remaining: int  # whole tokens left after this request
    reset_seconds: int  # until the bucket is full again
    retry_after_seconds: int | None  # 0 if allowed; None if waiting cannot help
    reason: str | None = None  # why it was refused, for people


def refilled_level(policy: BucketPolicy, state: BucketState | None, now: int) -> int:
    """The level of the bucket at ``now``: its stored level plus the refill since, capped at full."""
    if state is None:
        return policy.full_level
    elapsed = now - state.updated
    if elapsed <= 0:
        return state.level
    return min(policy.full_level, state.level + elapsed * policy.refill_tokens)


def check_cost(cost: int) -> None:
    """Refuse a weight that is not a non-negative integer (0 only reads the bucket)."""
    if type(cost) is not int or cost < 0:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"a request weight must be an integer >= 0, got {cost!r}")


def decide(policy: BucketPolicy, cost: int, level: int) -> tuple[int, Decision]:
    """Take ``cost`` tokens from a bucket at ``level`` units: the level after, and the decision."""
    check_cost(cost)
    needed = cost * policy.refill_period
    if cost <= policy.capacity and level >= needed:
        after = level - needed
        return after, Decision(True, policy.capacity, after // policy.refill_period, _reset(policy, after), 0)
    reason = _reason(policy, cost, level)
    retry = None if cost > policy.capacity else max(1, _ceil_div(needed - level, policy.refill_per_second))
    return level, Decision(False, policy.capacity, level // policy.refill_period, _reset(policy, level), retry, reason)


def take(policy: BucketPolicy, state: BucketState | None, cost: int, now: int) -> tuple[BucketState | None, Decision]:
    """Take ``cost`` tokens at ``now``: the new state (``None`` once full again) and the decision."""
    level = refilled_level(policy, state, now)
    after, decision = decide(policy, cost, level)
    if after >= policy.full_level:
        return None, decision
    if not decision.allowed and state is not None:
        return state, decision  # nothing taken: the stored state still describes the bucket
    return BucketState(after, now), decision


def is_full(policy: BucketPolicy, state: BucketState, now: int) -> bool:
    """Whether ``state`` has refilled completely by ``now`` (so it can be forgotten)."""
    return state.level + (now - state.updated) * policy.refill_tokens >= policy.full_level


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _reset(policy: BucketPolicy, level: int) -> int:
    """Whole seconds until a bucket at ``level`` is full (ceil(ceil(a/b)/c) == ceil(a/(b*c)))."""
    return _ceil_div(policy.full_level - level, policy.refill_per_second)


def _reason(policy: BucketPolicy, cost: int, level: int) -> str:
    if cost > policy.capacity:
        return f"the request weighs {cost} but the bucket holds at most {policy.capacity}: it can never be allowed"
    return f"the request weighs {cost} but only {level // policy.refill_period} of {policy.capacity} are left"
