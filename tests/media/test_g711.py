"""G.711 and the resampling between a telephone's 8 kHz and the mixer's 48 kHz: what a caller hears of a tone."""

from __future__ import annotations

import numpy as np
import pytest

from talkbox.media import g711
from tests.support.audio import level_at, tone

TONE_HZ = 1000.0
# Where a 1 kHz tone's images (8 kHz up to 48 kHz) or a 5 kHz tone's alias (48 kHz down to 8 kHz) would land.
IMAGES_HZ = (7000.0, 9000.0, 15000.0, 17000.0, 23000.0)


def up(samples: np.ndarray, frame: int = 160) -> np.ndarray:
    upsampler = g711.Upsampler()
    return np.concatenate([upsampler.process(samples[i : i + frame]) for i in range(0, len(samples), frame)])


def down(samples: np.ndarray) -> np.ndarray:
    downsampler = g711.Downsampler()
    return np.concatenate([downsampler.process(samples[i : i + 960]) for i in range(0, len(samples), 960)])


@pytest.mark.parametrize(
    ("law", "samples", "codes"),
    [
        # Reference points of ITU-T G.711: silence, the extremes, and a few steps either side of zero.
        ("PCMU", [0, 32767, -32768, 1000, -1000], [0xFF, 0x80, 0x00, 0xCE, 0x4E]),
        ("PCMA", [0, 32767, -32768, 1000, -1000], [0xD5, 0xAA, 0x2A, 0xFA, 0x7A]),
    ],
)
def test_the_laws_match_the_standard_codes(law: g711.Law, samples: list[int], codes: list[int]) -> None:
    assert list(g711.encode(law, np.array(samples, dtype=np.int16))) == codes


@pytest.mark.parametrize("law", ["PCMU", "PCMA"])
def test_every_code_decodes_to_a_level_that_encodes_back_to_it(law: g711.Law) -> None:
    codes = bytes(range(256))
    again = g711.encode(law, g711.decode(law, codes))
    # mu-law has two codes for zero (0x7F is "negative zero"); every other code is its own level.
    assert [code for code in range(256) if again[code] != code] == ([0x7F] if law == "PCMU" else [])


@pytest.mark.parametrize("law", ["PCMU", "PCMA"])
def test_a_tone_through_the_codec_keeps_its_level_and_its_quantisation_noise_35_db_down(law: g711.Law) -> None:
    sent = tone(TONE_HZ, 1.0, rate=8000, amplitude=0.3)
    heard = g711.decode(law, g711.encode(law, sent))
    assert abs(level_at(heard, TONE_HZ, 8000) - level_at(sent, TONE_HZ, 8000)) < 0.5
    noise = heard.astype(np.float64) - sent
    assert 10 * np.log10(np.mean(sent.astype(np.float64) ** 2) / np.mean(noise**2)) > 35


@pytest.mark.parametrize("law", ["PCMU", "PCMA"])
def test_a_telephone_tone_reaches_the_mixer_at_its_level_with_no_image_above_minus_40_db(law: g711.Law) -> None:
    sent = tone(TONE_HZ, 2.0, rate=8000, amplitude=0.3)
    heard = up(g711.decode(law, g711.encode(law, sent)))[4800:]  # past the filter's first fill
    assert len(heard) == 6 * len(sent) - 4800
    assert abs(level_at(heard, TONE_HZ) - level_at(sent, TONE_HZ, 8000)) < 0.5
    for image in IMAGES_HZ:
        assert level_at(heard, image) < -40, f"an image at {image} Hz"


def test_the_mix_reaches_a_telephone_at_its_level_and_what_it_cannot_carry_does_not_fold_back() -> None:
    mixed = tone(TONE_HZ, 2.0, amplitude=0.3).astype(np.int32) + tone(5000.0, 2.0, amplitude=0.3)
    heard = down(np.clip(mixed, -32768, 32767).astype(np.int16))[800:]
    assert abs(level_at(heard, TONE_HZ, 8000) - level_at(tone(TONE_HZ, 1.0, amplitude=0.3), TONE_HZ)) < 0.5
    assert level_at(heard, 3000.0, 8000) < -40, "5 kHz folds back to 3 kHz"


def test_the_resamplers_join_frames_without_a_click() -> None:
    """Frame by frame must equal all at once: the filters keep their history across calls."""
    sent = tone(440.0, 0.5, rate=8000)
    whole = g711.Upsampler().process(sent)
    assert np.array_equal(up(sent, frame=160), whole)
    assert np.array_equal(up(sent, frame=240), whole)  # a 30 ms telephone
    wide = tone(440.0, 0.48)
    assert np.array_equal(down(wide), g711.Downsampler().process(wide))


def test_downsampling_needs_whole_groups_of_six() -> None:
    with pytest.raises(ValueError, match="multiple of 6"):
        g711.Downsampler().process(np.zeros(100, dtype=np.int16))
