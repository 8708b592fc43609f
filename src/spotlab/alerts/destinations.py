"""Where a webhook may be sent: public addresses only, unless the operator allows private ones.

A webhook URL is chosen by the account that creates the alert. Without this check any account
could make the server send requests into the server's own network: its database, its Redis, a
cloud metadata service at 169.254.169.254 (server-side request forgery).

Rules
- At creation (``literal_block_reason``): a host written as an IP address that is not global
  (loopback, private, link-local, shared, reserved, multicast, unspecified; IPv4 and IPv6, IPv4
  mapped into IPv6 included) is refused, and so are ``localhost`` and names under ``.localhost``.
  Nothing is resolved then (a name that does not resolve yet is not an error).
- At delivery, in the connection itself (``CheckedBackend``, the network layer of the webhook
  client, ``CheckedTransport``): each new connection resolves the host once, refuses it
  (``BlockedDestination``, before any byte is sent) unless every address it resolves to is global,
  and then connects to those very addresses, in the resolver's order. The address checked is the
  address connected to, so an answer that changes between a check and a connect (DNS rebinding)
  cannot slip through. TLS still verifies the certificate against the URL's host name (SNI). A
  name that does not resolve is a connection error: the delivery retries as for any other.
- ``allow_private`` (the setting ``SPOTLAB_WEBHOOK_ALLOW_PRIVATE``) lifts both rules, for receivers
  on one's own machine or network; connections still go to the addresses resolved there.

Webhook connections are made directly: proxies from the environment (``HTTPS_PROXY``, ...) are not
used, since a proxy would resolve the name again out of this check's sight.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx


def _address_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_global and not address.is_multicast:
        return None
    return f"{address} is not a public address"


def literal_block_reason(host: str) -> str | None:
    """Why a webhook to ``host`` (a URL's hostname) is refused at creation, or None."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return f"{host} is this machine"
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return None  # a name: checked when it is resolved, at delivery
    return _address_reason(address)


class BlockedDestination(Exception):
    """A webhook connection refused before it was made: the host is, or resolves to, an address that is not
    public (the reason is the message)."""


#: ``resolve(host, port)``: the addresses to connect to, in order (a resolver's answer; raises ``OSError``).
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolve(host: str, port: int) -> list[str]:
    """This machine's resolver (``getaddrinfo``), the addresses in its order, each once."""
    answers = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in answers))


def resolved_reason(host: str, addresses: list[str]) -> str | None:
    """Why ``host``, resolved to ``addresses``, may not be connected to (the first address that is not public)."""
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 scope id is not part of it
        if _address_reason(address) is not None:
            return f"{host} resolves to {address}, which is not a public address"
    return None


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """The webhook client's network layer: resolves, checks and connects in one step (see the module docstring).

    ``allow_private``: connect to whatever the host resolves to. ``resolve``: the resolver (this machine's by
    default). ``inner``: the backend that opens the TCP streams, given the checked addresses (anyio's)."""

    def __init__(
        self,
        allow_private: bool = False,
        resolve: Resolver = system_resolve,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow_private = allow_private
        self._resolve = resolve
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if not self.allow_private:
            reason = literal_block_reason(host)
            if reason is not None:
                raise BlockedDestination(reason)
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._resolve(host.strip("[]"), port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took longer than {timeout} s") from None
        except (OSError, UnicodeError) as error:
            raise httpcore.ConnectError(f"{host} does not resolve: {error}") from error
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        if not self.allow_private:
            reason = resolved_reason(host, addresses)
            if reason is not None:
                raise BlockedDestination(reason)
        failures: list[httpcore.ConnectError] = []
        for address in addresses:  # the checked addresses themselves: never the name again
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as error:
                failures.append(error)
        raise failures[-1]

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class CheckedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport whose connections go through ``backend`` (a ``CheckedBackend``): httpx's own request
    and error handling around httpcore's connection pool, with the pool's network layer swapped."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        super().__init__()
        self._pool = httpcore.AsyncConnectionPool(  # the limits of httpx's own transport by default
            ssl_context=httpx.create_ssl_context(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=backend,
        )
