"""(15) The HTTP API: call creations per second, media left out, and answer times.

The server runs in null mode (bench/server.py: the real gateway, router, rules and store,
on a SQLite file, no RTCPeerConnection) in its own process on core 0, with an API key it writes to a file
for the bench and no per-key rate limit in the way. Every chair (`u0`…) and every callee (`v0`…) has a
page open: a websocket client in this process on core 1, as an application's embedded client would be.
Each request is POST /api/v1/calls with that key and its own Idempotency-Key, from one of CALLERS users to
their own callee: the API validates, claims the Idempotency-Key in SQLite, publishes UserRequestsCall and
answers 202; the router runs the rules and stores the conference; the chair's page answers its own leg
(`auto_answer`), the callee's page gets its offer (it rings), and once the chair's page has seen the callee's
leg `ringing` too, the chair hangs up (the callee's leg ends `canceled`; a rejection would go to voicemail).
A creation counts only once its ringing was seen on both pages; a run in which any call did not ring is an
error, not a figure. Each chair's next call is sent once its last one ended
(a user on TALKBOX_MAX_CALLS_PER_USER calls is refused): CALLERS calls in flight, over CONNECTIONS
keep-alive connections on the webhooks bench's minimal client.

Besides the rate (wall clock, so it falls when others load the machine), the server's own CPU time for the
whole run, answers and the router's work after them until it is idle: creations per CPU second is what one
core of its own would do, and moves far less with the machine's load.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import websockets

from bench.common import cell, idle_cpu, percentile, pin_self, read_response, server, summary

CONNECTIONS = 16
REQUESTS = 6000
CALLERS = 500
TIMEOUT = 600


def request(host: str, key: str, i: int) -> bytes:
    body = json.dumps({"from": f"u{i % CALLERS}", "to": [f"v{i % CALLERS}"]}).encode()
    head = (
        f"POST /api/v1/calls HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
        f"Idempotency-Key: bench-{i}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Pair:
    """One chair and their callee, one call at a time: what their pages have seen of the current call."""

    index: int
    chair: Any
    callee: Any
    sent: float = 0.0
    rung: bool = False  # the chair's page has seen the callee's leg ringing
    offered: bool = False  # the callee's page has its offer
    conference_id: str = ""
    hung_up: bool = False
    calls: int = 0


@dataclass
class Run:
    host: str
    key: str
    ready: asyncio.Queue[tuple[Pair, bytes]] = field(default_factory=asyncio.Queue)
    answers: list[float] = field(default_factory=list)
    ringing: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    endings: dict[str, int] = field(default_factory=dict)
    ended: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    error: str | None = None

    def failed(self, error: str) -> None:
        self.error = self.error or error
        self.done.set()

    def next_call(self, pair: Pair) -> None:
        i = pair.calls * CALLERS + pair.index
        if i < REQUESTS:
            pair.calls += 1
            pair.rung, pair.offered, pair.hung_up = False, False, False
            self.ready.put_nowait((pair, request(self.host, self.key, i)))

    def call_ended(self, pair: Pair, conference: dict[str, Any]) -> None:
        callee = next(leg for leg in conference["legs"] if leg["destination"] == f"v{pair.index}")
        rung = "rung" if pair.rung and pair.offered else "not rung"
        outcome = f"{rung}, callee {callee['status']} ({callee['end_reason']})"
        self.endings[outcome] = self.endings.get(outcome, 0) + 1
        self.ended += 1
        if self.ended == REQUESTS:
            self.done.set()
        self.next_call(pair)


async def page(url: str, name: str) -> Any:
    # No pings of its own: a server busy for seconds answers them late, and the bench measures its CPU, not that.
    socket = await websockets.connect(
        f"{url.replace('http', 'ws', 1)}/ws?client_name={name}", max_queue=None, ping_interval=None
    )
    welcome = json.loads(await socket.recv())
    assert welcome["type"] == "welcome", welcome
    return socket


async def hang_up_once_rung(run: Run, pair: Pair) -> None:
    if pair.rung and pair.offered and not pair.hung_up:
        pair.hung_up = True
        run.ringing.append(time.perf_counter() - pair.sent)
        await pair.chair.send(json.dumps({"type": "hang_up", "conference_id": pair.conference_id}))


async def chair_page(run: Run, pair: Pair) -> None:
    callee = f"v{pair.index}"
    with contextlib.suppress(websockets.ConnectionClosed):
        await chair_frames(run, pair, callee)
    run.failed(f"u{pair.index}'s page was closed: {pair.chair.close_code} {pair.chair.close_reason}")


async def chair_frames(run: Run, pair: Pair, callee: str) -> None:
    async for text in pair.chair:
        message = json.loads(text)
        if message["type"] == "offer" and message["auto_answer"]:
            await pair.chair.send(json.dumps({"type": "answer", "leg_id": message["leg_id"], "sdp": "v=0\r\n"}))
        elif message["type"] == "conference":
            conference = message["conference"]
            leg = next((leg for leg in conference["legs"] if leg["destination"] == callee), None)
            if leg is not None and leg["status"] == "ringing" and not pair.rung:
                pair.rung, pair.conference_id = True, conference["id"]
                await hang_up_once_rung(run, pair)
            if conference["status"] == "ended":
                run.call_ended(pair, conference)


async def callee_page(run: Run, pair: Pair) -> None:
    with contextlib.suppress(websockets.ConnectionClosed):
        async for text in pair.callee:
            message = json.loads(text)
            if message["type"] == "offer" and not message["auto_answer"]:
                pair.offered = True
                await hang_up_once_rung(run, pair)
    run.failed(f"v{pair.index}'s page was closed: {pair.callee.close_code} {pair.callee.close_reason}")


async def connection(run: Run, url: str) -> None:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        while True:
            pair, call = await run.ready.get()
            sent = pair.sent = time.perf_counter()
            try:
                writer.write(call)
                status = await read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                # The server closed the connection while it sat idle (its keep-alive timeout) as chairs waited for
                # their calls to end: a new one, and the same request again, which its Idempotency-Key makes safe.
                writer.close()
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                writer.write(call)
                status = await read_response(reader)
            run.answers.append(time.perf_counter() - sent)
            run.statuses[status] = run.statuses.get(status, 0) + 1
    except Exception as error:
        run.failed(f"an HTTP connection failed: {error!r}")
        raise
    finally:
        writer.close()


async def load(url: str, key: str) -> dict[str, float]:
    run = Run(urlsplit(url).netloc, key)
    pairs: list[Pair] = []
    for start in range(0, CALLERS, 100):
        indexes = range(start, min(CALLERS, start + 100))
        chairs = await asyncio.gather(*(page(url, f"u{i}") for i in indexes))
        callees = await asyncio.gather(*(page(url, f"v{i}") for i in indexes))
        pairs += [Pair(i, chair, callee) for i, chair, callee in zip(indexes, chairs, callees, strict=True)]
    tasks = [asyncio.create_task(chair_page(run, p)) for p in pairs]
    tasks += [asyncio.create_task(callee_page(run, p)) for p in pairs]
    before = await asyncio.to_thread(idle_cpu, url)
    start = time.perf_counter()
    for pair in pairs:
        run.next_call(pair)
    tasks += [asyncio.create_task(connection(run, url)) for _ in range(CONNECTIONS)]
    try:
        try:
            async with asyncio.timeout(TIMEOUT):
                await run.done.wait()
        except TimeoutError:
            raise RuntimeError(
                f"{run.ended} of {REQUESTS} calls ended in {TIMEOUT} s: answers {run.statuses}, "
                f"calls {run.endings}, {len(run.ringing)} rung"
            ) from None
        if run.error is not None:
            raise RuntimeError(f"{run.error}; {run.ended} of {REQUESTS} calls ended: {run.endings}")
        elapsed = time.perf_counter() - start
        used = await asyncio.to_thread(idle_cpu, url) - before
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(s.close() for p in pairs for s in (p.chair, p.callee)))
    rung = len(run.ringing)
    if set(run.statuses) != {202} or rung != REQUESTS:
        raise RuntimeError(f"not every call was created and rung: answers {run.statuses}, calls {run.endings}")
    return {
        "creations_per_s": rung / elapsed,
        "answer_p50_ms": percentile(run.answers, 0.5) * 1e3,
        "answer_p99_ms": percentile(run.answers, 0.99) * 1e3,
        "ringing_p50_ms": percentile(run.ringing, 0.5) * 1e3,
        "ringing_p99_ms": percentile(run.ringing, 0.99) * 1e3,
        "creations_per_cpu_s": rung / used,
    }


def run(runs: int, **_: Any) -> dict[str, Any]:
    pin_self("1")
    samples = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            key_file = Path(folder) / "key"
            # A real SQLite file, as `talkbox serve` has: the memory store scans every call it ever held.
            extra = ("--api-key-file", str(key_file), "--database", str(Path(folder) / "talkbox.sqlite3"))
            with server("null", extra=extra) as s:
                samples.append(asyncio.run(load(s.url, key_file.read_text().strip())))
    setup = f"{REQUESTS} POST /api/v1/calls, {CONNECTIONS} keep-alive connections, {CALLERS} pairs of pages, rung"
    return {"setup": setup} | {key: summary([s[key] for s in samples]) for key in samples[0]}


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    return [
        (
            "HTTP API: call creations, each rung (media left out)",
            [
                "setup",
                "creations/s",
                "per server CPU second",
                "answer p50 (ms)",
                "answer p99 (ms)",
                "POST-to-ringing p50 (ms)",
                "p99 (ms)",
            ],
            [
                [
                    result["setup"],
                    cell(result["creations_per_s"], 0),
                    cell(result["creations_per_cpu_s"], 0),
                    cell(result["answer_p50_ms"]),
                    cell(result["answer_p99_ms"]),
                    cell(result["ringing_p50_ms"]),
                    cell(result["ringing_p99_ms"]),
                ]
            ],
        )
    ]
