"""SIP over UDP, TCP and TLS: bytes in and out, framed, capped and counted before any parsing.

A UDP datagram is one message. TCP is a stream: a message is its headers up to
the blank line, then Content-Length bytes of body (RFC 3261 18.3). TLS is the same
stream inside asyncio's TLS (RFC 3261 26.2), the trunk's certificate checked for its
name. Whatever is larger than the cap, or comes too fast from one source, is dropped unread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from talkbox.providers.sip.access import Access
from talkbox.providers.sip.settings import Protocol

log = logging.getLogger(__name__)

TLS_HANDSHAKE_SECONDS = 10.0
CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
TCP_IDLE_SECONDS = 120.0


@dataclass(frozen=True)
class Peer:
    protocol: Protocol
    host: str
    port: int

    @property
    def reliable(self) -> bool:
        return self.protocol != "udp"


Receiver = Callable[[bytes, Peer], None]


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, transports: Transports) -> None:
        self.transports = transports

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        self.transports.arrived(data, Peer("udp", addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP over UDP: %s", exc)


@dataclass
class Transports:
    """The sockets SIP listens on, and the way back to every peer."""

    receive: Receiver
    access: Access
    max_bytes: int = 8192
    # A TCP or TLS peer that cannot be reached: its requests fail now, not at their timeout.
    unreachable: Callable[[Peer], None] = lambda _peer: None
    # What a tls: listener presents, and how TLS peers we connect to are checked.
    tls_server: ssl.SSLContext | None = None
    tls_client: ssl.SSLContext | None = None
    # (host, port) -> the name its certificate must carry: the trunk's host name, not the address it resolved to.
    tls_names: dict[tuple[str, int], str] = field(default_factory=dict)
    _udp: dict[tuple[str, int], asyncio.DatagramTransport] = field(default_factory=dict)
    _servers: list[asyncio.Server] = field(default_factory=list)
    _streams: dict[Peer, asyncio.StreamWriter] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    # (protocol) -> (host, port) we are reached at, for Via and Contact.
    local: dict[Protocol, tuple[str, int]] = field(default_factory=dict)
    dropped: int = 0

    async def listen(self, protocol: Protocol, host: str, port: int) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        if protocol == "udp":
            transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self), local_addr=(host, port))
            bound = transport.get_extra_info("sockname")[:2]
            self._udp[bound] = transport  # type: ignore[assignment]
        else:
            tls = self.tls_server if protocol == "tls" else None
            if protocol == "tls" and tls is None:
                raise ValueError("a tls: listener needs a certificate (TALKBOX_SIP_TLS_CERT, TALKBOX_SIP_TLS_KEY)")
            server = await asyncio.start_server(
                functools.partial(self._accepted, protocol),
                host,
                port,
                limit=self.max_bytes,
                ssl=tls,
                ssl_handshake_timeout=TLS_HANDSHAKE_SECONDS if tls else None,
            )
            self._servers.append(server)
            bound = server.sockets[0].getsockname()[:2]
        self.local.setdefault(protocol, bound)
        return bound

    def arrived(self, data: bytes, peer: Peer) -> None:
        if not self.access.admit(peer.host) or len(data) > self.max_bytes:
            self.dropped += 1
            return
        if not data.strip():
            return  # a keep-alive (RFC 5626 CRLF)
        try:
            self.receive(data, peer)
        except Exception:
            # Whatever a message does to the layers above, the socket keeps serving the other calls.
            log.exception("SIP message from %s:%d could not be handled", peer.host, peer.port)

    def send(self, data: bytes, peer: Peer) -> None:
        if peer.protocol == "udp":
            if self._udp:
                next(iter(self._udp.values())).sendto(data, (peer.host, peer.port))
            return
        writer = self._streams.get(peer)
        if writer is not None and not writer.is_closing():
            writer.write(data)
            return
        self._spawn(self._connect_and_send(data, peer))

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for writer in self._streams.values():
            writer.close()
        for transport in self._udp.values():
            transport.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()

    # --- TCP and TLS ----------------------------------------------------------------

    def _spawn(self, work: object) -> None:
        task = asyncio.ensure_future(work)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accepted(self, protocol: Protocol, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = writer.get_extra_info("peername")[:2]
        await self._read(reader, writer, Peer(protocol, host, port))

    async def _connect_and_send(self, data: bytes, peer: Peer) -> None:
        tls: dict[str, object] = {}
        if peer.protocol == "tls":
            name = self.tls_names.get((peer.host, peer.port), peer.host)
            tls = {"ssl": self.tls_client or ssl.create_default_context(), "server_hostname": name,
                   "ssl_handshake_timeout": TLS_HANDSHAKE_SECONDS}  # fmt: skip
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(peer.host, peer.port, limit=self.max_bytes, **tls),  # type: ignore[arg-type]
                5.0 + (TLS_HANDSHAKE_SECONDS if tls else 0.0),
            )
        except (OSError, TimeoutError) as error:
            # A certificate that does not verify is an ssl.SSLError, an OSError: said here, and the call fails.
            log.warning("SIP over %s: cannot reach %s:%d: %s", peer.protocol.upper(), peer.host, peer.port, error)
            self.unreachable(peer)
            return
        writer.write(data)
        await self._read(reader, writer, peer)

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer) -> None:
        self._streams[peer] = writer
        try:
            while True:
                message = await asyncio.wait_for(self._frame(reader), TCP_IDLE_SECONDS)
                if message is None:
                    break
                self.arrived(message, peer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, OSError, TimeoutError):
            self.dropped += 1
        finally:
            if self._streams.get(peer) is writer:
                del self._streams[peer]
            writer.close()

    async def _frame(self, reader: asyncio.StreamReader) -> bytes | None:
        """One message off the stream, or None at its end; a message past the cap ends the connection."""
        head = b""
        while not head.strip():
            head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
            if not head:
                return None
        head = head.lstrip(b"\r\n")
        match = CONTENT_LENGTH.search(head)
        length = int(match.group(1)) if match else 0
        if len(head) + length > self.max_bytes:
            raise ValueError("message past the cap")
        return head + (await reader.readexactly(length) if length else b"")
