"""Soak (issue 10): good calls and every attack of the issue at once, on one node, for minutes.

A real `talkbox serve` (built-in engine, a SQLite file in a temporary directory, the default
abuse limits) runs in its own process. For the whole run, at once:

- good traffic: pairs of pages, one websocket each, call each other in turn; the callee
  accepts, they stay a few seconds, one of them hangs up; again. Every leg is real media
  (aiortc, a tone each way: the engine only connects a leg whose ICE and DTLS come up, and
  ends one that stays silent), and on the first `media_pairs` pairs each side checks every
  half second that it still hears the other's tone. Ringing = from the caller's `call` to
  the callee's `offer`.
- the attacks, each in its own task: webhook POSTs with thousands of form keys and oversize
  bodies (declared and chunked); a mute-and-garbage storm from one page in a call whose other
  user also holds sockets that never read (so the storm's updates pile up on them); a page
  opening sockets under fresh names from one other address (127.0.0.2) past its cap; bad
  Host and Origin headers; a UDP flood (RTCP-shaped, 20,000 datagrams a second, from its own
  process) at the callee's media port of the first good media pair's current call.

Measured: ringing p50/p95/p99/max, calls attempted/completed/dropped, the server's RSS
(main process and media workers, every 2 s), and, once the server has stopped, every
completed call's conference read back from the SQLite file. `soak()` is also what
tests/security/test_soak.py runs, shorter.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import websockets
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from tests.support.audio import level_at, to_mono
from tests.support.peer import ToneTrack

from bench.common import ROOT, fmt, free_port, percentile, pin_self, pinned, rss_bytes

# The criteria.
RING_P99_LIMIT = 1.0
# RSS is "bounded" when the last window's peak is at most this much above the first's. The load
# is the same from the first window to the last (the same pages, calls and attackers), so a
# server that frees what each call used sits on a plateau once warmed up; what can still move
# it without a leak is the allocator's fragmentation and SQLite's page cache (2 MiB), a few MiB
# on ~150. A leak of per-call or per-message state grows with the ~100 calls and the ~10^5
# refused frames a minute, and passes 20% within the five minutes.
RSS_GROWTH_LIMIT = 0.20
HEARD_DB = -20.0  # a tone at 40% of full scale reads about -8 dB; silence about -100
TIMEOUT = 10.0

FLOOD = """
import select, socket, sys, time
rate = int(sys.argv[1])
packet = b"\\x81\\xc9\\x00\\x07" + bytes(28)
port, sent, start = None, 0, time.monotonic()
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
    while True:
        if select.select([sys.stdin], [], [], 0)[0]:
            line = sys.stdin.readline()
            if not line:
                break
            port = int(line)
        now = time.monotonic()
        while port and sent < (now - start) * rate:
            sender.sendto(packet, ("127.0.0.1", port))
            sent += 1
        if not port:
            start = now
        time.sleep(0.001)
