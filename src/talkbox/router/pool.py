"""A pool of consumers; one conference's events always go to the same one, in order.

Events are spread over the workers by a stable hash of their partition key
(the conference, else the user), so different conferences proceed in parallel
while each one sees its events in the order they were published.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from talkbox.events import Bus, Delivery, Event, partition_key

log = logging.getLogger(__name__)


class Handler(Protocol):
    handles: tuple[type, ...]

    async def handle(self, event: Event) -> None: ...


@dataclass
class Router:
    bus: Bus
    handlers: Sequence[Handler]
    size: int = 4
    _queues: list[asyncio.Queue[Delivery]] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._queues = [asyncio.Queue() for _ in range(self.size)]
        self._tasks = [asyncio.create_task(self._consume(queue)) for queue in self._queues]
        self._tasks.append(asyncio.create_task(self._dispatch()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def worker_for(self, event: Event) -> int:
        return zlib.crc32(partition_key(event).encode()) % self.size

    async def _dispatch(self) -> None:
        async for delivery in self.bus.deliveries():
            await self._queues[self.worker_for(delivery.event)].put(delivery)

    async def _consume(self, queue: asyncio.Queue[Delivery]) -> None:
        while True:
            delivery = await queue.get()
            for handler in self.handlers:
                if isinstance(delivery.event, handler.handles):
                    await self._handle(handler, delivery.event)
            await self.bus.ack(delivery)

    async def _handle(self, handler: Handler, event: Event) -> None:
        try:
            await handler.handle(event)
        except Exception:
            # One failing handler must not stop the conference's other events.
            log.exception("handler %s failed on %s", type(handler).__name__, event.type)
