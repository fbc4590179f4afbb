"""What arrives at one UDP port on loopback, read beside its owner: a packet socket with a kernel filter.

sipp (3.6.1, Debian's) sends its `rtp_stream` from the media port its SDP names and never reads that
socket (its receive queue only fills), and `-rtp_echo` would send what it gets back into the same
call as a second stream. So the telephones' side of the sip-media bench is heard here instead: an
AF_PACKET socket on `lo` (root, or CAP_NET_RAW) whose classic BPF program keeps only IPv4 UDP
datagrams to the port, as they are delivered (not their outgoing copy), so Python sees nothing else.
"""

from __future__ import annotations

import contextlib
import ctypes
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
PACKET_HOST = 0
ETHERNET_HEADER = 14  # lo has a zeroed Ethernet header
_INSTRUCTION = struct.Struct("HBBI")  # struct sock_filter


def _udp_to_port(port: int) -> list[tuple[int, int, int, int]]:
    """`ip and udp and dst port PORT and pkttype host`, assembled (jumps count the instructions skipped)."""
    return [
        (0x28, 0, 0, 12),  # ldh [12]: the EtherType
        (0x15, 0, 8, 0x0800),  # IPv4, else drop
        (0x30, 0, 0, 23),  # ldb [23]: the IP protocol
        (0x15, 0, 6, 17),  # UDP, else drop
        (0xB1, 0, 0, 14),  # ldxb 4*([14]&0xf): the IP header's length
        (0x48, 0, 0, 16),  # ldh [x+16]: the UDP destination port
        (0x15, 0, 3, port),
        (0x28, 0, 0, 0xFFFFF004),  # ldh [SKF_AD_PKTTYPE]
        (0x15, 0, 1, PACKET_HOST),  # delivered, not the copy on its way out
        (0x06, 0, 0, 0x40000),  # keep it whole
        (0x06, 0, 0, 0),  # drop
    ]


@dataclass
class Datagram:
    source_port: int
    payload: bytes
    arrived: float  # time.monotonic()


@dataclass
class LoopbackCapture:
    """Collects every datagram to `port` on loopback between `start()` and `stop()`, in a thread."""

    port: int
    datagrams: list[Datagram] = field(default_factory=list)
    _socket: socket.socket | None = None
    _thread: threading.Thread | None = None
    _running: bool = False
    _program: ctypes.Array[ctypes.c_char] | None = None

    def start(self) -> None:
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except PermissionError:
            raise PermissionError("reading loopback takes a packet socket: run as root, or with CAP_NET_RAW") from None
        code = b"".join(_INSTRUCTION.pack(*i) for i in _udp_to_port(self.port))
        self._program = ctypes.create_string_buffer(code, len(code))  # kept alive while attached
        fprog = struct.pack("HL", len(code) // _INSTRUCTION.size, ctypes.addressof(self._program))
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.bind(("lo", 0))
        sock.settimeout(0.2)
        self._socket, self._running = sock, True
        self._thread = threading.Thread(target=self._read, name="loopback-capture", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(5)
        if self._socket is not None:
            self._socket.close()

    def _read(self) -> None:
        assert self._socket is not None
        while self._running:
            with contextlib.suppress(TimeoutError):
                frame = self._socket.recv(65536)
                now = time.monotonic()
                ip = ETHERNET_HEADER
                udp = ip + (frame[ip] & 0x0F) * 4
                self.datagrams.append(Datagram(struct.unpack_from("!H", frame, udp)[0], frame[udp + 8 :], now))
