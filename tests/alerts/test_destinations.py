"""Webhooks go to public addresses only (server-side request forgery), unless the operator allows private ones."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

import httpcore
import pytest

from spotlab.alerts.destinations import BlockedDestination, CheckedBackend, literal_block_reason
from spotlab.alerts.service import check_webhook_url
from spotlab.alerts.webhooks import Delivery
from spotlab.errors import ErrorCode, SpotlabError
from tests.alerts.test_webhooks import BODY, SECRET, Receiver, deliver_all, serving, worker

PRIVATE = [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "localhost", "api.localhost", "LOCALHOST.",
]  # fmt: skip


@pytest.mark.parametrize("host", PRIVATE)
def test_a_private_loopback_or_link_local_host_is_refused_when_written_as_such(host):
    assert literal_block_reason(host) is not None
    url = f"http://[{host}]/hook" if ":" in host else f"http://{host}/hook"
    with pytest.raises(SpotlabError) as caught:
        check_webhook_url(url)
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT and "public address" in caught.value.message
    assert "SPOTLAB_WEBHOOK_ALLOW_PRIVATE" in caught.value.message
    assert check_webhook_url(url, allow_private=True) == url  # the operator's choice


@pytest.mark.parametrize("host", ["8.8.8.8", "2001:4860:4860::8888", "example.com", "hooks.example.org"])
def test_a_public_address_or_any_name_passes_at_creation(host):
    assert literal_block_reason(host) is None
    url = f"https://[{host}]/x" if ":" in host else f"https://{host}/x"
    assert check_webhook_url(url) == url


class _Recording(httpcore.AsyncNetworkBackend):
    """A network layer that records where it was asked to connect, instead of connecting."""

    def __init__(self) -> None:
        self.connected: list[tuple[str, int]] = []

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.connected.append((host, port))
        return object()


ANSWERS = {
    "hooks.example.org": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "sneaky.example.org": ["93.184.215.14", "10.0.0.7"],  # one private address is enough to refuse
    "metadata.example.org": ["169.254.169.254"],
}


async def _answer(host: str, port: int) -> list[str]:
    if host not in ANSWERS:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return ANSWERS[host]


def _connect(backend: CheckedBackend, host: str, port: int = 443):
    return asyncio.run(backend.connect_tcp(host, port, timeout=2.0))


def test_a_connection_is_judged_by_every_address_its_host_resolves_to_and_made_to_those_addresses():
    inner = _Recording()
    backend = CheckedBackend(resolve=_answer, inner=inner)
    _connect(backend, "hooks.example.org")
    assert inner.connected == [("93.184.215.14", 443)]  # the checked address, not the name
    for host, address in [("sneaky.example.org", "10.0.0.7"), ("metadata.example.org", "169.254.169.254")]:
        with pytest.raises(BlockedDestination, match=f"resolves to {address}, which is not a public address"):
            _connect(backend, host, 80)
    with pytest.raises(BlockedDestination, match="this machine"):
        _connect(backend, "localhost")  # refused as written, before resolving
    with pytest.raises(httpcore.ConnectError, match="does not resolve"):
        _connect(backend, "does-not-resolve.invalid")  # a connection error: the delivery retries
    assert inner.connected == [("93.184.215.14", 443)]  # nothing else was connected to

    allowing = CheckedBackend(allow_private=True, resolve=_answer, inner=inner)
    _connect(allowing, "sneaky.example.org", 8080)
    assert inner.connected[-1] == ("93.184.215.14", 8080)


def test_a_slow_resolver_is_a_connect_timeout():
    async def stalls(host: str, port: int) -> list[str]:
        await asyncio.sleep(5)
        return ["93.184.215.14"]

    with pytest.raises(httpcore.ConnectTimeout):
        asyncio.run(
            CheckedBackend(resolve=stalls, inner=_Recording()).connect_tcp("slow.example.org", 443, timeout=0.05)
        )


def _resolving(monkeypatch, name: str, answer) -> list[str]:
    """Make this machine's resolver answer ``answer(call number)`` for ``name``; returns the calls made for it."""
    calls: list[str] = []
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if (host.decode() if isinstance(host, bytes) else host) != name:  # anyio asks with the IDNA bytes
            return real(host, port, *args, **kwargs)
        calls.append(name)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer(len(calls)), port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return calls


def test_webhook_connections_go_to_the_addresses_the_check_resolved(monkeypatch):
    """A name only the patched resolver knows reaches the receiver: the client connects where the check resolved."""
    calls = _resolving(monkeypatch, "hooks.internal", lambda call: "127.0.0.1")
    receiver, records = Receiver(), []
    with serving(receiver) as url:
        port = urlsplit(url).port
        asyncio.run(
            deliver_all(
                worker(records, allow_private=True), Delivery(3, f"http://hooks.internal:{port}/hook", SECRET, BODY)
            )
        )
    assert [r["valid"] for r in receiver.requests] == [True]
    assert calls == ["hooks.internal"]  # resolved once, by the check, and connected to that answer
    assert records[-1][:4] == (3, 0, "delivered", 200)


def test_dns_rebinding_cannot_reach_a_private_receiver(monkeypatch):
    """The name answers a public address first, then this machine's: the answer checked is the one connected to,
    so the public one is tried (and fails here) and the private one is refused; the receiver hears nothing."""
    calls = _resolving(monkeypatch, "rebind.example.org", lambda call: "93.184.215.14" if call == 1 else "127.0.0.1")
    receiver, records = Receiver(), []
    with serving(receiver) as url:
        port = urlsplit(url).port
        sender = worker(records, allow_private=False, attempts=3, timeout=0.5)
        asyncio.run(deliver_all(sender, Delivery(9, f"http://rebind.example.org:{port}/hook", SECRET, BODY)))
    assert receiver.requests == []
    assert len(calls) == 2  # one resolution per connection: none between a check and its connect
    assert sender.blocked == 1 and sender.delivered == 0
    failed, final = records
    assert failed[:3] == (9, 1, "failed") and failed[3] is None  # the public address: no connection here
    assert final[:4] == (9, 0, "blocked", None) and "resolves to 127.0.0.1" in final[4]


def test_a_delivery_to_a_private_address_is_blocked_before_any_request():
    receiver = Receiver()
    records: list = []

    async def scenario(url: str) -> int:
        sender = worker(records, allow_private=False)
        await sender.start()
        try:
            assert sender.submit(Delivery(7, url, SECRET, BODY))
            await sender.drain()
        finally:
            await sender.stop()
        return sender.blocked

    with serving(receiver) as url:  # a real receiver on 127.0.0.1
        assert asyncio.run(scenario(url)) == 1
    assert receiver.requests == []  # nothing was sent
    [(trigger, attempt, outcome, status, reason)] = records
    assert (trigger, attempt, outcome, status) == (7, 0, "blocked", None) and "not a public address" in reason
