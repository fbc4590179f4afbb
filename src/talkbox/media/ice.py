"""Which local addresses the engine offers as ICE host candidates.

aioice always leaves 127.0.0.1 out of its host candidates and has no option to
choose addresses (aioice issue #2), yet a server bound to loopback must offer
exactly loopback. aioice looks the addresses up through one module-level
function, so this is the single deliberate hook.
"""

from __future__ import annotations

import ipaddress

import aioice.ice

_all_host_addresses = aioice.ice.get_host_addresses


def restrict_host_candidates(host: str) -> None:
    """Offer only `host`, unless it is a wildcard (then every interface, aioice's default)."""
    if ipaddress.ip_address(host).is_unspecified:
        aioice.ice.get_host_addresses = _all_host_addresses
        return
    version = ipaddress.ip_address(host).version

    def configured(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        wanted = use_ipv4 if version == 4 else use_ipv6
        return [host] if wanted else []

    aioice.ice.get_host_addresses = configured


def advertise(sdp: str, bound: str, public: str | None) -> str:
    """Rewrite the bound address to the configured public one (a 1:1 NAT in front)."""
    if not public or public == bound:
        return sdp
    return sdp.replace(f" {bound} ", f" {public} ").replace(f"IN IP4 {bound}", f"IN IP4 {public}")
