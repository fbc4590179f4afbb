"""(5) The router: events per second and per-event latency through the in-process bus.

The real InProcessBus and Router with TALKBOX_ROUTER_WORKERS' default (4) workers and
three handlers shaped like the real ones (provider, calls, gateway: each declares the
event types it handles); the handlers do nothing but count, so this is the cost of the
bus and the dispatch alone. Events are LegStatusChanged spread over 100 conferences.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

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


async def one_run(workers: int) -> dict[str, float]:
    bus = InProcessBus()
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
    return {"events_per_s": throughput, "latency_p50_us": percentile(latencies, 0.5), "latency_p99_us": percentile(
        latencies, 0.99)}


def run(runs: int, **_: Any) -> dict[str, Any]:
    pin_self("0")
    results = []
    for _ in range(runs):
        results.append(asyncio.run(one_run(workers=4)))
    return {
        "setup": f"{EVENTS} LegStatusChanged over {CONFERENCES} conferences, 4 workers, 3 counting handlers; "
        f"latency = {LATENCY_SAMPLES} events one at a time, publish to handler",
        "events_per_s": summary([r["events_per_s"] for r in results]),
        "latency_p50_us": summary([r["latency_p50_us"] for r in results]),
        "latency_p99_us": summary([r["latency_p99_us"] for r in results]),
    }


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    return [
        (
            "Router: in-process bus and router",
            ["setup", "events/s", "latency p50 (µs)", "latency p99 (µs)"],
            [
                [
                    result["setup"],
                    cell(result["events_per_s"], 0),
                    cell(result["latency_p50_us"]),
                    cell(result["latency_p99_us"]),
                ]
            ],
        )
    ]
