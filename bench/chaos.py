"""(12) Chaos: calls through two nodes behind nginx while nodes are killed, stopped and restarted, and Redis once.

`python -m bench --only chaos` (CHAOS_SECONDS, default 180; CHAOS_SEED). tests/component/test_chaos.py
runs the same for half a minute in `make test`.

Pairs of pages (aiortc peers that play tones, docs/protocol.md, reconnecting
through nginx by themselves as the page does) call each other over and over:
the callee's page accepts, both must hear each other, the caller hangs up.
Meanwhile, at random moments, a node is SIGKILLed or SIGTERMed (then started
again), and Redis is restarted once. At the end, with every node back and
things settled, it checks:

- every call request was applied exactly once: one conference per call a
  caller's page saw created, no conference whose log holds the same cause
  twice, nothing left pending on the bus, no dead letter;
- no conference is stuck: none is left live (the pairs hang up), or if one is,
  its legs are live and its two pages hear each other;
- no page is stuck: each is idle, or in its call with audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import random
import signal
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from tests.support.nodes import Node, hear_each_other, nodes_behind_nginx
from tests.support.peer import Peer
from tests.support.redis_server import RedisServer, redis_server

from talkbox.events.redis_bus import PARTITIONS, redis_client

PAIRS = 3
LIVE = ("queued", "initiated", "ringing", "in-progress")
STEP_TIMEOUT = 25.0  # a call's set-up or end, through a kill and a takeover
SETTLE_SECONDS = 30.0
# What a step may meet while its node is gone: no answer in time, or the page's socket between two servers.
TROUBLE = (TimeoutError, ConnectionError, OSError, websockets.ConnectionClosed)


@dataclass
class Tally:
    calls_placed: int = 0
    not_sent: int = 0  # tries while the caller's socket was between two servers
    calls_heard: int = 0
    calls_failed: Counter[str] = field(default_factory=Counter)  # why a call did not go the whole way
    kills: int = 0
    stops: int = 0
    redis_restarts: int = 0
    chaos: list[str] = field(default_factory=list)


def _active(peer: Peer) -> dict[str, Any] | None:
    """The call the page is on: a live conference with the page's own leg live (as the page shows it: a leg that
    failed leaves its page idle, and the page is not told of the rest of that call)."""
    return next((c for c in peer.conferences.values() if c["status"] == "active" and _mine_live(peer, c)), None)


def _mine_live(peer: Peer, conference: dict[str, Any]) -> bool:
    return any(leg["destination"] == peer.name and leg["status"] in LIVE for leg in conference["legs"])


def _new_call_up(caller: Peer, before: set[str]) -> bool:
    conference = _active(caller)
    return conference is not None and conference["id"] not in before and _legs_live(conference)


def _legs_live(conference: dict[str, Any]) -> bool:
    live = [leg for leg in conference["legs"] if leg["end_reason"] is None]
    return len(live) == 2 and all(leg["status"] == "in-progress" for leg in live)


async def _pair(caller: Peer, callee: Peer, tally: Tally, stopping: asyncio.Event, rng: random.Random) -> None:
    """Call, hear, hang up, over and over; a step that does not finish is counted and the pair starts again."""
    while not stopping.is_set():
        seen, said = set(caller.conferences), len(caller.messages)
        try:
            await caller.call(callee.name)
        except websockets.ConnectionClosed:  # the page is between two servers: it places no call now
            tally.not_sent += 1
            await asyncio.sleep(0.5)
            continue
        tally.calls_placed += 1
        try:
            await caller.wait_for(functools.partial(_new_call_up, caller, seen), timeout=STEP_TIMEOUT)
            await hear_each_other(caller, callee)
            tally.calls_heard += 1
            await asyncio.sleep(rng.uniform(1.0, 3.0))
        except TROUBLE as error:
            refused = [m.get("code") for m in caller.messages[said:] if m["type"] in ("refused", "error")]
            why = f"refused: {refused[-1]}" if refused else f"not set up or not heard ({type(error).__name__})"
            tally.calls_failed[why] += 1
            await asyncio.sleep(0.5)  # its socket may be between two servers
        try:
            await _hang_up_everything(caller)
        except TROUBLE:
            tally.calls_failed["not ended in time"] += 1
            await asyncio.sleep(1.0)


async def _hang_up_everything(peer: Peer) -> None:
    """Hang up whatever call the page is on, until the page sees none."""
    async with asyncio.timeout(STEP_TIMEOUT):
        while (conference := _active(peer)) is not None:
            with contextlib.suppress(*TROUBLE):
                await peer.send({"type": "hang_up", "conference_id": conference["id"]})
            with contextlib.suppress(TimeoutError):
                await peer.wait_for(lambda: _active(peer) is None, timeout=3)


async def _chaos(nodes: list[Node], store: RedisServer, seconds: float, tally: Tally, rng: random.Random) -> None:
    """At random moments a node is killed or stopped, and started again; Redis is restarted once.

    The first three are a kill, a stop and the Redis restart, so a short run has one of each; then kills
    and stops at random until the time is up.
    """
    began = time.monotonic()
    first = ["kill", "stop", "redis"]
    while first or time.monotonic() - began < seconds - 8:
        await asyncio.sleep(rng.uniform(3.0, 8.0))
        kind = first.pop(0) if first else rng.choice(("kill", "stop"))
        if kind == "redis":
            tally.chaos.append(f"{time.monotonic() - began:5.1f} s: Redis restarted")
            store.stop()
            await asyncio.sleep(2.0)
            store.start()
            tally.redis_restarts += 1
            continue
        node = rng.choice(nodes)
        tally.chaos.append(f"{time.monotonic() - began:5.1f} s: {kind} node {node.name}")
        if kind == "kill":
            node.signal(signal.SIGKILL)
            tally.kills += 1
            await node.exited()
            await asyncio.sleep(rng.uniform(1.0, 4.0))
        else:
            node.signal(signal.SIGTERM)
            tally.stops += 1
            await node.exited(timeout=90)
        await node.start()


async def _bus_left(client: Any) -> tuple[int, int]:
    """Entries handed out and not acknowledged, and entries not yet read, over every partition."""
    pending = lag = 0
    for partition in range(PARTITIONS):
        for group in await client.xinfo_groups(f"talkbox:bus:{partition}"):
            pending += int(group["pending"])
            lag += int(group.get("lag") or 0)
    return pending, lag


async def _pending_entries(client: Any) -> list[dict[str, Any]]:
    """What is left pending at the end, each with who holds it and who owns its partition (no payload: SDP)."""
    left = []
    for partition in range(PARTITIONS):
        stream = f"talkbox:bus:{partition}"
        for row in await client.xpending_range(stream, "talkbox", min="-", max="+", count=10):
            [(_id, fields)] = await client.xrange(stream, min=row["message_id"], max=row["message_id"]) or [(0, {})]
            owner = await client.get(f"talkbox:lease:{partition}")
            left.append({
                "partition": partition,
                "type": json.loads(fields[b"e"])["type"] if fields else None,
                "consumer": row["consumer"].decode(),
                "lease": owner.decode() if owner else None,
                "idle_ms": row["time_since_delivered"],
                "delivered": row["times_delivered"],
            })  # fmt: skip
    return left


async def _page_story(client: Any, page: Peer) -> dict[str, Any]:
    """What a page still on a call at the end saw, and what its user's outbox holds after it."""
    conference = _active(page)
    assert conference is not None
    stored = await client.get(f"talkbox:conference:{conference['id']}")
    after = f"({page.last_seq}" if page.last_seq is not None else "-"
    missed = await client.xrange(f"talkbox:outbox:{page.name}", min=after, count=10)
    return {
        "page": page.name,
        "conference": conference["id"],
        "stored_legs": [(leg["destination"], leg["status"]) for leg in json.loads(stored)["legs"]] if stored else None,
        "closes": page.closes,
        "last_seq": page.last_seq,
        "last_messages": [(m["type"], m.get("seq")) for m in page.messages[-6:]],
        "outbox_after_last_seq": [(entry_id.decode(), json.loads(f[b"m"]).get("type")) for entry_id, f in missed],
    }


