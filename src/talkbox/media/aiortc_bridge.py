"""Every use of aiortc's and aioice's private names, in one module.

aiortc does ICE, DTLS and the SRTP keys; above SRTP the packets are Talkbox's.
Once a peer connection is up, `take_over` stops aiortc's own RTP sender and
receiver (their per-leg decoder thread, encoder hand-off and RTCP timers) and
hooks the sockets of the ICE connection, so that every SRTP datagram reaches
the engine straight from the event loop's datagram callback, and every packet
the engine sends goes out with one `sendto`. STUN and DTLS still go to aiortc.

The names used here have not moved since aiortc 1.3 and aioice 0.7; the
versions are pinned in pyproject.toml, and tests/media/test_aiortc_bridge.py
connects two real peer connections through this module, so an upgrade that
moves a name fails there first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aioice.ice import Connection, StunProtocol
from aiortc import RTCPeerConnection
from pylibsrtp import Session

COMPONENT_RTP = 1
MAX_DATAGRAM = 2048
# Called with (protocol, datagram, source address) for every datagram in RTP's first-byte range.
MediaHook = Callable[[StunProtocol, bytes, tuple[str, int]], None]


class BridgeError(RuntimeError):
    """The peer connection is not in a state the engine can take over (or aiortc changed)."""


@dataclass
class Wire:
    """One connected leg's transport below Talkbox's RTP: the selected ICE pair and the SRTP sessions."""

    connection: Connection
    rx: Session
    tx: Session
    ssrc: int  # the SSRC the SDP announced for what Talkbox sends

    def selected(self) -> tuple[StunProtocol, tuple[str, int]] | None:
        """The nominated pair, looked up on each use: ICE may select another."""
        pair = self.connection._nominated.get(COMPONENT_RTP)
        if pair is None:
            return None
        return pair.protocol, pair.remote_addr

    def send(self, datagram: bytes) -> bool:
        selected = self.selected()
        if selected is None:
            return False
        protocol, address = selected
        transport = getattr(protocol, "transport", None)
        if transport is None or transport.is_closing():
            return False
        transport.sendto(datagram, address)
        return True


async def _discard(_packets: Any) -> None:
    """Stands in for the sender's RTCP: its BYE on stop would end the stream Talkbox goes on sending."""


async def take_over(pc: RTCPeerConnection, hook: MediaHook) -> Wire:
    """Stop aiortc's media pipeline on a connected peer connection and route its packets to `hook`."""
    transceivers = pc.getTransceivers()
    if len(transceivers) != 1:
        raise BridgeError("one audio transceiver expected")
    transceiver = transceivers[0]
    sender, receiver = transceiver.sender, transceiver.receiver
    dtls = sender.transport
    rx, tx = getattr(dtls, "_rx_srtp", None), getattr(dtls, "_tx_srtp", None)
    if rx is None or tx is None:
        raise BridgeError("DTLS has not produced SRTP keys")
    sender._send_rtcp = _discard  # type: ignore[method-assign]
    await sender.stop()
    await receiver.stop()
    connection: Connection = dtls.transport._connection
    wire = Wire(connection=connection, rx=rx, tx=tx, ssrc=sender._ssrc)
    for protocol in connection._protocols:
        _hook(protocol, hook, wire)
    return wire


def _hook(protocol: StunProtocol, hook: MediaHook, wire: Wire) -> None:
    transport = getattr(protocol, "transport", None)
    if transport is not None and hasattr(transport, "max_size"):
        # asyncio's own datagram transport reads into 256 KiB per datagram (an mmap each time);
        # nothing Talkbox accepts is larger than an MTU. uvloop has no such attribute.
        transport.max_size = MAX_DATAGRAM
    original = protocol.datagram_received

    def datagram_received(data: bytes | str, addr: tuple[Any, ...]) -> None:
        source = (addr[0], addr[1])
        if isinstance(data, bytes) and data and 127 < data[0] < 192:
            hook(protocol, data, source)
            return
        selected = wire.selected()
        # Once connected, STUN and DTLS come only from the selected peer: a stranger's
        # binding request is not worth even an error response.
        if selected is None or (protocol is selected[0] and source == selected[1]):
            original(data, addr)

    protocol.datagram_received = datagram_received  # type: ignore[method-assign]
