"""A node that applies calls' events from the Redis bus to the Redis store, in a process of its own to kill or freeze.

    python -m tests.support.call_node URL NODE_ID LEASE MODE

The real router, CallHandler and RedisStore, with a provider that carries no
media. It prints {"owns": [...]} once started, {"acked": ID, "ok": BOOL} for
each acknowledgement, and by MODE:
- `lose-first-ack`: the first acknowledgement never reaches Redis (as when the
  connection drops it; printed {"lost": ID}), and the node goes on with the next
  events, until it is killed before its renewal would make it again;
- `hold-first`: the first event waits, before CallHandler sees it, for a line
  on stdin (printed {"holding": TYPE}): a node frozen mid-event.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

from talkbox.events import Delivery, Event, UserMutesLeg
from talkbox.events.fence import Fence
from talkbox.events.redis_bus import RedisBus, redis_client
from talkbox.router import Router
from talkbox.telephony.handler import CallHandler
from talkbox.telephony.provider import ResumeLeg
from talkbox.telephony.redis_store import RedisStore
from talkbox.telephony.rules import DialLeg, HangUpLeg, MuteLeg, PlayToLeg, SendDigits


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


class NoMedia:
    """Only the store matters here: a mute is the leg's state, which these tests read back."""

    name = "no-media"

    async def dial(self, command: DialLeg) -> None: ...

    async def hang_up(self, command: HangUpLeg) -> None: ...

    async def mute(self, command: MuteLeg) -> None: ...

    async def play(self, command: PlayToLeg) -> None: ...

    async def send_digits(self, command: SendDigits) -> None: ...

    async def resume(self, command: ResumeLeg) -> None: ...

    async def close(self) -> None: ...


@dataclass
class Printed:
    """The node's bus as its router sees it: every acknowledgement printed, the first one lost if asked."""

    bus: RedisBus
    lose_first: bool

    def deliveries(self) -> AsyncIterator[Delivery]:
        return self.bus.deliveries()

    def fence(self, delivery: Delivery, handler: str) -> Fence:
        return self.bus.fence(delivery, handler)

    async def applied(self, delivery: Delivery) -> frozenset[str]:
        return await self.bus.applied(delivery)

    async def ack(self, delivery: Delivery) -> bool:
        if self.lose_first:
            self.lose_first = False
            say(lost=delivery.id)
            return False
        ok = await self.bus.ack(delivery)
        say(acked=delivery.id, ok=ok)
        return ok


@dataclass
class Gate:
    """Holds the first event it is handed until stdin says go."""

    handles = (UserMutesLeg,)
    held: bool = False

    async def handle(self, event: Event) -> None:
        if self.held:
            return
        self.held = True
        say(holding=event.type)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def main(url: str, node_id: str, lease: float, mode: str) -> None:
    bus = RedisBus(url, node_id=node_id, lease=lease)
    await bus.start()
    calls = CallHandler(store=RedisStore(redis_client(url)), providers={"browser": NoMedia()}, publish=bus.publish)
    handlers = (Gate(), calls) if mode == "hold-first" else (calls,)
    router = Router(Printed(bus, lose_first=mode == "lose-first-ack"), handlers, size=1)  # type: ignore[arg-type]
    router.start()
    say(owns=bus.owned())
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    url, node_id, lease, mode = sys.argv[1:5]
    asyncio.run(main(url, node_id, float(lease), mode))
