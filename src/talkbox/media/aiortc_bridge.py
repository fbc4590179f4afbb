"""Every use of aiortc's, aioice's and pylibsrtp's private names, in one module.

aiortc does ICE, DTLS and the SRTP keys; above SRTP the packets are Talkbox's.
Once a peer connection is up, `take_over` stops aiortc's own RTP sender and
receiver (their per-leg decoder thread, encoder hand-off and RTCP timers) and
hooks the sockets of the ICE connection, so that every SRTP datagram reaches
the engine straight from the event loop's datagram callback, and every packet
the engine sends goes out with one `sendto`. STUN and DTLS still go to aiortc.

SRTP is called through pylibsrtp's own binding (`Srtp`), without its per-packet wrapper.

The names used here have not moved since aiortc 1.3 and aioice 0.7 (pylibsrtp's are
those of its 1.0); aiortc's and aioice's versions are pinned in pyproject.toml (pylibsrtp's
in uv.lock), and tests/media/test_endpoint.py connects real peer connections through this
module, so an upgrade that moves a name fails there first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aioice.ice import Connection, StunProtocol
from aiortc import RTCPeerConnection
from pylibsrtp import Error as SrtpError
from pylibsrtp import Session
from pylibsrtp._binding import ffi as _srtp_ffi
from pylibsrtp._binding import lib as _srtp_lib

from talkbox.media import rtp

COMPONENT_RTP = 1
MAX_DATAGRAM = 2048
# Called with (protocol, datagram, source address) for every datagram in RTP's first-byte range.
MediaHook = Callable[[StunProtocol, bytes, tuple[str, int]], None]


class BridgeError(RuntimeError):
    """The peer connection is not in a state the engine can take over (or aiortc changed)."""


_SRTP_TRAILER = 16 + 128  # pylibsrtp's room for the tag and an MKI
_SRTCP_TRAILER = 4 + 16 + 128


class Srtp:
    """One direction of a leg's SRTP: the libsrtp calls of pylibsrtp's Session, on the session's own buffer.

    pylibsrtp allocates a length, checks the type and copies twice for every packet; this does the same call
    with the length allocated once, for every packet of every leg in and out. Failures raise pylibsrtp's Error,
    as Session does (and so does a packet too long for its buffer, which Session reports as a ValueError).
    """

    def __init__(self, session: Session) -> None:
        self._session = session  # owns the libsrtp context and the buffer
        self._context = session._srtp[0]
        self._cdata = session._cdata
        self._buffer = session._buffer
        self._room = len(session._cdata)
        self._length = _srtp_ffi.new("int *")

    def protect(self, packet: bytes) -> bytes:
        return self._run(packet, _srtp_lib.srtp_protect, _SRTP_TRAILER)

    def protect_rtp(
        self, payload_type: int, sequence: int, timestamp: int, ssrc: int, marker: bool, payload: bytes
    ) -> bytes:
        """An RTP packet of Talkbox's own, built in the session's buffer: no header or packet made to be copied in."""
        size = rtp.HEADER_SIZE + len(payload)
        if size > self._room - _SRTP_TRAILER:
            raise SrtpError("packet is too long")
        buffer = self._buffer
        rtp.write_header(buffer, payload_type, sequence, timestamp, ssrc, marker)
        buffer[rtp.HEADER_SIZE : size] = payload
        self._length[0] = size
        status = _srtp_lib.srtp_protect(self._context, self._cdata, self._length)
        if status:
            raise SrtpError(f"libsrtp status {status}")
        return buffer[0 : self._length[0]]

    def protect_rtcp(self, packet: bytes) -> bytes:
        return self._run(packet, _srtp_lib.srtp_protect_rtcp, _SRTCP_TRAILER)

    def unprotect(self, packet: bytes) -> bytes:
        return self._run(packet, _srtp_lib.srtp_unprotect, 0)

    def unprotect_rtcp(self, packet: bytes) -> bytes:
        return self._run(packet, _srtp_lib.srtp_unprotect_rtcp, 0)

    def _run(self, packet: bytes, call: Callable[[Any, Any, Any], int], trailer: int) -> bytes:
        size = len(packet)
        if size > self._room - trailer:
            raise SrtpError("packet is too long")
        self._buffer[0:size] = packet
        self._length[0] = size
        status = call(self._context, self._cdata, self._length)
        if status:
            raise SrtpError(f"libsrtp status {status}")
        return self._buffer[0 : self._length[0]]


@dataclass
class Wire:
    """One connected leg's transport below Talkbox's RTP: the selected ICE pair and the SRTP sessions."""

    connection: Connection
    rx: Srtp
    tx: Srtp
    ssrc: int  # the SSRC the SDP announced for what Talkbox sends
    _pair: object = None  # the nominated pair `_selected` was read from
    _selected: tuple[StunProtocol, tuple[str, int]] | None = None
    _transport: Any = None  # its socket's

    def selected(self) -> tuple[StunProtocol, tuple[str, int]] | None:
        """The nominated pair, looked up on each use: ICE may select another.

        Its address is read once per pair: aioice builds it anew on every read, and this runs for every packet
        in and out.
        """
        pair = self.connection._nominated.get(COMPONENT_RTP)
        if pair is not self._pair:
            self._pair = pair
            self._selected = None if pair is None else (pair.protocol, pair.remote_addr)
            self._transport = None if pair is None else getattr(pair.protocol, "transport", None)
        return self._selected

    def send(self, datagram: bytes) -> bool:
        selected = self.selected()
        transport = self._transport
        if selected is None or transport is None or transport.is_closing():
            return False
        transport.sendto(datagram, selected[1])
        return True


async def _discard(_packets: Any) -> None:
    """Stands in for the sender's RTCP: its BYE on stop would end the stream Talkbox goes on sending."""


