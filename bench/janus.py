"""(3) Janus's AudioBridge, the peer media server, driven by the same clients as Talkbox.

bench/setup.sh installs Debian's `janus` when missing (`make bench` runs it). Janus runs
from a configuration written here (a temporary folder: the HTTP transport on loopback,
the AudioBridge plugin, every other plugin and transport disabled), pinned to core 0
like Talkbox's server. Rooms are created through the API with a 48 kHz mix (Talkbox
mixes at 48 kHz too; AudioBridge's own default is 16 kHz).

Janus 1.1.2 offers no loopback ICE candidates (research/media.md), so its media and the
clients' use the machine's own interface address (ice_enforce_list): packets to one's own
address never leave the machine, but it is not 127.0.0.1. Signalling is on 127.0.0.1.

Each leg is an aiortc client that offers (AudioBridge answers), joins its room, and sends
and counts exactly as the legs of Talkbox's bench do (bench/clients.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from bench.common import SERVER_CORE, cpu_seconds, free_port, pinned, stop

LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
OTHER_PLUGINS = "echotest videoroom videocall sip nosip streaming recordplay textroom voicemail lua duktape"
OTHER_TRANSPORTS = "websockets pfunix mqtt nanomsg rabbitmq"
# Janus costs about a third of what Talkbox does per leg (research/media.md): start higher, step wider.
STEPS = (20, 40, 60, 80, 100, 120)


def available() -> bool:
    return shutil.which("janus") is not None and (LIB / "plugins" / "libjanus_audiobridge.so").exists()


def own_interface() -> tuple[str, str]:
    """The first interface other than loopback, and its IPv4 address."""
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        fields = line.split()
        if fields[1] != "lo":
            return fields[1], fields[3].split("/")[0]
    raise RuntimeError("no interface but loopback: Janus offers no loopback candidates")


@dataclass
class Janus:
    process: subprocess.Popen[bytes]
    url: str
    media_address: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def stats(self) -> dict[str, float]:
        return {"cpu": cpu_seconds(self.pid), "wall": time.monotonic(), "ticks": 0, "late_ticks": 0}


def write_config(folder: Path, port: int, interface: str) -> None:
    plugins = ",".join(f"libjanus_{name}.so" for name in OTHER_PLUGINS.split())
    transports = ",".join(f"libjanus_{name}.so" for name in OTHER_TRANSPORTS.split())
    (folder / "janus.jcfg").write_text(
        f"""general: {{
    configs_folder = "{folder}"
    plugins_folder = "{LIB / "plugins"}"
    transports_folder = "{LIB / "transports"}"
    events_folder = "{LIB / "events"}"
    loggers_folder = "{LIB / "loggers"}"
    debug_level = 2
    session_timeout = 300
}}
certificates: {{}}
media: {{}}
nat: {{
    ice_enforce_list = "{interface}"
}}
plugins: {{ disable = "{plugins}" }}
transports: {{ disable = "{transports}" }}
loggers: {{}}
events: {{}}
"""
    )
    (folder / "janus.transport.http.jcfg").write_text(
        f"""general: {{
    json = "plain"
    base_path = "/janus"
    http = true
    port = {port}
    ip = "127.0.0.1"
    https = false
}}
admin: {{ admin_http = false }}
"""
    )
    (folder / "janus.plugin.audiobridge.jcfg").write_text("general: {\n}\n")


@contextlib.contextmanager
def running(core: str = SERVER_CORE) -> Iterator[Janus]:
    interface, address = own_interface()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-janus-") as folder:
        write_config(Path(folder), port, interface)
        log = open(Path(folder) / "janus.log", "wb")  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            [*pinned(core), "janus", "-C", f"{folder}/janus.jcfg", "-F", folder, "-N", "-L", f"{folder}/janus.log"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}/janus"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    urllib.request.urlopen(f"{url}/info", timeout=1).read()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            "janus did not start: " + (Path(folder) / "janus.log").read_text()[-2000:]
                        ) from None
                    time.sleep(0.1)
            yield Janus(process, url, address)
        finally:
            stop(process)
            log.close()


class Session:
    """One Janus session over the HTTP API, with its long poll dispatching events to handles."""

    _transactions = itertools.count()

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=20))
        self.events: dict[int, asyncio.Queue[dict[str, Any]]] = {}
        self.session: int | None = None
        self._poll: asyncio.Task[None] | None = None

    async def request(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {"transaction": f"t{next(self._transactions)}", **body}
        answer = (await self.http.post(f"{self.url}{path}", json=body)).json()
        if answer.get("janus") == "error":
            raise RuntimeError(f"janus: {answer}")
        return answer

    async def open(self) -> None:
        self.session = (await self.request("", {"janus": "create"}))["data"]["id"]
        self._poll = asyncio.create_task(self._long_poll())

    async def attach(self) -> int:
        handle = (await self.request(f"/{self.session}", {"janus": "attach", "plugin": "janus.plugin.audiobridge"}))[
            "data"
        ]["id"]
        self.events[handle] = asyncio.Queue()
        return handle

    async def message(self, handle: int, body: dict[str, Any], jsep: dict[str, str] | None = None) -> dict[str, Any]:
        request: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        return await self.request(f"/{self.session}/{handle}", request)

    async def _long_poll(self) -> None:
        while True:
            try:
                answer = await self.http.get(f"{self.url}/{self.session}", params={"maxev": 50})
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
                continue
            events = answer.json()
            for event in events if isinstance(events, list) else [events]:
                sender = event.get("sender")
                if sender in self.events:
                    self.events[sender].put_nowait(event)

    async def close(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
        with contextlib.suppress(Exception):
            await self.request(f"/{self.session}", {"janus": "destroy"})
        await self.http.aclose()


class JanusLeg:
    """A leg in an AudioBridge room: the same light media (`bench.clients.Media`) as Talkbox's legs.

    `join(..., track=, on_track=)` instead keeps aiortc's own media (the latency bench's legs)."""

    def __init__(self, name: str, frequency: int, amplitude: float, checker: bool, pacer: Any = None) -> None:
        from bench.clients import Media, encoded_tone, tone_level

        self.name = name
        self.frequency = frequency
        self.amplitude = amplitude
        self.checker = checker
        self.pacer = pacer
        self.media = Media(encoded_tone(frequency, amplitude), tone_level(amplitude), checker)
        self.pc: RTCPeerConnection | None = None
        self.pcs: dict[str, RTCPeerConnection] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def join(
        self, session: Session, room: int, track: MediaStreamTrack | None = None, on_track: Any = None
    ) -> None:
        from bench.clients import SilentTrack, connected

        handle = await session.attach()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc = pc
        self.pcs["janus"] = pc

        @pc.on("track")
        def got_track(remote: MediaStreamTrack) -> None:
            if on_track is not None:
                self._tasks.append(asyncio.create_task(on_track(remote)))

        pc.addTrack(track or SilentTrack())
        await pc.setLocalDescription(await pc.createOffer())
        await session.message(
            handle,
            {"request": "join", "room": room, "display": self.name},
            {"type": "offer", "sdp": pc.localDescription.sdp},
        )
        async with asyncio.timeout(60):
            while True:
                event = await session.events[handle].get()
                if "jsep" in event:
                    await pc.setRemoteDescription(RTCSessionDescription(event["jsep"]["sdp"], "answer"))
                    break
        await connected(pc)
        if track is None:
            await self.media.attach(pc)
            self.pacer.add(self.media)

    async def __aexit__(self, *_: object) -> None:
        for task in self._tasks:
            task.cancel()
        if self.pc is not None:
            await self.pc.close()


_rooms = itertools.count(1)


async def create_room(session: Session, room: int) -> None:
    handle = await session.attach()
    answer = await session.message(
        handle, {"request": "create", "room": room, "sampling_rate": 48000, "audiolevel_event": False}
    )
    data = answer.get("plugindata", {}).get("data", {})
    if data.get("audiobridge") != "created":
        raise RuntimeError(f"janus did not create room {room}: {answer}")


async def conference(
    session: Session, tag: str, size: int, amplitude: float, checker: bool, pacer: Any
) -> list[JanusLeg]:
    from bench.clients import frequency_for

    room = abs(hash(tag)) % 2**31
    await create_room(session, room)
    legs = [JanusLeg(f"{tag}p{i}", frequency_for(i), amplitude, checker and i == 0, pacer) for i in range(size)]
    for leg in legs:
        await leg.join(session, room)
    return legs


async def latency(gateway: Janus) -> dict[str, list[float]]:
    """bench/latency.py's burst measure through an AudioBridge room of two."""
    from bench.latency import TONE, Bursts
    from talkbox.media.ice import restrict_host_candidates

    restrict_host_candidates(gateway.media_address)
    sending, hearing = Bursts(), Bursts()
    session = Session(gateway.url)
    await session.open()
    try:
        room = next(_rooms) + 1000
        await create_room(session, room)
        alice = JanusLeg("alice", TONE, 0.4, checker=False)
        bob = JanusLeg("bob", TONE, 0.4, checker=False)
        await alice.join(session, room, track=sending.track, on_track=lambda track: asyncio.sleep(0))
        await bob.join(session, room, track=hearing.track, on_track=hearing.record)
        assert alice.pc is not None
        sending.lossy(alice.pc.getSenders()[0].transport)
        sending.heard = hearing.heard
        try:
            return await sending.measure()
        finally:
            await alice.__aexit__()
            await bob.__aexit__()
    finally:
        await session.close()


def run(runs: int, **options: Any) -> dict[str, Any]:
    """Capacity through the media bench's harness, aimed at Janus."""
    from bench import media

    if not available():
        return {"missing": "janus is not installed: run bench/setup.sh (make bench does)"}
    options.setdefault("steps", STEPS)
    return media.run(runs, target="janus", **options)


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    from bench import media

    if "missing" in result:
        return [("Janus", ["missing"], [[result["missing"]]])]
    return [
        (
            title.replace("Media capacity", "Janus AudioBridge capacity").replace("the built-in engine", "Janus"),
            header,
            rows,
        )
        for title, header, rows in media.tables(result)
    ]
