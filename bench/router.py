"""(5) The router: events per second and per-event latency through each bus.

The real InProcessBus, and the real RedisBus on a redis-server of its own (started here,
unpinned, nothing saved), and Router with TALKBOX_ROUTER_WORKERS' default (4) workers and
three handlers shaped like the real ones (provider, calls, gateway: each declares the
event types it handles); the handlers do nothing but count, so this is the cost of the
bus and the dispatch alone. Events are LegStatusChanged spread over 100 conferences.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.redis_server import redis_server

from bench.common import cell, percentile, pin_self, summary
from talkbox.events import (
    ClientAnsweredLeg,
    ConferenceUpdated,
    Event,
    InProcessBus,
    LegOffered,
    LegStatusChanged,
    PresenceChanged,
    UserRequestsCall,
)
from talkbox.events.bus import Bus
from talkbox.events.redis_bus import RedisBus
from talkbox.router import Router

EVENTS = 20_000
LATENCY_SAMPLES = 2_000
CONFERENCES = 100


class Counting:
    def __init__(self, handles: tuple[type, ...]) -> None:
        self.handles = handles
        self.count = 0
        self.done = asyncio.Event()
        self.target = 0

    async def handle(self, event: Event) -> None:
        self.count += 1
        if self.count >= self.target:
            self.done.set()


def events(n: int) -> list[Event]:
    return [
        LegStatusChanged(
            conference_id=f"c-{i % CONFERENCES}", leg_id=f"l-{i % (CONFERENCES * 3)}", status="ringing", sequence=i
        )
        for i in range(n)
    ]


async def one_run(workers: int, bus: Bus) -> dict[str, float]:
    await bus.start()
    provider = Counting((PresenceChanged, ClientAnsweredLeg))
    calls = Counting((UserRequestsCall, LegStatusChanged))
    gateway = Counting((ConferenceUpdated, LegOffered))
    router = Router(bus, handlers=(provider, calls, gateway), size=workers)
    router.start()
    try:
        batch = events(EVENTS)
        calls.target = EVENTS
        start = time.perf_counter()
        for event in batch:
            await bus.publish(event)
        await calls.done.wait()
        throughput = EVENTS / (time.perf_counter() - start)

        # One event at a time: from publish to the handler, nothing else queued.
        latencies = []
        for event in events(LATENCY_SAMPLES):
            calls.done.clear()
            calls.target = calls.count + 1
            sent = time.perf_counter()
            await bus.publish(event)
            await calls.done.wait()
            latencies.append((time.perf_counter() - sent) * 1e6)
        await bus.drained()
    finally:
        await router.stop()
        await bus.close()
    return {
        "events_per_s": throughput,
        "latency_p50_us": percentile(latencies, 0.5),
        "latency_p99_us": percentile(latencies, 0.99),
    }


def measure(runs: int, make_bus: Callable[[], Bus]) -> dict[str, Any]:
    results = [asyncio.run(one_run(workers=4, bus=make_bus())) for _ in range(runs)]
    return {
        "events_per_s": summary([r["events_per_s"] for r in results]),
        "latency_p50_us": summary([r["latency_p50_us"] for r in results]),
        "latency_p99_us": summary([r["latency_p99_us"] for r in results]),
    }


def run(runs: int, **_: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder, redis_server(Path(folder)) as redis:
        pin_self("0")  # after redis-server started: it runs on whichever core is free
        return {
            "setup": f"{EVENTS} LegStatusChanged over {CONFERENCES} conferences, 4 workers, 3 counting handlers; "
            f"latency = {LATENCY_SAMPLES} events one at a time, publish to handler",
            "in-process": measure(runs, InProcessBus),
            "redis": measure(runs, lambda: RedisBus(redis.url, node_id="bench")),
        }


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    return [
        (
            "Router: each bus and the router",
            ["bus", "events/s", "latency p50 (µs)", "latency p99 (µs)"],
            [
                [
                    name,
                    cell(result[name]["events_per_s"], 0),
                    cell(result[name]["latency_p50_us"]),
                    cell(result[name]["latency_p99_us"]),
                ]
                for name in ("in-process", "redis")
            ],
        )
    ]
