"""One node of the Redis bus in a process of its own, for tests that kill, freeze or stop it for real.

    python -m tests.support.bus_node URL NODE_ID LEASE MODE

It prints one JSON line per event it is handed ({"got": TYPE, "key": KEY, "id": ID})
and, by MODE: `hold` never acknowledges; `ack-on-line` acknowledges the oldest
held event for each line read on stdin, printing {"acked": ID, "ok": BOOL};
`ack` acknowledges at once. It prints {"owns": [...]} when it has started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys

from talkbox.events import Delivery, partition_key
from talkbox.events.redis_bus import RedisBus


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


async def main(url: str, node_id: str, lease: float, mode: str) -> None:
    bus = RedisBus(url, node_id=node_id, lease=lease)
    await bus.start()
    say(owns=bus.owned())
    consuming = asyncio.create_task(consume(bus, mode))
    # SIGTERM is a node stopping on purpose: it hands its partitions back before it exits.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, consuming.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await consuming
    await bus.close()
    say(closed=True)


async def consume(bus: RedisBus, mode: str) -> None:
    held: asyncio.Queue[Delivery] = asyncio.Queue()
    if mode == "ack-on-line":
        asyncio.create_task(ack_on_lines(bus, held))
    async for delivery in bus.deliveries():
        say(got=delivery.event.type, key=partition_key(delivery.event), id=delivery.id)
        if mode == "ack":
            say(acked=delivery.id, ok=await bus.ack(delivery))
        else:
            held.put_nowait(delivery)


async def ack_on_lines(bus: RedisBus, held: asyncio.Queue[Delivery]) -> None:
    loop = asyncio.get_running_loop()
    while await loop.run_in_executor(None, sys.stdin.readline):
        delivery = await held.get()
        say(acked=delivery.id, ok=await bus.ack(delivery))


if __name__ == "__main__":
    url, node_id, lease, mode = sys.argv[1:5]
    asyncio.run(main(url, node_id, float(lease), mode))
