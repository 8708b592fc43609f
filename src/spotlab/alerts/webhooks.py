"""Webhook delivery of alert firings: HMAC-signed POSTs from a bounded queue, retried with back-off.

Each delivery is a JSON ``POST`` with the headers

    Content-Type: application/json
    X-Spotlab-Timestamp: 1704110400            (Unix seconds when this attempt was sent)
    X-Spotlab-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
    X-Spotlab-Delivery: 42                     (the firing's id: the same on every retry, for de-duplication)
    X-Spotlab-Attempt: 1

How a receiver verifies it (``verify`` does exactly this): take the raw request body bytes (before any JSON
parsing), compute ``HMAC-SHA256(secret, timestamp.encode() + b"." + body)`` in hex, compare it with the
header's value after ``sha256=`` in constant time (``hmac.compare_digest``), and refuse a timestamp more than
a few minutes from your clock (replays). Answer any 2xx quickly; do the work afterwards.

Destinations: unless ``allow_private``, a URL whose host resolves to an address that is not public is
refused before any request (outcome ``blocked``). The check is made where each connection is opened, on the
very addresses it connects to (``spotlab.alerts.destinations``), so DNS rebinding cannot get round it.

Retries: a connection error, a timeout, 408, 429 or a 5xx is retried up to ``attempts`` in all, waiting
``min(max_delay, base_delay * 2**(n-1))`` times a random factor in [0.5, 1) (jitter) before attempt ``n+1``;
any other status (a 4xx: the receiver refuses it) ends the delivery at once (``rejected``).

Invariants
- Never blocks the caller: ``submit`` only puts on a bounded queue (``queue_size``); when it is full the
  delivery is dropped, logged and counted (``dropped``), never waited for. ``concurrency`` worker tasks send,
  each with a short ``timeout``, so a dead or slow endpoint only exhausts its own retries.
- Every attempt and the final outcome (``delivered``, ``rejected``, ``gave_up``, ``dropped``, ``blocked``) go to
  ``record``
  (run in a thread: it may touch a database) and to the counters.
- Loop-confined: ``start``, ``submit`` and ``stop`` run on one asyncio loop's thread (another thread uses
  ``loop.call_soon_threadsafe(worker.submit, delivery)``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from spotlab.alerts.destinations import BlockedDestination, CheckedBackend, CheckedTransport

__all__ = ["Delivery", "WebhookWorker", "sign", "signature_header", "verify"]

log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({408, 425, 429})

#: ``record(trigger_id, attempt, outcome, status_code, error)``; attempt 0 is the final outcome.
Recorder = Callable[[int, int, str, int | None, str | None], None]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``timestamp + "." + body`` under ``secret``."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + sign(secret, timestamp, body)


def verify(
    secret: str, timestamp: str, body: bytes, header: str, now_seconds: float | None = None, tolerance: int = 300
) -> bool:
    """What a receiver checks: the signature header matches and the timestamp is within ``tolerance`` seconds."""
    if not timestamp.isdigit() or not header.startswith("sha256="):
        return False
    now = time.time() if now_seconds is None else now_seconds
    if abs(now - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header.removeprefix("sha256=").lower())


@dataclass(frozen=True, slots=True)
class Delivery:
    trigger_id: int
    url: str
    secret: str
    body: bytes  # the JSON payload, signed as sent


class WebhookWorker:
    """A bounded queue of deliveries and ``concurrency`` tasks that POST them (see the module docstring)."""

    def __init__(
        self,
        record: Recorder | None = None,
        *,
        attempts: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        timeout: float = 5.0,
        queue_size: int = 1000,
        concurrency: int = 4,
        now_seconds: Callable[[], float] = time.time,
        allow_private: bool = False,
    ) -> None:
        if attempts < 1 or concurrency < 1 or queue_size < 1 or timeout <= 0 or base_delay < 0:
            raise ValueError("attempts, concurrency and queue_size must be >= 1, timeout > 0, base_delay >= 0")
        self._record = record
        self.attempts, self.base_delay, self.max_delay = attempts, base_delay, max_delay
        self.timeout, self.concurrency = timeout, concurrency
        self._now = now_seconds
        self.allow_private = allow_private
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue(queue_size)
        self._tasks: list[asyncio.Task] = []
        self._client: httpx.AsyncClient | None = None
        self._background: set[asyncio.Task] = set()
        self.sent = 0  # attempts made
        self.delivered = 0
        self.rejected = 0
        self.gave_up = 0
        self.dropped = 0
        self.blocked = 0

    # -- life cycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._tasks:
            return
        self._client = httpx.AsyncClient(
            transport=CheckedTransport(CheckedBackend(self.allow_private)),
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,
            headers={"User-Agent": "spotlab-webhooks/1"},
        )
        self._tasks = [asyncio.create_task(self._work(), name=f"webhook worker {n}") for n in range(self.concurrency)]

    async def stop(self) -> None:
        """Stop now: deliveries still queued or retrying are abandoned (logged)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._queue.qsize():
            log.warning("%d webhook deliveries abandoned at shutdown", self._queue.qsize())
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def drain(self) -> None:
        """Wait until every queued delivery has finished (delivered or given up)."""
        await self._queue.join()

    # -- submitting ---------------------------------------------------------------------------------

    def submit(self, delivery: Delivery) -> bool:
        """Queue ``delivery``; ``False`` (dropped, logged, counted, recorded) if the queue is full."""
        try:
            self._queue.put_nowait(delivery)
            return True
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning(
                "webhook queue full (%d): delivery of firing %d dropped", self._queue.maxsize, delivery.trigger_id
            )
            self._spawn_record(delivery.trigger_id, 0, "dropped", None, "the delivery queue was full")
            return False

    # -- the work -----------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            delivery = await self._queue.get()
            try:
                await self._deliver(delivery)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not kill the worker
                log.exception("webhook delivery of firing %d failed unexpectedly", delivery.trigger_id)
            finally:
                self._queue.task_done()

    async def _deliver(self, delivery: Delivery) -> None:
        for attempt in range(1, self.attempts + 1):
            try:
                status, error = await self._attempt(delivery, attempt)
            except BlockedDestination as blocked:  # refused before the connection: nothing was sent
                self.blocked += 1
                log.warning("webhook for firing %d blocked: %s", delivery.trigger_id, blocked)
                await self._store(delivery.trigger_id, 0, "blocked", None, str(blocked))
                return
            self.sent += 1
            if status is not None and 200 <= status < 300:
                self.delivered += 1
                await self._store(delivery.trigger_id, attempt, "delivered", status, None)
                await self._store(delivery.trigger_id, 0, "delivered", status, None)
                return
            await self._store(delivery.trigger_id, attempt, "failed", status, error)
            if status is not None and not (status >= 500 or status in RETRIED_STATUSES):
                self.rejected += 1
                await self._store(delivery.trigger_id, 0, "rejected", status, f"the receiver answered {status}")
                return
            if attempt < self.attempts:
                await asyncio.sleep(self.delay(attempt))
        self.gave_up += 1
        log.warning("webhook for firing %d gave up after %d attempts", delivery.trigger_id, self.attempts)
        await self._store(delivery.trigger_id, 0, "gave_up", None, f"{self.attempts} attempts failed")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (exponential, capped, with jitter)."""
        return min(self.max_delay, self.base_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)

    async def _attempt(self, delivery: Delivery, attempt: int) -> tuple[int | None, str | None]:
        timestamp = str(int(self._now()))
        headers = {
            "Content-Type": "application/json",
            "X-Spotlab-Timestamp": timestamp,
            "X-Spotlab-Signature": signature_header(delivery.secret, timestamp, delivery.body),
            "X-Spotlab-Delivery": str(delivery.trigger_id),
            "X-Spotlab-Attempt": str(attempt),
        }
        try:
            answer = await self._client.post(delivery.url, content=delivery.body, headers=headers)
        except httpx.HTTPError as error:
            return None, f"{type(error).__name__}: {error}"[:300]
        return answer.status_code, None if answer.is_success else f"HTTP {answer.status_code}"

    async def _store(self, trigger_id: int, attempt: int, outcome: str, status: int | None, error: str | None) -> None:
        if self._record is None:
            return
        try:
            await asyncio.to_thread(self._record, trigger_id, attempt, outcome, status, error)
        except Exception:
            log.exception("could not record webhook outcome %s of firing %d", outcome, trigger_id)

    def _spawn_record(self, *args) -> None:
        if self._record is not None:
            task = asyncio.get_running_loop().create_task(self._store(*args))
            self._background.add(task)  # keep a reference until it is done
            task.add_done_callback(self._background.discard)