@dataclass
class Gate:
    """What judges every datagram at a leg's sockets, from its offer on.

    Before the engine takes over there is no SRTP to expect, so anything in RTP's
    range is dropped, and DTLS is let through only from an address ICE is checking:
    a flood during set-up never reaches aiortc's unbounded receive queue, where it
    would hold up the handshake behind it.
    """

    connection: Connection
    on_refused: Callable[[], None]
    hook: MediaHook | None = None
    wire: Wire | None = None

    def admits(self, protocol: StunProtocol, source: tuple[str, int]) -> bool:
        """Whether a datagram that is not media may reach aioice and aiortc."""
        if self.wire is not None:
            # Connected: STUN and DTLS come only from the selected peer; a stranger's
            # binding request is not worth even an error response.
            selected = self.wire.selected()
            return selected is None or (protocol is selected[0] and source == selected[1])
        return True

    def checked(self, source: tuple[str, int]) -> bool:
        return any(pair.remote_addr == source for pair in self.connection._check_list)


def guard(pc: RTCPeerConnection, on_refused: Callable[[], None]) -> Gate:
    """Put a gate on the sockets of a peer connection whose offer is made (its candidates are gathered)."""
    dtls = _only_transceiver(pc).sender.transport
    gate = Gate(connection=dtls.transport._connection, on_refused=on_refused)
    for protocol in gate.connection._protocols:
        watch(protocol, gate)
    return gate


async def take_over(pc: RTCPeerConnection, gate: Gate, hook: MediaHook) -> Wire:
    """Stop aiortc's media pipeline on a connected peer connection and route its packets to `hook`."""
    transceiver = _only_transceiver(pc)
    sender, receiver = transceiver.sender, transceiver.receiver
    dtls = sender.transport
    rx, tx = getattr(dtls, "_rx_srtp", None), getattr(dtls, "_tx_srtp", None)
    if rx is None or tx is None:
        raise BridgeError("DTLS has not produced SRTP keys")
    sender._send_rtcp = _discard  # type: ignore[method-assign]
    await sender.stop()
    await receiver.stop()
    gate.wire = Wire(connection=gate.connection, rx=Srtp(rx), tx=Srtp(tx), ssrc=sender._ssrc)
    gate.hook = hook
    return gate.wire


def _only_transceiver(pc: RTCPeerConnection) -> Any:
    transceivers = pc.getTransceivers()
    if len(transceivers) != 1:
        raise BridgeError("one audio transceiver expected")
    return transceivers[0]


def watch(protocol: StunProtocol, gate: Gate) -> None:
    """Put `gate` on one socket: every datagram it receives is judged before aioice or aiortc sees it."""
    transport = getattr(protocol, "transport", None)
    if transport is not None and hasattr(transport, "max_size"):
        # asyncio's own datagram transport reads into 256 KiB per datagram (an mmap each time);
        # nothing Talkbox accepts is larger than an MTU. uvloop has no such attribute.
        transport.max_size = MAX_DATAGRAM
    original = protocol.datagram_received

    def datagram_received(data: bytes, addr: tuple[Any, ...]) -> None:
        # An IPv6 source has four fields: the peer is its host and port. IPv4's pair is passed on as it came,
        # as no tuple is made for the packets of every leg.
        source = addr if len(addr) == 2 else (addr[0], addr[1])
        first = data[0] if data else 0
        if 127 < first < 192:
            hook = gate.hook
            if hook is not None:
                hook(protocol, data, source)
            elif not gate.checked(source):
                # The peer ICE is checking sends media as soon as its DTLS is done, while the engine is still
                # taking over from aiortc: dropped (there is nothing to play it yet), but it is not a stranger's.
                gate.on_refused()
            return
        if first < 4:  # STUN: aioice answers only requests with the leg's credentials
            admitted = gate.admits(protocol, source)
        else:  # DTLS, or junk
            admitted = gate.admits(protocol, source) and (gate.wire is not None or gate.checked(source))
        if admitted:
            original(data, addr)
        else:
            gate.on_refused()

    protocol.datagram_received = datagram_received  # type: ignore[method-assign]
