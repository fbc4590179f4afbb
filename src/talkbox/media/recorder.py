"""A conference's mix to an Ogg/Opus file, encoded and written off the media hot path.

The mixer hands each tick's mix over (a copy into a queue: microseconds); a
thread of the recorder's own encodes it and writes Ogg pages as they fill,
each flushed (`ogg.py`), so the 20 ms tick never waits on a disk or an
encoder. A disk that stalls for long does not grow memory without bound:
past `MAX_BACKLOG` frames waiting, new ones are dropped and counted.
"""

from __future__ import annotations

import io
import logging
import queue
import random
import threading
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from talkbox.media import g711
from talkbox.media.ogg import OggOpusWriter
from talkbox.media.opus import APPLICATION_VOIP, FRAME_SAMPLES, SAMPLE_RATE, Encoder

log = logging.getLogger(__name__)

# 10 s of frames: a disk slower than that for that long loses audio rather than the process's memory.
MAX_BACKLOG = 500
# Speech-quality Opus: a recording is listened to, not mixed again.
BITRATE = 32_000


@dataclass
class Recorder:
    """One recording; `add` from the mixer's loop, everything else on the recorder's thread."""

    path: Path
    frames: int = 0
    dropped: int = 0
    _queue: queue.SimpleQueue[np.ndarray | None] = field(default_factory=queue.SimpleQueue)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"recorder {self.path.name}", daemon=True)
        self._thread.start()

    def add(self, pcm: np.ndarray) -> None:
        if self._queue.qsize() >= MAX_BACKLOG:
            self.dropped += 1
            return
        self._queue.put(pcm.copy())

    def stop(self) -> None:
        """Ends the file once what is queued is written; returns at once."""
        self._queue.put(None)

    def wait(self, timeout: float | None = None) -> None:
        """For whoever must know the file is complete (tests, shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            encoder = Encoder(bitrate=BITRATE, application=APPLICATION_VOIP)
            # Appending: a recording resumed after its worker restarted goes on as a chained Ogg stream.
            with self.path.open("ab") as out:
                writer = OggOpusWriter(out, serial=random.getrandbits(32), pre_skip=encoder.lookahead())
                while (pcm := self._queue.get()) is not None:
                    writer.add(encoder.encode(pcm))
                    self.frames += 1
                if writer.samples == 0:  # stopped before any audio: one silent frame, or decoders refuse the file
                    writer.add(encoder.encode(np.zeros(FRAME_SAMPLES, dtype=np.int16)))
                writer.close()
        except OSError as error:
            log.error("recording %s stopped: %s", self.path.name, error)


def save_wav(data: bytes, path: Path) -> None:
    """A recording made elsewhere (Twilio's WAV: 8 kHz or 48 kHz, 16-bit, mono) as our Ogg/Opus file at `path`.

    Written beside it and renamed into place, so the file served is never half written. Raises ValueError for
    audio in any other shape.
    """
    with wave.open(io.BytesIO(data)) as source:
        rate, width, channels = source.getframerate(), source.getsampwidth(), source.getnchannels()
        if width != 2 or channels != 1 or rate not in (g711.RATE, SAMPLE_RATE):
            raise ValueError(f"cannot store {channels}-channel {8 * width}-bit audio at {rate} Hz")
        pcm = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2").astype(np.int16)
    if rate == g711.RATE:
        pcm = g711.Upsampler().process(pcm)
    encoder = Encoder(bitrate=BITRATE, application=APPLICATION_VOIP)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    with partial.open("wb") as out:
        writer = OggOpusWriter(out, serial=random.getrandbits(32), pre_skip=encoder.lookahead())
        padded = np.pad(pcm, (0, -len(pcm) % FRAME_SAMPLES)) if len(pcm) else np.zeros(FRAME_SAMPLES, np.int16)
        for start in range(0, len(padded), FRAME_SAMPLES):
            writer.add(encoder.encode(padded[start : start + FRAME_SAMPLES]))
        writer.close()
    partial.replace(path)
