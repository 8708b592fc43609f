"""Prometheus metrics of one API app, in that app's own registry.

``Metrics()`` creates a fresh ``CollectorRegistry`` (never the process-wide default),
so several apps in one process (tests, benchmarks) count separately. The
``metrics_endpoint(metrics)`` handler renders it in the Prometheus text format.

Metrics
- ``spotlab_http_requests_total{method,route,status}`` and
  ``spotlab_http_request_duration_seconds{method,route}``: observed by
  ``ObservabilityMiddleware`` for every HTTP request.
- ``spotlab_orders_total{market,side,type}``, ``spotlab_trades_total{market}``:
  counted by the order routes (``count_order``, ``count_trades``).
- ``spotlab_websocket_connections``: open WebSocket connections (``websocket_connected``).
- ``spotlab_event_log_write_seconds``: the duration of each group commit of the event
  log (writing the batch of records and syncing it), reported by the store's writer
  (``Exchange.on_log_write``); ``spotlab_event_log_records_written_total`` counts the records.
- ``spotlab_command_seconds``: command latency as the API sees it, from calling the
  exchange until it acknowledged the command, which it does only once the command's
  events are durable (so it includes waiting for the group commit). Only acknowledged
  commands are observed. Observed by the order routes through ``time_command()`` /
  ``observe_command(seconds)``.
- ``spotlab_rate_limited_total``: requests refused by the rate limiter.

Invariants
- Label values are bounded: ``route`` is a route's path template (or ``unmatched``),
  never a raw path; ``method`` is one of the standard methods or ``OTHER``; ``status``
  is an HTTP status code. Markets, sides and types come from validated orders only.
- Durations are in seconds (the Prometheus convention).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from spotlab.exchange.views import OrderView

#: HTTP latency buckets, in seconds: the exchange answers most requests in well under a millisecond.
HTTP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Event-log write (command acknowledgement) buckets, in seconds.
WRITE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
STANDARD_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """The metric objects of one app, registered in ``self.registry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        into = self.registry
        self.http_requests = Counter(
            "spotlab_http_requests", "HTTP requests answered.", ["method", "route", "status"], registry=into
        )
        self.http_request_duration = Histogram(
            "spotlab_http_request_duration_seconds",
            "Time from receiving an HTTP request to the end of its response.",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=into,
        )
        self.orders = Counter("spotlab_orders", "Orders accepted.", ["market", "side", "type"], registry=into)
        self.trades = Counter("spotlab_trades", "Trades printed.", ["market"], registry=into)
        self.websocket_connections = Gauge(
            "spotlab_websocket_connections", "Open WebSocket connections.", registry=into
        )
        self.event_log_write = Histogram(
            "spotlab_event_log_write_seconds",
            "Duration of one group commit of the event log (write and sync).",
            buckets=WRITE_BUCKETS,
            registry=into,
        )
        self.event_log_records = Counter(
            "spotlab_event_log_records_written", "Event-log records made durable.", registry=into
        )
        self.command = Histogram(
            "spotlab_command_seconds",
            "Time from calling the exchange to its acknowledgement of a durable command.",
            buckets=WRITE_BUCKETS,
            registry=into,
        )
        self.rate_limited = Counter("spotlab_rate_limited", "Requests refused by the rate limiter.", registry=into)
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered HTTP request and observe its duration."""
        if method not in STANDARD_METHODS:
            method = "OTHER"
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = self._children_for(method, route, status)
        counter, histogram = children
        counter.inc()
        histogram.observe(seconds)

    def _children_for(self, method: str, route: str, status: int) -> tuple[Counter, Histogram]:
        return (
            self.http_requests.labels(method, route, str(status)),
            self.http_request_duration.labels(method, route),
        )

    def count_order(self, market: str, side: str, type: str) -> None:
        """Count one accepted order."""
        self.orders.labels(market, side, type).inc()

    def count_trades(self, market: str, trades: int = 1) -> None:
        """Count ``trades`` trades printed in ``market``."""
        if trades:
            self.trades.labels(market).inc(trades)

    def count_placed(self, views: Iterable[OrderView]) -> None:
        """Count each of ``views`` as an accepted order, with the trades its placing printed (a re-quote's quotes)."""
        for view in views:
            market = view.market.replace("/", "-")
            self.count_order(market, str(view.side), str(view.type))
            self.count_trades(market, len(view.fills))

    def observe_command(self, seconds: float) -> None:
        """Observe the latency of one acknowledged (durable) exchange command."""
        self.command.observe(seconds)

    def observe_log_write(self, seconds: float, records: int) -> None:
        """Observe one group commit of the event log (called on the store's writer thread)."""
        self.event_log_write.observe(seconds)
        self.event_log_records.inc(records)

    @contextmanager
    def time_command(self) -> Iterator[None]:
        """Time the enclosed exchange call; observed only if it returns normally.

        ``with metrics.time_command(): order = await exchange.aio.place_order(...)``
        """
        start = time.perf_counter_ns()
        yield
        self.observe_command((time.perf_counter_ns() - start) / 1e9)

    @contextmanager
    def websocket_connected(self) -> Iterator[None]:
        """Count a WebSocket connection as open for the duration of the block."""
        self.websocket_connections.inc()
        try:
            yield
        finally:
            self.websocket_connections.dec()

    def render(self) -> bytes:
        """All metrics in the Prometheus text exposition format."""
        return generate_latest(self.registry)


def metrics_endpoint(metrics: Metrics) -> Callable[[Request], Awaitable[Response]]:
    """A route handler serving ``metrics`` in the Prometheus text format (for ``GET /metrics``)."""

    async def serve_metrics(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return serve_metrics