print(sent, flush=True)
"""


@dataclass(frozen=True)
class Config:
    seconds: float = 300.0
    pairs: int = 6
    media_pairs: int = 2  # the first pairs: tones checked throughout; the first of them is flooded
    stay: tuple[float, float] = (2.0, 4.0)
    pause: tuple[float, float] = (0.5, 1.5)
    never_reading_sockets: int = 3
    address_sockets: int = 240  # past TALKBOX_MAX_SOCKETS_PER_ADDRESS (200)
    flood_rate: int = 20_000
    server_core: str | None = None  # the bench pins the server to one core and itself to the other
    sample_every: float = 2.0
    attacks: bool = True  # False: the good traffic alone, for a baseline


@dataclass
class Figures:
    rings: list[float] = field(default_factory=list)
    attempted: int = 0
    completed: dict[str, str] = field(default_factory=dict)  # conference id -> who hung up
    drops: list[str] = field(default_factory=list)
    rss: list[tuple[float, int, int]] = field(default_factory=list)  # (t, main, workers)
    attacks: dict[str, collections.Counter[str]] = field(default_factory=dict)
    slowest: dict[str, float] = field(default_factory=dict)
    store: dict[str, int] = field(default_factory=dict)
    store_problems: list[str] = field(default_factory=list)

    def outcome(self, attack: str, what: str, seconds: float | None = None) -> None:
        self.attacks.setdefault(attack, collections.Counter())[what] += 1
        if seconds is not None:
            self.slowest[attack] = max(self.slowest.get(attack, 0.0), seconds)


# The server


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    database: Path
    log: Path


@contextlib.asynccontextmanager
async def talkbox(directory: Path, core: str | None) -> AsyncIterator[Server]:
    port = free_port()
    database, log = directory / "soak.sqlite3", directory / "server.log"
    env = {"TALKBOX_LOG_LEVEL": "warning"} | os.environ | {"TALKBOX_DATABASE": str(database)}
    command = [*(pinned(core) if core else []), sys.executable, "-m", "talkbox", "serve", "--port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    server = Server(process, f"http://127.0.0.1:{port}", database, log)
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{server.url}/api/health")).status_code == 200:
                        break
                if process.poll() is not None:
                    raise RuntimeError(f"talkbox serve exited: {log.read_text()[-2000:]}")
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("talkbox serve did not answer within 30 s")
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, 15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def worker_pids(pid: int) -> list[int]:
    """The media workers: the server's child processes."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


async def sample_rss(pid: int, figures: Figures, every: float, started: float) -> None:
    while True:
        with contextlib.suppress(OSError):
            workers = 0
            for child in worker_pids(pid):
                with contextlib.suppress(OSError):
                    workers += rss_bytes(child)
            figures.rss.append((time.monotonic() - started, rss_bytes(pid), workers))
        await asyncio.sleep(every)


# Pages


class Page:
    """One websocket speaking docs/protocol.md; keeps the latest view of each conference."""

    def __init__(self, base_url: str, name: str) -> None:
        self.url = f"{base_url.replace('http', 'ws', 1)}/ws?client_name={name}"
        self.name = name
        self.conferences: dict[str, dict[str, Any]] = {}
        self.offers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.errors: collections.Counter[str] = collections.Counter()
        self.closed: int | None = None
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> Page:
        self.socket = await websockets.connect(self.url, max_queue=None)
        welcome = json.loads(await self.socket.recv())
        assert welcome["type"] == "welcome", welcome
        self.closed = None
        self._reader = asyncio.create_task(self._read())
        return self

    async def close(self) -> None:
        if self._reader:
            self._reader.cancel()
        await self.socket.close()

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def until(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        """Checked on every message and every 0.1 s: a predicate on what a page hears changes without one."""
        async with asyncio.timeout(timeout):
            while not predicate():
                if self.closed is not None:
                    raise ConnectionError(f"{self.name}'s socket was closed: {self.closed}")
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.1):
                        await self._changed.wait()

    async def next_offer(self, conference_id: str | None = None) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            while True:
                offer = await self.offers.get()
                if conference_id is None or offer["conference_id"] == conference_id:
                    return offer

    async def _read(self) -> None:
        try:
            async for text in self.socket:
                message = json.loads(text)
                if message["type"] == "conference":
                    self.conferences[message["conference"]["id"]] = message["conference"]
                elif message["type"] == "offer":
                    self.offers.put_nowait(message)
                elif message["type"] in ("error", "refused"):
                    self.errors[message["code"]] += 1
                self._changed.set()
        finally:
            self.closed = self.socket.close_code or -1
            self._changed.set()


def leg_of(conference: dict[str, Any], name: str) -> dict[str, Any]:
    return next(leg for leg in reversed(conference["legs"]) if leg["destination"] == name)


