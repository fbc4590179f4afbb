"""Who a request or socket comes from: the peer, or what a trusted proxy says the peer was.

`X-Forwarded-For` is a header anyone can write, so it counts only when the peer
that sent it is one of TALKBOX_TRUSTED_PROXIES. The per-address socket cap and
the loopback-only endpoints both ask here, so they can never disagree.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "unknown"


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class ClientAddresses:
    trusted_proxies: tuple[Network, ...] = ()

    @classmethod
    def trusting(cls, proxies: Iterable[str]) -> ClientAddresses:
        return cls(tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies))

    def of(self, connection: HTTPConnection) -> str:
        """The nearest address on the path that is not a trusted proxy.

        Read from the right: each proxy appends the peer it saw, so everything
        left of the first untrusted hop may have been made up by the client.
        """
        peer = connection.client.host if connection.client else UNKNOWN
        if not self._trusted(peer):
            return peer
        hops = _forwarded_for(connection)
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop
        return hops[0] if hops else peer

    def is_local(self, connection: HTTPConnection) -> bool:
        """On this machine itself: a loopback client, and not a request some proxy forwarded here."""
        if _forwarded_for(connection) and not self._trusted(connection.client.host if connection.client else ""):
            return False  # a proxy we were not told about: whoever it serves is not local
        address = _address(self.of(connection))
        return address is not None and address.is_loopback

    def _trusted(self, host: str) -> bool:
        address = _address(host)
        return address is not None and any(address in network for network in self.trusted_proxies)


def _forwarded_for(connection: HTTPConnection) -> list[str]:
    values = connection.headers.getlist("x-forwarded-for")
    return [hop.strip() for value in values for hop in value.split(",") if hop.strip()]