async def _check(client: Any, pairs: list[tuple[Peer, Peer]]) -> dict[str, Any]:
    conferences: list[dict[str, Any]] = []
    async for key in client.scan_iter(match="talkbox:conference:*", count=500):
        conferences.append(json.loads(await client.get(key)))
    created: Counter[str] = Counter()  # per caller: conferences the caller's page saw it chair
    for caller, _callee in pairs:
        created[caller.name] = sum(c["chair"] == caller.name for c in caller.conferences.values())
    stored = Counter(
        next(leg["destination"] for leg in c["legs"] if leg["id"] == c["chair_leg_id"]) for c in conferences
    )
    twice = 0
    for conference in conferences:
        causes = await client.lrange(f"talkbox:log:{conference['id']}", 0, -1)
        twice += len(causes) - len(set(causes))
    live = [c for c in conferences if any(leg["status"] in LIVE for leg in c["legs"])]
    stuck_conferences = 0
    for conference in live:
        people = {leg["destination"] for leg in conference["legs"]}
        pair = next(((a, b) for a, b in pairs if {a.name, b.name} >= people), None)
        try:
            assert pair is not None and _legs_live(conference)
            await hear_each_other(*pair)
        except (AssertionError, TimeoutError):
            stuck_conferences += 1
    stuck_pages = 0
    for caller, callee in pairs:
        for page in (caller, callee):
            if _active(page) is None:
                continue
            try:
                await hear_each_other(caller, callee)
            except TimeoutError:
                stuck_pages += 1
    pending, lag = await _bus_left(client)
    return {
        "conferences": len(conferences),
        "conferences_live_at_end": len(live),
        "calls_the_pages_saw_created": sum(created.values()),
        "created_not_stored_or_stored_twice": sum(abs(stored[name] - count) for name, count in created.items()),
        "causes_applied_twice": twice,
        "bus_pending": pending,
        "pending_entries": await _pending_entries(client) if pending else [],
        "bus_unread": lag,
        "dead_letters": int(await client.get("talkbox:dead-total") or 0),
        "stuck_conferences": stuck_conferences,
        "stuck_pages": stuck_pages,
    }


