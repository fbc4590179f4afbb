"""The bus: publish, consume, acknowledge.

The in-process bus is the embedded default. It keeps the Redis Streams shape
(deliveries acknowledged one by one) so the router does not care which it has.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from talkbox.events.models import Event


@dataclass(frozen=True)
class Delivery:
    id: int
    event: Event


class Bus(Protocol):
    async def publish(self, event: Event) -> None: ...

    def deliveries(self) -> AsyncIterator[Delivery]: ...

    async def ack(self, delivery: Delivery) -> None: ...


@dataclass
class InProcessBus:
    """An asyncio queue with acknowledgement bookkeeping."""

    _queue: asyncio.Queue[Delivery] = field(default_factory=asyncio.Queue)
    _next_id: int = 0
    pending: dict[int, Delivery] = field(default_factory=dict)

    async def publish(self, event: Event) -> None:
        self._next_id += 1
        await self._queue.put(Delivery(self._next_id, event))

    async def deliveries(self) -> AsyncIterator[Delivery]:
        while True:
            delivery = await self._queue.get()
            self.pending[delivery.id] = delivery
            yield delivery

    async def ack(self, delivery: Delivery) -> None:
        self.pending.pop(delivery.id, None)

    async def drained(self) -> None:
        """Wait until everything published so far has been handled (tests, shutdown)."""
        while not self._queue.empty() or self.pending:
            await asyncio.sleep(0.005)
