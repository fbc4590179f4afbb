"""A telephone for the media tests: a real pair of UDP sockets that sends G.711 and records what it is sent."""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from talkbox.media import g711, rtp

Address = tuple[str, int]


class _Recorder(asyncio.DatagramProtocol):
    def __init__(self, into: list[tuple[bytes, Address]]) -> None:
        self.into = into

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.into.append((data, (addr[0], addr[1])))


async def udp(into: list[tuple[bytes, Address]], port: int = 0) -> asyncio.DatagramTransport:
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Recorder(into), local_addr=("127.0.0.1", port)
    )
    return transport


def media_port(description: str) -> int:
    found = re.search(r"^m=audio (\d+) ", description, re.MULTILINE)
    assert found, "no audio m-line"
    return int(found.group(1))


@dataclass
class Phone:
    """Sends from its RTP socket, listens on it and on the RTCP socket one port up."""

    rtp: asyncio.DatagramTransport
    rtcp: asyncio.DatagramTransport
    port: int
    received: list[tuple[bytes, Address]] = field(default_factory=list)
    rtcp_received: list[tuple[bytes, Address]] = field(default_factory=list)
    ssrc: int = field(default_factory=lambda: random.getrandbits(32))
    sequence: int = 65_530  # wraps during the tests
    timestamp: int = 2**32 - 800
    phase: int = 0

    @classmethod
    async def open(cls) -> Phone:
        for _ in range(50):
            received: list[tuple[bytes, Address]] = []
            first = await udp(received)
            port = first.get_extra_info("sockname")[1]
            if port % 2 == 0:
                rtcp_received: list[tuple[bytes, Address]] = []
                try:
                    second = await udp(rtcp_received, port + 1)
                except OSError:
                    first.close()
                    continue
                return cls(first, second, port, received, rtcp_received)
            first.close()
        raise OSError("no even port pair")

    def description(self, formats: str = "0 8 101", direction: str = "sendrecv", host: str = "127.0.0.1") -> str:
        return (
            "v=0\r\n"
            f"o=phone 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
            f"m=audio {self.port} RTP/AVP {formats}\r\n"
            "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
            f"a=fmtp:101 0-15\r\na=ptime:20\r\na={direction}\r\n"
        )

    def send(self, data: bytes, port: int) -> None:
        self.rtp.sendto(data, ("127.0.0.1", port))

    def tone_packet(self, frequency: float, law: g711.Law = "PCMU") -> bytes:
        """The next 20 ms of a tone, as the phone's RTP."""
        t = (self.phase + np.arange(160)) / 8000
        samples = (0.3 * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)
        self.phase += 160
        header = rtp.header(g711.PAYLOAD_TYPES[law], self.sequence, self.timestamp, self.ssrc)
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + 160) & 0xFFFFFFFF
        return header + g711.encode(law, samples)

    def packets(self) -> list[rtp.RtpPacket]:
        return [rtp.parse(data) for data, _ in self.received if not rtp.is_rtcp(data)]

    def heard(self, last: int = 50) -> np.ndarray:
        """What the phone was sent, decoded, over its last `last` audio packets."""
        audio = [p for p in self.packets() if p.payload_type in g711.LAWS][-last:]
        if not audio:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate([g711.decode(g711.LAWS[p.payload_type], p.payload) for p in audio])

    def close(self) -> None:
        self.rtp.close()
        self.rtcp.close()