async def chaos(seconds: float, folder: Path, seed: int) -> dict[str, Any]:
    rng, tally = random.Random(seed), Tally()
    (folder / "redis").mkdir(parents=True, exist_ok=True)
    env = {"TALKBOX_REDIS_LEASE": "2", "TALKBOX_STOP_DELAY": "1", "TALKBOX_DRAIN_TIMEOUT": "5",
           "TALKBOX_LOG_LEVEL": "warning"}  # fmt: skip
    with redis_server(folder / "redis", persistent=True) as store:
        client = redis_client(store.url)
        async with nodes_behind_nginx(folder, store.url, **env) as (nginx, nodes), contextlib.AsyncExitStack() as pages:
            pairs = []
            for n in range(PAIRS):
                caller = await pages.enter_async_context(Peer(nginx.url, f"caller{n}", 440.0, reconnect=True))
                callee = await pages.enter_async_context(
                    Peer(nginx.url, f"callee{n}", 880.0, auto_accept=True, reconnect=True)
                )
                pairs.append((caller, callee))
            stopping = asyncio.Event()
            calls = [asyncio.create_task(_pair(a, b, tally, stopping, rng)) for a, b in pairs]
            began = time.monotonic()
            await _chaos(nodes, store, seconds, tally, rng)
            stopping.set()
            await asyncio.wait(calls, timeout=3 * STEP_TIMEOUT)
            for node in nodes:
                if node.process is None or node.process.poll() is not None:
                    await node.start()
            # Settled: every page back on a socket and idle, and the bus read to its end.
            settled = True
            try:
                async with asyncio.timeout(SETTLE_SECONDS):
                    while any(_active(p) is not None for pair in pairs for p in pair) or any(await _bus_left(client)):
                        await asyncio.sleep(0.2)
            except TimeoutError:
                settled = False  # the checks say what is left
            checks = await _check(client, pairs)
            stories = [await _page_story(client, page) for pair in pairs for page in pair if _active(page)]
            ran = time.monotonic() - began
        await client.aclose()
    return {
        "seconds": round(ran, 1),
        "seed": seed,
        "pairs": PAIRS,
        "calls_placed": tally.calls_placed,
        "calls_not_sent_socket_reconnecting": tally.not_sent,
        "calls_heard": tally.calls_heard,
        "calls_failed": dict(tally.calls_failed),
        "kills": tally.kills,
        "stops": tally.stops,
        "redis_restarts": tally.redis_restarts,
        "chaos": tally.chaos,
        "settled": settled,
        "pages_on_a_call_at_end": stories,
        **checks,
    }


def run(runs: int, **_: Any) -> dict[str, Any]:
    seconds = float(os.environ.get("CHAOS_SECONDS") or 180)
    seed = int(os.environ.get("CHAOS_SEED") or time.time())
    with tempfile.TemporaryDirectory() as folder:
        return asyncio.run(chaos(seconds, Path(folder), seed))


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    keys = [k for k in result if k not in ("chaos", "calls_failed", "loadavg_after")]
    rows = [[key, result[key]] for key in keys]
    rows += [[f"failed: {why}", count] for why, count in result["calls_failed"].items()]
    return [
        ("Chaos: counts", ["what", "count"], rows),
        ("Chaos: what happened when", ["event"], [[line] for line in result["chaos"]]),
    ]
