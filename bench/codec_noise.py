"""Codec noise between tones through the mixer's chain: the float32 mix against the int16 one it replaced.

`python -m bench.codec_noise [--trials 60]`. Each trial is two or three talkers, each a tone through its own
encoder (a page's, from int16 samples), decoded by the mixer, summed, encoded by the mixer and decoded by the
listener. The noise is read where no tone is (half-way between two, and 300 Hz above the highest) on a
4096-point Blackman window, median over the frames, as the e2e tests read a voice that should not be heard.
The int16 chain rounds each decoded voice and the clipped sum to int16, as the mixer did before issue 9's
fourth pass; the float32 chain is what `conference.py` does now. The same trials go through both.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

from bench.common import table
from talkbox.media.opus import FRAME_SAMPLES, SAMPLE_RATE, Decoder, Encoder

SECONDS = 4.0


def _int16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.round(samples * 32768), -32768, 32767).astype(np.int16)


def chain(tones: list[tuple[float, float, float]], in_int16: bool) -> np.ndarray:
    """What the listener hears of (frequency, amplitude, phase) talkers mixed by one chain."""
    talkers = [Encoder() for _ in tones]
    decoders = [Decoder() for _ in tones]
    mixer, listener = Encoder(), Decoder()
    t = np.arange(FRAME_SAMPLES) / SAMPLE_RATE
    heard = []
    for k in range(int(SECONDS * SAMPLE_RATE) // FRAME_SAMPLES):
        voices = []
        for (frequency, amplitude, phase), talker, decoder in zip(tones, talkers, decoders, strict=True):
            pcm = (amplitude * 32767 * np.sin(2 * np.pi * frequency * (t + k * 0.02) + phase)).astype(np.int16)
            voice = decoder.decode(talker.encode(pcm))
            voices.append(_int16(voice) if in_int16 else voice)
        if in_int16:
            mix = np.clip(np.stack(voices).astype(np.int32).sum(axis=0), -32768, 32767).astype(np.int16)
        else:
            mix = np.stack(voices).sum(axis=0)
        heard.append(listener.decode(mixer.encode(mix)))
    return np.concatenate(heard).astype(np.float64)


def levels(heard: np.ndarray, frequencies: list[float]) -> list[float]:
    """dBFS at each frequency (the loudest bin within 15 Hz), median over the frames after the first second."""
    window = np.blackman(4096)
    bin_hz = SAMPLE_RATE / 4096
    frames = []
    for start in range(SAMPLE_RATE, len(heard) - 4096, 2048):
        db = 20 * np.log10(np.abs(np.fft.rfft(heard[start : start + 4096] * window)) / (window.sum() / 2) + 1e-12)
        frames.append([db[int((f - 15) / bin_hz) : int((f + 15) / bin_hz) + 1].max() for f in frequencies])
    return [float(v) for v in np.median(np.array(frames), axis=0)]


def run(trials: int, seed: int = 23) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    noise: dict[str, list[float]] = {"int16": [], "float32": []}
    for _ in range(trials):
        frequencies = sorted(float(f) for f in rng.choice(np.arange(200, 1600, 100), rng.integers(2, 4), False))
        amplitude = float(rng.choice([0.05, 0.1, 0.3]))
        tones = [(f, amplitude, float(rng.uniform(0, 6))) for f in frequencies]
        probes = [(a + b) / 2 for a, b in zip(frequencies, frequencies[1:], strict=False)] + [frequencies[-1] + 300]
        noise["int16"] += levels(chain(tones, True), probes)
        noise["float32"] += levels(chain(tones, False), probes)
    return noise


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=60)
    noise = run(parser.parse_args().trials)
    differences = np.array(noise["float32"]) - np.array(noise["int16"])
    rows = [
        [name, f"{statistics.median(v):.1f}", f"{np.percentile(v, 90):.1f}", f"{max(v):.1f}"]
        for name, v in noise.items()
    ]
    print(table("Codec noise between tones (dBFS), the mixer's chain", ["chain", "median", "p90", "max"], rows))
    standard_error = differences.std() / np.sqrt(len(differences))
    print(
        f"float32 - int16 at the same probe: mean {differences.mean():+.2f} dB (standard error {standard_error:.2f}), "
        f"median {np.median(differences):+.2f} dB, over {len(differences)} probes"
    )


if __name__ == "__main__":
    main()
