"""The bus: publish, consume, acknowledge.

The in-process bus is the embedded default. It keeps the Redis Streams shape
(deliveries acknowledged one by one) so the router does not care which it has.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from talkbox.events.fence import Fence
from talkbox.events.models import Event


class BusUnavailable(Exception):
    """The bus would not take an event (Redis unreachable): nothing was published, the asker may try again."""


@dataclass(frozen=True)
class Delivery:
    """One event handed to this node; `partition` and `lease` say under which ownership (Redis), for the ack.

    `redelivered`: handed out before (its node died, or its read was cut short), so some handlers may have
    applied it already.
    """

    id: int | str
    event: Event
    partition: int = 0
    lease: str = ""
    redelivered: bool = False


class Bus(Protocol):
    async def start(self) -> None: ...

    async def publish(self, event: Event) -> None:
        """Raises BusUnavailable when the event could not be published."""
        ...

    def deliveries(self) -> AsyncIterator[Delivery]: ...

    async def ack(self, delivery: Delivery) -> bool:
        """False when it was not this node's to acknowledge (any more): then it is handed out again."""
        ...

    def fence(self, delivery: Delivery, handler: str) -> Fence | None:
        """What `handler`'s writes for this delivery are made under (events/fence.py); None: nothing to fence."""
        ...

    async def applied(self, delivery: Delivery) -> frozenset[str]:
        """The handlers whose write for this delivery is stored already (it was handed out before)."""
        ...

    async def drained(self) -> None:
        """Wait until everything published so far has been handled (tests, shutdown)."""
        ...

    async def unacknowledged(self) -> int: ...

    async def close(self) -> None: ...


@dataclass
class InProcessBus:
    """An asyncio queue with acknowledgement bookkeeping."""

    _queue: asyncio.Queue[Delivery] = field(default_factory=asyncio.Queue)
    _next_id: int = 0
    pending: dict[int | str, Delivery] = field(default_factory=dict)

    async def start(self) -> None:
        pass

    async def publish(self, event: Event) -> None:
        self._next_id += 1
        await self._queue.put(Delivery(self._next_id, event))

    async def deliveries(self) -> AsyncIterator[Delivery]:
        while True:
            delivery = await self._queue.get()
            self.pending[delivery.id] = delivery
            yield delivery

    async def ack(self, delivery: Delivery) -> bool:
        return self.pending.pop(delivery.id, None) is not None

    def fence(self, delivery: Delivery, handler: str) -> Fence | None:
        return None  # one process: an event is never handed out twice, and nobody else writes

    async def applied(self, delivery: Delivery) -> frozenset[str]:
        return frozenset()

    async def drained(self) -> None:
        while not self._queue.empty() or self.pending:
            await asyncio.sleep(0.005)

    async def unacknowledged(self) -> int:
        return len(self.pending)

    async def close(self) -> None:
        pass
