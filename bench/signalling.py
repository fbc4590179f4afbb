"""(4) Signalling: calls set up per second, dial-to-ringing latency, idle pages per node.

The server runs in its own process on core 0 (bench/server.py); the pages are plain
websocket clients in this process on core 1, speaking docs/protocol.md.

- `null` engine (media left out, see bench/server.py): alice calls bob, answers her own
  leg at once (no media), bob's leg rings, bob rejects, the call ends `busy`. Dial-to-ringing
  is from alice's `call` to the `conference` message that shows bob's leg ringing. This is
  the whole signalling path (gateway, router, rules, store) of a call that is rung and refused.
- `builtin` engine: the same `call`, with the real engine, which makes an RTCPeerConnection
  and an SDP offer for alice's own leg; dial-to-ringing is to alice's own leg ringing, then
  she hangs up. This is what an offer costs the engine (no ICE, no DTLS: nobody answers).
- Idle pages: K sockets that connect, get `welcome`, and stay open; the server's resident
  memory before and after, per socket.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request
from typing import Any

import websockets

from bench.common import cell, cpu_seconds, percentile, pin_self, rss_bytes, server, summary

PAIRS = 50
CALLS_PER_PAIR = 10
BUILTIN_PAIRS = 10
BUILTIN_CALLS_PER_PAIR = 10
IDLE_PAGES = (1000, 2000, 4000)
TIMEOUT = 120


async def page(url: str, name: str) -> websockets.ClientConnection:
    socket = await websockets.connect(f"{url.replace('http', 'ws', 1)}/ws?client_name={name}", max_queue=None)
    welcome = json.loads(await socket.recv())
    assert welcome["type"] == "welcome", welcome
    return socket


async def next_message(socket: websockets.ClientConnection, wanted: Any) -> dict[str, Any]:
    while True:
        message = json.loads(await socket.recv())
        if wanted(message):
            return message


def leg_of(conference: dict[str, Any], who: str) -> dict[str, Any] | None:
    return next((leg for leg in conference["legs"] if leg["destination"] == who), None)


async def rung_and_rejected(url: str, index: int, calls: int, delays: list[float]) -> None:
    alice_name, bob_name = f"alice{index}", f"bob{index}"
    alice, bob = await page(url, alice_name), await page(url, bob_name)
    try:
        for _ in range(calls):
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

            # Bob's last frame of the call is the one that shows his leg ended (docs/protocol.md: nothing more
            # comes to a user whose leg ended), not the conference's end.
            def bob_rejected(m: dict[str, Any]) -> bool:
                leg = leg_of(m["conference"], bob_name) if m["type"] == "conference" else None
                return leg is not None and leg["status"] == "busy"

            await next_message(bob, bob_rejected)
    finally:
        await alice.close()
        await bob.close()


async def offered_and_canceled(url: str, index: int, calls: int, delays: list[float]) -> None:
    alice_name = f"alice{index}"
    alice, bob = await page(url, alice_name), await page(url, f"bob{index}")
    try:
        for _ in range(calls):
            sent = time.perf_counter()
            await alice.send(json.dumps({"type": "call", "to": f"bob{index}"}))

            def own_ringing(m: dict[str, Any]) -> bool:
                leg = leg_of(m["conference"], alice_name) if m["type"] == "conference" else None
                return leg is not None and leg["status"] == "ringing"

            ringing = await next_message(alice, own_ringing)
            delays.append(time.perf_counter() - sent)
            await alice.send(json.dumps({"type": "hang_up", "conference_id": ringing["conference"]["id"]}))
            await next_message(alice, lambda m: m["type"] == "conference" and m["conference"]["status"] == "ended")
    finally:
        await alice.close()
        await bob.close()


async def call_rate(url: str, pid: int, flow: Any, pairs: int, calls: int) -> dict[str, float]:
    delays: list[float] = []
    start = time.perf_counter()
    cpu = cpu_seconds(pid)
    client_cpu = sum(os.times()[:2])
    async with asyncio.timeout(TIMEOUT):
        await asyncio.gather(*(flow(url, i, calls, delays) for i in range(pairs)))
    elapsed = time.perf_counter() - start
    return {
        "calls_per_s": pairs * calls / elapsed,
        "server_cpu_pct": 100 * (cpu_seconds(pid) - cpu) / elapsed,
        "client_cpu_pct": 100 * (sum(os.times()[:2]) - client_cpu) / elapsed,
        "ringing_p50_ms": percentile(delays, 0.5) * 1e3,
        "ringing_p99_ms": percentile(delays, 0.99) * 1e3,
    }


async def idle_pages(url: str, pid: int, count: int) -> dict[str, float]:
    await asyncio.sleep(0.5)
    before = rss_bytes(pid)
    sockets: list[websockets.ClientConnection] = []
    start = time.perf_counter()
    async with asyncio.timeout(TIMEOUT):
        for batch in range(0, count, 100):
            sockets += await asyncio.gather(*(page(url, f"idle{i}") for i in range(batch, min(count, batch + 100))))
    connect_s = time.perf_counter() - start
    await asyncio.sleep(2)
    after = rss_bytes(pid)
    # Still serving: a health check answers while all of them are connected.
    started = time.perf_counter()
    await asyncio.to_thread(lambda: urllib.request.urlopen(f"{url}/api/health", timeout=10).read())
    health_ms = (time.perf_counter() - started) * 1e3
    await asyncio.gather(*(s.close() for s in sockets))
    return {
        "pages": count,
        "connect_per_s": count / connect_s,
        "rss_before_mb": before / 2**20,
        "rss_after_mb": after / 2**20,
        "kib_per_page": (after - before) / count / 1024,
        "health_ms": health_ms,
    }


def run(runs: int, **_: Any) -> dict[str, Any]:
    pin_self("1")
    result: dict[str, Any] = {}
    rung, offered = [], []
    for _ in range(runs):
        with server("null") as s:
            rung.append(asyncio.run(call_rate(s.url, s.pid, rung_and_rejected, PAIRS, CALLS_PER_PAIR)))
        with server("builtin") as s:
            flow = call_rate(s.url, s.pid, offered_and_canceled, BUILTIN_PAIRS, BUILTIN_CALLS_PER_PAIR)
            offered.append(asyncio.run(flow))
    for name, samples, setup in (
        ("rung_and_rejected", rung, f"media left out; {PAIRS} pairs x {CALLS_PER_PAIR} calls, concurrently"),
        ("builtin_offer", offered, f"real engine offer, chair hangs up; {BUILTIN_PAIRS} x {BUILTIN_CALLS_PER_PAIR}"),
    ):
        result[name] = {"setup": setup} | {key: summary([s[key] for s in samples]) for key in samples[0]}
    idle: dict[int, list[dict[str, float]]] = {count: [] for count in IDLE_PAGES}
    for _ in range(runs):
        for count in IDLE_PAGES:
            with server("null") as s:
                idle[count].append(asyncio.run(idle_pages(s.url, s.pid, count)))
    result["idle_pages"] = {
        str(count): {key: summary([s[key] for s in samples]) for key in samples[0]} for count, samples in idle.items()
    }
    return result


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    calls = [
        [
            name,
            result[name]["setup"],
            cell(result[name]["calls_per_s"]),
            cell(result[name]["ringing_p50_ms"]),
            cell(result[name]["ringing_p99_ms"]),
            cell(result[name].get("server_cpu_pct", {}), 0),
            cell(result[name].get("client_cpu_pct", {}), 0),
        ]
        for name in ("rung_and_rejected", "builtin_offer")
    ]
    idle = [
        [
            count,
            cell(s["connect_per_s"], 0),
            cell(s["rss_before_mb"]),
            cell(s["rss_after_mb"]),
            cell(s["kib_per_page"]),
            cell(s["health_ms"]),
        ]
        for count, s in result["idle_pages"].items()
    ]
    return [
        (
            "Signalling: calls",
            ["flow", "setup", "calls/s", "dial-to-ringing p50 (ms)", "p99 (ms)", "server CPU %", "client CPU %"],
            calls,
        ),
        (
            "Signalling: idle pages on one node",
            ["pages", "connects/s", "RSS before (MiB)", "RSS after (MiB)", "KiB per page", "health check (ms)"],
            idle,
        ),
    ]
