"""(12) Two nodes on Redis against one: call set-ups per second and dial-to-ringing, across nodes.

The signalling bench's flow (bench/signalling.py, `null` engine: media left out), with
alice{i}'s page on one node and bob{i}'s on the other when there are two:

- `one node`: the in-process bus and store, as `signalling`'s rung_and_rejected;
- `one node, Redis`: the same node on a redis-server (bus, store, outboxes, presence);
- `two nodes, Redis`: two such nodes on one redis-server, every call from one node's page to the
  other's, each call placed by load on either node.

Every node is pinned to core 0 (two nodes share it: the comparison is what Redis and crossing
nodes cost, not how far two machines scale); the pages are in this process on core 1, and
redis-server (no persistence) is left to the scheduler. The Redis bus's own events/s is the
router bench's `redis` row.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.redis_server import redis_server

from bench.common import cell, percentile, pin_self, server, summary
from bench.signalling import leg_of, next_message, page

PAIRS = 20
CALLS_PER_PAIR = 10
TIMEOUT = 180
SETUPS = ("one node", "one node, Redis", "two nodes, Redis")


async def rung_and_rejected(alice_url: str, bob_url: str, index: int, delays: list[float]) -> None:
    """alice calls bob, her own leg answered at once; bob's leg rings (the delay), he rejects; the call ends."""
    alice_name, bob_name = f"alice{index}", f"bob{index}"
    alice, bob = await page(alice_url, alice_name), await page(bob_url, bob_name)
    try:
        for _ in range(CALLS_PER_PAIR):
            sent = time.perf_counter()
            await alice.send(json.dumps({"type": "call", "to": bob_name}))
            offer = await next_message(alice, lambda m: m["type"] == "offer")
            await alice.send(json.dumps({"type": "answer", "leg_id": offer["leg_id"], "sdp": "v=0\r\n"}))

            def bob_ringing(m: dict[str, Any]) -> bool:
                leg = leg_of(m["conference"], bob_name) if m["type"] == "conference" else None
                return leg is not None and leg["status"] == "ringing"

            await next_message(alice, bob_ringing)
            delays.append(time.perf_counter() - sent)
            bob_offer = await next_message(bob, lambda m: m["type"] == "offer")
            await bob.send(json.dumps({"type": "reject", "leg_id": bob_offer["leg_id"]}))
            await next_message(alice, lambda m: m["type"] == "conference" and m["conference"]["status"] == "ended")
            # bob's page hears of the call until his own leg ends (a page is told only of calls it is on)
            await next_message(
                bob, lambda m: m["type"] == "conference" and leg_of(m["conference"], bob_name)["status"] == "busy"
            )
    finally:
        await alice.close()
        await bob.close()


async def call_rate(alice_url: str, bob_url: str) -> dict[str, float]:
    delays: list[float] = []
    start = time.perf_counter()
    async with asyncio.timeout(TIMEOUT):
        await asyncio.gather(*(rung_and_rejected(alice_url, bob_url, i, delays) for i in range(PAIRS)))
    elapsed = time.perf_counter() - start
    return {
        "calls_per_s": PAIRS * CALLS_PER_PAIR / elapsed,
        "ringing_p50_ms": percentile(delays, 0.5) * 1e3,
        "ringing_p99_ms": percentile(delays, 0.99) * 1e3,
    }


@contextlib.contextmanager
def nodes(setup: str) -> Iterator[tuple[str, str]]:
    """The URLs alice's and bob's pages use."""
    if setup == "one node":
        with server("null") as one:
            yield one.url, one.url
        return
    with tempfile.TemporaryDirectory() as folder, redis_server(Path(folder)) as store:
        redis = ("--redis-url", store.url)
        with server("null", extra=(*redis, "--node-id", "one")) as one:
            if setup == "one node, Redis":
                yield one.url, one.url
                return
            with server("null", extra=(*redis, "--node-id", "two")) as two:
                time.sleep(3)  # node two takes its share of the bus (a few lease renewals) before the calls
                yield one.url, two.url


def run(runs: int, **_: Any) -> dict[str, Any]:
    pin_self("1")
    samples: dict[str, list[dict[str, float]]] = {setup: [] for setup in SETUPS}
    for _ in range(runs):
        for setup in SETUPS:
            with nodes(setup) as (alice_url, bob_url):
                samples[setup].append(asyncio.run(call_rate(alice_url, bob_url)))
    return {
        "setup": f"null engine; {PAIRS} pairs x {CALLS_PER_PAIR} calls, concurrently; nodes on core 0",
        "setups": {
            setup: {key: summary([s[key] for s in runs_]) for key in runs_[0]} for setup, runs_ in samples.items()
        },
    }


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    rows = [
        [setup, cell(s["calls_per_s"]), cell(s["ringing_p50_ms"]), cell(s["ringing_p99_ms"])]
        for setup, s in result["setups"].items()
    ]
    return [
        (
            f"Nodes: calls rung and rejected ({result['setup']})",
            ["setup", "calls/s", "dial-to-ringing p50 (ms)", "p99 (ms)"],
            rows,
        )
    ]
