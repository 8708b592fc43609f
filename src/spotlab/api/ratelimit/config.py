"""Rate-limit configuration: quotas per client and the weight of each endpoint.

Every request is charged to two buckets, with the endpoint's weight:

- an authenticated request (header ``SPOTLAB-KEY``, or ``Authorization``) to its
  credential's bucket (``per_key``, default 1,200 weight per minute) and to its IP
  address's ceiling (``per_ip``, default 6,000 per minute, so a handful of keys
  behind one address still fit, while a flood of invented keys does not);
- an unauthenticated request to its IP address's anonymous bucket
  (``per_ip_anonymous``, default 600 per minute) and to the same ceiling.

Login and registration (``POST /v1/auth/token``, ``POST /v1/accounts``) weigh 10 and
are always charged as anonymous, whatever headers they carry, so attempts are
throttled per IP (60 per minute by default) and a made-up key cannot move them to a
roomier bucket.

Weights are looked up by method and path *template* (``/v1/orders/{order_id}``:
one ``{...}`` matches one path segment) against the raw request path, since the
middleware runs before Starlette's routing: a template without parameters is an
exact path and wins; otherwise the first template that matches, else ``default_weight``.
A template may grow heavier with an integer query parameter (``QueryWeight``: the
order book with ``depth`` above 100 weighs 5). ``HEAD`` is weighed as ``GET``.

Invariants
- Frozen and validated at construction: every weight fits in every bucket, so a
  request is never refused for good, only until its bucket refills.
- Quotas are integers: ``limit`` weight per ``window_seconds``, a bucket of
  ``burst`` (default ``limit``) tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spotlab.errors import ErrorCode, SpotlabError

if TYPE_CHECKING:
    from spotlab.settings import Settings


def _positive(owner: str, name: str, value: object) -> None:
    if type(value) is not int or value < 1:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{owner}.{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True, slots=True)
class Quota:
    """``limit`` weight per ``window_seconds``, in a bucket of ``burst`` tokens (default ``limit``)."""

    limit: int
    window_seconds: int = 60
    burst: int | None = None

    def __post_init__(self) -> None:
        _positive("Quota", "limit", self.limit)
        _positive("Quota", "window_seconds", self.window_seconds)
        if self.burst is not None:
            _positive("Quota", "burst", self.burst)

    @property
    def capacity(self) -> int:
        return self.burst if self.burst is not None else self.limit

    @property
    def policy(self) -> str:
        """The quota as a ``RateLimit-Policy`` item: ``1200;w=60`` (``;burst=...`` if it differs)."""
        text = f"{self.limit};w={self.window_seconds}"
        return text if self.burst is None or self.burst == self.limit else f"{text};burst={self.burst}"


@dataclass(frozen=True, slots=True)
class QueryWeight:
    """The endpoint weighs ``weight`` when the integer query parameter ``param`` exceeds ``above``."""

    param: str
    above: int
    weight: int


@dataclass(frozen=True, slots=True)
class EndpointWeight:
    """The weight of ``method`` on the path template ``path``."""

    method: str
    path: str
    weight: int
    heavier: tuple[QueryWeight, ...] = ()  # checked in order; the last one that applies wins
    always_anonymous: bool = False  # charged to the IP buckets even when credentials are sent

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"a weight's path must start with '/', got {self.path!r}")
        if type(self.weight) is not int or self.weight < 0:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"weight of {self.path} must be >= 0, got {self.weight!r}")

    @property
    def heaviest(self) -> int:
        return max([self.weight, *(tier.weight for tier in self.heavier)])

    def pattern(self) -> re.Pattern[str]:
        """The path template as an anchored regular expression (``{name}`` matches one segment)."""
        parts = re.split(r"\{[^/{}]+\}", self.path)
        return re.compile("^" + "[^/]+".join(re.escape(part) for part in parts) + "$")


LOGIN_WEIGHT = 10

DEFAULT_WEIGHTS: tuple[EndpointWeight, ...] = (
    EndpointWeight("POST", "/v1/orders", 1),
    EndpointWeight("DELETE", "/v1/orders/{order_id}", 1),
    EndpointWeight("DELETE", "/v1/orders", 5),
    EndpointWeight("PUT", "/v1/quotes/{market}", 5),
    EndpointWeight("GET", "/v1/orders", 2),
    EndpointWeight("GET", "/v1/fills", 2),
    EndpointWeight(
        "GET", "/v1/markets/{market}/book", 1, heavier=(QueryWeight("depth", 100, 5), QueryWeight("depth", 500, 25))
    ),
    EndpointWeight("POST", "/v1/auth/token", LOGIN_WEIGHT, always_anonymous=True),
    EndpointWeight("POST", "/v1/accounts", LOGIN_WEIGHT, always_anonymous=True),
)


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Quotas and endpoint weights (see the module docstring for who is charged what)."""

    per_key: Quota = Quota(1200)
    per_ip: Quota = Quota(6000)
    per_ip_anonymous: Quota = Quota(600)
    weights: tuple[EndpointWeight, ...] = field(default=DEFAULT_WEIGHTS)
    default_weight: int = 1
    websocket_connect_weight: int = 1  # charged to ``per_ip`` per WebSocket handshake; 0: not checked
    key_header: str = "SPOTLAB-KEY"
    enabled: bool = True  # False: the middleware passes every request through untouched

    def __post_init__(self) -> None:
        if self.default_weight < 0 or self.websocket_connect_weight < 0:
            raise SpotlabError(ErrorCode.INVALID_ARGUMENT, "default_weight and websocket_connect_weight must be >= 0")
        name, smallest = min(
            (("per_key", self.per_key), ("per_ip", self.per_ip), ("per_ip_anonymous", self.per_ip_anonymous)),
            key=lambda item: item[1].capacity,
        )
        requests = [
            ("the default weight", self.default_weight),
            ("a WebSocket handshake", self.websocket_connect_weight),
            *((f"{entry.method} {entry.path}", entry.heaviest) for entry in self.weights),
        ]
        for what, weight in requests:
            if weight > smallest.capacity:
                raise SpotlabError(
                    ErrorCode.INVALID_ARGUMENT,
                    f"{what} may weigh {weight} but the {name} bucket holds {smallest.capacity}: such a request "
                    "could never pass; raise that quota's burst or lower the weight",
                )

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        """Quotas from the deployment settings: per key, per anonymous IP, and a per-IP ceiling of 5 keys.

        A quota smaller than the heaviest default weight gets that weight as its burst.
        """
        per_key, per_ip = settings.rate_limit_per_minute, settings.rate_limit_ip_per_minute
        return cls(
            per_key=_quota_fitting(per_key, DEFAULT_WEIGHTS),
            per_ip=_quota_fitting(max(5 * per_key, per_ip), DEFAULT_WEIGHTS),
            per_ip_anonymous=_quota_fitting(per_ip, DEFAULT_WEIGHTS),
        )


def _quota_fitting(per_minute: int, weights: tuple[EndpointWeight, ...]) -> Quota:
    """``per_minute`` per 60 s, with a burst large enough for the heaviest request."""
    heaviest = max(entry.heaviest for entry in weights)
    return Quota(per_minute, 60, None if per_minute >= heaviest else heaviest)
