"""Packet traces for the jitter buffer: a seeded generator, the trace file format, and a miniature mixer to play them.

A trace file is JSON lines in arrival order, one packet a line: {"seq": 16-bit, "ts": 32-bit, "arrival": seconds,
"ssrc": int}. Payloads are not stored: playing a trace gives each packet a payload naming it, so a test can see which
packets were heard and in what order.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from talkbox.media.jitter import Frame, JitterBuffer, Lost

RATE = 48_000
TICK = 0.02
TICK_SAMPLES = 960
TRACES = Path(__file__).parent / "traces"


@dataclass(frozen=True, slots=True)
class Packet:
    seq: int
    ts: int
    arrival: float
    ssrc: int
    index: int  # position in what the sender sent, across restarts
    sent: float | None = None  # known for generated traces only
    samples: int = TICK_SAMPLES


def stream(
    seconds: float,
    *,
    seed: int = 1,
    ptime: float = 0.02,
    start: float = 1.0,
    transit: float = 0.03,
    jitter: Callable[[random.Random], float] | None = None,
    drift: float = 0.0,
    ssrc: int = 0x1234,
    seq0: int | None = None,
    ts0: int | None = None,
    first_index: int = 0,
) -> list[Packet]:
    """What a sender emits every `ptime`, and when each packet arrives.

    `jitter` draws each packet's queueing delay; arrivals stay in order (a queue does not reorder). `drift` is how much
    faster the sender's clock runs than the mixer's (0.005 is 0.5% fast).
    """
    rng = random.Random(seed)
    samples = round(ptime * RATE)
    seq0 = rng.randrange(1 << 16) if seq0 is None else seq0
    ts0 = rng.randrange(1 << 32) if ts0 is None else ts0
    packets: list[Packet] = []
    last = 0.0
    for k in range(round(seconds / ptime)):
        sent = start + k * ptime / (1 + drift)
        arrival = max(last, sent + transit + (jitter(rng) if jitter else 0.0))
        last = arrival
        packets.append(
            Packet(
                seq=(seq0 + k) & 0xFFFF,
                ts=(ts0 + k * samples) & 0xFFFFFFFF,
                arrival=arrival,
                ssrc=ssrc,
                index=first_index + k,
                sent=sent,
                samples=samples,
            )
        )
    return packets


def delayed(packets: Iterable[Packet], extra: Callable[[float], float]) -> list[Packet]:
    """Add `extra(sent)` to each arrival, keeping arrivals in order (a congested queue drains in order)."""
    out: list[Packet] = []
    last = 0.0
    for p in packets:
        assert p.sent is not None
        arrival = max(last, p.arrival + extra(p.sent))
        last = arrival
        out.append(replace(p, arrival=arrival))
    return out


def stall(at: float, height: float) -> Callable[[float], float]:
    """A queue that stops for `height` seconds at `at` and then drains: the delay spike of a Wi-Fi retry burst."""
    return lambda sent: max(0.0, height - (sent - at)) if sent >= at else 0.0


def without(packets: Iterable[Packet], lost: Callable[[Packet], bool]) -> list[Packet]:
    return [p for p in packets if not lost(p)]


def random_loss(fraction: float, seed: int = 2) -> Callable[[Packet], bool]:
    rng = random.Random(seed)
    return lambda _: rng.random() < fraction


def by_arrival(packets: Iterable[Packet]) -> list[Packet]:
    return sorted(packets, key=lambda p: p.arrival)


def gamma(shape: float, scale: float) -> Callable[[random.Random], float]:
    return lambda rng: rng.gammavariate(shape, scale)


# -- the file format ---------------------------------------------------------------------------------------------


def dump(packets: Iterable[Packet], path: Path) -> None:
    lines = (
        json.dumps({"seq": p.seq, "ts": p.ts, "arrival": round(p.arrival, 6), "ssrc": p.ssrc})
        for p in by_arrival(packets)
    )
    path.write_text("\n".join(lines) + "\n")


def load(path: Path) -> list[Packet]:
    """Read a trace; each packet's index is its place in its stream, streams numbered in order of appearance."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    highest: dict[int, int] = {}
    extended: list[tuple[int, int]] = []
    for row in rows:
        ssrc, seq = row["ssrc"], row["seq"]
        top = highest.get(ssrc, seq)
        ext = top + ((seq - top + 0x8000) % 0x10000) - 0x8000
        highest[ssrc] = max(top, ext)
        extended.append((ssrc, ext))
    first = {ssrc: min(ext for s, ext in extended if s == ssrc) for ssrc in highest}
    offset, base = 0, {}
    for ssrc in highest:  # dicts keep insertion order: order of appearance
        base[ssrc] = offset
        offset += max(ext for s, ext in extended if s == ssrc) - first[ssrc] + 1
    return [
        Packet(seq=row["seq"], ts=row["ts"], arrival=row["arrival"], ssrc=ssrc, index=base[ssrc] + ext - first[ssrc])
        for row, (ssrc, ext) in zip(rows, extended, strict=True)
    ]


