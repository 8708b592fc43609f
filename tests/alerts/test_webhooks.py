"""Webhook delivery against real HTTP receivers on 127.0.0.1: signed, retried with back-off, never blocking."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spotlab.alerts.webhooks import Delivery, WebhookWorker, sign, signature_header, verify
from tests.api.live import free_port, running

SECRET = "whsec_test-secret"
BODY = json.dumps({"type": "alert", "alert_id": 7, "values": {"close": 101.5}}, separators=(",", ":")).encode()


class Receiver:
    """A real HTTP endpoint: checks each request's signature the way the docs tell receivers to."""

    def __init__(self, fail_first: int = 0, status: int = 200, hang: bool = False, secret: str = SECRET) -> None:
        self.fail_first, self.status, self.hang, self.secret = fail_first, status, hang, secret
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        headers = request.headers
        with self.lock:
            self.requests.append(
                {
                    "valid": verify(self.secret, headers["x-spotlab-timestamp"], body, headers["x-spotlab-signature"]),
                    "attempt": int(headers["x-spotlab-attempt"]),
                    "delivery": headers["x-spotlab-delivery"],
                    "body": body,
                }
            )
            count = len(self.requests)
        if self.hang:
            await asyncio.sleep(2)  # never answers within the sender's timeout (0.3 s)
        if count <= self.fail_first:
            return Response("try later", status_code=503)
        return Response("ok", status_code=self.status)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self.endpoint, methods=["POST"])])


@contextmanager
def serving(receiver: Receiver) -> Iterator[str]:
    with running(receiver.app()) as base:
        yield base + "/hook"


def worker(records: list, **options) -> WebhookWorker:
    options = {"attempts": 5, "base_delay": 0.01, "max_delay": 0.05, "timeout": 2.0, "allow_private": True, **options}
    return WebhookWorker(lambda *row: records.append(row), **options)


async def deliver_all(sender: WebhookWorker, *deliveries: Delivery) -> None:
    await sender.start()
    try:
        for delivery in deliveries:
            assert sender.submit(delivery)
        await sender.drain()
    finally:
        await sender.stop()


# -- signing -------------------------------------------------------------------------------------------


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body_and_verify_checks_it():
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), b"1704110400." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, "1704110400", BODY) == expected
    header = signature_header(SECRET, "1704110400", BODY)
    assert header == "sha256=" + expected
    assert verify(SECRET, "1704110400", BODY, header, now_seconds=1704110400 + 10)
    assert not verify(SECRET, "1704110400", BODY + b" ", header, now_seconds=1704110400)  # body changed
    assert not verify("whsec_other", "1704110400", BODY, header, now_seconds=1704110400)  # wrong secret
    assert not verify(SECRET, "1704110400", BODY, header, now_seconds=1704110400 + 301)  # too old: a replay
    assert not verify(SECRET, "1704110400", BODY, expected, now_seconds=1704110400)  # no "sha256=" prefix


# -- against real receivers --------------------------------------------------------------------------------


def test_a_healthy_receiver_gets_one_signed_post_and_the_outcome_is_recorded():
    receiver, records = Receiver(), []
    with serving(receiver) as url:
        sender = worker(records)
        asyncio.run(deliver_all(sender, Delivery(42, url, SECRET, BODY)))
    assert [(r["valid"], r["attempt"], r["delivery"], r["body"]) for r in receiver.requests] == [(True, 1, "42", BODY)]
    assert records == [(42, 1, "delivered", 200, None), (42, 0, "delivered", 200, None)]
    assert (sender.delivered, sender.sent, sender.gave_up) == (1, 1, 0)


def test_a_receiver_failing_twice_gets_the_third_attempt_each_one_signed_afresh():
    receiver, records = Receiver(fail_first=2), []
    with serving(receiver) as url:
        sender = worker(records)
        asyncio.run(deliver_all(sender, Delivery(43, url, SECRET, BODY)))
    assert [(r["valid"], r["attempt"]) for r in receiver.requests] == [(True, 1), (True, 2), (True, 3)]
    assert [row[:4] for row in records] == [
        (43, 1, "failed", 503),
        (43, 2, "failed", 503),
        (43, 3, "delivered", 200),
        (43, 0, "delivered", 200),
    ]
    assert sender.delivered == 1 and sender.sent == 3


def test_a_receiver_that_refuses_with_a_4xx_is_not_retried():
    receiver, records = Receiver(status=410), []
    with serving(receiver) as url:
        sender = worker(records)
        asyncio.run(deliver_all(sender, Delivery(44, url, SECRET, BODY)))
    assert len(receiver.requests) == 1
    assert [row[:4] for row in records] == [(44, 1, "failed", 410), (44, 0, "rejected", 410)]
    assert sender.rejected == 1


def test_dead_endpoints_exhaust_their_retries_while_a_healthy_one_is_served_and_the_loop_runs_on():
    healthy, hanging, records = Receiver(), Receiver(hang=True), []
    refused_url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there: connection refused

    async def scenario() -> int:
        sender = worker(records, attempts=3, timeout=0.3, concurrency=3)
        await sender.start()
        ticks = 0

        async def ticker() -> None:  # the loop keeps turning while deliveries wait on dead endpoints
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        beating = asyncio.create_task(ticker())
        try:
            assert sender.submit(Delivery(1, refused_url, SECRET, BODY))
            assert sender.submit(Delivery(2, hanging_url, SECRET, BODY))
            assert sender.submit(Delivery(3, healthy_url, SECRET, BODY))
            await sender.drain()
        finally:
            beating.cancel()
            await sender.stop()
        return ticks

    with serving(healthy) as healthy_url, serving(hanging) as hanging_url:
        ticks = asyncio.run(scenario())
    outcomes = {row[0]: row[2] for row in records if row[1] == 0}
    assert outcomes == {1: "gave_up", 2: "gave_up", 3: "delivered"}
    attempts = {trigger: [row[1] for row in records if row[0] == trigger and row[1]] for trigger in (1, 2, 3)}
    assert attempts == {1: [1, 2, 3], 2: [1, 2, 3], 3: [1]}
    assert all("Error" in row[4] or "Timeout" in row[4] for row in records if row[2] == "failed")
    assert [r["attempt"] for r in hanging.requests] == [1, 2, 3]  # each attempt reached it and timed out
    assert len(healthy.requests) == 1 and ticks > 10


def test_a_full_queue_drops_and_counts_instead_of_waiting():
    records: list = []

    async def scenario() -> tuple[list[bool], int]:
        sender = worker(records, queue_size=2)  # not started: nothing drains the queue
        accepted = [sender.submit(Delivery(n, "http://127.0.0.1:9/hook", SECRET, BODY)) for n in range(1, 5)]
        await asyncio.sleep(0.05)  # let the drop records be written
        return accepted, sender.dropped

    accepted, dropped = asyncio.run(scenario())
    assert accepted == [True, True, False, False] and dropped == 2
    assert sorted(records) == [(3, 0, "dropped", None, "the delivery queue was full"),
                               (4, 0, "dropped", None, "the delivery queue was full")]  # fmt: skip


def test_the_back_off_doubles_is_capped_and_jittered():
    sender = WebhookWorker(base_delay=1.0, max_delay=5.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (5, 5.0)]:
        delays = [sender.delay(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered
