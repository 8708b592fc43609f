"""Where a webhook may be sent: public addresses only, unless the operator allows private ones.

A webhook URL is chosen by the account that creates the alert. Without this check any account
could make the server send requests into the server's own network: its database, its Redis, a
cloud metadata service at 169.254.169.254 (server-side request forgery).

Rules
- At creation (``literal_block_reason``): a host written as an IP address that is not global
  (loopback, private, link-local, shared, reserved, multicast, unspecified; IPv4 and IPv6, IPv4
  mapped into IPv6 included) is refused, and so are ``localhost`` and names under ``.localhost``.
  Nothing is resolved then (a name that does not resolve yet is not an error).
- At delivery (``resolved_block_reason``): the host is resolved, and every address it resolves to
  must be global; otherwise the delivery is refused before any request is made. A name that does
  not resolve is left to the delivery, which fails and retries as for any connection error.
- ``allow_private`` (the setting ``SPOTLAB_WEBHOOK_ALLOW_PRIVATE``) lifts both rules, for receivers
  on one's own machine or network.

Limitation: the HTTP client resolves the name again when it connects, so an answer that changes
between the check and the connection (DNS rebinding) is not caught.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket


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


async def resolved_block_reason(host: str, port: int) -> str | None:
    """Why a delivery to ``host``:``port`` is refused, after resolving it; None if every address is public or
    the name does not resolve (the delivery then fails as any connection does)."""
    reason = literal_block_reason(host)
    if reason is not None:
        return reason
    try:
        answers = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    for *_, sockaddr in answers:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])  # an IPv6 scope id is not part of it
        reason = _address_reason(address)
        if reason is not None:
            return f"{host} resolves to {address}, which is not a public address"
    return None