# -- playing a trace ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Playback:
    """What a listener would have heard, tick by tick."""

    heard: list[int] = field(default_factory=list)  # indexes of the packets played, in order
    heard_at: list[float] = field(default_factory=list)
    concealed: int = 0
    concealed_at: list[float] = field(default_factory=list)
    concealed_samples: int = 0
    with_fec: int = 0
    silent_ticks: int = 0
    delays: list[tuple[float, float]] = field(default_factory=list)  # (tick, playout delay in seconds) per frame
    reported: list[float] = field(default_factory=list)  # the buffer's own delay figure, seconds, per frame
    targets: list[tuple[float, float]] = field(default_factory=list)  # (tick, target in seconds) per tick

    def delays_between(self, start: float, end: float) -> list[float]:
        return [d for t, d in self.delays if start <= t < end]

    def concealed_between(self, start: float, end: float) -> int:
        return sum(1 for t in self.concealed_at if start <= t < end)


def payload(p: Packet) -> bytes:
    return p.index.to_bytes(4, "big") + p.samples.to_bytes(2, "big")


def play(
    packets: Iterable[Packet], buffer: JitterBuffer, *, until: float | None = None, phase: float = 0.0073
) -> Playback:
    """Drive `buffer` as the mixer does: packets as they arrive, and each 20 ms tick enough audio for the tick.

    A frame lasts as long as its packet; a concealment as long as `Lost.samples`; `None` leaves the rest of the tick
    silent. The playout delay of a frame is how long after it was sent it was played (for generated traces).
    """
    ordered = by_arrival(packets)
    sent = {p.index: p.sent for p in ordered}
    end = until if until is not None else ordered[-1].arrival + 1.0
    out = Playback()
    held = 0  # decoded samples not yet used
    i = 0
    tick = 0
    while (now := phase + tick * TICK) < end:
        while i < len(ordered) and ordered[i].arrival <= now:
            p = ordered[i]
            buffer.put(p.ssrc, p.seq, p.ts, payload(p), p.arrival)
            i += 1
        while held < TICK_SAMPLES:
            item = buffer.pop(now)
            if item is None:
                break
            if isinstance(item, Frame):
                index = int.from_bytes(item.payload[:4], "big")
                held += int.from_bytes(item.payload[4:6], "big")
                out.heard.append(index)
                out.heard_at.append(now)
                out.reported.append(buffer.stats.delay_ms / 1000)
                if sent[index] is not None:
                    out.delays.append((now, now - sent[index]))
            else:
                assert isinstance(item, Lost)
                held += item.samples
                out.concealed += 1
                out.concealed_at.append(now)
                out.concealed_samples += item.samples
                out.with_fec += item.fec is not None
        if held < TICK_SAMPLES:
            out.silent_ticks += 1
        held = max(0, held - TICK_SAMPLES)
        out.targets.append((now, buffer.stats.target_ms / 1000))
        tick += 1
    return out


def wifi(seconds: float = 30.0, seed: int = 7) -> list[Packet]:
    """A home Wi-Fi leg, as modelled for the stored trace: see traces/README.md."""
    rng = random.Random(seed)
    packets = stream(seconds, seed=seed, transit=0.025, jitter=gamma(2.0, 0.002), drift=0.0001)
    at = 1.0
    while (at := at + rng.expovariate(1 / 4.0)) < seconds:
        packets = delayed(packets, stall(at, rng.uniform(0.03, 0.12)))
    bad = False

    def gilbert_elliott(_: Packet) -> bool:
        nonlocal bad
        bad = rng.random() < (0.6 if bad else 0.005)
        return rng.random() < (0.8 if bad else 0.002)

    packets = without(packets, gilbert_elliott)
    for k in range(1, len(packets)):  # a rare retransmission at the link layer overtakes its successor
        if rng.random() < 0.003:
            packets[k - 1], packets[k] = (
                replace(packets[k - 1], arrival=packets[k].arrival + 0.001),
                packets[k],
            )
    return by_arrival(packets)


if __name__ == "__main__":
    dump(wifi(), TRACES / "wifi-30s.jsonl")
