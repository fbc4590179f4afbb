"""`python -m bench.instructions [--sizes 2,3,10] [--legs 30]`: instructions a leg costs the media worker per tick.

Wall clock on a shared machine says little, and the VM has no hardware counters, so this counts instructions
with valgrind (cachegrind, no cache simulation), which others' load does not move. The harness runs, in one
process on the media worker's event loop (uvloop): real UDP sockets, each leg's datagrams through the gate that
aiortc_bridge puts on its socket, the endpoint (budget, SRTP, RTP), the conference (jitter buffer, decode, mix,
encode) and SRTP and `sendto` out. A call of two is forwarded: its figure is the packet path alone, no codec.
Not in it: ICE and DTLS (the wire is keyed directly), RTCP, the kernel.

Each figure is the difference of two runs (`--ticks` long and short, the same set-up), divided by the ticks
between them and the legs. The clients' own share (a `sendto` of a packet made at set-up) is measured the same
way with no server reading, and subtracted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pylibsrtp
import uvloop

from talkbox.media.aiortc_bridge import COMPONENT_RTP, Gate, Srtp, Wire, watch
from talkbox.media.conference import ConferenceMedia
from talkbox.media.endpoint import Budget, WebRtcEndpoint
from talkbox.media.opus import Encoder

TICK = 0.02
KEY = bytes(range(30))
LEVEL_ID = 1
PAYLOAD_TYPE = 111
# An RTP header with one one-byte extension element: the RFC 6464 level, loud, as Chromium sends it.
_HEADER = struct.Struct("!BBHIIHHBBH")


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Pair:
    protocol: asyncio.DatagramProtocol
    remote_addr: tuple[str, int]


@dataclass
class Connection:
    """What the gate and the wire read of aioice's Connection: one nominated pair, nothing being checked."""

    pair: Pair
    _nominated: dict[int, Pair] = field(init=False)
    _check_list: list[Pair] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._nominated = {COMPONENT_RTP: self.pair}


class Socket(asyncio.DatagramProtocol):
    transport: asyncio.DatagramTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        """Replaced by the gate."""


def _session(direction: int) -> pylibsrtp.Session:
    return pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=direction))


def _tones(size: int) -> list[list[bytes]]:
    """A second of Opus for each seat of a conference, each its own tone."""
    t = np.arange(960) / 48_000
    seats = []
    for seat in range(size):
        encoder = Encoder()
        frequency = 300 + 100 * seat
        frames = [(0.07 * 32767 * np.sin(2 * np.pi * frequency * (t + k * TICK))).astype(np.int16) for k in range(50)]
        seats.append([encoder.encode(frame) for frame in frames])
    return seats


async def drive(size: int, legs: int, ticks: int, packets: int, serve: bool) -> int:
    """Run `ticks` ticks of `legs // size` conferences; return the datagrams the endpoints took in."""
    loop = asyncio.get_running_loop()
    clock = Clock()
    tones = _tones(size)
    conferences: list[ConferenceMedia] = []
    endpoints: list[WebRtcEndpoint] = []
    clients: list[tuple[socket.socket, tuple[str, int], list[bytes]]] = []
    for c in range(legs // size):
        conference = ConferenceMedia(f"c{c}")
        conferences.append(conference)
        for seat in range(size):
            client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            client.bind(("127.0.0.1", 0))
            client.setblocking(False)
            if serve:
                transport, protocol = await loop.create_datagram_endpoint(Socket, local_addr=("127.0.0.1", 0))
                address = transport.get_extra_info("sockname")
                endpoint = WebRtcEndpoint(on_packet=lambda _p, _n: None, on_state=lambda _s: None, clock=clock)
                await endpoint.pc.close()
                connection = Connection(Pair(protocol, client.getsockname()))
                endpoint.budget = Budget(rate=1e9, burst=1e9, tokens=1e9)  # the harness's clock is not the budget's
                endpoint.level_id = LEVEL_ID
                endpoint.payload_type = PAYLOAD_TYPE
                wire = Wire(
                    connection=connection,  # type: ignore[arg-type]
                    rx=Srtp(_session(pylibsrtp.Policy.SSRC_ANY_INBOUND)),
                    tx=Srtp(_session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)),
                    ssrc=1000 + len(endpoints),
                )
                endpoint.gate = Gate(connection=connection, on_refused=endpoint._refused)  # type: ignore[arg-type]
                watch(protocol, endpoint.gate)  # type: ignore[arg-type]
                endpoint.gate.wire, endpoint.gate.hook, endpoint.wire = wire, endpoint._datagram, wire
                leg_id = f"c{c}l{seat}"
                conference.add(leg_id, endpoint.send)
                endpoint.on_packet = partial(conference.receive, leg_id)
                endpoints.append(endpoint)
            else:
                sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sink.bind(("127.0.0.1", 0))
                address = sink.getsockname()
            protect = Srtp(_session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
            ssrc = 5000 + len(clients)
            stream = [
                protect.protect(
                    _HEADER.pack(0x90, PAYLOAD_TYPE, k, k * 960, ssrc, 0xBEDE, 1, LEVEL_ID << 4, 30, 0)
                    + tones[seat][k % 50]
                )
                for k in range(packets)
            ]
            clients.append((client, address, stream))
    sent = 0
    for k in range(ticks):
        clock.now = k * TICK
        for client, address, stream in clients:
            client.sendto(stream[k], address)
        sent += len(clients)
        if not serve:
            continue
        while sum(endpoint.counters.received for endpoint in endpoints) < sent:
            await asyncio.sleep(0)
        clock.now = k * TICK + TICK / 4
        for conference in conferences:
            if not conference.forwarding:  # a call of two is forwarded packet by packet
                conference.tick(clock.now)
    return sum(endpoint.counters.received for endpoint in endpoints)


def instructions(size: int, legs: int, ticks: int, packets: int, serve: bool) -> int:
    command = [
        "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        sys.executable, "-m", "bench.instructions", "--inner", f"{size},{legs},{ticks},{packets},{int(serve)}",
    ]  # fmt: skip
    # numpy's BLAS threads spin while idle: on their own thread, but valgrind counts every thread
    env = {**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind: {done.stderr[-400:]}")
    return int(found.group(1).replace(",", ""))


def per_leg_per_tick(size: int, legs: int, short: int, long: int, serve: bool) -> float:
    legs -= legs % size
    difference = instructions(size, legs, long, long, serve) - instructions(size, legs, short, long, serve)
    return difference / (long - short) / legs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,3,10")
    parser.add_argument("--legs", type=int, default=30)
    parser.add_argument("--ticks", default="40,140", help="the short and the long run's ticks")
    parser.add_argument("--inner", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        size, legs, ticks, packets, serve = (int(v) for v in args.inner.split(","))
        received = uvloop.run(drive(size, legs, ticks, packets, bool(serve)))
        if serve and received != legs * ticks:
            raise SystemExit(f"the endpoints took {received} datagrams of {legs * ticks}")
        return
    short, long = (int(v) for v in args.ticks.split(","))
    print("| size | legs | server instructions per leg per tick | clients' share (subtracted) |")
    print("|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        clients = per_leg_per_tick(size, args.legs, short, long, serve=False)
        total = per_leg_per_tick(size, args.legs, short, long, serve=True)
        print(f"| {size} | {args.legs - args.legs % size} | {total - clients:,.0f} | {clients:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
