"""Who may talk to the SIP stack: floods dropped per source, INVITEs only from the trunk and TALKBOX_SIP_ALLOW.

Toll fraud is the first thing a SIP port meets on the internet: scanners send
OPTIONS and INVITEs to every address within minutes. Anything not from the
trunk (or a network the operator allowed) may ask OPTIONS; an INVITE from it
gets 403 and rings nobody.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class Access:
    allowed: tuple[Network, ...] = ()
    # The trunk's addresses, as resolved when SIP starts (and again at each registration).
    trunk: frozenset[str] = frozenset()
    max_per_second: int = 50
    clock: Callable[[], float] = time.monotonic
    # source host -> (the second it is counting, messages in it)
    _window: dict[str, tuple[int, int]] = field(default_factory=dict)

    @classmethod
    def of(cls, networks: Iterable[str], max_per_second: int) -> Access:
        return cls(tuple(ipaddress.ip_network(n, strict=False) for n in networks), max_per_second=max_per_second)

    def admit(self, host: str) -> bool:
        """Counts a message from `host`: False once it has sent more than its share this second.

        The trunk and TALKBOX_SIP_ALLOW are not counted: a busy trunk sends far more than any
        one stranger may, and its calls must not be dropped for it.
        """
        if self.may_call(host):
            return True
        second = int(self.clock())
        counting, count = self._window.get(host, (second, 0))
        if counting != second:
            count = 0
            if len(self._window) > 10_000:
                self._window.clear()  # a spray of sources must not grow this without end
        self._window[host] = (second, count + 1)
        return count < self.max_per_second

    def may_call(self, host: str) -> bool:
        if host in self.trunk:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.allowed)
