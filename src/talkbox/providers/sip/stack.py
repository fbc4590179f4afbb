"""The SIP stack of one node, built from TALKBOX_SIP_*: sockets, the user agent, registration.

`start()` binds what TALKBOX_SIP_LISTEN names and resolves the trunk (whose
addresses may then call in); `close()` lets go of it all.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass, field

from talkbox.providers.sip.access import Access
from talkbox.providers.sip.registration import Registration
from talkbox.providers.sip.settings import SipSettings
from talkbox.providers.sip.transactions import Timers
from talkbox.providers.sip.transport import Peer, Transports
from talkbox.providers.sip.ua import Credentials, UserAgent

log = logging.getLogger(__name__)


@dataclass
class SipStack:
    settings: SipSettings
    timers: Timers = field(default_factory=Timers)
    access: Access = field(init=False)
    transports: Transports = field(init=False)
    ua: UserAgent = field(init=False)
    registration: Registration | None = None

    def __post_init__(self) -> None:
        settings = self.settings
        self.access = Access.of(settings.allow, settings.max_messages_per_second)
        self.transports = Transports(
            lambda data, peer: self.ua.receive(data, peer),
            self.access,
            settings.max_message_bytes,
            tls_server=settings.server_tls(),
            tls_client=settings.client_tls() if settings.trunk_protocol == "tls" else None,
        )
        credentials = None
        if settings.username and settings.password:
            credentials = Credentials(settings.username, settings.password.get_secret_value())
        self.ua = UserAgent(
            self.transports, self.access, timers=self.timers, credentials=credentials, advertise=settings.public_address
        )

    async def start(self) -> None:
        for listen in self.settings.listens:
            host, port = await self.transports.listen(listen.protocol, listen.host, listen.port)
            log.info("SIP listening on %s:%s:%d", listen.protocol, host, port)
        trunk, port = self.settings.trunk_uri, self.settings.trunk_port
        addresses = await _resolve(trunk.host, port) if trunk is not None else []
        if self.ua.advertise is None and any(_wildcard(host) for host, _port in self.transports.local.values()):
            # 0.0.0.0 in a Contact would send the far end's BYE nowhere: say the address the trunk reaches.
            self.ua.advertise = _outward_address(addresses[0] if addresses else "192.0.2.1")
        if trunk is None:
            return
        if not addresses:
            log.error("cannot resolve the SIP trunk %s: calls out fail until a restart", trunk.host)
            return
        self.access.trunk = frozenset(addresses)
        self.ua.trunk = Peer(self.settings.trunk_protocol, addresses[0], port)
        self.transports.tls_names[(addresses[0], port)] = trunk.host
        if self.settings.registering and self.settings.username:
            self.registration = Registration(
                self.ua, trunk, self.ua.trunk, self.settings.username, self.settings.register_expires
            )
            self.registration.start()

    async def close(self) -> None:
        if self.registration is not None:
            await self.registration.close()
        self.ua.close()
        await self.transports.close()

    def status(self) -> dict[str, object]:
        return {
            "listening": [f"{protocol}:{host}:{port}" for protocol, (host, port) in self.transports.local.items()],
            "trunk": self.settings.trunk,
            "registration": self.registration.status() if self.registration is not None else None,
            "malformed": self.ua.malformed,
            "refused": self.ua.refused,
            "dropped": self.transports.dropped,
        }


async def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError:
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::")


def _outward_address(towards: str) -> str:
    """The local address packets to `towards` leave from (a UDP connect sends nothing)."""
    family = socket.AF_INET6 if ":" in towards else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((towards, 9))
        except OSError:
            return "127.0.0.1"
        return str(probe.getsockname()[0])
