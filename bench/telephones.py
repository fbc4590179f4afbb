"""Telephone legs: what a call of a telephone and a browser costs the media engine, on one core.

The engine runs in its own process pinned to one core: N conferences, each one plain-RTP telephone leg
(`rtp_answer`, real UDP) and one browser member fed pre-encoded Opus at 50 packets a second straight into the
conference (no SRTP and no socket on that side: the media bench measures those). Both speak, so every tick
decodes the Opus and the G.711, resamples, mixes, encodes Opus for the browser and G.711 for the telephone.
The telephones are this process, pinned to the other core: each sends 20 ms of PCMU every 20 ms and counts
what comes back. CPU is the engine process's own time over the measured seconds.

`python -m bench --only telephones [--steps 25,50,100]`
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import numpy as np

from bench.common import CLIENT_CORE, SERVER_CORE, cell, pin_self, pinned, summary

SECONDS = 10.0
WARMUP = 2.0
STEPS = (25, 50, 100)


def offer(port: int) -> str:
    return (
        "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    )


async def engine_side(phone_ports: list[int]) -> None:
    """The child: answer every phone, feed the browsers, report the answers, then the CPU it used."""
    from talkbox.media import rtp
    from talkbox.media.engine import MediaEngine
    from talkbox.media.opus import Encoder

    engine = MediaEngine(on_state=lambda _leg, _state: None)
    ports = [
        int((await engine.rtp_answer(f"c{i}", f"phone{i}", offer(port))).split("m=audio ")[1].split()[0])
        for i, port in enumerate(phone_ports)
    ]
    encoder = Encoder()
    t = np.arange(960) / 48_000
    tone = [encoder.encode((8000 * np.sin(2 * np.pi * 440 * (t + k * 0.02))).astype(np.int16)) for k in range(50)]
    for i in range(len(phone_ports)):
        engine.conferences[f"c{i}"].add(f"browser{i}", lambda *_: None)
    loop = asyncio.get_running_loop()
    sequence = 0

    def feed() -> None:
        nonlocal sequence
        sequence += 1
        now = loop.time()
        for i in range(len(phone_ports)):
            packet = rtp.RtpPacket(111, False, sequence & 0xFFFF, sequence * 960, i + 1, tone[sequence % 50], 20)
            engine.conferences[f"c{i}"].receive(f"browser{i}", packet, now)
        loop.call_at(start + sequence * 0.02, feed)

    start = loop.time()
    loop.call_soon(feed)
    print(json.dumps({"ports": ports}), flush=True)
    await asyncio.sleep(WARMUP)
    cpu, ticks, late = time.process_time(), engine.ticks, engine.late_ticks
    await asyncio.sleep(SECONDS)
    print(
        json.dumps({"cpu": time.process_time() - cpu, "ticks": engine.ticks - ticks, "late": engine.late_ticks - late})
    )
    await engine.close()


class Phones(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.arrivals: dict[int, list[float]] = {}

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if len(data) > 12 and data[1] & 0x7F == 0:
            self.arrivals.setdefault(addr[1], []).append(time.monotonic())


async def one(legs: int) -> dict[str, Any]:
    from talkbox.media import g711, rtp

    loop = asyncio.get_running_loop()
    protocol = Phones()
    sockets = [await loop.create_datagram_endpoint(lambda: protocol, local_addr=("127.0.0.1", 0)) for _ in range(legs)]
    ports = [transport.get_extra_info("sockname")[1] for transport, _ in sockets]
    child = await asyncio.create_subprocess_exec(
        *pinned(SERVER_CORE), sys.executable, "-m", "bench.telephones", json.dumps(ports),
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    targets = json.loads(await child.stdout.readline())["ports"]
    t = np.arange(160) / 8000
    payload = g711.encode("PCMU", (8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16))
    start = loop.time()
    sent = 0
    while loop.time() - start < WARMUP + SECONDS + 0.5:
        for (transport, _), port in zip(sockets, targets, strict=True):
            transport.sendto(rtp.header(0, sent & 0xFFFF, sent * 160, port) + payload, ("127.0.0.1", port))
        sent += 1
        await asyncio.sleep(max(0.0, start + sent * 0.02 - loop.time()))
    report = json.loads(await child.stdout.readline())
    await child.wait()
    for transport, _ in sockets:
        transport.close()
    window = [
        [a for a in arrivals if WARMUP <= a - start <= WARMUP + SECONDS] for arrivals in protocol.arrivals.values()
    ]
    received = sum(len(w) for w in window) / (legs * SECONDS * 50)
    gaps = [b - a for w in window for a, b in zip(w, w[1:], strict=False)]
    return {
        "cpu_per_call_percent": 100 * report["cpu"] / SECONDS / legs,
        "engine_core_percent": 100 * report["cpu"] / SECONDS,
        "late_ticks": report["late"],
        "received_share": received,
        "gaps_over_40ms": sum(1 for g in gaps if g > 0.04),
    }


def run(runs: int, steps: tuple[int, ...] = STEPS, **_options: Any) -> dict[str, Any]:
    pin_self(CLIENT_CORE)
    result: dict[str, Any] = {"legs": {}}
    for legs in steps:
        samples = [asyncio.run(one(legs)) for _ in range(runs)]
        result["legs"][legs] = {key: summary([s[key] for s in samples]) for key in samples[0]}
    return result


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    rows = [
        [
            str(legs),
            cell(r["cpu_per_call_percent"], 2),
            cell(r["engine_core_percent"]),
            cell(r["late_ticks"], 0),
            cell(r["received_share"], 3),
            cell(r["gaps_over_40ms"], 0),
        ]
        for legs, r in result["legs"].items()
    ]
    header = ["calls", "% core / call", "% engine core", "late ticks", "packets back", "gaps > 40 ms"]
    return [("Telephone + browser calls, media engine on one core", header, rows)]


if __name__ == "__main__":
    import uvloop

    uvloop.install()
    asyncio.run(engine_side(json.loads(sys.argv[1])))