class Media:
    """One leg's media: a tone out, the last half second heard kept."""

    def __init__(self, frequency: float) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.frequency = frequency
        self.heard: collections.deque[np.ndarray] = collections.deque(maxlen=25)
        self.frames = 0
        self._tasks: list[asyncio.Task[None]] = []
        self.pc.on("track", lambda track: self._tasks.append(asyncio.create_task(self._hear(track))))

    async def answer(self, page: Page, offer: dict[str, Any]) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        self.pc.addTrack(ToneTrack(self.frequency))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await page.send({"type": "answer", "leg_id": offer["leg_id"], "sdp": self.pc.localDescription.sdp})

    def level(self, frequency: float) -> float:
        return level_at(np.concatenate(list(self.heard)), frequency) if self.heard else -120.0

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()

    async def _hear(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                self.heard.append(to_mono(await track.recv()))
                self.frames += 1


def media_port(sdp: str) -> int:
    return int(re.search(r"a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host", sdp).group(1))


# Good traffic


class Dropped(Exception):
    """A good call ended other than by the hang-up asked for, or stopped being heard."""


async def good_pair(url: str, index: int, config: Config, deadline: float, figures: Figures, flood: Any) -> None:
    checked = index < config.media_pairs
    pages = (Page(url, f"good{index}a"), Page(url, f"good{index}b"))
    tones = (440.0 + 40 * index, 1320.0 - 40 * index)
    for page in pages:
        await page.open()
    turn = 0
    try:
        while time.monotonic() < deadline:
            caller, callee = (0, 1) if turn % 2 == 0 else (1, 0)
            hanger = caller if turn % 4 < 2 else callee
            figures.attempted += 1
            try:
                conference_id = await good_call(pages, tones, caller, callee, hanger, checked, config, figures, flood)
                figures.completed[conference_id] = pages[hanger].name
            except (Dropped, TimeoutError, ConnectionError, websockets.ConnectionClosed) as error:
                figures.drops.append(f"{pages[caller].name}->{pages[callee].name}: {type(error).__name__} {error}")
                await recover(pages)
            turn += 1
            await asyncio.sleep(random.uniform(*config.pause))
    finally:
        for page in pages:
            await page.close()


async def good_call(
    pages: tuple[Page, Page],
    tones: tuple[float, float],
    caller: int,
    callee: int,
    hanger: int,
    checked: bool,
    config: Config,
    figures: Figures,
    flood: Any,
) -> str:
    media = (Media(tones[0]), Media(tones[1]))
    step = "the caller's own offer"
    try:
        sent = time.perf_counter()
        await pages[caller].send({"type": "call", "to": pages[callee].name})
        own = await pages[caller].next_offer()
        await media[caller].answer(pages[caller], own)
        step = "the callee's offer"
        offer = await pages[callee].next_offer(own["conference_id"])
        figures.rings.append(time.perf_counter() - sent)
        conference_id = offer["conference_id"]
        await media[callee].answer(pages[callee], offer)
        step = "both legs in-progress"

        def up(page: Page) -> bool:
            conference = page.conferences.get(conference_id)
            if conference is None:
                return False
            if conference["status"] == "ended" or any(leg["end_reason"] for leg in conference["legs"]):
                raise Dropped(f"ended before the hang-up: {legs_summary(conference)}")
            return all(leg["status"] == "in-progress" for leg in conference["legs"])

        for page in pages:
            await page.until(lambda page=page: up(page))
        if flood is not None:  # at the port of a call that is up, as an attacker who saw its packets would
            flood(media_port(offer["sdp"]))
        stay = time.monotonic() + random.uniform(*config.stay)
        step = "each to hear the other's tone"
        if checked:
            for mine, theirs in ((0, 1), (1, 0)):
                try:
                    await pages[mine].until(lambda m=mine, t=theirs: media[m].level(tones[t]) > HEARD_DB)
                except TimeoutError:
                    heard = f"{media[mine].level(tones[theirs]):.0f} dB, {media[mine].frames} frames"
                    raise Dropped(f"{pages[mine].name} never heard {pages[theirs].name} ({heard})") from None
        while time.monotonic() < stay:
            await asyncio.sleep(0.5)
            for page in pages:
                up(page)
            if checked:
                for mine, theirs in ((0, 1), (1, 0)):
                    if (level := media[mine].level(tones[theirs])) <= HEARD_DB:
                        raise Dropped(f"{pages[mine].name} stopped hearing the other tone ({level:.0f} dB)")
        await pages[hanger].send({"type": "hang_up", "conference_id": conference_id})
        step = "the end of the call"
        other = pages[1 - hanger]
        await other.until(lambda: other.conferences[conference_id]["status"] == "ended")
        ended = other.conferences[conference_id]
        mine = leg_of(ended, pages[hanger].name)
        if ended["end_reason"] != "hung-up" or mine["end_reason"] != "hung-up":
            raise Dropped(f"ended otherwise than hung up: {legs_summary(ended)}")
        return conference_id
    except TimeoutError:
        raise Dropped(f"timed out waiting for {step}") from None
    finally:
        for side in media:
            await side.close()


def legs_summary(conference: dict[str, Any]) -> str:
    legs = ", ".join(f"{leg['destination']} {leg['status']}/{leg['end_reason']}" for leg in conference["legs"])
    return f"{conference['status']}/{conference['end_reason']} [{legs}]"


async def recover(pages: tuple[Page, Page]) -> None:
    """After a failed call: hang up whatever is still live, forget stale offers, reopen closed sockets."""
    for page in pages:
        if page.closed is not None:
            with contextlib.suppress(Exception):
                await page.open()
            continue
        for conference in list(page.conferences.values()):
            if conference["status"] != "ended":
                with contextlib.suppress(websockets.ConnectionClosed):
                    await page.send({"type": "hang_up", "conference_id": conference["id"]})
    await asyncio.sleep(2.0)
    for page in pages:
        while not page.offers.empty():
            page.offers.get_nowait()


# Attacks


async def paced(deadline: float, every: float, attempt: Callable[[], Awaitable[None]]) -> None:
    while time.monotonic() < deadline:
        began = time.monotonic()
        await attempt()
        await asyncio.sleep(max(0.0, every - (time.monotonic() - began)))


async def webhooks(url: str, deadline: float, figures: Figures) -> None:
    """Unauthenticated POSTs: 5,000 form keys (under the body cap), 1 MiB declared, 1 MiB chunked."""
    many_keys = "&".join(f"k{i}=v" for i in range(5000)).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield bytes(16384)

    bodies: list[tuple[str, str, Callable[[], Any]]] = [
        ("form keys", "/twilio/status", lambda: many_keys),
        ("1 MiB declared", "/twilio/status", lambda: bytes(2**20)),
        ("1 MiB chunked", "/twilio/status", chunks),
    ]
    async with httpx.AsyncClient(base_url=url, timeout=5.0) as client:

        async def attempt() -> None:
            for name, path, body in bodies:
                began = time.perf_counter()
                try:
                    headers = {"Content-Type": "application/x-www-form-urlencoded"}
                    answer = await client.post(path, content=body(), headers=headers)
                    what = str(answer.status_code)
                except httpx.HTTPError as error:
                    what = type(error).__name__
                figures.outcome(f"webhook: {name}", what, time.perf_counter() - began)

        await paced(deadline, 0.1, attempt)


async def bad_headers(url: str, deadline: float, figures: Figures) -> None:
    """DNS rebinding's Host, and a websocket from another site's page."""
    ws = url.replace("http", "ws", 1)
    async with httpx.AsyncClient(base_url=url, timeout=5.0) as client:

        async def attempt() -> None:
            began = time.perf_counter()
            try:
                what = str((await client.get("/", headers={"Host": "rebound.example"})).status_code)
            except httpx.HTTPError as error:
                what = type(error).__name__
            figures.outcome("bad Host", what, time.perf_counter() - began)
            began = time.perf_counter()
            try:
                socket_ = await websockets.connect(f"{ws}/ws?client_name=csrf", origin="https://evil.example")
                await socket_.close()
                what = "accepted"
            except websockets.InvalidStatus as error:
                what = str(error.response.status_code)
            except (OSError, websockets.WebSocketException) as error:
                what = type(error).__name__
            figures.outcome("bad Origin", what, time.perf_counter() - began)

        await paced(deadline, 0.1, attempt)


async def address_sockets(url: str, deadline: float, count: int, figures: Figures) -> None:
    """From one other address (127.0.0.2), sockets under fresh names past the per-address cap, again and again."""
    ws = url.replace("http", "ws", 1)
    round_ = 0

    async def one(name: str) -> websockets.ClientConnection | None:
        try:
            sock = await websockets.connect(f"{ws}/ws?client_name={name}", local_addr=("127.0.0.2", 0))
            welcome = json.loads(await sock.recv())
            assert welcome["type"] == "welcome"
        except websockets.ConnectionClosed as closed:
            figures.outcome("sockets from one address", str(closed.rcvd.code if closed.rcvd else "closed"))
            return None
        except (OSError, websockets.WebSocketException, TimeoutError) as error:
            figures.outcome("sockets from one address", type(error).__name__)
            return None
        # A 4429 is sent right after welcome: wait a moment to tell it from a socket kept.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await sock.wait_closed()
        figures.outcome("sockets from one address", "kept" if sock.close_code is None else str(sock.close_code))
        return sock if sock.close_code is None else None

    while time.monotonic() < deadline:
        round_ += 1
        sockets = []
        for batch in range(0, count, 20):
            names = [f"addr{round_}x{i}" for i in range(batch, min(count, batch + 20))]
            sockets += await asyncio.gather(*(one(name) for name in names))
        await asyncio.sleep(2.0)
        await asyncio.gather(*(s.close() for s in sockets if s is not None))


async def never_reading(url: str, name: str) -> socket.socket:
    """A websocket that completes its handshake and then never reads a byte (a small window, so it backs up)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, int(port)))
    request = (
        f"GET /ws?client_name={name} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: c29hay1uZXZlci1yZWFkcw==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += await loop.sock_recv(sock, 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


async def closed_too_slow(sock: socket.socket) -> bool:
    """Read the backlog at last: did the server close this socket with 4408?"""
    loop, data = asyncio.get_running_loop(), b""
    with contextlib.suppress(TimeoutError, OSError):
        async with asyncio.timeout(2.0):
            while chunk := await loop.sock_recv(sock, 65536):
                data += chunk
    sock.close()
    return re.search(rb"\x88[\x02-\x7d]\x11\x38", data) is not None


async def storm(url: str, deadline: float, config: Config, figures: Figures) -> None:
    """mallory calls stormvictim and then sends mute toggles and garbage as fast as she can; stormvictim's
    other sockets never read, so every update the storm causes piles up on them."""
    mallory, victim = Page(url, "mallory"), Page(url, "stormvictim")
    await mallory.open()
    await victim.open()
    media = (Media(300.0), Media(1500.0))
    stuck: collections.deque[socket.socket] = collections.deque()
    for _ in range(config.never_reading_sockets):
        stuck.append(await never_reading(url, "stormvictim"))
    try:
        await mallory.send({"type": "call", "to": "stormvictim"})
        own = await mallory.next_offer()
        await media[0].answer(mallory, own)
        offer = await victim.next_offer()
        await media[1].answer(victim, offer)
        conference_id = offer["conference_id"]
        answered = lambda: leg_of(mallory.conferences[conference_id], "stormvictim")["status"] == "in-progress"  # noqa: E731
        await mallory.until(answered)
        leg_id = own["leg_id"]
        sent, muted, rotated = 0, False, time.monotonic()
        while time.monotonic() < deadline and mallory.closed is None:
            for _ in range(4):
                muted = not muted
                await mallory.send({"type": "mute", "conference_id": conference_id, "leg_id": leg_id, "muted": muted})
                await mallory.send({"type": "no-such-type", "n": sent})
                await mallory.socket.send("{not json")
                sent += 3
            # About 1,000 frames a second, 50 times the budget: faster, and this process's own loop
            # (the good pages' too) would be what slows, not the server.
            await asyncio.sleep(0.01)
            if time.monotonic() - rotated > 30:  # a new never-reading socket for the oldest
                rotated = time.monotonic()
                figures.outcome("never-reading sockets", "4408" if await closed_too_slow(stuck.popleft()) else "open")
                stuck.append(await never_reading(url, "stormvictim"))
        figures.attacks["storm frames"] = collections.Counter(
            {"sent": sent} | {f"error {code}": count for code, count in mallory.errors.items()}
        )
        await mallory.send({"type": "hang_up", "conference_id": conference_id})
    finally:
        for side in media:
            await side.close()
        for sock in stuck:
            figures.outcome("never-reading sockets", "4408" if await closed_too_slow(sock) else "open")
        await mallory.close()
        await victim.close()


@contextlib.asynccontextmanager
async def udp_flood(rate: int, figures: Figures) -> AsyncIterator[Callable[[int], None]]:
    """A process that floods whichever port it was told last, `rate` datagrams a second."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", FLOOD, str(rate), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdin is not None

    def target(port: int) -> None:
        process.stdin.write(f"{port}\n".encode())
        figures.outcome("UDP flood", "ports targeted")

    try:
        yield target
    finally:
        process.stdin.close()
        output, _ = await process.communicate()
        figures.attacks.setdefault("UDP flood", collections.Counter())["datagrams"] = int(output or 0)


# The store, read back


def check_store(database: Path, figures: Figures) -> None:
    """Every completed good call is in the file, ended, hung up by whom the test said."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        query = db.execute("SELECT id, active, data FROM conferences")
        rows = {conference_id: (active, json.loads(data)) for conference_id, active, data in query}
    finally:
        db.close()
    figures.store = {"rows": len(rows), "checked": len(figures.completed)}
    for conference_id, hanger in figures.completed.items():
        if conference_id not in rows:
            figures.store_problems.append(f"{conference_id}: missing")
            continue
        active, data = rows[conference_id]
        legs = {leg["destination"]: leg for leg in data["legs"]}
        if active or data["end_reason"] != "hung-up" or legs[hanger]["end_reason"] != "hung-up":
            figures.store_problems.append(f"{conference_id}: active={active} {data['end_reason']} {legs}")
            continue
        if any(leg["status"] != "completed" for leg in legs.values()):
            figures.store_problems.append(f"{conference_id}: legs {legs}")


# The whole soak


async def soak(config: Config) -> dict[str, Any]:
    figures = Figures()
    with tempfile.TemporaryDirectory(prefix="talkbox-soak-") as directory:
        async with talkbox(Path(directory), config.server_core) as server:
            started = time.monotonic()
            deadline = started + config.seconds
            sampler = asyncio.create_task(sample_rss(server.process.pid, figures, config.sample_every, started))
            async with udp_flood(config.flood_rate, figures) as flood:
                tasks = [
                    *(
                        good_pair(
                            server.url, i, config, deadline, figures, flood if i == 0 and config.attacks else None
                        )
                        for i in range(config.pairs)
                    ),
                ]
                if config.attacks:
                    tasks += [
                        webhooks(server.url, deadline, figures),
                        bad_headers(server.url, deadline, figures),
                        address_sockets(server.url, deadline, config.address_sockets, figures),
                        storm(server.url, deadline, config, figures),
                    ]
                async with asyncio.timeout(config.seconds + 120):
                    await asyncio.gather(*tasks)
            sampler.cancel()
            elapsed = time.monotonic() - started
        server_log = server.log.read_text()
        check_store(server.database, figures)
    return summarize(figures, config, elapsed, server_log)


def summarize(figures: Figures, config: Config, elapsed: float, server_log: str) -> dict[str, Any]:
    window = min(60.0, elapsed / 3)
    totals = [(t, main + workers) for t, main, workers in figures.rss]
    first = max((rss for t, rss in totals if t <= window), default=0)
    last = max((rss for t, rss in totals if t >= elapsed - window), default=0)
    growth = (last - first) / first if first else float("nan")
    p99 = percentile(figures.rings, 0.99)
    return {
        "config": config.__dict__ | {"stay": list(config.stay), "pause": list(config.pause)},
        "seconds": round(elapsed, 1),
        "calls": {"attempted": figures.attempted, "completed": len(figures.completed), "dropped": len(figures.drops)},
        "drops": figures.drops,
        "ring_ms": {
            name: percentile(figures.rings, share) * 1e3
            for name, share in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))
        },
        "rss_mib": {
            "window_s": round(window, 1),
            "main": [round(main / 2**20, 1) for _, main, _ in figures.rss],
            "workers": [round(workers / 2**20, 1) for _, _, workers in figures.rss],
            "first_window_max": first / 2**20,
            "last_window_max": last / 2**20,
            "growth": growth,
        },
        "attacks": {name: dict(counter) for name, counter in figures.attacks.items()},
        "slowest_answer_ms": {name: seconds * 1e3 for name, seconds in figures.slowest.items()},
        "store": figures.store | {"problems": figures.store_problems},
        "server_log_tracebacks": server_log.count("Traceback"),
        "criteria": {
            "ring p99 under 1 s": p99 < RING_P99_LIMIT,
            "no good call dropped": not figures.drops and len(figures.completed) > 0,
            "memory bounded": growth <= RSS_GROWTH_LIMIT,
            "nothing lost from the store": not figures.store_problems and figures.store.get("checked", 0) > 0,
        },
    }


def run(runs: int, **_: Any) -> dict[str, Any]:
    """One soak, whatever `runs` says: it is five minutes (SOAK_SECONDS to change that)."""
    pin_self("1")
    config = Config(seconds=float(os.environ.get("SOAK_SECONDS") or 300), server_core="0")
    return asyncio.run(soak(config))


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    ring, calls, rss = result["ring_ms"], result["calls"], result["rss_mib"]
    config = result["config"]
    main, workers = rss["main"], rss["workers"]
    totals = [m + w for m, w in zip(main, workers, strict=True)]
    measured = {
        "ring p99 under 1 s": f"p99 {fmt(ring['p99'])} ms",
        "no good call dropped": f"{calls['dropped']} dropped of {calls['attempted']}",
        "memory bounded": f"last {rss['window_s']:.0f} s max {fmt(rss['last_window_max'])} MiB vs first "
        f"{fmt(rss['first_window_max'])} MiB: {100 * rss['growth']:+.1f}% (limit +{100 * RSS_GROWTH_LIMIT:.0f}%)",
        "nothing lost from the store": f"{result['store'].get('checked', 0)} completed calls checked, "
        f"{len(result['store'].get('problems', []))} missing or wrong",
    }
    attacks = [
        [name, ", ".join(f"{k}: {v:,}" for k, v in sorted(counts.items())), fmt(result["slowest_answer_ms"].get(name))]
        for name, counts in sorted(result["attacks"].items())
    ]
    return [
        (
            f"Soak: good calls ({result['seconds']:.0f} s, {config['pairs']} pairs, "
            f"{config['media_pairs']} with tones checked)",
            ["attempted", "completed", "dropped", "ring p50 (ms)", "p95 (ms)", "p99 (ms)", "max (ms)"],
            [
                [
                    calls["attempted"],
                    calls["completed"],
                    calls["dropped"],
                    *(fmt(ring[k]) for k in ("p50", "p95", "p99", "max")),
                ]
            ],
        ),
        (
            f"Soak: server RSS (MiB, every {config['sample_every']:.0f} s)",
            ["process", "start", "max", "end"],
            [
                [name, fmt(values[0]), fmt(max(values)), fmt(values[-1])]
                for name, values in (("main", main), ("media workers", workers), ("total", totals))
                if values
            ],
        ),
        ("Soak: attacks", ["attack", "outcomes", "slowest answer (ms)"], attacks),
        (
            "Soak: criteria",
            ["criterion", "measured", "passed"],
            [[name, measured[name], "yes" if passed else "NO"] for name, passed in result["criteria"].items()],
        ),
    ]
