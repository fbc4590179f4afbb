"""Uvicorn's sans-I/O websocket protocol, holding less for each socket's life.

Ten thousand idle pages on one node are ten thousand of these (bench/README.md, "Idle pages"). Uvicorn's own
keeps, for as long as the socket is open, the handshake's request and response (websockets' objects with
their headers), an asyncio.Queue for what the page sends (three deques of 64 slots each) and an asyncio.Event
(one more). This one lets go of the handshake's headers once the socket is accepted, and keeps a list and a future.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class Inbox:
    """asyncio.Queue's put_nowait, get and empty for the protocol's one reader (the app's receive)."""

    def __init__(self) -> None:
        # A list: uvicorn pauses reading at each message until the app takes it, so it holds one or two.
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items


class Gate:
    """asyncio.Event's set, clear and wait, with waiters made only while it is shut (writes paused)."""

    def __init__(self) -> None:
        self._open = False
        self._waiters: list[asyncio.Future[None]] = []

    def set(self) -> None:
        self._open = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters = []

    def clear(self) -> None:
        self._open = False

    async def wait(self) -> None:
        if self._open:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """`uvicorn.Config(ws=LeanWebSocketProtocol)`: the same protocol, its per-socket state trimmed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Gate()  # type: ignore[assignment]
        self.writable.set()

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # Read only to answer the handshake, which is done: its headers need not live as long as the socket.
            # Emptied, not only dropped: websockets' parser keeps the request in its generator's frame.
            self.request.headers.clear()
            del self.request, self.response
