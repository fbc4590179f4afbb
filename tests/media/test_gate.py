"""The gate on a leg's socket while ICE and DTLS are under way: who counts as a stranger.

The connection is a stand-in for what the gate reads of aioice's (the addresses ICE is checking); the socket,
the datagrams and the gate are real.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

from talkbox.media import rtp
from talkbox.media.aiortc_bridge import Gate, watch


@dataclass
class Pair:
    remote_addr: tuple[str, int]


@dataclass
class Checking:
    _check_list: list[Pair] = field(default_factory=list)


class Socket(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.passed: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.passed.put_nowait(data)  # what reached aioice and aiortc


async def test_the_peers_early_media_is_dropped_but_a_strangers_is_counted() -> None:
    """A page sends RTP once its DTLS is done, before the engine has taken the leg over from aiortc: under load that
    is many packets, and they are not an attack (counted as strangers, they failed test_endpoint.py under load)."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(Socket, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    peer, stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        peer.bind(("127.0.0.1", 0))
        refused: list[None] = []
        gate = Gate(connection=Checking([Pair(peer.getsockname())]), on_refused=lambda: refused.append(None))  # type: ignore[arg-type]
        watch(protocol, gate)  # type: ignore[arg-type]
        media = rtp.header(111, 1, 960, 1234) + b"\x00" * 80
        stranger.sendto(media, ("127.0.0.1", port))
        peer.sendto(media, ("127.0.0.1", port))
        peer.sendto(b"\x16\xfe\xfd" + b"\x00" * 20, ("127.0.0.1", port))  # DTLS from the checked peer: let through
        async with asyncio.timeout(5):
            assert (await protocol.passed.get()).startswith(b"\x16"), "neither RTP packet reached aiortc"
        assert len(refused) == 1, "the stranger's packet is counted, the peer's early media is not"
    finally:
        transport.close()
        peer.close()
        stranger.close()
