"""A pool of consumers; one conference's events always go to the same one, in order.

Events are spread over the workers by a stable hash of their partition key
(the conference, else the user), so different conferences proceed in parallel
while each one sees its events in the order they were published.

Handling is at least once, with a bound: a handler that raises gets the event
again after a short backoff, up to `attempts` times in all, and then the event
becomes a dead letter for that handler. The retries hold up only the worker's
later events, and only for the few backoffs; the other handlers are not run
again (each handler is retried on its own).

With several nodes each handler runs under the delivery's fence (events/fence.py):
its store writes are refused once this node lost the partition, and mark the
delivery applied by that handler in their own transaction. A delivery handed
out again skips the handlers so marked, so it changes nothing they stored.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from talkbox.events import Bus, Delivery, Event, partition_key
from talkbox.events.fence import NotOwner, fenced
from talkbox.events.log_context import about_event
from talkbox.router.dead_letters import DeadLetters

log = logging.getLogger(__name__)


class Handler(Protocol):
    handles: tuple[type, ...]

    async def handle(self, event: Event) -> None: ...


@dataclass
class Router:
    bus: Bus
    handlers: Sequence[Handler]
    size: int = 4
    attempts: int = 3
    backoff: float = 0.05  # seconds before the second attempt, doubling after
    dead_letters: DeadLetters = field(default_factory=DeadLetters)
    # With several nodes, each dead letter is also kept where every node's are (the Redis bus).
    share_dead_letter: Callable[[dict[str, str | int | float]], Awaitable[None]] | None = None
    _queues: list[asyncio.Queue[Delivery]] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a handler gets an event at least once: attempts must be 1 or more")

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
            about_event(delivery.event)  # every line a handler logs names the event's conference and leg
            await self._deliver(delivery)
            await self.bus.ack(delivery)  # refused by the bus (fenced) if the partition moved meanwhile

    async def _deliver(self, delivery: Delivery) -> None:
        done = await self.bus.applied(delivery)
        for handler in self.handlers:
            name = type(handler).__name__
            if not isinstance(delivery.event, handler.handles) or name in done:
                continue
            with fenced(self.bus.fence(delivery, name)):
                if not await self._handle(handler, name, delivery.event):
                    return

    async def _share(self, letter: dict[str, str | int | float]) -> None:
        if self.share_dead_letter is None:
            return
        try:
            await self.share_dead_letter(letter)
        except Exception as error:  # kept here all the same; Redis being away must not stop the worker
            log.warning("could not share a dead letter: %r", error)

    async def _handle(self, handler: Handler, name: str, event: Event) -> bool:
        """Try, retry a few times, then give up into the dead letters: never raise.

        False when this node lost the event's partition: no other handler runs it here (the new owner does).
        """
        for attempt in range(1, self.attempts + 1):
            try:
                await handler.handle(event)
                return True
            except NotOwner as error:
                log.warning("%s's write for %s was refused, %s: its new owner handles it", name, event.type, error)
                return False
            except Exception as error:
                if attempt >= self.attempts:
                    letter = self.dead_letters.add(event, name, error, attempt)
                    await self._share(letter.as_json())
                    return True
                log.warning("handler %s failed on %s (attempt %d), retrying: %r", name, event.type, attempt, error)
            await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
