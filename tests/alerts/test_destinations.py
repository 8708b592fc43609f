"""Webhooks go to public addresses only (server-side request forgery), unless the operator allows private ones."""

from __future__ import annotations

import asyncio
import socket

import pytest

from spotlab.alerts.destinations import literal_block_reason, resolved_block_reason
from spotlab.alerts.service import check_webhook_url
from spotlab.alerts.webhooks import Delivery
from spotlab.errors import ErrorCode, SpotlabError
from tests.alerts.test_webhooks import BODY, SECRET, Receiver, serving, worker

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


def test_a_name_is_judged_by_every_address_it_resolves_to(monkeypatch):
    answers = {
        "hooks.example.org": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
        "sneaky.example.org": ["93.184.215.14", "10.0.0.7"],  # one private address is enough to refuse
        "metadata.example.org": ["169.254.169.254"],
    }
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):  # this machine's resolver, with three made-up names in front
        if host not in answers:
            return real(host, port, *args, **kwargs)
        family = {True: socket.AF_INET6, False: socket.AF_INET}
        return [(family[":" in a], socket.SOCK_STREAM, 6, "", (a, port)) for a in answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    assert asyncio.run(resolved_block_reason("hooks.example.org", 443)) is None
    assert "10.0.0.7" in asyncio.run(resolved_block_reason("sneaky.example.org", 443))
    assert "169.254.169.254" in asyncio.run(resolved_block_reason("metadata.example.org", 80))
    assert asyncio.run(resolved_block_reason("does-not-resolve.invalid", 80)) is None  # left to the delivery


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
