"""A mixer per conference: every 20 ms, each leg gets the sum of the others.

Audio is mono s16 at 48 kHz, 960 samples a frame. A leg's own voice is never in
what it receives: it gets the total minus its own frame.
"""

from __future__ import annotations

import asyncio
import fractions
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
# Frames kept per input: enough to ride out aiortc's bursty delivery, few
# enough that a stalled sender cannot build up delay.
INPUT_DEPTH = 4
OUTPUT_DEPTH = 3
_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


class MixedTrack(MediaStreamTrack):
    """What one leg hears, paced by the mixer's clock."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._frames: asyncio.Queue[np.ndarray] = asyncio.Queue(maxsize=OUTPUT_DEPTH)
        self._pts = 0

    def push(self, samples: np.ndarray) -> None:
        if self._frames.full():
            self._frames.get_nowait()
        self._frames.put_nowait(samples)

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        samples = await self._frames.get()
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = _TIME_BASE
        frame.pts = self._pts
        self._pts += FRAME_SAMPLES
        return frame


def to_mono(frame: AudioFrame) -> np.ndarray:
    """aiortc decodes to interleaved s16 stereo; the left channel is the voice."""
    samples = frame.to_ndarray().reshape(-1)
    if frame.layout.name == "stereo" or len(samples) == 2 * frame.samples:
        samples = samples[::2]
    return samples.astype(np.int16, copy=False)


@dataclass
class Mixer:
    conference_id: str
    inputs: dict[str, deque[np.ndarray]] = field(default_factory=dict)
    outputs: dict[str, MixedTrack] = field(default_factory=dict)
    muted: set[str] = field(default_factory=set)
    ticks: int = 0
    late_ticks: int = 0
    _task: asyncio.Task[None] | None = None

    def add(self, leg_id: str) -> MixedTrack:
        """A fresh output for the leg (a resumed leg's replaces its old one)."""
        if leg_id in self.outputs:
            self.outputs[leg_id].stop()
        track = MixedTrack()
        self.outputs[leg_id] = track
        self.inputs[leg_id] = deque(maxlen=INPUT_DEPTH)
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        return track

    def feed(self, leg_id: str, samples: np.ndarray) -> None:
        if leg_id in self.inputs:
            self.inputs[leg_id].append(samples)

    def mute(self, leg_id: str, muted: bool) -> None:
        if muted:
            self.muted.add(leg_id)
        else:
            self.muted.discard(leg_id)

    def remove(self, leg_id: str) -> None:
        track = self.outputs.pop(leg_id, None)
        if track is not None:
            track.stop()
        self.inputs.pop(leg_id, None)
        self.muted.discard(leg_id)

    @property
    def empty(self) -> bool:
        return not self.outputs

    async def close(self) -> None:
        for leg_id in list(self.outputs):
            self.remove(leg_id)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def tick(self) -> None:
        # Every input is drained each tick, muted or not, so unmuting never replays old audio.
        frames = {leg_id: queue.popleft() for leg_id, queue in self.inputs.items() if queue}
        heard = {leg_id: frame.astype(np.int32) for leg_id, frame in frames.items() if leg_id not in self.muted}
        total = sum(heard.values(), np.zeros(FRAME_SAMPLES, dtype=np.int32))
        for leg_id, track in self.outputs.items():
            own = heard.get(leg_id)
            mix = total - own if own is not None else total
            track.push(np.clip(mix, -32768, 32767).astype(np.int16))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            self.tick()
            self.ticks += 1
            deadline += FRAME_SECONDS
            delay = deadline - loop.time()
            if delay < 0:
                self.late_ticks += 1
                if delay < -10 * FRAME_SECONDS:
                    deadline = loop.time()  # fell far behind: resync rather than burst
            await asyncio.sleep(max(delay, 0))
