"""Issue 10, item 3: a socket that never reads must not hold up anyone else's call.

The attack: open a websocket, never read from it, and get many messages sent to
its user. Before each socket had its own outbox, the router worker that sent
them waited on the full socket for ever, and every conference hashed to that
worker stopped: nobody else's call rang.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
import struct
from urllib.parse import urlsplit

from talkbox.events.models import CallRefused
from talkbox.ui.protocol import CloseCode
from tests.support.peer import Peer
from tests.support.server import running_app

log = logging.getLogger(__name__)


class NeverReading:
    """A raw websocket client that completes the handshake and then never reads a byte."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    async def open(cls, base_url: str, name: str) -> NeverReading:
        url = urlsplit(base_url)
        sock = socket.socket()
        # A small window, so the server's sends back up after a few kilobytes.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, (url.hostname, url.port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /ws?client_name={name} HTTP/1.1\r\nHost: {url.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await loop.sock_sendall(sock, request.encode())
        head = b""
        while b"\r\n\r\n" not in head:  # the 101 response only, byte by byte: nothing of what follows
            head += await loop.sock_recv(sock, 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(sock)

    async def close_code(self) -> int | None:
        """Read at last, through the backlog, to the close frame: its code (None if the server just hung up)."""
        loop = asyncio.get_running_loop()
        buffer = b""

        async def take(n: int) -> bytes | None:
            nonlocal buffer
            while len(buffer) < n:
                chunk = await loop.sock_recv(self.sock, 65536)
                if not chunk:
                    return None
                buffer += chunk
            taken, buffer = buffer[:n], buffer[n:]
            return taken

        while (head := await take(2)) is not None:
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length >= 126:
                extended = await take(2 if length == 126 else 8)
                if extended is None:
                    return None
                length = int.from_bytes(extended, "big")
            payload = await take(length)
            if payload is None:
                return None
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0]
        return None

    def close(self) -> None:
        self.sock.close()


async def test_a_socket_that_never_reads_does_not_hold_up_another_users_call() -> None:
    # One router worker: every partition, the flooded user's and the callers', shares it.
    async with running_app(router_workers=1, max_queued_messages=64) as (url, app):
        talkbox = app.state.talkbox
        stuck = await NeverReading.open(url, "mallory")
        async with asyncio.timeout(5):
            while "mallory" not in talkbox.gateway.sockets:
                await asyncio.sleep(0.01)
        for i in range(5_000):  # about 5 MB for mallory, who reads none of it
            await talkbox.bus.publish(CallRefused(user="mallory", code="dnd", message=f"{i:05d}" + "x" * 1000))
        await asyncio.sleep(0.5)  # the router is well into the flood
        async with Peer(url, "alice", 440.0) as alice, Peer(url, "bob", 660.0) as bob:
            started = asyncio.get_running_loop().time()
            await alice.call("bob")
            await bob.wait_for(lambda: bool(bob.offers), timeout=10)
            rang = asyncio.get_running_loop().time() - started
            log.warning("alice's call rang at bob %.3f s after she placed it, mallory flooded", rang)
            assert rang < 3.0
        # Mallory's page is closed as too slow: it sees why once it reads, and reconnects.
        assert await asyncio.wait_for(stuck.close_code(), 15) == CloseCode.TOO_SLOW
        stuck.close()


async def test_a_page_that_keeps_up_gets_every_message_of_bursts_within_the_cap() -> None:
    """The cap is on falling behind, not on volume: a reading page loses nothing and keeps its socket."""
    async with running_app(max_queued_messages=64) as (url, app):
        talkbox = app.state.talkbox
        async with Peer(url, "carol", 440.0) as carol:
            for burst in range(40):  # 40 bursts of 50, each queued whole before the first is sent
                for i in range(50):
                    await talkbox.bus.publish(CallRefused(user="carol", code="dnd", message=f"{burst}-{i}"))
                await carol.wait_for(lambda n=50 * (burst + 1): len(carol.refusals()) == n, timeout=10)
            got = [m["message"] for m in carol.messages if m["type"] == "refused"]
            assert got == [f"{burst}-{i}" for burst in range(40) for i in range(50)]
            await carol.call("carol")  # still connected: the server answers
            await carol.wait_for(lambda: "self_call" in carol.refusals())
